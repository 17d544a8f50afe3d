//! `frame-paths` with exactly one call site of `Packetizer::write_next` and one of
//! `Reassembler::feed` in the whole program: the figures of `packetize` and
//! `reassemble` must be the same as in the many-call-site binary.

use std::hint::black_box;

use ctap_types::Command;
use ctaphid_frame::{Feed, Packetizer};
use frame_paths::{CID, Input, Path};

const SIZES_64: &[usize] = &[0, 57, 1024, 7609];

const PATHS: &[Path] = &[
    Path {
        name: "packetize",
        report_size: 64,
        sizes: SIZES_64,
        run: packetize,
    },
    Path {
        name: "reassemble",
        report_size: 64,
        sizes: SIZES_64,
        run: reassemble,
    },
];

fn main() {
    frame_paths::main(PATHS);
}

/// `write_next` into consecutive report-sized chunks of one buffer.
fn packetize(input: &mut Input, n: u64) {
    let size = black_box(input.size);
    for _ in 0..n {
        let mut packetizer = Packetizer::new(
            black_box(CID),
            Command::MSG,
            black_box(&input.payload),
            size,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut rest = &mut input.out[..];
        while let Some((report, tail)) = std::mem::take(&mut rest).split_at_mut_checked(size.get())
        {
            rest = tail;
            match packetizer.write_next(report) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("{e}"),
            }
        }
        black_box(&mut input.out);
    }
}

/// A device: every report fed as read.
fn reassemble(input: &mut Input, n: u64) {
    let size = black_box(input.size).get();
    for _ in 0..n {
        // Report by report, as a transport hands them over (no division by a run-time
        // report size, which `chunks_exact` would cost per message).
        let mut rest = &black_box(&input.reports)[..];
        while let Some((report, tail)) = rest.split_at_checked(size) {
            rest = tail;
            match input.device.feed(report) {
                Ok(Feed::NeedMore(_)) => {}
                Ok(Feed::Complete(message)) => {
                    black_box(message.payload);
                }
                Ok(Feed::OtherChannel { cid, .. }) => panic!("other channel {cid}"),
                Err(e) => panic!("{e}"),
            }
        }
    }
}
