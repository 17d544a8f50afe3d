//! The hidapi transport: USB (and Bluetooth) HID security keys.
//!
//! On Linux this uses hidapi's pure-Rust hidraw backend (no libudev, no system
//! packages); on Windows its pure-Rust backend (windows-sys, no C compiler); on macOS
//! its C backend over IOKit (needs the Xcode command-line tools).

use std::ffi::CString;
use std::fmt;
use std::time::Duration;

use ctaphid_frame::{MAX_REPORT_SIZE, ReportSize};
use hidapi::{HidApi, HidDevice, HidError};

use crate::{
    CtapHidDevice, DeviceConfig, Error, FIDO_USAGE_CTAPHID, FIDO_USAGE_PAGE, HidConnection,
    OpenFailure, parse_report_descriptor,
};

/// The longest report descriptor hidapi returns (`HID_API_MAX_REPORT_DESCRIPTOR_SIZE`).
const MAX_DESCRIPTOR_LEN: usize = 4096;

/// A FIDO device found by [`list_devices`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HidDeviceInfo {
    /// The OS path to [`open`] it with (`/dev/hidraw3`, `\\?\hid#...`, `DevSrvsID:...`).
    pub path: String,
    /// USB vendor id.
    pub vendor_id: u16,
    /// USB product id.
    pub product_id: u16,
    /// The product string, if the device has one.
    pub product: Option<String>,
    /// The manufacturer string, if the device has one.
    pub manufacturer: Option<String>,
    /// The serial number string, if the device has one.
    pub serial_number: Option<String>,
    /// The input and output report sizes from the report descriptor, once the device
    /// was opened (`None` for a device that could not be).
    pub report_sizes: Option<(ReportSize, ReportSize)>,
}

impl HidDeviceInfo {
    /// Opens this device (see [`open`]).
    ///
    /// # Errors
    /// As [`open`].
    pub fn open(&self) -> Result<CtapHidDevice<HidapiConnection>, Error> {
        open(&self.path)
    }

    fn from_hidapi(info: &hidapi::DeviceInfo) -> Self {
        Self {
            path: info.path().to_string_lossy().into_owned(),
            vendor_id: info.vendor_id(),
            product_id: info.product_id(),
            product: info.product_string().map(str::to_owned),
            manufacturer: info.manufacturer_string().map(str::to_owned),
            serial_number: info.serial_number().map(str::to_owned),
            report_sizes: None,
        }
    }
}

impl fmt::Display for HidDeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({:04x}:{:04x}",
            self.path, self.vendor_id, self.product_id
        )?;
        for part in [&self.manufacturer, &self.product].into_iter().flatten() {
            write!(f, " {}", escape_device_string(part))?;
        }
        f.write_str(")")
    }
}

/// A device string (product, manufacturer, serial) made safe to print: control
/// characters (C0, DEL, C1: terminal escape sequences) and bidirectional-text overrides
/// become `\u{..}` escapes, so a device cannot write to the user's terminal. `\` is
/// doubled so an escape in the output always came from this function.
#[must_use]
pub fn escape_device_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        if c == '\\' {
            out.push_str("\\\\");
        } else if c.is_control() || bidi {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// A FIDO device that was found but cannot be used: which one, and why.
#[derive(Debug, thiserror::Error)]
#[error("{info}: {error}")]
pub struct UnusableDevice {
    /// What enumeration said about it.
    pub info: HidDeviceInfo,
    /// Why it cannot be used (typically [`Error::Open`] with a hint).
    #[source]
    pub error: Error,
}

/// One entry of [`list_devices`]: a usable device, or one that failed and why.
pub type DeviceEntry = Result<HidDeviceInfo, UnusableDevice>;

/// Lists the FIDO HID devices (usage page 0xF1D0, usage 0x01): python-fido2's
/// `CtapHidDevice.list_devices()`.
///
/// Each device is opened once (and closed again) to check that it can be used and that
/// its report descriptor is sane; one that fails is listed as an [`UnusableDevice`]
/// whose error says what to do (e.g. a udev rule), so one bad device never hides the
/// others and a permission problem never looks like "no devices".
///
/// # Errors
/// [`Error::Io`] if hidapi itself cannot start.
pub fn list_devices() -> Result<Vec<DeviceEntry>, Error> {
    let api = hidapi()?;
    let mut entries = Vec::new();
    let mut seen = Vec::new();
    for raw in api.device_list() {
        let listing = classify(raw.usage_page(), raw.usage(), cfg!(target_os = "windows"));
        if listing == Listing::Other {
            continue;
        }
        let info = HidDeviceInfo::from_hidapi(raw);
        // hidapi may list one interface more than once (one entry per top-level
        // collection on some platforms).
        if seen.contains(&info.path) {
            continue;
        }
        seen.push(info.path.clone());
        if listing == Listing::Hidden {
            entries.push(Err(hidden_device(info)));
            continue;
        }
        entries.push(match HidapiConnection::open_with(&api, &info.path) {
            Ok(connection) => Ok(HidDeviceInfo {
                report_sizes: Some((connection.input, connection.output)),
                ..info
            }),
            Err(error) => Err(UnusableDevice { info, error }),
        });
    }
    Ok(entries)
}

/// What [`list_devices`] makes of one HID interface hidapi enumerated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Listing {
    /// Usage page 0xF1D0, usage 0x01: a FIDO device.
    Fido,
    /// No usage page at all, on Windows: since Windows 10 1903 only administrators may
    /// read a FIDO device's collection (PROTOCOL.md section 8), so it is enumerated
    /// with usage page 0. Listed as unusable with the hint, never dropped silently.
    Hidden,
    /// Anything else (keyboards, mice, other vendors' collections).
    Other,
}

/// The listing decision for an interface with `usage_page` and `usage`, on Windows or
/// elsewhere (a separate function so it is tested on every platform).
fn classify(usage_page: u16, usage: u16, windows: bool) -> Listing {
    match (usage_page, usage) {
        (FIDO_USAGE_PAGE, FIDO_USAGE_CTAPHID) => Listing::Fido,
        (0, _) if windows => Listing::Hidden,
        _ => Listing::Other,
    }
}

/// The entry of an interface Windows listed without its usage page.
fn hidden_device(info: HidDeviceInfo) -> UnusableDevice {
    let error = Error::Open {
        path: info.path.clone(),
        // Windows hides the collection from non-administrators: a permission matter.
        kind: OpenFailure::PermissionDenied,
        reason: "listed without a HID usage page: Windows hides the collection of FIDO \
                 devices from programs that are not run as administrator, so this may \
                 be a security key"
            .to_owned(),
        hint: Some(WINDOWS_ADMIN_HINT.to_owned()),
    };
    UnusableDevice { info, error }
}

/// What to do on Windows when a FIDO device cannot be opened or read.
const WINDOWS_ADMIN_HINT: &str = "since Windows 10 1903 only administrators can open FIDO \
                                  devices directly (browsers go through webauthn.dll): \
                                  run this program as administrator";

/// Opens the FIDO device at `path` and allocates a channel (INIT), with the default
/// [`DeviceConfig`].
///
/// # Errors
/// [`Error::NotFound`] if nothing is at `path`, [`Error::Open`] (with a hint) if it
/// cannot be opened or is not a FIDO device, then as [`CtapHidDevice::new`].
pub fn open(path: &str) -> Result<CtapHidDevice<HidapiConnection>, Error> {
    open_with_config(path, DeviceConfig::default())
}

/// As [`open`], with `config`.
///
/// # Errors
/// As [`open`].
pub fn open_with_config(
    path: &str,
    config: DeviceConfig,
) -> Result<CtapHidDevice<HidapiConnection>, Error> {
    CtapHidDevice::with_config(HidapiConnection::open(path)?, config)
}

/// A [`HidConnection`] over a hidapi device.
///
/// Writes put the report-ID byte 0x00 before each report (hidapi wants it for devices
/// without numbered reports); a read that times out (hidapi returns 0 bytes) is "no
/// report", never an all-zero report. Report sizes come from the report descriptor.
pub struct HidapiConnection {
    device: Option<HidDevice>,
    path: String,
    input: ReportSize,
    output: ReportSize,
}

impl HidapiConnection {
    /// Opens the device at `path` and reads its report sizes from its descriptor.
    ///
    /// # Errors
    /// As [`open`].
    pub fn open(path: &str) -> Result<Self, Error> {
        Self::open_with(&hidapi()?, path)
    }

    fn open_with(api: &HidApi, path: &str) -> Result<Self, Error> {
        let c_path = CString::new(path).map_err(|_| Error::NotFound(path.to_owned()))?;
        let device = api.open_path(&c_path).map_err(|error| {
            let ids = api
                .device_list()
                .find(|d| d.path() == c_path.as_c_str())
                .map(|d| (d.vendor_id(), d.product_id()));
            open_error(path, ids, &error)
        })?;
        let (input, output) = report_sizes(&device, path)?;
        log::debug!("{path}: opened, reports {input} in, {output} out");
        Ok(Self {
            device: Some(device),
            path: path.to_owned(),
            input,
            output,
        })
    }

    /// The device path.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    fn device(&self) -> Result<&HidDevice, Error> {
        self.device.as_ref().ok_or(Error::Disconnected)
    }
}

impl HidConnection for HidapiConnection {
    fn write_report(&mut self, report: &[u8]) -> Result<(), Error> {
        let mut buffer = [0u8; MAX_REPORT_SIZE + 1];
        let len = report.len().min(MAX_REPORT_SIZE);
        let (id, data) = buffer.split_at_mut(1);
        id.fill(0);
        if let (Some(target), Some(source)) = (data.get_mut(..len), report.get(..len)) {
            target.copy_from_slice(source);
        }
        let out = buffer.get(..=len).unwrap_or_default();
        let written = self.device()?.write(out).map_err(io_error)?;
        if written < out.len() {
            return Err(Error::Io(std::io::Error::other(format!(
                "short write to {}: {written} of {} bytes",
                self.path,
                out.len()
            ))));
        }
        Ok(())
    }

    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, Error> {
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        match self.device()?.read_timeout(buf, millis) {
            Ok(0) => Ok(None),
            Ok(len) => Ok(Some(len)),
            // A signal interrupted the wait (e.g. Ctrl-C, whose handler cancels the
            // call): no report yet; the caller looks at its cancel token and reads again.
            Err(HidError::IoError { error }) if error.kind() == std::io::ErrorKind::Interrupted => {
                Ok(None)
            }
            Err(error) => Err(io_error(error)),
        }
    }

    fn input_report_size(&self) -> ReportSize {
        self.input
    }

    fn output_report_size(&self) -> ReportSize {
        self.output
    }

    fn close(&mut self) {
        self.device = None;
    }
}

impl fmt::Debug for HidapiConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HidapiConnection")
            .field("path", &self.path)
            .field("open", &self.device.is_some())
            .field("input", &self.input)
            .field("output", &self.output)
            .finish()
    }
}

/// A hidapi context, its failure as an error value (hidapi has global state that can
/// fail to start, e.g. without `/sys` in a container).
fn hidapi() -> Result<HidApi, Error> {
    HidApi::new().map_err(|error| {
        Error::Io(std::io::Error::other(format!(
            "cannot start hidapi to list HID devices: {error}"
        )))
    })
}

/// The report sizes from the descriptor; 64/64 if the descriptor cannot be read or
/// parsed (what nearly every device uses), an error if it says the device is not FIDO
/// or has sizes CTAPHID cannot use.
fn report_sizes(device: &HidDevice, path: &str) -> Result<(ReportSize, ReportSize), Error> {
    let mut descriptor = vec![0u8; MAX_DESCRIPTOR_LEN];
    let len = match device.get_report_descriptor(&mut descriptor) {
        Ok(len) => len,
        Err(error) => {
            log::warn!(
                "{path}: cannot read the report descriptor ({error}); assuming 64-byte reports"
            );
            return Ok((ReportSize::FULL_SPEED, ReportSize::FULL_SPEED));
        }
    };
    let info = match parse_report_descriptor(descriptor.get(..len).unwrap_or_default()) {
        Ok(info) => info,
        Err(error) => {
            log::warn!("{path}: {error}; assuming 64-byte reports");
            return Ok((ReportSize::FULL_SPEED, ReportSize::FULL_SPEED));
        }
    };
    let unusable = |reason: String| Error::Open {
        path: path.to_owned(),
        kind: OpenFailure::NotFido,
        reason,
        hint: None,
    };
    if !info.is_fido {
        return Err(unusable(format!(
            "not a FIDO device: its report descriptor has no usage page 0x{FIDO_USAGE_PAGE:04X}, usage 0x{FIDO_USAGE_CTAPHID:02X}"
        )));
    }
    let size = |bytes: usize, direction: &str| {
        ReportSize::new(bytes).map_err(|_| {
            unusable(format!(
                "{direction} reports of {bytes} bytes; CTAPHID needs 8..=64"
            ))
        })
    };
    Ok((
        size(info.input_report_size, "input")?,
        size(info.output_report_size, "output")?,
    ))
}

/// The udev rule of the README ("Giving a user access to keys on Linux"): it grants
/// the logged-in user (and the `plugdev` group) the FIDO keys udev recognises, and
/// nothing else.
pub const UDEV_RULE: &str = "KERNEL==\"hidraw*\", SUBSYSTEM==\"hidraw\", ENV{ID_FIDO_TOKEN}==\"1\", TAG+=\"uaccess\", GROUP=\"plugdev\", MODE=\"0660\"";

/// An open failure: why (a value), what the OS said, and what the user can do.
/// `ids` is the device's vendor and product id, when enumeration knows them.
fn open_error(path: &str, ids: Option<(u16, u16)>, error: &HidError) -> Error {
    let reason = error.to_string();
    let lower = reason.to_lowercase();
    if lower.contains("no such file") || lower.contains("not found") {
        return Error::NotFound(path.to_owned());
    }
    let kind = if lower.contains("permission denied")
        || lower.contains("access is denied")
        || lower.contains("not permitted")
        || lower.contains("privilege")
    {
        OpenFailure::PermissionDenied
    } else if lower.contains("busy")
        || lower.contains("exclusive")
        || lower.contains("in use")
        || lower.contains("sharing violation")
    {
        OpenFailure::Busy
    } else {
        OpenFailure::Other
    };
    Error::Open {
        path: path.to_owned(),
        kind,
        reason,
        hint: Some(open_hint(kind, ids)),
    }
}

/// What to do when a FIDO device cannot be opened, per platform: a few short lines.
fn open_hint(kind: OpenFailure, ids: Option<(u16, u16)>) -> String {
    let key = ids.map_or_else(
        || "this key".to_owned(),
        |(vid, pid)| format!("this key ({vid:04x}:{pid:04x})"),
    );
    match kind {
        OpenFailure::Busy => {
            return format!("another program holds {key} exclusively; close it and retry");
        }
        OpenFailure::PermissionDenied => {}
        _ => {
            return "check that the key is still plugged in and that no other program holds \
                    it exclusively"
                .to_owned();
        }
    }
    if cfg!(target_os = "linux") {
        let ids = ids.map_or_else(
            || "ATTRS{idVendor}==\"VID\", ATTRS{idProduct}==\"PID\"".to_owned(),
            |(vid, pid)| {
                format!("ATTRS{{idVendor}}==\"{vid:04x}\", ATTRS{{idProduct}}==\"{pid:04x}\"")
            },
        );
        format!(
            "your user may not open {key}. Add this udev rule to\n  \
             /etc/udev/rules.d/70-fido-access.rules (see the README) and replug the key:\n  \
             {UDEV_RULE}\n  \
             before systemd 244, in place of ENV{{ID_FIDO_TOKEN}}==\"1\" put\n  {ids}"
        )
    } else if cfg!(target_os = "windows") {
        WINDOWS_ADMIN_HINT.to_owned()
    } else if cfg!(target_os = "macos") {
        "allow this program (or its terminal) under System Settings > Privacy & \
         Security > Input Monitoring"
            .to_owned()
    } else {
        format!("check the permissions of the HID device node of {key}")
    }
}

/// A hidapi failure during I/O: a vanished device is [`Error::Disconnected`].
fn io_error(error: HidError) -> Error {
    let disconnected = match &error {
        HidError::IoError { error } => {
            matches!(error.raw_os_error(), Some(19 | 5 | 32)) // ENODEV, EIO, EPIPE
                || error.kind() == std::io::ErrorKind::BrokenPipe
        }
        HidError::HidApiError { message } => {
            let message = message.to_lowercase();
            message.contains("disconnected")
                || message.contains("no such device")
                || message.contains("device not configured")
                || message.contains("not connected")
        }
        _ => false,
    };
    if disconnected {
        log::debug!("HID device gone: {error}");
        Error::Disconnected
    } else {
        Error::Io(std::io::Error::other(format!("HID I/O failed: {error}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The FIDO hidraw nodes as the kernel describes them, found without this crate's
    /// code: a node whose report descriptor declares usage page 0xF1D0 (`06 D0 F1`) and
    /// usage 0x01 (`09 01`) right after it.
    #[cfg(target_os = "linux")]
    fn fido_hidraw_nodes_from_sysfs() -> Vec<String> {
        let Ok(dir) = std::fs::read_dir("/sys/class/hidraw") else {
            return Vec::new();
        };
        let mut paths: Vec<String> = dir
            .filter_map(Result::ok)
            .filter(|node| {
                std::fs::read(node.path().join("device/report_descriptor"))
                    .is_ok_and(|d| d.windows(5).any(|w| w == [0x06, 0xD0, 0xF1, 0x09, 0x01]))
            })
            .map(|node| format!("/dev/{}", node.file_name().to_string_lossy()))
            .collect();
        paths.sort();
        paths
    }

    #[test]
    fn windows_devices_without_a_usage_page_are_listed_with_the_admin_hint() {
        for windows in [false, true] {
            assert_eq!(classify(0xF1D0, 0x01, windows), Listing::Fido);
            assert_eq!(classify(0xF1D0, 0x02, windows), Listing::Other);
            assert_eq!(classify(0x0001, 0x06, windows), Listing::Other);
        }
        assert_eq!(classify(0, 0, true), Listing::Hidden);
        assert_eq!(classify(0, 0, false), Listing::Other);
        let info = HidDeviceInfo {
            path: r"\\?\hid#vid_1050&pid_0407&mi_01#7&1234".to_owned(),
            vendor_id: 0x1050,
            product_id: 0x0407,
            product: Some("YubiKey".to_owned()),
            manufacturer: None,
            serial_number: None,
            report_sizes: None,
        };
        let entry = hidden_device(info.clone());
        assert_eq!(entry.info, info);
        let text = entry.to_string();
        assert!(text.contains("without a HID usage page"), "{text}");
        assert!(text.contains("run this program as administrator"), "{text}");
        assert!(text.contains("1050:0407"), "{text}");
    }

    /// On Linux hidapi's hidraw backend reads sysfs and cannot fail to start, so the
    /// listing must succeed and name exactly the FIDO nodes sysfs shows (none on a
    /// build machine; each one, usable or not, where keys are plugged in).
    #[cfg(target_os = "linux")]
    #[test]
    fn enumeration_lists_exactly_the_fido_nodes_sysfs_shows() {
        let entries = list_devices().expect("the hidraw backend starts on Linux");
        let mut listed: Vec<String> = entries
            .iter()
            .map(|entry| match entry {
                Ok(info) => info.path.clone(),
                Err(unusable) => {
                    let text = unusable.to_string();
                    assert!(text.starts_with(&unusable.info.path), "{text}");
                    unusable.info.path.clone()
                }
            })
            .collect();
        listed.sort();
        assert_eq!(listed, fido_hidraw_nodes_from_sysfs(), "{entries:?}");
    }

    #[test]
    fn opening_a_missing_path_is_an_error_that_names_it() {
        let error = HidapiConnection::open("/nonexistent/hidraw99").unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/hidraw99"),
            "{error}"
        );
        let error = open("bad\0path").unwrap_err();
        assert!(
            matches!(error, Error::NotFound(_) | Error::Io(_)),
            "{error}"
        );
    }

    #[test]
    fn permission_errors_say_what_to_do() {
        let error = open_error(
            "/dev/hidraw0",
            Some((0x1050, 0x0407)),
            &HidError::HidApiError {
                message:
                    "failed to open device with path /dev/hidraw0: Permission denied (os error 13)"
                        .into(),
            },
        );
        assert_eq!(error.open_failure(), Some(OpenFailure::PermissionDenied));
        let text = error.to_string();
        assert!(text.contains("/dev/hidraw0"), "{text}");
        assert!(text.contains("hint:"), "{text}");
        if cfg!(target_os = "linux") {
            assert!(text.contains(UDEV_RULE), "{text}");
            assert!(text.contains("1050:0407"), "{text}");
            assert!(text.contains("ATTRS{idVendor}==\"1050\""), "{text}");
            assert!(!text.contains("<vid>"), "{text}");
            // Short lines, not one ~480-character line.
            assert!(text.lines().all(|line| line.len() <= 130), "{text}");
        }
    }

    #[test]
    fn open_failures_are_typed() {
        let failure = |message: &str| {
            open_error(
                "/dev/hidraw1",
                None,
                &HidError::HidApiError {
                    message: message.into(),
                },
            )
        };
        assert_eq!(
            failure("open: No such file or directory (os error 2)").open_failure(),
            Some(OpenFailure::NotFound)
        );
        assert_eq!(
            failure("Device or resource busy (os error 16)").open_failure(),
            Some(OpenFailure::Busy)
        );
        assert_eq!(
            failure("kIOReturnExclusiveAccess").open_failure(),
            Some(OpenFailure::Busy)
        );
        assert_eq!(
            failure("Access is denied. (os error 5)").open_failure(),
            Some(OpenFailure::PermissionDenied)
        );
        assert_eq!(
            failure("something odd").open_failure(),
            Some(OpenFailure::Other)
        );
        assert_eq!(Error::Disconnected.open_failure(), None);
    }

    #[test]
    fn device_strings_are_escaped() {
        assert_eq!(escape_device_string("YubiKey 5"), "YubiKey 5");
        assert_eq!(
            escape_device_string("evil\u{1b}]0;pwned\u{7}\u{9b}2J\u{202e}"),
            "evil\\u{1b}]0;pwned\\u{7}\\u{9b}2J\\u{202e}"
        );
        assert_eq!(escape_device_string("a\\u{1b}"), "a\\\\u{1b}");
        let info = HidDeviceInfo {
            path: "/dev/hidraw0".into(),
            vendor_id: 1,
            product_id: 2,
            product: Some("Key\u{1b}[2J".into()),
            manufacturer: None,
            serial_number: None,
            report_sizes: None,
        };
        assert!(!info.to_string().contains('\u{1b}'), "{info}");
    }

    #[test]
    fn vanished_devices_are_disconnected() {
        let error = io_error(HidError::HidApiError {
            message: "unexpected poll error (device disconnected)".into(),
        });
        assert!(matches!(error, Error::Disconnected));
        let error = io_error(HidError::HidApiError {
            message: "something else".into(),
        });
        assert!(matches!(error, Error::Io(_)));
    }
}
