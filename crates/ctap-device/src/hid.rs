//! The hidapi transport: USB (and Bluetooth) HID security keys.
//!
//! On Linux this uses hidapi's pure-Rust hidraw backend (no libudev, no system
//! packages); on Windows and macOS hidapi's native backends.

use std::ffi::CString;
use std::fmt;
use std::time::Duration;

use ctaphid_frame::{MAX_REPORT_SIZE, ReportSize};
use hidapi::{HidApi, HidDevice, HidError};

use crate::{
    CtapHidDevice, DeviceConfig, Error, FIDO_USAGE_CTAPHID, FIDO_USAGE_PAGE, HidConnection,
    parse_report_descriptor,
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
            write!(f, " {part}")?;
        }
        f.write_str(")")
    }
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
        if raw.usage_page() != FIDO_USAGE_PAGE || raw.usage() != FIDO_USAGE_CTAPHID {
            continue;
        }
        let info = HidDeviceInfo::from_hidapi(raw);
        // hidapi may list one interface more than once (one entry per top-level
        // collection on some platforms).
        if seen.contains(&info.path) {
            continue;
        }
        seen.push(info.path.clone());
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
        let device = api
            .open_path(&c_path)
            .map_err(|error| open_error(path, &error))?;
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

/// An open failure, with what the user can do about it.
fn open_error(path: &str, error: &HidError) -> Error {
    let reason = error.to_string();
    let lower = reason.to_lowercase();
    if lower.contains("no such file") || lower.contains("not found") {
        return Error::NotFound(path.to_owned());
    }
    let denied = lower.contains("permission denied")
        || lower.contains("access is denied")
        || lower.contains("not permitted")
        || lower.contains("privilege");
    Error::Open {
        path: path.to_owned(),
        reason,
        hint: Some(open_hint(denied).to_owned()),
    }
}

/// What to do when a FIDO device cannot be opened, per platform.
fn open_hint(denied: bool) -> &'static str {
    if cfg!(target_os = "linux") {
        if denied {
            "your user may not open this hidraw node. Add a udev rule, e.g. \
             /etc/udev/rules.d/70-fido.rules with \
             KERNEL==\"hidraw*\", SUBSYSTEM==\"hidraw\", ATTRS{idVendor}==\"<vid>\", \
             ATTRS{idProduct}==\"<pid>\", TAG+=\"uaccess\" \
             (or MODE=\"0660\", GROUP=\"plugdev\" and add yourself to plugdev), run \
             `sudo udevadm control --reload-rules && sudo udevadm trigger`, then re-plug \
             the key (systemd 244+ ships 60-fido-id.rules that does this for most keys)"
        } else {
            "check that the key is still plugged in and that no other program holds it \
             exclusively"
        }
    } else if cfg!(target_os = "windows") {
        "since Windows 10 1903 only administrators can open FIDO devices directly \
         (browsers go through webauthn.dll): run this program as administrator"
    } else if cfg!(target_os = "macos") {
        "allow this program (or its terminal) under System Settings > Privacy & \
         Security > Input Monitoring"
    } else {
        "check the permissions of the HID device node"
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
            &HidError::HidApiError {
                message:
                    "failed to open device with path /dev/hidraw0: Permission denied (os error 13)"
                        .into(),
            },
        );
        let text = error.to_string();
        assert!(text.contains("/dev/hidraw0"), "{text}");
        assert!(text.contains("hint:"), "{text}");
        if cfg!(target_os = "linux") {
            assert!(
                text.contains("uaccess") && text.contains("plugdev"),
                "{text}"
            );
        }
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
