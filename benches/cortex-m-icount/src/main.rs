//! Instructions per message of ctaphid-frame's compact path (the crate built with
//! `default-features = false`, as firmware builds it) on a Cortex-M4, counted by `cargo
//! xtask cortex-m-icount` under QEMU (`mps2-an386`).
//!
//! Every path frames messages through the public API, as firmware would: `write_next`
//! into a 64-byte report, or `feed` of one report at a time into a reassembler over a
//! 7609-byte buffer. The report size is a run-time value (from a HID descriptor), as in
//! `benches/frame-paths`. The baseline copies the same bytes with `copy_from_slice` (a
//! call of compiler-builtins' `memcpy`).
//!
//! [`measure`] runs one path for `n` messages between two marker functions,
//! [`count_start`] and [`count_stop`]. QEMU logs the address of every instruction it
//! executes (one instruction per translation block, chaining off); xtask counts the
//! instructions between the markers. Each path is measured for [`MESSAGES`] and then
//! twice as many messages, so the difference is exactly [`MESSAGES`] messages without
//! set-up costs (the method of `benches/frame-paths` under callgrind). Before each pair
//! the harness prints `icount <path> <payload bytes> <messages>` over semihosting, in
//! the order of the measurements.
#![no_std]
#![no_main]

mod semihosting;

use core::fmt::Write as _;
use core::hint::black_box;
use core::panic::PanicInfo;

use ctap_types::{ChannelId, Command};
use ctaphid_frame::{
    Feed, MAX_MESSAGE_LEN, Packetizer, Reassembler, ReassemblerConfig, ReportSize,
};

/// The channel every message is sent on.
const CID: ChannelId = ChannelId::new(0x0102_0304);
/// A full-speed USB HID report: the buffer `write_next` writes into.
const REPORT_LEN: usize = 64;
/// Room for every report of the longest message (7609 bytes: 57 in the init packet,
/// 59 in each of 128 continuation packets).
const REPORTS_LEN: usize = 129 * REPORT_LEN;
/// Messages in the first measured call of each path (twice as many in the second).
const MESSAGES: u32 = 1;

/// A measured path: its name and the loop that frames `n` messages.
type Path = (&'static str, fn(&mut Bench<'_>, u32));

/// The paths of 64-byte reports.
const PATHS_64: &[Path] = &[
    ("copy", copy),
    ("packetize-64", packetize_64),
    ("reassemble-64", reassemble_64),
];
/// The paths of 62-byte reports.
const PATHS_62: &[Path] = &[
    ("copy", copy),
    ("packetize-62", packetize_62),
    ("reassemble-62", reassemble_62),
];

/// Report size, payload bytes and the paths measured on them: one init packet, a
/// mid-sized message and the longest message, at 64- and at 62-byte reports.
const INPUTS: &[(usize, usize, &[Path])] = &[
    (64, 57, PATHS_64),
    (64, 1024, PATHS_64),
    (64, 7609, PATHS_64),
    (62, 55, PATHS_62),
    (62, 1024, PATHS_62),
    (62, 7351, PATHS_62),
];

/// Everything a path needs, made before it is measured.
struct Bench<'a> {
    /// The payload: `payload[..len]` (filled once).
    payload: &'a mut [u8; MAX_MESSAGE_LEN],
    len: usize,
    /// The report size (a run-time value).
    size: ReportSize,
    /// The payload's reports (MSG on [`CID`]), back to back: `reports[..reports_len]`.
    reports: &'a mut [u8; REPORTS_LEN],
    reports_len: usize,
    /// A device's reassembler of 64-byte reports over a message buffer.
    device_64: Reassembler<&'a mut [u8; MAX_MESSAGE_LEN]>,
    /// The same for 62-byte reports, over another buffer.
    device_62: Reassembler<&'a mut [u8; MAX_MESSAGE_LEN]>,
    /// The destination of the copy baseline.
    copy: &'a mut [u8; MAX_MESSAGE_LEN],
}

impl Bench<'_> {
    /// Sets up a message of `len` bytes at `report_size`-byte reports.
    fn prepare(&mut self, report_size: usize, len: usize) {
        let Ok(size) = ReportSize::new(report_size) else {
            fail("report size")
        };
        let Some(payload) = self.payload.get(..len) else {
            fail("payload length")
        };
        let Ok(mut packetizer) = Packetizer::new(CID, Command::MSG, payload, size) else {
            fail("payload too long")
        };
        self.reports_len = 0;
        while let Some(rest) = self.reports.get_mut(self.reports_len..) {
            match packetizer.write_next(rest) {
                Ok(Some(written)) => self.reports_len += written,
                Ok(None) => break,
                Err(_) => fail("reports buffer too small"),
            }
        }
        self.len = len;
        self.size = size;
    }
}

/// Runs `path` over `n` messages between the two markers xtask counts between.
#[inline(never)]
fn measure(path: fn(&mut Bench<'_>, u32), bench: &mut Bench<'_>, n: u32) {
    count_start();
    path(black_box(bench), black_box(n));
    count_stop();
}

/// Where counting starts (xtask finds it by name in the ELF's symbol table). The
/// `black_box` is a side effect the optimiser must keep, so the call stays.
#[inline(never)]
fn count_start() {
    black_box(1u32);
}

/// Where counting stops.
#[inline(never)]
fn count_stop() {
    black_box(2u32);
}

/// The baseline: the message's bytes copied with `copy_from_slice` (a `memcpy` call).
#[inline(never)]
fn copy(bench: &mut Bench<'_>, n: u32) {
    let len = bench.len;
    for _ in 0..n {
        let (Some(src), Some(dst)) = (bench.payload.get(..len), bench.copy.get_mut(..len)) else {
            fail("copy length")
        };
        dst.copy_from_slice(black_box(src));
        black_box(dst);
    }
}

/// `write_next` into one 64-byte report buffer, each report handed on (a firmware's
/// send loop: `benches/firmware-size`'s `send`).
// Inlined into each wrapper: one copy of the loop per path, as a firmware has its own.
#[allow(clippy::inline_always)]
#[inline(always)]
fn packetize(bench: &mut Bench<'_>, n: u32) {
    let size = black_box(bench.size);
    let mut report = [0u8; REPORT_LEN];
    for _ in 0..n {
        let Some(payload) = bench.payload.get(..bench.len) else {
            fail("payload length")
        };
        let Ok(mut packetizer) =
            Packetizer::new(black_box(CID), Command::MSG, black_box(payload), size)
        else {
            fail("payload too long")
        };
        loop {
            match packetizer.write_next(&mut report) {
                Ok(Some(_)) => {
                    black_box(&report);
                }
                Ok(None) => break,
                Err(_) => fail("write_next"),
            }
        }
    }
}

/// [`packetize`] of 64-byte reports: its own function, so its own count.
#[inline(never)]
fn packetize_64(bench: &mut Bench<'_>, n: u32) {
    packetize(bench, n);
}

/// [`packetize`] of 62-byte reports.
#[inline(never)]
fn packetize_62(bench: &mut Bench<'_>, n: u32) {
    packetize(bench, n);
}

/// A device: every report fed as it is read, the message handed on when complete.
#[allow(clippy::inline_always)]
#[inline(always)]
fn reassemble(
    device: &mut Reassembler<&mut [u8; MAX_MESSAGE_LEN]>,
    reports: &[u8],
    size: ReportSize,
    n: u32,
) {
    let size = black_box(size).get();
    for _ in 0..n {
        let mut rest = black_box(reports);
        while let Some((report, tail)) = rest.split_at_checked(size) {
            rest = tail;
            match device.feed(report) {
                Ok(Feed::NeedMore(_)) => {}
                Ok(Feed::Complete(message)) => {
                    black_box(message.payload);
                }
                Ok(Feed::OtherChannel { .. }) => fail("other channel"),
                Err(_) => fail("feed"),
            }
        }
    }
}

/// [`reassemble`] of 64-byte reports.
#[inline(never)]
fn reassemble_64(bench: &mut Bench<'_>, n: u32) {
    let Some(reports) = bench.reports.get(..bench.reports_len) else {
        fail("reports length")
    };
    reassemble(&mut bench.device_64, reports, bench.size, n);
}

/// [`reassemble`] of 62-byte reports.
#[inline(never)]
fn reassemble_62(bench: &mut Bench<'_>, n: u32) {
    let Some(reports) = bench.reports.get(..bench.reports_len) else {
        fail("reports length")
    };
    reassemble(&mut bench.device_62, reports, bench.size, n);
}

/// The reset handler (the vector table in `link.x` points at it): measures every path,
/// then ends QEMU.
///
/// `no_mangle` is an unsafe attribute: it is what lets `link.x` name the function.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    // Everything lives on the stack of the one function that never returns (about 38 KB
    // of link.x's 256 KiB of RAM): no `static mut`, so no unsafe.
    let mut payload = [0u8; MAX_MESSAGE_LEN];
    let mut reports = [0u8; REPORTS_LEN];
    let mut buffer_64 = [0u8; MAX_MESSAGE_LEN];
    let mut buffer_62 = [0u8; MAX_MESSAGE_LEN];
    let mut copy_to = [0u8; MAX_MESSAGE_LEN];
    let (Ok(size_64), Ok(size_62)) = (ReportSize::new(64), ReportSize::new(62)) else {
        fail("report size")
    };
    let mut bench = Bench {
        payload: &mut payload,
        len: 0,
        size: size_64,
        reports: &mut reports,
        reports_len: 0,
        device_64: Reassembler::new(&mut buffer_64, ReassemblerConfig::new(size_64)),
        device_62: Reassembler::new(&mut buffer_62, ReassemblerConfig::new(size_62)),
        copy: &mut copy_to,
    };
    // Not all zeros: the bytes of benches/frame-paths.
    for (byte, value) in bench.payload.iter_mut().zip((0..=250u8).cycle()) {
        *byte = value;
    }
    for &(report_size, len, paths) in INPUTS {
        bench.prepare(report_size, len);
        for &(name, run) in paths {
            let mut line = Line::new();
            let _ = writeln!(line, "icount {name} {len} {MESSAGES}");
            semihosting::write(line.as_bytes());
            measure(run, &mut bench, MESSAGES);
            measure(run, &mut bench, 2 * MESSAGES);
        }
    }
    semihosting::exit(true)
}

/// Ends the run with a failure, saying why (set-up errors: the paths never fail).
fn fail(what: &str) -> ! {
    let mut line = Line::new();
    let _ = writeln!(line, "cortex-m-icount: {what}");
    semihosting::write(line.as_bytes());
    semihosting::exit(false)
}

/// Every fault and exception of the vector table (none is expected).
#[unsafe(no_mangle)]
pub extern "C" fn _fault() -> ! {
    fail("fault or unexpected exception")
}

#[panic_handler]
fn panic(_info: &PanicInfo<'_>) -> ! {
    fail("panic")
}

/// A line of text for semihosting, NUL-terminated (what `SYS_WRITE0` takes).
struct Line {
    bytes: [u8; 96],
    len: usize,
}

impl Line {
    const fn new() -> Self {
        Self {
            bytes: [0; 96],
            len: 0,
        }
    }

    /// The text with its NUL.
    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..=self.len).unwrap_or(&[0])
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        // One byte is kept for the NUL; NULs in the text would end it early.
        let end = self.len + text.len();
        let room = self.bytes.len() - 1;
        let Some(dst) = self.bytes.get_mut(self.len..end.min(room)) else {
            return Err(core::fmt::Error);
        };
        if end > room || text.bytes().any(|b| b == 0) {
            return Err(core::fmt::Error);
        }
        dst.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}
