//! Authenticator data (WebAuthn §6.1, CTAP 2.1 §6.1 / §6.2 responses):
//!
//! ```text
//! rpIdHash (32) | flags (1) | signCount (4, BE)
//!   [ attested credential data: aaguid (16) | credIdLen (2, BE) | credId | COSE key ]   if AT
//!   [ extensions: CBOR map of extension outputs ]                                       if ED
//! ```

use alloc::vec::Vec;

use crate::cbor::{CborMessage as _, DecodeMode, Error, Value};
use crate::cose::CoseKey;

crate::codes::flag_set! {
    /// The flags byte of authenticator data (WebAuthn §6.1, "flags"): a set of flags,
    /// unknown bits kept (`Display`: `UP | UV`).
    Flags {
        /// User present (bit 0, WebAuthn §6.1; CTAP 2.1 §6.1.2 step 14, §6.2.2 step 9).
        UP = 0x01, "UP";
        /// User verified (bit 2, WebAuthn §6.1; CTAP 2.1 §6.1.2 step 14, §6.2.2 step 9).
        UV = 0x04, "UV";
        /// Backup eligible (bit 3, WebAuthn §6.1).
        BE = 0x08, "BE";
        /// Backed up (bit 4, WebAuthn §6.1).
        BS = 0x10, "BS";
        /// Attested credential data included (bit 6, WebAuthn §6.1, §6.5.1).
        AT = 0x40, "AT";
        /// Extension data included (bit 7, WebAuthn §6.1, §9).
        ED = 0x80, "ED";
    }
}

/// Attested credential data: the new credential of a makeCredential.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AttestedCredentialData {
    /// The authenticator model's AAGUID.
    pub aaguid: [u8; 16],
    /// The credential id (at most 1023 bytes: WebAuthn §6.5.1).
    pub credential_id: Vec<u8>,
    /// The credential public key.
    pub public_key: CoseKey,
}

/// Authenticator data.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuthenticatorData {
    /// SHA-256 of the RP id.
    pub rp_id_hash: [u8; 32],
    /// The flags; `AT` and `ED` are set by [`to_bytes`](Self::to_bytes) from the
    /// presence of the members below, whatever this says.
    pub flags: Flags,
    /// The signature counter.
    pub sign_count: u32,
    /// Present on makeCredential.
    pub attested_credential: Option<AttestedCredentialData>,
    /// The extension outputs (a CBOR map), if any.
    pub extensions: Option<Value>,
}

/// The longest credential id attested credential data can carry (WebAuthn §6.5.1).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;

impl AuthenticatorData {
    /// The binary form.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut flags = Flags(self.flags.0 & !(Flags::AT.0 | Flags::ED.0));
        if self.attested_credential.is_some() {
            flags = flags.with(Flags::AT);
        }
        if self.extensions.is_some() {
            flags = flags.with(Flags::ED);
        }
        let mut out = Vec::with_capacity(37 + 200);
        out.extend_from_slice(&self.rp_id_hash);
        out.push(flags.0);
        out.extend_from_slice(&self.sign_count.to_be_bytes());
        if let Some(attested) = &self.attested_credential {
            out.extend_from_slice(&attested.aaguid);
            let len = u16::try_from(attested.credential_id.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&attested.credential_id);
            out.extend_from_slice(&attested.public_key.to_cbor());
        }
        if let Some(extensions) = &self.extensions {
            extensions.encode_into(&mut out);
        }
        out
    }

    /// Parses the binary form.
    ///
    /// # Errors
    /// `InvalidLength` when it is too short or has bytes left over, `InvalidCbor` when the
    /// COSE key or the extensions are not CBOR, `UnexpectedType` when the extensions are
    /// not a map.
    ///
    /// Authenticator data is only ever made by an authenticator and read by a host, so
    /// its COSE key and extensions are read in [`DecodeMode::Relaxed`] (keys in any
    /// order, long-form integers), as the responses that carry it are.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let (head, mut rest) = bytes.split_first_chunk::<37>().ok_or(Error::InvalidLength(
            "authenticator data shorter than 37 bytes",
        ))?;
        let (rp_id_hash, tail) = head
            .split_first_chunk::<32>()
            .ok_or(Error::InvalidLength("rpIdHash"))?;
        let (&flags, counter) = tail.split_first().ok_or(Error::InvalidLength("flags"))?;
        let flags = Flags(flags);
        let counter: [u8; 4] = counter
            .try_into()
            .map_err(|_| Error::InvalidLength("signCount"))?;
        let attested_credential = if flags.contains(Flags::AT) {
            let (aaguid, after) = rest
                .split_first_chunk::<16>()
                .ok_or(Error::InvalidLength("aaguid"))?;
            let (len, after) = after
                .split_first_chunk::<2>()
                .ok_or(Error::InvalidLength("credentialIdLength"))?;
            let len = usize::from(u16::from_be_bytes(*len));
            if len > after.len() {
                return Err(Error::InvalidLength("credentialId"));
            }
            let (credential_id, after) = after.split_at(len);
            let (key, after) = Value::from_prefix_with(after, DecodeMode::Relaxed)?;
            rest = after;
            Some(AttestedCredentialData {
                aaguid: *aaguid,
                credential_id: credential_id.to_vec(),
                public_key: CoseKey::from_value(key)?,
            })
        } else {
            None
        };
        let extensions = if flags.contains(Flags::ED) {
            let (value, after) = Value::from_prefix_with(rest, DecodeMode::Relaxed)?;
            if !matches!(value, Value::Map(_)) {
                return Err(Error::UnexpectedType("extensions"));
            }
            rest = after;
            Some(value)
        } else {
            None
        };
        if !rest.is_empty() {
            return Err(Error::InvalidLength("bytes after authenticator data"));
        }
        Ok(Self {
            rp_id_hash: *rp_id_hash,
            flags,
            sign_count: u32::from_be_bytes(counter),
            attested_credential,
            extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn round_trip_with_everything() {
        let data = AuthenticatorData {
            rp_id_hash: [0xAB; 32],
            flags: Flags::UP.with(Flags::UV),
            sign_count: 0x0102_0304,
            attested_credential: Some(AttestedCredentialData {
                aaguid: [0x11; 16],
                credential_id: vec![1, 2, 3],
                public_key: CoseKey::EdDsa { x: [5; 32] },
            }),
            extensions: Some(Value::Map(vec![(
                Value::text("credProtect"),
                Value::Int(2),
            )])),
        };
        let bytes = data.to_bytes();
        assert_eq!(bytes[32], 0x01 | 0x04 | 0x40 | 0x80);
        assert_eq!(&bytes[33..37], &[1, 2, 3, 4]);
        assert_eq!(&bytes[53..58], &[0, 3, 1, 2, 3]);
        let mut expected = data.clone();
        expected.flags = Flags(bytes[32]);
        assert_eq!(AuthenticatorData::from_bytes(&bytes).unwrap(), expected);
    }

    #[test]
    fn truncated_and_trailing_are_refused() {
        let data = AuthenticatorData {
            rp_id_hash: [0; 32],
            flags: Flags::UP,
            sign_count: 1,
            attested_credential: None,
            extensions: None,
        };
        let bytes = data.to_bytes();
        assert_eq!(bytes.len(), 37);
        assert!(AuthenticatorData::from_bytes(&bytes[..36]).is_err());
        assert!(AuthenticatorData::from_bytes(&[bytes.as_slice(), &[0]].concat()).is_err());
        // AT set but nothing follows.
        let mut at = bytes.clone();
        at[32] |= 0x40;
        assert!(AuthenticatorData::from_bytes(&at).is_err());
    }
}
