//! Golden vectors: python-fido2's bytes (PROTOCOL.md section 7).

use ctap_types::{ChannelId, Command};
use ctaphid_frame::{Feed, Packetizer, Reassembler, ReassemblerConfig, ReportSize};

const CID: ChannelId = ChannelId::new(0x0102_0304);

fn packetize(command: Command, payload: &[u8]) -> Vec<Vec<u8>> {
    Packetizer::new(CID, command, payload, ReportSize::FULL_SPEED)
        .unwrap()
        .map(|report| report.to_vec())
        .collect()
}

fn reassemble(reports: &[Vec<u8>]) -> (Command, Vec<u8>) {
    let mut reassembler =
        Reassembler::new([0u8; 7609], ReassemblerConfig::new(ReportSize::FULL_SPEED));
    let (last, rest) = reports.split_last().unwrap();
    for report in rest {
        assert!(matches!(
            reassembler.feed(report).unwrap(),
            Feed::NeedMore(_)
        ));
    }
    match reassembler.feed(last).unwrap() {
        Feed::Complete(message) => {
            assert_eq!(message.cid, CID);
            (message.command, message.payload.to_vec())
        }
        other => panic!("last report did not complete the message: {other:?}"),
    }
}

#[test]
fn get_info_is_one_packet() {
    let reports = packetize(Command::CBOR, &[0x04]);
    let mut expected = vec![0x01, 0x02, 0x03, 0x04, 0x90, 0x00, 0x01, 0x04];
    expected.resize(64, 0);
    assert_eq!(reports, vec![expected]);
    assert_eq!(reassemble(&reports), (Command::CBOR, vec![0x04]));
}

#[test]
fn fifty_eight_bytes_take_two_packets() {
    let payload: Vec<u8> = (1..=58).collect();
    let reports = packetize(Command::PING, &payload);
    assert_eq!(reports.len(), 2);
    assert_eq!(&reports[0][..7], &[0x01, 0x02, 0x03, 0x04, 0x81, 0x00, 58]);
    assert_eq!(&reports[0][7..], &payload[..57]);
    let mut second = vec![0x01, 0x02, 0x03, 0x04, 0x00, 58];
    second.resize(64, 0);
    assert_eq!(reports[1], second);
    assert_eq!(reassemble(&reports), (Command::PING, payload));
}

#[test]
fn the_largest_message_takes_129_packets_ending_with_seq_7f() {
    let payload: Vec<u8> = (0..=250u8).cycle().take(7609).collect();
    let reports = packetize(Command::MSG, &payload);
    assert_eq!(reports.len(), 129);
    for (seq, report) in reports[1..].iter().enumerate() {
        assert_eq!(usize::from(report[4]), seq);
    }
    assert_eq!(reports[128][4], 0x7F);
    assert_eq!(reassemble(&reports), (Command::MSG, payload));
}

fn packetize_in(size: usize, command: Command, payload: &[u8]) -> Vec<Vec<u8>> {
    Packetizer::new(CID, command, payload, ReportSize::new(size).unwrap())
        .unwrap()
        .map(|report| report.to_vec())
        .collect()
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

#[test]
fn eight_byte_reports_carry_one_then_three_bytes() {
    assert_eq!(
        packetize_in(8, Command::CBOR, &[0x04]),
        vec![hex("01020304 90 0001 04")]
    );
    let reports = packetize_in(8, Command::PING, &[1, 2, 3, 4, 5]);
    assert_eq!(
        reports,
        vec![
            hex("01020304 81 0005 01"),
            hex("01020304 00 020304"),
            hex("01020304 01 050000"),
        ]
    );
    let mut reassembler = Reassembler::new(
        [0u8; 385],
        ReassemblerConfig::new(ReportSize::new(8).unwrap()),
    );
    let mut last = None;
    for report in &reports {
        last = Some(reassembler.feed(report).unwrap());
    }
    match last {
        Some(Feed::Complete(message)) => assert_eq!(message.payload, &[1, 2, 3, 4, 5]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sixty_two_byte_reports_carry_55_then_57_bytes() {
    let payload: Vec<u8> = (1..=58).collect();
    let reports = packetize_in(62, Command::PING, &payload);
    let mut first = hex("01020304 81 003a");
    first.extend(1..=55);
    let mut second = hex("01020304 00 38393a");
    second.resize(62, 0);
    assert_eq!(reports, vec![first, second]);
    assert_eq!(ctaphid_frame::max_message_len(62), 7351);
}

#[test]
fn errors_become_the_error_packet_a_device_sends() {
    let size = ReportSize::FULL_SPEED;
    let mut device = Reassembler::new([0u8; 7609], ReassemblerConfig::new(size));
    let payload: Vec<u8> = (1..=58).collect();
    let reports = packetize(Command::PING, &payload);
    assert!(matches!(device.feed(&reports[0]), Ok(Feed::NeedMore(_))));
    // The continuation arrives with SEQ 1 instead of 0.
    let mut wrong = reports[1].clone();
    wrong[4] = 1;
    let error = device.feed(&wrong).unwrap_err();
    assert_eq!(
        error.to_string(),
        "wrong SEQ on channel 01020304: expected 0, got 1"
    );
    let answer: Vec<Vec<u8>> = Packetizer::new(
        error.cid().unwrap(),
        Command::ERROR,
        &[error.hid_error_code().to_u8()],
        size,
    )
    .unwrap()
    .map(|report| report.to_vec())
    .collect();
    let mut expected = hex("01020304 bf 0001 04");
    expected.resize(64, 0);
    assert_eq!(answer, vec![expected]);

    // BCNT 7610 > 7609: INVALID_LEN (0x03).
    let too_long = hex("01020304 83 1dba");
    let mut report = too_long.clone();
    report.resize(64, 0);
    let error = device.feed(&report).unwrap_err();
    assert_eq!(error.hid_error_code().to_u8(), 0x03);
    // A continuation without an init packet: INVALID_SEQ (0x04).
    let error = device.feed(&reports[1]).unwrap_err();
    assert_eq!(error.hid_error_code().to_u8(), 0x04);
    // The device then takes the next message.
    assert_eq!(reassemble(&reports), (Command::PING, payload));
}

#[test]
fn keepalive_and_error_are_ordinary_one_packet_messages() {
    let mut host = Reassembler::new(
        [0u8; 64],
        ReassemblerConfig::new(ReportSize::FULL_SPEED).with_channel(CID),
    );
    let mut keepalive = hex("01020304 bb 0001 02");
    keepalive.resize(64, 0);
    match host.feed(&keepalive).unwrap() {
        Feed::Complete(message) => {
            assert_eq!(
                message.keepalive_status(),
                Some(ctap_types::KeepaliveStatus::UPNEEDED)
            );
            assert_eq!(message.error_code(), None);
        }
        other => panic!("{other:?}"),
    }
    let mut error = hex("01020304 bf 0001 06");
    error.resize(64, 0);
    match host.feed(&error).unwrap() {
        Feed::Complete(message) => {
            assert_eq!(
                message.error_code(),
                Some(ctap_types::HidErrorCode::CHANNEL_BUSY)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[cfg(feature = "bytes")]
#[test]
fn the_bytes_path_splits_the_golden_message_off_without_a_copy() {
    use ctaphid_frame::FeedBytes;
    let payload: Vec<u8> = (0..=250u8).cycle().take(7609).collect();
    let reports = packetize(Command::MSG, &payload);
    let mut host = Reassembler::with_bytes(ReassemblerConfig::new(ReportSize::FULL_SPEED));
    let mut message = None;
    for report in &reports {
        if let FeedBytes::Complete(complete) = host.feed_bytes(report).unwrap() {
            message = Some(complete);
        }
    }
    let message = message.unwrap();
    assert_eq!((message.cid, message.command), (CID, Command::MSG));
    assert_eq!(message.payload, payload);
    // The one-packet golden vector too, after the big one.
    match host
        .feed_bytes(&packetize(Command::CBOR, &[0x04])[0])
        .unwrap()
    {
        FeedBytes::Complete(small) => assert_eq!(&small.payload[..], &[0x04]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        message.payload.len(),
        7609,
        "the first message is still intact"
    );
}

#[cfg(feature = "bytes")]
#[test]
fn a_bytes_mut_keeps_the_capacity_its_caller_chose() {
    use ctaphid_frame::{FeedBytes, FrameError};
    let config = ReassemblerConfig::new(ReportSize::FULL_SPEED);
    let mut host = Reassembler::new(bytes::BytesMut::with_capacity(20), config);
    let small = packetize(Command::PING, &[7; 20]);
    let big = packetize(Command::PING, &[8; 21]);
    for _ in 0..2 {
        match host.feed_bytes(&small[0]).unwrap() {
            FeedBytes::Complete(message) => assert_eq!(&message.payload[..], &[7; 20]),
            other => panic!("{other:?}"),
        }
        // Regrown after the split, but still a 20-byte buffer to the reassembler.
        assert_eq!(
            host.feed_bytes(&big[0]).unwrap_err(),
            FrameError::LengthTooLarge {
                cid: CID,
                declared: 21,
                max: 20
            }
        );
    }
}
