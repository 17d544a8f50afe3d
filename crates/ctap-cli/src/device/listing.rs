//! Where the device listing comes from: hidapi, or (for the CLI's own tests) a listing
//! injected through the environment.
//!
//! `CTAP_CLI_FAKE_DEVICES` holds a JSON array in the shape of `ctap --json list`'s
//! `devices` (`path`, `vendor_id`, `product_id`, optional `manufacturer`, `product`,
//! `serial_number`, `input_report_size`, `output_report_size`, and `error` for a device
//! that cannot be used). When it is set, hidapi is not asked. It exists so the no-key
//! and several-key paths can be tested on a machine without keys; it is read here and
//! nowhere else. A fake entry's `path` may be any `--device` name (`udp:HOST:PORT`,
//! `virtual`), so that choosing among several keys (`--device serial:...`, `--device
//! touch`) runs end to end against `ctap serve --udp` authenticators.

use ctap::Target;
use ctap::device::{Error, OpenFailure, hid};
use ctap::frame::ReportSize;
use serde_json::Value as Json;

use crate::error::Failure;

/// The environment variable that replaces enumeration (see the module doc).
const FAKE_DEVICES: &str = "CTAP_CLI_FAKE_DEVICES";

/// The FIDO devices, usable or not.
pub(crate) fn list_devices() -> Result<Vec<hid::DeviceEntry>, Failure> {
    match std::env::var(FAKE_DEVICES) {
        Ok(text) => fake_devices(&text)
            .map_err(|reason| Failure::new(format!("{FAKE_DEVICES} is not a listing: {reason}"))),
        Err(_) => Ok(hid::list_devices()?),
    }
}

/// What a listed path opens: the hidapi path itself, or, in a fake listing, whatever
/// `--device` name it holds (see the module doc).
pub(crate) fn target_of(path: &str) -> Result<Target, Failure> {
    if std::env::var_os(FAKE_DEVICES).is_some() {
        Ok(path.parse::<Target>()?)
    } else {
        Ok(Target::Path(path.to_owned()))
    }
}

fn fake_devices(text: &str) -> Result<Vec<hid::DeviceEntry>, String> {
    let entries: Vec<Json> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    entries.iter().map(fake_entry).collect()
}

fn fake_entry(entry: &Json) -> Result<hid::DeviceEntry, String> {
    let text = |key: &str| entry.get(key).and_then(Json::as_str).map(str::to_owned);
    let id = |key: &str| {
        entry
            .get(key)
            .and_then(Json::as_u64)
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| format!("{key} must be a number 0..=65535 in {entry}"))
    };
    let size = |key: &str| {
        entry
            .get(key)
            .and_then(Json::as_u64)
            .map(|n| {
                usize::try_from(n)
                    .ok()
                    .and_then(|n| ReportSize::new(n).ok())
                    .ok_or_else(|| format!("{key} must be 8..=64 in {entry}"))
            })
            .transpose()
    };
    let info = hid::HidDeviceInfo {
        path: text("path").ok_or_else(|| format!("path missing in {entry}"))?,
        vendor_id: id("vendor_id")?,
        product_id: id("product_id")?,
        product: text("product"),
        manufacturer: text("manufacturer"),
        serial_number: text("serial_number"),
        report_sizes: match (size("input_report_size")?, size("output_report_size")?) {
            (Some(input), Some(output)) => Some((input, output)),
            _ => None,
        },
    };
    Ok(match text("error") {
        None => Ok(info),
        Some(reason) => Err(hid::UnusableDevice {
            error: Error::Open {
                path: info.path.clone(),
                kind: OpenFailure::Other,
                reason,
                hint: None,
            },
            info,
        }),
    })
}
