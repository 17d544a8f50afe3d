//! Allocations per message of every bench of `ctap-benches`, counted deterministically
//! by a global allocator that wraps `System` (`stats_alloc`; the workspace forbids
//! `unsafe`, so no allocator of our own). `cargo xtask bench` runs it and puts the
//! figures in its table.
//!
//! Each workload is the bench's own code (the helpers of `ctap_benches`), run once to
//! warm up (first-use allocations, such as a queue's first growth, are not per
//! message), then [`ROUNDS`] times while counting. Output: one line per bench,
//! `alloc <group> <bench> <allocations per message>`, where an allocation is an
//! `alloc` or a `realloc` call (frees are not counted). Single-threaded apart from the
//! `throughput` rows, whose figure is per round (one PING on every thread).

use std::alloc::System;
use std::hint::black_box;

use ctap_benches::{
    ALL_REPORTS, CID, FRAME_SIZES, GET_INFO, PING_SIZES, THREADS, THROUGHPUT_PING,
    ZeroCopyRoundTrip, alloc_reassemble_all, alloc_ref, alloc_round_trip, authenticator, open,
    packetize_into, payload, reassemble_all, reports,
};
use ctap_device::CtapDevice;
use ctap_types::Command;
use ctaphid_frame::{MAX_MESSAGE_LEN, MAX_REPORT_SIZE, Reassembler, ReassemblerConfig, ReportSize};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Counted repetitions of each workload.
const ROUNDS: u32 = 50;

/// Allocations per run of `f`, after one uncounted run.
fn per_message(mut f: impl FnMut()) -> f64 {
    f();
    let region = Region::new(GLOBAL);
    for _ in 0..ROUNDS {
        f();
    }
    let change = region.change();
    // Counts are far below 2^52: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    let total = (change.allocations + change.reallocations) as f64;
    total / f64::from(ROUNDS)
}

fn print(group: &str, bench: &str, allocations: f64) {
    println!("alloc {group} {bench} {allocations}");
}

fn main() {
    let mut wire = vec![0u8; ALL_REPORTS];
    let config = ReassemblerConfig::new(ReportSize::FULL_SPEED);
    let mut reassembler = Reassembler::new([0u8; MAX_MESSAGE_LEN], config);
    for len in FRAME_SIZES {
        let data = payload(len);
        let sent = reports(&data);
        print(
            "packetize",
            &format!("frame/{len}"),
            per_message(|| {
                black_box(packetize_into(black_box(&data), &mut wire));
            }),
        );
        print(
            "packetize",
            &format!("alloc_ref/{len}"),
            per_message(|| {
                black_box(alloc_ref::packetize(
                    CID,
                    Command::MSG,
                    &data,
                    MAX_REPORT_SIZE,
                ));
            }),
        );
        print(
            "reassemble",
            &format!("frame/{len}"),
            per_message(|| {
                black_box(reassemble_all(&mut reassembler, black_box(&sent)));
            }),
        );
        print(
            "reassemble",
            &format!("alloc_ref/{len}"),
            per_message(|| {
                black_box(alloc_reassemble_all(black_box(&sent)));
            }),
        );
    }

    let virtual_key = authenticator();
    let mut device = open(&virtual_key);
    let mut framing = ZeroCopyRoundTrip::default();
    let info = device
        .call(Command::CBOR, &GET_INFO)
        .unwrap_or_else(|e| panic!("getInfo: {e}"));
    let mut cases: Vec<_> = PING_SIZES
        .into_iter()
        .map(|n| (n.to_string(), Command::PING, payload(n), payload(n)))
        .collect();
    cases.push(("getinfo".to_owned(), Command::CBOR, GET_INFO.to_vec(), info));
    for (id, command, request, answer) in &cases {
        print(
            "end_to_end",
            &format!("call/{id}"),
            per_message(|| {
                black_box(device.call(*command, request)).unwrap_or_else(|e| panic!("{e}"));
            }),
        );
        print(
            "end_to_end",
            &format!("frame/{id}"),
            per_message(|| {
                black_box(framing.run(request, answer));
            }),
        );
        print(
            "end_to_end",
            &format!("alloc_ref/{id}"),
            per_message(|| {
                black_box(alloc_round_trip(request, answer));
            }),
        );
    }

    let data = payload(THROUGHPUT_PING);
    for n in THREADS {
        let virtual_key = authenticator();
        let mut devices: Vec<_> = (0..n).map(|_| open(&virtual_key)).collect();
        // Only the threads' own work: the spawning is outside the counted region.
        let rounds = per_round(&mut devices, &data);
        print("throughput", &format!("threads/{n}"), rounds);
    }
}

/// Allocations per round of the throughput bench (one PING on every device, each on
/// its own thread): the count of a run of [`ROUNDS`] rounds minus that of a run of
/// none, so spawning the threads is not counted.
fn per_round<D: CtapDevice + Send>(devices: &mut [D], data: &[u8]) -> f64 {
    let run = |devices: &mut [D], rounds: u32| -> usize {
        let region = Region::new(GLOBAL);
        std::thread::scope(|scope| {
            for device in devices.iter_mut() {
                scope.spawn(move || {
                    for _ in 0..rounds {
                        black_box(device.call(Command::PING, data))
                            .unwrap_or_else(|e| panic!("{e}"));
                    }
                });
            }
        });
        let change = region.change();
        change.allocations + change.reallocations
    };
    run(devices, 1);
    let idle = run(devices, 0);
    let busy = run(devices, ROUNDS);
    // Counts are far below 2^52: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    let per_round = busy.saturating_sub(idle) as f64 / f64::from(ROUNDS);
    per_round
}
