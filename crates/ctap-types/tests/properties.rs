//! Properties that must hold for every byte value. The expected texts are written here
//! from the sources (python-fido2's `CtapError.ERR`, `CTAPHID`, `STATUS` and
//! `CAPABILITY`, the CTAP 2.1 tables), never derived from the code under test: every byte
//! is checked against a table and a formatting rule of this file's own.

use ctap_types::{
    Capabilities, ChannelId, Command, Ctap2Command, CtapError, DeviceVersion, HidErrorCode,
    InitResponse, KeepaliveStatus, StatusCode,
};
use proptest::prelude::*;

/// python-fido2's `CtapError.ERR` members (fido2/ctap.py), as `str(CtapError(code))`
/// names them; every other byte is `UNKNOWN`.
const PYTHON_ERR: &[(u8, &str)] = &[
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

/// CTAPHID_ERROR codes (CTAP 2.1 §11.2.9.1.6), without the `ERR_` prefix.
const HID_ERRORS: &[(u8, &str)] = &[
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

/// CTAPHID commands (CTAP 2.1 §11.2.9, python-fido2's `CTAPHID`).
const HID_COMMANDS: &[(u8, &str)] = &[
    (0x01, "PING"),
    (0x03, "MSG"),
    (0x04, "LOCK"),
    (0x06, "INIT"),
    (0x08, "WINK"),
    (0x10, "CBOR"),
    (0x11, "CANCEL"),
    (0x3B, "KEEPALIVE"),
    (0x3F, "ERROR"),
];

/// CTAP2 command bytes (CTAP 2.1 §6, python-fido2's `Ctap2.CMD`).
const CTAP2_COMMANDS: &[(u8, &str)] = &[
    (0x01, "MAKE_CREDENTIAL"),
    (0x02, "GET_ASSERTION"),
    (0x04, "GET_INFO"),
    (0x06, "CLIENT_PIN"),
    (0x07, "RESET"),
    (0x08, "GET_NEXT_ASSERTION"),
    (0x09, "BIO_ENROLLMENT"),
    (0x0A, "CREDENTIAL_MGMT"),
    (0x0B, "SELECTION"),
    (0x0C, "LARGE_BLOBS"),
    (0x0D, "CONFIG"),
    (0x40, "BIO_ENROLLMENT_PRE"),
    (0x41, "CREDENTIAL_MGMT_PRE"),
];

/// Every byte natively; under Miri (1000x slower, and these tests are about text, not
/// memory) every 15th byte.
fn bytes() -> impl Iterator<Item = u8> {
    (0..=u8::MAX).step_by(if cfg!(miri) { 15 } else { 1 })
}

fn lookup(table: &[(u8, &'static str)], byte: u8) -> Option<&'static str> {
    table
        .iter()
        .find(|(b, _)| *b == byte)
        .map(|(_, name)| *name)
}

/// `0x` and two upper-case hex digits, from a digit table (not `format!`'s `{:X}`).
fn hex(byte: u8) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let digit = |nibble: u8| char::from(DIGITS[usize::from(nibble)]);
    [
        "0x".to_owned(),
        digit(byte >> 4).to_string(),
        digit(byte & 0x0F).to_string(),
    ]
    .concat()
}

#[test]
fn every_status_byte_has_python_fido2s_text() {
    for byte in bytes() {
        let name = lookup(PYTHON_ERR, byte);
        let code = StatusCode::from(byte);
        let expected = format!("{} - {}", hex(byte), name.unwrap_or("UNKNOWN"));
        assert_eq!(code.to_string(), expected);
        assert_eq!(
            CtapError::new(code).to_string(),
            format!("CTAP error: {expected}")
        );
        assert_eq!(code.name(), name, "{byte:#04x}");
        assert_eq!(code.is_known(), name.is_some(), "{byte:#04x}");
        assert_eq!(code.is_success(), byte == 0);
        assert_eq!(code.is_extension(), (0xE0..=0xEF).contains(&byte));
        assert_eq!(code.is_vendor(), byte >= 0xF0);
    }
    assert_eq!(StatusCode::NAMED.len(), PYTHON_ERR.len());
}

#[test]
fn every_hid_error_byte_has_the_spec_text() {
    for byte in bytes() {
        let name = lookup(HID_ERRORS, byte);
        let code = HidErrorCode::new(byte);
        assert_eq!(
            code.to_string(),
            format!("{} - {}", hex(byte), name.unwrap_or("UNKNOWN"))
        );
        assert_eq!(
            format!("{code:?}"),
            name.map_or_else(|| format!("HidErrorCode({})", hex(byte)), str::to_owned)
        );
        assert_eq!(code.to_status(), StatusCode::new(byte));
    }
}

#[test]
fn every_command_byte_has_the_spec_text() {
    for byte in bytes().filter(|b| *b <= 0x7F) {
        let command = Command::new(byte).unwrap();
        let expected = match lookup(HID_COMMANDS, byte) {
            Some(name) => name.to_owned(),
            None if byte >= 0x40 => format!("VENDOR({})", hex(byte)),
            None => format!("UNKNOWN({})", hex(byte)),
        };
        assert_eq!(command.to_string(), expected);
        assert_eq!(format!("{command:?}"), expected);
    }
    for byte in bytes() {
        let command = Ctap2Command::new(byte);
        let expected = lookup(CTAP2_COMMANDS, byte)
            .map_or_else(|| format!("UNKNOWN({})", hex(byte)), str::to_owned);
        assert_eq!(command.to_string(), expected);
        assert_eq!(format!("{command:?}"), expected);
    }
}

#[test]
fn every_keepalive_and_capability_byte_has_its_text() {
    for byte in bytes() {
        let expected = match byte {
            1 => "PROCESSING".to_owned(),
            2 => "UPNEEDED".to_owned(),
            other => format!("UNKNOWN({})", hex(other)),
        };
        assert_eq!(KeepaliveStatus::new(byte).to_string(), expected);

        // CAPABILITY: WINK 0x01, LOCK 0x02, CBOR 0x04, NMSG 0x08; the other bits as one
        // hex number at the end.
        let mut parts: Vec<String> = [
            (0x01, "WINK"),
            (0x02, "LOCK"),
            (0x04, "CBOR"),
            (0x08, "NMSG"),
        ]
        .into_iter()
        .filter(|(bit, _)| byte & bit != 0)
        .map(|(_, name)| name.to_owned())
        .collect();
        if byte & 0xF0 != 0 {
            parts.push(hex(byte & 0xF0));
        }
        let expected = if parts.is_empty() {
            "NONE".to_owned()
        } else {
            parts.join(" | ")
        };
        assert_eq!(Capabilities::from_bits(byte).to_string(), expected);
    }
}

proptest! {
    #[test]
    fn every_status_byte_round_trips(byte in any::<u8>()) {
        prop_assert_eq!(u8::from(StatusCode::from(byte)), byte);
        prop_assert_eq!(StatusCode::new(byte).to_u8(), byte);
        prop_assert_eq!(u8::from(KeepaliveStatus::from(byte)), byte);
        prop_assert_eq!(u8::from(HidErrorCode::from(byte)), byte);
        prop_assert_eq!(u8::from(Capabilities::from(byte)), byte);
        prop_assert_eq!(u8::from(Ctap2Command::from(byte)), byte);
    }

    #[test]
    fn init_response_round_trips(
        nonce in any::<[u8; 8]>(),
        cid in 1..u32::MAX,
        protocol_version in any::<u8>(),
        version in any::<[u8; 3]>(),
        caps in any::<u8>(),
        tail in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let init = InitResponse {
            nonce,
            cid: ChannelId::new(cid),
            protocol_version,
            device_version: DeviceVersion { major: version[0], minor: version[1], build: version[2] },
            capabilities: Capabilities::from_bits(caps),
        };
        let mut bytes = init.to_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        prop_assert_eq!(InitResponse::parse(&bytes), Ok(init));
    }

    #[test]
    fn init_response_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        match InitResponse::parse(&bytes) {
            Ok(init) => {
                prop_assert!(bytes.len() >= 17);
                prop_assert!(init.cid.is_allocatable());
                prop_assert_eq!(&init.to_bytes()[..], &bytes[..17]);
            }
            Err(err) => prop_assert!(!err.to_string().is_empty()),
        }
    }
}
