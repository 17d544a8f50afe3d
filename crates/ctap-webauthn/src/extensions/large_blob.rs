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
/// authenticator without large blobs (step 2), or for a credential that is not
/// discoverable: CTAP 2.1 §12.3 gives largeBlobKeys to discoverable credentials only
/// (an authenticator answers INVALID_OPTION otherwise), so `rk` decides too.
pub(crate) fn registration_input(
    inputs: &ExtensionInputs,
    info: &Info,
    rk: bool,
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
    let supported = supported(info) && rk;
    if large_blob.support.as_deref() == Some("required") && !supported {
        return Err(Error::Unsupported(
            "large blobs for this credential (support is required; they need an authenticator with large blobs and a discoverable credential, CTAP 2.1 §12.3)".into(),
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
        if self.read {
            let serialized = ctap2_client::LargeBlobs::new(ctap, None)?.read_serialized()?;
            let entries = checked_array(&serialized)?;
            let mut blob = None;
            for entry in &entries {
                // ctap2-client's entry format (§6.10.3: AES-256-GCM over DEFLATE,
                // inflated to at most origSize and MAX_BLOB_SIZE).
                if let Some(found) = ctap2_client::unpack_blob(&key, entry)? {
                    blob = Some(super::Secret::new(found));
                    break;
                }
            }
            out.large_blob = Some(LargeBlobOutputs {
                blob,
                ..LargeBlobOutputs::default()
            });
        } else if let Some(write) = &self.write {
            // The credential's entry replaced, the others kept; an array that fails
            // its checksum is treated as empty when writing (§6.10.3).
            ctap2_client::LargeBlobs::new(ctap, token.cloned())?.put_blob(&key, Some(write))?;
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
