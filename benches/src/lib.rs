//! Shared helpers of the criterion benchmarks (see `benches/`).
//!
//! The benches measure each operation next to a `memcpy` of the same bytes in the same
//! criterion group, so results read as ratios that survive a noisy, shared machine.
//! `cargo xtask bench` turns criterion's estimates into the table in `RESULTS.md`.

use ctap_types::{ChannelId, Command};
use ctaphid_frame::{
    Feed, MAX_CONTINUATIONS, MAX_MESSAGE_LEN, MAX_REPORT_SIZE, MessageBuffer, Packetizer,
    Reassembler, ReassemblerConfig, ReportSize,
};

/// Payload sizes of the framing benches: empty, one full init packet, one byte into a
/// continuation, a typical large CBOR request, and the largest message of 64-byte
/// reports.
pub const FRAME_SIZES: [usize; 5] = [0, 57, 58, 1024, 7609];

/// The size of the `memcpy` baseline for tiny messages: one 64-byte report. A message
/// of 0 bytes still costs one report, and a `memcpy` of nothing measures only the
/// timer.
pub const ONE_REPORT: usize = 64;

/// The channel the benches use.
pub const CID: ChannelId = ChannelId::new(0x0102_0304);

/// A payload of `len` bytes that is not all zeros.
#[must_use]
pub fn payload(len: usize) -> Vec<u8> {
    (0..=250u8).cycle().take(len).collect()
}

/// The reports of `payload` sent as MSG on [`CID`] in 64-byte reports, back to back.
///
/// # Panics
/// If the payload is over the maximum message (a bench set-up error).
#[must_use]
pub fn reports(payload: &[u8]) -> Vec<u8> {
    let size = ReportSize::FULL_SPEED;
    let mut packetizer = Packetizer::new(CID, Command::MSG, payload, size)
        .unwrap_or_else(|e| panic!("bench payload: {e}"));
    let mut out = vec![0u8; packetizer.report_count() * size.get()];
    for report in out.chunks_exact_mut(size.get()) {
        let _ = packetizer.write_next(report);
    }
    out
}

/// The reports of the largest message at 64-byte reports, back to back.
pub const ALL_REPORTS: usize = MAX_CONTINUATIONS * MAX_REPORT_SIZE + MAX_REPORT_SIZE;

/// Packetizes `payload` (MSG on [`CID`], 64-byte reports) into `out` with the
/// zero-copy [`Packetizer`] and returns the bytes written.
///
/// # Panics
/// If the payload is over the maximum or `out` too short (bench set-up errors).
pub fn packetize_into(payload: &[u8], out: &mut [u8]) -> usize {
    let size = ReportSize::FULL_SPEED;
    let mut packetizer = Packetizer::new(CID, Command::MSG, payload, size)
        .unwrap_or_else(|e| panic!("bench payload: {e}"));
    let mut written = 0;
    for report in out.chunks_exact_mut(size.get()) {
        match packetizer.write_next(report) {
            Ok(Some(len)) => written += len,
            Ok(None) => break,
            Err(e) => panic!("{e}"),
        }
    }
    written
}

/// Feeds `reports` (64-byte reports, back to back) to `reassembler` and returns the
/// length of the message they complete.
///
/// # Panics
/// If they do not make exactly one message of [`CID`] (a bench set-up error).
pub fn reassemble_all<B: MessageBuffer>(reassembler: &mut Reassembler<B>, reports: &[u8]) -> usize {
    for report in reports.chunks_exact(MAX_REPORT_SIZE) {
        match reassembler.feed(report) {
            Ok(Feed::NeedMore(_)) => {}
            Ok(Feed::Complete(message)) => return std::hint::black_box(message.payload).len(),
            Ok(Feed::OtherChannel { cid, .. }) => panic!("other channel {cid}"),
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the reports did not complete a message")
}

/// Framing alone, both ways, with the zero-copy crate over fixed buffers: what a call
/// costs before the device layer and the transport add anything. The request is
/// packetized and reassembled (the device's side), then the answer (the host's side).
#[derive(Debug)]
pub struct ZeroCopyRoundTrip {
    wire: Vec<u8>,
    device: Reassembler<Box<[u8]>>,
    host: Reassembler<Box<[u8]>>,
}

impl Default for ZeroCopyRoundTrip {
    fn default() -> Self {
        let config = ReassemblerConfig::new(ReportSize::FULL_SPEED);
        let buffer = || vec![0u8; MAX_MESSAGE_LEN].into_boxed_slice();
        Self {
            wire: vec![0u8; ALL_REPORTS],
            device: Reassembler::new(buffer(), config),
            host: Reassembler::new(buffer(), config.with_channel(CID)),
        }
    }
}

impl ZeroCopyRoundTrip {
    /// One request out and its answer back; returns the answer's length.
    pub fn run(&mut self, request: &[u8], answer: &[u8]) -> usize {
        let n = packetize_into(request, &mut self.wire);
        reassemble_all(&mut self.device, &self.wire[..n]);
        let n = packetize_into(answer, &mut self.wire);
        reassemble_all(&mut self.host, &self.wire[..n])
    }
}

/// [`ZeroCopyRoundTrip`] with the allocating reference framing: every report is a
/// fresh `Vec`, every message a growing one.
///
/// # Panics
/// If a payload is over the maximum (a bench set-up error).
#[must_use]
pub fn alloc_round_trip(request: &[u8], answer: &[u8]) -> usize {
    let mut device = alloc_ref::Reassembler::new(MAX_REPORT_SIZE);
    let mut host = alloc_ref::Reassembler::new(MAX_REPORT_SIZE);
    let mut len = 0;
    for (payload, side) in [(request, &mut device), (answer, &mut host)] {
        let reports = alloc_ref::packetize(CID, Command::MSG, payload, MAX_REPORT_SIZE)
            .unwrap_or_else(|| panic!("bench payload of {} bytes", payload.len()));
        for report in &reports {
            if let Some(message) = side.feed(report).unwrap_or_else(|e| panic!("{e:?}")) {
                len = std::hint::black_box(message.payload).len();
            }
        }
    }
    len
}

/// [`reassemble_all`] with the allocating reference: the message's `Vec`.
///
/// # Panics
/// As [`reassemble_all`].
#[must_use]
pub fn alloc_reassemble_all(reports: &[u8]) -> Vec<u8> {
    let mut reassembler = alloc_ref::Reassembler::new(MAX_REPORT_SIZE);
    for report in reports.chunks_exact(MAX_REPORT_SIZE) {
        if let Some(message) = reassembler.feed(report).unwrap_or_else(|e| panic!("{e:?}")) {
            return message.payload;
        }
    }
    panic!("the reports did not complete a message")
}

/// PING sizes of the end-to-end benches: empty, one report each way, a typical large
/// CBOR request, and the largest message of 64-byte reports.
pub const PING_SIZES: [usize; 4] = [0, 57, 1024, 7609];

/// authenticatorGetInfo: `Command::CBOR` with this one byte.
pub const GET_INFO: [u8; 1] = [0x04];

/// Thread counts of the multi-channel throughput bench (the bench machine has 2 cores).
pub const THREADS: [usize; 3] = [1, 2, 4];

/// The PING size of the multi-channel throughput bench.
pub const THROUGHPUT_PING: usize = 1024;

/// The virtual authenticator of the end-to-end benches: default configuration, but
/// inboxes deep enough that a descheduled reader among several threads never loses the
/// answer it waits for (every connection sees every report).
#[must_use]
pub fn authenticator() -> ctap_virtual::VirtualAuthenticator {
    ctap_virtual::VirtualAuthenticator::new(ctap_virtual::Config {
        max_output_reports: 16 * 1024,
        ..ctap_virtual::Config::default()
    })
}

/// The host's configuration in the benches: CHANNEL_BUSY (one transaction at a time per
/// device, so concurrent channels collide) is retried after 20 µs instead of the
/// default 100 ms, which would measure the sleep.
#[must_use]
pub fn host_config() -> ctap_device::DeviceConfig {
    ctap_device::DeviceConfig::default()
        .with_busy_retry_interval(std::time::Duration::from_micros(20))
}

/// A device (INIT done) on a channel of its own of `authenticator`.
///
/// # Panics
/// If INIT fails (a bug).
#[must_use]
pub fn open(
    authenticator: &ctap_virtual::VirtualAuthenticator,
) -> ctap_device::CtapHidDevice<ctap_virtual::VirtualConnection> {
    authenticator
        .open_device_with(host_config())
        .unwrap_or_else(|e| panic!("INIT: {e}"))
}

pub mod alloc_ref {
    //! A reference "allocating" framing, the second baseline of the benches: what the
    //! allocating Rust CTAPHID libraries of the field do. The packetizer returns a
    //! `Vec<Vec<u8>>` (one allocation per report, plus the outer `Vec`); the
    //! reassembler pushes each packet's data into a `Vec` that grows as it goes and
    //! hands it out (so a message costs its growth reallocations). Correct framing,
    //! written plainly; only the benches use it.

    use ctap_types::{ChannelId, Command};

    /// Header of an init packet: CID, CMD, BCNT.
    const INIT_HEADER: usize = 7;
    /// Header of a continuation packet: CID, SEQ.
    const CONT_HEADER: usize = 5;

    /// Splits `payload` into zero-padded reports of `report_size` bytes (8..=64), or
    /// `None` if it needs more than 128 continuations.
    #[must_use]
    pub fn packetize(
        cid: ChannelId,
        command: Command,
        payload: &[u8],
        report_size: usize,
    ) -> Option<Vec<Vec<u8>>> {
        let init_cap = report_size - INIT_HEADER;
        let cont_cap = report_size - CONT_HEADER;
        let len = u16::try_from(payload.len()).ok()?;
        let (first, mut rest) = payload.split_at(payload.len().min(init_cap));
        let mut reports = Vec::new();
        let mut report = Vec::with_capacity(report_size);
        report.extend_from_slice(&cid.to_be_bytes());
        report.push(command.to_init_byte());
        report.extend_from_slice(&len.to_be_bytes());
        report.extend_from_slice(first);
        report.resize(report_size, 0);
        reports.push(report);
        let mut seq = 0u8;
        while !rest.is_empty() {
            if seq > 0x7F {
                return None;
            }
            let (chunk, tail) = rest.split_at(rest.len().min(cont_cap));
            let mut report = Vec::with_capacity(report_size);
            report.extend_from_slice(&cid.to_be_bytes());
            report.push(seq);
            report.extend_from_slice(chunk);
            report.resize(report_size, 0);
            reports.push(report);
            rest = tail;
            seq += 1;
        }
        Some(reports)
    }

    /// A complete message.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Message {
        /// Its channel.
        pub cid: ChannelId,
        /// Its command.
        pub command: Command,
        /// Its payload.
        pub payload: Vec<u8>,
    }

    /// What went wrong with a report.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RefError {
        /// Shorter than the report size.
        ShortReport,
        /// A continuation without an init packet, of another channel, or out of order.
        UnexpectedContinuation,
    }

    /// The message being received.
    #[derive(Debug)]
    struct Receiving {
        cid: ChannelId,
        command: Command,
        len: usize,
        next_seq: u8,
        data: Vec<u8>,
    }

    /// Reassembles reports of one report size into messages, growing a `Vec`.
    #[derive(Debug)]
    pub struct Reassembler {
        report_size: usize,
        receiving: Option<Receiving>,
    }

    impl Reassembler {
        /// A reassembler of `report_size`-byte reports (8..=64).
        #[must_use]
        pub const fn new(report_size: usize) -> Self {
            Self {
                report_size,
                receiving: None,
            }
        }

        /// Feeds one report: `Ok(Some(message))` when it completes one. An init packet
        /// always starts a new message.
        ///
        /// # Errors
        /// A short report, or a continuation that was not due.
        pub fn feed(&mut self, report: &[u8]) -> Result<Option<Message>, RefError> {
            let report = report
                .get(..self.report_size)
                .ok_or(RefError::ShortReport)?;
            let cid = ChannelId::from_be_bytes([report[0], report[1], report[2], report[3]]);
            let marker = report[4];
            if marker & 0x80 != 0 {
                let len = usize::from(u16::from_be_bytes([report[5], report[6]]));
                let data = &report[INIT_HEADER..];
                let mut receiving = Receiving {
                    cid,
                    command: Command::from_init_byte(marker),
                    len,
                    next_seq: 0,
                    data: Vec::new(),
                };
                receiving
                    .data
                    .extend_from_slice(&data[..len.min(data.len())]);
                return Ok(self.finish_or_keep(receiving));
            }
            let mut receiving = self
                .receiving
                .take()
                .filter(|r| r.cid == cid && r.next_seq == marker)
                .ok_or(RefError::UnexpectedContinuation)?;
            let data = &report[CONT_HEADER..];
            let want = receiving.len - receiving.data.len();
            receiving
                .data
                .extend_from_slice(&data[..want.min(data.len())]);
            receiving.next_seq += 1;
            Ok(self.finish_or_keep(receiving))
        }

        fn finish_or_keep(&mut self, receiving: Receiving) -> Option<Message> {
            if receiving.data.len() == receiving.len {
                self.receiving = None;
                return Some(Message {
                    cid: receiving.cid,
                    command: receiving.command,
                    payload: receiving.data,
                });
            }
            self.receiving = Some(receiving);
            None
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::{CID, payload, reports};

        #[test]
        fn it_round_trips_and_matches_the_zero_copy_framing() {
            for size in [64, 62, 8] {
                let max = size - INIT_HEADER + 128 * (size - CONT_HEADER);
                for len in [0, 1, size - 7, size - 6, 1024.min(max), max] {
                    let data = payload(len);
                    let out = packetize(CID, Command::MSG, &data, size).expect("fits");
                    let mut reassembler = Reassembler::new(size);
                    let mut got = None;
                    for (i, report) in out.iter().enumerate() {
                        assert_eq!(report.len(), size);
                        let message = reassembler.feed(report).expect("valid report");
                        assert_eq!(message.is_some(), i + 1 == out.len(), "len {len}");
                        got = got.or(message);
                    }
                    let message = got.expect("complete");
                    assert_eq!((message.cid, message.command), (CID, Command::MSG));
                    assert_eq!(message.payload, data, "size {size} len {len}");
                }
                assert!(packetize(CID, Command::MSG, &payload(max + 1), size).is_none());
            }
            // Byte for byte what ctaphid-frame sends at 64-byte reports.
            for len in crate::FRAME_SIZES {
                let data = payload(len);
                let out = packetize(CID, Command::MSG, &data, 64).expect("fits");
                assert_eq!(out.concat(), reports(&data), "len {len}");
            }
        }

        #[test]
        fn bad_reports_are_refused() {
            let mut reassembler = Reassembler::new(64);
            assert_eq!(reassembler.feed(&[0; 10]), Err(RefError::ShortReport));
            let mut cont = [0u8; 64];
            cont[..5].copy_from_slice(&[1, 2, 3, 4, 0]);
            assert_eq!(
                reassembler.feed(&cont),
                Err(RefError::UnexpectedContinuation)
            );
        }
    }
}
