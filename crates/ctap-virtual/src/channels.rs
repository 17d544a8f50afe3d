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
    /// The seeded generator the ids come from with a seed (tests), or if the OS has no
    /// random numbers: ids that look random and are reproducible, not secret.
    rng: SplitMix64,
    /// `true`: ids come from the OS random number generator, so another host cannot
    /// guess the channel a victim was given.
    os_random: bool,
}

impl ChannelTable {
    /// A table of at most `max` channels whose ids come from the splitmix64 sequence
    /// of `seed`, or from the OS random number generator with no seed.
    pub(crate) fn new(max: usize, seed: Option<u64>) -> Self {
        let max = max.max(MIN_CHANNELS);
        Self {
            ids: VecDeque::with_capacity(max.min(1024)),
            max,
            rng: SplitMix64::new(seed.unwrap_or_else(fallback_seed)),
            os_random: seed.is_none(),
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
            let cid = ChannelId::from_be_bytes(self.next_id());
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

    /// Four bytes for the next candidate id.
    fn next_id(&mut self) -> [u8; 4] {
        if self.os_random {
            let mut id = [0u8; 4];
            if getrandom::fill(&mut id).is_ok() {
                return id;
            }
        }
        let [a, b, c, d, ..] = self.rng.next_u64().to_be_bytes();
        [a, b, c, d]
    }
}

/// A seed for the rare system whose OS random number generator fails: the clock.
fn fallback_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            elapsed.as_secs() ^ u64::from(elapsed.subsec_nanos()).rotate_left(32)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_allocatable_and_bounded() {
        let mut table = ChannelTable::new(4, Some(7));
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
            let mut table = ChannelTable::new(8, Some(seed));
            (0..8)
                .map(|_| table.allocate(|_| false))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(1), ids(1));
        assert_ne!(ids(1), ids(2));
    }

    #[test]
    fn without_a_seed_ids_differ_between_tables() {
        let ids = || {
            let mut table = ChannelTable::new(4, None);
            (0..4)
                .map(|_| table.allocate(|_| false))
                .collect::<Vec<_>>()
        };
        // 128 random bits: equal only if the ids came from a fixed sequence.
        let (first, second) = (ids(), ids());
        assert!(first.iter().all(|cid| cid.is_allocatable()));
        assert_ne!(first, second);
    }
}
