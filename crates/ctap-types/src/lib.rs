#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

pub use capabilities::Capabilities;
pub use channel::ChannelId;
pub use command::{Command, CommandOutOfRange, Ctap2Command};
pub use hid_error::HidErrorCode;
pub use init::{DeviceVersion, INIT_NONCE_LEN, INIT_RESPONSE_LEN, InitResponse, InitResponseError};
pub use keepalive::KeepaliveStatus;
pub use status::{CtapError, StatusCode};

/// The CTAPHID protocol version a CTAP 2.x device reports in its INIT response
/// (CTAP 2.1 §11.2.9.1.3, "CTAPHID protocol version identifier").
pub const CTAPHID_PROTOCOL_VERSION: u8 = 2;

/// Formats `0xNN` with at least two upper-case hex digits, as python-fido2 does.
fn write_hex_byte(f: &mut core::fmt::Formatter<'_>, value: u8) -> core::fmt::Result {
    write!(f, "0x{value:02X}")
}

/// python-fido2's form of a code: `0x31 - PIN_INVALID`, `0x99 - UNKNOWN`.
fn write_code_and_name(
    f: &mut core::fmt::Formatter<'_>,
    value: u8,
    name: Option<&str>,
) -> core::fmt::Result {
    write_hex_byte(f, value)?;
    write!(f, " - {}", name.unwrap_or("UNKNOWN"))
}

/// The name where there is one (`PING`), else `{prefix}(0xNN)` (`UNKNOWN(0x22)`).
fn write_name_or_hex(
    f: &mut core::fmt::Formatter<'_>,
    name: Option<&str>,
    prefix: &str,
    value: u8,
) -> core::fmt::Result {
    match name {
        Some(name) => f.write_str(name),
        None => {
            f.write_str(prefix)?;
            f.write_str("(")?;
            write_hex_byte(f, value)?;
            f.write_str(")")
        }
    }
}

/// `From<u8>` and `From<$type> for u8` for an open byte newtype: total both ways.
macro_rules! byte_conversions {
    ($type:ident) => {
        impl From<u8> for $type {
            fn from(byte: u8) -> Self {
                Self(byte)
            }
        }

        impl From<$type> for u8 {
            fn from(value: $type) -> Self {
                value.0
            }
        }
    };
}
pub(crate) use byte_conversions;

mod capabilities;
mod channel;
mod command;
mod hid_error;
mod init;
mod keepalive;
mod status;
