#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

pub use capabilities::Capabilities;
pub use channel::ChannelId;
pub use command::{Command, CommandOutOfRange, Ctap2Command};
pub use hex::{Hex, HexDecoder, HexError, decode_hex};
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

/// The named values of a one-byte code newtype (`struct X(u8)`), and what follows from
/// them, written once for all of them:
///
/// - one `pub const` per name (each with its doc and spec section), `NAMED` (every
///   named value, in the order given) and `name()` from the same list, so a constant
///   and its name cannot drift apart;
/// - with `open`: `new`/`to_u8` and `From` both ways (every byte is a value and comes
///   back unchanged);
/// - the text forms of the chosen style:
///   - `code_and_name`: `Display` is python-fido2's `0x31 - PIN_INVALID` /
///     `0x99 - UNKNOWN`, `Debug` the name or `Type(0x99)`;
///   - `name_or_unknown`: `Display` and `Debug` are the name or `UNKNOWN(0x05)`;
///   - `custom`: none (the type writes its own).
///
///   `defmt::Format` follows `Display` (behind the `defmt` feature).
macro_rules! byte_code {
    (
        $type:ident, $style:ident $(, $open:ident)?;
        $( $(#[$doc:meta])* $name:ident = $value:literal, )*
    ) => {
        impl $type {
            $( $(#[$doc])* pub const $name: Self = Self($value); )*

            /// Every named value, in the order of the constants.
            pub const NAMED: &'static [Self] = &[$(Self::$name),*];

            /// The name of this value (the constant's name, `None` for a byte that has
            /// no constant).
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some(stringify!($name)), )*
                    _ => None,
                }
            }
        }
        $( crate::byte_code!(@$open $type); )?
        crate::byte_code!(@$style $type);
    };
    (@open $type:ident) => {
        impl $type {
            /// The value of a byte. Total: every byte is one, and is kept as it is.
            #[must_use]
            pub const fn new(byte: u8) -> Self {
                Self(byte)
            }

            /// The byte on the wire.
            #[must_use]
            pub const fn to_u8(self) -> u8 {
                self.0
            }
        }

        crate::byte_conversions!($type);
    };
    (@code_and_name $type:ident) => {
        /// python-fido2's form: `0x31 - PIN_INVALID`, `0x99 - UNKNOWN`.
        impl core::fmt::Display for $type {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                crate::write_code_and_name(f, self.0, self.name())
            }
        }

        /// The name where there is one, else the type and the byte (`Type(0x99)`).
        impl core::fmt::Debug for $type {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                crate::write_name_or_hex(f, self.name(), stringify!($type), self.0)
            }
        }

        #[cfg(feature = "defmt")]
        impl defmt::Format for $type {
            fn format(&self, f: defmt::Formatter<'_>) {
                defmt::write!(f, "{=u8:#04x} - {=str}", self.0, self.name().unwrap_or("UNKNOWN"));
            }
        }
    };
    (@name_or_unknown $type:ident) => {
        /// The name where there is one, else `UNKNOWN(0x05)`.
        impl core::fmt::Display for $type {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                crate::write_name_or_hex(f, self.name(), "UNKNOWN", self.0)
            }
        }

        /// As `Display`.
        impl core::fmt::Debug for $type {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(self, f)
            }
        }

        #[cfg(feature = "defmt")]
        impl defmt::Format for $type {
            fn format(&self, f: defmt::Formatter<'_>) {
                defmt::write!(f, "{=str}({=u8:#04x})", self.name().unwrap_or("UNKNOWN"), self.0);
            }
        }
    };
    (@custom $type:ident) => {};
}
pub(crate) use byte_code;

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
mod hex;
mod hid_error;
mod init;
mod keepalive;
mod status;
