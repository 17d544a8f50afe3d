//! The APDU layer against a scripted card: every APDU the host sends is checked
//! against the script, byte for byte, and answered from it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ctap_types::{Capabilities, Command, KeepaliveStatus, StatusCode};

use super::*;
use crate::{CallOptions, CancelToken, CtapDevice, Error, ProtocolError};

/// One expected command and what the card does about it.
struct Step {
    expect: Vec<u8>,
    answer: Option<Vec<u8>>,
    /// Runs when the command arrives (e.g. cancels a token, as a user would).
    action: Option<Box<dyn FnMut()>>,
}

#[derive(Default)]
struct ScriptedCard {
    steps: VecDeque<Step>,
    closed: bool,
}

impl ScriptedCard {
    /// Expects `command`, answers `data` + `sw`.
    fn then(mut self, command: &[u8], data: &[u8], sw: u16) -> Self {
        let mut answer = data.to_vec();
        answer.extend_from_slice(&sw.to_be_bytes());
        self.steps.push_back(Step {
            expect: command.to_vec(),
            answer: Some(answer),
            action: None,
        });
        self
    }

    /// Expects `command`, then the card is gone.
    fn then_removed(mut self, command: &[u8]) -> Self {
        self.steps.push_back(Step {
            expect: command.to_vec(),
            answer: None,
            action: None,
        });
        self
    }

    /// Adds an action to the last step.
    fn doing(mut self, action: impl FnMut() + 'static) -> Self {
        if let Some(step) = self.steps.back_mut() {
            step.action = Some(Box::new(action));
        }
        self
    }

    /// The SELECT of the FIDO applet answered `FIDO_2_0`.
    fn selected_fido2() -> Self {
        Self::default().then(&select_apdu(), b"FIDO_2_0", 0x9000)
    }
}

impl std::fmt::Debug for ScriptedCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScriptedCard({} steps left)", self.steps.len())
    }
}

impl ApduConnection for ScriptedCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Error> {
        if self.closed {
            return Err(Error::Disconnected);
        }
        let Some(mut step) = self.steps.pop_front() else {
            panic!("unexpected APDU after the script: {command:02X?}");
        };
        assert_eq!(
            command,
            step.expect.as_slice(),
            "APDU differs from the script"
        );
        if let Some(action) = step.action.as_mut() {
            action();
        }
        step.answer.ok_or(Error::Disconnected)
    }
    fn close(&mut self) {
        self.closed = true;
    }
}

fn select_apdu() -> Vec<u8> {
    let mut apdu = vec![0x00, 0xA4, 0x04, 0x00, 0x08];
    apdu.extend_from_slice(&FIDO_AID);
    apdu.push(0x00);
    apdu
}

fn msg_apdu(data: &[u8]) -> Vec<u8> {
    let mut apdu = vec![0x80, 0x10, 0x80, 0x00, u8::try_from(data.len()).unwrap()];
    apdu.extend_from_slice(data);
    apdu.push(0x00);
    apdu
}

const POLL: [u8; 5] = [0x80, 0x11, 0x00, 0x00, 0x00];
const POLL_CANCEL: [u8; 5] = [0x80, 0x11, 0x11, 0x00, 0x00];

fn fast() -> ApduConfig {
    ApduConfig::default()
        .with_poll_interval(Duration::ZERO)
        .with_cancel_grace(Duration::from_secs(5))
}

fn open(card: ScriptedCard) -> CtapApduDevice<ScriptedCard> {
    CtapApduDevice::with_config(card, fast()).unwrap()
}

fn remaining(device: &CtapApduDevice<ScriptedCard>) -> usize {
    device.connection().map_or(0, |c| c.steps.len())
}

#[test]
fn select_fido2_gives_cbor_without_msg() {
    let device = open(ScriptedCard::selected_fido2());
    assert_eq!(
        device.capabilities(),
        Capabilities::CBOR | Capabilities::NMSG
    );
    assert_eq!(device.applet_version(), &AppletVersion::Fido2);
}

#[test]
fn select_u2f_v2_probes_get_info() {
    let card = ScriptedCard::default()
        .then(&select_apdu(), b"U2F_V2", 0x9000)
        .then(&msg_apdu(&[0x04]), &[0x00, 0xA0], 0x9000);
    let device = open(card);
    assert_eq!(device.capabilities(), Capabilities::CBOR);
    assert!(device.capabilities().supports_msg());
}

#[test]
fn select_u2f_only_card_has_no_cbor() {
    let card = ScriptedCard::default()
        .then(&select_apdu(), b"U2F_V2", 0x9000)
        .then(&msg_apdu(&[0x04]), &[], 0x6D00);
    let device = open(card);
    assert_eq!(device.capabilities(), Capabilities::NONE);
}

#[test]
fn select_without_fido_applet_is_a_card_status_error() {
    let card = ScriptedCard::default().then(&select_apdu(), &[], 0x6A82);
    let error = CtapApduDevice::with_config(card, fast()).unwrap_err();
    assert!(
        matches!(error, Error::CardStatus(StatusWord::NOT_FOUND)),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "the card answered status word 6A82 (application not found)"
    );
}

#[test]
fn long_request_is_chained_in_255_byte_parts() {
    let request: Vec<u8> = (0..600u16).map(|i| (i % 251) as u8).collect();
    let mut part1 = vec![0x90, 0x10, 0x80, 0x00, 0xFF];
    part1.extend_from_slice(&request[..255]);
    let mut part2 = vec![0x90, 0x10, 0x80, 0x00, 0xFF];
    part2.extend_from_slice(&request[255..510]);
    let mut last = vec![0x80, 0x10, 0x80, 0x00, 90];
    last.extend_from_slice(&request[510..]);
    last.push(0x00);
    let card = ScriptedCard::selected_fido2()
        .then(&part1, &[], 0x9000)
        .then(&part2, &[], 0x9000)
        .then(&last, &[0x00, 0x01], 0x9000);
    let mut device = open(card);
    assert_eq!(device.call(Command::CBOR, &request).unwrap(), [0x00, 0x01]);
    assert_eq!(remaining(&device), 0);
}

#[test]
fn chaining_stops_at_a_failed_part() {
    let request = vec![0xAB; 300];
    let mut part1 = vec![0x90, 0x10, 0x80, 0x00, 0xFF];
    part1.extend_from_slice(&request[..255]);
    let card = ScriptedCard::selected_fido2().then(&part1, &[], 0x6A80);
    let mut device = open(card);
    let error = device.call(Command::CBOR, &request).unwrap_err();
    assert!(
        matches!(error, Error::CardStatus(StatusWord(0x6A80))),
        "{error}"
    );
}

#[test]
fn long_answer_is_collected_with_get_response() {
    let answer: Vec<u8> = (0..700u16).map(|i| (i % 253) as u8).collect();
    let card = ScriptedCard::selected_fido2()
        .then(&msg_apdu(&[0x04]), &answer[..256], 0x6100)
        .then(&[0x00, 0xC0, 0x00, 0x00, 0x00], &answer[256..512], 0x61BC)
        .then(&[0x00, 0xC0, 0x00, 0x00, 0xBC], &answer[512..], 0x9000);
    let mut device = open(card);
    assert_eq!(device.call(Command::CBOR, &[0x04]).unwrap(), answer);
}

#[test]
fn endless_get_response_is_a_protocol_error() {
    let mut card = ScriptedCard::selected_fido2().then(&msg_apdu(&[0x04]), &[0; 256], 0x6100);
    for _ in 0..300 {
        card = card.then(&[0x00, 0xC0, 0x00, 0x00, 0x00], &[0; 256], 0x6100);
    }
    let mut device = open(card);
    let error = device.call(Command::CBOR, &[0x04]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Protocol(ProtocolError::ResponseTooLong { limit: 65536 })
        ),
        "{error}"
    );
}

#[test]
fn a_card_answering_61_00_with_nothing_for_ever_is_given_up_on() {
    // `61 00` ("256 more bytes", ISO 7816-4 §5.3.4) with no data, again and again: the
    // card makes no progress. Given up after MAX_EMPTY_GET_RESPONSES parts in a row,
    // whatever the deadline (none here).
    let mut card = ScriptedCard::selected_fido2().then(&msg_apdu(&[0x04]), &[], 0x6100);
    for _ in 0..50 {
        card = card.then(&[0x00, 0xC0, 0x00, 0x00, 0x00], &[], 0x6100);
    }
    let mut device = CtapApduDevice::with_config(card, fast().with_call_timeout(None)).unwrap();
    let error = device.call(Command::CBOR, &[0x04]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Protocol(ProtocolError::NoProgress {
                status: [0x61, 0x00],
                parts: MAX_EMPTY_GET_RESPONSES
            })
        ),
        "{error}"
    );
    assert!(error.to_string().contains("no progress"), "{error}");
    let sent = 50 - remaining(&device);
    assert_eq!(sent, MAX_EMPTY_GET_RESPONSES as usize, "GET RESPONSEs sent");

    // A part with data in between starts the count again: slow cards still work.
    let card = ScriptedCard::selected_fido2()
        .then(&msg_apdu(&[0x04]), &[], 0x6100)
        .then(&[0x00, 0xC0, 0x00, 0x00, 0x00], &[], 0x6100)
        .then(&[0x00, 0xC0, 0x00, 0x00, 0x00], &[], 0x6100)
        .then(&[0x00, 0xC0, 0x00, 0x00, 0x00], &[0x00, 0xA0], 0x6100)
        .then(&[0x00, 0xC0, 0x00, 0x00, 0x00], &[], 0x6100)
        .then(&[0x00, 0xC0, 0x00, 0x00, 0x00], &[], 0x9000);
    let mut device = open(card);
    assert_eq!(device.call(Command::CBOR, &[0x04]).unwrap(), [0x00, 0xA0]);
}

#[test]
fn get_response_stops_at_the_call_deadline() {
    // A card sending one byte per GET RESPONSE (progress, but slow) and a call whose
    // deadline has passed when the first answer comes: no GET RESPONSE goes out, the
    // call ends with its deadline (not after max_response / 1 transmits).
    let mut card = ScriptedCard::selected_fido2().then(&msg_apdu(&[0x04]), &[0x00], 0x6101);
    for _ in 0..50 {
        card = card.then(&[0x00, 0xC0, 0x00, 0x00, 0x01], &[0xA0], 0x6101);
    }
    let mut device = open(card);
    let error = device
        .call_with(
            Command::CBOR,
            &[0x04],
            CallOptions::default().with_timeout(Duration::ZERO),
        )
        .unwrap_err();
    assert!(
        matches!(error, Error::Timeout(crate::TimeoutKind::Deadline(d)) if d == Duration::ZERO),
        "{error}"
    );
    assert_eq!(remaining(&device), 50, "no GET RESPONSE after the deadline");

    // The same over MSG (U2F): its APDU exchange obeys the call's deadline too.
    let mut card = ScriptedCard::selected_fido2();
    let register = [0x00, 0x01, 0x00, 0x00, 0x00];
    card = card.then(&register, &[0x05], 0x6101);
    for _ in 0..10 {
        card = card.then(&[0x00, 0xC0, 0x00, 0x00, 0x01], &[0x05], 0x6101);
    }
    let mut device = open(card);
    let error = device
        .call_with(
            Command::MSG,
            &register,
            CallOptions::default().with_timeout(Duration::ZERO),
        )
        .unwrap_err();
    assert!(
        matches!(error, Error::Timeout(crate::TimeoutKind::Deadline(_))),
        "{error}"
    );
    assert_eq!(remaining(&device), 10);
}

#[test]
fn extended_length_sends_one_apdu_each_way() {
    let request = vec![0x42; 1000];
    let mut apdu = vec![0x80, 0x10, 0x80, 0x00, 0x00, 0x03, 0xE8];
    apdu.extend_from_slice(&request);
    apdu.extend_from_slice(&[0x00, 0x00]);
    let mut select = vec![0x00, 0xA4, 0x04, 0x00, 0x00, 0x00, 0x08];
    select.extend_from_slice(&FIDO_AID);
    select.extend_from_slice(&[0x00, 0x00]);
    let card = ScriptedCard::default()
        .then(&select, b"FIDO_2_0", 0x9000)
        .then(&apdu, &[0x00; 900], 0x9000)
        .then(&[0x80, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00], &[], 0x9000);
    let mut device =
        CtapApduDevice::with_config(card, fast().with_extended_length(ExtendedLength::Always))
            .unwrap();
    assert_eq!(device.call(Command::CBOR, &request).unwrap().len(), 900);
    // An empty command is case 2E: CLA INS P1 P2 00 00 00.
    assert_eq!(
        device.exchange(0x80, 0x11, 0x00, 0x00, &[]).unwrap(),
        (vec![], StatusWord::SUCCESS)
    );
}

#[test]
fn status_9100_is_polled_and_keepalives_reported_on_change() {
    let card = ScriptedCard::selected_fido2()
        .then(&msg_apdu(&[0x0B]), &[0x01], 0x9100)
        .then(&POLL, &[0x02], 0x9100)
        .then(&POLL, &[0x02], 0x9100)
        .then(&POLL, &[0x01], 0x9100)
        .then(&POLL, &[0x00], 0x9000);
    let mut device = open(card);
    let mut seen = Vec::new();
    let mut on_keepalive = |status: KeepaliveStatus| seen.push(status);
    let answer = device
        .call_with(
            Command::CBOR,
            &[0x0B],
            CallOptions::default().with_on_keepalive(&mut on_keepalive),
        )
        .unwrap();
    assert_eq!(answer, [0x00]);
    assert_eq!(
        seen,
        [
            KeepaliveStatus::PROCESSING,
            KeepaliveStatus::UPNEEDED,
            KeepaliveStatus::PROCESSING
        ]
    );
}

#[test]
fn cancel_between_polls_sends_the_cancelling_poll_and_returns_its_answer() {
    let token = CancelToken::new();
    let remote = token.clone();
    let card = ScriptedCard::selected_fido2()
        .then(&msg_apdu(&[0x0B]), &[0x02], 0x9100)
        .then(&POLL, &[0x02], 0x9100)
        // The user gives up while the card waits for a touch.
        .doing(move || remote.cancel())
        .then(&POLL_CANCEL, &[StatusCode::KEEPALIVE_CANCEL.to_u8()], 0x9000);
    let mut device = open(card);
    let answer = device
        .call_with(
            Command::CBOR,
            &[0x0B],
            CallOptions::default().with_cancel(token),
        )
        .unwrap();
    assert_eq!(answer, [0x2D]);
    assert_eq!(remaining(&device), 0);
}

#[test]
fn card_ignoring_cancel_ends_with_cancelled() {
    let token = CancelToken::new();
    token.cancel();
    let mut card = ScriptedCard::selected_fido2()
        .then(&msg_apdu(&[0x0B]), &[0x02], 0x9100)
        .then(&POLL_CANCEL, &[0x02], 0x9100);
    for _ in 0..1000 {
        card = card.then(&POLL, &[0x02], 0x9100);
    }
    let config = fast()
        .with_cancel_grace(Duration::ZERO)
        .with_poll_interval(Duration::ZERO);
    let mut device = CtapApduDevice::with_config(card, config).unwrap();
    let error = device
        .call_with(
            Command::CBOR,
            &[0x0B],
            CallOptions::default().with_cancel(token),
        )
        .unwrap_err();
    assert!(matches!(error, Error::Cancelled), "{error}");
    assert!(error.is_cancelled());
}

#[test]
fn no_deadline_and_huge_time_outs_never_overflow() {
    // `without_deadline()` is `Duration::MAX`: no `Instant` can hold it, so it means
    // "no deadline" (as over HID), not an overflow panic.
    for options in [
        CallOptions::default().without_deadline(),
        CallOptions::default().with_timeout(Duration::from_secs(u64::MAX / 2)),
    ] {
        let card = ScriptedCard::selected_fido2()
            .then(&msg_apdu(&[0x0B]), &[0x02], 0x9100)
            .then(&POLL, &[0x00], 0x9000);
        let mut device = open(card);
        let answer = device.call_with(Command::CBOR, &[0x0B], options).unwrap();
        assert_eq!(answer, [0x00]);
        assert_eq!(remaining(&device), 0);
    }
}

#[test]
fn deadline_cancels_and_is_a_timeout() {
    let card = ScriptedCard::selected_fido2()
        .then(&msg_apdu(&[0x0B]), &[0x02], 0x9100)
        .then(&POLL_CANCEL, &[0x2D], 0x9000);
    let mut device = open(card);
    let error = device
        .call_with(
            Command::CBOR,
            &[0x0B],
            CallOptions::default().with_timeout(Duration::ZERO),
        )
        .unwrap_err();
    assert!(
        matches!(error, Error::Timeout(crate::TimeoutKind::Deadline(d)) if d == Duration::ZERO),
        "{error}"
    );
}

#[test]
fn card_removed_mid_call_is_disconnected() {
    let card = ScriptedCard::selected_fido2()
        .then(&msg_apdu(&[0x0B]), &[0x02], 0x9100)
        .then_removed(&POLL);
    let mut device = open(card);
    let error = device.call(Command::CBOR, &[0x0B]).unwrap_err();
    assert!(matches!(error, Error::Disconnected), "{error}");
}

#[test]
fn error_status_word_and_broken_answers_are_errors() {
    let card = ScriptedCard::selected_fido2()
        .then(&msg_apdu(&[0x04]), &[], 0x6F00)
        .then(&msg_apdu(&[0x04]), &[], 0x9100)
        .then(&msg_apdu(&[0x04]), &[], 0x90);
    let mut device = open(card);
    let error = device.call(Command::CBOR, &[0x04]).unwrap_err();
    assert!(
        matches!(error, Error::CardStatus(StatusWord::UNKNOWN)),
        "{error}"
    );
    let error = device.call(Command::CBOR, &[0x04]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Protocol(ProtocolError::EmptyStatus(Command::KEEPALIVE))
        ),
        "{error}"
    );
    // An unknown status word is kept as it came.
    let error = device.call(Command::CBOR, &[0x04]).unwrap_err();
    assert!(
        matches!(error, Error::CardStatus(StatusWord(0x0090))),
        "{error}"
    );
    assert!(matches!(
        split_response(vec![0x90]),
        Err(Error::Protocol(ProtocolError::ShortResponse { got: 1 }))
    ));
}

#[test]
fn msg_sends_the_apdu_and_returns_data_and_status_word() {
    // A U2F VERSION command in extended form, as over HID; sent short.
    let card = ScriptedCard::default()
        .then(&select_apdu(), b"U2F_V2", 0x9000)
        .then(&msg_apdu(&[0x04]), &[], 0x6D00)
        .then(&[0x00, 0x03, 0x00, 0x00, 0x00], b"U2F_V2", 0x9000);
    let mut device = open(card);
    let answer = device
        .call(Command::MSG, &[0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00])
        .unwrap();
    assert_eq!(answer, b"U2F_V2\x90\x00");
    let error = device.call(Command::MSG, &[0x00, 0x03, 0x00]).unwrap_err();
    assert!(matches!(error, Error::InvalidArgument(_)), "{error}");
}

#[test]
fn other_commands_are_not_supported_over_pcsc() {
    let mut device = open(ScriptedCard::selected_fido2());
    for command in [Command::PING, Command::WINK, Command::LOCK, Command::INIT] {
        let error = device.call(command, &[]).unwrap_err();
        assert!(matches!(error, Error::NotSupported { .. }), "{error}");
        assert!(
            error.to_string().contains("not supported over PC/SC"),
            "{error}"
        );
        assert_eq!(
            error.ctap_error().map(|e| e.code),
            Some(StatusCode::INVALID_COMMAND)
        );
    }
}

#[test]
fn closed_device_is_disconnected() {
    let mut device = open(ScriptedCard::selected_fido2());
    device.close();
    assert!(matches!(
        device.call(Command::CBOR, &[0x04]),
        Err(Error::Disconnected)
    ));
}

#[test]
fn command_apdus_of_every_case_parse() {
    fn case(bytes: &[u8]) -> Option<CommandApdu<'_>> {
        CommandApdu::parse(bytes)
    }
    assert_eq!(case(&[0, 1, 2, 3]).unwrap().data, &[] as &[u8]);
    assert_eq!(case(&[0, 1, 2, 3, 0]).unwrap().le, Some(256));
    let c3 = case(&[0, 1, 2, 3, 2, 9, 9]).unwrap();
    assert_eq!((c3.data, c3.le), (&[9u8, 9][..], None));
    let c4 = case(&[0, 1, 2, 3, 1, 9, 0x10]).unwrap();
    assert_eq!((c4.data, c4.le), (&[9u8][..], Some(16)));
    assert_eq!(case(&[0, 1, 2, 3, 0, 0, 0]).unwrap().le, Some(65536));
    let e4 = case(&[0, 1, 2, 3, 0, 0, 1, 7, 0, 0]).unwrap();
    assert_eq!(
        (e4.data, e4.le, e4.extended),
        (&[7u8][..], Some(65536), true)
    );
    let e3 = case(&[0, 1, 2, 3, 0, 0, 2, 7, 7]).unwrap();
    assert_eq!((e3.data, e3.le), (&[7u8, 7][..], None));
    // Lengths that do not add up.
    for bad in [
        &[0u8, 1, 2][..],
        &[0, 1, 2, 3, 3, 9],
        &[0, 1, 2, 3, 1, 9, 1, 1],
        &[0, 1, 2, 3, 0, 0, 5, 1],
        &[0, 1, 2, 3, 0, 0, 0, 1],
    ] {
        assert_eq!(case(bad), None, "{bad:02X?}");
    }
}

#[test]
fn extended_length_auto_follows_the_atr() {
    struct WithAtr(ScriptedCard, Vec<u8>);
    impl ApduConnection for WithAtr {
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Error> {
            self.0.transmit(command)
        }
        fn close(&mut self) {}
        fn atr(&self) -> Option<&[u8]> {
            Some(&self.1)
        }
    }
    let mut select = vec![0x00, 0xA4, 0x04, 0x00, 0x00, 0x00, 0x08];
    select.extend_from_slice(&FIDO_AID);
    select.extend_from_slice(&[0x00, 0x00]);
    let auto = fast().with_extended_length(ExtendedLength::Auto);
    // Card capabilities 80 01 C0: extended Lc/Le announced.
    let extended = [0x3B, 0x85, 0x80, 0x01, 0x80, 0x73, 0x80, 0x01, 0xC0, 0xB6];
    let card = ScriptedCard::default().then(&select, b"FIDO_2_0", 0x9000);
    let device = CtapApduDevice::with_config(WithAtr(card, extended.to_vec()), auto.clone());
    assert!(device.unwrap().uses_extended_length());
    // Card capabilities 80 01 80: chaining only.
    let short = [0x3B, 0x85, 0x80, 0x01, 0x80, 0x73, 0x80, 0x01, 0x80, 0xF6];
    let card = ScriptedCard::selected_fido2();
    let device = CtapApduDevice::with_config(WithAtr(card, short.to_vec()), auto).unwrap();
    assert!(!device.uses_extended_length());
}

#[test]
fn atr_parsing_is_total() {
    // TA1 TB1 TC1 TD1 (-> TD2, T=1), TD2 (-> TA3 TB3), then 5 historical bytes
    // 80 73 00 00 40: every interface byte is skipped before the objects are read.
    let atr = [
        0x3B, 0xF5, 0x11, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x00, 0x80, 0x73, 0x00, 0x00, 0x40,
    ];
    assert!(atr_announces_extended_length(&atr));
    let atr = [0x3B, 0x84, 0x80, 0x01, 0x73, 0x00, 0x00, 0x40];
    assert!(!atr_announces_extended_length(&atr), "no category byte");
    let atr = [0x3B, 0x84, 0x80, 0x01, 0x80, 0x73, 0x00, 0x00];
    assert!(!atr_announces_extended_length(&atr), "object cut short");
    // Category 00 with the status indicator after the objects.
    let atr = [
        0x3B, 0x88, 0x80, 0x01, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x90, 0x00,
    ];
    assert!(atr_announces_extended_length(&atr));
    for len in 0..12 {
        let _ = atr_announces_extended_length(&atr[..len]);
    }
}

/// A card whose request 0x0B never finishes: it answers 9100 (UPNEEDED) to every poll,
/// the cancelling one included, until a new NFCCTAP_MSG starts another request. Any
/// other request is answered at once (status 00).
#[derive(Debug, Default)]
struct PendingForeverCard {
    stuck: bool,
    polls: usize,
}

impl ApduConnection for PendingForeverCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Error> {
        match command {
            [0x00, INS_SELECT, ..] => Ok(b"FIDO_2_0\x90\x00".to_vec()),
            [CLA_NFCCTAP, INS_NFCCTAP_MSG, _, _, 1, request, 0x00] => {
                self.stuck = *request == 0x0B;
                Ok(if self.stuck {
                    vec![0x02, 0x91, 0x00]
                } else {
                    vec![0x00, 0x90, 0x00]
                })
            }
            [CLA_NFCCTAP, INS_NFCCTAP_GETRESPONSE, ..] if self.stuck => {
                self.polls += 1;
                Ok(vec![0x02, 0x91, 0x00])
            }
            _ => Ok(vec![0x6D, 0x00]),
        }
    }
    fn close(&mut self) {}
}

/// Runs one call on another thread, so that a call that never ends fails the test
/// instead of hanging it; returns the device, the result and how long it took.
fn call_on_thread(
    mut device: CtapApduDevice<PendingForeverCard>,
    request: u8,
    timeout: Option<Duration>,
) -> (
    CtapApduDevice<PendingForeverCard>,
    Result<Vec<u8>, Error>,
    Duration,
) {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        let options = CallOptions {
            timeout,
            ..CallOptions::default()
        };
        let result = device.call_with(Command::CBOR, &[request], options);
        let _ = sender.send((device, result, start.elapsed()));
    });
    receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the call never ended: no deadline bounded a card answering 9100 forever")
}

#[test]
fn default_call_timeout_is_the_hid_default() {
    assert_eq!(
        ApduConfig::default().call_timeout,
        Some(crate::DEFAULT_CALL_TIMEOUT)
    );
    assert_eq!(
        ApduConfig::default().with_call_timeout(None).call_timeout,
        None
    );
}

#[test]
fn card_answering_9100_forever_ends_at_the_configured_call_timeout() {
    // CallOptions::timeout is None: the device's call_timeout bounds the call.
    let timeout = Duration::from_millis(300);
    let grace = Duration::from_millis(100);
    let config = ApduConfig::default()
        .with_poll_interval(Duration::from_millis(10))
        .with_cancel_grace(grace)
        .with_call_timeout(Some(timeout));
    let device = CtapApduDevice::with_config(PendingForeverCard::default(), config).unwrap();
    let (device, result, took) = call_on_thread(device, 0x0B, None);
    let error = result.unwrap_err();
    assert!(
        matches!(error, Error::Timeout(crate::TimeoutKind::Deadline(d)) if d == timeout),
        "{error}"
    );
    assert!(
        device.connection().unwrap().polls > 1,
        "the card was polled"
    );
    // Near the deadline: it ends after it (plus the cancel grace the card ignored),
    // with a generous margin for a loaded machine.
    assert!(took >= timeout + grace, "ended early: {took:?}");
    assert!(
        took < timeout + grace + Duration::from_secs(5),
        "ended late: {took:?}"
    );
    // The device still works: the next request is answered.
    let (_, result, _) = call_on_thread(device, 0x04, None);
    assert_eq!(result.unwrap(), [0x00]);
}

#[test]
fn call_options_timeout_overrides_the_configured_call_timeout() {
    let config = ApduConfig::default()
        .with_poll_interval(Duration::from_millis(10))
        .with_cancel_grace(Duration::ZERO)
        .with_call_timeout(Some(Duration::from_secs(3600)));
    let device = CtapApduDevice::with_config(PendingForeverCard::default(), config).unwrap();
    let timeout = Duration::from_millis(100);
    let (_, result, took) = call_on_thread(device, 0x0B, Some(timeout));
    let error = result.unwrap_err();
    assert!(
        matches!(error, Error::Timeout(crate::TimeoutKind::Deadline(d)) if d == timeout),
        "{error}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn no_configured_call_timeout_waits_for_the_card() {
    // call_timeout None is the opt-out: a slow card is polled until it answers.
    let mut card = ScriptedCard::selected_fido2().then(&msg_apdu(&[0x0B]), &[0x02], 0x9100);
    for _ in 0..20 {
        card = card.then(&POLL, &[0x02], 0x9100);
    }
    card = card.then(&POLL, &[0x00], 0x9000);
    let config = fast().with_call_timeout(None);
    let mut device = CtapApduDevice::with_config(card, config).unwrap();
    assert_eq!(device.call(Command::CBOR, &[0x0B]).unwrap(), [0x00]);
    assert_eq!(remaining(&device), 0);
}
