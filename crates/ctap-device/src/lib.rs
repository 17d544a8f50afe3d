#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod apdu;
mod cancel;
mod connection;
mod deadline;
mod descriptor;
mod device;
mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
#[cfg(feature = "hidapi")]
pub mod hid;
mod hid_device;
#[cfg(feature = "pcsc")]
pub mod pcsc;
mod rng;
pub mod udp;

pub use apdu::{ApduConfig, ApduConnection, CtapApduDevice, ExtendedLength, StatusWord};
pub use cancel::CancelToken;
pub use connection::HidConnection;
pub use descriptor::{
    DescriptorError, DescriptorInfo, FIDO_USAGE_CTAPHID, FIDO_USAGE_PAGE, parse_report_descriptor,
};
pub use device::{CallOptions, CtapDevice};
pub use error::{Error, OpenFailure, ProtocolError, TimeoutKind};
pub use hid_device::{CtapHidDevice, DEFAULT_CALL_TIMEOUT, DeviceConfig};
pub use rng::SplitMix64;
