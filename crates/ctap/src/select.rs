//! Picking one key among several: by path or serial number (with `hidapi`), or by
//! asking the user to touch the one they mean.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ctap_device::{CallOptions, CancelToken, CtapDevice, Error};
use ctap_types::{Capabilities, Command, Ctap2Command, CtapError, StatusCode};

/// How [`by_touch`] waits: a plain struct with `Default`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TouchOptions {
    /// How long to wait for a touch (default 30 s, what keys themselves allow).
    pub timeout: Duration,
    /// Cancels the whole selection from another thread (e.g. Ctrl-C): every device gets
    /// CTAPHID_CANCEL.
    pub cancel: Option<CancelToken>,
    /// How often the selection looks at [`cancel`](Self::cancel) (default 50 ms).
    pub poll_interval: Duration,
}

impl Default for TouchOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            cancel: None,
            poll_interval: Duration::from_millis(50),
        }
    }
}

impl TouchOptions {
    /// Sets [`timeout`](Self::timeout).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`cancel`](Self::cancel).
    #[must_use]
    pub fn with_cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }
}

/// Asks the user to touch one of `devices`: asks every one at once for a touch, keeps
/// the first that was touched, and cancels the others (each gets CTAPHID_CANCEL, or
/// stops being polled, and is dropped once its call has ended). Returns the winner and
/// its index in `devices`.
///
/// Every generation of key takes part, each asked the way libfido2 and Chromium ask it
/// (the spec gives each generation one way):
/// - CTAP 2.1 (getInfo's versions hold `FIDO_2_1`): authenticatorSelection (CTAP 2.1
///   §6.9);
/// - CTAP 2.0 (CBOR, no `FIDO_2_1`): a makeCredential with a zero-length
///   pinUvAuthParam, the spec's touch probe (CTAP 2.0 §5.5.8.1, CTAP 2.1 §6.1.2 step
///   1): the key waits for a touch and answers `PIN_NOT_SET` or `PIN_INVALID`
///   (`PIN_AUTH_INVALID` from some keys), which here means "touched"; nothing is
///   registered;
/// - U2F only (no CBOR capability): a U2F REGISTER with a dummy application parameter
///   ([`U2F_PROBE_APPLICATION`]), repeated every
///   [`poll_interval`](TouchOptions::poll_interval) while the key answers
///   `6985` (conditions not satisfied: no touch yet), as U2F hosts do; its answer
///   (a throwaway registration for an application no site uses) is dropped.
///
/// A device that fails (e.g. not a FIDO device, or unplugged) drops out; the selection
/// goes on with the others.
///
/// ```
/// use ctap::virtual_device::{Config, TouchPolicy, VirtualAuthenticator};
///
/// // Two keys: nobody touches the first, the user touches the second.
/// let untouched = VirtualAuthenticator::new(Config::default().with_touch(TouchPolicy::Never));
/// let touched = VirtualAuthenticator::new(Config::default());
/// let devices = vec![untouched.open_device()?, touched.open_device()?];
/// let (index, mut device) = ctap::select::by_touch(devices, &Default::default())?;
/// assert_eq!(index, 1);
/// device.wink()?;
/// assert_eq!(touched.winks(), 1);
/// # Ok::<(), ctap::device::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] if `devices` is empty; [`Error::Cancelled`] if
/// [`TouchOptions::cancel`] was cancelled; otherwise, when every device failed, the
/// error of the last one to fail (a time-out if nobody touched a key in time).
pub fn by_touch<D: CtapDevice + Send>(
    devices: Vec<D>,
    options: &TouchOptions,
) -> Result<(usize, D), Error> {
    if devices.is_empty() {
        return Err(Error::InvalidArgument(
            "no devices to select among".to_owned(),
        ));
    }
    let count = devices.len();
    let tokens: Vec<CancelToken> = (0..count).map(|_| CancelToken::new()).collect();
    let cancel_all = |except: Option<usize>| {
        for (index, token) in tokens.iter().enumerate() {
            if Some(index) != except {
                token.cancel();
            }
        }
    };
    let (sender, answers) = mpsc::channel();
    std::thread::scope(|scope| {
        for (index, (mut device, token)) in devices.into_iter().zip(tokens.clone()).enumerate() {
            let sender = sender.clone();
            let timeout = options.timeout;
            let poll = options.poll_interval;
            scope.spawn(move || {
                let result = wait_for_touch(&mut device, &token, timeout, poll);
                // The receiver outlives every sender (the scope ends first).
                let _ = sender.send((index, result, device));
            });
        }
        drop(sender);
        let mut winner = None;
        let mut last_error = None;
        let mut finished = 0;
        let mut cancelled = false;
        while finished < count {
            let (index, result, device) = match answers.recv_timeout(options.poll_interval) {
                Ok(answer) => answer,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if !cancelled
                        && options
                            .cancel
                            .as_ref()
                            .is_some_and(CancelToken::is_cancelled)
                    {
                        cancelled = true;
                        cancel_all(None);
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            finished += 1;
            match result {
                Ok(()) if winner.is_none() && !cancelled => {
                    cancel_all(Some(index));
                    winner = Some((index, device));
                }
                Ok(()) => {}
                Err(error) => last_error = Some(error),
            }
        }
        match winner {
            Some(found) => Ok(found),
            None if cancelled => Err(Error::Cancelled),
            None => Err(last_error.unwrap_or(Error::Cancelled)),
        }
    })
}

/// The application parameter of the U2F touch probe: SHA-256 of "ctap-rs touch probe",
/// an application no site has, so the throwaway registration it makes is never used.
pub const U2F_PROBE_APPLICATION: [u8; 32] = [
    0x95, 0x26, 0x1F, 0xFE, 0x56, 0x1F, 0xEA, 0x51, 0x79, 0x6C, 0x23, 0x65, 0x80, 0xA8, 0x46, 0xBE,
    0x3E, 0x93, 0xC0, 0xD0, 0x78, 0x9B, 0xC1, 0xE4, 0x5A, 0xC6, 0xE8, 0x10, 0x99, 0x02, 0xD9, 0x6C,
];

/// The makeCredential touch probe (CTAP 2.1 §6.1.2 step 1, CTAP 2.0 §5.5.8.1): command
/// byte 0x01, then the CTAP2 canonical CBOR of
/// `{1: h'00'*32, 2: {"id": ".dummy"}, 3: {"id": h'01', "name": "dummy"},
///   4: [{"alg": -7, "type": "public-key"}], 8: h'', 9: 1}`
/// (the members libfido2's touch probe sends; the zero-length pinUvAuthParam is what
/// makes it a probe).
const MAKE_CREDENTIAL_PROBE: &[u8] = &[
    0x01, 0xA6, // makeCredential, map of 6
    0x01, 0x58, 0x20, // 1: clientDataHash, 32 bytes
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, //
    0x02, 0xA1, 0x62, b'i', b'd', 0x66, b'.', b'd', b'u', b'm', b'm', b'y', // 2: rp
    0x03, 0xA2, 0x62, b'i', b'd', 0x41, 0x01, // 3: user {"id": h'01',
    0x64, b'n', b'a', b'm', b'e', 0x65, b'd', b'u', b'm', b'm', b'y', // "name": "dummy"}
    0x04, 0x81, 0xA2, 0x63, b'a', b'l', b'g', 0x26, // 4: [{"alg": -7,
    0x64, b't', b'y', b'p', b'e', 0x6A, b'p', b'u', b'b', b'l', b'i', b'c', b'-', b'k', b'e',
    b'y', // "type": "public-key"}]
    0x08, 0x40, // 8: pinUvAuthParam h''
    0x09, 0x01, // 9: pinUvAuthProtocol 1
];

/// The generations [`by_touch`] tells apart, from what a key shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Generation {
    Ctap21,
    Ctap20,
    U2fOnly,
}

/// Waits for a touch on `device` the way its generation allows (see [`by_touch`]),
/// until `timeout` or `token`.
fn wait_for_touch<D: CtapDevice>(
    device: &mut D,
    token: &CancelToken,
    timeout: Duration,
    poll: Duration,
) -> Result<(), Error> {
    let started = Instant::now();
    let left = || timeout.saturating_sub(started.elapsed());
    let call = |left: Duration| {
        CallOptions::default()
            .with_cancel(token.clone())
            .with_timeout(left)
    };
    let generation = if device.capabilities().contains(Capabilities::CBOR) {
        let answer = device.call_with(
            Command::CBOR,
            &[Ctap2Command::GET_INFO.to_u8()],
            call(left()),
        )?;
        check_status(&answer)?;
        let body = answer.get(1..).unwrap_or_default();
        if info_versions_contain(body, "FIDO_2_1")? {
            Generation::Ctap21
        } else {
            Generation::Ctap20
        }
    } else {
        Generation::U2fOnly
    };
    match generation {
        Generation::Ctap21 => {
            let answer = device.call_with(
                Command::CBOR,
                &[Ctap2Command::SELECTION.to_u8()],
                call(left()),
            )?;
            check_status(&answer)
        }
        Generation::Ctap20 => {
            let answer = device.call_with(Command::CBOR, MAKE_CREDENTIAL_PROBE, call(left()))?;
            match answer.first().copied().map(StatusCode::new) {
                // §6.1.2 step 1: touched; PIN_NOT_SET / PIN_INVALID by the spec,
                // PIN_AUTH_INVALID from keys that check the empty param first (libfido2
                // counts all three as a touch), SUCCESS from a key that ignored the
                // empty param and registered after the touch. OPERATION_DENIED (the
                // user said no), time-outs and the rest are failures.
                Some(
                    StatusCode::SUCCESS
                    | StatusCode::PIN_NOT_SET
                    | StatusCode::PIN_INVALID
                    | StatusCode::PIN_AUTH_INVALID,
                ) => Ok(()),
                _ => check_status(&answer),
            }
        }
        Generation::U2fOnly => {
            // U2F Raw Message Formats: REGISTER, extended length (as U2F over HID
            // frames it): 00 01 00 00 | 00 00 40 | challenge | application | 00 00.
            let mut register = vec![0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x40];
            register.extend_from_slice(&[0u8; 32]);
            register.extend_from_slice(&U2F_PROBE_APPLICATION);
            register.extend_from_slice(&[0x00, 0x00]);
            loop {
                if token.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                if left().is_zero() {
                    return Err(Error::Timeout(ctap_device::TimeoutKind::Deadline(timeout)));
                }
                let answer = device.call_with(Command::MSG, &register, call(left()))?;
                match answer.len().checked_sub(2).and_then(|at| answer.get(at..)) {
                    Some([0x90, 0x00]) => return Ok(()),
                    // SW_CONDITIONS_NOT_SATISFIED: not touched yet; ask again.
                    Some([0x69, 0x85]) => std::thread::sleep(poll.min(left())),
                    Some(&[sw1, sw2]) => {
                        return Err(Error::InvalidArgument(format!(
                            "the U2F key answered the touch probe (REGISTER) with status word {sw1:02X}{sw2:02X}"
                        )));
                    }
                    _ => {
                        return Err(Error::InvalidArgument(
                            "the U2F key's answer to REGISTER has no status word".to_owned(),
                        ));
                    }
                }
            }
        }
    }
}

/// Whether the `versions` (key 1) of an authenticatorGetInfo answer's CBOR hold
/// `version`. Reads only what it needs: the top-level map, and within it skips every
/// other member whatever it holds (at most [`MAX_CBOR_DEPTH`] levels deep); this crate
/// has no CBOR library of its own (ctap2-proto is behind the `ctap2` feature).
fn info_versions_contain(cbor: &[u8], version: &str) -> Result<bool, Error> {
    let bad =
        |what: &str| Error::InvalidArgument(format!("the device's getInfo is not CBOR: {what}"));
    let mut reader = CborReader { bytes: cbor };
    let (major, entries) = reader.head().ok_or_else(|| bad("no map"))?;
    if major != 5 {
        return Err(bad("not a map"));
    }
    for _ in 0..entries {
        let key = reader.head().ok_or_else(|| bad("truncated key"))?;
        if key == (0, 1) {
            let (major, count) = reader.head().ok_or_else(|| bad("truncated versions"))?;
            if major != 4 {
                return Err(bad("versions is not an array"));
            }
            for _ in 0..count {
                let (major, len) = reader.head().ok_or_else(|| bad("truncated version"))?;
                let text = reader
                    .take(len)
                    .filter(|_| major == 3)
                    .ok_or_else(|| bad("a version is not text"))?;
                if text == version.as_bytes() {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        reader
            .skip_value_after(key, 0)
            .ok_or_else(|| bad("truncated member"))?;
        reader.skip(0).ok_or_else(|| bad("truncated member"))?;
    }
    Ok(false)
}

/// How deep [`info_versions_contain`] follows nested arrays and maps.
const MAX_CBOR_DEPTH: usize = 8;

/// Just enough CBOR reading for [`info_versions_contain`]: definite lengths only (as
/// CTAP2 canonical CBOR has).
struct CborReader<'a> {
    bytes: &'a [u8],
}

impl<'a> CborReader<'a> {
    /// A head: (major type, argument).
    fn head(&mut self) -> Option<(u8, u64)> {
        let (&first, rest) = self.bytes.split_first()?;
        let info = first & 0x1F;
        let (argument, rest) = match info {
            0..=23 => (u64::from(info), rest),
            24..=27 => {
                let (bytes, rest) = rest.split_at_checked(1 << (info - 24))?;
                (
                    bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)),
                    rest,
                )
            }
            _ => return None,
        };
        self.bytes = rest;
        Some((first >> 5, argument))
    }

    fn take(&mut self, len: u64) -> Option<&'a [u8]> {
        let (taken, rest) = self.bytes.split_at_checked(usize::try_from(len).ok()?)?;
        self.bytes = rest;
        Some(taken)
    }

    /// Skips the rest of an item whose head was `head`.
    fn skip_value_after(&mut self, head: (u8, u64), depth: usize) -> Option<()> {
        if depth > MAX_CBOR_DEPTH {
            return None;
        }
        match head {
            (0 | 1 | 7, _) => Some(()),
            (2 | 3, len) => self.take(len).map(drop),
            (4, count) => (0..count).try_for_each(|_| self.skip(depth + 1)),
            (5, count) => (0..count).try_for_each(|_| {
                self.skip(depth + 1)?;
                self.skip(depth + 1)
            }),
            (6, _) => self.skip(depth + 1),
            _ => None,
        }
    }

    /// Skips one whole item.
    fn skip(&mut self, depth: usize) -> Option<()> {
        let head = self.head()?;
        self.skip_value_after(head, depth)
    }
}

/// The status byte of a CBOR answer, as a result.
fn check_status(answer: &[u8]) -> Result<(), Error> {
    match answer.first().copied().map(StatusCode::new) {
        Some(StatusCode::SUCCESS) => Ok(()),
        Some(code) => Err(Error::Ctap(CtapError::new(code))),
        None => Err(Error::Ctap(CtapError::new(StatusCode::INVALID_LENGTH))),
    }
}

/// The attached FIDO key whose serial number is `serial`.
///
/// # Errors
/// As [`by_serial_of`], then as [`hid::list_devices`].
///
/// [`hid::list_devices`]: ctap_device::hid::list_devices
#[cfg(feature = "hidapi")]
pub fn by_serial(serial: &str) -> Result<ctap_device::hid::HidDeviceInfo, Error> {
    by_serial_of(ctap_device::hid::list_devices()?, serial)
}

/// [`by_serial`] over a listing the caller already has. The serial number must match
/// the HID serial string exactly, and name one key: two keys with the same serial
/// number (a vendor that gives every unit the same one, or none and an empty string)
/// are refused rather than one picked at random.
///
/// # Errors
/// [`Error::NotFound`] if no listed key has that serial number (its text lists the keys
/// found, with their serial numbers); [`Error::InvalidArgument`] if several have it
/// (its text lists them: pick one by path); the key's own error (typically
/// [`Error::Open`] with the reason) if the one key with that serial number cannot be
/// used.
#[cfg(feature = "hidapi")]
pub fn by_serial_of(
    entries: Vec<ctap_device::hid::DeviceEntry>,
    serial: &str,
) -> Result<ctap_device::hid::HidDeviceInfo, Error> {
    use ctap_device::hid::{HidDeviceInfo, escape_device_string};
    let describe = |info: &HidDeviceInfo| match &info.serial_number {
        Some(found) => format!("{info} serial {}", escape_device_string(found)),
        None => format!("{info} (no serial number)"),
    };
    let wanted = escape_device_string(serial);
    let mut others = Vec::new();
    let mut matching = Vec::new();
    for entry in entries {
        let info = match &entry {
            Ok(info) => info,
            Err(unusable) => &unusable.info,
        };
        if info.serial_number.as_deref() == Some(serial) {
            matching.push(entry);
        } else {
            others.push(describe(info));
        }
    }
    match matching.len() {
        0 => {
            let mut message = format!("a FIDO security key with serial number {wanted}");
            if others.is_empty() {
                message.push_str(" (no keys found)");
            } else {
                message.push_str("; the keys found:");
                for other in &others {
                    message.push_str(&format!("\n  {other}"));
                }
            }
            Err(Error::NotFound(message))
        }
        1 => match matching.pop() {
            Some(Ok(info)) => Ok(info),
            Some(Err(unusable)) => Err(unusable.error),
            None => Err(Error::NotFound(wanted)),
        },
        count => {
            let mut message = format!(
                "{count} FIDO security keys have serial number {wanted}; choose one by path:"
            );
            for entry in &matching {
                match entry {
                    Ok(info) => message.push_str(&format!("\n  {}", describe(info))),
                    Err(unusable) => message.push_str(&format!("\n  {unusable}")),
                }
            }
            Err(Error::InvalidArgument(message))
        }
    }
}

/// The one usable FIDO key attached: what `ctap` uses without `--device`.
///
/// # Errors
/// [`Error::NotFound`] if there is none (its text lists the keys that cannot be opened,
/// each with its reason) and [`Error::InvalidArgument`] if there are several (its text
/// lists them: pick one by path, [`by_serial`] or [`by_touch`]); then as
/// [`hid::list_devices`].
///
/// [`hid::list_devices`]: ctap_device::hid::list_devices
#[cfg(feature = "hidapi")]
pub fn only_key() -> Result<ctap_device::hid::HidDeviceInfo, Error> {
    only_key_of(ctap_device::hid::list_devices()?)
}

/// [`only_key`] over a listing the caller already has (from
/// [`list_devices`](ctap_device::hid::list_devices) or elsewhere).
///
/// # Errors
/// As [`only_key`].
#[cfg(feature = "hidapi")]
pub fn only_key_of(
    entries: Vec<ctap_device::hid::DeviceEntry>,
) -> Result<ctap_device::hid::HidDeviceInfo, Error> {
    let mut usable = Vec::new();
    let mut unusable = Vec::new();
    for entry in entries {
        match entry {
            Ok(info) => usable.push(info),
            Err(error) => unusable.push(error),
        }
    }
    if usable.len() > 1 {
        let mut message = format!(
            "{} FIDO security keys found; choose one by path:",
            usable.len()
        );
        for info in &usable {
            message.push_str(&format!("\n  {info}"));
        }
        return Err(Error::InvalidArgument(message));
    }
    if let Some(info) = usable.pop() {
        return Ok(info);
    }
    let mut message = String::from("a usable FIDO security key (none found)");
    for entry in &unusable {
        message.push_str(&format!("\n  {entry}"));
    }
    Err(Error::NotFound(message))
}

#[cfg(all(test, feature = "virtual"))]
mod tests {
    use super::*;
    use ctap_virtual::{Config, Generation, TouchPolicy, VirtualAuthenticator};

    fn authenticator(touch: TouchPolicy) -> VirtualAuthenticator {
        VirtualAuthenticator::new(Config::default().with_touch(touch))
    }

    #[test]
    fn the_touched_key_wins_and_the_others_are_cancelled() {
        let keys = [
            authenticator(TouchPolicy::Never),
            authenticator(TouchPolicy::Approve {
                after: Duration::ZERO,
            }),
            authenticator(TouchPolicy::Never),
        ];
        let devices: Vec<_> = keys.iter().map(|k| k.open_device().unwrap()).collect();
        let (index, mut device) = by_touch(devices, &TouchOptions::default()).unwrap();
        assert_eq!(index, 1);
        assert_eq!(device.ping(b"still works").unwrap(), b"still works");
        // The untouched keys got CTAPHID_CANCEL and are free for the next program.
        for key in [&keys[0], &keys[2]] {
            key.set_touch_policy(TouchPolicy::Approve {
                after: Duration::ZERO,
            });
            let mut again = key.open_device().unwrap();
            assert_eq!(again.ping(b"free").unwrap(), b"free");
        }
    }

    #[test]
    fn a_failing_key_drops_out() {
        let keys = [
            authenticator(TouchPolicy::Deny {
                after: Duration::ZERO,
            }),
            authenticator(TouchPolicy::Approve {
                after: Duration::from_millis(20),
            }),
        ];
        let devices: Vec<_> = keys.iter().map(|k| k.open_device().unwrap()).collect();
        let (index, _) = by_touch(devices, &TouchOptions::default()).unwrap();
        assert_eq!(index, 1);
    }

    #[test]
    fn cancel_and_empty_lists_are_errors() {
        let key = authenticator(TouchPolicy::Never);
        let token = CancelToken::new();
        token.cancel();
        let options = TouchOptions::default().with_cancel(token);
        let error = by_touch(vec![key.open_device().unwrap()], &options).unwrap_err();
        assert!(matches!(error, Error::Cancelled), "{error}");
        let none: Vec<ctap_device::CtapHidDevice<ctap_virtual::VirtualConnection>> = Vec::new();
        assert!(matches!(
            by_touch(none, &TouchOptions::default()),
            Err(Error::InvalidArgument(_))
        ));
    }

    fn key_of(generation: Generation, touch: TouchPolicy) -> VirtualAuthenticator {
        VirtualAuthenticator::new(
            Config::default()
                .with_touch(touch)
                .with_generation(generation),
        )
    }

    const NOW: TouchPolicy = TouchPolicy::Approve {
        after: Duration::ZERO,
    };
    const ALL: [Generation; 3] = [Generation::Ctap21, Generation::Ctap20, Generation::U2fOnly];

    #[test]
    fn every_key_generation_takes_part_and_the_touched_one_wins() {
        // One untouched key of each generation, then the touched one: CTAP 2.1
        // (authenticatorSelection), CTAP 2.0 (the makeCredential probe, CTAP 2.1 §6.1.2
        // step 1) and U2F only (REGISTER with a dummy application) in turn.
        for touched in ALL {
            let mut keys: Vec<_> = ALL.iter().map(|&g| key_of(g, TouchPolicy::Never)).collect();
            keys.push(key_of(touched, NOW));
            let devices: Vec<_> = keys.iter().map(|k| k.open_device().unwrap()).collect();
            let options = TouchOptions::default().with_timeout(Duration::from_secs(600));
            let (index, mut device) = by_touch(devices, &options)
                .unwrap_or_else(|e| panic!("a touched {touched:?} key: {e}"));
            assert_eq!(index, 3, "a touched {touched:?} key");
            assert_eq!(device.ping(b"mine").unwrap(), b"mine");
            // The others were cancelled (or no longer polled) and are free again.
            for key in &keys[..3] {
                let mut again = key.open_device().unwrap();
                assert_eq!(again.ping(b"free").unwrap(), b"free");
            }
        }
    }

    #[test]
    fn each_generation_is_asked_its_own_way() {
        // CTAP 2.1: authenticatorSelection, counted by the key.
        let key = key_of(Generation::Ctap21, NOW);
        by_touch(vec![key.open_device().unwrap()], &TouchOptions::default()).unwrap();
        assert_eq!(key.stats().selections, 1);
        // CTAP 2.0: selection would be INVALID_COMMAND there; the probe registers
        // nothing.
        let key = key_of(Generation::Ctap20, NOW);
        by_touch(vec![key.open_device().unwrap()], &TouchOptions::default()).unwrap();
        assert_eq!(key.stats().selections, 0);
        let mut device = key.open_device().unwrap();
        let answer = device
            .call(Command::CBOR, &[Ctap2Command::SELECTION.to_u8()])
            .unwrap();
        assert_eq!(answer, [StatusCode::INVALID_COMMAND.to_u8()]);
        // U2F only: no CBOR at all, so only the U2F probe can find it; an untouched one
        // (6985 to every REGISTER) ends with the timeout.
        let key = key_of(Generation::U2fOnly, TouchPolicy::Never);
        let device = key.open_device().unwrap();
        assert!(!device.capabilities().contains(Capabilities::CBOR));
        let options = TouchOptions::default().with_timeout(Duration::from_millis(200));
        let error = by_touch(vec![device], &options).unwrap_err();
        assert!(matches!(error, Error::Timeout(_)), "{error}");
    }

    #[test]
    fn get_info_versions_are_read_from_any_member_order() {
        // Canonical, and a map whose first members are nested (skipped) before key 1.
        let canonical = [
            0xA2, 0x01, 0x82, 0x68, b'F', b'I', b'D', b'O', b'_', b'2', b'_', b'0', 0x68, b'F',
            b'I', b'D', b'O', b'_', b'2', b'_', b'1', 0x03, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0,
        ];
        assert!(info_versions_contain(&canonical, "FIDO_2_1").unwrap());
        assert!(!info_versions_contain(&canonical, "FIDO_2_2").unwrap());
        let reordered = [
            0xA2, 0x04, 0xA1, 0x62, b'r', b'k', 0xF5, 0x01, 0x81, 0x68, b'F', b'I', b'D', b'O',
            b'_', b'2', b'_', b'0',
        ];
        assert!(!info_versions_contain(&reordered, "FIDO_2_1").unwrap());
        assert!(info_versions_contain(&reordered, "FIDO_2_0").unwrap());
        // Truncated, deep or indefinite CBOR is an error, never a panic.
        for bad in [
            &[][..],
            &[0xA1],
            &[0xA1, 0x02],
            &[0xA1, 0x02, 0x9F],
            &[0x81],
        ] {
            assert!(
                info_versions_contain(bad, "FIDO_2_1").is_err(),
                "{bad:02X?}"
            );
        }
        let deep: Vec<u8> = [0xA1, 0x02]
            .into_iter()
            .chain(std::iter::repeat_n(0x81, 100))
            .chain([0x00])
            .collect();
        assert!(info_versions_contain(&deep, "FIDO_2_1").is_err());
    }

    #[test]
    fn nobody_touching_ends_with_the_timeout() {
        let keys = [
            authenticator(TouchPolicy::Never),
            authenticator(TouchPolicy::Never),
        ];
        let devices: Vec<_> = keys.iter().map(|k| k.open_device().unwrap()).collect();
        let options = TouchOptions::default().with_timeout(Duration::from_millis(100));
        let error = by_touch(devices, &options).unwrap_err();
        assert!(matches!(error, Error::Timeout(_)), "{error}");
    }
}

#[cfg(all(test, feature = "hidapi"))]
mod serial_tests {
    use super::*;
    use ctap_device::OpenFailure;
    use ctap_device::hid::{DeviceEntry, HidDeviceInfo, UnusableDevice};

    fn key(path: &str, serial: Option<&str>) -> HidDeviceInfo {
        HidDeviceInfo {
            path: path.to_owned(),
            vendor_id: 0x1050,
            product_id: 0x0407,
            product: Some("Key".to_owned()),
            manufacturer: None,
            serial_number: serial.map(str::to_owned),
            report_sizes: None,
        }
    }

    fn listing() -> Vec<DeviceEntry> {
        vec![
            Ok(key("/dev/hidraw1", Some("AAA"))),
            Ok(key("/dev/hidraw2", Some("BBB"))),
            Ok(key("/dev/hidraw3", Some("BBB"))),
            Ok(key("/dev/hidraw4", None)),
            Err(UnusableDevice {
                info: key("/dev/hidraw5", Some("CCC")),
                error: Error::Open {
                    path: "/dev/hidraw5".to_owned(),
                    kind: OpenFailure::Other,
                    reason: "Permission denied".to_owned(),
                    hint: None,
                },
            }),
        ]
    }

    #[test]
    fn one_key_with_the_serial_is_chosen() {
        assert_eq!(by_serial_of(listing(), "AAA").unwrap().path, "/dev/hidraw1");
    }

    #[test]
    fn several_keys_with_the_serial_are_refused_and_listed() {
        let Err(Error::InvalidArgument(text)) = by_serial_of(listing(), "BBB") else {
            panic!("two keys have serial BBB");
        };
        assert!(
            text.starts_with("2 FIDO security keys have serial number BBB"),
            "{text}"
        );
        assert!(
            text.contains("/dev/hidraw2") && text.contains("/dev/hidraw3"),
            "{text}"
        );
        assert!(!text.contains("/dev/hidraw1"), "{text}");
    }

    #[test]
    fn no_key_with_the_serial_lists_what_was_found() {
        let Err(Error::NotFound(text)) = by_serial_of(listing(), "aaa") else {
            panic!("serial numbers match exactly");
        };
        assert!(text.contains("serial number aaa"), "{text}");
        assert!(
            text.contains("/dev/hidraw1 (1050:0407 Key) serial AAA"),
            "{text}"
        );
        assert!(
            text.contains("/dev/hidraw4 (1050:0407 Key) (no serial number)"),
            "{text}"
        );
        let Err(Error::NotFound(text)) = by_serial_of(Vec::new(), "AAA") else {
            panic!("nothing listed");
        };
        assert!(text.ends_with("(no keys found)"), "{text}");
        // A device's serial string cannot write escape sequences to a terminal.
        let Err(Error::NotFound(text)) = by_serial_of(Vec::new(), "\u{1b}[2J") else {
            panic!("nothing listed");
        };
        assert!(!text.contains('\u{1b}'), "{text}");
    }

    #[test]
    fn the_one_key_with_the_serial_that_cannot_be_used_says_why() {
        let error = by_serial_of(listing(), "CCC").unwrap_err();
        assert!(matches!(error, Error::Open { .. }), "{error}");
        assert!(error.to_string().contains("Permission denied"), "{error}");
    }
}
