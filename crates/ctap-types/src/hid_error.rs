//! CTAPHID error codes (CTAP 2.1 §11.2.9.1.6, CTAPHID_ERROR).

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

crate::byte_code! {
    HidErrorCode, code_and_name, open;
    /// `ERR_INVALID_CMD` (0x01, §11.2.9.1.6): the command in the request is invalid.
    INVALID_CMD = 0x01,
    /// `ERR_INVALID_PAR` (0x02, §11.2.9.1.6): the parameters in the request are invalid.
    INVALID_PAR = 0x02,
    /// `ERR_INVALID_LEN` (0x03, §11.2.9.1.6): the length field (BCNT) is invalid.
    INVALID_LEN = 0x03,
    /// `ERR_INVALID_SEQ` (0x04, §11.2.9.1.6): the sequence does not match the expected value.
    INVALID_SEQ = 0x04,
    /// `ERR_MSG_TIMEOUT` (0x05, §11.2.9.1.6): the message has timed out.
    MSG_TIMEOUT = 0x05,
    /// `ERR_CHANNEL_BUSY` (0x06, §11.2.9.1.6): the device is busy with another channel.
    CHANNEL_BUSY = 0x06,
    /// `ERR_LOCK_REQUIRED` (0x0A, §11.2.9.1.6): the command requires a channel lock.
    LOCK_REQUIRED = 0x0A,
    /// `ERR_INVALID_CHANNEL` (0x0B, §11.2.9.1.6): the CID is not valid.
    INVALID_CHANNEL = 0x0B,
    /// `ERR_OTHER` (0x7F, §11.2.9.1.6): unspecified error.
    OTHER = 0x7F,
}

impl HidErrorCode {
    /// The CTAP status with the same number, as python-fido2 reports an ERROR packet
    /// (`CtapError(code)`): `CHANNEL_BUSY` -> `StatusCode::CHANNEL_BUSY`.
    #[must_use]
    pub const fn to_status(self) -> StatusCode {
        StatusCode::new(self.0)
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
