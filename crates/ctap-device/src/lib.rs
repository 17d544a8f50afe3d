//! # ctap-device
//!
//! The device layer of the `ctap` stack (std): python-fido2's `CtapDevice` contract in
//! Rust, over a [`HidConnection`] seam that every transport implements.
#![forbid(unsafe_code)]

mod cancel;
mod connection;
mod device;
mod error;
mod hid_device;

pub use cancel::CancelToken;
pub use connection::HidConnection;
pub use device::{CallOptions, CtapDevice};
pub use error::{Error, ProtocolError, TimeoutKind};
pub use hid_device::{CtapHidDevice, DeviceConfig};
