//! Picking one key among several: by path or serial number (with `hidapi`), or by
//! asking the user to touch the one they mean.

use std::sync::mpsc;
use std::time::Duration;

use ctap_device::{CallOptions, CancelToken, CtapDevice, Error};
use ctap_types::{Command, Ctap2Command, CtapError, StatusCode};

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

/// Asks the user to touch one of `devices`: sends authenticatorSelection to every one at
/// once, keeps the first that answers with success, and cancels the others (each gets
/// CTAPHID_CANCEL and is dropped once its call has ended). Returns the winner and its
/// index in `devices`.
///
/// A device that fails (e.g. not a CTAP2 device, or unplugged) drops out; the selection
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
            scope.spawn(move || {
                let call = CallOptions::default()
                    .with_cancel(token)
                    .with_timeout(timeout);
                let result = device
                    .call_with(Command::CBOR, &[Ctap2Command::SELECTION.to_u8()], call)
                    .and_then(|answer| check_status(&answer));
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
    use ctap_virtual::{Config, TouchPolicy, VirtualAuthenticator};

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
