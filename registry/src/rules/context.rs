//! [`RequestContext`]: what a routed pick knows about the request.

/// What a pick knows about its request: its tag (tag routing) and its key (a split stays
/// stable per key; consistent hash hashes it). See [`crate::Subscription::select_with`].
///
/// Borrowed and `Copy`, so that building one costs nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestContext<'a> {
    /// The request's tag (`canary`), when it carries one.
    pub tag: Option<&'a str>,
    /// The request's key (a user id, a session), when it has one.
    pub key: Option<&'a [u8]>,
}

impl<'a> RequestContext<'a> {
    /// A context with neither tag nor key.
    pub fn new() -> Self {
        RequestContext::default()
    }

    /// With this tag.
    pub fn tag(mut self, tag: &'a str) -> Self {
        self.tag = Some(tag);
        self
    }

    /// With this key.
    pub fn key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }
}
