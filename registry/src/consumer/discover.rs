//! tower integration: a subscription as a `Discover` stream for `tower::balance`.
//!
//! [`ServiceDiscover`] is a `Stream<Item = Result<Change<ServiceUrl, S>, Error>>`, which tower's
//! blanket impl makes a `Discover`. `tower::balance::p2c::Balance` needs services that report a
//! load, so wrap it first in `tower::load::PeakEwmaDiscover` or `PendingRequestsDiscover` (a bare
//! `Balance::new(sub.discover(..))` does not compile: "the method `ready` exists for struct
//! `Balance<…>` but its trait bounds were not satisfied"). Readiness and p2c stay tower's; this
//! only says who is there. It is built for tower 0.5 with its `balance`, `discover` and `load`
//! features, re-exported as [`crate::tower`] so that the versions always match.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tower::discover::Change;

use crate::consumer::Provider;
use crate::consumer::{ProviderChange, ProviderChanges};
use crate::error::Error;
use crate::url::ServiceUrl;

/// Turns provider changes into tower `Change`s, making a service for each new provider with
/// `make`; see [`crate::Subscription::discover`].
pub struct ServiceDiscover<F> {
    changes: ProviderChanges,
    make: F,
}

impl<F> std::fmt::Debug for ServiceDiscover<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceDiscover").field("changes", &self.changes).finish()
    }
}

impl<F> ServiceDiscover<F> {
    pub(crate) fn new(changes: ProviderChanges, make: F) -> Self {
        ServiceDiscover { changes, make }
    }
}

impl<F, S> Stream for ServiceDiscover<F>
where
    F: FnMut(&Provider) -> S + Unpin,
{
    type Item = Result<Change<ServiceUrl, S>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.changes).poll_next(cx) {
            Poll::Ready(Some(ProviderChange::Added(p))) => {
                Poll::Ready(Some(Ok(Change::Insert(p.url().clone(), (this.make)(&p)))))
            }
            Poll::Ready(Some(ProviderChange::Removed(p))) => {
                Poll::Ready(Some(Ok(Change::Remove(p.url().clone()))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl crate::consumer::Subscription {
    /// A tower `Discover` over this subscription's providers: `make` builds the service for
    /// each provider that appears (the key is its URL).
    ///
    /// The stream is polled by the balancer, so it applies a change on the balancer's next
    /// `poll_ready`, a moment after [`crate::Subscription::select`] and
    /// [`crate::Subscription::wait_for`] see it.
    ///
    /// tower's p2c balancer needs a load measure: wrap the stream in `PeakEwmaDiscover` (or
    /// `PendingRequestsDiscover`) before `Balance::new`.
    ///
    /// ```no_run
    /// # async fn demo(sub: zkmesh_registry::Subscription) -> Result<(), tower::BoxError> {
    /// use zkmesh_registry::tower::balance::p2c::Balance;
    /// use zkmesh_registry::tower::load::{CompleteOnResponse, PeakEwmaDiscover};
    /// use zkmesh_registry::tower::{service_fn, Service, ServiceExt};
    /// let discover = sub.discover(|p| {
    ///     let addr = p.address().to_owned();
    ///     service_fn(move |req: String| {
    ///         let addr = addr.clone();
    ///         async move { Ok::<_, std::io::Error>(format!("{addr}: {req}")) }
    ///     })
    /// });
    /// let discover = PeakEwmaDiscover::new(
    ///     discover,
    ///     std::time::Duration::from_millis(30), // initial latency estimate
    ///     std::time::Duration::from_secs(10),   // decay
    ///     CompleteOnResponse::default(),
    /// );
    /// let mut balance = Balance::new(discover);
    /// let answer = balance.ready().await?.call("hello".to_owned()).await?;
    /// println!("{answer}");
    /// # Ok(()) }
    /// ```
    pub fn discover<F, S>(&self, make: F) -> ServiceDiscover<F>
    where
        F: FnMut(&Provider) -> S + Unpin,
    {
        ServiceDiscover::new(self.changes(), make)
    }
}
