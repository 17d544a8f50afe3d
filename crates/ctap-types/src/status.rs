//! CTAP status codes (CTAP 2.1 §8.2 "Status codes", anchor `#error-responses`).

use core::fmt;

/// A CTAP status byte: the first byte of every CTAPHID_CBOR response, and the code of
/// a CTAP error.
///
/// An open newtype: every one of the 256 byte values is a `StatusCode` and converts
/// back to the same byte. The named constants are python-fido2's `CtapError.ERR`
/// members, named as it names them. Bytes without a name (python-fido2's `UNKNOWN_ERR`,
/// including the legacy CTAP 2.0 codes 0x10, 0x13, 0x16, 0x29 and 0x2A that real devices
/// still send) are kept as they are; [`name`](Self::name) returns `None` for them.
///
/// `Display` is python-fido2's: `0x31 - PIN_INVALID`, `0x99 - UNKNOWN`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct StatusCode(u8);

crate::byte_code! {
    StatusCode, code_and_name, open;
    /// `CTAP1_ERR_SUCCESS` / `CTAP2_OK` (§8.2): the command succeeded.
    SUCCESS = 0x00,
    /// `CTAP1_ERR_INVALID_COMMAND` (§8.2): the command is not a valid CTAP command.
    INVALID_COMMAND = 0x01,
    /// `CTAP1_ERR_INVALID_PARAMETER` (§8.2): the command included an invalid parameter.
    INVALID_PARAMETER = 0x02,
    /// `CTAP1_ERR_INVALID_LENGTH` (§8.2): invalid message or item length.
    INVALID_LENGTH = 0x03,
    /// `CTAP1_ERR_INVALID_SEQ` (§8.2): invalid message sequencing.
    INVALID_SEQ = 0x04,
    /// `CTAP1_ERR_TIMEOUT` (§8.2): the message timed out.
    TIMEOUT = 0x05,
    /// `CTAP1_ERR_CHANNEL_BUSY` (§8.2): the channel is busy; retry later.
    CHANNEL_BUSY = 0x06,
    /// `CTAP1_ERR_LOCK_REQUIRED` (§8.2): the command requires a channel lock.
    LOCK_REQUIRED = 0x0A,
    /// `CTAP1_ERR_INVALID_CHANNEL` (§8.2): the channel is not valid.
    INVALID_CHANNEL = 0x0B,
    /// `CTAP2_ERR_CBOR_UNEXPECTED_TYPE` (§8.2): invalid or unexpected CBOR type.
    CBOR_UNEXPECTED_TYPE = 0x11,
    /// `CTAP2_ERR_INVALID_CBOR` (§8.2): error when parsing CBOR.
    INVALID_CBOR = 0x12,
    /// `CTAP2_ERR_MISSING_PARAMETER` (§8.2): a required parameter is missing.
    MISSING_PARAMETER = 0x14,
    /// `CTAP2_ERR_LIMIT_EXCEEDED` (§8.2): a limit for the number of items was exceeded.
    LIMIT_EXCEEDED = 0x15,
    /// `CTAP2_ERR_FP_DATABASE_FULL` (§8.2): the fingerprint database is full.
    FP_DATABASE_FULL = 0x17,
    /// `CTAP2_ERR_LARGE_BLOB_STORAGE_FULL` (§8.2): the large-blob storage is full.
    LARGE_BLOB_STORAGE_FULL = 0x18,
    /// `CTAP2_ERR_CREDENTIAL_EXCLUDED` (§8.2): a credential in the exclude list exists.
    CREDENTIAL_EXCLUDED = 0x19,
    /// `CTAP2_ERR_PROCESSING` (§8.2): processing (lengthy operation is in progress).
    PROCESSING = 0x21,
    /// `CTAP2_ERR_INVALID_CREDENTIAL` (§8.2): the credential is not valid for this authenticator.
    INVALID_CREDENTIAL = 0x22,
    /// `CTAP2_ERR_USER_ACTION_PENDING` (§8.2): authentication is waiting for user interaction.
    USER_ACTION_PENDING = 0x23,
    /// `CTAP2_ERR_OPERATION_PENDING` (§8.2): processing, lengthy operation is in progress.
    OPERATION_PENDING = 0x24,
    /// `CTAP2_ERR_NO_OPERATIONS` (§8.2): no request is pending.
    NO_OPERATIONS = 0x25,
    /// `CTAP2_ERR_UNSUPPORTED_ALGORITHM` (§8.2): the algorithm is not supported.
    UNSUPPORTED_ALGORITHM = 0x26,
    /// `CTAP2_ERR_OPERATION_DENIED` (§8.2): not authorised for the requested operation.
    OPERATION_DENIED = 0x27,
    /// `CTAP2_ERR_KEY_STORE_FULL` (§8.2): internal key storage is full.
    KEY_STORE_FULL = 0x28,
    /// `CTAP2_ERR_UNSUPPORTED_OPTION` (§8.2): the option is not supported.
    UNSUPPORTED_OPTION = 0x2B,
    /// `CTAP2_ERR_INVALID_OPTION` (§8.2): not a valid option for the current operation.
    INVALID_OPTION = 0x2C,
    /// `CTAP2_ERR_KEEPALIVE_CANCEL` (§8.2): the request was cancelled (CTAPHID_CANCEL).
    KEEPALIVE_CANCEL = 0x2D,
    /// `CTAP2_ERR_NO_CREDENTIALS` (§8.2): no valid credentials were provided.
    NO_CREDENTIALS = 0x2E,
    /// `CTAP2_ERR_USER_ACTION_TIMEOUT` (§8.2): a user action timed out.
    USER_ACTION_TIMEOUT = 0x2F,
    /// `CTAP2_ERR_NOT_ALLOWED` (§8.2): continuation command not allowed.
    NOT_ALLOWED = 0x30,
    /// `CTAP2_ERR_PIN_INVALID` (§8.2): the PIN is wrong.
    PIN_INVALID = 0x31,
    /// `CTAP2_ERR_PIN_BLOCKED` (§8.2): the PIN is blocked.
    PIN_BLOCKED = 0x32,
    /// `CTAP2_ERR_PIN_AUTH_INVALID` (§8.2): the pinUvAuthParam verification failed.
    PIN_AUTH_INVALID = 0x33,
    /// `CTAP2_ERR_PIN_AUTH_BLOCKED` (§8.2): PIN auth is blocked until a power cycle.
    PIN_AUTH_BLOCKED = 0x34,
    /// `CTAP2_ERR_PIN_NOT_SET` (§8.2): no PIN has been set.
    PIN_NOT_SET = 0x35,
    /// `CTAP2_ERR_PUAT_REQUIRED` (§8.2): a pinUvAuthToken is required.
    PUAT_REQUIRED = 0x36,
    /// `CTAP2_ERR_PIN_POLICY_VIOLATION` (§8.2): the PIN does not meet the policy.
    PIN_POLICY_VIOLATION = 0x37,
    /// `CTAP2_ERR_PIN_TOKEN_EXPIRED` (§8.2, where some CTAP 2.1 tables mark 0x38
    /// reserved): the pinUvAuthToken expired; python-fido2's `PIN_TOKEN_EXPIRED`.
    PIN_TOKEN_EXPIRED = 0x38,
    /// `CTAP2_ERR_REQUEST_TOO_LARGE` (§8.2): the request is larger than the authenticator takes.
    REQUEST_TOO_LARGE = 0x39,
    /// `CTAP2_ERR_ACTION_TIMEOUT` (§8.2): the action timed out.
    ACTION_TIMEOUT = 0x3A,
    /// `CTAP2_ERR_UP_REQUIRED` (§8.2): user presence is required.
    UP_REQUIRED = 0x3B,
    /// `CTAP2_ERR_UV_BLOCKED` (§8.2): built-in user verification is blocked.
    UV_BLOCKED = 0x3C,
    /// `CTAP2_ERR_INTEGRITY_FAILURE` (§8.2): a checksum did not match.
    INTEGRITY_FAILURE = 0x3D,
    /// `CTAP2_ERR_INVALID_SUBCOMMAND` (§8.2): the subcommand is not valid.
    INVALID_SUBCOMMAND = 0x3E,
    /// `CTAP2_ERR_UV_INVALID` (§8.2): built-in user verification failed.
    UV_INVALID = 0x3F,
    /// `CTAP2_ERR_UNAUTHORIZED_PERMISSION` (§8.2): the permission is not granted.
    UNAUTHORIZED_PERMISSION = 0x40,
    /// `CTAP1_ERR_OTHER` (§8.2): other unspecified error.
    OTHER = 0x7F,
    /// `CTAP2_ERR_SPEC_LAST` (§8.2): the last code the specification reserves.
    SPEC_LAST = 0xDF,
    /// `CTAP2_ERR_EXTENSION_FIRST` (§8.2): first extension-specific code.
    EXTENSION_FIRST = 0xE0,
    /// `CTAP2_ERR_EXTENSION_LAST` (§8.2): last extension-specific code.
    EXTENSION_LAST = 0xEF,
    /// `CTAP2_ERR_VENDOR_FIRST` (§8.2): first vendor-specific code.
    VENDOR_FIRST = 0xF0,
    /// `CTAP2_ERR_VENDOR_LAST` (§8.2): last vendor-specific code.
    VENDOR_LAST = 0xFF,
}

impl StatusCode {
    /// `true` for `SUCCESS` (0x00) only.
    #[must_use]
    pub const fn is_success(self) -> bool {
        self.0 == Self::SUCCESS.0
    }

    /// `true` if the code has a python-fido2 name.
    #[must_use]
    pub const fn is_known(self) -> bool {
        self.name().is_some()
    }

    /// `true` in the extension-specific range 0xE0..=0xEF.
    #[must_use]
    pub const fn is_extension(self) -> bool {
        matches!(self.0, 0xE0..=0xEF)
    }

    /// `true` in the vendor-specific range 0xF0..=0xFF.
    #[must_use]
    pub const fn is_vendor(self) -> bool {
        matches!(self.0, 0xF0..=0xFF)
    }
}

/// A CTAP error: a non-success status returned by an authenticator
/// (python-fido2's `CtapError`).
///
/// `Display` is byte-for-byte python-fido2's `str(CtapError(code))`:
/// `CTAP error: 0x31 - PIN_INVALID`, `CTAP error: 0x99 - UNKNOWN`.
///
/// It can hold `SUCCESS` (python-fido2 allows it too), but [`CtapError::check`] never
/// makes one from it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CtapError {
    /// The status byte the device returned.
    pub code: StatusCode,
}

impl CtapError {
    /// The error for a status code.
    #[must_use]
    pub const fn new(code: StatusCode) -> Self {
        Self { code }
    }

    /// `Ok(())` for `SUCCESS`, the error for any other status.
    ///
    /// # Errors
    /// Returns `CtapError { code }` when `code` is not `SUCCESS`.
    pub const fn check(code: StatusCode) -> Result<(), Self> {
        if code.is_success() {
            Ok(())
        } else {
            Err(Self { code })
        }
    }
}

impl From<StatusCode> for CtapError {
    fn from(code: StatusCode) -> Self {
        Self { code }
    }
}

impl fmt::Display for CtapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CTAP error: {}", self.code)
    }
}

impl core::error::Error for CtapError {}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn every_named_code_has_its_python_text() {
        let expected: &[(u8, &str)] = &[
            (0x00, "SUCCESS"),
            (0x01, "INVALID_COMMAND"),
            (0x02, "INVALID_PARAMETER"),
            (0x03, "INVALID_LENGTH"),
            (0x04, "INVALID_SEQ"),
            (0x05, "TIMEOUT"),
            (0x06, "CHANNEL_BUSY"),
            (0x0A, "LOCK_REQUIRED"),
            (0x0B, "INVALID_CHANNEL"),
            (0x11, "CBOR_UNEXPECTED_TYPE"),
            (0x12, "INVALID_CBOR"),
            (0x14, "MISSING_PARAMETER"),
            (0x15, "LIMIT_EXCEEDED"),
            (0x17, "FP_DATABASE_FULL"),
            (0x18, "LARGE_BLOB_STORAGE_FULL"),
            (0x19, "CREDENTIAL_EXCLUDED"),
            (0x21, "PROCESSING"),
            (0x22, "INVALID_CREDENTIAL"),
            (0x23, "USER_ACTION_PENDING"),
            (0x24, "OPERATION_PENDING"),
            (0x25, "NO_OPERATIONS"),
            (0x26, "UNSUPPORTED_ALGORITHM"),
            (0x27, "OPERATION_DENIED"),
            (0x28, "KEY_STORE_FULL"),
            (0x2B, "UNSUPPORTED_OPTION"),
            (0x2C, "INVALID_OPTION"),
            (0x2D, "KEEPALIVE_CANCEL"),
            (0x2E, "NO_CREDENTIALS"),
            (0x2F, "USER_ACTION_TIMEOUT"),
            (0x30, "NOT_ALLOWED"),
            (0x31, "PIN_INVALID"),
            (0x32, "PIN_BLOCKED"),
            (0x33, "PIN_AUTH_INVALID"),
            (0x34, "PIN_AUTH_BLOCKED"),
            (0x35, "PIN_NOT_SET"),
            (0x36, "PUAT_REQUIRED"),
            (0x37, "PIN_POLICY_VIOLATION"),
            (0x38, "PIN_TOKEN_EXPIRED"),
            (0x39, "REQUEST_TOO_LARGE"),
            (0x3A, "ACTION_TIMEOUT"),
            (0x3B, "UP_REQUIRED"),
            (0x3C, "UV_BLOCKED"),
            (0x3D, "INTEGRITY_FAILURE"),
            (0x3E, "INVALID_SUBCOMMAND"),
            (0x3F, "UV_INVALID"),
            (0x40, "UNAUTHORIZED_PERMISSION"),
            (0x7F, "OTHER"),
            (0xDF, "SPEC_LAST"),
            (0xE0, "EXTENSION_FIRST"),
            (0xEF, "EXTENSION_LAST"),
            (0xF0, "VENDOR_FIRST"),
            (0xFF, "VENDOR_LAST"),
        ];
        assert_eq!(StatusCode::NAMED.len(), expected.len());
        for (&(byte, name), &code) in expected.iter().zip(StatusCode::NAMED) {
            assert_eq!(code.to_u8(), byte);
            assert_eq!(StatusCode::from(byte).name(), Some(name));
            assert_eq!(
                CtapError::new(byte.into()).to_string(),
                std::format!("CTAP error: 0x{byte:02X} - {name}")
            );
        }
    }

    #[test]
    fn python_examples() {
        assert_eq!(StatusCode::PIN_INVALID.to_string(), "0x31 - PIN_INVALID");
        assert_eq!(
            CtapError::new(StatusCode::PIN_INVALID).to_string(),
            "CTAP error: 0x31 - PIN_INVALID"
        );
        assert_eq!(
            CtapError::new(StatusCode::SUCCESS).to_string(),
            "CTAP error: 0x00 - SUCCESS"
        );
        assert_eq!(
            CtapError::new(StatusCode::new(0x99)).to_string(),
            "CTAP error: 0x99 - UNKNOWN"
        );
        assert_eq!(StatusCode::new(0x99).to_string(), "0x99 - UNKNOWN");
        assert_eq!(StatusCode::new(0x0C).to_string(), "0x0C - UNKNOWN");
        assert_eq!(StatusCode::new(0xE5).to_string(), "0xE5 - UNKNOWN");
        assert_eq!(StatusCode::new(0xF5).to_string(), "0xF5 - UNKNOWN");
    }

    #[test]
    fn legacy_ctap20_codes_round_trip_as_unknown() {
        for byte in [0x10, 0x13, 0x16, 0x29, 0x2A] {
            let code = StatusCode::from(byte);
            assert_eq!(code.name(), None);
            assert!(!code.is_known());
            assert_eq!(u8::from(code), byte);
        }
    }

    #[test]
    fn ranges_and_success() {
        assert!(StatusCode::SUCCESS.is_success());
        assert!(!StatusCode::OTHER.is_success());
        assert!(!StatusCode::new(0xDF).is_extension());
        assert!(StatusCode::new(0xE0).is_extension() && StatusCode::new(0xEF).is_extension());
        assert!(!StatusCode::new(0xF0).is_extension());
        assert!(StatusCode::new(0xF0).is_vendor() && StatusCode::new(0xFF).is_vendor());
        assert!(!StatusCode::new(0xEF).is_vendor());
        assert_eq!(CtapError::check(StatusCode::SUCCESS), Ok(()));
        assert_eq!(
            CtapError::check(StatusCode::KEEPALIVE_CANCEL),
            Err(CtapError::new(StatusCode::KEEPALIVE_CANCEL))
        );
    }

    #[test]
    fn debug_prints_the_name_or_the_byte() {
        assert_eq!(std::format!("{:?}", StatusCode::PIN_INVALID), "PIN_INVALID");
        assert_eq!(
            std::format!("{:?}", StatusCode::new(0x99)),
            "StatusCode(0x99)"
        );
    }
}
