//! Every public path of ctaphid-frame, each written out as a caller writes it, so the
//! binary has at least five call sites of `Packetizer::write_next` and of
//! `Reassembler::feed` (see the crate's `one-site` binary for exactly one). Run by
//! `cargo xtask icount` and `cargo xtask bench-paths`; `frame-paths list` names the
//! paths.

use std::hint::black_box;

use ctap_types::Command;
use ctaphid_frame::{Feed, Packetizer};
use frame_paths::{CID, Input, Path, memcpy};

const SIZES_64: &[usize] = &[0, 57, 1024, 7609];
const SIZES_62: &[usize] = &[55, 1024, 7351];
const SIZES_8: &[usize] = &[1, 385];

const PATHS: &[Path] = &[
    Path {
        name: "memcpy",
        report_size: 64,
        sizes: SIZES_64,
        run: memcpy,
    },
    Path {
        name: "packetize",
        report_size: 64,
        sizes: SIZES_64,
        run: packetize,
    },
    Path {
        name: "packetize-iter",
        report_size: 64,
        sizes: SIZES_64,
        run: packetize_iter,
    },
    Path {
        name: "packetize-iter-62",
        report_size: 62,
        sizes: SIZES_62,
        run: packetize_iter,
    },
    Path {
        name: "packetize-hidapi",
        report_size: 64,
        sizes: SIZES_64,
        run: packetize_hidapi,
    },
    Path {
        name: "packetize-62",
        report_size: 62,
        sizes: SIZES_62,
        run: packetize,
    },
    Path {
        name: "packetize-8",
        report_size: 8,
        sizes: SIZES_8,
        run: packetize,
    },
    Path {
        name: "reassemble",
        report_size: 64,
        sizes: SIZES_64,
        run: reassemble,
    },
    Path {
        name: "reassemble-host",
        report_size: 64,
        sizes: SIZES_64,
        run: reassemble_host,
    },
    Path {
        name: "reassemble-62",
        report_size: 62,
        sizes: SIZES_62,
        run: reassemble_62,
    },
    Path {
        name: "reassemble-8",
        report_size: 8,
        sizes: SIZES_8,
        run: reassemble_8,
    },
    Path {
        name: "round-trip-iter",
        report_size: 64,
        sizes: SIZES_64,
        run: round_trip_iter,
    },
    Path {
        name: "packetize-all",
        report_size: 64,
        sizes: SIZES_64,
        run: packetize_all,
    },
    Path {
        name: "packetize-all-62",
        report_size: 62,
        sizes: SIZES_62,
        run: packetize_all,
    },
    Path {
        name: "reassemble-all",
        report_size: 64,
        sizes: SIZES_64,
        run: reassemble_all,
    },
    Path {
        name: "reassemble-all-62",
        report_size: 62,
        sizes: SIZES_62,
        run: reassemble_all,
    },
    Path {
        name: "packetize-reference",
        report_size: 64,
        sizes: SIZES_64,
        run: packetize_reference,
    },
    Path {
        name: "reassemble-reference",
        report_size: 64,
        sizes: SIZES_64,
        run: reassemble_reference,
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

/// The `Packetizer` as an `Iterator` of `Report`s, each handed on as a slice (what a
/// host's `device.write(&report)` gets).
fn packetize_iter(input: &mut Input, n: u64) {
    let size = black_box(input.size);
    for _ in 0..n {
        let packetizer = Packetizer::new(
            black_box(CID),
            Command::MSG,
            black_box(&input.payload),
            size,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for report in packetizer {
            black_box(report.as_bytes());
        }
    }
}

/// `write_next` into one buffer after a report-id byte, each report handed on: the
/// hidapi example of the `Packetizer` docs.
fn packetize_hidapi(input: &mut Input, n: u64) {
    let size = black_box(input.size);
    let mut out = [0u8; 65];
    for _ in 0..n {
        let mut packetizer = Packetizer::new(
            black_box(CID),
            Command::MSG,
            black_box(&input.payload),
            size,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        loop {
            match packetizer.write_next(&mut out[1..]) {
                Ok(Some(len)) => {
                    black_box(&out[..=len]);
                }
                Ok(None) => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
}

/// `write_all`: every report into one buffer in one call.
fn packetize_all(input: &mut Input, n: u64) {
    let size = black_box(input.size);
    for _ in 0..n {
        let mut packetizer = Packetizer::new(
            black_box(CID),
            Command::MSG,
            black_box(&input.payload),
            size,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        match packetizer.write_all(&mut input.out) {
            Ok(written) => {
                black_box(&input.out[..written]);
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// `feed_reports`: every report of the message from one buffer.
fn reassemble_all(input: &mut Input, n: u64) {
    for _ in 0..n {
        let mut reports = &black_box(&input.reports)[..];
        while let Some(outcome) = input.device.feed_reports(&mut reports) {
            match outcome {
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

/// A host: only its own channel taken.
fn reassemble_host(input: &mut Input, n: u64) {
    let size = black_box(input.size).get();
    for _ in 0..n {
        // Report by report, as a transport hands them over (no division by a run-time
        // report size, which `chunks_exact` would cost per message).
        let mut rest = &black_box(&input.reports)[..];
        while let Some((report, tail)) = rest.split_at_checked(size) {
            rest = tail;
            match input.host.feed(report) {
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

/// [`reassemble`] of 62-byte reports: its own call site, as in a program that knows it.
fn reassemble_62(input: &mut Input, n: u64) {
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

/// [`reassemble`] of 8-byte reports.
fn reassemble_8(input: &mut Input, n: u64) {
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

/// The README's example: the packetizer's reports fed straight to a reassembler.
fn round_trip_iter(input: &mut Input, n: u64) {
    let size = black_box(input.size);
    for _ in 0..n {
        let packetizer = Packetizer::new(
            black_box(CID),
            Command::MSG,
            black_box(&input.payload),
            size,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for report in packetizer {
            match input.host.feed(black_box(&report)) {
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

/// The fixed-copy reference: what hand-written framing of 64-byte reports costs, with
/// no checks beyond what memory safety needs (no API, no errors, no other report
/// sizes). The floor the library's paths are compared with.
// SEQ is a byte, as on the wire.
#[allow(clippy::explicit_counter_loop)]
fn packetize_reference(input: &mut Input, n: u64) {
    for _ in 0..n {
        let payload = black_box(&input.payload[..]);
        let cid = black_box(CID).to_be_bytes();
        let mut reports = input.out.chunks_exact_mut(64);
        let Some(first) = reports.next() else { return };
        let len = u16::try_from(payload.len()).unwrap_or(0).to_be_bytes();
        first[..7].copy_from_slice(&[cid[0], cid[1], cid[2], cid[3], 0x83, len[0], len[1]]);
        let (head, mut rest) = payload.split_at(payload.len().min(57));
        first[7..7 + head.len()].copy_from_slice(head);
        first[7 + head.len()..].fill(0);
        let mut seq = 0u8;
        for report in reports {
            if rest.is_empty() {
                break;
            }
            report[..5].copy_from_slice(&[cid[0], cid[1], cid[2], cid[3], seq]);
            if let Some((chunk, tail)) = rest.split_first_chunk::<59>() {
                report[5..].copy_from_slice(chunk);
                rest = tail;
            } else {
                report[5..5 + rest.len()].copy_from_slice(rest);
                report[5 + rest.len()..].fill(0);
                rest = &[];
            }
            seq += 1;
        }
        black_box(&mut input.out);
    }
}

/// The fixed-copy reference of reassembly: the channel and SEQ of each continuation
/// checked, its data copied, the state in locals.
#[allow(clippy::explicit_counter_loop)]
fn reassemble_reference(input: &mut Input, n: u64) {
    let mut buffer = vec![0u8; 7609];
    for _ in 0..n {
        let mut reports = black_box(&input.reports).chunks_exact(64);
        let Some(first) = reports.next() else { return };
        let cid = &first[..4];
        let len = usize::from(u16::from_be_bytes([first[5], first[6]]));
        let head = len.min(57);
        buffer[..head].copy_from_slice(&first[7..7 + head]);
        let mut received = head;
        let mut seq = 0u8;
        for report in reports {
            if received >= len || &report[..4] != cid || report[4] != seq {
                panic!("not the reference's message");
            }
            let take = (len - received).min(59);
            buffer[received..received + take].copy_from_slice(&report[5..5 + take]);
            received += take;
            seq += 1;
        }
        black_box(&buffer[..len]);
    }
}
