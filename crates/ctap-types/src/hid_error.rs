//! CTAPHID error codes (CTAP 2.1 §11.2.9.1.6, CTAPHID_ERROR).

use core::fmt;

use crate::StatusCode;

/// The one-byte payload of a CTAPHID ERROR packet: a *transport* error.
///
/// These share their numbers with the first [`StatusCode`]s, but not their meaning: an
/// ERROR packet says the CTAPHID layer refused the message, while a status byte at the
/// start of a CBOR response says the CTAP2 command failed. Keep them apart; use
/// [`to_status`](Self::to_status) where a caller wants python-fido2's single
/// `CtapError` view.
///
/// Open newtype: unknown bytes are kept.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct HidErrorCode(u8);

impl HidErrorCode {
    /// `ERR_INVALID_CMD` (0x01): the command in the request is invalid.
    pub const INVALID_CMD: Self = Self(0x01);
    /// `ERR_INVALID_PAR` (0x02): the parameters in the request are invalid.
    pub const INVALID_PAR: Self = Self(0x02);
    /// `ERR_INVALID_LEN` (0x03): the length field (BCNT) is invalid.
    pub const INVALID_LEN: Self = Self(0x03);
    /// `ERR_INVALID_SEQ` (0x04): the sequence does not match the expected value.
    pub const INVALID_SEQ: Self = Self(0x04);
    /// `ERR_MSG_TIMEOUT` (0x05): the message has timed out.
    pub const MSG_TIMEOUT: Self = Self(0x05);
    /// `ERR_CHANNEL_BUSY` (0x06): the device is busy with another channel.
    pub const CHANNEL_BUSY: Self = Self(0x06);
    /// `ERR_LOCK_REQUIRED` (0x0A): the command requires a channel lock.
    pub const LOCK_REQUIRED: Self = Self(0x0A);
    /// `ERR_INVALID_CHANNEL` (0x0B): the CID is not valid.
    pub const INVALID_CHANNEL: Self = Self(0x0B);
    /// `ERR_OTHER` (0x7F): unspecified error.
    pub const OTHER: Self = Self(0x7F);

    /// The error code of a byte. Total: every byte is kept.
    #[must_use]
    pub const fn new(code: u8) -> Self {
        Self(code)
    }

    /// The byte on the wire.
    #[must_use]
    pub const fn to_u8(self) -> u8 {
        self.0
    }

    /// The spec name without its `ERR_` prefix (`INVALID_SEQ`), or `None`.
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            0x01 => Some("INVALID_CMD"),
            0x02 => Some("INVALID_PAR"),
            0x03 => Some("INVALID_LEN"),
            0x04 => Some("INVALID_SEQ"),
            0x05 => Some("MSG_TIMEOUT"),
            0x06 => Some("CHANNEL_BUSY"),
            0x0A => Some("LOCK_REQUIRED"),
            0x0B => Some("INVALID_CHANNEL"),
            0x7F => Some("OTHER"),
            _ => None,
        }
    }

    /// The CTAP status with the same number, as python-fido2 reports an ERROR packet
    /// (`CtapError(code)`): `CHANNEL_BUSY` -> `StatusCode::CHANNEL_BUSY`.
    #[must_use]
    pub const fn to_status(self) -> StatusCode {
        StatusCode::new(self.0)
    }
}

crate::byte_conversions!(HidErrorCode);

/// `0x04 - INVALID_SEQ`, `0x99 - UNKNOWN` (the same shape as [`StatusCode`]).
impl fmt::Display for HidErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::write_code_and_name(f, self.0, self.name())
    }
}

impl fmt::Debug for HidErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::write_name_or_hex(f, self.name(), "HidErrorCode", self.0)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for HidErrorCode {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "{=u8:#04x} - {=str}",
            self.0,
            self.name().unwrap_or("UNKNOWN")
        );
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn names_and_numbers_match_the_spec() {
        let expected = [
            (0x01, "INVALID_CMD"),
            (0x02, "INVALID_PAR"),
            (0x03, "INVALID_LEN"),
            (0x04, "INVALID_SEQ"),
            (0x05, "MSG_TIMEOUT"),
            (0x06, "CHANNEL_BUSY"),
            (0x0A, "LOCK_REQUIRED"),
            (0x0B, "INVALID_CHANNEL"),
            (0x7F, "OTHER"),
        ];
        for (byte, name) in expected {
            assert_eq!(HidErrorCode::new(byte).name(), Some(name));
            assert_eq!(HidErrorCode::new(byte).to_status().to_u8(), byte);
        }
        assert_eq!(HidErrorCode::INVALID_SEQ.to_string(), "0x04 - INVALID_SEQ");
        assert_eq!(HidErrorCode::new(0x99).to_string(), "0x99 - UNKNOWN");
        assert_eq!(
            HidErrorCode::CHANNEL_BUSY.to_status(),
            StatusCode::CHANNEL_BUSY
        );
        assert_eq!(
            std::format!("{:?}", HidErrorCode::new(0x42)),
            "HidErrorCode(0x42)"
        );
    }
}
