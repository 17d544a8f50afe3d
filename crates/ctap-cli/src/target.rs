//! Which device a command talks to, and opening it: `ctap::open_with` does the work
//! (the names `--device` takes are the library's [`ctap::Target`]).

use std::net::SocketAddr;
use std::time::Duration;

use ctap::device::{CtapHidDevice, DeviceConfig, Error, HidConnection};
use ctap::types::KeepaliveStatus;
use ctap::virtual_device as vdev;
use ctap::{OpenOptions, Target};

use crate::Failure;
use crate::cli::Cli;

/// An open device.
pub(crate) struct Opened {
    /// What it is, for humans (`virtual`, `udp:127.0.0.1:8111`, a hidraw path).
    pub(crate) description: String,
    /// The device.
    pub(crate) device: ctap::Device,
}

/// The touch delay of the in-process authenticator: long enough that `ctap select`
/// shows the UPNEEDED keep-alive, short enough for a demo.
pub(crate) const VIRTUAL_TOUCH_DELAY: Duration = Duration::from_millis(1000);

/// The environment variable naming a state file for `--device virtual`, so that its
/// credentials, PIN and counters outlive one run (the format of `ctap serve --state`):
/// every command reads it, so `ctap info` shows the PIN `ctap pin set` stored.
pub(crate) const VIRTUAL_STATE_ENV: &str = "CTAP_VIRTUAL_STATE";

/// Opens the device `--device` names (with `--bind` for UDP); without `--device`, the
/// one attached key. `touch_delay` is how long the in-process authenticator's simulated
/// user takes to touch it.
pub(crate) fn open(
    cli: &Cli,
    config: DeviceConfig,
    touch_delay: Duration,
) -> Result<Opened, Failure> {
    let (device, bind) = (cli.device.as_deref(), cli.bind.as_deref());
    let target = match device.map(|name| (name, choice(name))) {
        Some((_, Some(Choice::Touch))) => {
            if bind.is_some() {
                return Err(Failure::with_status(
                    "--bind applies to --device udp:HOST:PORT only",
                    2,
                ));
            }
            return by_touch(cli, config);
        }
        Some((_, Some(Choice::Serial(serial)))) => crate::listing::target_of(&by_serial(serial)?)?,
        Some((name, None)) => name.parse::<Target>()?,
        None => crate::listing::target_of(&only_key()?)?,
    };
    let bind = match (bind, &target) {
        (None, _) => None,
        (Some(local), Target::Udp(_)) => Some(resolve(local)?),
        (Some(_), _) => {
            return Err(Failure::with_status(
                "--bind applies to --device udp:HOST:PORT only",
                2,
            ));
        }
    };
    let virtual_config =
        vdev::Config::default().with_touch(vdev::TouchPolicy::Approve { after: touch_delay });
    let opened = match (&target, std::env::var_os(VIRTUAL_STATE_ENV)) {
        (Target::Virtual, Some(path)) => {
            let authenticator = vdev::VirtualAuthenticator::new(virtual_config);
            authenticator
                .with_device(|device| device.use_state_file(vdev::StateFile::new(path)))
                .map_err(|e| Failure::new(format!("{VIRTUAL_STATE_ENV}: {e}")))?;
            // The connection keeps the authenticator alive.
            let connection: Box<dyn HidConnection> = Box::new(authenticator.connect());
            CtapHidDevice::with_config(connection, config)
        }
        _ => {
            let mut options = OpenOptions::default()
                .with_config(config)
                .with_virtual_config(virtual_config);
            if let Some(local) = bind {
                options = options.with_bind(local);
            }
            ctap::open_with(&target, &options)
        }
    };
    let device =
        opened.map_err(|e| crate::commands::explain(cli, e, "INIT (opening the device)", None))?;
    let description = target.to_string();
    Ok(Opened {
        description,
        device,
    })
}

/// A key chosen among the listed ones rather than named by path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Choice<'a> {
    /// `--device serial:SERIAL`: the one key whose HID serial string is SERIAL.
    Serial(&'a str),
    /// `--device touch`: the key the user touches (authenticatorSelection on all).
    Touch,
}

/// The choice a `--device` name asks for, if it is one (`None`: a target).
fn choice(device: &str) -> Option<Choice<'_>> {
    if device == "touch" {
        return Some(Choice::Touch);
    }
    device.strip_prefix("serial:").map(Choice::Serial)
}

/// The path of the one listed key whose serial number is `serial`; several are refused
/// with the list of them, none with the list of the keys found.
fn by_serial(serial: &str) -> Result<String, Failure> {
    if serial.is_empty() {
        return Err(Failure::with_status(
            "--device serial: needs the key's serial number, e.g. --device serial:A1B2 \
             (`ctap list` shows them)",
            2,
        ));
    }
    match ctap::select::by_serial_of(crate::listing::list_devices()?, serial) {
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
fn by_touch(cli: &Cli, config: DeviceConfig) -> Result<Opened, Failure> {
    let mut names = Vec::new();
    let mut devices = Vec::new();
    let mut unusable = Vec::new();
    for entry in crate::listing::list_devices()? {
        match entry {
            Ok(info) => {
                let target = crate::listing::target_of(&info.path)?;
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
    let (interrupted, token) = crate::commands::on_interrupt()?;
    eprintln!(
        "touch the key you mean ({count} key{} waiting for a touch)",
        if count == 1 { " is" } else { "s are" }
    );
    let options = ctap::select::TouchOptions::default()
        .with_timeout(crate::commands::time_left(cli)?)
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
        Err(error @ Error::Timeout(_)) => Err(crate::commands::explain(
            cli,
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
fn only_key() -> Result<String, Failure> {
    match ctap::select::only_key_of(crate::listing::list_devices()?) {
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

/// `HOST:PORT` to one socket address (exit status 2 if it is not `HOST:PORT`).
pub(crate) fn resolve(text: &str) -> Result<SocketAddr, Failure> {
    Ok(ctap::resolve(text)?)
}
