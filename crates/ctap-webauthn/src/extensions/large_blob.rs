//! largeBlob (WebAuthn §10.1.5; CTAP 2.1 §12.3 largeBlobKey and §6.10 the large-blob
//! array): create() asks the authenticator for a largeBlobKey and reports `supported`.

use ctap2_proto::Info;
use ctap2_proto::cbor::Value;

use super::{ExtensionInputs, ExtensionOutputs, LargeBlobOutputs};
use crate::error::{Error, Result};

/// The authenticator can store large blobs (the largeBlobKey extension and the
/// largeBlobs option).
pub(crate) fn supported(info: &Info) -> bool {
    info.extensions.iter().any(|e| e == "largeBlobKey") && info.option("largeBlobs") == Some(true)
}

/// create(): the authenticator input (`largeBlobKey: true`); whether the extension was
/// asked for.
///
/// # Errors
/// [`Error::InvalidInput`] for read or write in create() (§10.1.5 registration step 1:
/// NotSupportedError), [`Error::Unsupported`] for support "required" on an
/// authenticator without large blobs (step 2).
pub(crate) fn registration_input(
    inputs: &ExtensionInputs,
    info: &Info,
    out: &mut Vec<(String, Value)>,
) -> Result<bool> {
    let Some(large_blob) = &inputs.large_blob else {
        return Ok(false);
    };
    if large_blob.read.is_some() || large_blob.write.is_some() {
        return Err(Error::input(
            "extensions.largeBlob",
            "read and write are for get(), not create()",
        ));
    }
    let supported = supported(info);
    if large_blob.support.as_deref() == Some("required") && !supported {
        return Err(Error::Unsupported(
            "large blobs (largeBlob support is required)".into(),
        ));
    }
    if supported {
        out.push(("largeBlobKey".into(), Value::Bool(true)));
    }
    Ok(true)
}

/// create(): `supported` is whether the authenticator returned a largeBlobKey.
///
/// # Errors
/// [`Error::InvalidResponse`] for a key that is not 32 bytes (§12.3).
pub(crate) fn registration_output(key: Option<&[u8]>, out: &mut ExtensionOutputs) -> Result<()> {
    if key.is_some_and(|k| k.len() != 32) {
        return Err(Error::InvalidResponse("a largeBlobKey has 32 bytes".into()));
    }
    out.large_blob = Some(LargeBlobOutputs {
        supported: Some(key.is_some()),
        ..LargeBlobOutputs::default()
    });
    Ok(())
}

/// get(): what was asked (read or write) once the inputs are checked.
#[derive(Debug)]
pub(crate) struct Authentication {
    read: bool,
    write: Option<Vec<u8>>,
    supported: bool,
}

/// get(): checks the inputs (§10.1.5 authentication steps 1-2: no `support`, not read
/// and write together).
///
/// # Errors
/// [`Error::InvalidInput`] for those.
pub(crate) fn authentication(
    inputs: &ExtensionInputs,
    info: &Info,
) -> Result<Option<Authentication>> {
    let Some(large_blob) = &inputs.large_blob else {
        return Ok(None);
    };
    if large_blob.support.is_some() {
        return Err(Error::input(
            "extensions.largeBlob.support",
            "support is for create(), not get()",
        ));
    }
    let read = large_blob.read == Some(true);
    if read && large_blob.write.is_some() {
        return Err(Error::input(
            "extensions.largeBlob",
            "read and write together",
        ));
    }
    if !read && large_blob.write.is_none() {
        return Ok(None);
    }
    Ok(Some(Authentication {
        read,
        write: large_blob.write.clone(),
        supported: supported(info),
    }))
}

/// The additional authenticated data of an entry: "blob" || uint64LE(origSize).
fn associated_data(orig_size: u64) -> Vec<u8> {
    [&b"blob"[..], &orig_size.to_le_bytes()].concat()
}

/// The blob of the entry `entry`, if it is ours (decrypts with `key`).
///
/// # Errors
/// [`Error::InvalidResponse`] when an entry that decrypts does not inflate to its
/// origSize (or past `limit`).
pub(crate) fn open_entry(entry: &Value, key: &[u8; 32], limit: usize) -> Result<Option<Vec<u8>>> {
    use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
    let Value::Map(members) = entry else {
        return Ok(None);
    };
    let member = |n: i128| {
        members
            .iter()
            .find(|(k, _)| *k == Value::Int(n))
            .map(|(_, v)| v)
    };
    let (Some(Value::Bytes(ciphertext)), Some(Value::Bytes(nonce)), Some(Value::Int(orig_size))) =
        (member(1), member(2), member(3))
    else {
        return Ok(None);
    };
    let (Ok(orig_size), true) = (u64::try_from(*orig_size), nonce.len() == 12) else {
        return Ok(None);
    };
    let cipher = aes_gcm::Aes256Gcm::new(key.into());
    let aad = associated_data(orig_size);
    let Ok(compressed) = cipher.decrypt(
        aes_gcm::Nonce::from_slice(nonce),
        Payload {
            msg: ciphertext,
            aad: &aad,
        },
    ) else {
        return Ok(None);
    };
    let size = usize::try_from(orig_size)
        .ok()
        .filter(|s| *s <= limit)
        .ok_or_else(|| {
            Error::InvalidResponse(format!(
                "large blob of origSize {orig_size}, more than {limit} bytes"
            ))
        })?;
    let blob =
        miniz_oxide::inflate::decompress_to_vec_with_limit(&compressed, size).map_err(|_| {
            Error::InvalidResponse("large blob does not inflate to its origSize".into())
        })?;
    if blob.len() != size {
        return Err(Error::InvalidResponse(format!(
            "large blob inflates to {} bytes, origSize says {size}",
            blob.len()
        )));
    }
    Ok(Some(blob))
}

/// A new entry holding `blob` for `key` (§6.10.3 "large-blob map").
///
/// # Errors
/// [`Error::Random`] when no nonce can be drawn.
pub(crate) fn seal_entry(blob: &[u8], key: &[u8; 32]) -> Result<Value> {
    use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| Error::Random(e.to_string()))?;
    let compressed = miniz_oxide::deflate::compress_to_vec(blob, 6);
    let orig_size = blob.len() as u64;
    let cipher = aes_gcm::Aes256Gcm::new(key.into());
    let aad = associated_data(orig_size);
    let ciphertext = cipher
        .encrypt(
            aes_gcm::Nonce::from_slice(&nonce),
            Payload {
                msg: &compressed,
                aad: &aad,
            },
        )
        .map_err(|_| Error::InvalidResponse("large blob too long to encrypt".into()))?;
    Ok(Value::Map(vec![
        (Value::int(1), Value::Bytes(ciphertext)),
        (Value::int(2), Value::bytes(&nonce)),
        (Value::int(3), Value::int(orig_size)),
    ]))
}

/// The largest blob read: the authenticator's array size (or 64 KiB).
fn limit(info: &Info) -> usize {
    info.max_serialized_large_blob_array
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(super::MAX_BLOB)
        .min(1 << 20)
}

impl Authentication {
    /// Whether this writes (and so needs the largeBlobWrite permission).
    pub(crate) fn writes(&self) -> bool {
        self.write.is_some()
    }

    /// Reads or writes the credential's blob with the assertion's largeBlobKey.
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] for a key that is not 32 bytes or an array that fails
    /// its checksum when reading; the errors of authenticatorLargeBlobs.
    pub(crate) fn output<D: ctap_device::CtapDevice>(
        &self,
        ctap: &mut ctap2_client::Ctap2<D>,
        assertion: &ctap2_client::Assertion,
        token: Option<&ctap2_client::PinToken>,
        out: &mut ExtensionOutputs,
    ) -> Result<()> {
        let key = match assertion.response.large_blob_key.as_deref() {
            Some(key) => Some(
                <[u8; 32]>::try_from(key)
                    .map_err(|_| Error::InvalidResponse("a largeBlobKey has 32 bytes".into()))?,
            ),
            None => None,
        };
        let Some(key) = key.filter(|_| self.supported) else {
            // §10.1.5: no blob read / not written when the authenticator cannot.
            out.large_blob = Some(LargeBlobOutputs {
                written: self.write.as_ref().map(|_| false),
                ..LargeBlobOutputs::default()
            });
            return Ok(());
        };
        let limit = limit(ctap.info());
        if self.read {
            let serialized = ctap2_client::LargeBlobs::new(ctap, None)?.read_serialized()?;
            let entries = checked_array(&serialized)?;
            let mut blob = None;
            for entry in &entries {
                if let Some(found) = open_entry(entry, &key, limit)? {
                    blob = Some(super::Secret::new(found));
                    break;
                }
            }
            out.large_blob = Some(LargeBlobOutputs {
                blob,
                ..LargeBlobOutputs::default()
            });
        } else if let Some(write) = &self.write {
            let mut blobs = ctap2_client::LargeBlobs::new(ctap, token.cloned())?;
            // §6.10.3: an array that fails its checksum is treated as empty when
            // writing (read_blob_array does that).
            let mut entries = blobs.read_blob_array()?;
            let mut kept = Vec::with_capacity(entries.len() + 1);
            for entry in entries.drain(..) {
                if open_entry(&entry, &key, limit).ok().flatten().is_none() {
                    kept.push(entry);
                }
            }
            kept.push(seal_entry(write, &key)?);
            blobs.write_blob_array(&kept)?;
            out.large_blob = Some(LargeBlobOutputs {
                written: Some(true),
                ..LargeBlobOutputs::default()
            });
        }
        Ok(())
    }
}

/// The entries of a serialized large-blob array, after its checksum (the first 16
/// bytes of SHA-256 of the array, §6.10.2).
///
/// # Errors
/// [`Error::InvalidResponse`] when the checksum does not match or the array is not
/// CBOR: a blob that was asked for is not silently reported missing.
pub(crate) fn checked_array(serialized: &[u8]) -> Result<Vec<Value>> {
    use sha2::{Digest as _, Sha256};
    let split = serialized.len().checked_sub(16).ok_or_else(|| {
        Error::InvalidResponse("large-blob array shorter than its checksum".into())
    })?;
    let (array, checksum) = serialized.split_at(split);
    if Sha256::digest(array).get(..16) != Some(checksum) {
        return Err(Error::InvalidResponse(
            "the large-blob array fails its checksum".into(),
        ));
    }
    Value::from_slice_with(array, ctap2_proto::DecodeMode::Relaxed)
        .and_then(|v| v.into_array("large-blob array"))
        .map_err(|e| Error::InvalidResponse(format!("large-blob array: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_other_keys_do_not_open() {
        let key = [7; 32];
        let entry = seal_entry(b"hello large blob", &key).unwrap();
        assert_eq!(
            open_entry(&entry, &key, 1024).unwrap().unwrap(),
            b"hello large blob"
        );
        assert_eq!(open_entry(&entry, &[8; 32], 1024).unwrap(), None);
        // An origSize above the limit is an error, not an allocation.
        assert!(open_entry(&entry, &key, 4).is_err());
    }

    #[test]
    fn a_bad_checksum_is_an_error() {
        // The empty array: 0x80 || the first 16 bytes of SHA-256(0x80) (§6.10.2).
        let mut empty = vec![0x80];
        empty.extend_from_slice(&hex16("76be8b528d0075f7aae98d6fa57a6d3c"));
        assert_eq!(checked_array(&empty).unwrap(), Vec::<Value>::new());
        let last = empty.len() - 1;
        empty[last] ^= 1;
        assert!(
            checked_array(&empty)
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
    }

    fn hex16(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }
}
