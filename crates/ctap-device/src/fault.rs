//! Test support: a [`HidConnection`] wrapper that injects transport faults.
//!
//! Enabled by the `fault-injection` feature (off by default). It exists so the host stack
//! can be run against a misbehaving device or transport: dropped, duplicated, reordered,
//! truncated and corrupted reports, other programs' traffic, stalls and disconnects.
//!
//! Every decision comes from a small seeded generator ([`SplitMix64`]), rolled once per
//! report that passes through, so the faults are a function of the seed and of the
//! sequence of reports: the same seed against the same device gives the same faults.
//! (Time-outs that expire at different moments on a loaded machine can change the
//! sequence of reports, and with it what follows.)
//!
//! ```
//! # #[cfg(feature = "fault-injection")] {
//! use ctap_device::fault::{Direction, FaultKind, FaultPlan};
//!
//! // One read report in five is dropped, one written report in ten is duplicated.
//! let plan = FaultPlan::new(42)
//!     .with_rate(FaultKind::Drop, Direction::Read, 200)
//!     .with_rate(FaultKind::Duplicate, Direction::Write, 100);
//! # let _ = plan;
//! # }
//! ```
//!
//! Wrap a connection with [`FaultyConnection::new`], open a
//! [`CtapHidDevice`](crate::CtapHidDevice) on it, and reach the wrapper through
//! [`CtapHidDevice::connection_mut`](crate::CtapHidDevice::connection_mut) to read its
//! [`FaultStats`] or to switch the faults off.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use ctap_types::{ChannelId, Command, InitResponse};
use ctaphid_frame::{CONT_HEADER_LEN, INIT_HEADER_LEN, MAX_REPORT_SIZE, Packetizer, ReportSize};

use crate::{Error, HidConnection, SplitMix64};

/// One kind of fault.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum FaultKind {
    /// The report is lost.
    Drop,
    /// The report arrives twice.
    Duplicate,
    /// The report swaps places with the next one (if none follows in time, it is
    /// delivered late rather than never).
    Reorder,
    /// Only a prefix of the report arrives (possibly nothing, or just part of the header).
    Truncate,
    /// One bit of the packet header (CID, CMD/SEQ, BCNT) flips.
    CorruptHeader,
    /// One bit after the header (payload or padding) flips.
    CorruptPayload,
    /// Another program's report on a channel of its own comes first (read: the device
    /// answers someone else; write: someone else writes to the device).
    ForeignChannel,
    /// Another program's INIT comes first (read: a valid INIT answer with another nonce
    /// on the broadcast channel; write: another program's INIT request on broadcast).
    ForeignInit,
    /// The report is delayed by [`FaultPlan::stall`] (read: the host sees nothing until
    /// then; write: the write blocks).
    Stall,
    /// The device goes away after [`FaultPlan::disconnect_after`] reports: every read and
    /// write fails with [`Error::Disconnected`] until the faults are switched off.
    Disconnect,
}

impl FaultKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 10] = [
        Self::Drop,
        Self::Duplicate,
        Self::Reorder,
        Self::Truncate,
        Self::CorruptHeader,
        Self::CorruptPayload,
        Self::ForeignChannel,
        Self::ForeignInit,
        Self::Stall,
        Self::Disconnect,
    ];

    /// A short lower-case name, for tables.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Duplicate => "duplicate",
            Self::Reorder => "reorder",
            Self::Truncate => "truncate",
            Self::CorruptHeader => "corrupt-header",
            Self::CorruptPayload => "corrupt-payload",
            Self::ForeignChannel => "foreign-channel",
            Self::ForeignInit => "foreign-init",
            Self::Stall => "stall",
            Self::Disconnect => "disconnect",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which way a report travels.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Direction {
    /// Device to host (input reports, [`HidConnection::read_report`]).
    Read,
    /// Host to device (output reports, [`HidConnection::write_report`]).
    Write,
}

impl Direction {
    const fn index(self) -> usize {
        match self {
            Self::Read => 0,
            Self::Write => 1,
        }
    }
}

/// What to inject and how often: a plain struct with chainable setters.
///
/// Rates are per mille, per report: each report that passes through gets at most one
/// fault, the first of the plan's rules (in the order they were added) whose roll
/// succeeds.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FaultPlan {
    /// The generator's seed.
    pub seed: u64,
    /// `(kind, direction, per mille)`, rolled in this order.
    pub rules: Vec<(FaultKind, Direction, u16)>,
    /// How long a [`FaultKind::Stall`] lasts. Default 100 ms.
    pub stall: Duration,
    /// After this many reports (read and written), the device disconnects
    /// ([`FaultKind::Disconnect`]). `None`: never.
    pub disconnect_after: Option<u64>,
}

impl FaultPlan {
    /// A plan with no faults and the given seed.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            rules: Vec::new(),
            stall: Duration::from_millis(100),
            disconnect_after: None,
        }
    }

    /// Adds a rule: `kind` hits `per_mille` out of 1000 reports going `direction`.
    /// [`FaultKind::Disconnect`] is not a rate (see
    /// [`with_disconnect_after`](Self::with_disconnect_after)) and is ignored here.
    #[must_use]
    pub fn with_rate(mut self, kind: FaultKind, direction: Direction, per_mille: u16) -> Self {
        if kind != FaultKind::Disconnect {
            self.rules.push((kind, direction, per_mille.min(1000)));
        }
        self
    }

    /// Sets [`stall`](Self::stall).
    #[must_use]
    pub const fn with_stall(mut self, stall: Duration) -> Self {
        self.stall = stall;
        self
    }

    /// Sets [`disconnect_after`](Self::disconnect_after).
    #[must_use]
    pub const fn with_disconnect_after(mut self, reports: u64) -> Self {
        self.disconnect_after = Some(reports);
        self
    }
}

/// One injected fault, as recorded in [`FaultStats::events`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FaultEvent {
    /// The fault.
    pub kind: FaultKind,
    /// Which way the report was going.
    pub direction: Direction,
    /// For bit flips: the byte that was changed (offset in the report).
    pub byte: Option<usize>,
    /// `true` if the report was an init packet (for a bit flip: bytes 5 and 6 are its
    /// BCNT), `false` for a continuation packet or injected traffic.
    pub init_packet: bool,
}

impl FaultEvent {
    /// `true` for a bit flip in the BCNT field of an init packet: a smaller BCNT makes a
    /// shorter message that the CTAPHID framing cannot tell from a real one.
    #[must_use]
    pub fn hit_length(&self) -> bool {
        self.kind == FaultKind::CorruptHeader
            && self.init_packet
            && matches!(self.byte, Some(5 | 6))
    }
}

/// How many faults were injected, by kind and direction, and the latest events.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct FaultStats {
    counts: [[u64; 2]; FaultKind::ALL.len()],
    /// Reports that went through (both directions), faulty or not.
    pub reports: u64,
    /// Every fault, oldest first (the most recent [`MAX_EVENTS`] are kept).
    pub events: VecDeque<FaultEvent>,
}

/// The most events [`FaultStats::events`] keeps.
pub const MAX_EVENTS: usize = 4096;

impl FaultStats {
    /// Faults of `kind` injected going `direction`.
    #[must_use]
    pub fn count(&self, kind: FaultKind, direction: Direction) -> u64 {
        self.counts
            .get(kind.index())
            .and_then(|row| row.get(direction.index()))
            .copied()
            .unwrap_or(0)
    }

    /// Faults of `kind` injected, both directions.
    #[must_use]
    pub fn total(&self, kind: FaultKind) -> u64 {
        self.count(kind, Direction::Read) + self.count(kind, Direction::Write)
    }

    /// Every fault injected.
    #[must_use]
    pub fn total_all(&self) -> u64 {
        FaultKind::ALL.iter().map(|&kind| self.total(kind)).sum()
    }

    fn record(&mut self, event: FaultEvent) {
        if let Some(count) = self
            .counts
            .get_mut(event.kind.index())
            .and_then(|row| row.get_mut(event.direction.index()))
        {
            *count += 1;
        }
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }
}

/// A [`HidConnection`] that injects the faults of a [`FaultPlan`] into the reports of the
/// connection it wraps.
pub struct FaultyConnection<C> {
    inner: C,
    plan: FaultPlan,
    rng: SplitMix64,
    enabled: bool,
    disconnected: bool,
    stats: FaultStats,
    /// Read reports ready for the host (duplicates, reordered and injected reports).
    ready: VecDeque<Vec<u8>>,
    /// A read report waiting for the next one to overtake it.
    held_read: Option<Vec<u8>>,
    /// A written report waiting for the next write to overtake it.
    held_write: Option<Vec<u8>>,
    /// Nothing is delivered before this moment (a read stall).
    stalled_until: Option<Instant>,
}

impl<C: HidConnection> FaultyConnection<C> {
    /// Wraps `inner`; the faults are on.
    pub fn new(inner: C, plan: FaultPlan) -> Self {
        Self {
            inner,
            rng: SplitMix64::new(plan.seed),
            plan,
            enabled: true,
            disconnected: false,
            stats: FaultStats::default(),
            ready: VecDeque::new(),
            held_read: None,
            held_write: None,
            stalled_until: None,
        }
    }

    /// Switches the faults on or off. Off, reports pass through untouched and a
    /// [`FaultKind::Disconnect`] is over (the device is back); reports already delayed
    /// (duplicates, reordered, stalled) are still delivered, as they were in flight.
    ///
    /// A written report held back by [`FaultKind::Reorder`] goes to the device now, not
    /// at the next write: later, it could be taken as part of the next request.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
        if !enabled {
            self.disconnected = false;
            if let Some(held) = self.held_write.take() {
                // A failure here is the device's to report at the next write.
                let _ = self.inner.write_report(&held);
            }
        }
    }

    /// Replaces the plan (the generator keeps its state).
    pub fn set_plan(&mut self, plan: FaultPlan) {
        self.plan = plan;
    }

    /// The wrapped connection.
    pub fn inner_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// Gives the wrapped connection back.
    pub fn into_inner(self) -> C {
        self.inner
    }

    /// `true` if faults are being injected.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// What was injected so far.
    #[must_use]
    pub fn stats(&self) -> &FaultStats {
        &self.stats
    }

    /// The plan.
    #[must_use]
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// The wrapped connection.
    #[must_use]
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The fault for the next report going `direction`, if any.
    fn roll(&mut self, direction: Direction) -> Option<FaultKind> {
        let mut hit = None;
        // Every rule is rolled whether or not an earlier one hit, so one rule's outcome
        // does not shift the random stream of the others.
        for index in 0..self.plan.rules.len() {
            let Some(&(kind, rule_direction, per_mille)) = self.plan.rules.get(index) else {
                break;
            };
            if rule_direction != direction {
                continue;
            }
            let roll = self.rng.next_u64() % 1000;
            if hit.is_none() && roll < u64::from(per_mille) {
                hit = Some(kind);
            }
        }
        hit
    }

    /// Counts a report towards [`FaultPlan::disconnect_after`]; `true` if the device is
    /// (now) gone.
    fn count_report(&mut self, direction: Direction) -> bool {
        self.stats.reports += 1;
        if self.enabled && !self.disconnected {
            if let Some(after) = self.plan.disconnect_after {
                if self.stats.reports > after {
                    self.disconnected = true;
                    self.stats.record(FaultEvent {
                        kind: FaultKind::Disconnect,
                        direction,
                        byte: None,
                        init_packet: false,
                    });
                }
            }
        }
        self.disconnected && self.enabled
    }

    /// Flips one bit of the header (`header`) or after it, and records the event.
    fn flip(&mut self, report: &mut [u8], kind: FaultKind, direction: Direction) {
        let init_packet = is_init_packet(report);
        let header = if init_packet {
            INIT_HEADER_LEN
        } else {
            CONT_HEADER_LEN
        };
        let range = if kind == FaultKind::CorruptHeader {
            0..header.min(report.len())
        } else {
            header.min(report.len())..report.len()
        };
        let byte = if range.is_empty() {
            None
        } else {
            let offset = range.start + self.rng.below(range.len());
            let bit = self.rng.below(8);
            if let Some(value) = report.get_mut(offset) {
                *value ^= 1 << bit;
            }
            Some(offset)
        };
        self.stats.record(FaultEvent {
            kind,
            direction,
            byte,
            init_packet,
        });
    }

    /// Another program's traffic, as reports of `size`: a message on a random channel,
    /// or an INIT (answer on read, request on write) with a random nonce on broadcast.
    fn foreign(&mut self, kind: FaultKind, direction: Direction, size: ReportSize) -> Vec<Vec<u8>> {
        let [n0, n1, n2, n3, n4, n5, n6, n7] = self.rng.next_u64().to_be_bytes();
        let nonce = [n0, n1, n2, n3, n4, n5, n6, n7];
        let (cid, command, payload) = if kind == FaultKind::ForeignInit {
            let payload = match direction {
                Direction::Write => nonce.to_vec(),
                Direction::Read => {
                    let granted = self.random_channel();
                    InitResponse {
                        nonce,
                        cid: granted,
                        protocol_version: 2,
                        device_version: ctap_types::DeviceVersion {
                            major: 1,
                            minor: 0,
                            build: 0,
                        },
                        capabilities: ctap_types::Capabilities::NONE,
                    }
                    .to_bytes()
                    .to_vec()
                }
            };
            (ChannelId::BROADCAST, Command::INIT, payload)
        } else {
            let commands = [
                Command::PING,
                Command::CBOR,
                Command::KEEPALIVE,
                Command::ERROR,
            ];
            let command = commands
                .get(self.rng.below(commands.len()))
                .copied()
                .unwrap_or(Command::PING);
            let len = self
                .rng
                .below(size.init_capacity() + size.cont_capacity() + 1);
            let payload = (0..len)
                .map(|_| nonce.get(self.rng.below(8)).copied().unwrap_or(0))
                .collect();
            (self.random_channel(), command, payload)
        };
        self.stats.record(FaultEvent {
            kind,
            direction,
            byte: None,
            init_packet: false,
        });
        match Packetizer::new(cid, command, &payload, size) {
            Ok(packets) => packets.map(|report| report.as_bytes().to_vec()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// A channel id another program might have: allocatable and random.
    fn random_channel(&mut self) -> ChannelId {
        loop {
            let [a, b, c, d, ..] = self.rng.next_u64().to_be_bytes();
            let cid = ChannelId::from_be_bytes([a, b, c, d]);
            if cid.is_allocatable() {
                return cid;
            }
        }
    }

    /// Applies the read faults to `report`, fresh from the device, queueing what the host
    /// will see.
    fn on_read(&mut self, mut report: Vec<u8>) {
        let fault = if self.enabled {
            self.roll(Direction::Read)
        } else {
            None
        };
        let init_packet = is_init_packet(&report);
        let record = |stats: &mut FaultStats, kind| {
            stats.record(FaultEvent {
                kind,
                direction: Direction::Read,
                byte: None,
                init_packet,
            });
        };
        let mut out = Vec::new();
        match fault {
            None => out.push(report),
            Some(FaultKind::Drop) => record(&mut self.stats, FaultKind::Drop),
            Some(FaultKind::Duplicate) => {
                record(&mut self.stats, FaultKind::Duplicate);
                out.push(report.clone());
                out.push(report);
            }
            Some(FaultKind::Reorder) => {
                record(&mut self.stats, FaultKind::Reorder);
                if let Some(earlier) = self.held_read.replace(report) {
                    out.push(earlier);
                }
            }
            Some(FaultKind::Truncate) => {
                record(&mut self.stats, FaultKind::Truncate);
                let len = self.rng.below(report.len());
                report.truncate(len);
                out.push(report);
            }
            Some(kind @ (FaultKind::CorruptHeader | FaultKind::CorruptPayload)) => {
                self.flip(&mut report, kind, Direction::Read);
                out.push(report);
            }
            Some(kind @ (FaultKind::ForeignChannel | FaultKind::ForeignInit)) => {
                let size = self.inner.input_report_size();
                out.extend(self.foreign(kind, Direction::Read, size));
                out.push(report);
            }
            Some(FaultKind::Stall) => {
                record(&mut self.stats, FaultKind::Stall);
                self.stalled_until = Instant::now().checked_add(self.plan.stall);
                out.push(report);
            }
            Some(FaultKind::Disconnect) => out.push(report),
        }
        // A held report goes out right after the report that overtook it.
        let overtaken = if fault == Some(FaultKind::Reorder) {
            None
        } else {
            self.held_read.take()
        };
        self.ready.extend(out);
        self.ready.extend(overtaken);
    }

    fn write_through(&mut self, report: &[u8]) -> Result<(), Error> {
        if self.count_report(Direction::Write) {
            return Err(Error::Disconnected);
        }
        self.inner.write_report(report)
    }
}

impl<C: HidConnection> HidConnection for FaultyConnection<C> {
    fn write_report(&mut self, report: &[u8]) -> Result<(), Error> {
        if self.disconnected && self.enabled {
            return Err(Error::Disconnected);
        }
        let fault = if self.enabled {
            self.roll(Direction::Write)
        } else {
            None
        };
        let init_packet = is_init_packet(report);
        let record = |stats: &mut FaultStats, kind| {
            stats.record(FaultEvent {
                kind,
                direction: Direction::Write,
                byte: None,
                init_packet,
            });
        };
        let held = self.held_write.take();
        match fault {
            None | Some(FaultKind::Disconnect) => self.write_through(report)?,
            Some(FaultKind::Drop) => record(&mut self.stats, FaultKind::Drop),
            Some(FaultKind::Duplicate) => {
                record(&mut self.stats, FaultKind::Duplicate);
                self.write_through(report)?;
                self.write_through(report)?;
            }
            Some(FaultKind::Reorder) => {
                record(&mut self.stats, FaultKind::Reorder);
                self.held_write = Some(report.to_vec());
            }
            Some(FaultKind::Truncate) => {
                record(&mut self.stats, FaultKind::Truncate);
                let len = self.rng.below(report.len());
                self.write_through(report.get(..len).unwrap_or_default())?;
            }
            Some(kind @ (FaultKind::CorruptHeader | FaultKind::CorruptPayload)) => {
                let mut copy = report.to_vec();
                self.flip(&mut copy, kind, Direction::Write);
                self.write_through(&copy)?;
            }
            Some(kind @ (FaultKind::ForeignChannel | FaultKind::ForeignInit)) => {
                let size = self.inner.output_report_size();
                for foreign in self.foreign(kind, Direction::Write, size) {
                    self.inner.write_report(&foreign)?;
                }
                self.write_through(report)?;
            }
            Some(FaultKind::Stall) => {
                record(&mut self.stats, FaultKind::Stall);
                std::thread::sleep(self.plan.stall);
                self.write_through(report)?;
            }
        }
        // A held report goes out right after the one that overtook it.
        if let Some(held) = held {
            self.write_through(&held)?;
        }
        Ok(())
    }

    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, Error> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if self.disconnected && self.enabled {
                return Err(Error::Disconnected);
            }
            let now = Instant::now();
            if let Some(until) = self.stalled_until {
                if now < until {
                    // The device is stalled: nothing arrives before `until`.
                    let wake = deadline.map_or(until, |deadline| deadline.min(until));
                    std::thread::sleep(wake.saturating_duration_since(now));
                    if deadline.is_some_and(|deadline| deadline <= until) {
                        return Ok(None);
                    }
                    continue;
                }
                self.stalled_until = None;
            }
            if let Some(report) = self.ready.pop_front() {
                if self.count_report(Direction::Read) {
                    return Err(Error::Disconnected);
                }
                let len = report.len().min(buf.len());
                if let (Some(out), Some(src)) = (buf.get_mut(..len), report.get(..len)) {
                    out.copy_from_slice(src);
                }
                return Ok(Some(len));
            }
            let remaining =
                deadline.map_or(timeout, |deadline| deadline.saturating_duration_since(now));
            let mut scratch = [0u8; MAX_REPORT_SIZE];
            match self.inner.read_report(&mut scratch, remaining)? {
                Some(len) => {
                    let report = scratch.get(..len).unwrap_or(&scratch).to_vec();
                    self.on_read(report);
                }
                None => {
                    // Nothing overtook the held report in time: it arrives late, not never.
                    if let Some(held) = self.held_read.take() {
                        self.ready.push_back(held);
                        continue;
                    }
                    return Ok(None);
                }
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) && self.ready.is_empty()
            {
                return Ok(None);
            }
        }
    }

    fn input_report_size(&self) -> ReportSize {
        self.inner.input_report_size()
    }

    fn output_report_size(&self) -> ReportSize {
        self.inner.output_report_size()
    }

    fn close(&mut self) {
        self.inner.close();
    }
}

/// `true` for an init packet (bit 7 of the byte after the channel id).
fn is_init_packet(report: &[u8]) -> bool {
    report.get(4).is_some_and(|b| b & 0x80 != 0)
}

impl<C: fmt::Debug> fmt::Debug for FaultyConnection<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyConnection")
            .field("inner", &self.inner)
            .field("plan", &self.plan)
            .field("enabled", &self.enabled)
            .field("disconnected", &self.disconnected)
            .field("faults", &self.stats.total_all())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every written report comes back as a read report.
    #[derive(Debug, Default)]
    struct Loopback {
        queue: VecDeque<Vec<u8>>,
    }

    impl HidConnection for Loopback {
        fn write_report(&mut self, report: &[u8]) -> Result<(), Error> {
            self.queue.push_back(report.to_vec());
            Ok(())
        }
        fn read_report(&mut self, buf: &mut [u8], _: Duration) -> Result<Option<usize>, Error> {
            Ok(self.queue.pop_front().map(|report| {
                buf[..report.len()].copy_from_slice(&report);
                report.len()
            }))
        }
        fn input_report_size(&self) -> ReportSize {
            ReportSize::FULL_SPEED
        }
        fn output_report_size(&self) -> ReportSize {
            ReportSize::FULL_SPEED
        }
    }

    fn report(n: u8) -> Vec<u8> {
        let mut report = vec![n; 64];
        report[..5].copy_from_slice(&[0, 0, 0, 1, 0x81]);
        report
    }

    /// Writes 200 reports, reads everything back; returns what was read and the stats.
    fn run(plan: FaultPlan) -> (Vec<Vec<u8>>, FaultStats) {
        let mut connection = FaultyConnection::new(Loopback::default(), plan);
        let mut read = Vec::new();
        let mut buf = [0u8; 64];
        for n in 0..200u8 {
            let _ = connection.write_report(&report(n));
            while let Ok(Some(len)) = connection.read_report(&mut buf, Duration::ZERO) {
                read.push(buf[..len].to_vec());
            }
        }
        (read, connection.stats().clone())
    }

    fn every_kind(seed: u64) -> FaultPlan {
        FaultKind::ALL.iter().fold(
            FaultPlan::new(seed).with_stall(Duration::ZERO),
            |plan, &kind| {
                plan.with_rate(kind, Direction::Read, 30)
                    .with_rate(kind, Direction::Write, 30)
            },
        )
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let (read_a, stats_a) = run(every_kind(7));
        let (read_b, stats_b) = run(every_kind(7));
        assert_eq!(read_a, read_b);
        assert_eq!(stats_a, stats_b);
        let (read_c, _) = run(every_kind(8));
        assert_ne!(read_a, read_c);
        // Every rate-based kind was injected at least once in 200 reports each way.
        for kind in FaultKind::ALL {
            if kind != FaultKind::Disconnect {
                assert!(stats_a.total(kind) > 0, "{kind}");
            }
        }
        assert_eq!(
            stats_a.total_all(),
            u64::try_from(stats_a.events.len()).unwrap()
        );
    }

    #[test]
    fn no_rules_or_switched_off_passes_everything_through() {
        let (read, stats) = run(FaultPlan::new(1));
        assert_eq!(read, (0..200).map(report).collect::<Vec<_>>());
        assert_eq!(stats.total_all(), 0);

        let mut connection = FaultyConnection::new(Loopback::default(), every_kind(1));
        connection.set_enabled(false);
        let mut buf = [0u8; 64];
        for n in 0..50 {
            connection.write_report(&report(n)).unwrap();
            assert_eq!(
                connection.read_report(&mut buf, Duration::ZERO).unwrap(),
                Some(64)
            );
            assert_eq!(buf.to_vec(), report(n));
        }
        assert_eq!(connection.stats().total_all(), 0);
    }

    #[test]
    fn bit_flips_stay_in_their_part_of_the_report() {
        for (kind, range) in [
            (FaultKind::CorruptHeader, 0..INIT_HEADER_LEN),
            (FaultKind::CorruptPayload, INIT_HEADER_LEN..64),
        ] {
            let (read, stats) = run(FaultPlan::new(3).with_rate(kind, Direction::Read, 1000));
            assert_eq!(stats.count(kind, Direction::Read), 200);
            for (n, got) in read.iter().enumerate() {
                let sent = report(u8::try_from(n).unwrap());
                let diff: Vec<usize> = (0..64).filter(|&i| got[i] != sent[i]).collect();
                assert_eq!(diff.len(), 1, "{kind}: one byte changed");
                assert!(range.contains(&diff[0]), "{kind}: byte {}", diff[0]);
                assert_eq!((got[diff[0]] ^ sent[diff[0]]).count_ones(), 1);
            }
        }
    }

    #[test]
    fn a_disconnect_lasts_until_the_faults_stop() {
        let mut connection = FaultyConnection::new(
            Loopback::default(),
            FaultPlan::new(0).with_disconnect_after(3),
        );
        let mut buf = [0u8; 64];
        connection.write_report(&report(0)).unwrap();
        connection.write_report(&report(1)).unwrap();
        assert!(
            connection
                .read_report(&mut buf, Duration::ZERO)
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            connection.write_report(&report(2)),
            Err(Error::Disconnected)
        ));
        assert!(matches!(
            connection.read_report(&mut buf, Duration::ZERO),
            Err(Error::Disconnected)
        ));
        assert_eq!(connection.stats().total(FaultKind::Disconnect), 1);
        connection.set_enabled(false);
        assert_eq!(
            connection.read_report(&mut buf, Duration::ZERO).unwrap(),
            Some(64)
        );
        assert_eq!(buf.to_vec(), report(1));
    }

    #[test]
    fn foreign_init_answers_are_valid_and_carry_another_nonce() {
        let (read, stats) =
            run(FaultPlan::new(5).with_rate(FaultKind::ForeignInit, Direction::Read, 1000));
        assert_eq!(stats.count(FaultKind::ForeignInit, Direction::Read), 200);
        let answers: Vec<_> = read
            .iter()
            .filter(|r| r[..5] == [0xFF, 0xFF, 0xFF, 0xFF, 0x86])
            .collect();
        assert_eq!(answers.len(), 200);
        for answer in answers {
            let parsed = InitResponse::parse(&answer[7..24]).unwrap();
            assert!(parsed.cid.is_allocatable());
        }
    }
}
