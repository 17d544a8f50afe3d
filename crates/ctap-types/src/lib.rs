//! # ctap-types
//!
//! The bottom layer of the `ctap` stack: the values that travel on the wire between a
//! FIDO host and an authenticator, as plain `Copy` types. It does no I/O, no framing and
//! no allocation, and it has no required dependencies, so the same types serve host
//! software and authenticator firmware (`#![no_std]`, builds for `thumbv7em-none-eabihf`).
//!
//! | type | what it is | python-fido2 |
//! |---|---|---|
//! | [`StatusCode`] | a CTAP status byte (all 256 values, unknown ones kept) | `CtapError.ERR`, `CtapError.UNKNOWN_ERR` |
//! | [`CtapError`] | a non-success status returned by a device, as an error | `CtapError` |
//! | [`KeepaliveStatus`] | the byte of a KEEPALIVE packet | `STATUS` |
//! | [`Command`] | a CTAPHID command (7 bits, vendor range included) | `CTAPHID` |
//! | [`HidErrorCode`] | the byte of a CTAPHID ERROR packet | (folded into `CtapError`) |
//! | [`Capabilities`] | the capability flags of the INIT response | `CAPABILITY` |
//! | [`ChannelId`] | a CTAPHID channel id (broadcast, reserved) | (plain `int`) |
//! | [`InitResponse`] | the 17-byte answer to INIT | (parsed inline) |
//! | [`Ctap2Command`] | the first byte of a CTAPHID_CBOR request | `Ctap2.CMD` |
//!
//! Every wire code is an *open* newtype over its integer with named constants (the
//! pattern of h2's `Reason`): unknown values survive a round trip unchanged, and
//! `Debug` prints the name where there is one.
//!
//! ```
//! use ctap_types::{CtapError, StatusCode, KeepaliveStatus, Capabilities, InitResponse};
//!
//! // Status bytes round-trip losslessly and print as python-fido2 prints them.
//! let status = StatusCode::from(0x31);
//! assert_eq!(status, StatusCode::PIN_INVALID);
//! assert_eq!(status.to_string(), "0x31 - PIN_INVALID");
//! assert_eq!(CtapError::new(status).to_string(), "CTAP error: 0x31 - PIN_INVALID");
//! assert_eq!(CtapError::new(StatusCode::from(0x99)).to_string(), "CTAP error: 0x99 - UNKNOWN");
//! assert_eq!(u8::from(StatusCode::from(0x99)), 0x99);
//!
//! // A non-success status becomes an error; success does not.
//! assert!(CtapError::check(StatusCode::SUCCESS).is_ok());
//! assert!(CtapError::check(StatusCode::PIN_INVALID).is_err());
//!
//! // The INIT response: parse, inspect, serialise.
//! let bytes = [1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0x02, 0x03, 0x04, 2, 5, 4, 3, 0x05];
//! let init = InitResponse::parse(&bytes)?;
//! assert_eq!(init.cid.to_u32(), 0x0102_0304);
//! assert!(init.capabilities.contains(Capabilities::WINK | Capabilities::CBOR));
//! assert_eq!(init.to_bytes(), bytes);
//! assert_eq!(KeepaliveStatus::from(2), KeepaliveStatus::UPNEEDED);
//! # Ok::<(), ctap_types::InitResponseError>(())
//! ```
//!
//! ## Features
//! - `defmt`: `defmt::Format` for every type (firmware logging).
//! - `serde`: `Serialize`/`Deserialize`; every code is its raw number.
//!
//! ## Spec references
//! Sections are those of *Client to Authenticator Protocol (CTAP) 2.1*, Proposed
//! Standard; CTAP 2.2 adds no CTAPHID commands and no status codes.
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
