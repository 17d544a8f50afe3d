//! authenticatorLargeBlobs (CTAP 2.1 §6.10): the serialized large-blob array, read in
//! fragments by anyone and written in fragments with a pinUvAuthToken carrying the
//! largeBlobWrite (lbw) permission. The array is kept in the persistent state; a write
//! in progress is volatile and bounded by maxSerializedLargeBlobArray.

use std::time::Instant;

use ctap_types::StatusCode;
use ctap2_proto::cbor::{CborMessage, Value};
use ctap2_proto::pin::Permissions;
use ctap2_proto::{LargeBlobsRequest, LargeBlobsResponse};

use super::keys::sha256;
use super::{Ctap2, Result, answer};
use crate::Config;

/// The checksum at the end of the serialized array: LEFT(SHA-256(array), 16).
const CHECKSUM_LEN: usize = 16;

/// A write in progress (§6.10.2: expectedLength, expectedNextOffset and the buffer).
#[derive(Debug, Default)]
pub(crate) struct LargeBlobWrite {
    expected_length: usize,
    buffer: Vec<u8>,
}

impl Ctap2 {
    /// authenticatorLargeBlobs (CTAP 2.1 §6.10.2), step by step.
    pub(super) fn large_blobs(
        &mut self,
        now: Instant,
        config: &Config,
        params: &[u8],
    ) -> Result<Vec<u8>> {
        let max_array = self.features.large_blob_array_len();
        if max_array == 0 {
            return Err(StatusCode::INVALID_COMMAND);
        }
        // Step 1: offset is required; its absence is CTAP1_ERR_INVALID_PARAMETER (not the
        // MISSING_PARAMETER a generic decode would give).
        let value = Value::from_slice(params).map_err(|e| e.status())?;
        let has_offset = matches!(&value, Value::Map(entries)
            if entries.iter().any(|(k, _)| *k == Value::int(3)));
        if !has_offset {
            return Err(StatusCode::INVALID_PARAMETER);
        }
        let request = LargeBlobsRequest::from_value(value).map_err(|e| e.status())?;
        // maxFragmentLength = maxMsgSize - 64.
        let max_fragment = config.report_size.max_message_len().saturating_sub(64);
        let offset = usize::try_from(request.offset).map_err(|_| StatusCode::INVALID_PARAMETER)?;
        match (request.get, &request.set) {
            // Step 2: exactly one of get and set.
            (Some(_), Some(_)) | (None, None) => Err(StatusCode::INVALID_PARAMETER),
            (Some(get), None) => {
                // Step 3.1 and 3.2: get takes neither length nor auth.
                if request.length.is_some()
                    || request.pin_uv_auth_param.is_some()
                    || request.pin_uv_auth_protocol.is_some()
                {
                    return Err(StatusCode::INVALID_PARAMETER);
                }
                // Step 3.3: get > maxFragmentLength is CTAP1_ERR_INVALID_LENGTH.
                let get = usize::try_from(get)
                    .ok()
                    .filter(|&g| g <= max_fragment)
                    .ok_or(StatusCode::INVALID_LENGTH)?;
                // Step 3.4: an offset past the end is CTAP1_ERR_INVALID_PARAMETER.
                let array = self.state.features.large_blob_array();
                let rest = array.get(offset..).ok_or(StatusCode::INVALID_PARAMETER)?;
                // Step 3.5: at most `get` bytes from `offset`.
                let fragment = rest.get(..get.min(rest.len())).unwrap_or_default();
                Ok(answer(&LargeBlobsResponse {
                    config: Some(fragment.to_vec()),
                }))
            }
            (None, Some(set)) => self.large_blob_set(now, &request, set, offset, max_fragment),
        }
    }

    /// Step 4 of §6.10.2: one fragment of a write.
    fn large_blob_set(
        &mut self,
        now: Instant,
        request: &LargeBlobsRequest,
        set: &[u8],
        offset: usize,
        max_fragment: usize,
    ) -> Result<Vec<u8>> {
        let max_array = self.features.large_blob_array_len();
        // Step 4.1: a fragment longer than maxFragmentLength.
        if set.len() > max_fragment {
            return Err(StatusCode::INVALID_LENGTH);
        }
        if offset == 0 {
            // Step 4.2: the first fragment names the total length.
            let length = request.length.ok_or(StatusCode::INVALID_PARAMETER)?;
            let length = usize::try_from(length)
                .ok()
                .filter(|&l| l <= max_array)
                .ok_or(StatusCode::LARGE_BLOB_STORAGE_FULL)?;
            if length < 17 {
                return Err(StatusCode::INVALID_PARAMETER);
            }
            // Step 4.2.4: expectedLength = length, expectedNextOffset = 0. The buffer
            // itself is prepared in step 4.7, after the auth checks.
            self.large_blob_write = Some(LargeBlobWrite {
                expected_length: length,
                buffer: Vec::new(),
            });
        } else if request.length.is_some() {
            // Step 4.3: only the first fragment carries length.
            return Err(StatusCode::INVALID_PARAMETER);
        }
        // Step 4.4: offset must be expectedNextOffset.
        let expected_next = self.large_blob_write.as_ref().map_or(0, |w| w.buffer.len());
        if offset != expected_next || self.large_blob_write.is_none() {
            return Err(StatusCode::INVALID_SEQ);
        }
        // Step 4.5: with a PIN (or built-in UV) or alwaysUv, a pinUvAuthToken with lbw
        // over 32 × 0xff || h'0c00' || uint32LE(offset) || SHA-256(set).
        if self.state.pin.is_some() || self.state.always_uv {
            let param = request
                .pin_uv_auth_param
                .as_deref()
                .ok_or(StatusCode::PUAT_REQUIRED)?;
            if request.pin_uv_auth_protocol.is_none() {
                return Err(StatusCode::MISSING_PARAMETER);
            }
            let mut message = vec![0xFF; 32];
            message.extend_from_slice(&[0x0C, 0x00]);
            let offset32 = u32::try_from(offset).map_err(|_| StatusCode::INVALID_PARAMETER)?;
            message.extend_from_slice(&offset32.to_le_bytes());
            message.extend_from_slice(&sha256(set));
            self.check_token(
                now,
                request.pin_uv_auth_protocol,
                param,
                &message,
                Permissions::LARGE_BLOB_WRITE,
                None,
            )?;
        }
        let write = self
            .large_blob_write
            .as_mut()
            .ok_or(StatusCode::INVALID_SEQ)?;
        // Step 4.6: the fragment must fit expectedLength.
        if offset.saturating_add(set.len()) > write.expected_length {
            return Err(StatusCode::INVALID_PARAMETER);
        }
        // Steps 4.7-4.9: write the fragment; expectedNextOffset follows.
        if offset == 0 {
            write.buffer = Vec::with_capacity(write.expected_length);
        }
        write.buffer.extend_from_slice(set);
        if write.buffer.len() < write.expected_length {
            // Step 4.11: more to come.
            return Ok(vec![StatusCode::SUCCESS.to_u8()]);
        }
        // Step 4.10: complete. The checksum must match, then the array is committed.
        let buffer = std::mem::take(&mut write.buffer);
        self.large_blob_write = None;
        let (array, checksum) = buffer
            .split_at_checked(buffer.len().saturating_sub(CHECKSUM_LEN))
            .ok_or(StatusCode::INTEGRITY_FAILURE)?;
        if sha256(array).get(..CHECKSUM_LEN) != Some(checksum) {
            return Err(StatusCode::INTEGRITY_FAILURE);
        }
        self.state.features.large_blob_array = Some(buffer);
        self.dirty = true;
        Ok(vec![StatusCode::SUCCESS.to_u8()])
    }
}
