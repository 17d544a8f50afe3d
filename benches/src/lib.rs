//! Shared helpers of the criterion benchmarks (see `benches/`).
//!
//! The benches measure each operation next to a `memcpy` of the same bytes in the same
//! criterion group, so results read as ratios that survive a noisy, shared machine.
//! `cargo xtask bench` turns criterion's estimates into the table in `RESULTS.md`.

use ctap_types::{ChannelId, Command};
use ctaphid_frame::{Packetizer, ReportSize};

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
