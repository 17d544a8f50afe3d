//! Zero allocations per message on the packetize and reassemble paths, counted by a
//! global allocator that wraps `System` (`stats_alloc`). Allocation counts are deterministic, so this is
//! a test, not a benchmark. Its own test binary: the counter sees only this file.

use std::alloc::System;

use ctap_types::{ChannelId, Command};
use ctaphid_frame::{
    Feed, MAX_MESSAGE_LEN, Packetizer, Reassembler, ReassemblerConfig, ReportSize,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

// `System`, wrapped to count (stats_alloc keeps the `unsafe` impl out of this crate,
// which forbids it).
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations (and reallocations) made by `f`. The test binary runs this file's one
/// test, so no other thread allocates meanwhile.
fn allocations(f: impl FnOnce()) -> usize {
    let region = Region::new(GLOBAL);
    f();
    let change = region.change();
    change.allocations + change.reallocations
}

#[test]
fn packetize_and_reassemble_allocate_nothing() {
    let cid = ChannelId::new(0x0102_0304);
    let payload = [0x5Au8; MAX_MESSAGE_LEN];
    let mut wire = [0u8; 129 * 64];
    let mut reassembler = Reassembler::new(
        [0u8; MAX_MESSAGE_LEN],
        ReassemblerConfig::new(ReportSize::FULL_SPEED),
    );
    // Sanity: the counter counts. At least one allocation, not exactly one: Miri's
    // runtime (nightly 2026-05-19) counts two for this `vec!`, a native build one; what
    // the test needs is only that an allocation is seen, on any toolchain.
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 10]))) >= 1);

    for size in [64, 62, 8] {
        let size = ReportSize::new(size).unwrap();
        reassembler = Reassembler::new(reassembler.into_buffer(), ReassemblerConfig::new(size));
        for len in [
            0,
            1,
            size.init_capacity(),
            size.init_capacity() + 1,
            size.max_message_len(),
        ] {
            let payload = &payload[..len];
            let mut used = 0;
            let packetized = allocations(|| {
                let mut packetizer = Packetizer::new(cid, Command::CBOR, payload, size).unwrap();
                for report in wire.chunks_exact_mut(size.get()) {
                    match packetizer.write_next(report) {
                        Ok(Some(n)) => used += n,
                        _ => break,
                    }
                }
                // The iterator path too.
                for report in Packetizer::new(cid, Command::CBOR, payload, size).unwrap() {
                    std::hint::black_box(report);
                }
            });
            assert_eq!(
                packetized, 0,
                "packetizing {len} bytes in {size} reports allocated"
            );
            let mut complete = false;
            let reassembled = allocations(|| {
                for report in wire[..used].chunks_exact(size.get()) {
                    if let Ok(Feed::Complete(message)) = reassembler.feed(report) {
                        complete = message.payload == payload;
                    }
                }
                // And an error path.
                let _ = reassembler.feed(&wire[..3]);
            });
            assert_eq!(
                reassembled, 0,
                "reassembling {len} bytes in {size} reports allocated"
            );
            assert!(complete, "{len} bytes in {size} reports did not come back");
        }
    }
}
