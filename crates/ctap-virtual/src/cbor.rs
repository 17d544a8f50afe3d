//! CTAPHID_CBOR answers: authenticatorGetInfo (CTAP 2.1 §6.4) in CTAP2 canonical CBOR
//! (§8: integer keys ascending; text keys shorter first, then bytewise).

use ciborium::Value;

/// The `versions` of authenticatorGetInfo: CTAP 2.0, 2.1 and U2F (CTAPHID_MSG answers
/// U2F_VERSION).
pub(crate) const VERSIONS: [&str; 3] = ["FIDO_2_0", "FIDO_2_1", "U2F_V2"];

/// The authenticatorGetInfo response map (without its status byte).
///
/// ```text
/// 0x01 versions      ["FIDO_2_0", "FIDO_2_1", "U2F_V2"]
/// 0x02 extensions    []            (none implemented)
/// 0x03 aaguid        16 bytes
/// 0x04 options       {"rk": false, "up": true, "plat": false}
/// 0x05 maxMsgSize    the maximum CTAPHID message of the report size (7609 at 64)
/// 0x09 transports    ["usb"]
/// ```
pub(crate) fn get_info(aaguid: [u8; 16], max_msg_size: usize) -> Vec<u8> {
    let text = |s: &str| Value::Text(s.to_owned());
    let key = |k: u8| Value::Integer(k.into());
    let info = Value::Map(vec![
        (
            key(0x01),
            Value::Array(VERSIONS.iter().map(|v| text(v)).collect()),
        ),
        (key(0x02), Value::Array(Vec::new())),
        (key(0x03), Value::Bytes(aaguid.to_vec())),
        (
            key(0x04),
            // Canonical order: "rk" < "up" (same length, bytewise), then "plat".
            Value::Map(vec![
                // No credential storage: no resident keys.
                (text("rk"), Value::Bool(false)),
                // It can test user presence (the simulated touch).
                (text("up"), Value::Bool(true)),
                // A roaming authenticator, not a platform one.
                (text("plat"), Value::Bool(false)),
            ]),
        ),
        (key(0x05), Value::Integer(max_msg_size.into())),
        (key(0x09), Value::Array(vec![text("usb")])),
    ]);
    let mut out = Vec::with_capacity(128);
    // Writing into a Vec cannot fail.
    if ciborium::into_writer(&info, &mut out).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_info_is_canonical_and_complete() {
        let bytes = get_info(*b"0123456789abcdef", 7609);
        // A map of 6 entries, key 1 first: a9 would be 9 entries.
        assert_eq!(bytes.first(), Some(&0xA6));
        let value: Value = ciborium::from_reader(bytes.as_slice()).unwrap();
        let Value::Map(entries) = value else {
            panic!("not a map: {value:?}")
        };
        let keys: Vec<i128> = entries
            .iter()
            .map(|(k, _)| k.as_integer().unwrap().into())
            .collect();
        assert_eq!(keys, [1, 2, 3, 4, 5, 9]);
        assert_eq!(
            entries[2].1,
            Value::Bytes(b"0123456789abcdef".to_vec()),
            "aaguid"
        );
        assert_eq!(entries[4].1, Value::Integer(7609.into()));
        // Options in canonical order: rk, up, plat.
        let options: Vec<&str> = entries[3]
            .1
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_text().unwrap())
            .collect();
        assert_eq!(options, ["rk", "up", "plat"]);
    }
}
