//! The reassembler's error contract, stated directly for every error `feed` can return
//! (not through the reference model):
//!
//! - an error on the channel of the message in progress drops that message, and the
//!   next message is taken;
//! - a report of another channel never touches the message in progress (it is
//!   `OtherChannel` from five bytes on, a `ShortReport` naming its channel below);
//! - a report too short to name a channel (under four bytes) changes nothing.
//!
//! Each case starts a 200-byte message on channel `MINE` (init and SEQ 0 taken), feeds
//! the bad report, then checks `pending()`, whether the rest of the old message still
//! completes it (kept) or is refused (dropped), and that a fresh message completes.

use ctap_types::{ChannelId, Command};
use ctaphid_frame::{
    Feed, FrameError, InitOnBusy, Packetizer, Reassembler, ReassemblerConfig, ReportSize,
};

const MINE: ChannelId = ChannelId::new(0x0A0B_0C0D);
const OTHER: ChannelId = ChannelId::new(0x0102_0304);

fn reports(cid: ChannelId, command: Command, payload: &[u8], size: ReportSize) -> Vec<Vec<u8>> {
    let mut packetizer = Packetizer::new(cid, command, payload, size).expect("fits");
    let mut out = Vec::new();
    let mut report = vec![0u8; size.get()];
    while let Some(len) = packetizer.write_next(&mut report).expect("room") {
        out.push(report[..len].to_vec());
    }
    out
}

/// What the bad report must do to the message in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Dropped,
    Kept,
}

struct Case {
    name: &'static str,
    init_on_busy: InitOnBusy,
    /// The bad report, given the report size.
    bad: fn(ReportSize) -> Vec<u8>,
    /// The error it must give, given the report size.
    error: fn(ReportSize) -> FrameError,
    effect: Effect,
}

fn header(cid: ChannelId, rest: &[u8], size: ReportSize) -> Vec<u8> {
    let mut report = cid.to_be_bytes().to_vec();
    report.extend_from_slice(rest);
    report.resize(size.get(), 0);
    report
}

fn short(cid: Option<ChannelId>, got: usize) -> impl Fn(ReportSize) -> FrameError {
    move |size| FrameError::ShortReport {
        cid,
        expected: size.get(),
        got,
    }
}

const CASES: &[Case] = &[
    Case {
        name: "empty report (no channel)",
        init_on_busy: InitOnBusy::Restart,
        bad: |_| Vec::new(),
        error: |size| short(None, 0)(size),
        effect: Effect::Kept,
    },
    Case {
        name: "three bytes (no channel)",
        init_on_busy: InitOnBusy::Restart,
        bad: |_| MINE.to_be_bytes()[..3].to_vec(),
        error: |size| short(None, 3)(size),
        effect: Effect::Kept,
    },
    Case {
        name: "four bytes of the busy channel",
        init_on_busy: InitOnBusy::Restart,
        bad: |_| MINE.to_be_bytes().to_vec(),
        error: |size| short(Some(MINE), 4)(size),
        effect: Effect::Dropped,
    },
    Case {
        name: "four bytes of another channel",
        init_on_busy: InitOnBusy::Restart,
        bad: |_| OTHER.to_be_bytes().to_vec(),
        error: |size| short(Some(OTHER), 4)(size),
        effect: Effect::Kept,
    },
    Case {
        name: "five bytes of the busy channel (a continuation header)",
        init_on_busy: InitOnBusy::Restart,
        bad: |_| [&MINE.to_be_bytes()[..], &[1]].concat(),
        error: |size| short(Some(MINE), 5)(size),
        effect: Effect::Dropped,
    },
    Case {
        name: "six bytes of the busy channel (an init header cut short)",
        init_on_busy: InitOnBusy::Restart,
        bad: |_| [&MINE.to_be_bytes()[..], &[0x81, 0]].concat(),
        error: |size| short(Some(MINE), 6)(size),
        effect: Effect::Dropped,
    },
    Case {
        name: "the due continuation one byte short",
        init_on_busy: InitOnBusy::Restart,
        bad: |size| {
            let mut report = header(MINE, &[1], size);
            report.pop();
            report
        },
        error: |size| short(Some(MINE), size.get() - 1)(size),
        effect: Effect::Dropped,
    },
    Case {
        name: "wrong SEQ",
        init_on_busy: InitOnBusy::Restart,
        bad: |size| header(MINE, &[5], size),
        error: |_| FrameError::SequenceMismatch {
            cid: MINE,
            expected: 1,
            got: 5,
        },
        effect: Effect::Dropped,
    },
    Case {
        name: "init on the busy channel under Reject",
        init_on_busy: InitOnBusy::Reject,
        bad: |size| header(MINE, &[Command::PING.to_init_byte(), 0, 1, 9], size),
        error: |_| FrameError::UnexpectedInit {
            cid: MINE,
            command: Command::PING,
        },
        effect: Effect::Dropped,
    },
    Case {
        name: "length over the maximum on the busy channel",
        init_on_busy: InitOnBusy::Restart,
        bad: |size| header(MINE, &[Command::PING.to_init_byte(), 0xFF, 0xFF], size),
        error: |size| FrameError::LengthTooLarge {
            cid: MINE,
            declared: 0xFFFF,
            max: size.max_message_len(),
        },
        effect: Effect::Dropped,
    },
];

fn sizes() -> [ReportSize; 3] {
    [
        ReportSize::FULL_SPEED,
        ReportSize::new(62).expect("valid"),
        ReportSize::MIN,
    ]
}

#[test]
fn every_error_drops_the_message_of_its_channel_and_nothing_else() {
    for size in sizes() {
        let payload: Vec<u8> = (0..200u8).collect();
        let payload = &payload[..payload.len().min(size.max_message_len())];
        let message = reports(MINE, Command::MSG, payload, size);
        assert!(message.len() >= 4, "a message of several continuations");
        for case in CASES {
            let what = format!("{} ({size:?})", case.name);
            let config = ReassemblerConfig::new(size).with_init_on_busy(case.init_on_busy);
            let mut reassembler = Reassembler::new([0u8; 7609], config);
            for report in &message[..2] {
                assert!(matches!(reassembler.feed(report), Ok(Feed::NeedMore(_))));
            }
            let before = reassembler.pending().expect("a message in progress");

            let bad = (case.bad)(size);
            assert_eq!(reassembler.feed(&bad), Err((case.error)(size)), "{what}");

            match case.effect {
                Effect::Kept => {
                    assert_eq!(reassembler.pending(), Some(before), "{what}: kept");
                    let mut complete = None;
                    for report in &message[2..] {
                        if let Feed::Complete(m) = reassembler.feed(report).expect(&what) {
                            complete = Some(m.payload.to_vec());
                        }
                    }
                    assert_eq!(complete.as_deref(), Some(payload), "{what}: completes");
                }
                Effect::Dropped => {
                    assert_eq!(reassembler.pending(), None, "{what}: dropped");
                    assert_eq!(
                        reassembler.feed(&message[2]),
                        Err(FrameError::UnexpectedContinuation { cid: MINE, seq: 1 }),
                        "{what}: the rest of the old message is refused"
                    );
                }
            }
            // Either way the next message is taken.
            let next = reports(MINE, Command::CBOR, &[7; 20], size);
            let mut complete = None;
            for report in &next {
                if let Feed::Complete(m) = reassembler.feed(report).expect(&what) {
                    complete = Some((m.command, m.payload.to_vec()));
                }
            }
            assert_eq!(complete, Some((Command::CBOR, vec![7; 20])), "{what}: next");
        }
    }
}

#[test]
fn reports_of_another_channel_from_five_bytes_on_are_other_channel() {
    for size in sizes() {
        let message = reports(MINE, Command::MSG, &[3; 100], size);
        for config in [
            ReassemblerConfig::new(size),
            ReassemblerConfig::new(size).with_channel(MINE),
        ] {
            let mut reassembler = Reassembler::new([0u8; 7609], config);
            assert!(matches!(
                reassembler.feed(&message[0]),
                Ok(Feed::NeedMore(_))
            ));
            let before = reassembler.pending();
            let init = header(OTHER, &[Command::PING.to_init_byte(), 0, 1, 9], size);
            for len in 5..=size.get() {
                let expected_command = (len >= 5).then_some(Command::PING);
                assert_eq!(
                    reassembler.feed(&init[..len]),
                    Ok(Feed::OtherChannel {
                        cid: OTHER,
                        command: expected_command,
                    }),
                    "{len}-byte init of another channel"
                );
                assert_eq!(
                    reassembler.feed(&header(OTHER, &[0], size)[..len]),
                    Ok(Feed::OtherChannel {
                        cid: OTHER,
                        command: None,
                    }),
                    "{len}-byte continuation of another channel"
                );
                assert_eq!(reassembler.pending(), before);
            }
        }
    }
}

#[test]
fn an_error_while_idle_leaves_it_idle_and_the_next_message_is_taken() {
    let size = ReportSize::FULL_SPEED;
    let mut reassembler = Reassembler::new([0u8; 7609], ReassemblerConfig::new(size));
    let bad = [
        (
            header(MINE, &[0], size),
            FrameError::UnexpectedContinuation { cid: MINE, seq: 0 },
        ),
        (
            header(MINE, &[Command::PING.to_init_byte(), 0xFF, 0xFF], size),
            FrameError::LengthTooLarge {
                cid: MINE,
                declared: 0xFFFF,
                max: 7609,
            },
        ),
        (
            MINE.to_be_bytes().to_vec(),
            FrameError::ShortReport {
                cid: Some(MINE),
                expected: 64,
                got: 4,
            },
        ),
    ];
    for (report, error) in bad {
        assert_eq!(reassembler.feed(&report), Err(error));
        assert_eq!(reassembler.pending(), None);
        let message = reports(MINE, Command::PING, &[1; 70], size);
        assert!(matches!(
            reassembler.feed(&message[0]),
            Ok(Feed::NeedMore(_))
        ));
        assert!(matches!(
            reassembler.feed(&message[1]),
            Ok(Feed::Complete(_))
        ));
    }
}
