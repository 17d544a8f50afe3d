//! Packetize then reassemble: the identity for any payload, channel, command and report
//! size; the iterator, `write_all` and `write_next` agree, and so do `feed_reports` and
//! `feed`; a payload over the maximum is refused.
//!
//! Input: byte 0 picks the report size, bytes 1..5 the channel, byte 5 the command, the
//! rest is the payload.
#![no_main]

#[path = "../../tests/support/model.rs"]
mod model;

use ctap_types::{ChannelId, Command};
use ctaphid_frame::{
    Feed, FrameError, MAX_MESSAGE_LEN, Packetizer, Reassembler, ReassemblerConfig,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [size, c0, c1, c2, c3, command, payload @ ..] = data else {
        return;
    };
    let size = model::report_size(*size);
    let cid = ChannelId::from_be_bytes([*c0, *c1, *c2, *c3]);
    let command = Command::from_init_byte(*command);
    let max = size.max_message_len();
    if payload.len() > max {
        assert_eq!(
            Packetizer::new(cid, command, payload, size).err(),
            Some(FrameError::PayloadTooLong { len: payload.len(), max })
        );
        return;
    }
    let mut packetizer = Packetizer::new(cid, command, payload, size).expect("within max");
    let mut wire = vec![0u8; packetizer.report_count() * size.get()];
    for report in wire.chunks_exact_mut(size.get()) {
        assert_eq!(packetizer.write_next(report), Ok(Some(size.get())));
    }
    assert_eq!(packetizer.write_next(&mut [0u8; 64]), Ok(None));
    let iterated: Vec<u8> = Packetizer::new(cid, command, payload, size)
        .expect("within max")
        .flat_map(|report| report.to_vec())
        .collect();
    assert_eq!(iterated, wire);
    // `write_all` into a buffer of a few reports (from the channel's low byte) at a time.
    let mut all = Packetizer::new(cid, command, payload, size).expect("within max");
    let mut written = Vec::new();
    let mut room = vec![0u8; (usize::from(*c3 % 5) + 1) * size.get()];
    while let Ok(n @ 1..) = all.write_all(&mut room) {
        written.extend_from_slice(&room[..n]);
    }
    assert_eq!(written, wire);
    // `feed_reports` over the whole wire: one outcome per message start and its end.
    let mut many = Reassembler::new([0u8; MAX_MESSAGE_LEN], ReassemblerConfig::new(size));
    let mut rest = &wire[..];
    let mut complete = None;
    while let Some(outcome) = many.feed_reports(&mut rest) {
        match outcome {
            Ok(Feed::NeedMore(pending)) => assert!(pending.started),
            Ok(Feed::Complete(message)) => complete = Some(message.payload.to_vec()),
            other => panic!("feed_reports: {other:?}"),
        }
    }
    assert_eq!(complete.as_deref(), Some(payload));

    let mut reassembler = Reassembler::new(
        [0u8; MAX_MESSAGE_LEN],
        ReassemblerConfig::new(size).with_channel(cid),
    );
    let reports: Vec<&[u8]> = wire.chunks_exact(size.get()).collect();
    for (i, report) in reports.iter().enumerate() {
        match reassembler.feed(report) {
            Ok(Feed::NeedMore(pending)) => {
                assert!(i + 1 < reports.len());
                assert_eq!((pending.cid, pending.command, pending.len), (cid, command, payload.len()));
            }
            Ok(Feed::Complete(message)) => {
                assert_eq!(i + 1, reports.len());
                assert_eq!((message.cid, message.command), (cid, command));
                assert_eq!(message.payload, payload);
            }
            other => panic!("report {i}: {other:?}"),
        }
    }
});
