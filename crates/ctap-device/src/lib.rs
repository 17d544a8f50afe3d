#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod cancel;
mod connection;
mod descriptor;
mod device;
mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
#[cfg(feature = "hidapi")]
pub mod hid;
mod hid_device;
mod rng;
pub mod udp;

pub use cancel::CancelToken;
pub use connection::HidConnection;
pub use descriptor::{
    DescriptorError, DescriptorInfo, FIDO_USAGE_CTAPHID, FIDO_USAGE_PAGE, parse_report_descriptor,
};
pub use device::{CallOptions, CtapDevice};
pub use error::{Error, ProtocolError, TimeoutKind};
pub use hid_device::{CtapHidDevice, DeviceConfig};
pub use rng::SplitMix64;
