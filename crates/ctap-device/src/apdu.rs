//! CTAP over ISO 7816-4 APDUs: NFC keys and smart-card (CCID) keys, as python-fido2's
//! `fido2.pcsc.CtapPcscDevice` speaks to them.
//!
//! This module holds the whole protocol and no I/O: a [`CtapApduDevice`] runs over any
//! [`ApduConnection`] (one command APDU out, one response APDU back). The PC/SC
//! connection (feature `pcsc`) is one such connection; a scripted card in the tests is
//! another.
//!
//! ```text
//! SELECT       00 A4 04 00 08 A0 00 00 06 47 2F 00 01 00   -> "U2F_V2" | "FIDO_2_0", 9000
//! NFCCTAP_MSG  80 10 80 00 Lc <CBOR request> 00            -> answer 9000 | status 9100
//! GETRESPONSE  80 11 00 00 00      (P1 = 11: cancel)       -> answer 9000 | status 9100
//! chaining     90 10 80 00 FF <255 bytes> ...               -> 9000 (all but the last part)
//! GET RESPONSE 00 C0 00 00 XX                               <- after SW 61XX: XX more bytes
//! ```
//! (CTAP 2.1 §11.3 "NFC", ISO 7816-4 §5.1 and §7.1.)

use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

use ctap_types::{Capabilities, Command, KeepaliveStatus};

use crate::deadline::Deadline;
use crate::{CallOptions, CtapDevice, Error, TimeoutKind};

/// The FIDO applet's AID (CTAP 2.1 §11.3.3).
pub const FIDO_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01];

/// The CLA of the NFCCTAP commands.
pub const CLA_NFCCTAP: u8 = 0x80;
/// NFCCTAP_MSG: a CTAP2 (CBOR) request.
pub const INS_NFCCTAP_MSG: u8 = 0x10;
/// NFCCTAP_GETRESPONSE: polls a request that answered [`StatusWord::UPDATE`].
pub const INS_NFCCTAP_GETRESPONSE: u8 = 0x11;
/// NFCCTAP_MSG's P1 bit: the client polls with NFCCTAP_GETRESPONSE (so the card may
/// answer 9100 instead of blocking).
pub const P1_GETRESPONSE_SUPPORTED: u8 = 0x80;
/// NFCCTAP_GETRESPONSE's P1 that cancels the pending request.
pub const P1_CANCEL: u8 = 0x11;
/// GET RESPONSE parts in a row that bring no data while the card still says `61XX`
/// ("more data") after which [`CtapApduDevice`] gives up on the card
/// ([`ProtocolError::NoProgress`](crate::ProtocolError::NoProgress)): a card answering
/// `61 00` with nothing, for ever, would otherwise hold the call (65 million transmits in
/// 10 s were seen). ISO 7816-4 leaves the case open; a card that has data sends some.
pub const MAX_EMPTY_GET_RESPONSES: u32 = 3;

/// ISO 7816-4 GET RESPONSE.
pub const INS_GET_RESPONSE: u8 = 0xC0;
/// ISO 7816-4 SELECT.
pub const INS_SELECT: u8 = 0xA4;
/// The CLA bit of every part but the last of a chained command (ISO 7816-4 §5.1.1.1).
pub const CLA_CHAINING: u8 = 0x10;

/// An ISO 7816-4 status word (SW1 SW2), printed as four hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// `9000`: success.
    pub const SUCCESS: Self = Self(0x9000);
    /// `9100`: the CTAP request is still running; the data is a keep-alive status byte
    /// (CTAP 2.1 §11.3.6).
    pub const UPDATE: Self = Self(0x9100);
    /// `6A82`: file or application not found (a card without the FIDO applet).
    pub const NOT_FOUND: Self = Self(0x6A82);
    /// `6D00`: instruction not supported.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// `6E00`: class not supported.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);
    /// `6700`: wrong length.
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// `6985`: conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: Self = Self(0x6985);
    /// `6F00`: no precise diagnosis.
    pub const UNKNOWN: Self = Self(0x6F00);

    /// From SW1 and SW2.
    #[must_use]
    pub const fn new(sw1: u8, sw2: u8) -> Self {
        Self(u16::from_be_bytes([sw1, sw2]))
    }

    /// SW1.
    #[must_use]
    pub const fn sw1(self) -> u8 {
        self.0.to_be_bytes()[0]
    }

    /// SW2.
    #[must_use]
    pub const fn sw2(self) -> u8 {
        self.0.to_be_bytes()[1]
    }

    /// The two bytes, SW1 first.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// What the status word means, for the common ones.
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x9000 => "success",
            0x9100 => "CTAP request still running",
            0x6700 => "wrong length",
            0x6982 => "security status not satisfied",
            0x6985 => "conditions of use not satisfied",
            0x6A80 => "incorrect data",
            0x6A82 => "application not found",
            0x6A86 => "incorrect P1 or P2",
            0x6D00 => "instruction not supported",
            0x6E00 => "class not supported",
            0x6F00 => "no precise diagnosis",
            _ => return None,
        })
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{:04X} ({name})", self.0),
            None => write!(f, "{:04X}", self.0),
        }
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusWord({:04X})", self.0)
    }
}

/// One response APDU split into its data and status word.
///
/// # Errors
/// [`ProtocolError::ShortResponse`](crate::ProtocolError::ShortResponse) if it has
/// fewer than two bytes.
pub fn split_response(mut response: Vec<u8>) -> Result<(Vec<u8>, StatusWord), Error> {
    let len = response.len();
    let Some(tail) = len.checked_sub(2) else {
        return Err(crate::ProtocolError::ShortResponse { got: len }.into());
    };
    let sw = match response.get(tail..) {
        Some([sw1, sw2]) => StatusWord::new(*sw1, *sw2),
        _ => return Err(crate::ProtocolError::ShortResponse { got: len }.into()),
    };
    response.truncate(tail);
    Ok((response, sw))
}

/// The parts of a command APDU (short or extended form, ISO 7816-4 §5.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CommandApdu<'a> {
    /// CLA.
    pub cla: u8,
    /// INS.
    pub ins: u8,
    /// P1.
    pub p1: u8,
    /// P2.
    pub p2: u8,
    /// The command data (empty without Lc).
    pub data: &'a [u8],
    /// Le: how many answer bytes the sender expects (`None` without an Le field; 256
    /// or 65536 for a zero Le).
    pub le: Option<usize>,
    /// `true` if the extended form was used.
    pub extended: bool,
}

impl<'a> CommandApdu<'a> {
    /// Parses one command APDU of any of the seven forms (cases 1, 2S, 3S, 4S, 2E, 3E,
    /// 4E). `None` if its lengths do not add up.
    #[must_use]
    pub fn parse(apdu: &'a [u8]) -> Option<Self> {
        let (&[cla, ins, p1, p2], body) = apdu.split_first_chunk::<4>()?;
        let mut parsed = Self {
            cla,
            ins,
            p1,
            p2,
            data: &[],
            le: None,
            extended: false,
        };
        match body {
            // Case 1.
            [] => {}
            // Case 2S.
            [le] => parsed.le = Some(if *le == 0 { 256 } else { usize::from(*le) }),
            // Extended forms start with a zero byte and have at least three.
            [0, hi, lo, rest @ ..] => {
                parsed.extended = true;
                let n = usize::from(u16::from_be_bytes([*hi, *lo]));
                match rest {
                    // Case 2E.
                    [] => parsed.le = Some(if n == 0 { 65536 } else { n }),
                    _ => {
                        if n == 0 {
                            return None;
                        }
                        parsed.data = rest.get(..n)?;
                        match rest.get(n..)? {
                            // Case 3E.
                            [] => {}
                            // Case 4E.
                            [le_hi, le_lo] => {
                                let le = usize::from(u16::from_be_bytes([*le_hi, *le_lo]));
                                parsed.le = Some(if le == 0 { 65536 } else { le });
                            }
                            _ => return None,
                        }
                    }
                }
            }
            [lc, rest @ ..] => {
                let n = usize::from(*lc);
                parsed.data = rest.get(..n)?;
                match rest.get(n..)? {
                    // Case 3S.
                    [] => {}
                    // Case 4S.
                    [le] => parsed.le = Some(if *le == 0 { 256 } else { usize::from(*le) }),
                    _ => return None,
                }
            }
        }
        Some(parsed)
    }
}

/// One smart card to send APDUs to: the seam between [`CtapApduDevice`] and a PC/SC
/// reader (or a test double).
pub trait ApduConnection {
    /// Sends one command APDU and returns the whole response APDU (data, then SW1 SW2).
    ///
    /// # Errors
    /// [`Error::Disconnected`] if the card was removed or reset, [`Error::Io`] for
    /// other failures.
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Error>;

    /// Releases the card. Later transmits fail with [`Error::Disconnected`].
    fn close(&mut self);

    /// The card's ATR (or, for a contactless card, the ATR the reader made of its
    /// ATS), if known: [`ExtendedLength::Auto`] reads it.
    fn atr(&self) -> Option<&[u8]> {
        None
    }
}

impl<C: ApduConnection + ?Sized> ApduConnection for Box<C> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Error> {
        (**self).transmit(command)
    }
    fn atr(&self) -> Option<&[u8]> {
        (**self).atr()
    }
    fn close(&mut self) {
        (**self).close();
    }
}

/// Whether requests and answers go as extended-length APDUs (ISO 7816-4 §5.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExtendedLength {
    /// Short APDUs, with command chaining and GET RESPONSE: what every card and reader
    /// takes (python-fido2's default, `use_ext_apdu = False`).
    #[default]
    Never,
    /// One extended APDU per request and per answer.
    Always,
    /// Extended if the card's ATR announces "extended Lc and Le fields" in its card
    /// capabilities ([`atr_announces_extended_length`]), short otherwise.
    Auto,
}

/// How a [`CtapApduDevice`] talks to its card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApduConfig {
    /// Extended-length APDUs or short ones with chaining (default: short, as in
    /// python-fido2: every card and reader takes those, not all take extended ones).
    pub extended_length: ExtendedLength,
    /// The pause between NFCCTAP_GETRESPONSE polls while the card answers 9100
    /// (python-fido2: 100 ms). The cancel token is checked once per pause.
    pub poll_interval: Duration,
    /// How long a card may keep answering 9100 after a cancel before the call ends with
    /// [`Error::Cancelled`].
    pub cancel_grace: Duration,
    /// The longest answer accepted (GET RESPONSE parts are added up); a card that sends
    /// more breaks the protocol.
    pub max_response: usize,
    /// The overall deadline of every operation that has no time-out of its own: the
    /// getInfo probe when opening a `U2F_V2` applet, and each call whose
    /// [`CallOptions::timeout`] is `None`. Same default and meaning as
    /// [`DeviceConfig::call_timeout`](crate::DeviceConfig::call_timeout): 2 minutes
    /// ([`DEFAULT_CALL_TIMEOUT`](crate::DEFAULT_CALL_TIMEOUT)), so that a card answering
    /// 9100 forever cannot hold a call forever; [`CallOptions::timeout`] overrides it
    /// ([`CallOptions::without_deadline`] still means none); `None` is the explicit
    /// opt-in for "no deadline", and a time-out too long to add to the current time
    /// also means none (never an overflow). When it passes the card gets the cancelling
    /// poll and the call ends with [`TimeoutKind::Deadline`] (after at most
    /// [`cancel_grace`](Self::cancel_grace) more). A single transmit that blocks in the
    /// PC/SC service is not interrupted: the deadline is checked between APDUs.
    pub call_timeout: Option<Duration>,
}

impl Default for ApduConfig {
    fn default() -> Self {
        Self {
            extended_length: ExtendedLength::Never,
            poll_interval: Duration::from_millis(100),
            cancel_grace: Duration::from_millis(500),
            max_response: 1 << 16,
            call_timeout: Some(crate::DEFAULT_CALL_TIMEOUT),
        }
    }
}

impl ApduConfig {
    /// Sets [`extended_length`](Self::extended_length).
    #[must_use]
    pub const fn with_extended_length(mut self, value: ExtendedLength) -> Self {
        self.extended_length = value;
        self
    }

    /// Sets [`poll_interval`](Self::poll_interval).
    #[must_use]
    pub const fn with_poll_interval(mut self, value: Duration) -> Self {
        self.poll_interval = value;
        self
    }

    /// Sets [`cancel_grace`](Self::cancel_grace).
    #[must_use]
    pub const fn with_cancel_grace(mut self, value: Duration) -> Self {
        self.cancel_grace = value;
        self
    }

    /// Sets [`call_timeout`](Self::call_timeout) (`None`: no deadline).
    #[must_use]
    pub const fn with_call_timeout(mut self, value: Option<Duration>) -> Self {
        self.call_timeout = value;
        self
    }
}

/// What the FIDO applet's SELECT answered (CTAP 2.1 §11.3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppletVersion {
    /// `U2F_V2`: U2F (MSG) and perhaps CTAP2 (found by a getInfo probe).
    U2fV2,
    /// `FIDO_2_0`: CTAP2 only.
    Fido2,
    /// Anything else, kept.
    Other(Vec<u8>),
}

impl AppletVersion {
    /// From the SELECT answer's data.
    #[must_use]
    pub fn from_select(data: &[u8]) -> Self {
        match data {
            b"U2F_V2" => Self::U2fV2,
            b"FIDO_2_0" => Self::Fido2,
            other => Self::Other(other.to_vec()),
        }
    }
}

/// A CTAP device on a smart card (NFC or CCID): python-fido2's `CtapPcscDevice`, over
/// any [`ApduConnection`].
///
/// - [`Command::CBOR`] goes as NFCCTAP_MSG; while the card answers 9100 it is polled
///   with NFCCTAP_GETRESPONSE every [`ApduConfig::poll_interval`], each status byte goes
///   to [`CallOptions::on_keepalive`] (on change), a cancelled token or a passed
///   deadline sends the cancelling poll (P1 = 0x11).
/// - [`Command::MSG`] takes a U2F APDU (short or extended) and returns the card's
///   answer with its status word appended, as over HID.
/// - Every other CTAPHID command fails with [`Error::NotSupported`] (python-fido2:
///   `CtapError(INVALID_COMMAND)`).
///
/// Capabilities: a `FIDO_2_0` applet is `CBOR | NMSG`; a `U2F_V2` applet supports MSG
/// and gets `CBOR` if a getInfo probe succeeds. (python-fido2 sets `NMSG` for `U2F_V2`,
/// which says the opposite of what the card announced; this follows CTAP 2.1 §11.3.3.)
#[derive(Debug)]
pub struct CtapApduDevice<C: ApduConnection> {
    connection: Option<C>,
    config: ApduConfig,
    /// [`ApduConfig::extended_length`] decided for this card.
    extended: bool,
    version: AppletVersion,
    capabilities: Capabilities,
}

impl<C: ApduConnection> CtapApduDevice<C> {
    /// Selects the FIDO applet on `connection` and finds its capabilities, with the
    /// default [`ApduConfig`].
    ///
    /// # Errors
    /// As [`with_config`](Self::with_config).
    pub fn new(connection: C) -> Result<Self, Error> {
        Self::with_config(connection, ApduConfig::default())
    }

    /// Selects the FIDO applet on `connection` and finds its capabilities.
    ///
    /// # Errors
    /// [`Error::CardStatus`] if the card has no FIDO applet (SELECT failed), or the
    /// transport's errors.
    pub fn with_config(connection: C, config: ApduConfig) -> Result<Self, Error> {
        let extended = match config.extended_length {
            ExtendedLength::Never => false,
            ExtendedLength::Always => true,
            ExtendedLength::Auto => connection.atr().is_some_and(atr_announces_extended_length),
        };
        let mut device = Self {
            connection: Some(connection),
            config,
            extended,
            version: AppletVersion::Other(Vec::new()),
            capabilities: Capabilities::NONE,
        };
        device.select()?;
        Ok(device)
    }

    /// Selects the FIDO applet again (after the card was reset, or another
    /// application was selected) and refreshes the capabilities.
    ///
    /// # Errors
    /// As [`with_config`](Self::with_config).
    pub fn select(&mut self) -> Result<(), Error> {
        let (data, sw) = self.exchange(0x00, INS_SELECT, 0x04, 0x00, &FIDO_AID)?;
        if sw != StatusWord::SUCCESS {
            return Err(Error::CardStatus(sw));
        }
        self.version = AppletVersion::from_select(&data);
        self.capabilities = match self.version {
            AppletVersion::Fido2 => Capabilities::CBOR | Capabilities::NMSG,
            _ => Capabilities::NONE,
        };
        if self.version != AppletVersion::Fido2 {
            // Probe for CTAP2 with authenticatorGetInfo, as python-fido2 does.
            match self.call_cbor(&[0x04], &mut CallOptions::default()) {
                Ok(answer) if answer.first() == Some(&0) => {
                    self.capabilities |= Capabilities::CBOR;
                }
                Ok(answer) => log::debug!("getInfo probe answered status {:?}", answer.first()),
                Err(error @ (Error::Disconnected | Error::Io(_))) => return Err(error),
                Err(error) => log::debug!("getInfo probe failed: {error}"),
            }
            if self.version != AppletVersion::U2fV2
                && !self.capabilities.contains(Capabilities::CBOR)
            {
                return Err(Error::InvalidArgument(format!(
                    "the FIDO applet answered SELECT with {:02X?}, neither U2F_V2 nor FIDO_2_0, and no getInfo",
                    data
                )));
            }
        }
        Ok(())
    }

    /// What the applet's SELECT answered.
    #[must_use]
    pub fn applet_version(&self) -> &AppletVersion {
        &self.version
    }

    /// `true` if this device sends extended-length APDUs.
    #[must_use]
    pub fn uses_extended_length(&self) -> bool {
        self.extended
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ApduConfig {
        &self.config
    }

    /// The connection (e.g. to read a PC/SC card's ATR), `None` after
    /// [`close`](CtapDevice::close).
    #[must_use]
    pub fn connection(&self) -> Option<&C> {
        self.connection.as_ref()
    }

    /// Sends one command (chained or extended as configured), collects a long answer
    /// with GET RESPONSE, and returns the data and the final status word, all within
    /// [`ApduConfig::call_timeout`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for data longer than an extended APDU holds (65535
    /// bytes), [`Error::Protocol`] for an answer over [`ApduConfig::max_response`] or
    /// a card whose GET RESPONSE parts bring nothing ([`MAX_EMPTY_GET_RESPONSES`] in a
    /// row), [`TimeoutKind::Deadline`] when the time-out passes between APDUs, and the
    /// transport's errors.
    pub fn exchange(
        &mut self,
        cla: u8,
        ins: u8,
        p1: u8,
        p2: u8,
        data: &[u8],
    ) -> Result<(Vec<u8>, StatusWord), Error> {
        let deadline = Deadline::after(self.config.call_timeout, Instant::now());
        self.exchange_until(cla, ins, p1, p2, data, deadline)
    }

    /// [`exchange`](Self::exchange) within `deadline`.
    fn exchange_until(
        &mut self,
        cla: u8,
        ins: u8,
        p1: u8,
        p2: u8,
        data: &[u8],
        deadline: Deadline,
    ) -> Result<(Vec<u8>, StatusWord), Error> {
        let (mut answer, mut sw) = if self.extended {
            let lc = u16::try_from(data.len()).map_err(|_| {
                Error::InvalidArgument(format!(
                    "{} bytes do not fit one extended APDU (at most 65535)",
                    data.len()
                ))
            })?;
            let mut apdu = Vec::with_capacity(data.len() + 9);
            apdu.extend_from_slice(&[cla, ins, p1, p2, 0x00]);
            if !data.is_empty() {
                apdu.extend_from_slice(&lc.to_be_bytes());
                apdu.extend_from_slice(data);
            }
            // Le: 0000 (up to 65536 bytes).
            apdu.extend_from_slice(&[0x00, 0x00]);
            self.transmit(&apdu)?
        } else {
            let mut chunks = data.chunks(255).peekable();
            let mut last: &[u8] = &[];
            while let Some(chunk) = chunks.next() {
                if chunks.peek().is_none() {
                    last = chunk;
                    break;
                }
                let mut apdu = Vec::with_capacity(chunk.len() + 5);
                apdu.extend_from_slice(&[cla | CLA_CHAINING, ins, p1, p2]);
                apdu.push(short_len(chunk.len()));
                apdu.extend_from_slice(chunk);
                let (answer, sw) = self.transmit(&apdu)?;
                if sw != StatusWord::SUCCESS {
                    log::debug!("chained part answered {sw}");
                    return Ok((answer, sw));
                }
            }
            let mut apdu = Vec::with_capacity(last.len() + 6);
            apdu.extend_from_slice(&[cla, ins, p1, p2]);
            if !last.is_empty() {
                apdu.push(short_len(last.len()));
                apdu.extend_from_slice(last);
            }
            // Le: 00 (up to 256 bytes; more come by GET RESPONSE).
            apdu.push(0x00);
            self.transmit(&apdu)?
        };
        // ISO 7816-4 §5.3.4: SW 61XX, "XX more bytes": GET RESPONSE until another status
        // word. The card decides how long that goes on, so the loop is bounded three
        // ways: the answer's length (max_response), the call's deadline (checked before
        // each GET RESPONSE), and progress (a card answering 61XX with no data again
        // and again, e.g. `61 00` for ever, is given up on).
        let mut empty_parts = 0;
        while sw.sw1() == 0x61 {
            deadline.check(Instant::now())?;
            let (more, next) = self.transmit(&[0x00, INS_GET_RESPONSE, 0x00, 0x00, sw.sw2()])?;
            if answer.len() + more.len() > self.config.max_response {
                return Err(crate::ProtocolError::ResponseTooLong {
                    limit: self.config.max_response,
                }
                .into());
            }
            if more.is_empty() && next.sw1() == 0x61 {
                empty_parts += 1;
                if empty_parts >= MAX_EMPTY_GET_RESPONSES {
                    return Err(crate::ProtocolError::NoProgress {
                        status: next.to_bytes(),
                        parts: empty_parts,
                    }
                    .into());
                }
            } else {
                empty_parts = 0;
            }
            answer.extend_from_slice(&more);
            sw = next;
        }
        Ok((answer, sw))
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<(Vec<u8>, StatusWord), Error> {
        let connection = self.connection.as_mut().ok_or(Error::Disconnected)?;
        log::trace!("APDU > {}", Hex(apdu));
        let response = connection.transmit(apdu)?;
        log::trace!("APDU < {}", Hex(&response));
        split_response(response)
    }

    fn call_cbor(
        &mut self,
        request: &[u8],
        options: &mut CallOptions<'_>,
    ) -> Result<Vec<u8>, Error> {
        let deadline =
            Deadline::after(options.timeout.or(self.config.call_timeout), Instant::now());
        let (mut answer, mut sw) = self.exchange_until(
            CLA_NFCCTAP,
            INS_NFCCTAP_MSG,
            P1_GETRESPONSE_SUPPORTED,
            0x00,
            request,
            deadline,
        )?;
        let mut last_status: Option<KeepaliveStatus> = None;
        // When the cancelling poll went out, and why.
        let mut cancel_sent: Option<(Instant, Stop)> = None;
        loop {
            if sw == StatusWord::SUCCESS {
                return match cancel_sent {
                    // The answer to a cancel (CTAP2: status KEEPALIVE_CANCEL) is the
                    // call's answer, as over HID; a deadline is the caller's error.
                    Some((_, Stop::Deadline(timeout))) => {
                        Err(Error::Timeout(TimeoutKind::Deadline(timeout)))
                    }
                    _ => Ok(answer),
                };
            }
            if sw != StatusWord::UPDATE {
                return Err(Error::CardStatus(sw));
            }
            let Some(&status) = answer.first() else {
                return Err(crate::ProtocolError::EmptyStatus(Command::KEEPALIVE).into());
            };
            let status = KeepaliveStatus::new(status);
            if last_status != Some(status) {
                last_status = Some(status);
                if let Some(callback) = options.on_keepalive.as_mut() {
                    callback(status);
                }
            }
            let mut p1 = 0x00;
            match cancel_sent {
                Some((sent, stop)) => {
                    if sent.elapsed() >= self.config.cancel_grace {
                        log::debug!("the card kept answering 9100 after the cancel");
                        return Err(match stop {
                            Stop::Deadline(timeout) => {
                                Error::Timeout(TimeoutKind::Deadline(timeout))
                            }
                            Stop::Cancelled => Error::Cancelled,
                        });
                    }
                    thread::sleep(self.config.poll_interval);
                }
                None => {
                    self.pause(options, deadline);
                    let now = Instant::now();
                    if options.cancel.as_ref().is_some_and(|t| t.is_cancelled()) {
                        log::debug!("cancelled: polling with P1 = CANCEL");
                        p1 = P1_CANCEL;
                        cancel_sent = Some((now, Stop::Cancelled));
                    } else if deadline.passed(now) {
                        log::debug!("deadline passed: polling with P1 = CANCEL");
                        p1 = P1_CANCEL;
                        cancel_sent = Some((now, Stop::Deadline(deadline.timeout)));
                    }
                }
            }
            // After the cancelling poll the deadline may have passed already: its own
            // GET RESPONSE parts are not cut by it (cancel_grace bounds the rest).
            let parts = if cancel_sent.is_some() {
                Deadline::after(Some(self.config.cancel_grace), Instant::now())
            } else {
                deadline
            };
            (answer, sw) =
                self.exchange_until(CLA_NFCCTAP, INS_NFCCTAP_GETRESPONSE, p1, 0x00, &[], parts)?;
        }
    }

    /// Waits one poll interval, in short steps so that a cancel or the deadline is seen
    /// early.
    fn pause(&self, options: &CallOptions<'_>, deadline: Deadline) {
        const STEP: Duration = Duration::from_millis(10);
        let interval = Deadline::after(Some(self.config.poll_interval), Instant::now());
        loop {
            let now = Instant::now();
            if interval.passed(now)
                || options.cancel.as_ref().is_some_and(|t| t.is_cancelled())
                || deadline.passed(now)
            {
                return;
            }
            thread::sleep(interval.cap(now, STEP));
        }
    }

    fn call_msg(&mut self, apdu: &[u8], options: &CallOptions<'_>) -> Result<Vec<u8>, Error> {
        let deadline =
            Deadline::after(options.timeout.or(self.config.call_timeout), Instant::now());
        let parsed = CommandApdu::parse(apdu).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "MSG data is not a well-formed command APDU ({} bytes)",
                apdu.len()
            ))
        })?;
        let (mut answer, sw) = self.exchange_until(
            parsed.cla,
            parsed.ins,
            parsed.p1,
            parsed.p2,
            parsed.data,
            deadline,
        )?;
        answer.extend_from_slice(&sw.to_bytes());
        Ok(answer)
    }
}

impl<C: ApduConnection> CtapDevice for CtapApduDevice<C> {
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn call_with(
        &mut self,
        command: Command,
        data: &[u8],
        mut options: CallOptions<'_>,
    ) -> Result<Vec<u8>, Error> {
        if self.connection.is_none() {
            return Err(Error::Disconnected);
        }
        match command {
            Command::CBOR => self.call_cbor(data, &mut options),
            Command::MSG => self.call_msg(data, &options),
            other => Err(Error::NotSupported {
                command: other,
                transport: "PC/SC",
            }),
        }
    }

    fn close(&mut self) {
        if let Some(mut connection) = self.connection.take() {
            connection.close();
        }
    }
}

impl<C: ApduConnection> Drop for CtapApduDevice<C> {
    fn drop(&mut self) {
        self.close();
    }
}

/// `true` if the ATR's historical bytes hold a card-capabilities object (ISO 7816-4
/// §8.1.1.2.7, compact-TLV tag 7) whose third byte has bit b7, "extended Lc and Le
/// fields". A malformed ATR is `false`.
///
/// ```
/// use ctap_device::apdu::atr_announces_extended_length;
/// // T=1, historical bytes 80 73 80 01 C0: chaining and extended length.
/// let atr = [0x3B, 0x85, 0x80, 0x01, 0x80, 0x73, 0x80, 0x01, 0xC0, 0xB6];
/// assert!(atr_announces_extended_length(&atr));
/// assert!(!atr_announces_extended_length(&[0x3B, 0x00]));
/// ```
#[must_use]
pub fn atr_announces_extended_length(atr: &[u8]) -> bool {
    historical_bytes(atr)
        .and_then(|historical| match historical.split_first() {
            // Category 00: the last three bytes are a status indicator.
            Some((0x00, rest)) => rest.get(..rest.len().checked_sub(3)?),
            Some((0x80, rest)) => Some(rest),
            _ => None,
        })
        .and_then(|mut objects| {
            while let Some((&tag_len, rest)) = objects.split_first() {
                let len = usize::from(tag_len & 0x0F);
                let value = rest.get(..len)?;
                if tag_len >> 4 == 0x7 {
                    return Some(value.get(2).is_some_and(|third| third & 0x40 != 0));
                }
                objects = rest.get(len..)?;
            }
            Some(false)
        })
        .unwrap_or(false)
}

/// The historical bytes of an ATR (ISO 7816-3 §8.2): after TS, T0 and the interface
/// bytes that T0 and each TDi announce.
fn historical_bytes(atr: &[u8]) -> Option<&[u8]> {
    let (&t0, mut rest) = atr.get(1..)?.split_first()?;
    let count = usize::from(t0 & 0x0F);
    let mut presence = t0 >> 4;
    loop {
        let mut td = None;
        for bit in 0..4 {
            if presence & (1 << bit) != 0 {
                let (&byte, tail) = rest.split_first()?;
                rest = tail;
                if bit == 3 {
                    td = Some(byte);
                }
            }
        }
        match td {
            Some(td) => presence = td >> 4,
            None => break,
        }
    }
    rest.get(..count)
}

/// Why a call sent the cancelling poll.
#[derive(Clone, Copy, Debug)]
enum Stop {
    Cancelled,
    Deadline(Duration),
}

/// A length of at most 255 as the one-byte Lc.
fn short_len(len: usize) -> u8 {
    u8::try_from(len).unwrap_or(u8::MAX)
}

/// Bytes as hex for the APDU trace.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
