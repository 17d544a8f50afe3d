//! Which device a command talks to, and opening it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use ctap::device::{CtapHidDevice, DeviceConfig, HidConnection, hid, udp::UdpConnection};
use ctap::virtual_device as vdev;

use crate::Failure;

/// The device named by `--device`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The one attached key (none given).
    Auto,
    /// The built-in software authenticator, in this process.
    Virtual,
    /// A simulator over UDP.
    Udp { remote: String },
    /// A hidapi path.
    Hid { path: String },
}

impl Target {
    pub(crate) fn parse(device: Option<&str>) -> Self {
        match device {
            None => Self::Auto,
            Some("virtual") => Self::Virtual,
            Some(other) => match other.strip_prefix("udp:") {
                Some(remote) => Self::Udp {
                    remote: remote.to_owned(),
                },
                None => Self::Hid {
                    path: other.to_owned(),
                },
            },
        }
    }
}

/// An open device, and whatever must live as long as it.
pub(crate) struct Opened {
    /// What it is, for humans (`virtual`, `udp:127.0.0.1:8111`, a hidraw path).
    pub(crate) description: String,
    /// The device.
    pub(crate) device: CtapHidDevice<Box<dyn HidConnection>>,
    /// The in-process authenticator behind `--device virtual`.
    _authenticator: Option<vdev::VirtualAuthenticator>,
}

/// The touch delay of the in-process authenticator: long enough that `ctap select`
/// shows the UPNEEDED keep-alive, short enough for a demo.
const VIRTUAL_TOUCH_DELAY: Duration = Duration::from_millis(1000);

/// Opens the device `--device` names (with `--bind` for UDP).
pub(crate) fn open(
    device: Option<&str>,
    bind: Option<&str>,
    config: DeviceConfig,
) -> Result<Opened, Failure> {
    match Target::parse(device) {
        Target::Virtual => {
            let authenticator = vdev::VirtualAuthenticator::new(
                vdev::Config::default().with_touch(vdev::TouchPolicy::Approve {
                    after: VIRTUAL_TOUCH_DELAY,
                }),
            );
            let connection: Box<dyn HidConnection> = Box::new(authenticator.connect());
            Ok(Opened {
                description: "virtual".to_owned(),
                device: CtapHidDevice::with_config(connection, config)?,
                _authenticator: Some(authenticator),
            })
        }
        Target::Udp { remote } => {
            let remote_addr = resolve(&remote)?;
            let connection = match bind {
                Some(local) => UdpConnection::connect_from(remote_addr, resolve(local)?)?,
                None => UdpConnection::connect(remote_addr)?,
            };
            let connection: Box<dyn HidConnection> = Box::new(connection);
            Ok(Opened {
                description: format!("udp:{remote_addr}"),
                device: CtapHidDevice::with_config(connection, config)?,
                _authenticator: None,
            })
        }
        Target::Hid { path } => open_hid(&path, config),
        Target::Auto => {
            let entries = crate::listing::list_devices()?;
            let usable: Vec<&hid::HidDeviceInfo> =
                entries.iter().filter_map(|e| e.as_ref().ok()).collect();
            match usable.as_slice() {
                [one] => open_hid(&one.path, config),
                [] => {
                    let mut message = String::from("no usable FIDO security key found");
                    for entry in &entries {
                        if let Err(unusable) = entry {
                            message.push_str(&format!("\n  {unusable}"));
                        }
                    }
                    message.push_str(
                        "\nplug in a key, or try the built-in software authenticator: ctap --device virtual <command>",
                    );
                    Err(Failure::new(message))
                }
                several => {
                    let mut message = format!(
                        "{} FIDO security keys found; choose one with --device PATH:",
                        several.len()
                    );
                    for info in several {
                        message.push_str(&format!("\n  {info}"));
                    }
                    Err(Failure::new(message))
                }
            }
        }
    }
}

fn open_hid(path: &str, config: DeviceConfig) -> Result<Opened, Failure> {
    let connection: Box<dyn HidConnection> = Box::new(hid::HidapiConnection::open(path)?);
    Ok(Opened {
        description: path.to_owned(),
        device: CtapHidDevice::with_config(connection, config)?,
        _authenticator: None,
    })
}

/// `HOST:PORT` to one socket address.
pub(crate) fn resolve(text: &str) -> Result<SocketAddr, Failure> {
    text.to_socket_addrs()
        .map_err(|e| Failure::new(format!("bad address {text:?}: {e} (expected HOST:PORT)")))?
        .next()
        .ok_or_else(|| Failure::new(format!("address {text:?} resolves to nothing")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse() {
        assert_eq!(Target::parse(None), Target::Auto);
        assert_eq!(Target::parse(Some("virtual")), Target::Virtual);
        assert_eq!(
            Target::parse(Some("udp:127.0.0.1:8111")),
            Target::Udp {
                remote: "127.0.0.1:8111".into()
            }
        );
        assert_eq!(
            Target::parse(Some("/dev/hidraw0")),
            Target::Hid {
                path: "/dev/hidraw0".into()
            }
        );
    }

    #[test]
    fn bad_addresses_are_named() {
        let error = resolve("no-port").unwrap_err();
        assert!(error.to_string().contains("\"no-port\""), "{error}");
    }
}
