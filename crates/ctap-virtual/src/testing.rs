//! A ready-made device for tests of any layer above: a [`CtapHidDevice`] connected to a
//! fresh virtual authenticator, in-process.
//!
//! ```
//! let (authenticator, mut device) = ctap_virtual::testing::connect()?;
//! assert_eq!(device.ping(b"hello")?, b"hello");
//! device.wink()?;
//! assert_eq!(authenticator.winks(), 1);
//! # Ok::<(), ctap_device::Error>(())
//! ```

use ctap_device::{CtapHidDevice, Error};

use crate::{Config, VirtualAuthenticator, VirtualConnection};

/// A fresh authenticator with the default [`Config`] (64-byte reports, immediate
/// touch) and a device connected to it. Keep the authenticator to inspect it
/// ([`VirtualAuthenticator::stats`]), change the touch policy, or open more devices
/// ([`VirtualAuthenticator::open_device`]).
///
/// # Errors
/// Only if INIT fails, which would be a bug of this crate or of `ctap-device`.
pub fn connect() -> Result<(VirtualAuthenticator, CtapHidDevice<VirtualConnection>), Error> {
    connect_with(Config::default())
}

/// As [`connect`], with `config`.
///
/// # Errors
/// As [`connect`].
pub fn connect_with(
    config: Config,
) -> Result<(VirtualAuthenticator, CtapHidDevice<VirtualConnection>), Error> {
    let authenticator = VirtualAuthenticator::new(config);
    let device = authenticator.open_device()?;
    Ok((authenticator, device))
}
