//! PC/SC readers (feature `pcsc`): NFC keys on a reader and keys' CCID interface,
//! through the system's pcscd (python-fido2's `fido2.pcsc`).
//!
//! Links the system's PC/SC library (libpcsclite on Linux: build with
//! `libpcsclite-dev`; pcscd must run to find readers). The protocol itself is
//! [`CtapApduDevice`]; this module only moves APDUs.
//!
//! ```no_run
//! use ctap_device::{CtapDevice, pcsc};
//! use ctap_types::Command;
//!
//! for info in pcsc::list_devices()? {
//!     println!("{info}");
//! }
//! let mut device = pcsc::open_first()?;
//! let info = device.call(Command::CBOR, &[0x04])?; // authenticatorGetInfo
//! # Ok::<(), ctap_device::Error>(())
//! ```

use std::ffi::CString;
use std::fmt;
use std::time::{Duration, Instant};

use ctap_types::Capabilities;

use crate::apdu::{ApduConfig, ApduConnection, AppletVersion, CtapApduDevice};
use crate::{CtapDevice, Error, OpenFailure};

/// A CTAP device on a PC/SC reader: python-fido2's `CtapPcscDevice`.
pub type CtapPcscDevice = CtapApduDevice<PcscConnection>;

/// The card on one PC/SC reader, shared with other programs (as python-fido2 connects).
pub struct PcscConnection {
    context: ::pcsc::Context,
    card: Option<::pcsc::Card>,
    reader: String,
    atr: Vec<u8>,
}

/// A reader with a FIDO card on it, from [`list_devices`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcscDeviceInfo {
    /// The reader's name (what `open` takes).
    pub reader: String,
    /// The card's ATR (or ATS, for a contactless card).
    pub atr: Vec<u8>,
    /// What the FIDO applet's SELECT answered.
    pub applet: AppletVersion,
    /// The capabilities found when it was opened.
    pub capabilities: Capabilities,
}

impl fmt::Display for PcscDeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let applet = match &self.applet {
            AppletVersion::U2fV2 => "U2F_V2".to_owned(),
            AppletVersion::Fido2 => "FIDO_2_0".to_owned(),
            AppletVersion::Other(bytes) => format!("{bytes:02X?}"),
        };
        write!(
            f,
            "pcsc:{}  applet {applet}  capabilities {}",
            self.reader, self.capabilities
        )
    }
}

impl PcscConnection {
    /// Connects to the card on `reader` (its exact PC/SC name).
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such reader, [`Error::Open`] if pcscd is not
    /// running, the reader has no card, or the card cannot be shared.
    pub fn open(reader: &str) -> Result<Self, Error> {
        let context = establish()?;
        Self::connect(&context, reader)
    }

    fn connect(context: &::pcsc::Context, reader: &str) -> Result<Self, Error> {
        let name = CString::new(reader).map_err(|_| Error::NotFound(reader.to_owned()))?;
        let card = context
            .connect(&name, ::pcsc::ShareMode::Shared, ::pcsc::Protocols::ANY)
            .map_err(|error| match error {
                ::pcsc::Error::UnknownReader => Error::NotFound(format!("pcsc:{reader}")),
                other => open_error(reader, other),
            })?;
        let atr = card
            .status2_owned()
            .map(|status| status.atr().to_vec())
            .unwrap_or_default();
        Ok(Self {
            context: context.clone(),
            card: Some(card),
            reader: reader.to_owned(),
            atr,
        })
    }

    /// The reader's name.
    #[must_use]
    pub fn reader(&self) -> &str {
        &self.reader
    }
}

impl PcscConnection {
    /// After a failed transmit that does not say why (pcscd's "not transacted" when the
    /// driver lost the card mid-APDU, as an NFC key leaving the field does): waits up
    /// to [`REMOVAL_NOTICE`] for pcscd to tell whether the card is still on the reader.
    fn card_left(&self, error: ::pcsc::Error) -> bool {
        if !matches!(error, ::pcsc::Error::NotTransacted) {
            return false;
        }
        let Ok(name) = CString::new(self.reader.as_str()) else {
            return false;
        };
        let mut states = [::pcsc::ReaderState::new(name, ::pcsc::State::UNAWARE)];
        let deadline = Instant::now() + REMOVAL_NOTICE;
        let mut wait = Duration::ZERO;
        loop {
            match self.context.get_status_change(wait, &mut states) {
                Ok(()) => {}
                Err(::pcsc::Error::Timeout) => return false,
                Err(other) => return is_gone(other),
            }
            let Some(state) = states.first_mut() else {
                return false;
            };
            let event = state.event_state();
            if !event.contains(::pcsc::State::PRESENT)
                || event.intersects(::pcsc::State::EMPTY | ::pcsc::State::UNAVAILABLE)
            {
                return true;
            }
            state.sync_current_state();
            wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return false;
            }
        }
    }
}

/// How long a failed transmit waits for pcscd to notice that the card left.
const REMOVAL_NOTICE: Duration = Duration::from_secs(2);

impl fmt::Debug for PcscConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcscConnection")
            .field("reader", &self.reader)
            .field("open", &self.card.is_some())
            .finish_non_exhaustive()
    }
}

impl ApduConnection for PcscConnection {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Error> {
        let card = self.card.as_ref().ok_or(Error::Disconnected)?;
        let mut buffer = vec![0u8; ::pcsc::MAX_BUFFER_SIZE_EXTENDED];
        match card.transmit(command, &mut buffer) {
            Ok(response) => Ok(response.to_vec()),
            Err(error) if is_gone(error) || self.card_left(error) => {
                log::debug!("pcsc:{}: the card left the reader: {error}", self.reader);
                Err(Error::Disconnected)
            }
            Err(error) => Err(Error::Io(std::io::Error::other(format!(
                "pcsc:{}: {error}",
                self.reader
            )))),
        }
    }

    fn atr(&self) -> Option<&[u8]> {
        (!self.atr.is_empty()).then_some(self.atr.as_slice())
    }

    fn close(&mut self) {
        if let Some(card) = self.card.take() {
            if let Err((_, error)) = card.disconnect(::pcsc::Disposition::LeaveCard) {
                log::debug!("pcsc:{}: disconnect failed: {error}", self.reader);
            }
        }
    }
}

impl Drop for PcscConnection {
    fn drop(&mut self) {
        self.close();
    }
}

/// Every PC/SC reader's name, with or without a card (none if pcscd has no reader).
///
/// # Errors
/// [`Error::Open`] if pcscd cannot be reached.
pub fn readers() -> Result<Vec<String>, Error> {
    let context = establish()?;
    reader_names(&context)
}

/// The readers whose card has the FIDO applet, each opened once to find its
/// capabilities (python-fido2's `CtapPcscDevice.list_devices`). Readers without a card
/// or with another card are left out.
///
/// # Errors
/// [`Error::Open`] if pcscd cannot be reached.
pub fn list_devices() -> Result<Vec<PcscDeviceInfo>, Error> {
    let context = establish()?;
    let mut found = Vec::new();
    for reader in reader_names(&context)? {
        match open_on(&context, &reader, ApduConfig::default()) {
            Ok(device) => found.push(PcscDeviceInfo {
                atr: device
                    .connection()
                    .and_then(ApduConnection::atr)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default(),
                applet: device.applet_version().clone(),
                capabilities: device.capabilities(),
                reader,
            }),
            Err(error) => log::debug!("pcsc:{reader}: not a FIDO card: {error}"),
        }
    }
    Ok(found)
}

/// Opens the FIDO card on `reader`: its exact name, or else the first reader whose
/// name contains it and whose card has the FIDO applet (as python-fido2 matches).
///
/// # Errors
/// [`Error::NotFound`] if no reader matches, [`Error::CardStatus`] if the card has no
/// FIDO applet, [`Error::Open`] as [`PcscConnection::open`].
pub fn open(reader: &str) -> Result<CtapPcscDevice, Error> {
    open_with(reader, ApduConfig::default())
}

/// As [`open`], with an [`ApduConfig`].
///
/// # Errors
/// As [`open`].
pub fn open_with(reader: &str, config: ApduConfig) -> Result<CtapPcscDevice, Error> {
    let context = establish()?;
    let names = reader_names(&context)?;
    if names.iter().any(|name| name == reader) {
        return open_on(&context, reader, config);
    }
    let mut last_error = None;
    for name in names.iter().filter(|name| name.contains(reader)) {
        match open_on(&context, name, config.clone()) {
            Ok(device) => return Ok(device),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| Error::NotFound(format!("pcsc:{reader}"))))
}

/// Opens the first reader whose card has the FIDO applet.
///
/// # Errors
/// [`Error::NotFound`] if no reader has one, [`Error::Open`] if pcscd cannot be reached.
pub fn open_first() -> Result<CtapPcscDevice, Error> {
    open_first_with(ApduConfig::default())
}

/// As [`open_first`], with an [`ApduConfig`] (e.g. its
/// [`call_timeout`](ApduConfig::call_timeout)).
///
/// # Errors
/// As [`open_first`].
pub fn open_first_with(config: ApduConfig) -> Result<CtapPcscDevice, Error> {
    let context = establish()?;
    let names = reader_names(&context)?;
    for name in &names {
        match open_on(&context, name, config.clone()) {
            Ok(device) => return Ok(device),
            Err(error) => log::debug!("pcsc:{name}: not a FIDO card: {error}"),
        }
    }
    Err(Error::NotFound(format!(
        "pcsc (none of {} reader(s) has a FIDO card)",
        names.len()
    )))
}

fn open_on(
    context: &::pcsc::Context,
    reader: &str,
    config: ApduConfig,
) -> Result<CtapPcscDevice, Error> {
    let connection = PcscConnection::connect(context, reader)?;
    CtapApduDevice::with_config(connection, config)
}

fn establish() -> Result<::pcsc::Context, Error> {
    ::pcsc::Context::establish(::pcsc::Scope::User).map_err(|error| Error::Open {
        path: "pcsc".to_owned(),
        kind: OpenFailure::Other,
        reason: error.to_string(),
        hint: Some("is pcscd running? (Debian: apt install pcscd)".to_owned()),
    })
}

fn reader_names(context: &::pcsc::Context) -> Result<Vec<String>, Error> {
    match context.list_readers_owned() {
        Ok(names) => Ok(names
            .into_iter()
            .map(|name| name.to_string_lossy().into_owned())
            .collect()),
        Err(::pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(error) => Err(open_error("pcsc", error)),
    }
}

fn open_error(reader: &str, error: ::pcsc::Error) -> Error {
    let hint = match error {
        ::pcsc::Error::NoSmartcard | ::pcsc::Error::RemovedCard => {
            Some("put the key on the reader".to_owned())
        }
        ::pcsc::Error::NoService | ::pcsc::Error::ServiceStopped => {
            Some("is pcscd running?".to_owned())
        }
        _ => None,
    };
    let kind = match error {
        ::pcsc::Error::NoSmartcard | ::pcsc::Error::RemovedCard | ::pcsc::Error::UnknownReader => {
            OpenFailure::NotFound
        }
        ::pcsc::Error::SharingViolation => OpenFailure::Busy,
        ::pcsc::Error::NoAccess => OpenFailure::PermissionDenied,
        _ => OpenFailure::Other,
    };
    Error::Open {
        path: format!("pcsc:{reader}"),
        kind,
        reason: error.to_string(),
        hint,
    }
}

/// The card or its reader is gone: the device is disconnected, not broken.
fn is_gone(error: ::pcsc::Error) -> bool {
    matches!(
        error,
        ::pcsc::Error::RemovedCard
            | ::pcsc::Error::ResetCard
            | ::pcsc::Error::NoSmartcard
            | ::pcsc::Error::UnpoweredCard
            | ::pcsc::Error::ReaderUnavailable
            | ::pcsc::Error::UnknownReader
            | ::pcsc::Error::InvalidHandle
            | ::pcsc::Error::NoService
            | ::pcsc::Error::ServiceStopped
            | ::pcsc::Error::CommError
    )
}
