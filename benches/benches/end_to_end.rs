//! End-to-end benches: `CtapDevice::call` on a `CtapHidDevice` against the in-process
//! virtual authenticator (`ctap-virtual`), next to framing alone in the same group.
//!
//! Group `end_to_end`, for PING of each of [`PING_SIZES`] bytes and for a CBOR
//! authenticatorGetInfo (`getinfo`):
//! - `call/<n>`: the whole call (packetize, the transport's locking and queues, the
//!   authenticator's reassembly, dispatch and answer, the host's reassembly);
//! - `frame/<n>`: framing alone with the zero-copy crate over fixed buffers, both ways
//!   (request out and answer back): what the call costs before the device layer and
//!   the transport add anything. Its loops are written out in the bench, as the call
//!   path has them inline, not called through a helper of `ctap-benches` (an
//!   out-of-crate call measured ~20% slower for the same code, which would make the
//!   call look closer to framing than it is);
//! - `alloc_ref/<n>`: the same with the allocating reference framing;
//! - `memcpy/<n>`: a `memcpy` of the request and of the answer.
//!
//! Group `throughput`: `threads/<N>`, N threads each on a channel of its own of one
//! authenticator, each doing PING of [`THROUGHPUT_PING`] bytes; one iteration is one
//! PING on every thread (criterion's bytes/s is the aggregate echo throughput).
//!
//! Run: `cargo bench -p ctap-benches --bench end_to_end`, or `cargo xtask bench`.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctap_benches::{
    ALL_REPORTS, CID, GET_INFO, PING_SIZES, THREADS, THROUGHPUT_PING, alloc_round_trip,
    authenticator, open, payload,
};
use ctap_device::CtapDevice;
use ctap_types::Command;
use ctaphid_frame::{
    Feed, MAX_MESSAGE_LEN, MAX_REPORT_SIZE, Packetizer, Reassembler, ReassemblerConfig, ReportSize,
};

/// One row of the group: its id, the request and the answer's bytes.
fn cases() -> Vec<(String, Command, Vec<u8>, Vec<u8>)> {
    let mut device = open(&authenticator());
    let mut cases: Vec<_> = PING_SIZES
        .into_iter()
        .map(|n| (n.to_string(), Command::PING, payload(n), payload(n)))
        .collect();
    let info = device
        .call(Command::CBOR, &GET_INFO)
        .unwrap_or_else(|e| panic!("getInfo: {e}"));
    cases.push(("getinfo".to_owned(), Command::CBOR, GET_INFO.to_vec(), info));
    cases
}

fn end_to_end(c: &mut Criterion) {
    let authenticator = authenticator();
    let mut device = open(&authenticator);
    // Framing both ways over fixed buffers: the device's reassembler takes the request,
    // the host's (on our channel) the answer.
    let config = ReassemblerConfig::new(ReportSize::FULL_SPEED);
    let buffer = || vec![0u8; MAX_MESSAGE_LEN].into_boxed_slice();
    let mut device_side = Reassembler::new(buffer(), config);
    let mut host_side = Reassembler::new(buffer(), config.with_channel(CID));
    let mut wire = vec![0u8; ALL_REPORTS];
    let mut group = c.benchmark_group("end_to_end");
    for (id, command, request, answer) in cases() {
        group.throughput(Throughput::Bytes((request.len() + answer.len()) as u64));
        group.bench_function(BenchmarkId::new("call", &id), |b| {
            b.iter(|| {
                let got = device
                    .call(command, black_box(&request))
                    .unwrap_or_else(|e| panic!("{e}"));
                debug_assert_eq!(got.len(), answer.len());
                got
            });
        });
        group.bench_function(BenchmarkId::new("frame", &id), |b| {
            b.iter(|| {
                for (message, side) in [
                    (black_box(&request[..]), &mut device_side),
                    (black_box(&answer[..]), &mut host_side),
                ] {
                    let mut packetizer =
                        Packetizer::new(CID, command, message, ReportSize::FULL_SPEED)
                            .unwrap_or_else(|e| panic!("{e}"));
                    let mut sent = 0;
                    for report in wire.chunks_exact_mut(MAX_REPORT_SIZE) {
                        match packetizer.write_next(report) {
                            Ok(Some(len)) => sent += len,
                            Ok(None) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    for report in wire[..sent].chunks_exact(MAX_REPORT_SIZE) {
                        match side.feed(report) {
                            Ok(Feed::NeedMore(_)) => {}
                            Ok(Feed::Complete(message)) => {
                                black_box(message.payload);
                            }
                            Ok(Feed::OtherChannel { cid, .. }) => panic!("other channel {cid}"),
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        });
        group.bench_function(BenchmarkId::new("alloc_ref", &id), |b| {
            b.iter(|| alloc_round_trip(black_box(&request), black_box(&answer)));
        });
        let mut sent = vec![0u8; request.len()];
        let mut received = vec![0u8; answer.len()];
        group.bench_function(BenchmarkId::new("memcpy", &id), |b| {
            b.iter(|| {
                sent.copy_from_slice(black_box(&request));
                received.copy_from_slice(black_box(&answer));
                black_box((&mut sent, &mut received));
            });
        });
    }
    group.finish();
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("throughput");
    let data = payload(THROUGHPUT_PING);
    for n in THREADS {
        let authenticator = authenticator();
        let mut devices: Vec<_> = (0..n).map(|_| open(&authenticator)).collect();
        group.throughput(Throughput::Bytes((n * THROUGHPUT_PING) as u64));
        group.bench_function(BenchmarkId::new("threads", n), |b| {
            b.iter_custom(|iters| {
                // Threads are started and parked at the barrier before the clock starts;
                // the clock stops when the last one has done its `iters` PINGs.
                let start = Barrier::new(n + 1);
                std::thread::scope(|scope| {
                    let handles: Vec<_> = devices
                        .iter_mut()
                        .map(|device| {
                            let start = &start;
                            let data = &data;
                            scope.spawn(move || {
                                start.wait();
                                for _ in 0..iters {
                                    let echo = device
                                        .call(Command::PING, black_box(data))
                                        .unwrap_or_else(|e| panic!("{e}"));
                                    debug_assert_eq!(&echo, data);
                                }
                            })
                        })
                        .collect();
                    start.wait();
                    let started = Instant::now();
                    for handle in handles {
                        handle
                            .join()
                            .unwrap_or_else(|_| panic!("a PING thread panicked"));
                    }
                    started.elapsed()
                })
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // A call takes microseconds, not nanoseconds: fewer, longer samples are enough.
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = end_to_end, throughput
}
criterion_main!(benches);
