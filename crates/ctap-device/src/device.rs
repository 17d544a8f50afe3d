//! The `CtapDevice` contract (python-fido2's `fido2.ctap.CtapDevice`).

use std::fmt;
use std::time::Duration;

use ctap_types::{Capabilities, Command, KeepaliveStatus};

use crate::{CancelToken, Error};

/// A CTAP-capable device: python-fido2's `CtapDevice`.
///
/// | python-fido2 | here |
/// |---|---|
/// | `capabilities` (property) | [`capabilities`](Self::capabilities) |
/// | `call(cmd, data)` | [`call`](Self::call) |
/// | `call(cmd, data, event, on_keepalive)` | [`call_with`](Self::call_with) and [`CallOptions`] |
/// | `close()`, `__exit__` | [`close`](Self::close); dropping the device also closes it |
/// | `list_devices()` | a function per transport, e.g. `hid::list_devices` |
///
/// Differences from python-fido2, all deliberate: every call has a silence limit and
/// an overall deadline unless the caller opts out (python-fido2 waits forever); an ERROR packet is
/// [`Error::Hid`], a CTAP status inside a CBOR answer is *not* checked by `call` (as in
/// python-fido2: the status byte is the first byte of the returned bytes).
pub trait CtapDevice {
    /// The capability flags the device announced in its INIT answer.
    fn capabilities(&self) -> Capabilities;

    /// Sends `command` with `data` and returns the answer's payload, with the default
    /// options (no cancel token, no keep-alive callback, the device's default overall
    /// deadline and silence limit: for a [`CtapHidDevice`](crate::CtapHidDevice),
    /// [`DeviceConfig::call_timeout`](crate::DeviceConfig::call_timeout), for a
    /// [`CtapApduDevice`](crate::CtapApduDevice)
    /// [`ApduConfig::call_timeout`](crate::ApduConfig::call_timeout), 2 minutes by
    /// default).
    ///
    /// # Errors
    /// As [`call_with`](Self::call_with).
    fn call(&mut self, command: Command, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.call_with(command, data, CallOptions::default())
    }

    /// Sends `command` with `data` and returns the answer's payload.
    ///
    /// KEEPALIVE packets are never an answer: they reset the silence limit and go to
    /// [`CallOptions::on_keepalive`] when their status changes.
    ///
    /// # Errors
    /// [`Error::Hid`] for an ERROR packet, [`Error::Timeout`], [`Error::Cancelled`] if
    /// the device did not answer a CANCEL in time, [`Error::Protocol`] if the device broke
    /// the framing rules, [`Error::InvalidRequest`] if `data` is too long,
    /// [`Error::Disconnected`] or [`Error::Io`] from the transport.
    fn call_with(
        &mut self,
        command: Command,
        data: &[u8],
        options: CallOptions<'_>,
    ) -> Result<Vec<u8>, Error>;

    /// Releases the device. Later calls fail with [`Error::Disconnected`]. Dropping the
    /// device does the same.
    fn close(&mut self);
}

impl<D: CtapDevice + ?Sized> CtapDevice for Box<D> {
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn call(&mut self, command: Command, data: &[u8]) -> Result<Vec<u8>, Error> {
        (**self).call(command, data)
    }
    fn call_with(
        &mut self,
        command: Command,
        data: &[u8],
        options: CallOptions<'_>,
    ) -> Result<Vec<u8>, Error> {
        (**self).call_with(command, data, options)
    }
    fn close(&mut self) {
        (**self).close();
    }
}

/// The options of one [`CtapDevice::call_with`]: a plain struct with `Default` and
/// chainable setters.
///
/// ```
/// use std::time::Duration;
/// use ctap_device::{CallOptions, CancelToken};
/// use ctap_types::KeepaliveStatus;
///
/// let token = CancelToken::new();
/// let mut on_keepalive = |status: KeepaliveStatus| eprintln!("keep-alive: {status:?}");
/// let options = CallOptions::default()
///     .with_cancel(token.clone())
///     .with_on_keepalive(&mut on_keepalive)
///     .with_timeout(Duration::from_secs(30));
/// # let _ = options;
/// ```
#[derive(Default)]
pub struct CallOptions<'a> {
    /// Cancels the call from another thread (python-fido2's `event`).
    pub cancel: Option<CancelToken>,
    /// Called when the KEEPALIVE status changes within the call (statuses 1, 1, 2, 2, 1
    /// give three calls: PROCESSING, UPNEEDED, PROCESSING). Unknown statuses are passed
    /// on like known ones.
    pub on_keepalive: Option<&'a mut dyn FnMut(KeepaliveStatus)>,
    /// The overall deadline of the call, whatever the device sends: it bounds the whole
    /// call (resynchronising, re-INIT, CHANNEL_BUSY retries, the CANCEL grace). `None`:
    /// the device's default ([`DeviceConfig::call_timeout`](crate::DeviceConfig::call_timeout)
    /// or [`ApduConfig::call_timeout`](crate::ApduConfig::call_timeout), 2 minutes). A time-out too long to add to the current time (e.g.
    /// [`Duration::MAX`], see [`without_deadline`](Self::without_deadline)) means no
    /// deadline at all: then only the silence limit and the cancel token end the call.
    pub timeout: Option<Duration>,
    /// How long the device may send nothing at all (not even a KEEPALIVE) before the
    /// call ends with [`TimeoutKind::Silence`](crate::TimeoutKind::Silence). `None`: the
    /// device's [`DeviceConfig::silence_timeout`](crate::DeviceConfig::silence_timeout).
    pub silence_timeout: Option<Duration>,
}

impl<'a> CallOptions<'a> {
    /// Sets [`cancel`](Self::cancel).
    #[must_use]
    pub fn with_cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Sets [`on_keepalive`](Self::on_keepalive).
    #[must_use]
    pub fn with_on_keepalive(mut self, callback: &'a mut dyn FnMut(KeepaliveStatus)) -> Self {
        self.on_keepalive = Some(callback);
        self
    }

    /// Sets [`timeout`](Self::timeout).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Opts out of an overall deadline (sets [`timeout`](Self::timeout) to
    /// [`Duration::MAX`]): a device that keeps sending KEEPALIVEs then holds the call
    /// until it is cancelled. Give such a call a [`CancelToken`].
    #[must_use]
    pub fn without_deadline(mut self) -> Self {
        self.timeout = Some(Duration::MAX);
        self
    }

    /// Sets [`silence_timeout`](Self::silence_timeout).
    #[must_use]
    pub fn with_silence_timeout(mut self, silence: Duration) -> Self {
        self.silence_timeout = Some(silence);
        self
    }
}

impl fmt::Debug for CallOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallOptions")
            .field("cancel", &self.cancel)
            .field("on_keepalive", &self.on_keepalive.as_ref().map(|_| "FnMut"))
            .field("timeout", &self.timeout)
            .field("silence_timeout", &self.silence_timeout)
            .finish()
    }
}
