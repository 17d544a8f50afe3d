//! Arbitrary reports into reassemblers of every kind (filtered and device-style, both
//! `InitOnBusy` policies, any report size, small and full buffers, the `bytes` path),
//! each checked report by report against the reference model of the property tests.
//!
//! Input: byte 0 picks the report size, byte 1 the filter, policy and buffer; then
//! reports, each a length byte (mod 72) and that many bytes.
#![no_main]

#[path = "../../tests/support/model.rs"]
mod model;

use ctap_types::ChannelId;
use ctaphid_frame::{
    FeedBytes, InitOnBusy, MAX_MESSAGE_LEN, Reassembler, ReassemblerConfig,
};
use libfuzzer_sys::fuzz_target;
use model::{Model, Outcome};

fuzz_target!(|data: &[u8]| {
    let [size, flags, rest @ ..] = data else {
        return;
    };
    let mut config = ReassemblerConfig::new(model::report_size(*size));
    config.channel = match flags & 3 {
        0 | 3 => None,
        1 => Some(ChannelId::new(1)),
        _ => Some(ChannelId::new(2)),
    };
    config.init_on_busy = if flags & 4 == 0 {
        InitOnBusy::Restart
    } else {
        InitOnBusy::Reject
    };
    let buffer_len = if flags & 8 == 0 {
        MAX_MESSAGE_LEN
    } else {
        usize::from(flags >> 4) * 20
    };

    let mut buffer = vec![0u8; buffer_len];
    let mut reassembler = Reassembler::new(&mut buffer[..], config);
    let mut model = Model::new(config, buffer_len);
    let mut owned = Reassembler::new(bytes::BytesMut::with_capacity(buffer_len), config);
    let mut owned_model = Model::new(config, buffer_len);

    let mut input = rest;
    while let [len, tail @ ..] = input {
        let len = usize::from(*len % 72).min(tail.len());
        let (report, tail) = tail.split_at(len);
        input = tail;

        let expected = model.feed(report);
        let got = Outcome::of(reassembler.feed(report));
        assert_eq!(got, expected, "report {report:02x?}");
        if let Outcome::Error(e) = &got {
            assert_eq!(e.cid().is_some(), report.len() >= 4, "{e:?} lost the channel id");
        }
        assert_eq!(reassembler.pending(), model.pending());

        // The bytes path, with its own model (a BytesMut's capacity is its limit).
        let expected = owned_model.feed(report);
        let got = match owned.feed_bytes(report) {
            Ok(FeedBytes::NeedMore(pending)) => Outcome::NeedMore(pending),
            Ok(FeedBytes::Complete(message)) => Outcome::Complete {
                cid: message.cid,
                command: message.command,
                payload: message.payload.to_vec(),
            },
            Ok(FeedBytes::OtherChannel { cid, command }) => Outcome::OtherChannel { cid, command },
            Err(e) => Outcome::Error(e),
        };
        assert_eq!(got, expected, "bytes path, report {report:02x?}");
    }
});
