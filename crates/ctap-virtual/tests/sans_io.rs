//! The sans-IO core on simulated time: every command and every error, deterministic.
#![allow(clippy::cast_possible_truncation)] // test payloads are built from small counters

use std::time::{Duration, Instant};

use ctap_types::{
    Capabilities, ChannelId, Command, HidErrorCode, InitResponse, KeepaliveStatus, StatusCode,
};
use ctap_virtual::{Authenticator, CAPABILITIES, Config, DEFAULT_AAGUID, TouchPolicy};
use ctaphid_frame::{Feed, Packetizer, Reassembler, ReassemblerConfig, ReportSize};
use proptest::prelude::*;

/// One message the device sent.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    cid: ChannelId,
    command: Command,
    payload: Vec<u8>,
}

impl Answer {
    fn error(cid: ChannelId, code: HidErrorCode) -> Self {
        Self {
            cid,
            command: Command::ERROR,
            payload: vec![code.to_u8()],
        }
    }
    fn status(cid: ChannelId, status: StatusCode) -> Self {
        Self {
            cid,
            command: Command::CBOR,
            payload: vec![status.to_u8()],
        }
    }
    fn keepalive(cid: ChannelId) -> Self {
        Self {
            cid,
            command: Command::KEEPALIVE,
            payload: vec![KeepaliveStatus::UPNEEDED.to_u8()],
        }
    }
}

/// A host on simulated time: packetizes requests, reassembles everything the device
/// sends.
struct Host {
    device: Authenticator,
    now: Instant,
    size: ReportSize,
}

impl Host {
    fn new(config: Config) -> Self {
        Self {
            size: config.report_size,
            device: Authenticator::new(config),
            now: Instant::now(),
        }
    }

    fn send(&mut self, cid: ChannelId, command: Command, payload: &[u8]) {
        for report in Packetizer::new(cid, command, payload, self.size).unwrap() {
            self.device.handle_report(self.now, &report);
        }
    }

    fn send_raw(&mut self, report: &[u8]) {
        self.device.handle_report(self.now, report);
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.device.handle_timeout(self.now);
    }

    /// Every message the device queued, in order.
    fn answers(&mut self) -> Vec<Answer> {
        let mut host = Reassembler::new(vec![0; 7609], ReassemblerConfig::new(self.size));
        let mut answers = Vec::new();
        while let Some(report) = self.device.poll_report() {
            assert_eq!(report.len(), self.size.get());
            match host.feed(&report).unwrap() {
                Feed::NeedMore(_) => {}
                Feed::Complete(m) => answers.push(Answer {
                    cid: m.cid,
                    command: m.command,
                    payload: m.payload.to_vec(),
                }),
                Feed::OtherChannel { .. } => panic!("device interleaved two messages"),
            }
        }
        assert!(host.pending().is_none(), "device sent half a message");
        answers
    }

    /// Sends a request and expects exactly one answer.
    fn call(&mut self, cid: ChannelId, command: Command, payload: &[u8]) -> Answer {
        self.send(cid, command, payload);
        let mut answers = self.answers();
        assert_eq!(answers.len(), 1, "{answers:?}");
        answers.remove(0)
    }

    /// INIT on broadcast: a fresh channel.
    fn open(&mut self) -> ChannelId {
        let nonce = *b"\x01nonce\x02\x03";
        let answer = self.call(ChannelId::BROADCAST, Command::INIT, &nonce);
        assert_eq!(
            (answer.cid, answer.command),
            (ChannelId::BROADCAST, Command::INIT)
        );
        let init = InitResponse::parse(&answer.payload).unwrap();
        assert_eq!(init.nonce, nonce);
        init.cid
    }
}

fn cbor(command: u8) -> Vec<u8> {
    vec![command]
}

const GET_INFO: u8 = 0x04;
const RESET: u8 = 0x07;
const SELECTION: u8 = 0x0B;

#[test]
fn init_on_broadcast_allocates_fresh_channels() {
    let mut host = Host::new(Config::default());
    let nonce = [9, 8, 7, 6, 5, 4, 3, 2];
    let answer = host.call(ChannelId::BROADCAST, Command::INIT, &nonce);
    assert_eq!(answer.payload.len(), 17);
    let init = InitResponse::parse(&answer.payload).unwrap();
    assert_eq!(init.nonce, nonce);
    assert_eq!(init.protocol_version, 2);
    assert_eq!(
        init.capabilities,
        Capabilities::WINK | Capabilities::LOCK | Capabilities::CBOR
    );
    assert_eq!(init.capabilities, CAPABILITIES);
    assert!(init.capabilities.supports_msg());
    let mut ids = vec![init.cid];
    ids.extend((0..20).map(|_| host.open()));
    assert!(ids.iter().all(|cid| cid.is_allocatable()));
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    assert_eq!(host.device.stats().channels_allocated, 21);
}

#[test]
fn init_with_a_wrong_nonce_length_is_invalid_len() {
    let mut host = Host::new(Config::default());
    for len in [0, 7, 9] {
        let answer = host.call(ChannelId::BROADCAST, Command::INIT, &vec![1; len]);
        assert_eq!(
            answer,
            Answer::error(ChannelId::BROADCAST, HidErrorCode::INVALID_LEN)
        );
    }
}

#[test]
fn the_channel_table_is_bounded_and_reuses_the_least_recently_used() {
    let mut host = Host::new(Config::default().with_max_channels(3));
    let a = host.open();
    let b = host.open();
    let c = host.open();
    // Using `a` makes `b` the least recently used.
    assert_eq!(host.call(a, Command::PING, b"a").payload, b"a");
    let d = host.open();
    assert_eq!(host.device.channels().count(), 3);
    assert_eq!(
        host.call(b, Command::PING, b"b"),
        Answer::error(b, HidErrorCode::INVALID_CHANNEL)
    );
    for cid in [a, c, d] {
        assert_eq!(host.call(cid, Command::PING, b"x").payload, b"x");
    }
}

#[test]
fn init_on_an_allocated_channel_resynchronises_it() {
    let mut host = Host::new(Config::default().with_touch(TouchPolicy::Never));
    let cid = host.open();
    let answer = host.call(cid, Command::INIT, &[7; 8]);
    assert_eq!((answer.cid, answer.command), (cid, Command::INIT));
    assert_eq!(InitResponse::parse(&answer.payload).unwrap().cid, cid);
    // It aborts a pending touch-wait, without an answer for the aborted command.
    host.send(cid, Command::CBOR, &cbor(SELECTION));
    assert_eq!(host.answers(), [Answer::keepalive(cid)]);
    assert_eq!(host.device.waiting_for_touch(), Some(cid));
    let answer = host.call(cid, Command::INIT, &[8; 8]);
    assert_eq!(answer.command, Command::INIT);
    assert_eq!(host.device.waiting_for_touch(), None);
    host.advance(1000);
    assert_eq!(host.answers(), []);
    // And an incomplete message on that channel.
    host.send_raw(
        &Packetizer::new(cid, Command::PING, &[1; 100], host.size)
            .unwrap()
            .next()
            .unwrap(),
    );
    assert_eq!(
        host.call(cid, Command::INIT, &[9; 8]).command,
        Command::INIT
    );
    host.advance(1000);
    assert_eq!(host.answers(), [], "no MSG_TIMEOUT for the aborted message");
}

#[test]
fn ping_echoes_every_length_at_64_and_62_bytes() {
    for (size, max) in [(64, 7609), (62, 7351)] {
        let mut host =
            Host::new(Config::default().with_report_size(ReportSize::new(size).unwrap()));
        let cid = host.open();
        for len in [0, 1, size - 7, size - 6, 1024, max] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let answer = host.call(cid, Command::PING, &payload);
            assert_eq!((answer.cid, answer.command), (cid, Command::PING));
            assert_eq!(answer.payload, payload, "len {len} at {size}");
        }
    }
}

#[test]
fn eight_byte_reports_carry_init_over_several_packets() {
    let mut host = Host::new(Config::default().with_report_size(ReportSize::MIN));
    let cid = host.open();
    assert_eq!(
        host.call(cid, Command::PING, b"hello, world").payload,
        b"hello, world"
    );
}

#[test]
fn wink_answers_empty_and_is_counted() {
    let mut host = Host::new(Config::default());
    let cid = host.open();
    for _ in 0..3 {
        let answer = host.call(cid, Command::WINK, &[]);
        assert_eq!(
            answer,
            Answer {
                cid,
                command: Command::WINK,
                payload: vec![]
            }
        );
    }
    assert_eq!(host.device.winks(), 3);
    assert_eq!(
        host.call(cid, Command::WINK, &[1]),
        Answer::error(cid, HidErrorCode::INVALID_LEN)
    );
    assert_eq!(host.device.winks(), 3);
}

#[test]
fn lock_makes_other_channels_busy_until_unlocked_or_expired() {
    let mut host = Host::new(Config::default());
    let a = host.open();
    let b = host.open();
    let ok = |cid| Answer {
        cid,
        command: Command::LOCK,
        payload: vec![],
    };
    assert_eq!(host.call(a, Command::LOCK, &[2]), ok(a));
    assert_eq!(host.device.lock_owner(), Some(a));
    assert_eq!(
        host.call(b, Command::PING, b"b"),
        Answer::error(b, HidErrorCode::CHANNEL_BUSY)
    );
    assert_eq!(
        host.call(ChannelId::BROADCAST, Command::INIT, &[1; 8]),
        Answer::error(ChannelId::BROADCAST, HidErrorCode::CHANNEL_BUSY)
    );
    assert_eq!(
        host.call(b, Command::LOCK, &[0]),
        Answer::error(b, HidErrorCode::CHANNEL_BUSY)
    );
    assert_eq!(host.call(a, Command::PING, b"a").payload, b"a");
    // Expiry, by time.
    host.advance(1999);
    assert_eq!(
        host.call(b, Command::PING, b"b"),
        Answer::error(b, HidErrorCode::CHANNEL_BUSY)
    );
    host.advance(1);
    assert_eq!(host.device.lock_owner(), None);
    assert_eq!(host.call(b, Command::PING, b"b").payload, b"b");
    assert_eq!(host.device.poll_timeout(), None);
    // 0 unlocks at once; the lock is renewable by its owner.
    assert_eq!(host.call(a, Command::LOCK, &[10]), ok(a));
    assert_eq!(host.call(a, Command::LOCK, &[10]), ok(a));
    assert_eq!(
        host.device.poll_timeout(),
        Some(host.now + Duration::from_secs(10))
    );
    assert_eq!(host.call(a, Command::LOCK, &[0]), ok(a));
    assert_eq!(host.call(b, Command::PING, b"b").payload, b"b");
    // Out of range and malformed.
    assert_eq!(
        host.call(a, Command::LOCK, &[11]),
        Answer::error(a, HidErrorCode::INVALID_PAR)
    );
    assert_eq!(
        host.call(a, Command::LOCK, &[]),
        Answer::error(a, HidErrorCode::INVALID_LEN)
    );
    assert_eq!(
        host.call(a, Command::LOCK, &[1, 1]),
        Answer::error(a, HidErrorCode::INVALID_LEN)
    );
    assert_eq!(host.device.lock_owner(), None);
}

#[test]
fn get_info_reports_versions_aaguid_options_and_max_message() {
    for (size, max) in [(64, 7609), (62, 7351)] {
        let mut host =
            Host::new(Config::default().with_report_size(ReportSize::new(size).unwrap()));
        let cid = host.open();
        let answer = host.call(cid, Command::CBOR, &cbor(GET_INFO));
        assert_eq!(answer.command, Command::CBOR);
        assert_eq!(answer.payload[0], 0x00, "status SUCCESS");
        let info = <ctap2_proto::Info as ctap2_proto::CborMessage>::from_cbor(&answer.payload[1..])
            .unwrap();
        assert_eq!(info.versions, ["U2F_V2", "FIDO_2_0", "FIDO_2_1"]);
        assert_eq!(info.aaguid, DEFAULT_AAGUID);
        assert_eq!(
            (info.option("rk"), info.option("up"), info.option("plat")),
            (Some(true), Some(true), Some(false))
        );
        assert_eq!(info.option("clientPin"), Some(false));
        assert_eq!(info.max_msg_size, Some(max));
        assert_eq!(info.transports, ["usb"]);
        assert_eq!(info.pin_uv_auth_protocols, [2, 1]);
    }
}

#[test]
fn selection_sends_upneeded_every_100_ms_until_the_touch() {
    let config = Config::default().with_touch(TouchPolicy::Approve {
        after: Duration::from_millis(250),
    });
    let mut host = Host::new(config);
    let cid = host.open();
    host.send(cid, Command::CBOR, &cbor(SELECTION));
    assert_eq!(host.answers(), [Answer::keepalive(cid)], "at once");
    assert_eq!(
        host.device.poll_timeout(),
        Some(host.now + Duration::from_millis(100))
    );
    host.advance(99);
    assert_eq!(host.answers(), []);
    host.advance(1);
    assert_eq!(host.answers(), [Answer::keepalive(cid)], "at 100 ms");
    host.advance(100);
    assert_eq!(host.answers(), [Answer::keepalive(cid)], "at 200 ms");
    host.advance(50);
    assert_eq!(
        host.answers(),
        [Answer::status(cid, StatusCode::SUCCESS)],
        "touched at 250 ms"
    );
    host.advance(1000);
    assert_eq!(host.answers(), []);
    assert_eq!(host.device.stats().selections, 1);
    assert_eq!(host.device.stats().keepalives, 3);
    assert_eq!(host.device.poll_timeout(), None);
}

/// Issue 27 "No KEEPALIVE when the answer is ready at once": a keep-alive means "still
/// processing" (CTAP 2.1 §11.2.9.1.7), so an answer ready at the instant of the request
/// comes alone; a wait that lasts still starts with UPNEEDED (test above).
#[test]
fn immediate_touch_answers_without_a_keepalive() {
    let mut host = Host::new(Config::default());
    let cid = host.open();
    host.send(cid, Command::CBOR, &cbor(SELECTION));
    assert_eq!(host.answers(), [Answer::status(cid, StatusCode::SUCCESS)]);
    host.send(cid, Command::CBOR, &cbor(RESET));
    assert_eq!(host.answers(), [Answer::status(cid, StatusCode::SUCCESS)]);
    assert_eq!(host.device.stats().keepalives, 0);
}

#[test]
fn reset_waits_for_the_touch_and_can_be_denied() {
    let mut host = Host::new(Config::default().with_touch(TouchPolicy::Approve {
        after: Duration::from_millis(150),
    }));
    let cid = host.open();
    host.send(cid, Command::CBOR, &cbor(RESET));
    // One step to 150 ms: the keep-alive due at 100 ms is not sent late in front of an
    // answer that is ready (issue 27).
    host.advance(150);
    assert_eq!(
        host.answers(),
        [
            Answer::keepalive(cid),
            Answer::status(cid, StatusCode::SUCCESS)
        ]
    );
    assert_eq!(host.device.stats().resets, 1);

    host.device.set_touch_policy(TouchPolicy::Deny {
        after: Duration::from_millis(50),
    });
    for command in [RESET, SELECTION] {
        host.send(cid, Command::CBOR, &cbor(command));
        host.advance(50);
        assert_eq!(
            host.answers(),
            [
                Answer::keepalive(cid),
                Answer::status(cid, StatusCode::OPERATION_DENIED)
            ]
        );
    }
    assert_eq!(
        (host.device.stats().resets, host.device.stats().selections),
        (1, 0)
    );
}

#[test]
fn cancel_ends_a_touch_wait_with_keepalive_cancel() {
    let mut host = Host::new(Config::default().with_touch(TouchPolicy::Never));
    let a = host.open();
    let b = host.open();
    for command in [SELECTION, RESET] {
        host.send(a, Command::CBOR, &cbor(command));
        host.advance(100);
        assert_eq!(host.answers(), [Answer::keepalive(a), Answer::keepalive(a)]);
        // A CANCEL on another channel is ignored (§11.2.9.1.5).
        host.send(b, Command::CANCEL, &[]);
        assert_eq!(host.answers(), []);
        host.send(a, Command::CANCEL, &[]);
        assert_eq!(
            host.answers(),
            [Answer::status(a, StatusCode::KEEPALIVE_CANCEL)]
        );
        // python-fido2 sends CANCEL before every read: the rest are ignored.
        host.send(a, Command::CANCEL, &[]);
        host.advance(500);
        assert_eq!(host.answers(), []);
    }
}

#[test]
fn touch_approves_a_pending_wait_and_the_user_presence_timeout_ends_it() {
    let config = Config::default()
        .with_touch(TouchPolicy::Never)
        .with_user_presence_timeout(Some(Duration::from_millis(1000)));
    let mut host = Host::new(config);
    let cid = host.open();
    assert!(!host.device.touch(host.now));
    host.send(cid, Command::CBOR, &cbor(SELECTION));
    host.advance(30);
    assert!(host.device.touch(host.now));
    assert_eq!(
        host.answers(),
        [
            Answer::keepalive(cid),
            Answer::status(cid, StatusCode::SUCCESS)
        ]
    );

    host.send(cid, Command::CBOR, &cbor(SELECTION));
    for _ in 0..9 {
        host.advance(100);
    }
    host.advance(99);
    assert_eq!(host.answers().len(), 10, "10 keep-alives in 999 ms");
    host.advance(1);
    // The wait ends at 1000 ms: the answer, without the keep-alive also due then.
    assert_eq!(
        host.answers(),
        [Answer::status(cid, StatusCode::USER_ACTION_TIMEOUT)]
    );
}

#[test]
fn unknown_ctap2_commands_get_invalid_command_and_empty_cbor_invalid_len() {
    let mut host = Host::new(Config::default());
    let cid = host.open();
    // Unknown, bioEnrollment (0x09 without a sensor configured; the 0x40 prototype
    // never) are not commands here.
    for command in [0x00, 0x09, 0x40, 0xFF] {
        assert_eq!(
            host.call(cid, Command::CBOR, &[command, 0xA0]),
            Answer::status(cid, StatusCode::INVALID_COMMAND),
            "CTAP2 command {command:#04x}"
        );
    }
    // The implemented ones with an empty map miss their required members.
    for command in [0x01, 0x02, 0x06, 0x0A, 0x0D, 0x41] {
        assert_eq!(
            host.call(cid, Command::CBOR, &[command, 0xA0]),
            Answer::status(cid, StatusCode::MISSING_PARAMETER),
            "CTAP2 command {command:#04x}"
        );
    }
    // largeBlobs without its offset: CTAP1_ERR_INVALID_PARAMETER (CTAP 2.1 §6.10.2
    // step 1).
    assert_eq!(
        host.call(cid, Command::CBOR, &[0x0C, 0xA0]),
        Answer::status(cid, StatusCode::INVALID_PARAMETER)
    );
    assert_eq!(
        host.call(cid, Command::CBOR, &[]),
        Answer::error(cid, HidErrorCode::INVALID_LEN)
    );
}

#[test]
fn msg_answers_u2f_version_in_short_and_extended_form() {
    let mut host = Host::new(Config::default());
    let cid = host.open();
    for apdu in [
        &[0, 3, 0, 0][..],
        &[0, 3, 0, 0, 0],
        &[0, 3, 0, 0, 0, 0, 0],
        &[0, 3, 0, 0, 0, 0, 0, 0, 0],
    ] {
        let answer = host.call(cid, Command::MSG, apdu);
        assert_eq!((answer.cid, answer.command), (cid, Command::MSG));
        assert_eq!(answer.payload, b"U2F_V2\x90\x00");
    }
    // REGISTER without its 64 bytes of challenge and application.
    assert_eq!(
        host.call(cid, Command::MSG, &[0, 1, 0, 0, 0]).payload,
        [0x67, 0x00]
    );
    assert_eq!(
        host.call(cid, Command::MSG, &[0, 0x42, 0, 0]).payload,
        [0x6D, 0x00]
    );
    assert_eq!(host.call(cid, Command::MSG, &[0, 3]).payload, [0x67, 0x00]);
    assert_eq!(
        host.call(cid, Command::MSG, &[0, 3, 0, 0, 5, 1]).payload,
        [0x67, 0x00]
    );
}

#[test]
fn unknown_commands_get_invalid_cmd() {
    let mut host = Host::new(Config::default());
    let cid = host.open();
    for code in [0x00, 0x02, 0x05, 0x22, 0x3B, 0x3F, 0x40, 0x50, 0x7F] {
        let command = Command::new(code).unwrap();
        assert_eq!(
            host.call(cid, command, &[1, 2, 3]),
            Answer::error(cid, HidErrorCode::INVALID_CMD),
            "{command}"
        );
    }
}

#[test]
fn a_wrong_seq_gets_invalid_seq_and_the_rest_of_the_message_is_ignored() {
    let mut host = Host::new(Config::default());
    let cid = host.open();
    let reports: Vec<_> = Packetizer::new(cid, Command::PING, &[5; 300], host.size)
        .unwrap()
        .collect();
    host.send_raw(&reports[0]);
    host.send_raw(&reports[2]); // SEQ 1 where 0 was due
    assert_eq!(
        host.answers(),
        [Answer::error(cid, HidErrorCode::INVALID_SEQ)]
    );
    for report in &reports[3..] {
        host.send_raw(report);
    }
    host.advance(1000);
    assert_eq!(
        host.answers(),
        [],
        "stray continuations get no answer, and no MSG_TIMEOUT"
    );
    assert_eq!(host.call(cid, Command::PING, b"ok").payload, b"ok");
}

#[test]
fn an_init_packet_mid_message_on_the_same_channel_is_invalid_seq() {
    let mut host = Host::new(Config::default());
    let cid = host.open();
    let first = Packetizer::new(cid, Command::PING, &[5; 100], host.size)
        .unwrap()
        .next()
        .unwrap();
    host.send_raw(&first);
    host.send(cid, Command::WINK, &[]);
    assert_eq!(
        host.answers(),
        [Answer::error(cid, HidErrorCode::INVALID_SEQ)]
    );
    assert_eq!(host.device.winks(), 0);
}

#[test]
fn a_declared_length_over_the_maximum_is_invalid_len() {
    for (size, max) in [(64_usize, 7609_u16), (62, 7351)] {
        let mut host =
            Host::new(Config::default().with_report_size(ReportSize::new(size).unwrap()));
        let cid = host.open();
        let mut report = vec![0; size];
        report[..4].copy_from_slice(&cid.to_be_bytes());
        report[4] = 0x81;
        report[5..7].copy_from_slice(&(max + 1).to_be_bytes());
        host.send_raw(&report);
        assert_eq!(
            host.answers(),
            [Answer::error(cid, HidErrorCode::INVALID_LEN)]
        );
        report[5..7].copy_from_slice(&u16::MAX.to_be_bytes());
        host.send_raw(&report);
        assert_eq!(
            host.answers(),
            [Answer::error(cid, HidErrorCode::INVALID_LEN)]
        );
    }
}

#[test]
fn a_short_report_is_invalid_len() {
    let mut host = Host::new(Config::default());
    let cid = host.open();
    let report = Packetizer::new(cid, Command::PING, b"x", host.size)
        .unwrap()
        .next()
        .unwrap();
    host.send_raw(&report[..20]);
    assert_eq!(
        host.answers(),
        [Answer::error(cid, HidErrorCode::INVALID_LEN)]
    );
    // Too short for a header: nobody to answer.
    host.send_raw(&report[..3]);
    assert_eq!(host.answers(), []);
}

#[test]
fn an_incomplete_message_times_out_after_the_configured_time() {
    for timeout in [500, 200] {
        let config = Config::default().with_message_timeout(Duration::from_millis(timeout));
        let mut host = Host::new(config);
        let cid = host.open();
        let reports: Vec<_> = Packetizer::new(cid, Command::PING, &[5; 200], host.size)
            .unwrap()
            .collect();
        host.send_raw(&reports[0]);
        host.advance(timeout / 2);
        host.send_raw(&reports[1]);
        assert_eq!(
            host.device.poll_timeout(),
            Some(host.now + Duration::from_millis(timeout - timeout / 2))
        );
        host.advance(timeout - timeout / 2 - 1);
        assert_eq!(host.answers(), []);
        host.advance(1);
        assert_eq!(
            host.answers(),
            [Answer::error(cid, HidErrorCode::MSG_TIMEOUT)]
        );
        // The rest arrives too late: ignored.
        host.send_raw(&reports[2]);
        host.send_raw(&reports[3]);
        assert_eq!(host.answers(), []);
        assert_eq!(host.call(cid, Command::PING, b"next").payload, b"next");
    }
}

#[test]
fn a_second_channel_mid_message_gets_channel_busy() {
    let mut host = Host::new(Config::default());
    let a = host.open();
    let b = host.open();
    let reports: Vec<_> = Packetizer::new(a, Command::PING, &[5; 200], host.size)
        .unwrap()
        .collect();
    host.send_raw(&reports[0]);
    // B's whole message: one BUSY for its init packet, nothing for its continuations.
    host.send(b, Command::PING, &[6; 100]);
    host.send(ChannelId::BROADCAST, Command::INIT, &[1; 8]);
    assert_eq!(
        host.answers(),
        [
            Answer::error(b, HidErrorCode::CHANNEL_BUSY),
            Answer::error(ChannelId::BROADCAST, HidErrorCode::CHANNEL_BUSY)
        ]
    );
    for report in &reports[1..] {
        host.send_raw(report);
    }
    let answers = host.answers();
    assert_eq!(answers.len(), 1);
    assert_eq!(
        (answers[0].cid, answers[0].payload.as_slice()),
        (a, &[5; 200][..])
    );
}

#[test]
fn a_second_channel_during_a_touch_wait_gets_channel_busy() {
    let mut host = Host::new(Config::default().with_touch(TouchPolicy::Never));
    let a = host.open();
    let b = host.open();
    host.send(a, Command::CBOR, &cbor(SELECTION));
    assert_eq!(host.answers(), [Answer::keepalive(a)]);
    assert_eq!(
        host.call(b, Command::PING, b"b"),
        Answer::error(b, HidErrorCode::CHANNEL_BUSY)
    );
    assert_eq!(
        host.call(b, Command::CBOR, &cbor(GET_INFO)),
        Answer::error(b, HidErrorCode::CHANNEL_BUSY)
    );
    // The waiting channel itself is busy too, except for INIT and CANCEL.
    assert_eq!(
        host.call(a, Command::PING, b"a"),
        Answer::error(a, HidErrorCode::CHANNEL_BUSY)
    );
    assert_eq!(
        host.call(a, Command::CANCEL, &[]),
        Answer::status(a, StatusCode::KEEPALIVE_CANCEL)
    );
    assert_eq!(host.call(b, Command::PING, b"b").payload, b"b");
}

#[test]
fn invalid_channels_get_invalid_channel() {
    let mut host = Host::new(Config::default());
    let a = host.open();
    for command in [
        Command::PING,
        Command::WINK,
        Command::CBOR,
        Command::MSG,
        Command::LOCK,
    ] {
        assert_eq!(
            host.call(ChannelId::BROADCAST, command, &[0]),
            Answer::error(ChannelId::BROADCAST, HidErrorCode::INVALID_CHANNEL),
            "{command} on broadcast"
        );
    }
    for cid in [
        ChannelId::RESERVED,
        ChannelId::new(a.to_u32().wrapping_add(1)),
    ] {
        for command in [Command::PING, Command::INIT] {
            assert_eq!(
                host.call(cid, command, &[0; 8]),
                Answer::error(cid, HidErrorCode::INVALID_CHANNEL),
                "{command} on {cid}"
            );
        }
    }
}

#[test]
fn cancel_with_nothing_pending_is_ignored() {
    let mut host = Host::new(Config::default());
    let a = host.open();
    for cid in [
        a,
        ChannelId::BROADCAST,
        ChannelId::RESERVED,
        ChannelId::new(0x1234),
    ] {
        host.send(cid, Command::CANCEL, &[]);
    }
    host.advance(1000);
    assert_eq!(host.answers(), []);
    // Nor does it disturb a message being received.
    let reports: Vec<_> = Packetizer::new(a, Command::PING, &[3; 100], host.size)
        .unwrap()
        .collect();
    host.send_raw(&reports[0]);
    host.send(a, Command::CANCEL, &[]);
    host.send_raw(&reports[1]);
    assert_eq!(host.answers()[0].payload, [3; 100]);
}

#[test]
fn the_output_queue_is_bounded_and_drops_whole_answers() {
    let mut host = Host::new(Config::default());
    let cid = host.open();
    let big = vec![1; 7609];
    for _ in 0..20 {
        host.send(cid, Command::PING, &big);
    }
    assert!(host.device.queued_reports() <= 1024);
    assert!(host.device.stats().dropped_messages >= 12);
    let answers = host.answers();
    assert_eq!(answers.len(), 1024 / 129);
    assert!(answers.iter().all(|a| a.payload == big));
}

#[test]
fn channel_ids_are_reproducible_from_the_seed() {
    let ids = |seed| {
        let mut host = Host::new(Config::default().with_channel_seed(seed));
        (0..4).map(|_| host.open()).collect::<Vec<_>>()
    };
    assert_eq!(ids(42), ids(42));
    assert_ne!(ids(42), ids(43));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A hostile host: arbitrary reports (random lengths, allocated, broadcast and
    /// random channels, random commands) and random time steps never panic the device,
    /// and its queue stays bounded.
    #[test]
    fn arbitrary_reports_never_panic(
        steps in proptest::collection::vec(
            (0_u8..4, proptest::collection::vec(any::<u8>(), 0..70), 0_u64..300),
            1..200
        )
    ) {
        let mut host = Host::new(Config::default().with_touch(TouchPolicy::Approve { after: Duration::from_millis(150) }));
        let cid = host.open();
        for (channel, mut report, ms) in steps {
            let target = match channel {
                0 => Some(cid),
                1 => Some(ChannelId::BROADCAST),
                2 => Some(ChannelId::RESERVED),
                _ => None,
            };
            if let (Some(target), true) = (target, report.len() >= 4) {
                report[..4].copy_from_slice(&target.to_be_bytes());
            }
            host.send_raw(&report);
            host.advance(ms);
            prop_assert!(host.device.queued_reports() <= 1024);
            while host.device.poll_report().is_some() {}
        }
    }
}

#[test]
fn eight_byte_reports_resynchronise_a_waiting_channel_over_several_packets() {
    let config = Config::default()
        .with_report_size(ReportSize::MIN)
        .with_touch(TouchPolicy::Never);
    let mut host = Host::new(config);
    let cid = host.open();
    host.send(cid, Command::CBOR, &cbor(SELECTION));
    assert_eq!(host.answers(), [Answer::keepalive(cid)]);
    // INIT's 8-byte nonce takes an init packet (1 byte) and a continuation (3 bytes)
    // and more at this size: the continuations must get through the busy check.
    let answer = host.call(cid, Command::INIT, &[4; 8]);
    assert_eq!((answer.cid, answer.command), (cid, Command::INIT));
    assert_eq!(host.device.waiting_for_touch(), None);
}
