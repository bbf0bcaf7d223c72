//! [`SortedProviders`]: a service's providers sorted by URL, stored in shared chunks, so that a
//! copy shares every chunk and a change of one provider copies one chunk (at most [`MAX`]
//! providers) instead of the whole list. A full build makes one chunk (one slice, as before);
//! the first change cuts it.
//!
//! A change at 2,000 providers used to clone every provider into the next set (a reference
//! count on each provider's allocation), weigh each again and walk both lists for the
//! protection threshold: three passes over 2,000 separately allocated providers, about 70 µs
//! of a deregistration's propagation with cold caches (issue 23). With chunks, a change
//! touches the changed provider, one chunk and the chunk table.
//!
//! Index lookups stay O(1) for the pickers: every chunk holds at least [`MIN`] providers
//! (unless it is the only one), so the [`MIN`] indexes of a block span at most two chunks, and
//! `blocks` gives the chunk of each block's first index.

use std::sync::Arc;

use super::Provider;
use crate::url::ServiceUrl;

/// A chunk's size when a list is cut into chunks, or a chunk split.
const TARGET: usize = 64;
/// A chunk larger than this is cut into chunks of about [`TARGET`].
const MAX: usize = 2 * TARGET;
/// A chunk smaller than this is merged with a neighbour (unless it is the only chunk).
const MIN: usize = 1 << BLOCK_SHIFT;
/// Indexes are looked up by blocks of `1 << BLOCK_SHIFT` (= [`MIN`]).
const BLOCK_SHIFT: u32 = 4;

/// Providers sorted by URL in shared chunks (see the module docs). Cloning shares the chunks.
#[derive(Debug, Clone, Default)]
pub(crate) struct SortedProviders {
    chunks: Vec<Arc<[Provider]>>,
    /// The index of each chunk's first provider, then the length: `chunks.len() + 1` entries
    /// (none while empty).
    starts: Vec<u32>,
    /// The chunk holding the first index of each block of [`MIN`] indexes (none while there
    /// is one chunk).
    blocks: Vec<u32>,
}

impl SortedProviders {
    /// The providers of `sorted` (sorted by URL: searches and inserts rely on it) as one
    /// chunk: what a full build makes (no copy; picks read one slice). The first change cuts
    /// it into chunks of about [`TARGET`].
    pub(crate) fn from_vec(sorted: Vec<Provider>) -> Self {
        Self::from_slice(sorted.into())
    }

    /// [`SortedProviders::from_vec`] of a shared slice, shared.
    pub(crate) fn from_slice(sorted: Arc<[Provider]>) -> Self {
        if sorted.is_empty() {
            return Self::default();
        }
        Self::of_chunks(vec![sorted])
    }

    /// `chunk` cut into chunks of about [`TARGET`], none below [`MIN`].
    fn cut(chunk: Vec<Provider>, into: &mut Vec<Arc<[Provider]>>) {
        let n = chunk.len();
        let count = n.div_ceil(TARGET);
        let mut rest = chunk.into_iter();
        for i in 0..count {
            // Even sizes: every chunk gets n / count or one more, so none is below MIN.
            let size = n / count + usize::from(i < n % count);
            into.push(rest.by_ref().take(size).collect::<Arc<[Provider]>>());
        }
    }

    fn of_chunks(chunks: Vec<Arc<[Provider]>>) -> Self {
        let mut list = SortedProviders { chunks, starts: Vec::new(), blocks: Vec::new() };
        list.index();
        list
    }

    /// Recomputes `starts` and `blocks` from `chunks`.
    fn index(&mut self) {
        self.starts.clear();
        self.blocks.clear();
        if self.chunks.is_empty() {
            return;
        }
        let mut start = 0usize;
        for (c, chunk) in self.chunks.iter().enumerate() {
            debug_assert!(
                !chunk.is_empty() && (self.chunks.len() == 1 || (MIN..=MAX).contains(&chunk.len()))
            );
            self.starts.push(start as u32);
            if self.chunks.len() == 1 {
                start += chunk.len();
                break; // one chunk is one slice: `at` needs no block
            }
            // Every block whose first index falls in this chunk.
            let first_block = start.div_ceil(MIN);
            let end = start + chunk.len();
            let last_block = end.div_ceil(MIN);
            self.blocks.extend(std::iter::repeat_n(c as u32, last_block - first_block));
            start = end;
        }
        self.starts.push(start as u32);
    }

    /// How many providers.
    pub(crate) fn len(&self) -> usize {
        self.starts.last().map_or(0, |&n| n as usize)
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The provider at `index` (panics when out of bounds, as a slice does): one chunk is a
    /// slice; more take the block's chunk ([`SortedProviders::locate`]).
    #[inline]
    pub(crate) fn at(&self, index: usize) -> &Provider {
        let (c, offset) = self.locate(index);
        &self.chunks[c][offset]
    }

    /// Whether `other` shares every chunk with this list: a copy of it, not just equal.
    pub(crate) fn is_same_list(&self, other: &SortedProviders) -> bool {
        self.chunks.len() == other.chunks.len()
            && self.chunks.iter().zip(&other.chunks).all(|(a, b)| Arc::ptr_eq(a, b))
    }

    /// How many of this list's chunks are shared with `other`, and how many it has.
    #[cfg(test)]
    pub(crate) fn chunks_shared_with(&self, other: &SortedProviders) -> (usize, usize) {
        let shared = self.chunks.iter().filter(|c| other.chunks.iter().any(|d| Arc::ptr_eq(c, d))).count();
        (shared, self.chunks.len())
    }

    /// Each provider's effective weight in this list, in order.
    pub(crate) fn weights(&self) -> Vec<u32> {
        let mut weights = Vec::with_capacity(self.len());
        for chunk in &self.chunks {
            weights.extend(chunk.iter().map(Provider::weight));
        }
        weights
    }

    /// The providers in order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Provider> + '_ {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// The providers as one shared slice, when they are in one chunk (or none).
    pub(crate) fn one_slice(&self) -> Option<Arc<[Provider]>> {
        match self.chunks.as_slice() {
            [] => Some(Arc::new([])),
            [one] => Some(one.clone()),
            _ => None,
        }
    }

    /// A copy of the providers in one vector.
    pub(crate) fn to_vec(&self) -> Vec<Provider> {
        let mut all = Vec::with_capacity(self.len());
        for chunk in &self.chunks {
            all.extend_from_slice(chunk);
        }
        all
    }

    /// Where `url` is (`Ok`), or would be inserted (`Err`): the first of equal URLs.
    pub(crate) fn search(&self, url: &ServiceUrl) -> Result<usize, usize> {
        // The first chunk whose last URL is not below `url` holds it, if any does.
        let c = self.chunks.partition_point(|chunk| chunk[chunk.len() - 1].url() < url);
        let Some(chunk) = self.chunks.get(c) else { return Err(self.len()) };
        let start = self.starts[c] as usize;
        let at = chunk.partition_point(|p| p.url() < url);
        if chunk.get(at).is_some_and(|p| p.url() == url) {
            Ok(start + at)
        } else {
            Err(start + at)
        }
    }

    /// The list without the provider at `index`: one chunk copied.
    pub(crate) fn without(&self, index: usize) -> Self {
        let (c, offset) = self.locate(index);
        let mut chunk = self.chunks[c].to_vec();
        chunk.remove(offset);
        self.replaced(c, chunk)
    }

    /// The list with `provider` inserted at `index` (where [`SortedProviders::search`] said it
    /// goes): one chunk copied.
    pub(crate) fn with(&self, index: usize, provider: Provider) -> Self {
        if self.chunks.is_empty() {
            return Self::from_vec(vec![provider]);
        }
        // At the end of a chunk rather than the start of the next: appends land in the last.
        let (c, offset) = if index == self.len() {
            (self.chunks.len() - 1, self.chunks[self.chunks.len() - 1].len())
        } else {
            self.locate(index)
        };
        let mut chunk = self.chunks[c].to_vec();
        chunk.insert(offset, provider);
        self.replaced(c, chunk)
    }

    /// The chunk and the offset in it of `index`.
    #[inline]
    fn locate(&self, index: usize) -> (usize, usize) {
        assert!(index < self.len(), "index {index} out of {} providers", self.len());
        if self.chunks.len() == 1 {
            return (0, index);
        }
        let mut c = self.blocks[index >> BLOCK_SHIFT] as usize;
        if index >= self.starts[c + 1] as usize {
            c += 1;
        }
        (c, index - self.starts[c] as usize)
    }

    /// The list with chunk `c` replaced by `chunk`: split when too large, merged with a
    /// neighbour when too small, dropped when empty.
    fn replaced(&self, c: usize, mut chunk: Vec<Provider>) -> Self {
        // The chunks `first..=last` are replaced by `chunk` (`c` and the neighbour merged in).
        let (mut first, mut last) = (c, c);
        if chunk.len() < MIN && self.chunks.len() > 1 {
            // Merged with the smaller neighbour.
            let left = c.checked_sub(1).map(|l| self.chunks[l].len());
            let right = self.chunks.get(c + 1).map(|r| r.len());
            if left.is_some() && (right.is_none() || left <= right) {
                first = c - 1;
                let mut merged = self.chunks[first].to_vec();
                merged.append(&mut chunk);
                chunk = merged;
            } else {
                last = c + 1;
                chunk.extend_from_slice(&self.chunks[last]);
            }
        }
        let mut chunks = Vec::with_capacity(self.chunks.len() + 1);
        chunks.extend_from_slice(&self.chunks[..first]);
        if chunk.len() > MAX {
            Self::cut(chunk, &mut chunks);
        } else if !chunk.is_empty() {
            chunks.push(chunk.into());
        }
        chunks.extend_from_slice(&self.chunks[last + 1..]);
        Self::of_chunks(chunks)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::consumer::outlier::Outliers;

    fn provider(port: u16) -> Provider {
        let url = ServiceUrl::parse(&format!("http://10.0.0.1:{port}/s")).expect("url");
        let node = url.to_node_name();
        Provider::new(url, node.as_str(), &Outliers::new("s", Default::default()))
    }

    fn sorted(ports: impl IntoIterator<Item = u16>) -> Vec<Provider> {
        let mut all: Vec<Provider> = ports.into_iter().map(provider).collect();
        all.sort_by(|a, b| a.url().cmp(b.url()));
        all
    }

    fn ports(list: &SortedProviders) -> Vec<u16> {
        list.iter().map(|p| p.url().port()).collect()
    }

    /// Everything a list must hold whatever changed it.
    fn check(list: &SortedProviders, want: &[Provider]) {
        assert_eq!(list.len(), want.len());
        assert_eq!(list.is_empty(), want.is_empty());
        for (i, p) in want.iter().enumerate() {
            assert!(list.at(i).same_registration(p), "index {i}");
            assert_eq!(list.search(p.url()), Ok(i));
        }
        assert!(list.iter().zip(want).all(|(a, b)| a.same_registration(b)));
        assert!(list.iter().rev().zip(want.iter().rev()).all(|(a, b)| a.same_registration(b)));
        assert_eq!(list.to_vec().len(), want.len());
        let sizes: Vec<usize> = list.chunks.iter().map(|c| c.len()).collect();
        assert!(sizes.iter().all(|&n| n > 0), "{sizes:?}");
        assert!(sizes.len() <= 1 || sizes.iter().all(|n| (MIN..=MAX).contains(n)), "{sizes:?}");
        assert_eq!(list.one_slice().is_some(), sizes.len() <= 1);
    }

    #[test]
    fn lists_of_every_size_up_to_three_hundred_index_and_search_like_a_slice() {
        for n in 0..300u16 {
            let all = sorted(1..=n);
            check(&SortedProviders::from_vec(all.clone()), &all);
        }
    }

    #[test]
    fn a_url_not_listed_is_searched_to_where_it_goes() {
        let list = SortedProviders::from_vec(sorted((0..200).map(|i| 1000 + 2 * i)));
        for i in 0..200u16 {
            let missing = provider(1001 + 2 * i);
            assert_eq!(list.search(missing.url()), Err(usize::from(i) + 1));
        }
        assert_eq!(list.search(provider(1).url()), Err(0));
        assert_eq!(SortedProviders::default().search(provider(1).url()), Err(0));
    }

    #[test]
    fn a_change_copies_one_chunk_and_shares_the_others() {
        let whole = SortedProviders::from_vec(sorted(1000..3000));
        assert_eq!(whole.chunks.len(), 1, "a full build is one slice");
        let list = whole.without(0);
        assert_eq!(list.chunks.len(), 1999usize.div_ceil(TARGET), "the first change cuts it");
        let changed = list.without(1000);
        let (shared, count) = list.chunks_shared_with(&changed);
        assert_eq!(shared, count - 1, "every chunk but the changed one is shared");
    }

    proptest! {
        /// Any sequence of inserts and removals gives the list a sorted vector would hold.
        #[test]
        fn changes_keep_the_list_equal_to_a_sorted_vector(
            start in 0..400u16,
            ops in prop::collection::vec((any::<bool>(), 1..600u16), 1..200),
        ) {
            let mut want = sorted(1..=start);
            let mut list = SortedProviders::from_vec(want.clone());
            for (insert, port) in ops {
                let p = provider(port);
                match (insert, list.search(p.url())) {
                    (true, Err(at)) => {
                        list = list.with(at, p.clone());
                        want.insert(at, p);
                    }
                    (false, Ok(at)) => {
                        list = list.without(at);
                        want.remove(at);
                    }
                    _ => {}
                }
                check(&list, &want);
            }
            prop_assert_eq!(ports(&list), want.iter().map(|p| p.url().port()).collect::<Vec<_>>());
        }
    }
}
