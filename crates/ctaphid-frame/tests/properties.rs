//! Property tests of the framing invariants: round trip for every length and report
//! size, interleaved channels, arbitrary reports against a reference model (no panic,
//! no message that was not sent, errors keep the channel id).

#[path = "support/model.rs"]
mod model;

use ctap_types::{ChannelId, Command};
use ctaphid_frame::{
    Feed, FrameError, InitOnBusy, MAX_MESSAGE_LEN, Packetizer, Reassembler, ReassemblerConfig,
    ReportSize, max_message_len,
};
use model::{Model, Outcome};
use proptest::prelude::*;

/// Packetizes with `write_next` and checks every report's layout on the way.
fn packetize(cid: ChannelId, command: Command, payload: &[u8], size: ReportSize) -> Vec<Vec<u8>> {
    let mut packetizer = Packetizer::new(cid, command, payload, size).unwrap();
    let count = packetizer.report_count();
    assert_eq!(count, size.report_count(payload.len()));
    assert_eq!(packetizer.len(), count);
    let mut reports = Vec::with_capacity(count);
    let mut sent = 0;
    // One spare byte at each end: `write_next` must touch exactly `size` bytes.
    let mut out = vec![0xEE; size.get() + 1];
    while let Some(len) = packetizer.write_next(&mut out).unwrap() {
        assert_eq!(len, size.get());
        assert_eq!(out[size.get()], 0xEE, "wrote past the report");
        let report = out[..len].to_vec();
        assert_eq!(report[..4], cid.to_be_bytes());
        let (header, capacity) = if reports.is_empty() {
            assert_eq!(report[4], command.to_init_byte());
            assert_eq!(
                usize::from(u16::from_be_bytes([report[5], report[6]])),
                payload.len()
            );
            (7, size.init_capacity())
        } else {
            assert_eq!(usize::from(report[4]), reports.len() - 1, "SEQ");
            (5, size.cont_capacity())
        };
        let take = (payload.len() - sent).min(capacity);
        assert_eq!(report[header..header + take], payload[sent..sent + take]);
        assert!(
            report[header + take..].iter().all(|&b| b == 0),
            "padding not zero"
        );
        sent += take;
        reports.push(report);
        assert_eq!(packetizer.reports_left(), count - reports.len());
    }
    assert_eq!((reports.len(), sent), (count, payload.len()));
    assert_eq!(packetizer.write_next(&mut out), Ok(None));
    reports
}

/// Feeds the reports of one message; returns its payload.
fn reassemble<B: ctaphid_frame::MessageBuffer>(
    reassembler: &mut Reassembler<B>,
    reports: &[Vec<u8>],
    cid: ChannelId,
    command: Command,
) -> Vec<u8> {
    let (last, rest) = reports.split_last().unwrap();
    for (i, report) in rest.iter().enumerate() {
        match reassembler.feed(report) {
            Ok(Feed::NeedMore(pending)) => {
                assert_eq!((pending.cid, pending.command), (cid, command));
                assert_eq!(pending.started, i == 0);
                assert_eq!(
                    reassembler.pending().map(|p| p.received),
                    Some(pending.received)
                );
            }
            other => panic!("report {i}: expected NeedMore, got {other:?}"),
        }
    }
    let payload = match reassembler.feed(last) {
        Ok(Feed::Complete(message)) => {
            assert_eq!((message.cid, message.command), (cid, command));
            message.payload.to_vec()
        }
        other => panic!("last report: expected Complete, got {other:?}"),
    };
    assert_eq!(reassembler.pending(), None);
    payload
}

fn round_trip(size: ReportSize, cid: ChannelId, command: Command, payload: &[u8]) {
    let reports = packetize(cid, command, payload, size);
    let iterated: Vec<Vec<u8>> = Packetizer::new(cid, command, payload, size)
        .unwrap()
        .map(|report| report.to_vec())
        .collect();
    assert_eq!(iterated, reports, "iterator and write_next differ");
    let mut fixed = Reassembler::new([0u8; MAX_MESSAGE_LEN], ReassemblerConfig::new(size));
    assert_eq!(reassemble(&mut fixed, &reports, cid, command), payload);
    // Again on the same reassembler: it takes the next message.
    assert_eq!(reassemble(&mut fixed, &reports, cid, command), payload);
    let mut exact = vec![0u8; payload.len()];
    let config = ReassemblerConfig::new(size).with_channel(cid);
    let mut slice = Reassembler::new(&mut exact[..], config);
    assert_eq!(reassemble(&mut slice, &reports, cid, command), payload);
}

/// Every payload length of `size`-byte reports; under Miri (about 1000 times slower)
/// only the lengths at packet boundaries.
fn lengths(size: ReportSize) -> Vec<usize> {
    let max = size.max_message_len();
    if cfg!(miri) {
        let (init, cont) = (size.init_capacity(), size.cont_capacity());
        vec![
            0,
            1,
            init - 1,
            init,
            init + 1,
            init + cont,
            init + cont + 1,
            max - 1,
            max,
        ]
    } else {
        (0..=max).collect()
    }
}

#[test]
fn round_trip_of_every_length_for_64_62_and_8_byte_reports() {
    for size in [64, 62, 8] {
        let size = ReportSize::new(size).unwrap();
        let payload: Vec<u8> = (0..=250u8).cycle().take(size.max_message_len()).collect();
        for len in lengths(size) {
            round_trip(
                size,
                ChannelId::new(0x0102_0304),
                Command::CBOR,
                &payload[..len],
            );
        }
    }
}

/// An iterated report is its bytes: two reports with the same bytes are equal and
/// print the same, whatever the payload holds past them (a report under 64 bytes may
/// carry payload bytes past its end in its inline buffer).
#[test]
fn iterated_reports_are_equal_by_their_bytes() {
    let size = ReportSize::new(62).unwrap();
    let cid = ChannelId::new(0x0102_0304);
    let first: Vec<u8> = (0..200u8).collect();
    // The init packet holds 55 payload bytes: the 56th and 57th differ.
    let mut second = first.clone();
    second[55] ^= 0xFF;
    second[56] ^= 0xFF;
    let a = Packetizer::new(cid, Command::CBOR, &first, size)
        .unwrap()
        .next()
        .unwrap();
    let b = Packetizer::new(cid, Command::CBOR, &second, size)
        .unwrap()
        .next()
        .unwrap();
    assert_eq!(a.len(), 62);
    assert_eq!(a, b);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    let c = Packetizer::new(cid, Command::CBOR, &second[1..], size)
        .unwrap()
        .next()
        .unwrap();
    assert_ne!(a, c, "different bytes within the report");
}

#[test]
fn a_payload_over_the_maximum_is_refused_for_every_report_size() {
    let sizes: Vec<usize> = if cfg!(miri) {
        vec![8, 62, 64]
    } else {
        (8..=64).collect()
    };
    for size in sizes {
        let size = ReportSize::new(size).unwrap();
        let max = size.max_message_len();
        let payload = vec![0u8; max + 1];
        let cid = ChannelId::new(1);
        assert!(Packetizer::new(cid, Command::MSG, &payload[..max], size).is_ok());
        assert_eq!(
            Packetizer::new(cid, Command::MSG, &payload, size).err(),
            Some(FrameError::PayloadTooLong { len: max + 1, max })
        );
        let report = packetize(cid, Command::MSG, &payload[..max], size);
        assert_eq!(
            report.last().map(|r| r[4]),
            Some(0x7F),
            "the last SEQ is 0x7F"
        );
    }
}

/// `cases` natively; under Miri (about 1000 times slower) 4 cases and no failure file:
/// its isolation forbids file access and hides `PROPTEST_CASES` from the program.
fn config_with_cases(cases: u32) -> ProptestConfig {
    if cfg!(miri) {
        ProptestConfig {
            cases: 4,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    } else {
        ProptestConfig::with_cases(cases)
    }
}

fn message() -> impl Strategy<Value = (ReportSize, ChannelId, Command, Vec<u8>)> {
    message_up_to(MIRI_OR_MAX)
}

/// The longest message the property tests make: the maximum natively, 300 bytes under
/// Miri (about 1000 times slower, where making a 7609-byte payload alone takes seconds;
/// `round_trip_of_every_length_for_64_62_and_8_byte_reports` covers the long ones).
const MIRI_OR_MAX: usize = if cfg!(miri) { 300 } else { MAX_MESSAGE_LEN };

/// A message of at most `longest` bytes (and its report size's maximum).
fn message_up_to(
    longest: usize,
) -> impl Strategy<Value = (ReportSize, ChannelId, Command, Vec<u8>)> {
    (8usize..=64)
        .prop_flat_map(move |size| {
            (
                Just(ReportSize::new(size).unwrap()),
                any::<u32>(),
                0u8..0x80,
                prop::collection::vec(any::<u8>(), 0..=max_message_len(size).min(longest)),
            )
        })
        .prop_map(|(size, cid, command, payload)| {
            (
                size,
                ChannelId::new(cid),
                Command::from_init_byte(command),
                payload,
            )
        })
}

/// A report for the model test: mostly well-formed packets on a few channels, so that
/// messages get going and break in every way, plus raw bytes.
fn report(size: usize) -> impl Strategy<Value = Vec<u8>> {
    let cid = prop_oneof![Just(1u32), Just(2), Just(0xFFFF_FFFF), any::<u32>()];
    let length = prop_oneof![8 => Just(size), 1 => 0usize..=size + 8];
    let init = (
        cid.clone(),
        0u8..0x80,
        0u16..400,
        any::<u16>(),
        any::<bool>(),
    )
        .prop_map(|(cid, command, small, any_len, huge)| {
            let len = if huge { any_len } else { small };
            let mut header = cid.to_be_bytes().to_vec();
            header.push(command | 0x80);
            header.extend_from_slice(&len.to_be_bytes());
            header
        });
    let cont = (cid, prop_oneof![3 => 0u8..4, 1 => 0u8..0x80]).prop_map(|(cid, seq)| {
        let mut header = cid.to_be_bytes().to_vec();
        header.push(seq);
        header
    });
    let raw = prop::collection::vec(any::<u8>(), 0..=size + 8);
    let structured = (prop_oneof![init, cont], length, any::<u8>()).prop_map(
        move |(mut report, length, fill)| {
            report.resize(length.max(report.len()), fill);
            report.truncate(length);
            report
        },
    );
    prop_oneof![6 => structured, 1 => raw]
}

fn config() -> impl Strategy<Value = (ReassemblerConfig, usize)> {
    (
        any::<u8>(),
        prop_oneof![Just(None), Just(Some(1u32)), Just(Some(2))],
        any::<bool>(),
        prop_oneof![Just(MAX_MESSAGE_LEN), 0usize..300],
    )
        .prop_map(|(size, channel, reject, buffer_len)| {
            let mut config = ReassemblerConfig::new(model::report_size(size));
            config.channel = channel.map(ChannelId::new);
            config.init_on_busy = if reject {
                InitOnBusy::Reject
            } else {
                InitOnBusy::Restart
            };
            (config, buffer_len)
        })
}

/// Messages (cid, command, payload) on distinct channels, and a schedule of which
/// channel sends its next report.
type Interleaving = (Vec<(u32, Command, Vec<u8>)>, Vec<usize>);

fn interleaving() -> impl Strategy<Value = Interleaving> {
    prop::collection::vec(
        (0u8..0x80, prop::collection::vec(any::<u8>(), 0..400)),
        1..=4,
    )
    .prop_flat_map(|messages| {
        let n = messages.len();
        (Just(messages), prop::collection::vec(0..n, 0..64 * n))
    })
    .prop_map(|(messages, schedule)| {
        let messages = messages
            .into_iter()
            .enumerate()
            .map(|(i, (command, payload))| {
                (
                    0x1000 + u32::try_from(i).unwrap(),
                    Command::from_init_byte(command),
                    payload,
                )
            })
            .collect();
        (messages, schedule)
    })
}

proptest! {
    #![proptest_config(config_with_cases(256))]

    #[test]
    fn packetize_then_reassemble_is_the_identity((size, cid, command, payload) in message()) {
        round_trip(size, cid, command, &payload);
    }

    #[test]
    fn arbitrary_reports_do_what_the_model_says(
        (config, buffer_len) in config(),
        reports in prop::collection::vec(report(64), 0..80),
    ) {
        let size = config.report_size.get();
        let mut buffer = vec![0u8; buffer_len];
        let mut reassembler = Reassembler::new(&mut buffer[..], config);
        let mut model = Model::new(config, buffer_len);
        for report in &reports {
            // Reports were made for 64 bytes; cut them to this size where they were full.
            let report = if report.len() == 64 { &report[..size] } else { &report[..] };
            let expected = model.feed(report);
            let got = Outcome::of(reassembler.feed(report));
            prop_assert_eq!(&got, &expected, "report {:02x?}", report);
            if let Outcome::Error(e) = got {
                prop_assert_eq!(e.cid().is_some(), report.len() >= 4, "{:?} lost the cid", e);
            }
            prop_assert_eq!(reassembler.pending(), model.pending());
        }
    }

    #[test]
    fn interleaved_channels_are_sorted_out(
        (messages, schedule) in interleaving(),
        reject in any::<bool>(),
    ) {
        let size = ReportSize::FULL_SPEED;
        let queues: Vec<Vec<Vec<u8>>> = messages
            .iter()
            .map(|(cid, command, payload)| packetize(ChannelId::new(*cid), *command, payload, size))
            .collect();
        // Reports in the order of the schedule; what it leaves out comes at the end.
        let mut next = vec![0; queues.len()];
        let mut wire = Vec::new();
        for &i in &schedule {
            if let Some(report) = queues[i].get(next[i]) {
                wire.push((i, report.clone()));
                next[i] += 1;
            }
        }
        for (i, queue) in queues.iter().enumerate() {
            wire.extend(queue[next[i]..].iter().map(|report| (i, report.clone())));
        }
        let policy = if reject { InitOnBusy::Reject } else { InitOnBusy::Restart };

        // A host-style reassembler per channel, each fed every report.
        for (i, (cid, command, payload)) in messages.iter().enumerate() {
            let config = ReassemblerConfig::new(size)
                .with_channel(ChannelId::new(*cid))
                .with_init_on_busy(policy);
            let mut reassembler = Reassembler::new([0u8; MAX_MESSAGE_LEN], config);
            let mut completed = 0;
            for (from, report) in &wire {
                match reassembler.feed(report) {
                    Ok(Feed::OtherChannel { cid: other, .. }) => {
                        prop_assert_ne!(*from, i);
                        prop_assert_eq!(other.to_u32(), messages[*from].0);
                    }
                    Ok(Feed::NeedMore(pending)) => prop_assert_eq!(*from, i, "{:?}", pending),
                    Ok(Feed::Complete(message)) => {
                        prop_assert_eq!(*from, i);
                        prop_assert_eq!(message.command, *command);
                        prop_assert_eq!(message.payload, &payload[..]);
                        completed += 1;
                    }
                    Err(e) => prop_assert!(false, "channel {}: {}", i, e),
                }
            }
            prop_assert_eq!(completed, 1);
        }

        // A device-style reassembler without a filter: it takes the first channel's
        // message, answers OtherChannel to the rest while busy, and every message it
        // completes is one that was sent (the model says exactly which).
        let config = ReassemblerConfig::new(size).with_init_on_busy(policy);
        let mut device = Reassembler::new([0u8; MAX_MESSAGE_LEN], config);
        let mut model = Model::new(config, MAX_MESSAGE_LEN);
        let first = wire.first().map(|(i, _)| *i);
        let mut completed = Vec::new();
        for (from, report) in &wire {
            let got = Outcome::of(device.feed(report));
            prop_assert_eq!(&got, &model.feed(report));
            if let Outcome::Complete { cid, command, payload } = got {
                prop_assert_eq!(cid.to_u32(), messages[*from].0);
                prop_assert_eq!((command, &payload), (messages[*from].1, &messages[*from].2));
                completed.push(*from);
            }
        }
        prop_assert_eq!(completed.first().copied(), first);
    }

    #[test]
    fn after_any_error_the_next_message_is_taken(
        (config, _) in config(),
        noise in prop::collection::vec(report(64), 0..8),
        payload in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let config = ReassemblerConfig { channel: None, ..config };
        let size = config.report_size;
        let mut reassembler = Reassembler::new([0u8; MAX_MESSAGE_LEN], config);
        for report in &noise {
            let _ = reassembler.feed(report);
        }
        // The caller drops whatever was pending (its time-out), then sends a message.
        reassembler.abort();
        let cid = ChannelId::new(7);
        let reports = packetize(cid, Command::PING, &payload, size);
        prop_assert_eq!(reassemble(&mut reassembler, &reports, cid, Command::PING), payload);
    }
}

#[test]
fn errors_map_to_ctaphid_codes_and_keep_the_channel() {
    use ctap_types::HidErrorCode;
    let size = ReportSize::FULL_SPEED;
    let cid = ChannelId::new(0x0102_0304);
    let mut reassembler = Reassembler::new([0u8; 100], ReassemblerConfig::new(size));
    let mut report = [0u8; 64];
    report[..4].copy_from_slice(&cid.to_be_bytes());

    // Continuation without an init packet.
    report[4] = 0;
    let e = reassembler.feed(&report).unwrap_err();
    assert_eq!(e, FrameError::UnexpectedContinuation { cid, seq: 0 });
    assert_eq!(
        (e.cid(), e.hid_error_code()),
        (Some(cid), HidErrorCode::INVALID_SEQ)
    );

    // Declared length over the buffer.
    report[4..7].copy_from_slice(&[0x83, 0, 101]);
    let e = reassembler.feed(&report).unwrap_err();
    assert_eq!(
        e,
        FrameError::LengthTooLarge {
            cid,
            declared: 101,
            max: 100
        }
    );
    assert_eq!(e.hid_error_code(), HidErrorCode::INVALID_LEN);
    assert!(
        e.to_string().contains("101") && e.to_string().contains("100"),
        "{e}"
    );

    // Wrong SEQ.
    report[4..7].copy_from_slice(&[0x83, 0, 100]);
    assert!(matches!(reassembler.feed(&report), Ok(Feed::NeedMore(_))));
    report[4] = 1;
    let e = reassembler.feed(&report).unwrap_err();
    assert_eq!(
        e,
        FrameError::SequenceMismatch {
            cid,
            expected: 0,
            got: 1
        }
    );
    assert_eq!(e.hid_error_code(), HidErrorCode::INVALID_SEQ);
    assert_eq!(reassembler.pending(), None, "the broken message is dropped");

    // Short report.
    let e = reassembler.feed(&report[..63]).unwrap_err();
    assert_eq!(
        e,
        FrameError::ShortReport {
            cid: Some(cid),
            expected: 64,
            got: 63
        }
    );
    assert_eq!(e.hid_error_code(), HidErrorCode::INVALID_LEN);
    assert_eq!(
        reassembler.feed(&report[..3]).unwrap_err(),
        FrameError::ShortReport {
            cid: None,
            expected: 64,
            got: 3
        }
    );
}

#[test]
fn init_on_a_busy_channel_restarts_or_is_rejected_as_configured() {
    let size = ReportSize::FULL_SPEED;
    let cid = ChannelId::new(9);
    let first = packetize(cid, Command::MSG, &[1; 100], size);
    let second = packetize(cid, Command::CBOR, &[2; 10], size);
    let restart = ReassemblerConfig::new(size);
    let mut reassembler = Reassembler::new([0u8; 200], restart);
    assert!(matches!(reassembler.feed(&first[0]), Ok(Feed::NeedMore(_))));
    match reassembler.feed(&second[0]) {
        Ok(Feed::Complete(message)) => assert_eq!(message.payload, &[2; 10]),
        other => panic!("expected the new message, got {other:?}"),
    }

    let reject = restart.with_init_on_busy(InitOnBusy::Reject);
    let mut reassembler = Reassembler::new([0u8; 200], reject);
    assert!(matches!(reassembler.feed(&first[0]), Ok(Feed::NeedMore(_))));
    let e = reassembler.feed(&second[0]).unwrap_err();
    assert_eq!(
        e,
        FrameError::UnexpectedInit {
            cid,
            command: Command::CBOR
        }
    );
    assert_eq!(e.hid_error_code(), ctap_types::HidErrorCode::INVALID_SEQ);
    assert_eq!(reassembler.pending(), None);
    // An INIT command resynchronises the channel even under Reject (CTAP 2.1 §11.2.9.1.3).
    assert!(matches!(reassembler.feed(&first[0]), Ok(Feed::NeedMore(_))));
    let init = packetize(cid, Command::INIT, &[3; 8], size);
    assert!(matches!(reassembler.feed(&init[0]), Ok(Feed::Complete(_))));
}

#[test]
fn a_device_answers_other_channels_while_busy_and_set_channel_drops_a_foreign_message() {
    let size = ReportSize::FULL_SPEED;
    let (a, b) = (ChannelId::new(1), ChannelId::new(2));
    let long = packetize(a, Command::MSG, &[1; 100], size);
    let other = packetize(b, Command::PING, &[2; 1], size);
    let mut device = Reassembler::new([0u8; 200], ReassemblerConfig::new(size));
    assert!(matches!(device.feed(&long[0]), Ok(Feed::NeedMore(_))));
    assert_eq!(
        device.feed(&other[0]).unwrap(),
        Feed::OtherChannel {
            cid: b,
            command: Some(Command::PING)
        }
    );
    assert_eq!(
        device.pending().map(|p| p.cid),
        Some(a),
        "the busy message is kept"
    );
    device.set_channel(Some(b));
    assert_eq!(device.pending(), None);
    assert!(matches!(device.feed(&other[0]), Ok(Feed::Complete(_))));
    assert_eq!(device.abort(), None);
}

#[cfg(feature = "bytes")]
proptest! {
    #![proptest_config(config_with_cases(64))]

    #[test]
    fn feed_bytes_agrees_with_feed((size, cid, command, payload) in message()) {
        let reports = packetize(cid, command, &payload, size);
        let mut owned = Reassembler::with_bytes(ReassemblerConfig::new(size));
        let mut kept = Vec::new();
        for _ in 0..2 {
            for (i, report) in reports.iter().enumerate() {
                match owned.feed_bytes(report).unwrap() {
                    ctaphid_frame::FeedBytes::NeedMore(_) => prop_assert!(i + 1 < reports.len()),
                    ctaphid_frame::FeedBytes::Complete(message) => {
                        prop_assert_eq!(i + 1, reports.len());
                        prop_assert_eq!((message.cid, message.command), (cid, command));
                        prop_assert_eq!(&message.payload[..], &payload[..]);
                        // Held across the next message: it must not be overwritten.
                        kept.push(message.payload);
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            }
        }
        for message in kept {
            prop_assert_eq!(&message[..], &payload[..]);
        }
    }
}

proptest! {
    #![proptest_config(config_with_cases(128))]

    /// `feed_reports` over the reports back to back gives the outcomes of `feed` on each,
    /// less the `NeedMore` of continuations (the only ones it skips), and leaves the
    /// same state.
    #[test]
    fn feed_reports_agrees_with_feed(
        (config, buffer_len) in config(),
        reports in prop::collection::vec(report(64), 0..if cfg!(miri) { 8 } else { 60 }),
        messages in prop::collection::vec(message(), 0..3),
        tail in 0usize..8,
    ) {
        let size = config.report_size.get();
        // Whole reports of this size (the batch has no other boundaries): the arbitrary
        // ones cut or padded, and real messages at this size between them.
        let mut wire: Vec<u8> = Vec::new();
        for (i, report) in reports.iter().enumerate() {
            let mut report = report.clone();
            report.resize(size, 0);
            wire.extend_from_slice(&report);
            if let Some((_, cid, command, payload)) = messages.get(i / 7).filter(|_| i % 7 == 0) {
                let payload = &payload[..payload.len().min(config.report_size.max_message_len())];
                let cid = config.channel.unwrap_or(*cid);
                for report in packetize(cid, *command, payload, config.report_size) {
                    wire.extend_from_slice(&report);
                }
            }
        }
        // A short tail is one short report.
        wire.extend(std::iter::repeat_n(0x42, tail.min(size - 1)));

        let (mut one_buffer, mut many_buffer) = (vec![0u8; buffer_len], vec![0u8; buffer_len]);
        let mut one = Reassembler::new(&mut one_buffer[..], config);
        let mut expected = Vec::new();
        let mut fed = 0;
        while fed < wire.len() {
            let end = (fed + size).min(wire.len());
            let outcome = Outcome::of(one.feed(&wire[fed..end]));
            fed = end;
            if !matches!(outcome, Outcome::NeedMore(pending) if !pending.started) {
                expected.push((fed, outcome));
            }
        }
        let mut many = Reassembler::new(&mut many_buffer[..], config);
        let mut got = Vec::new();
        let mut rest = &wire[..];
        while let Some(outcome) = many.feed_reports(&mut rest) {
            got.push((wire.len() - rest.len(), Outcome::of(outcome)));
        }
        prop_assert!(rest.is_empty());
        prop_assert_eq!(got, expected);
        prop_assert_eq!(many.pending(), one.pending());
    }

    /// `write_all` into buffers of any size writes what `write_next` writes.
    #[test]
    fn write_all_agrees_with_write_next(
        (size, cid, command, payload) in message(),
        room in prop::collection::vec(0usize..20, 1..8),
    ) {
        let expected: Vec<u8> = packetize(cid, command, &payload, size).concat();
        let mut packetizer = Packetizer::new(cid, command, &payload, size).unwrap();
        let mut got = Vec::new();
        // Room for one report among the sizes, so that it always gets through.
        for reports in room.iter().chain(&[1]).cycle().take(2000) {
            let mut out = vec![0xEE; reports * size.get() + reports % 3];
            match packetizer.write_all(&mut out) {
                Ok(n) => {
                    prop_assert_eq!(n % size.get(), 0);
                    prop_assert!(n <= out.len());
                    prop_assert!(out[n..].iter().all(|&b| b == 0xEE), "nothing past what was written");
                    got.extend_from_slice(&out[..n]);
                }
                Err(e) => {
                    prop_assert!(out.len() < size.get() && packetizer.reports_left() > 0, "{}", e);
                }
            }
            if packetizer.reports_left() == 0 {
                break;
            }
        }
        prop_assert_eq!(packetizer.reports_left(), 0);
        prop_assert_eq!(got, expected);
        prop_assert_eq!(packetizer.write_all(&mut [0u8; 64]), Ok(0));
    }

    /// Any mix of `next` (the iterator), `write_next` and `write_all` on one packetizer
    /// writes what `write_next` alone writes: they share its state, whichever path
    /// (a full packet built as a value, the last one through `write_next`) wrote the
    /// report before.
    #[test]
    fn the_iterator_write_next_and_write_all_mix(
        (size, cid, command, payload) in message(),
        steps in prop::collection::vec(0u8..3, 1..300),
    ) {
        let expected: Vec<u8> = packetize(cid, command, &payload, size).concat();
        let mut packetizer = Packetizer::new(cid, command, &payload, size).unwrap();
        let mut got = Vec::new();
        for step in steps.iter().cycle().take(400) {
            if packetizer.reports_left() == 0 {
                break;
            }
            let before = packetizer.reports_left();
            match step {
                0 => got.extend_from_slice(&packetizer.next().unwrap()),
                1 => {
                    let mut out = [0u8; 64];
                    let n = packetizer.write_next(&mut out).unwrap().unwrap();
                    got.extend_from_slice(&out[..n]);
                }
                _ => {
                    let mut out = vec![0u8; 2 * size.get()];
                    let n = packetizer.write_all(&mut out).unwrap();
                    got.extend_from_slice(&out[..n]);
                }
            }
            prop_assert!(packetizer.reports_left() < before, "every step writes a report");
        }
        prop_assert_eq!(packetizer.reports_left(), 0);
        prop_assert!(packetizer.next().is_none());
        prop_assert_eq!(got, expected);
    }
}
