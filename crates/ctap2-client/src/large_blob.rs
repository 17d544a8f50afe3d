//! One credential's large blob on top of the large-blob array (CTAP 2.1 §6.10.3):
//! python-fido2's `LargeBlobs.get_blob` / `put_blob` / `delete_blob`.
//!
//! ```text
//! entry = { 1: ciphertext, 2: nonce (12 bytes), 3: origSize }
//! ciphertext = AES-256-GCM(key = largeBlobKey, nonce,
//!                          plaintext = DEFLATE(blob)   (raw, RFC 1951),
//!                          associated data = "blob" || uint64LE(origSize))
//! ```
//!
//! An entry that does not decrypt with the key belongs to another credential (or is
//! damaged) and is kept as it is. Memory is bounded: the array read is at most the
//! authenticator's maxSerializedLargeBlobArray and never more than
//! [`MAX_LARGE_BLOB_ARRAY`]; a blob inflates to at most its origSize and never more
//! than [`MAX_BLOB_SIZE`].

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ctap_device::CtapDevice;
use ctap2_proto::Info;
use ctap2_proto::cbor::Value;
use zeroize::Zeroizing;

use crate::management::LargeBlobs;
use crate::{Error, Result};

use crate::management::MAX_LARGE_BLOB_ARRAY;
/// The largest blob this client inflates (1 MiB).
pub const MAX_BLOB_SIZE: usize = 1 << 20;
/// The length of a largeBlobKey (§12.3: 32 bytes).
pub const LARGE_BLOB_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// How much of the array [`LargeBlobs`] reads before it gives up: the advertised
/// maxSerializedLargeBlobArray, within [`MAX_LARGE_BLOB_ARRAY`].
pub(crate) fn read_limit(info: &Info) -> usize {
    info.max_serialized_large_blob_array
        .and_then(|max| usize::try_from(max).ok())
        .map_or(MAX_LARGE_BLOB_ARRAY, |max| max.min(MAX_LARGE_BLOB_ARRAY))
}

fn associated_data(orig_size: u64) -> [u8; 12] {
    let mut ad = [0; 12];
    ad[..4].copy_from_slice(b"blob");
    ad[4..].copy_from_slice(&orig_size.to_le_bytes());
    ad
}

fn cipher(key: &[u8]) -> Result<Aes256Gcm> {
    if key.len() != LARGE_BLOB_KEY_LEN {
        return Err(Error::InvalidArgument(format!(
            "a largeBlobKey is {LARGE_BLOB_KEY_LEN} bytes, got {}",
            key.len()
        )));
    }
    Aes256Gcm::new_from_slice(key).map_err(|_| Error::InvalidArgument("largeBlobKey length".into()))
}

/// One large-blob array entry holding `data` for the credential of `key`, encrypted
/// with `nonce` (§6.10.3). Use a fresh random nonce for every entry.
///
/// # Errors
/// [`Error::InvalidArgument`] for a key that is not 32 bytes or data over
/// [`MAX_BLOB_SIZE`].
pub fn pack_blob(key: &[u8], data: &[u8], nonce: [u8; NONCE_LEN]) -> Result<Value> {
    if data.len() > MAX_BLOB_SIZE {
        return Err(Error::InvalidArgument(format!(
            "a large blob is at most {MAX_BLOB_SIZE} bytes, got {}",
            data.len()
        )));
    }
    let orig_size = data.len() as u64;
    let compressed = Zeroizing::new(miniz_oxide::deflate::compress_to_vec(data, 6));
    let ciphertext = cipher(key)?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &compressed,
                aad: &associated_data(orig_size),
            },
        )
        .map_err(|_| Error::InvalidArgument("large blob encryption failed".into()))?;
    Ok(Value::Map(vec![
        (Value::int(1), Value::Bytes(ciphertext)),
        (Value::int(2), Value::bytes(&nonce)),
        (Value::int(3), Value::int(orig_size)),
    ]))
}

/// The blob in `entry` if it belongs to the credential of `key`: `None` when the
/// entry is not a blob entry, does not decrypt with the key, does not inflate, or
/// inflates to another size than its origSize (all as python-fido2's `get_blob`).
///
/// # Errors
/// [`Error::InvalidArgument`] for a key that is not 32 bytes.
pub fn unpack_blob(key: &[u8], entry: &Value) -> Result<Option<Vec<u8>>> {
    let cipher = cipher(key)?;
    let Some(compressed) = decrypt_entry(&cipher, entry) else {
        return Ok(None);
    };
    let (compressed, orig_size) = compressed;
    let Ok(limit) = usize::try_from(orig_size) else {
        return Ok(None);
    };
    if limit > MAX_BLOB_SIZE {
        return Ok(None);
    }
    match miniz_oxide::inflate::decompress_to_vec_with_limit(&compressed, limit) {
        Ok(data) if data.len() == limit => Ok(Some(data)),
        _ => Ok(None),
    }
}

/// The compressed plaintext and origSize of `entry` when it decrypts with `cipher`.
fn decrypt_entry(cipher: &Aes256Gcm, entry: &Value) -> Option<(Zeroizing<Vec<u8>>, u64)> {
    let Value::Map(members) = entry else {
        return None;
    };
    let member = |key: i128| {
        members
            .iter()
            .find(|(k, _)| *k == Value::Int(key))
            .map(|(_, v)| v)
    };
    let (Some(Value::Bytes(ciphertext)), Some(Value::Bytes(nonce)), Some(Value::Int(size))) =
        (member(1), member(2), member(3))
    else {
        return None;
    };
    let orig_size = u64::try_from(*size).ok()?;
    if nonce.len() != NONCE_LEN {
        return None;
    }
    let nonce = Nonce::try_from(nonce).ok()?;
    let plaintext = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad: &associated_data(orig_size),
            },
        )
        .ok()?;
    Some((Zeroizing::new(plaintext), orig_size))
}

impl<D: CtapDevice> LargeBlobs<'_, D> {
    /// The blob stored for the credential whose largeBlobKey is `key` (from the
    /// largeBlobKey extension), `None` when there is none.
    ///
    /// # Errors
    /// As [`read_blob_array`](Self::read_blob_array); [`Error::InvalidArgument`] for
    /// a key that is not 32 bytes.
    pub fn get_blob(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        cipher(key)?;
        for entry in self.read_blob_array()? {
            if let Some(data) = unpack_blob(key, &entry)? {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// Stores `data` for the credential of `key`, replacing what it had; `None`
    /// deletes. Entries of other credentials are kept. Nothing is written when there
    /// is nothing to change (deleting a blob that is not there).
    ///
    /// # Errors
    /// As [`write_blob_array`](Self::write_blob_array) (`LARGE_BLOB_STORAGE_FULL` when
    /// the array would be too big, `PUAT_REQUIRED` without a token);
    /// [`Error::InvalidArgument`] for a key that is not 32 bytes.
    pub fn put_blob(&mut self, key: &[u8], data: Option<&[u8]>) -> Result<()> {
        let cipher = cipher(key)?;
        let mut modified = data.is_some();
        let mut entries = Vec::new();
        for entry in self.read_blob_array()? {
            if decrypt_entry(&cipher, &entry).is_some() {
                modified = true;
            } else {
                entries.push(entry);
            }
        }
        if let Some(data) = data {
            let mut nonce = [0; NONCE_LEN];
            self.ctap().rng().fill(&mut nonce)?;
            entries.push(pack_blob(key, data, nonce)?);
        }
        if modified {
            self.write_blob_array(&entries)?;
        }
        Ok(())
    }

    /// Deletes the blob(s) of the credential of `key`.
    ///
    /// # Errors
    /// As [`put_blob`](Self::put_blob).
    pub fn delete_blob(&mut self, key: &[u8]) -> Result<()> {
        self.put_blob(key, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// An entry python-fido2 2.2.1 wrote (`_lb_pack` with key 00..1f and nonce 07 × 12).
    fn python_entry() -> Value {
        Value::Map(vec![
            (
                Value::int(1),
                Value::Bytes(hex(
                    "c4226b95a6581fbdead75cd5c89b3dd4f394ad2e88f7798b74dcd4cdaca6c1b722acb67fa6b9",
                )),
            ),
            (Value::int(2), Value::bytes(&[7; 12])),
            (Value::int(3), Value::int(68)),
        ])
    }

    fn key() -> Vec<u8> {
        (0..32).collect()
    }

    #[test]
    fn reads_what_python_fido2_wrote() {
        let data = unpack_blob(&key(), &python_entry()).unwrap().unwrap();
        assert_eq!(data, b"hello large blob ".repeat(4));
    }

    #[test]
    fn round_trip_and_other_keys_see_nothing() {
        let data = b"an SSH certificate, say".repeat(10);
        let entry = pack_blob(&key(), &data, [1; 12]).unwrap();
        assert_eq!(unpack_blob(&key(), &entry).unwrap().unwrap(), data);
        // Compressed: repetitive data shrinks.
        let Value::Map(members) = &entry else {
            panic!()
        };
        let Value::Bytes(ciphertext) = &members[0].1 else {
            panic!()
        };
        assert!(ciphertext.len() < data.len() / 2, "{}", ciphertext.len());
        assert_eq!(unpack_blob(&[9; 32], &entry).unwrap(), None);
        assert_eq!(unpack_blob(&key(), &Value::int(5)).unwrap(), None);
    }

    #[test]
    fn a_wrong_orig_size_or_damage_is_not_a_blob() {
        // origSize is authenticated (associated data): changing it breaks the tag.
        let Value::Map(mut members) = python_entry() else {
            panic!()
        };
        members[2].1 = Value::int(67);
        assert_eq!(unpack_blob(&key(), &Value::Map(members)).unwrap(), None);
        // A flipped ciphertext bit.
        let Value::Map(mut members) = python_entry() else {
            panic!()
        };
        if let Value::Bytes(c) = &mut members[0].1 {
            c[0] ^= 1;
        }
        assert_eq!(unpack_blob(&key(), &Value::Map(members)).unwrap(), None);
        // A short nonce, a negative size: not an entry, no panic.
        let Value::Map(mut members) = python_entry() else {
            panic!()
        };
        members[1].1 = Value::bytes(&[7; 11]);
        assert_eq!(unpack_blob(&key(), &Value::Map(members)).unwrap(), None);
        let Value::Map(mut members) = python_entry() else {
            panic!()
        };
        members[2].1 = Value::int(-1);
        assert_eq!(unpack_blob(&key(), &Value::Map(members)).unwrap(), None);
    }

    #[test]
    fn a_blob_that_claims_to_be_huge_is_not_inflated() {
        // An honest entry for data over the cap is refused when packing...
        assert!(matches!(
            pack_blob(&key(), &vec![0; MAX_BLOB_SIZE + 1], [0; 12]),
            Err(Error::InvalidArgument(_))
        ));
        // ...and an entry claiming more than the cap is not inflated at all.
        let data = vec![0; 10];
        let compressed = miniz_oxide::deflate::compress_to_vec(&data, 6);
        let size = (MAX_BLOB_SIZE + 1) as u64;
        let ciphertext = cipher(&key())
            .unwrap()
            .encrypt(
                &Nonce::from([3; 12]),
                Payload {
                    msg: &compressed,
                    aad: &associated_data(size),
                },
            )
            .unwrap();
        let entry = Value::Map(vec![
            (Value::int(1), Value::Bytes(ciphertext)),
            (Value::int(2), Value::bytes(&[3; 12])),
            (Value::int(3), Value::int(size)),
        ]);
        assert_eq!(unpack_blob(&key(), &entry).unwrap(), None);
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert!(matches!(
            unpack_blob(&[0; 16], &python_entry()),
            Err(Error::InvalidArgument(message)) if message.contains("got 16")
        ));
    }

    use ctap_device::CallOptions;
    use ctap_types::{Capabilities, Command, StatusCode};
    use ctap2_proto::cbor::CborMessage as _;
    use ctap2_proto::{Algorithm, Options, Permissions, RpEntity, UserEntity};

    use crate::{ClientPin, Ctap2, make_credential_request};

    /// A discoverable credential for user `n` with the largeBlobKey extension: its key.
    fn large_blob_key<D: CtapDevice>(ctap: &mut Ctap2<D>, n: u8) -> Vec<u8> {
        let mut request = make_credential_request(
            [n; 32],
            RpEntity {
                icon: None,
                id: "example.com".into(),
                name: None,
            },
            UserEntity {
                icon: None,
                id: vec![n],
                name: None,
                display_name: None,
            },
            &[Algorithm::ES256],
        );
        request.options = Some(Options {
            rk: Some(true),
            ..Options::default()
        });
        request.extensions = Some(vec![("largeBlobKey".into(), Value::Bool(true))]);
        let attestation = ctap
            .make_credential(&request, CallOptions::default())
            .unwrap();
        attestation.response.large_blob_key.unwrap()
    }

    #[test]
    fn put_get_delete_against_the_virtual_authenticator() {
        let (_authenticator, device) = ctap_virtual::testing::connect().unwrap();
        let mut ctap = Ctap2::new(device).unwrap();
        let one = large_blob_key(&mut ctap, 1);
        let two = large_blob_key(&mut ctap, 2);
        assert_ne!(one, two);
        let mut blobs = LargeBlobs::new(&mut ctap, None).unwrap();
        assert_eq!(blobs.get_blob(&one).unwrap(), None);
        blobs.put_blob(&one, Some(b"first")).unwrap();
        blobs.put_blob(&two, Some(&[0xAB; 900])).unwrap();
        assert_eq!(blobs.get_blob(&one).unwrap().unwrap(), b"first");
        assert_eq!(blobs.get_blob(&two).unwrap().unwrap(), [0xAB; 900]);
        // Replacing keeps one entry per credential.
        blobs.put_blob(&one, Some(b"second")).unwrap();
        assert_eq!(blobs.get_blob(&one).unwrap().unwrap(), b"second");
        assert_eq!(blobs.read_blob_array().unwrap().len(), 2);
        blobs.delete_blob(&two).unwrap();
        assert_eq!(blobs.get_blob(&two).unwrap(), None);
        assert_eq!(blobs.get_blob(&one).unwrap().unwrap(), b"second");
        // More than maxSerializedLargeBlobArray (4096): the authenticator refuses.
        let incompressible: Vec<u8> = (0..160u32)
            .flat_map(|i| {
                use sha2::Digest as _;
                sha2::Sha256::digest(i.to_le_bytes())
            })
            .collect();
        let error = blobs.put_blob(&two, Some(&incompressible)).unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::LARGE_BLOB_STORAGE_FULL));
        drop(blobs);

        // With a PIN, writing needs a token with lbw (§6.10.2 step 4.5).
        ClientPin::new(&mut ctap).unwrap().set_pin("1234").unwrap();
        let error = LargeBlobs::new(&mut ctap, None)
            .unwrap()
            .put_blob(&one, Some(b"third"))
            .unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::PUAT_REQUIRED));
        let token = ClientPin::new(&mut ctap)
            .unwrap()
            .get_pin_token("1234", Permissions::LARGE_BLOB_WRITE, None)
            .unwrap();
        let mut blobs = LargeBlobs::new(&mut ctap, Some(token)).unwrap();
        blobs.put_blob(&one, Some(b"third")).unwrap();
        assert_eq!(blobs.get_blob(&one).unwrap().unwrap(), b"third");
        // Deleting what is not there writes nothing (no token needed to find out).
        drop(blobs);
        LargeBlobs::new(&mut ctap, None)
            .unwrap()
            .delete_blob(&two)
            .unwrap();
    }

    /// A device whose large-blob array goes on and on: every fragment is full.
    #[derive(Debug)]
    struct Endless {
        calls: usize,
    }

    impl CtapDevice for Endless {
        fn capabilities(&self) -> Capabilities {
            Capabilities::CBOR
        }

        fn call_with(
            &mut self,
            command: Command,
            _data: &[u8],
            _options: CallOptions<'_>,
        ) -> std::result::Result<Vec<u8>, ctap_device::Error> {
            assert_eq!(command, Command::CBOR);
            self.calls += 1;
            let body = if self.calls == 1 {
                Info {
                    versions: vec!["FIDO_2_1".into()],
                    options: vec![("largeBlobs".into(), true)],
                    max_msg_size: Some(200),
                    max_serialized_large_blob_array: Some(1024),
                    ..Info::default()
                }
                .to_cbor()
            } else {
                // (It does end after 100 fragments, so a client without the limit
                // fails this test instead of hanging it.)
                let len = if self.calls > 100 { 0 } else { 136 };
                ctap2_proto::LargeBlobsResponse {
                    config: Some(vec![0x55; len]),
                }
                .to_cbor()
            };
            Ok([&[0][..], &body].concat())
        }

        fn close(&mut self) {}
    }

    #[test]
    fn an_endless_array_is_refused_at_max_serialized_large_blob_array() {
        let mut ctap = Ctap2::new(Endless { calls: 0 }).unwrap();
        let error = LargeBlobs::new(&mut ctap, None)
            .unwrap()
            .get_blob(&[0; 32])
            .unwrap_err();
        assert!(
            error.to_string().contains("maxSerializedLargeBlobArray"),
            "{error}"
        );
        // 1024 bytes in fragments of 136: the eighth fragment crosses the limit.
        assert_eq!(ctap.device().calls, 1 + 8);
    }

    #[test]
    fn the_read_limit_follows_info_within_the_cap() {
        let mut info = Info::default();
        assert_eq!(read_limit(&info), MAX_LARGE_BLOB_ARRAY);
        info.max_serialized_large_blob_array = Some(4096);
        assert_eq!(read_limit(&info), 4096);
        info.max_serialized_large_blob_array = Some(u64::MAX);
        assert_eq!(read_limit(&info), MAX_LARGE_BLOB_ARRAY);
    }
}
