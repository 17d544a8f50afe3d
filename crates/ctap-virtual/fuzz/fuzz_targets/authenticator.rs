//! The sans-IO authenticator fed arbitrary reports from several channels, with
//! simulated time advancing: it must never panic, its output queue and channel table
//! must stay within their bounds, and everything it sends must be a well-formed report.
//!
//! Input: byte 0 picks the configuration (report size, table and queue bounds, touch
//! policy); then operations, each an op byte and its arguments:
//!
//! | `op & 7` | operation                                                           |
//! |----------|---------------------------------------------------------------------|
//! | 0        | a raw report: length byte (mod 72), then its bytes; bit 3 writes an |
//! |          | allocated channel (chosen by bits 4-7) into its CID                 |
//! | 1        | time passes: next byte x 4 ms                                       |
//! | 2        | `handle_timeout(now)`                                               |
//! | 3        | the host reads: up to `op >> 3` reports                             |
//! | 4        | the user touches the key                                            |
//! | 5        | INIT on broadcast with the next 8 bytes as nonce                    |
//! | 6        | a whole message: channel (bits 3-7), command byte, length byte L:   |
//! |          | L < 0x80: L x 32 payload bytes cycled from the next 8 input bytes;  |
//! |          | L >= 0x80: ((L & 0x7F) << 8 | next byte) raw input bytes, so CTAP2 |
//! |          | requests (command 0x90 = CBOR, then a CTAP2 command byte and its    |
//! |          | CBOR parameters) reach makeCredential, getAssertion, clientPIN,     |
//! |          | credentialManagement, authenticatorConfig and U2F (0x83 = MSG)      |
//! | 7        | a new touch policy (next byte)                                      |
#![no_main]

use std::time::{Duration, Instant};

use ctap_types::{ChannelId, Command};
use ctap_virtual::{Authenticator, Config, TouchPolicy};
use ctaphid_frame::{Packet, Packetizer, ReportSize};
use libfuzzer_sys::fuzz_target;

fn policy(byte: u8) -> TouchPolicy {
    let after = Duration::from_millis(u64::from(byte >> 2) * 10);
    match byte & 3 {
        0 => TouchPolicy::Approve { after },
        1 => TouchPolicy::Deny { after },
        _ => TouchPolicy::Never,
    }
}

fuzz_target!(|data: &[u8]| {
    let [setup, rest @ ..] = data else {
        return;
    };
    let size = ReportSize::new(match setup & 3 {
        0 => 64,
        1 => 62,
        2 => 8,
        _ => 23,
    })
    .expect("8..=64");
    let max_channels = usize::from((setup >> 2) & 7);
    let config = Config {
        // Reproducible CTAP2 secrets, so a crash replays exactly.
        rng_seed: Some([0x5A; 32]),
        report_size: size,
        touch: policy(setup >> 5),
        max_channels,
        max_output_reports: usize::from(setup >> 5) * 3,
        user_presence_timeout: (setup & 0x80 != 0).then(|| Duration::from_millis(500)),
        ..Config::default()
    };
    let mut device = Authenticator::new(config);
    let capacity = device.output_capacity();
    let start = Instant::now();
    let mut now = start;
    let mut input = rest;
    let take = |n: usize, input: &mut &[u8]| -> Vec<u8> {
        let n = n.min(input.len());
        let (head, tail) = input.split_at(n);
        *input = tail;
        head.to_vec()
    };
    while let Some((&op, tail)) = input.split_first() {
        input = tail;
        match op & 7 {
            0 => {
                let len = take(1, &mut input)
                    .first()
                    .map_or(0, |&l| usize::from(l % 72));
                let mut report = take(len, &mut input);
                if op & 8 != 0 && report.len() >= 4 {
                    if let Some(cid) = device.channels().nth(usize::from(op >> 4)) {
                        report[..4].copy_from_slice(&cid.to_be_bytes());
                    }
                }
                device.handle_report(now, &report);
            }
            1 => {
                let step = take(1, &mut input).first().copied().unwrap_or(0);
                now += Duration::from_millis(u64::from(step) * 4);
            }
            2 => device.handle_timeout(now),
            3 => {
                for _ in 0..(op >> 3) {
                    let Some(report) = device.poll_report() else {
                        break;
                    };
                    // Every report sent is exactly one report long and parses.
                    assert_eq!(report.as_bytes().len(), size.get());
                    // (A packet on channel 0 is answered on channel 0: INVALID_CHANNEL.)
                    let _ = Packet::parse(report.as_bytes()).expect("a well-formed header");
                }
            }
            4 => {
                let _ = device.touch(now);
            }
            5 => {
                let nonce = take(8, &mut input);
                let packets = Packetizer::new(ChannelId::BROADCAST, Command::INIT, &nonce, size)
                    .expect("8 bytes fit");
                for report in packets {
                    device.handle_report(now, report.as_bytes());
                }
            }
            6 => {
                let cid = device
                    .channels()
                    .nth(usize::from(op >> 3))
                    .unwrap_or(ChannelId::new(u32::from(op >> 3)));
                let command = take(1, &mut input).first().copied().unwrap_or(1);
                let len_byte = take(1, &mut input).first().copied().unwrap_or(0);
                let payload: Vec<u8> = if len_byte & 0x80 == 0 {
                    let len = usize::from(len_byte) * 32;
                    let seed = take(8, &mut input);
                    (0..len)
                        .map(|i| seed.get(i % seed.len().max(1)).copied().unwrap_or(0))
                        .collect()
                } else {
                    let low = take(1, &mut input).first().copied().unwrap_or(0);
                    let len = usize::from(len_byte & 0x7F) << 8 | usize::from(low);
                    take(len, &mut input)
                };
                if let Ok(packets) =
                    Packetizer::new(cid, Command::from_init_byte(command), &payload, size)
                {
                    for report in packets {
                        device.handle_report(now, report.as_bytes());
                    }
                }
            }
            _ => {
                let byte = take(1, &mut input).first().copied().unwrap_or(0);
                device.set_touch_policy(policy(byte));
            }
        }
        // The bounds hold after every step, whatever the host did.
        assert!(
            device.queued_reports() <= capacity,
            "output queue over its bound"
        );
        assert!(
            device.channels().count() <= max_channels.max(2),
            "channel table over its bound"
        );
        if let Some(at) = device.poll_timeout() {
            // A timer in the past would be run by the next call; it must not be before
            // the start (time never goes backwards here).
            assert!(at >= start);
        }
    }
    // Draining the queue ends: it holds at most `capacity` reports.
    let mut drained = 0usize;
    while device.poll_report().is_some() {
        drained += 1;
        assert!(drained <= capacity);
    }
});
