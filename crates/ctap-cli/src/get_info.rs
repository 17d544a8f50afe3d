//! `ctap info`: the library's typed authenticatorGetInfo ([`Info`], CTAP 2.1 §6.4 with
//! the CTAP 2.2 members) shown for humans and for `--json`. Decoding is the library's
//! (`ctap2-proto`); this module only renders.
//!
//! Every string the device sent is shown with its control characters escaped, in text
//! and `--json` alike, so a device cannot write escape sequences to the user's terminal.

use ctap::ctap2::proto::Info;
use ctap::ctap2::proto::cbor::Value;
use serde_json::{Map, Value as Json, json};

/// A getInfo answer (the CBOR after the status byte) decoded by the library as the
/// CTAP2 client decodes every response (`ctap2::decode_response`: an answer that is
/// readable but not in CTAP2's canonical form, keys out of order or long forms, is
/// accepted, as python-fido2 accepts it) and rendered by [`members`]; the error says
/// which member is wrong.
pub(crate) fn decode(cbor: &[u8]) -> Result<Map<String, Json>, String> {
    let info: Info = ctap::ctap2::decode_response("authenticatorGetInfo", cbor).map_err(|e| {
        let reason = match e {
            ctap::ctap2::Error::InvalidResponse { error, .. } => error.to_string(),
            other => other.to_string(),
        };
        format!(
            "the authenticatorGetInfo answer does not decode: {reason}\n  \
             (`ctap raw --cmd cbor --data 04` shows it raw)"
        )
    })?;
    Ok(members(&info))
}

/// The members of `info` by their CTAP names, in key order, as JSON values.
///
/// The members `Info` types as lists (`versions`, `extensions`, `options`,
/// `pinUvAuthProtocols`, `transports`) are always present (an absent list reads as
/// empty); the others only when the device sent them. Byte strings are hex, the AAGUID
/// is a UUID, and members the library does not know are kept under `"0xNN"` (a
/// negative key in decimal).
pub(crate) fn members(info: &Info) -> Map<String, Json> {
    let mut members = Map::new();
    let mut put = |name: &str, value: Option<Json>| {
        if let Some(value) = value {
            members.insert(name.to_owned(), value);
        }
    };
    let hex = |bytes: &Option<Vec<u8>>| bytes.as_deref().map(|b| json!(crate::dissect::hex(b)));
    let number = |n: Option<u64>| n.map(Json::from);
    let flag = |b: Option<bool>| b.map(Json::Bool);
    put("versions", Some(texts(&info.versions)));
    put("extensions", Some(texts(&info.extensions)));
    put("aaguid", Some(json!(uuid(&info.aaguid))));
    put(
        "options",
        Some(Json::Object(
            info.options
                .iter()
                .map(|(name, value)| (escape(name), Json::Bool(*value)))
                .collect(),
        )),
    );
    put("maxMsgSize", number(info.max_msg_size));
    put(
        "pinUvAuthProtocols",
        Some(json!(info.pin_uv_auth_protocols)),
    );
    put(
        "maxCredentialCountInList",
        number(info.max_credential_count_in_list),
    );
    put(
        "maxCredentialIdLength",
        number(info.max_credential_id_length),
    );
    put("transports", Some(texts(&info.transports)));
    put(
        "algorithms",
        info.algorithms.as_ref().map(|algorithms| {
            algorithms
                .iter()
                .map(|p| json!({ "alg": p.alg.0, "type": escape(&p.kind) }))
                .collect()
        }),
    );
    put(
        "maxSerializedLargeBlobArray",
        number(info.max_serialized_large_blob_array),
    );
    put("forcePINChange", flag(info.force_pin_change));
    put("minPINLength", number(info.min_pin_length));
    put("firmwareVersion", number(info.firmware_version));
    put("maxCredBlobLength", number(info.max_cred_blob_length));
    put(
        "maxRPIDsForSetMinPINLength",
        number(info.max_rpids_for_set_min_pin_length),
    );
    put(
        "preferredPlatformUvAttempts",
        number(info.preferred_platform_uv_attempts),
    );
    put("uvModality", number(info.uv_modality));
    put("certifications", info.certifications.as_ref().map(to_json));
    put(
        "remainingDiscoverableCredentials",
        number(info.remaining_discoverable_credentials),
    );
    put(
        "vendorPrototypeConfigCommands",
        info.vendor_prototype_config_commands
            .as_ref()
            .map(|l| json!(l)),
    );
    put(
        "attestationFormats",
        info.attestation_formats.as_deref().map(texts),
    );
    put(
        "uvCountSinceLastPinEntry",
        number(info.uv_count_since_last_pin_entry),
    );
    put("longTouchForReset", flag(info.long_touch_for_reset));
    put("encIdentifier", hex(&info.enc_identifier));
    put(
        "transportsForReset",
        info.transports_for_reset.as_deref().map(texts),
    );
    put("pinComplexityPolicy", flag(info.pin_complexity_policy));
    put(
        "pinComplexityPolicyURL",
        hex(&info.pin_complexity_policy_url),
    );
    put("maxPINLength", number(info.max_pin_length));
    put("encCredStoreState", hex(&info.enc_cred_store_state));
    put(
        "authenticatorConfigCommands",
        info.authenticator_config_commands
            .as_ref()
            .map(|l| json!(l)),
    );
    for (key, value) in &info.unknown {
        let name = if *key < 0 {
            key.to_string()
        } else {
            format!("0x{key:02x}")
        };
        put(&name, Some(to_json(value)));
    }
    members
}

/// Prints the getInfo block of `ctap info` (HID and PC/SC alike): a heading, then one
/// aligned line per member.
pub(crate) fn print_members(members: &Map<String, Json>) {
    println!("authenticatorGetInfo");
    for (name, text) in human_lines(members) {
        // The longest member name (remainingDiscoverableCredentials) plus one space.
        println!("  {name:<33}{text}");
    }
}

/// One line per member, for humans: `versions: FIDO_2_0, FIDO_2_1`.
pub(crate) fn human_lines(members: &Map<String, Json>) -> Vec<(String, String)> {
    members
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Json::Array(items) if items.is_empty() => "(none)".to_owned(),
                Json::Array(items) => items.iter().map(short).collect::<Vec<_>>().join(", "),
                Json::Object(map) if map.is_empty() => "(none)".to_owned(),
                Json::Object(map) => map
                    .iter()
                    .map(|(k, v)| format!("{k}={}", short(v)))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => short(other),
            };
            (name.clone(), text)
        })
        .collect()
}

fn short(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", short(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        other => other.to_string(),
    }
}

fn texts(list: &[String]) -> Json {
    Json::Array(list.iter().map(|t| Json::String(escape(t))).collect())
}

/// A CBOR value the library keeps untyped (`certifications`, unknown members) as
/// JSON: byte strings as lower-case hex, map keys as strings, text escaped.
pub(crate) fn to_json(value: &Value) -> Json {
    match value {
        Value::Int(i) => i64::try_from(*i)
            .map(Json::from)
            .or_else(|_| u64::try_from(*i).map(Json::from))
            .unwrap_or_else(|_| Json::String(i.to_string())),
        Value::Bytes(bytes) => Json::String(crate::dissect::hex(bytes)),
        Value::Text(text) => Json::String(escape(text)),
        Value::Bool(b) => Json::Bool(*b),
        Value::Null => Json::Null,
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(key, value)| {
                    let key = match to_json(key) {
                        Json::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(value))
                })
                .collect(),
        ),
    }
}

fn escape(text: &str) -> String {
    ctap::device::hid::escape_device_string(text)
}

/// An AAGUID as a UUID string (8-4-4-4-12).
pub(crate) fn uuid(aaguid: &[u8; 16]) -> String {
    let hex = crate::dissect::hex(aaguid);
    let part = |range: std::ops::Range<usize>| hex.get(range).unwrap_or_default();
    [
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32),
    ]
    .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctap::ctap2::proto::cbor::{CborMessage as _, MapBuilder};

    /// A getInfo answer as a device would send it (canonical CBOR).
    fn answer(extra: &[(i128, Value)]) -> Vec<u8> {
        let mut map = MapBuilder::new()
            .with(
                1,
                Value::Array(vec![Value::text("FIDO_2_0"), Value::text("FIDO_2_1")]),
            )
            .with(3, Value::Bytes((0..16).collect()))
            .with(
                4,
                Value::Map(vec![
                    (Value::text("rk"), Value::Bool(true)),
                    (Value::text("clientPin"), Value::Bool(false)),
                ]),
            )
            .with(5, Value::int(7609))
            .with(6, Value::Array(vec![Value::int(2), Value::int(1)]))
            .with(
                10,
                Value::Array(vec![Value::Map(vec![
                    (Value::text("alg"), Value::int(-7)),
                    (Value::text("type"), Value::text("public-key")),
                ])]),
            )
            .with(
                19,
                Value::Map(vec![(Value::text("FIPS-CMVP-2"), Value::int(2))]),
            )
            .with(28, Value::bytes(b"https://x"));
        for (key, value) in extra {
            map = map.with(*key, value.clone());
        }
        map.build().to_vec()
    }

    #[test]
    fn typed_members_keep_their_ctap_names() {
        let info = Info::from_cbor(&answer(&[])).unwrap();
        let members = members(&info);
        assert_eq!(members["versions"], json!(["FIDO_2_0", "FIDO_2_1"]));
        assert_eq!(
            members["aaguid"],
            json!("00010203-0405-0607-0809-0a0b0c0d0e0f")
        );
        assert_eq!(members["options"], json!({"rk": true, "clientPin": false}));
        assert_eq!(members["maxMsgSize"], json!(7609));
        assert_eq!(members["pinUvAuthProtocols"], json!([2, 1]));
        assert_eq!(
            members["algorithms"],
            json!([{"alg": -7, "type": "public-key"}])
        );
        assert_eq!(members["certifications"], json!({"FIPS-CMVP-2": 2}));
        assert_eq!(
            members["pinComplexityPolicyURL"],
            json!("68747470733a2f2f78")
        );
        assert_eq!(members["extensions"], json!([]));
        assert!(!members.contains_key("minPINLength"), "absent stays absent");
        let names: Vec<&str> = members.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "versions",
                "extensions",
                "aaguid",
                "options",
                "maxMsgSize",
                "pinUvAuthProtocols",
                "transports",
                "algorithms",
                "certifications",
                "pinComplexityPolicyURL"
            ]
        );
        let lines = human_lines(&members);
        assert!(lines.contains(&("versions".to_owned(), "FIDO_2_0, FIDO_2_1".to_owned())));
        assert!(lines.contains(&("options".to_owned(), "rk=true clientPin=false".to_owned())));
        assert!(lines.contains(&("extensions".to_owned(), "(none)".to_owned())));
        assert!(lines.contains(&(
            "algorithms".to_owned(),
            "{alg: -7, type: public-key}".to_owned()
        )));
    }

    #[test]
    fn unknown_members_still_show() {
        let info = Info::from_cbor(&answer(&[
            (0x40, Value::int(1)),
            (-3, Value::text("neg")),
            (
                0x41,
                Value::Map(vec![(Value::int(1), Value::bytes(&[0xAB]))]),
            ),
            (0x42, Value::int(u64::MAX)),
        ]))
        .unwrap();
        let members = members(&info);
        assert_eq!(members["0x40"], json!(1));
        assert_eq!(members["-3"], json!("neg"));
        assert_eq!(members["0x41"], json!({"1": "ab"}));
        assert_eq!(members["0x42"], json!(u64::MAX));
        assert!(human_lines(&members).contains(&("0x41".to_owned(), "1=ab".to_owned())));
    }

    #[test]
    fn decode_is_the_clients_decoder_relaxed() {
        let canonical = answer(&[]);
        assert_eq!(
            decode(&canonical).unwrap(),
            members(&Info::from_cbor(&canonical).unwrap())
        );
        // The aaguid's length in its 8-bit form: not canonical, still readable.
        let at = canonical
            .windows(2)
            .position(|w| w == [0x03, 0x50])
            .unwrap();
        let long_form = [&canonical[..=at], &[0x58, 0x10], &canonical[at + 2..]].concat();
        assert!(Info::from_cbor(&long_form).is_err());
        assert_eq!(decode(&long_form).unwrap(), decode(&canonical).unwrap());
        let trailing = [&canonical[..], &[0x00]].concat();
        assert!(decode(&trailing).unwrap_err().contains("trailing bytes"));
        let error = decode(&MapBuilder::new().with(1, Value::int(1)).build().to_vec());
        assert!(error.unwrap_err().starts_with(
            "the authenticatorGetInfo answer does not decode: missing parameter: aaguid"
        ));
    }

    #[test]
    fn device_text_is_escaped() {
        let info = Info::from_cbor(&answer(&[(
            0x40,
            Value::Map(vec![(Value::text("k\u{1b}"), Value::text("v\u{9b}"))]),
        )]))
        .unwrap();
        let info = Info {
            versions: vec!["FIDO_2_1\u{1b}[2J".to_owned()],
            options: vec![("rk\u{7}".to_owned(), true)],
            ..info
        };
        let members = members(&info);
        assert_eq!(members["versions"], json!(["FIDO_2_1\\u{1b}[2J"]));
        assert_eq!(members["options"], json!({"rk\\u{7}": true}));
        assert_eq!(members["0x40"], json!({"k\\u{1b}": "v\\u{9b}"}));
    }
}
