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
