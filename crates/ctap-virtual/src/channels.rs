//! The channel table (CTAP 2.1 §11.2.4, "Concurrency and channels").

use std::collections::VecDeque;

use ctap_device::SplitMix64;
use ctap_types::ChannelId;

/// The fewest channels a table holds, so that allocating never has to take the channel
/// of the transaction (or lock) in progress.
const MIN_CHANNELS: usize = 2;

/// Allocated channels in least-recently-used order (front: the next to be reused).
#[derive(Debug)]
pub(crate) struct ChannelTable {
    ids: VecDeque<ChannelId>,
    max: usize,
    /// The generator the ids come from: they need to look random and be reproducible
    /// from the seed, not to be secret.
    rng: SplitMix64,
}

impl ChannelTable {
    pub(crate) fn new(max: usize, seed: u64) -> Self {
        let max = max.max(MIN_CHANNELS);
        Self {
            ids: VecDeque::with_capacity(max.min(1024)),
            max,
            rng: SplitMix64::new(seed),
        }
    }

    /// Allocates a fresh channel: unique, never 0 or broadcast. With the table full,
    /// the least recently used channel that `in_use` does not protect is forgotten
    /// first (it returns INVALID_CHANNEL from then on).
    pub(crate) fn allocate(&mut self, in_use: impl Fn(ChannelId) -> bool) -> ChannelId {
        if self.ids.len() >= self.max {
            let victim = self
                .ids
                .iter()
                .position(|&cid| !in_use(cid))
                .unwrap_or_default();
            self.ids.remove(victim);
        }
        let cid = loop {
            let [a, b, c, d, ..] = self.rng.next_u64().to_be_bytes();
            let cid = ChannelId::from_be_bytes([a, b, c, d]);
            if cid.is_allocatable() && !self.contains(cid) {
                break cid;
            }
        };
        self.ids.push_back(cid);
        cid
    }

    /// Marks `cid` as just used (it moves to the back of the reuse order).
    pub(crate) fn touch(&mut self, cid: ChannelId) {
        if let Some(pos) = self.ids.iter().position(|&id| id == cid) {
            if let Some(id) = self.ids.remove(pos) {
                self.ids.push_back(id);
            }
        }
    }

    pub(crate) fn contains(&self, cid: ChannelId) -> bool {
        self.ids.contains(&cid)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.ids.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_allocatable_and_bounded() {
        let mut table = ChannelTable::new(4, 7);
        let first: Vec<_> = (0..4).map(|_| table.allocate(|_| false)).collect();
        assert!(first.iter().all(|cid| cid.is_allocatable()));
        let mut sorted = first.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 4);
        // Full: the least recently used goes, unless protected.
        table.touch(first[0]);
        let protected = first[1];
        let fifth = table.allocate(|cid| cid == protected);
        assert!(!table.contains(first[2]));
        assert!(table.contains(first[0]) && table.contains(protected) && table.contains(fifth));
        assert_eq!(table.iter().count(), 4);
    }

    #[test]
    fn the_same_seed_gives_the_same_ids() {
        let ids = |seed| {
            let mut table = ChannelTable::new(8, seed);
            (0..8)
                .map(|_| table.allocate(|_| false))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(1), ids(1));
        assert_ne!(ids(1), ids(2));
    }
}
