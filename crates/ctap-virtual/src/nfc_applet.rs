//! The FIDO applet of a smart card (CTAP 2.1 §11.3 "NFC"), in front of the software
//! authenticator: a transport adapter, not a second authenticator.
//!
//! The applet is a CTAPHID host of the [`VirtualAuthenticator`] on a channel of its
//! own, exactly as a USB client would be: NFCCTAP_MSG becomes a CTAPHID_CBOR call,
//! a U2F APDU becomes a CTAPHID_MSG call, the KEEPALIVEs of a touch-wait become 9100
//! answers that the reader polls with NFCCTAP_GETRESPONSE, and the cancelling poll
//! (P1 = 0x11) becomes CTAPHID_CANCEL. Every command the authenticator supports
//! therefore works over NFC without the applet knowing it.
//!
//! It is sans-IO: [`NfcApplet::process`] takes one command APDU and returns the response
//! APDU; the vpcd driver ([`VpcdCard`](crate::VpcdCard)) or a test moves the bytes.
//!
//! One answer is the applet's own: authenticatorGetInfo's `transports` (0x09) says
//! `["nfc"]`, the transport the host reached the key by (over CTAPHID the same
//! authenticator says `["usb"]`); the rest of getInfo is the authenticator's.

use std::fmt;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use ctap_device::apdu::{
    CLA_CHAINING, CLA_NFCCTAP, CommandApdu, FIDO_AID, INS_GET_RESPONSE, INS_NFCCTAP_GETRESPONSE,
    INS_NFCCTAP_MSG, INS_SELECT, P1_CANCEL, P1_GETRESPONSE_SUPPORTED, StatusWord,
};
use ctap_device::{CallOptions, CancelToken, CtapDevice, CtapHidDevice, Error};
use ctap_types::{Command, KeepaliveStatus};
use ctap2_proto::cbor::Value;

use crate::{Transport, VirtualAuthenticator, VirtualConnection};

/// What the applet answers to SELECT: it speaks U2F (MSG) and CTAP2.
pub const SELECT_ANSWER: &[u8] = b"U2F_V2";

/// The longest command the applet collects from chained parts (CTAP's longest HID
/// message is 7609 bytes; extended APDUs carry up to 65535).
const MAX_COMMAND: usize = 65_535;

/// How the applet answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppletConfig {
    /// How long a CTAP request may run before the applet answers 9100 (with the
    /// keep-alive status) instead of its result; the reader then polls.
    pub answer_wait: Duration,
    /// The most data bytes one short response APDU carries; the rest waits for GET
    /// RESPONSE (SW 61XX). 256 is the short APDU's maximum; a card with a small I/O
    /// buffer sends less, which is also legal, and tests use that to exercise GET
    /// RESPONSE with short answers.
    pub response_chunk: usize,
}

impl Default for AppletConfig {
    fn default() -> Self {
        Self {
            answer_wait: Duration::from_millis(50),
            response_chunk: 256,
        }
    }
}

/// A CTAP call in flight on the worker thread.
struct Pending {
    events: Receiver<WorkerEvent>,
    cancel: CancelToken,
    status: KeepaliveStatus,
}

enum WorkerEvent {
    Keepalive(KeepaliveStatus),
    Done(
        Box<CtapHidDevice<VirtualConnection>>,
        Result<Vec<u8>, Error>,
    ),
}

/// The FIDO applet of a virtual card, driving a [`VirtualAuthenticator`].
pub struct NfcApplet {
    authenticator: VirtualAuthenticator,
    config: AppletConfig,
    /// Our CTAPHID host of the authenticator; `None` while a call has it (or before
    /// the first call).
    device: Option<Box<CtapHidDevice<VirtualConnection>>>,
    pending: Option<Pending>,
    selected: bool,
    /// The header (CLA without the chaining bit, INS, P1, P2) and data of a chained
    /// command so far.
    chain: Option<([u8; 4], Vec<u8>)>,
    /// Answer bytes not yet fetched with GET RESPONSE, and the status word that comes
    /// with the last of them.
    outgoing: Vec<u8>,
    outgoing_sw: StatusWord,
    /// The running CBOR call is authenticatorGetInfo (its answer gets `transports`).
    get_info: bool,
}

impl NfcApplet {
    /// An applet in front of `authenticator`, with the default [`AppletConfig`].
    #[must_use]
    pub fn new(authenticator: VirtualAuthenticator) -> Self {
        Self::with_config(authenticator, AppletConfig::default())
    }

    /// An applet in front of `authenticator`.
    #[must_use]
    pub fn with_config(authenticator: VirtualAuthenticator, config: AppletConfig) -> Self {
        Self {
            authenticator,
            config,
            device: None,
            pending: None,
            selected: false,
            chain: None,
            outgoing: Vec::new(),
            outgoing_sw: StatusWord::SUCCESS,
            get_info: false,
        }
    }

    /// The card lost power or was reset: a running request is cancelled, the applet
    /// is no longer selected.
    pub fn reset(&mut self) {
        self.abandon();
        self.selected = false;
        self.chain = None;
        self.outgoing.clear();
    }

    /// The card lost power: the reader switched its field off or the card left it (the
    /// vpcd power-off control byte; `SCardDisconnect` with `SCARD_UNPOWER_CARD`). As
    /// [`reset`](Self::reset), and the authenticator behind the applet is power cycled
    /// as an NFC key is when it leaves the field
    /// ([`VirtualAuthenticator::power_cycle`]: tokens, key agreement key and the
    /// three-wrong-PINs block gone, the reset window starts again; other hosts of the
    /// same authenticator are disconnected, as they would be from one physical key).
    pub fn power_off(&mut self) {
        self.reset();
        // Our CTAPHID host of the authenticator goes with the power.
        self.device = None;
        self.authenticator.power_cycle();
    }

    /// Answers one command APDU with its response APDU (data, then SW1 SW2).
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let Some(command) = CommandApdu::parse(apdu) else {
            return status(StatusWord::WRONG_LENGTH);
        };
        // ISO 7816-4 §5.1.1.1: parts with the chaining bit are collected, the part
        // without it completes the command.
        if command.cla & CLA_CHAINING != 0 {
            let header = [
                command.cla & !CLA_CHAINING,
                command.ins,
                command.p1,
                command.p2,
            ];
            let (_, data) = self.chain.get_or_insert_with(|| (header, Vec::new()));
            if data.len() + command.data.len() > MAX_COMMAND {
                self.chain = None;
                return status(StatusWord::WRONG_LENGTH);
            }
            data.extend_from_slice(command.data);
            return status(StatusWord::SUCCESS);
        }
        let chained;
        let data = match self.chain.take() {
            Some((header, mut data))
                if header == [command.cla, command.ins, command.p1, command.p2] =>
            {
                data.extend_from_slice(command.data);
                chained = data;
                chained.as_slice()
            }
            Some(_) => return status(StatusWord::CONDITIONS_NOT_SATISFIED),
            None => command.data,
        };
        let le = command.le.unwrap_or(0);
        match (command.cla, command.ins) {
            (0x00, INS_SELECT) if command.p1 == 0x04 => {
                self.reset();
                if data == FIDO_AID {
                    self.selected = true;
                    self.answer(SELECT_ANSWER.to_vec(), le, command.extended)
                } else {
                    status(StatusWord::NOT_FOUND)
                }
            }
            (0x00, INS_GET_RESPONSE) => {
                if self.outgoing.is_empty() {
                    return status(StatusWord::CONDITIONS_NOT_SATISFIED);
                }
                let rest = std::mem::take(&mut self.outgoing);
                let sw = self.outgoing_sw;
                self.answer_sw(rest, le, false, sw)
            }
            _ if !self.selected => status(StatusWord::CONDITIONS_NOT_SATISFIED),
            (CLA_NFCCTAP, INS_NFCCTAP_MSG) => {
                self.abandon();
                self.get_info = data.first() == Some(&GET_INFO);
                self.start(Command::CBOR, data.to_vec());
                let wait = if command.p1 & P1_GETRESPONSE_SUPPORTED != 0 {
                    self.config.answer_wait
                } else {
                    // A reader that does not poll gets the result, however long.
                    Duration::MAX
                };
                self.poll(wait, le, command.extended)
            }
            (CLA_NFCCTAP, INS_NFCCTAP_GETRESPONSE) => {
                let Some(pending) = self.pending.as_ref() else {
                    return status(StatusWord::CONDITIONS_NOT_SATISFIED);
                };
                if command.p1 == P1_CANCEL {
                    pending.cancel.cancel();
                }
                self.poll(self.config.answer_wait, le, command.extended)
            }
            (CLA_NFCCTAP, _) => status(StatusWord::INS_NOT_SUPPORTED),
            (0x00, _) => self.u2f(&command, data, le),
            _ => status(StatusWord::CLA_NOT_SUPPORTED),
        }
    }

    /// A U2F APDU, sent as CTAPHID_MSG in the extended form U2F over HID uses.
    fn u2f(&mut self, command: &CommandApdu<'_>, data: &[u8], le: usize) -> Vec<u8> {
        let mut apdu = vec![command.cla, command.ins, command.p1, command.p2, 0x00];
        if let Ok(lc) = u16::try_from(data.len()) {
            if lc > 0 {
                apdu.extend_from_slice(&lc.to_be_bytes());
                apdu.extend_from_slice(data);
            }
        }
        apdu.extend_from_slice(&[0x00, 0x00]);
        self.abandon();
        self.start(Command::MSG, apdu);
        match self.wait(Duration::MAX) {
            Some(Ok(mut answer)) if answer.len() >= 2 => {
                let tail = answer.len() - 2;
                let sw = match answer.get(tail..) {
                    Some([sw1, sw2]) => StatusWord::new(*sw1, *sw2),
                    _ => StatusWord::UNKNOWN,
                };
                answer.truncate(tail);
                self.answer_sw(answer, le, command.extended, sw)
            }
            Some(Ok(_)) => status(StatusWord::UNKNOWN),
            Some(Err(error)) => {
                log::debug!("U2F call failed: {error}");
                status(StatusWord::UNKNOWN)
            }
            None => status(StatusWord::UNKNOWN),
        }
    }

    /// Waits for the running CBOR call at most `wait`: its result, or 9100 with the
    /// keep-alive status.
    fn poll(&mut self, wait: Duration, le: usize, extended: bool) -> Vec<u8> {
        match self.wait(wait) {
            Some(Ok(answer)) if self.get_info => {
                self.get_info = false;
                self.answer(over_nfc(answer), le, extended)
            }
            Some(Ok(answer)) => self.answer(answer, le, extended),
            // A CTAPHID ERROR is a CTAP status over NFC (python-fido2 reads it so too).
            Some(Err(Error::Hid(code))) => self.answer(vec![code.to_u8()], le, extended),
            Some(Err(error)) => {
                log::debug!("CBOR call failed: {error}");
                status(StatusWord::UNKNOWN)
            }
            None => match self.pending.as_ref() {
                Some(pending) => {
                    let mut answer = vec![pending.status.to_u8()];
                    answer.extend_from_slice(&StatusWord::UPDATE.to_bytes());
                    answer
                }
                None => status(StatusWord::CONDITIONS_NOT_SATISFIED),
            },
        }
    }

    /// Starts `command` on the worker thread.
    fn start(&mut self, command: Command, data: Vec<u8>) {
        let (sender, events) = mpsc::channel();
        let cancel = CancelToken::new();
        let device = self.device.take();
        let authenticator = self.authenticator.clone();
        let token = cancel.clone();
        let spawned = thread::Builder::new()
            .name("nfc-applet-call".to_owned())
            .spawn(move || {
                let mut device = match device {
                    Some(device) => device,
                    None => match authenticator.open_device() {
                        Ok(device) => Box::new(device),
                        Err(error) => {
                            log::warn!("cannot open the authenticator: {error}");
                            return;
                        }
                    },
                };
                // Our channel is an NFC host's: its tokens get NFC's initial usage time
                // limit (CTAP 2.1 §6.5.2.1: 19.8 s). Marked before every call, since
                // the device may have moved to a new channel after a failure.
                let channel = device.channel_id();
                authenticator
                    .with_device(|core| core.set_channel_transport(channel, Transport::Nfc));
                let keepalives = sender.clone();
                let mut on_keepalive = move |status: KeepaliveStatus| {
                    let _ = keepalives.send(WorkerEvent::Keepalive(status));
                };
                let options = CallOptions::default()
                    .with_cancel(token)
                    .with_on_keepalive(&mut on_keepalive);
                let result = device.call_with(command, &data, options);
                let _ = sender.send(WorkerEvent::Done(device, result));
            });
        if let Err(error) = spawned {
            log::warn!("cannot start a call: {error}");
            return;
        }
        self.pending = Some(Pending {
            events,
            cancel,
            status: KeepaliveStatus::PROCESSING,
        });
    }

    /// Waits for the pending call at most `wait`; `None` if it is still running (or
    /// there is none).
    fn wait(&mut self, wait: Duration) -> Option<Result<Vec<u8>, Error>> {
        let pending = self.pending.as_mut()?;
        let end = Instant::now().checked_add(wait);
        loop {
            let event = match end {
                Some(end) => {
                    let left = end.saturating_duration_since(Instant::now());
                    match pending.events.recv_timeout(left) {
                        Ok(event) => event,
                        Err(RecvTimeoutError::Timeout) => return None,
                        Err(RecvTimeoutError::Disconnected) => {
                            self.pending = None;
                            return Some(Err(Error::Disconnected));
                        }
                    }
                }
                None => match pending.events.recv() {
                    Ok(event) => event,
                    Err(_) => {
                        self.pending = None;
                        return Some(Err(Error::Disconnected));
                    }
                },
            };
            match event {
                WorkerEvent::Keepalive(status) => pending.status = status,
                WorkerEvent::Done(device, result) => {
                    self.device = Some(device);
                    self.pending = None;
                    return Some(result);
                }
            }
        }
    }

    /// Cancels a running call and waits for it to end, so the next one has the
    /// authenticator to itself.
    fn abandon(&mut self) {
        if let Some(pending) = self.pending.as_ref() {
            pending.cancel.cancel();
            let _ = self.wait(Duration::from_secs(2));
            self.pending = None;
        }
    }

    /// `data` with 9000, or its first part with 61XX and the rest kept for GET
    /// RESPONSE.
    fn answer(&mut self, data: Vec<u8>, le: usize, extended: bool) -> Vec<u8> {
        self.answer_sw(data, le, extended, StatusWord::SUCCESS)
    }

    fn answer_sw(
        &mut self,
        mut data: Vec<u8>,
        le: usize,
        extended: bool,
        sw: StatusWord,
    ) -> Vec<u8> {
        let limit = if extended {
            65_536
        } else {
            let le = if le == 0 { 256 } else { le };
            le.min(self.config.response_chunk.clamp(1, 256))
        };
        if data.len() > limit {
            self.outgoing = data.split_off(limit);
            let left = self.outgoing.len();
            // 61XX: XX more bytes, 00 for 256 or more.
            let xx = u8::try_from(left).unwrap_or(0);
            data.extend_from_slice(&StatusWord::new(0x61, xx).to_bytes());
            // The final status word comes with the last part.
            self.outgoing_sw = sw;
            return data;
        }
        data.extend_from_slice(&sw.to_bytes());
        data
    }
}

impl fmt::Debug for NfcApplet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NfcApplet")
            .field("config", &self.config)
            .field("selected", &self.selected)
            .field("pending", &self.pending.is_some())
            .field("outgoing", &self.outgoing.len())
            .finish_non_exhaustive()
    }
}

impl Drop for NfcApplet {
    fn drop(&mut self) {
        self.abandon();
    }
}

fn status(sw: StatusWord) -> Vec<u8> {
    sw.to_bytes().to_vec()
}

/// The authenticatorGetInfo command byte.
const GET_INFO: u8 = 0x04;

/// getInfo's `transports` member (CTAP 2.1 §6.4).
const TRANSPORTS: i128 = 0x09;

/// A successful authenticatorGetInfo answer with `transports` set to `["nfc"]`: the
/// authenticator behind the applet answers as the USB key it is served as, and a host
/// that reached it over NFC must read the transport it used. Anything else (an error
/// status, an answer that does not decode) passes unchanged.
fn over_nfc(answer: Vec<u8>) -> Vec<u8> {
    let Some((&0, body)) = answer.split_first() else {
        return answer;
    };
    let Ok(Value::Map(mut members)) = Value::from_slice(body) else {
        return answer;
    };
    let nfc = Value::Array(vec![Value::text("nfc")]);
    match members
        .iter_mut()
        .find(|(key, _)| *key == Value::Int(TRANSPORTS))
    {
        Some((_, value)) => *value = nfc,
        None => members.push((Value::Int(TRANSPORTS), nfc)),
    }
    let mut rewritten = vec![0];
    // The encoder sorts the members: the answer stays canonical.
    Value::Map(members).encode_into(&mut rewritten);
    rewritten
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ctap_device::apdu::{ApduConfig, AppletVersion, CtapApduDevice};
    use ctap_device::{ApduConnection, CallOptions, CancelToken, CtapDevice, Error};
    use ctap_types::{Capabilities, Command, KeepaliveStatus, StatusCode};

    use super::*;
    use crate::{Config, TouchPolicy};

    /// The applet as a card in a reader, in process.
    #[derive(Debug)]
    struct AppletCard(NfcApplet);

    impl ApduConnection for AppletCard {
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Error> {
            Ok(self.0.process(command))
        }
        fn close(&mut self) {
            self.0.reset();
        }
    }

    fn authenticator(touch: TouchPolicy) -> VirtualAuthenticator {
        VirtualAuthenticator::new(Config::default().with_touch(touch))
    }

    fn card(
        authenticator: &VirtualAuthenticator,
        applet: AppletConfig,
        host: ApduConfig,
    ) -> CtapApduDevice<AppletCard> {
        let applet = NfcApplet::with_config(authenticator.clone(), applet);
        CtapApduDevice::with_config(AppletCard(applet), host).unwrap()
    }

    fn host() -> ApduConfig {
        ApduConfig::default().with_poll_interval(Duration::from_millis(5))
    }

    /// What the same request answers over CTAPHID.
    fn over_hid(authenticator: &VirtualAuthenticator, request: &[u8]) -> Vec<u8> {
        let mut device = authenticator.open_device().unwrap();
        device.call(Command::CBOR, request).unwrap()
    }

    #[test]
    fn select_and_get_info_as_over_hid() {
        let authenticator = authenticator(TouchPolicy::IMMEDIATE);
        let mut device = card(&authenticator, AppletConfig::default(), host());
        assert_eq!(device.applet_version(), &AppletVersion::U2fV2);
        assert_eq!(device.capabilities(), Capabilities::CBOR);
        let info = device.call(Command::CBOR, &[0x04]).unwrap();
        assert_eq!(info.first(), Some(&0x00));
        // Everything as over CTAPHID but the transport the host came by.
        assert_eq!(info, over_nfc(over_hid(&authenticator, &[0x04])));
    }

    /// CTAP 2.1 §6.5.2.1: a token's initial usage time limit follows "the transport the
    /// platform is using"; the applet's channel is marked NFC (19.8 s), a CTAPHID
    /// host's stays USB (30 s). The limits themselves are tested in
    /// tests/token_state.rs.
    #[test]
    fn the_applet_marks_its_channel_as_nfc() {
        let authenticator = authenticator(TouchPolicy::IMMEDIATE);
        let mut applet = NfcApplet::new(authenticator.clone());
        let select = [
            &[0x00, INS_SELECT, 0x04, 0x00, 0x08][..],
            &FIDO_AID,
            &[0x00],
        ]
        .concat();
        assert_eq!(
            applet.process(&select),
            [SELECT_ANSWER, &[0x90, 0x00]].concat()
        );
        // NFCCTAP_MSG, authenticatorGetInfo, no GET RESPONSE polling.
        let answer = applet.process(&[CLA_NFCCTAP, INS_NFCCTAP_MSG, 0x00, 0x00, 0x01, 0x04, 0x00]);
        assert_eq!(answer.first(), Some(&0x00), "{answer:?}");
        let channel = applet
            .device
            .as_ref()
            .expect("the applet's host")
            .channel_id();
        assert_eq!(
            authenticator.with_device(|core| core.channel_transport(channel)),
            Transport::Nfc
        );
        let hid = authenticator.open_device().unwrap();
        assert_eq!(
            authenticator.with_device(|core| core.channel_transport(hid.channel_id())),
            Transport::Usb
        );
    }

    #[test]
    fn get_info_says_nfc_over_the_applet_and_usb_over_hid() {
        use ctap2_proto::{CborMessage as _, Info};
        let authenticator = authenticator(TouchPolicy::IMMEDIATE);
        let mut device = card(&authenticator, AppletConfig::default(), host());
        let over_card = device.call(Command::CBOR, &[0x04]).unwrap();
        let info = Info::from_cbor(&over_card[1..]).expect("canonical getInfo");
        assert_eq!(info.transports, ["nfc"]);
        let info = Info::from_cbor(&over_hid(&authenticator, &[0x04])[1..]).unwrap();
        assert_eq!(info.transports, ["usb"]);
        // Only getInfo is rewritten: another answer (a PIN retries count) passes as it
        // came, and a getInfo after it says nfc again.
        let retries = device
            .call(Command::CBOR, &[0x06, 0xA2, 0x01, 0x01, 0x02, 0x01])
            .unwrap();
        assert_eq!(
            retries,
            over_hid(&authenticator, &[0x06, 0xA2, 0x01, 0x01, 0x02, 0x01])
        );
        assert_eq!(device.call(Command::CBOR, &[0x04]).unwrap(), over_card);
        // An error status and an answer that is not a map are not touched.
        assert_eq!(over_nfc(vec![0x01]), [0x01]);
        assert_eq!(over_nfc(vec![0x00, 0x80]), [0x00, 0x80]);
        assert_eq!(over_nfc(Vec::new()), Vec::<u8>::new());
    }

    #[test]
    fn small_response_chunks_come_through_get_response() {
        let authenticator = authenticator(TouchPolicy::IMMEDIATE);
        let applet = AppletConfig {
            response_chunk: 16,
            ..AppletConfig::default()
        };
        let mut device = card(&authenticator, applet, host());
        let info = device.call(Command::CBOR, &[0x04]).unwrap();
        assert!(info.len() > 3 * 16, "getInfo is {} bytes", info.len());
        assert_eq!(info, over_nfc(over_hid(&authenticator, &[0x04])));
    }

    #[test]
    fn chained_and_extended_requests_reach_the_authenticator_whole() {
        let authenticator = authenticator(TouchPolicy::IMMEDIATE);
        // getInfo with 700 bytes of parameters (ignored by this authenticator): the
        // command byte is in the first chained part, so an applet that lost or
        // reordered parts would make it answer INVALID_COMMAND (0x01) instead.
        let mut request = vec![0x04];
        request.extend(std::iter::repeat_n(0xA5, 700));
        let expected = over_nfc(over_hid(&authenticator, &request));
        assert_eq!(expected.first(), Some(&0x00));
        let mut short = card(&authenticator, AppletConfig::default(), host());
        assert_eq!(short.call(Command::CBOR, &request).unwrap(), expected);
        let mut extended = card(
            &authenticator,
            AppletConfig::default(),
            host().with_extended_length(ctap_device::ExtendedLength::Always),
        );
        assert_eq!(extended.call(Command::CBOR, &request).unwrap(), expected);
        assert_eq!(
            extended.call(Command::CBOR, &[0x04]).unwrap(),
            over_nfc(over_hid(&authenticator, &[0x04]))
        );
    }

    #[test]
    fn touch_wait_polls_with_keepalives_until_the_touch() {
        let authenticator = authenticator(TouchPolicy::Never);
        let mut device = card(&authenticator, AppletConfig::default(), host());
        let user = authenticator.clone();
        let mut seen = Vec::new();
        let mut on_keepalive = |status: KeepaliveStatus| {
            seen.push(status);
            if status == KeepaliveStatus::UPNEEDED {
                // The user touches the key once it blinks.
                user.touch();
            }
        };
        let answer = device
            .call_with(
                Command::CBOR,
                &[0x0B],
                CallOptions::default().with_on_keepalive(&mut on_keepalive),
            )
            .unwrap();
        assert_eq!(answer, [0x00]);
        assert!(seen.contains(&KeepaliveStatus::UPNEEDED), "{seen:?}");
    }

    #[test]
    fn cancel_during_touch_wait_answers_keepalive_cancel() {
        let authenticator = authenticator(TouchPolicy::Never);
        let mut device = card(&authenticator, AppletConfig::default(), host());
        let token = CancelToken::new();
        let remote = token.clone();
        let mut on_keepalive = |status: KeepaliveStatus| {
            if status == KeepaliveStatus::UPNEEDED {
                remote.cancel();
            }
        };
        let answer = device
            .call_with(
                Command::CBOR,
                &[0x0B],
                CallOptions::default()
                    .with_cancel(token)
                    .with_on_keepalive(&mut on_keepalive),
            )
            .unwrap();
        assert_eq!(answer, [StatusCode::KEEPALIVE_CANCEL.to_u8()]);
        // The authenticator is free again.
        assert_eq!(
            device.call(Command::CBOR, &[0x04]).unwrap().first(),
            Some(&0)
        );
    }

    #[test]
    fn u2f_apdus_go_to_msg() {
        let authenticator = authenticator(TouchPolicy::IMMEDIATE);
        let mut device = card(&authenticator, AppletConfig::default(), host());
        // U2F_VERSION, extended form as over HID.
        let answer = device
            .call(Command::MSG, &[0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00])
            .unwrap();
        assert_eq!(answer, b"U2F_V2\x90\x00");
    }

    #[test]
    fn raw_apdus_are_checked() {
        let authenticator = authenticator(TouchPolicy::IMMEDIATE);
        let mut applet = NfcApplet::new(authenticator);
        // Nothing before SELECT.
        assert_eq!(
            applet.process(&[0x80, 0x10, 0x80, 0x00, 0x01, 0x04, 0x00]),
            [0x69, 0x85]
        );
        // Another AID is not found.
        assert_eq!(
            applet.process(&[0x00, 0xA4, 0x04, 0x00, 0x02, 0xA0, 0x00, 0x00]),
            [0x6A, 0x82]
        );
        let mut select = vec![0x00, 0xA4, 0x04, 0x00, 0x08];
        select.extend_from_slice(&FIDO_AID);
        assert_eq!(applet.process(&select), b"U2F_V2\x90\x00");
        // Unknown NFCCTAP instruction, unknown class, broken lengths.
        assert_eq!(applet.process(&[0x80, 0x55, 0x00, 0x00]), [0x6D, 0x00]);
        assert_eq!(applet.process(&[0xA0, 0x10, 0x00, 0x00]), [0x6E, 0x00]);
        assert_eq!(applet.process(&[0x80, 0x10, 0x00]), [0x67, 0x00]);
        // GETRESPONSE and GET RESPONSE with nothing pending.
        assert_eq!(
            applet.process(&[0x80, 0x11, 0x00, 0x00, 0x00]),
            [0x69, 0x85]
        );
        assert_eq!(
            applet.process(&[0x00, 0xC0, 0x00, 0x00, 0x00]),
            [0x69, 0x85]
        );
        // A chain whose last part has another instruction is refused.
        assert_eq!(
            applet.process(&[0x90, 0x10, 0x80, 0x00, 0x01, 0x04]),
            [0x90, 0x00]
        );
        assert_eq!(
            applet.process(&[0x80, 0x11, 0x00, 0x00, 0x00]),
            [0x69, 0x85]
        );
        // A chain longer than any command is refused, and forgotten.
        let part = [&[0x90, 0x10, 0x80, 0x00, 0xFF][..], &[0u8; 255][..]].concat();
        let mut answers = (0..300).map(|_| applet.process(&part));
        assert!(answers.any(|sw| sw == [0x67, 0x00]));
        drop(answers);
        assert_eq!(
            applet.process(&[0x00, 0xC0, 0x00, 0x00, 0x00]),
            [0x69, 0x85]
        );
        // A chain longer than any command is refused, and forgotten.
        let part = [&[0x90, 0x10, 0x80, 0x00, 0xFF][..], &[0u8; 255][..]].concat();
        let refused = (0..300).any(|_| applet.process(&part) == [0x67, 0x00]);
        assert!(refused);
        assert_eq!(
            applet.process(&[0x00, 0xC0, 0x00, 0x00, 0x00]),
            [0x69, 0x85]
        );
        // A reader that does not poll (P1 without 0x80) gets the answer directly.
        // (getInfo is longer than one short answer: the rest comes with GET RESPONSE.)
        let mut answer = applet.process(&[0x80, 0x10, 0x00, 0x00, 0x01, 0x04, 0x00]);
        while let [.., 0x61, more] = answer[..] {
            answer.truncate(answer.len() - 2);
            answer.extend(applet.process(&[0x00, 0xC0, 0x00, 0x00, more]));
        }
        assert_eq!(answer.first(), Some(&0x00));
        assert_eq!(answer.get(answer.len() - 2..), Some(&[0x90, 0x00][..]));
    }

    #[test]
    fn vpcd_atr_is_well_formed() {
        let atr = crate::vpcd_atr();
        assert_eq!(atr.first(), Some(&0x3B));
        let count = usize::from(atr[1] & 0x0F);
        // TS T0 TD1 TD2, the historical bytes, TCK.
        assert_eq!(atr.len(), 4 + count + 1);
        assert_eq!(atr.iter().skip(1).fold(0, |acc, b| acc ^ b), 0, "TCK");
    }
}
