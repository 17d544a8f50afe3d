//! The channel table (CTAP 2.1 §11.2.4, "Concurrency and channels").

use std::collections::HashMap;

use ctap_device::SplitMix64;
use ctap_types::ChannelId;

/// The fewest channels a table holds, so that allocating never has to take the channel
/// of the transaction (or lock) in progress.
const MIN_CHANNELS: usize = 2;

/// The most channels a table holds, whatever the configuration says: 65536 entries of
/// a few dozen bytes (about 2 MiB), so a configuration cannot make the table, which
/// hosts fill with INITs, grow without bound.
pub const MAX_CHANNELS: usize = 1 << 16;

/// The default [`Config::max_channels`](crate::Config::max_channels): enough for a
/// test farm of many concurrent hosts (50 python-fido2 hosts lost channels with 32);
/// a channel costs an id and a use stamp.
pub const DEFAULT_CHANNELS: usize = 256;

/// Allocated channels and when each was last used. Lookups and uses are O(1); only an
/// allocation with the table full looks for the least recently used idle channel.
#[derive(Debug)]
pub(crate) struct ChannelTable {
    /// Each channel and its last-use stamp (a counter: larger is more recent).
    ids: HashMap<ChannelId, u64>,
    /// The next stamp.
    clock: u64,
    max: usize,
    /// The seeded generator the ids come from with a seed (tests), or if the OS has no
    /// random numbers: ids that look random and are reproducible, not secret.
    rng: SplitMix64,
    /// `true`: ids come from the OS random number generator, so another host cannot
    /// guess the channel a victim was given.
    os_random: bool,
}

impl ChannelTable {
    /// A table of at most `max` channels (within `MIN_CHANNELS..=`[`MAX_CHANNELS`])
    /// whose ids come from the splitmix64 sequence of `seed`, or from the OS random
    /// number generator with no seed.
    pub(crate) fn new(max: usize, seed: Option<u64>) -> Self {
        let max = max.clamp(MIN_CHANNELS, MAX_CHANNELS);
        Self {
            ids: HashMap::with_capacity(max.min(1024)),
            clock: 0,
            max,
            rng: SplitMix64::new(seed.unwrap_or_else(fallback_seed)),
            os_random: seed.is_none(),
        }
    }

    /// Allocates a fresh channel: unique, never 0 or broadcast. Only with the table
    /// full, the least recently used channel that `in_use` does not protect (an idle
    /// one: no transaction, no lock) is forgotten first (it returns INVALID_CHANNEL
    /// from then on); were every channel in use (a table of two, one locked and one
    /// busy), the least recently used one goes.
    pub(crate) fn allocate(&mut self, in_use: impl Fn(ChannelId) -> bool) -> ChannelId {
        if self.ids.len() >= self.max {
            let idle = self
                .ids
                .iter()
                .filter(|(cid, _)| !in_use(**cid))
                .min_by_key(|(_, stamp)| **stamp)
                .map(|(cid, _)| *cid);
            let victim = idle.or_else(|| self.ids.iter().min_by_key(|(_, s)| **s).map(|(c, _)| *c));
            if let Some(victim) = victim {
                self.ids.remove(&victim);
            }
        }
        let cid = loop {
            let cid = ChannelId::from_be_bytes(self.next_id());
            if cid.is_allocatable() && !self.contains(cid) {
                break cid;
            }
        };
        self.stamp(cid);
        cid
    }

    /// Marks `cid` as just used (it becomes the last to be reused), if allocated.
    pub(crate) fn touch(&mut self, cid: ChannelId) {
        if self.ids.contains_key(&cid) {
            self.stamp(cid);
        }
    }

    pub(crate) fn contains(&self, cid: ChannelId) -> bool {
        self.ids.contains_key(&cid)
    }

    /// The channels, least recently used first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = ChannelId> + use<> {
        let mut ids: Vec<(ChannelId, u64)> = self.ids.iter().map(|(c, s)| (*c, *s)).collect();
        ids.sort_by_key(|(_, stamp)| *stamp);
        ids.into_iter().map(|(cid, _)| cid)
    }

    fn stamp(&mut self, cid: ChannelId) {
        self.clock += 1;
        self.ids.insert(cid, self.clock);
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
    fn only_a_full_table_evicts_and_then_the_least_recently_used_idle_channel() {
        let mut table = ChannelTable::new(DEFAULT_CHANNELS, Some(3));
        let ids: Vec<_> = (0..DEFAULT_CHANNELS)
            .map(|_| table.allocate(|_| false))
            .collect();
        // Not full until the 256th: nothing was evicted on the way.
        assert!(ids.iter().all(|&cid| table.contains(cid)));
        // Used in reverse order: ids[255] is now the least recently used...
        for &cid in ids.iter().rev() {
            table.touch(cid);
        }
        // ...but it is busy (a transaction), so the next idle one, ids[254], goes.
        let busy = ids[255];
        let new = table.allocate(|cid| cid == busy);
        assert!(table.contains(busy) && table.contains(new));
        assert!(!table.contains(ids[254]));
        assert_eq!(table.iter().count(), DEFAULT_CHANNELS);
        assert_eq!(table.iter().next(), Some(busy), "least recently used first");
        assert_eq!(table.iter().last(), Some(new));
    }

    #[test]
    fn the_table_is_bounded_whatever_the_configuration() {
        let mut table = ChannelTable::new(usize::MAX, Some(5));
        assert_eq!(table.max, MAX_CHANNELS);
        for _ in 0..MAX_CHANNELS + 10 {
            table.allocate(|_| false);
        }
        assert_eq!(table.ids.len(), MAX_CHANNELS);
        assert_eq!(ChannelTable::new(0, Some(5)).max, MIN_CHANNELS);
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
