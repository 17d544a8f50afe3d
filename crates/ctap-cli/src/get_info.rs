//! Decoding authenticatorGetInfo (CTAP 2.1 §6.4) for humans and for `--json`.

use ciborium::Value;
use serde_json::{Map, Value as Json, json};

/// The names of the getInfo response members (CTAP 2.1 §6.4, table "authenticatorGetInfo
/// response structure"); members this table does not know keep their number.
const MEMBER_NAMES: &[(u64, &str)] = &[
    (0x01, "versions"),
    (0x02, "extensions"),
    (0x03, "aaguid"),
    (0x04, "options"),
    (0x05, "maxMsgSize"),
    (0x06, "pinUvAuthProtocols"),
    (0x07, "maxCredentialCountInList"),
    (0x08, "maxCredentialIdLength"),
    (0x09, "transports"),
    (0x0A, "algorithms"),
    (0x0B, "maxSerializedLargeBlobArray"),
    (0x0C, "forcePINChange"),
    (0x0D, "minPINLength"),
    (0x0E, "firmwareVersion"),
    (0x0F, "maxCredBlobLength"),
    (0x10, "maxRPIDsForSetMinPINLength"),
    (0x11, "preferredPlatformUvAttempts"),
    (0x12, "uvModality"),
    (0x13, "certifications"),
    (0x14, "remainingDiscoverableCredentials"),
    (0x15, "vendorPrototypeConfigCommands"),
    (0x16, "attestationFormats"),
    (0x17, "uvCountSinceLastPinEntry"),
    (0x18, "longTouchForReset"),
    (0x19, "encIdentifier"),
    (0x1A, "transportsForReset"),
    (0x1B, "pinComplexityPolicy"),
    (0x1C, "pinComplexityPolicyURL"),
    (0x1D, "maxPINLength"),
];

/// The decoded response: its members in key order, named, as JSON values.
pub(crate) fn decode(cbor: &[u8]) -> Result<Map<String, Json>, String> {
    let value: Value = ciborium::de::from_reader(cbor)
        .map_err(|e| format!("authenticatorGetInfo answer is not valid CBOR: {e}"))?;
    let Value::Map(entries) = value else {
        return Err("authenticatorGetInfo answer is not a CBOR map".to_owned());
    };
    let mut members = Map::new();
    for (key, value) in entries {
        let name = match key.as_integer().and_then(|k| u64::try_from(k).ok()) {
            Some(number) => MEMBER_NAMES
                .iter()
                .find(|(n, _)| *n == number)
                .map_or_else(|| format!("0x{number:02x}"), |(_, name)| (*name).to_owned()),
            None => escape(&format!("{key:?}")),
        };
        let json = if name == "aaguid" {
            value
                .as_bytes()
                .map_or_else(|| to_json(&value), |b| Json::String(uuid(b)))
        } else {
            to_json(&value)
        };
        members.insert(name, json);
    }
    Ok(members)
}

/// CBOR to JSON: byte strings as lower-case hex, map keys as strings, text with its
/// control characters escaped (a device's strings must not reach the terminal raw, in
/// text or `--json` output alike).
fn to_json(value: &Value) -> Json {
    match value {
        Value::Integer(i) => {
            let wide = i128::from(*i);
            i64::try_from(wide).map_or_else(|_| json!(wide.to_string()), |n| json!(n))
        }
        Value::Bytes(bytes) => Json::String(crate::dissect::hex(bytes)),
        Value::Float(f) => json!(f),
        Value::Text(text) => Json::String(escape(text)),
        Value::Bool(b) => Json::Bool(*b),
        Value::Null => Json::Null,
        Value::Tag(_, inner) => to_json(inner),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let key = match key {
                    Value::Text(text) => escape(text),
                    other => match to_json(other) {
                        Json::String(s) => s,
                        json => json.to_string(),
                    },
                };
                map.insert(key, to_json(value));
            }
            Json::Object(map)
        }
        _ => Json::String(format!("{value:?}")),
    }
}

fn escape(text: &str) -> String {
    ctap::device::hid::escape_device_string(text)
}

/// An AAGUID as a UUID string (8-4-4-4-12), or hex if it is not 16 bytes.
fn uuid(bytes: &[u8]) -> String {
    let hex = crate::dissect::hex(bytes);
    if bytes.len() != 16 {
        return hex;
    }
    let parts = [
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32],
    ];
    parts.join("-")
}

/// One line per member, for humans: `versions: FIDO_2_0, FIDO_2_1`.
pub(crate) fn human_lines(members: &Map<String, Json>) -> Vec<(String, String)> {
    members
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Json::Array(items) if items.is_empty() => "(none)".to_owned(),
                Json::Array(items) => items.iter().map(short).collect::<Vec<_>>().join(", "),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(value, &mut out).unwrap();
        out
    }

    #[test]
    fn members_are_named_and_aaguid_is_a_uuid() {
        let info = Value::Map(vec![
            (
                Value::from(1),
                Value::Array(vec![Value::from("FIDO_2_0"), Value::from("FIDO_2_1")]),
            ),
            (Value::from(3), Value::Bytes((0..16).collect())),
            (
                Value::from(4),
                Value::Map(vec![(Value::from("rk"), Value::from(true))]),
            ),
            (Value::from(5), Value::from(7609)),
            (Value::from(0x40), Value::from(1)),
        ]);
        let members = decode(&encode(&info)).unwrap();
        assert_eq!(members["versions"], json!(["FIDO_2_0", "FIDO_2_1"]));
        assert_eq!(
            members["aaguid"],
            json!("00010203-0405-0607-0809-0a0b0c0d0e0f")
        );
        assert_eq!(members["options"], json!({"rk": true}));
        assert_eq!(members["maxMsgSize"], json!(7609));
        assert_eq!(members["0x40"], json!(1));
        let lines = human_lines(&members);
        assert!(lines.contains(&("versions".to_owned(), "FIDO_2_0, FIDO_2_1".to_owned())));
        assert!(lines.contains(&("options".to_owned(), "rk=true".to_owned())));
    }

    #[test]
    fn device_text_is_escaped() {
        let info = Value::Map(vec![(
            Value::from(1),
            Value::Array(vec![Value::from("FIDO_2_1\u{1b}[2J")]),
        )]);
        let members = decode(&encode(&info)).unwrap();
        assert_eq!(members["versions"], json!(["FIDO_2_1\\u{1b}[2J"]));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(
            decode(&[0xFF, 0x00])
                .unwrap_err()
                .contains("not valid CBOR")
        );
        assert!(
            decode(&encode(&Value::from(1)))
                .unwrap_err()
                .contains("not a CBOR map")
        );
    }
}
