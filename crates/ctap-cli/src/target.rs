//! Which device a command talks to, and opening it: `ctap::open_with` does the work
//! (the names `--device` takes are the library's [`ctap::Target`]).

use std::net::SocketAddr;
use std::time::Duration;

use ctap::device::{CtapHidDevice, DeviceConfig, Error, HidConnection};
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
    let target = match device {
        Some(name) => name.parse::<Target>()?,
        None => Target::Path(only_key()?),
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
        Err(Error::InvalidArgument(text)) => Err(Failure::new(
            text.replace("choose one by path:", "choose one with --device PATH:"),
        )),
        Err(other) => Err(other.into()),
    }
}

/// `HOST:PORT` to one socket address (exit status 2 if it is not `HOST:PORT`).
pub(crate) fn resolve(text: &str) -> Result<SocketAddr, Failure> {
    Ok(ctap::resolve(text)?)
}
