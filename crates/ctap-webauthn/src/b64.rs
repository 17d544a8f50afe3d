//! base64url (RFC 4648 §5) as WebAuthn's JSON forms use it: encoded without padding
//! (WebAuthn §5.1 `toJSON()`), decoded with or without it (servers differ:
//! python-fido2's `websafe_decode` and most libraries accept both).

use base64ct::{Base64UrlUnpadded, Encoding as _};
use serde::Serializer;

/// `bytes` in base64url without padding.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Decodes base64url, with or without `=` padding.
///
/// # Errors
/// A description of what is wrong (a character outside the url-safe alphabet, a
/// length no encoding has, non-zero trailing bits).
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    let unpadded = text.trim_end_matches('=');
    if text.len() - unpadded.len() > 2 {
        return Err("more than two '=' of padding".into());
    }
    Base64UrlUnpadded::decode_vec(unpadded).map_err(|_| {
        match unpadded
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            Some(c) => format!("{c:?} is not a base64url character"),
            None => format!("{} characters is not a base64url length", unpadded.len()),
        }
    })
}

/// serde: `Vec<u8>` as a base64url string.
pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&encode(bytes))
}

/// serde: `Option<Vec<u8>>` as a base64url string.
pub(crate) fn serialize_opt<S: Serializer>(
    bytes: &Option<Vec<u8>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(bytes) => serializer.serialize_str(&encode(bytes)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers_and_padding() {
        // RFC 4648 §10 vectors, in the url-safe alphabet.
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).unwrap(), plain.as_bytes());
        }
        assert_eq!(decode("Zg==").unwrap(), b"f");
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode("-_8").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(decode("+/8").unwrap_err().contains("'+'"));
        assert!(decode("Z").unwrap_err().contains("length"));
        assert!(decode("Zg===").unwrap_err().contains("padding"));
    }
}
