//! Framing benches: packetize and reassemble next to a `memcpy` of the same bytes and
//! the allocating reference framing of [`ctap_benches::alloc_ref`].
//!
//! Groups `packetize` and `reassemble`, each with `frame/<size>` (zero-copy
//! `ctaphid-frame`), `alloc_ref/<size>` (a `Vec` per report, a growing `Vec` per
//! message) and `memcpy/<size>` for every size of [`FRAME_SIZES`], plus `memcpy/64`
//! (one report, the baseline of tiny messages). Run: `cargo bench -p ctap-benches
//! --bench frame`, or `cargo xtask bench` for the table of ratios.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctap_benches::{
    ALL_REPORTS, CID, FRAME_SIZES, ONE_REPORT, alloc_reassemble_all, alloc_ref, payload, reports,
};
use ctap_types::Command;
use ctaphid_frame::{
    Feed, MAX_MESSAGE_LEN, MAX_REPORT_SIZE, Packetizer, Reassembler, ReassemblerConfig, ReportSize,
};

fn baseline_sizes() -> impl Iterator<Item = usize> {
    FRAME_SIZES.into_iter().chain([ONE_REPORT])
}

fn memcpy(c: &mut Criterion, group_name: &str) {
    let mut group = c.benchmark_group(group_name);
    for size in baseline_sizes() {
        let src = payload(size);
        let mut dst = vec![0u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("memcpy", size), &src, |b, src| {
            b.iter(|| {
                dst.copy_from_slice(black_box(src));
                black_box(&mut dst);
            });
        });
    }
    group.finish();
}

fn packetize(c: &mut Criterion) {
    memcpy(c, "packetize");
    let mut group = c.benchmark_group("packetize");
    let size = ReportSize::FULL_SPEED;
    for len in FRAME_SIZES {
        let payload = payload(len);
        let mut out = vec![0u8; ALL_REPORTS];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("frame", len), &payload, |b, payload| {
            b.iter(|| {
                let mut packetizer =
                    Packetizer::new(black_box(CID), Command::MSG, black_box(payload), size)
                        .unwrap_or_else(|e| panic!("{e}"));
                for report in out.chunks_exact_mut(size.get()) {
                    match packetizer.write_next(report) {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                black_box(&mut out);
            });
        });
        // The reports are dropped (freed) inside the loop, as a caller would.
        group.bench_with_input(
            BenchmarkId::new("alloc_ref", len),
            &payload,
            |b, payload| {
                b.iter(|| {
                    black_box(alloc_ref::packetize(
                        black_box(CID),
                        Command::MSG,
                        black_box(payload),
                        MAX_REPORT_SIZE,
                    ))
                });
            },
        );
    }
    group.finish();
}

fn reassemble(c: &mut Criterion) {
    memcpy(c, "reassemble");
    let mut group = c.benchmark_group("reassemble");
    let config = ReassemblerConfig::new(ReportSize::FULL_SPEED);
    let mut reassembler = Reassembler::new([0u8; MAX_MESSAGE_LEN], config);
    for len in FRAME_SIZES {
        let reports = reports(&payload(len));
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("frame", len), &reports, |b, reports| {
            // The loop is written out here rather than calling `reassemble_all`: the
            // out-of-crate call measured ~20% slower for the same code (inlining and
            // code layout), and this group measures the framing, not the call.
            b.iter(|| {
                for report in black_box(reports).chunks_exact(MAX_REPORT_SIZE) {
                    match reassembler.feed(report) {
                        Ok(Feed::NeedMore(_)) => {}
                        Ok(Feed::Complete(message)) => {
                            black_box(message.payload);
                        }
                        Ok(Feed::OtherChannel { cid, .. }) => panic!("other channel {cid}"),
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        });
        group.bench_with_input(
            BenchmarkId::new("alloc_ref", len),
            &reports,
            |b, reports| {
                b.iter(|| alloc_reassemble_all(black_box(reports)));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, packetize, reassemble);
criterion_main!(benches);
