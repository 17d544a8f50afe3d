//! Opening a device from the name the `ctap` CLI takes: `virtual`, `udp:HOST:PORT` or a
//! hidapi path.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use ctap_device::udp::UdpConnection;
use ctap_device::{CtapHidDevice, DeviceConfig, Error, HidConnection};

/// A device opened by [`open`]: any transport behind one type.
pub type Device = CtapHidDevice<Box<dyn HidConnection>>;

/// Where a device is: what `ctap --device` takes, parsed.
///
/// ```
/// use ctap::Target;
///
/// assert_eq!("virtual".parse::<Target>()?, Target::Virtual);
/// assert_eq!("udp:127.0.0.1:8111".parse::<Target>()?, Target::Udp("127.0.0.1:8111".into()));
/// assert_eq!("/dev/hidraw3".parse::<Target>()?, Target::Path("/dev/hidraw3".into()));
/// assert!("".parse::<Target>().is_err());
/// assert!("udp:localhost".parse::<Target>().is_err()); // no port
/// # Ok::<(), ctap::device::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Target {
    /// `virtual`: the software authenticator, in this process (feature `virtual`).
    Virtual,
    /// `udp:HOST:PORT`: a simulator speaking one report per datagram (e.g. `ctap serve`).
    /// Holds `HOST:PORT`.
    Udp(String),
    /// Anything else: a hidapi path (`/dev/hidraw3`, `\\?\hid#...`, `DevSrvsID:...`;
    /// see `ctap list` or [`device::hid::list_devices`](crate::device::hid::list_devices)).
    Path(String),
}

impl FromStr for Target {
    type Err = Error;

    /// # Errors
    /// [`Error::InvalidArgument`] for an empty name, or `udp:` without `HOST:PORT`.
    fn from_str(text: &str) -> Result<Self, Error> {
        if text.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "empty device name: give a hidapi path (see `ctap list`), `virtual` or \
                 `udp:HOST:PORT`"
                    .to_owned(),
            ));
        }
        if text == "virtual" {
            return Ok(Self::Virtual);
        }
        let Some(remote) = text.strip_prefix("udp:") else {
            return Ok(Self::Path(text.to_owned()));
        };
        let port = remote.rsplit_once(':').map(|(_, port)| port.parse::<u16>());
        match port {
            Some(Ok(_)) if !remote.starts_with(':') => Ok(Self::Udp(remote.to_owned())),
            _ => Err(Error::InvalidArgument(format!(
                "bad device {text:?}: expected udp:HOST:PORT (e.g. udp:127.0.0.1:8111)"
            ))),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Virtual => f.write_str("virtual"),
            Self::Udp(remote) => write!(f, "udp:{remote}"),
            Self::Path(path) => f.write_str(path),
        }
    }
}

/// How [`open_with`] opens a device: a plain struct with `Default`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct OpenOptions {
    /// The host's time limits for the device.
    pub config: DeviceConfig,
    /// The local address of a UDP connection (default: an ephemeral port, on loopback
    /// for a loopback remote).
    pub bind: Option<SocketAddr>,
    /// The software authenticator's configuration, for [`Target::Virtual`].
    #[cfg(feature = "virtual")]
    pub virtual_config: ctap_virtual::Config,
}

impl OpenOptions {
    /// Sets [`config`](Self::config).
    #[must_use]
    pub fn with_config(mut self, config: DeviceConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets [`bind`](Self::bind).
    #[must_use]
    pub fn with_bind(mut self, bind: SocketAddr) -> Self {
        self.bind = Some(bind);
        self
    }

    /// Sets [`virtual_config`](Self::virtual_config).
    #[cfg(feature = "virtual")]
    #[must_use]
    pub fn with_virtual_config(mut self, config: ctap_virtual::Config) -> Self {
        self.virtual_config = config;
        self
    }
}

/// Opens the device `target` names (`virtual`, `udp:HOST:PORT` or a hidapi path) and
/// allocates a channel (INIT), with default options: what `ctap --device` does.
///
/// ```
/// let mut device = ctap::open("virtual")?;
/// assert_eq!(device.ping(b"hello")?, b"hello");
/// # Ok::<(), ctap::device::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for a malformed name (empty, `udp:` without a port) or a
/// target whose feature is off; then as [`open_with`].
pub fn open(target: &str) -> Result<Device, Error> {
    open_with(&target.parse()?, &OpenOptions::default())
}

/// Opens the device at `target` with `options`.
///
/// # Errors
/// For a path: [`Error::NotFound`] or [`Error::Open`] (see
/// [`Error::open_failure`]); for UDP: [`Error::Io`] if `HOST` does not resolve or the
/// socket cannot be bound; then as [`CtapHidDevice::with_config`] (INIT).
pub fn open_with(target: &Target, options: &OpenOptions) -> Result<Device, Error> {
    let connection: Box<dyn HidConnection> = match target {
        Target::Virtual => virtual_connection(options)?,
        Target::Udp(remote) => {
            let remote = resolve(remote)?;
            Box::new(match options.bind {
                Some(local) => UdpConnection::connect_from(remote, local)?,
                None => UdpConnection::connect(remote)?,
            })
        }
        Target::Path(path) => hid_connection(path)?,
    };
    CtapHidDevice::with_config(connection, options.config)
}

#[cfg(feature = "virtual")]
fn virtual_connection(options: &OpenOptions) -> Result<Box<dyn HidConnection>, Error> {
    // The connection keeps the authenticator's state alive; the handle is not needed.
    let authenticator = ctap_virtual::VirtualAuthenticator::new(options.virtual_config);
    Ok(Box::new(authenticator.connect()))
}

#[cfg(not(feature = "virtual"))]
fn virtual_connection(_: &OpenOptions) -> Result<Box<dyn HidConnection>, Error> {
    Err(Error::InvalidArgument(
        "`virtual` needs the `virtual` feature of the ctap crate".to_owned(),
    ))
}

#[cfg(feature = "hidapi")]
fn hid_connection(path: &str) -> Result<Box<dyn HidConnection>, Error> {
    Ok(Box::new(ctap_device::hid::HidapiConnection::open(path)?))
}

#[cfg(not(feature = "hidapi"))]
fn hid_connection(path: &str) -> Result<Box<dyn HidConnection>, Error> {
    Err(Error::InvalidArgument(format!(
        "{path:?} is a HID path, and HID needs the `hidapi` feature of the ctap crate"
    )))
}

/// `HOST:PORT` to one socket address.
///
/// # Errors
/// [`Error::InvalidArgument`] if it is not `HOST:PORT`, [`Error::Io`] if `HOST` does not
/// resolve.
pub fn resolve(text: &str) -> Result<SocketAddr, Error> {
    if text
        .rsplit_once(':')
        .is_none_or(|(_, port)| port.parse::<u16>().is_err())
    {
        return Err(Error::InvalidArgument(format!(
            "bad address {text:?}: expected HOST:PORT"
        )));
    }
    text.to_socket_addrs()
        .map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("cannot resolve {text:?}: {e}"),
            ))
        })?
        .next()
        .ok_or_else(|| {
            Error::Io(std::io::Error::other(format!(
                "address {text:?} resolves to nothing"
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for name in [
            "virtual",
            "udp:127.0.0.1:8111",
            "udp:[::1]:9",
            "/dev/hidraw0",
        ] {
            let target: Target = name.parse().unwrap();
            assert_eq!(target.to_string(), name);
        }
        assert_eq!(
            "udp:localhost:8111".parse::<Target>().unwrap(),
            Target::Udp("localhost:8111".into())
        );
    }

    #[test]
    fn malformed_names_are_invalid_arguments() {
        for bad in [
            "",
            "  ",
            "udp:",
            "udp:foo",
            "udp::8111",
            "udp:foo:bar",
            "udp:h:70000",
        ] {
            let error = bad.parse::<Target>().unwrap_err();
            assert!(
                matches!(error, Error::InvalidArgument(_)),
                "{bad:?}: {error}"
            );
        }
        assert!(matches!(resolve("no-port"), Err(Error::InvalidArgument(_))));
        assert!(matches!(resolve("host.invalid:1"), Err(Error::Io(_))));
    }

    #[cfg(feature = "virtual")]
    #[test]
    fn virtual_opens_and_answers() {
        let mut device = open("virtual").unwrap();
        assert_eq!(device.ping(&[1, 2, 3]).unwrap(), [1, 2, 3]);
    }

    #[cfg(feature = "hidapi")]
    #[test]
    fn a_missing_path_is_not_found() {
        let error = open("/nonexistent/hidraw99").unwrap_err();
        assert!(
            matches!(
                error.open_failure(),
                Some(ctap_device::OpenFailure::NotFound)
            ) || matches!(error, Error::Io(_)),
            "{error}"
        );
    }
}
