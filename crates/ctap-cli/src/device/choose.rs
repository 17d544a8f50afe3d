//! Choosing among the attached keys: `--device serial:SERIAL`, `--device touch`, and
//! the one key when `--device` is not given.

use ctap::OpenOptions;
use ctap::device::{DeviceConfig, Error};
use ctap::types::KeepaliveStatus;

use super::Opened;
use crate::error::Failure;
use crate::globals::Global;

/// A key chosen among the listed ones rather than named by path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Choice<'a> {
    /// `--device serial:SERIAL`: the one key whose HID serial string is SERIAL.
    Serial(&'a str),
    /// `--device touch`: the key the user touches (authenticatorSelection on all).
    Touch,
}

/// The choice a `--device` name asks for, if it is one (`None`: a target).
pub(crate) fn choice(device: &str) -> Option<Choice<'_>> {
    if device == "touch" {
        return Some(Choice::Touch);
    }
    device.strip_prefix("serial:").map(Choice::Serial)
}

/// The path of the one listed key whose serial number is `serial`; several are refused
/// with the list of them, none with the list of the keys found.
pub(crate) fn by_serial(serial: &str) -> Result<String, Failure> {
    if serial.is_empty() {
        return Err(Failure::with_status(
            "--device serial: needs the key's serial number, e.g. --device serial:A1B2 \
             (`ctap list` shows them)",
            2,
        ));
    }
    match ctap::select::by_serial_of(super::listing::list_devices()?, serial) {
        Ok(info) => Ok(info.path),
        Err(Error::NotFound(text)) => Err(Failure::new(format!(
            "--device serial:{}: found no {}",
            ctap::device::hid::escape_device_string(serial),
            text.strip_prefix("a ").unwrap_or(&text)
        ))),
        Err(Error::InvalidArgument(text)) => Err(Failure::new(
            text.replace("choose one by path:", "choose one with --device PATH:"),
        )),
        Err(other) => Err(other.into()),
    }
}

/// `--device touch`: opens every usable listed key, sends each authenticatorSelection
/// (a key blinks or lights while it waits for a touch), keeps the first one touched and
/// cancels the others (`ctap::select::by_touch`). What is left of `--timeout` bounds
/// opening the keys and the wait; the command then runs on the chosen key.
pub(crate) fn by_touch(global: &Global, config: DeviceConfig) -> Result<Opened, Failure> {
    let mut names = Vec::new();
    let mut devices = Vec::new();
    let mut unusable = Vec::new();
    for entry in super::listing::list_devices()? {
        match entry {
            Ok(info) => {
                let target = super::listing::target_of(&info.path)?;
                let options = OpenOptions::default().with_config(config);
                match ctap::open_with(&target, &options) {
                    Ok(device) => {
                        names.push(info.path);
                        devices.push(device);
                    }
                    Err(error) => unusable.push(format!("{info}: {error}")),
                }
            }
            Err(entry) => unusable.push(entry.to_string()),
        }
    }
    if devices.is_empty() {
        let mut message = String::from("--device touch: no usable FIDO security key found");
        for line in &unusable {
            message.push_str("\n  ");
            message.push_str(line);
        }
        message.push_str(
            "\nplug in a key, or try the built-in software authenticator: ctap --device virtual <command>",
        );
        return Err(Failure::new(message));
    }
    let count = devices.len();
    // Ctrl-C cancels the wait on every key (each gets CTAPHID_CANCEL).
    let (interrupted, token) = super::on_interrupt()?;
    eprintln!(
        "touch the key you mean ({count} key{} waiting for a touch)",
        if count == 1 { " is" } else { "s are" }
    );
    let options = ctap::select::TouchOptions::default()
        .with_timeout(super::time_left(global)?)
        .with_cancel(token);
    match ctap::select::by_touch(devices, &options) {
        Ok((index, device)) => {
            let description = names.get(index).cloned().unwrap_or_default();
            eprintln!("chosen by touch: {description}");
            Ok(Opened {
                description,
                device,
            })
        }
        Err(_) if interrupted.load(std::sync::atomic::Ordering::SeqCst) => {
            Err(Failure::with_status("cancelled", 130))
        }
        Err(error @ Error::Timeout(_)) => Err(crate::error::explain(
            global,
            error,
            &format!("--device touch ({count} keys)"),
            Some(KeepaliveStatus::UPNEEDED),
        )),
        Err(error) => Err(Failure::new(format!(
            "--device touch: no key could be chosen ({error}); a key without CTAP2 \
             (authenticatorSelection) cannot be chosen by touch: name it with --device PATH"
        ))),
    }
}

/// The path of the one usable key, or a message that lists what was found.
pub(crate) fn only_key() -> Result<String, Failure> {
    match ctap::select::only_key_of(super::listing::list_devices()?) {
        Ok(info) => Ok(info.path),
        Err(Error::NotFound(text)) => {
            let mut message = String::from("no usable FIDO security key found");
            // The library's text starts with what was looked for; the rest lists the
            // keys that cannot be opened, each with its reason.
            if let Some((_, unusable)) = text.split_once('\n') {
                message.push('\n');
                message.push_str(unusable);
            }
            message.push_str(
                "\nplug in a key, or try the built-in software authenticator: ctap --device virtual <command>",
            );
            Err(Failure::new(message))
        }
        Err(Error::InvalidArgument(text)) => Err(Failure::new(text.replace(
            "choose one by path:",
            "choose one with --device PATH, --device serial:SERIAL or --device touch:",
        ))),
        Err(other) => Err(other.into()),
    }
}
