//! The harness of the `frame-paths` binaries: inputs, the instruction-count driver
//! (`icount`, run under Valgrind's callgrind by `cargo xtask icount`) and the
//! wall-clock driver (`time`, run by `cargo xtask bench-paths`).
//!
//! Each binary is a list of [`Path`]s: a function that frames `n` messages through
//! ctaphid-frame's public API, written as a caller would write it. The binaries differ
//! in how many places call `Packetizer::write_next` and `Reassembler::feed`:
//! `frame-paths` has at least five call sites of each (every path its own loop),
//! `one-site` exactly one; the figures must not depend on it.
//!
//! Output is plain lines for xtask to read:
//! - `list`: `path <name> <payload bytes>` per measured pair;
//! - `icount [path...]`: `icount <name> <payload bytes> <messages>` per pair, in the order of
//!   its two calls of [`measure`] (`messages`, then twice as many), whose instruction
//!   counts callgrind dumps one file each (`--dump-after=frame_paths::measure`);
//! - `time [--quick] [path...]`: `time <name> <bytes> <ns/message> <memcpy ns> <memcpy
//!   bytes>` (every path, or the named ones).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ctap_types::{ChannelId, Command};
use ctaphid_frame::{MAX_MESSAGE_LEN, Packetizer, Reassembler, ReassemblerConfig, ReportSize};

/// The channel every path uses.
pub const CID: ChannelId = ChannelId::new(0x0102_0304);

/// One path: its name, report size, payload sizes and the loop that frames `n`
/// messages.
#[derive(Clone, Copy, Debug)]
pub struct Path {
    /// `<operation>` or `<operation>-<variant>`.
    pub name: &'static str,
    /// The report size it uses.
    pub report_size: usize,
    /// Payload sizes measured.
    pub sizes: &'static [usize],
    /// Frames `n` messages of `input`.
    pub run: fn(&mut Input, u64),
}

/// Everything a path needs, made before anything is measured.
#[derive(Debug)]
pub struct Input {
    /// The payload, not all zeros.
    pub payload: Vec<u8>,
    /// The report size (from a HID descriptor: a run-time value).
    pub size: ReportSize,
    /// The payload's reports (MSG on [`CID`]), back to back.
    pub reports: Vec<u8>,
    /// Room for every report of the largest message, plus one byte (a report id).
    pub out: Vec<u8>,
    /// A device's reassembler: any channel.
    pub device: Box<Reassembler<[u8; MAX_MESSAGE_LEN]>>,
    /// A host's reassembler: only [`CID`].
    pub host: Box<Reassembler<[u8; MAX_MESSAGE_LEN]>>,
    /// The destination of the `memcpy` baseline.
    pub copy: Vec<u8>,
}

impl Input {
    /// The input of a path with `report_size`-byte reports and `len` payload bytes.
    ///
    /// # Panics
    /// On a report size outside 8..=64 or a payload over its maximum (set-up errors).
    #[must_use]
    pub fn new(report_size: usize, len: usize) -> Self {
        let size = ReportSize::new(report_size).unwrap_or_else(|e| panic!("{e}"));
        let payload: Vec<u8> = (0..=250u8).cycle().take(len).collect();
        let mut packetizer = Packetizer::new(CID, Command::MSG, &payload, size)
            .unwrap_or_else(|e| panic!("{len} bytes: {e}"));
        let mut reports = vec![0u8; packetizer.report_count() * size.get()];
        for report in reports.chunks_exact_mut(size.get()) {
            let _ = packetizer.write_next(report);
        }
        let config = ReassemblerConfig::new(size);
        Self {
            out: vec![0u8; 129 * 64 + 1],
            device: Box::new(Reassembler::new([0u8; MAX_MESSAGE_LEN], config)),
            host: Box::new(Reassembler::new(
                [0u8; MAX_MESSAGE_LEN],
                config.with_channel(CID),
            )),
            copy: vec![0u8; memcpy_len(len)],
            payload,
            size,
            reports,
        }
    }
}

/// The bytes of the `memcpy` baseline of a `len`-byte message: the same bytes, or one
/// 64-byte report for the empty message (a `memcpy` of nothing measures nothing).
#[must_use]
pub const fn memcpy_len(len: usize) -> usize {
    if len == 0 { 64 } else { len }
}

/// The baseline: a `memcpy` of the message's bytes, `n` times.
pub fn memcpy(input: &mut Input, n: u64) {
    let src = vec![0x5Au8; input.copy.len()];
    for _ in 0..n {
        input.copy.copy_from_slice(black_box(&src));
        black_box(&mut input.copy);
    }
}

/// Runs `path` over `n` messages: the one function whose instructions callgrind counts
/// (`--toggle-collect`) and after which it dumps them (`--dump-after`).
#[inline(never)]
pub fn measure(path: fn(&mut Input, u64), input: &mut Input, n: u64) {
    path(black_box(input), black_box(n));
}

/// Messages per call of [`measure`] under callgrind (and twice as many in the second
/// call: the difference is exactly `ICOUNT_MESSAGES` messages, without set-up costs).
const ICOUNT_MESSAGES: u64 = 16;

/// The command line of a `frame-paths` binary.
///
/// # Panics
/// On an unknown command (the binaries are run by xtask).
pub fn main(paths: &[Path]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["list"] => {
            for path in paths {
                for len in path.sizes {
                    println!("path {} {len}", path.name);
                }
            }
        }
        ["icount", only @ ..] => {
            for path in paths.iter().filter(|p| only.is_empty() || only.contains(&p.name)) {
                for &len in path.sizes {
                    let mut input = Input::new(path.report_size, len);
                    // One warm-up message outside the counted calls.
                    (path.run)(&mut input, 1);
                    println!("icount {} {len} {ICOUNT_MESSAGES}", path.name);
                    measure(path.run, &mut input, ICOUNT_MESSAGES);
                    measure(path.run, &mut input, 2 * ICOUNT_MESSAGES);
                }
            }
        }
        ["time", rest @ ..] => {
            let quick = rest.contains(&"--quick");
            let only: Vec<&str> = rest.iter().copied().filter(|a| *a != "--quick").collect();
            for path in paths
                .iter()
                .filter(|p| only.is_empty() || only.contains(&p.name))
            {
                for &len in path.sizes {
                    time(path, len, quick);
                }
            }
        }
        _ => panic!("usage: frame-paths list | icount | time [--quick] [path...]"),
    }
}

/// The fastest ns per message of `path` and of the `memcpy` baseline over many short
/// batches, timed alternately so that both see the same machine.
fn time(path: &Path, len: usize, quick: bool) {
    let mut input = Input::new(path.report_size, len);
    // Many short batches, and the fastest of each: on a shared machine the least
    // disturbed batch is the closest to what the code costs, and the path and its
    // baseline alternate, so both get the same chances.
    let batch = Duration::from_micros(300);
    let rounds = if quick { 21 } else { 201 };
    let n_path = calibrate(path.run, &mut input, batch);
    let n_copy = calibrate(memcpy, &mut input, batch);
    let mut path_ns = Vec::with_capacity(rounds);
    let mut copy_ns = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        path_ns.push(per_message(path.run, &mut input, n_path));
        copy_ns.push(per_message(memcpy, &mut input, n_copy));
    }
    println!(
        "time {} {len} {:.2} {:.2} {}",
        path.name,
        fastest(&path_ns),
        fastest(&copy_ns),
        memcpy_len(len)
    );
}

/// Messages that take about `batch`.
fn calibrate(run: fn(&mut Input, u64), input: &mut Input, batch: Duration) -> u64 {
    let mut n = 1u64;
    loop {
        let started = Instant::now();
        run(input, n);
        let took = started.elapsed();
        if took >= batch / 4 || n >= 1 << 30 {
            let scale = batch.as_secs_f64() / took.as_secs_f64().max(1e-9);
            // A positive count far below 2^52.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            return ((n as f64 * scale) as u64).max(1);
        }
        n *= 4;
    }
}

#[allow(clippy::cast_precision_loss)]
fn per_message(run: fn(&mut Input, u64), input: &mut Input, n: u64) -> f64 {
    let started = Instant::now();
    run(input, n);
    started.elapsed().as_secs_f64() * 1e9 / n as f64
}

fn fastest(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}
