//! Properties that must hold for every byte value.

use ctap_types::{
    Capabilities, ChannelId, CtapError, DeviceVersion, HidErrorCode, InitResponse, KeepaliveStatus,
    StatusCode,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn every_status_byte_round_trips(byte in any::<u8>()) {
        prop_assert_eq!(u8::from(StatusCode::from(byte)), byte);
        prop_assert_eq!(StatusCode::new(byte).to_u8(), byte);
        prop_assert_eq!(u8::from(KeepaliveStatus::from(byte)), byte);
        prop_assert_eq!(u8::from(HidErrorCode::from(byte)), byte);
        prop_assert_eq!(u8::from(Capabilities::from(byte)), byte);
    }

    /// python-fido2: `"0x%02X - %s" % (code, name or "UNKNOWN")`.
    #[test]
    fn display_follows_the_python_rule(byte in any::<u8>()) {
        let code = StatusCode::from(byte);
        let name = code.name().unwrap_or("UNKNOWN");
        let hex = format!("0x{byte:02X}");
        prop_assert_eq!(hex.len(), 4);
        prop_assert!(hex[2..].chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        prop_assert_eq!(code.to_string(), format!("{hex} - {name}"));
        prop_assert_eq!(CtapError::new(code).to_string(), format!("CTAP error: {hex} - {name}"));
        prop_assert_eq!(code.is_extension(), (0xE0..=0xEF).contains(&byte));
        prop_assert_eq!(code.is_vendor(), byte >= 0xF0);
        prop_assert_eq!(code.is_success(), byte == 0);
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
