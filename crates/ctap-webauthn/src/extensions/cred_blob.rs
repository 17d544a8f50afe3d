//! credBlob (CTAP 2.1 §12.2): a small blob stored with a new credential and read back
//! with getCredBlob. A blob longer than `maxCredBlobLength` is not sent (python-fido2
//! does the same) and the output says it was not stored.

use ctap2_proto::cbor::Value;
use ctap2_proto::{AuthenticatorData, Info};

use super::{ExtensionInputs, ExtensionOutputs, Secret};
use crate::error::{Error, Result};

fn supported(info: &Info) -> bool {
    info.extensions.iter().any(|e| e == "credBlob")
}

fn output(auth_data: &AuthenticatorData) -> Option<&Value> {
    match &auth_data.extensions {
        Some(Value::Map(entries)) => entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == "credBlob"))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// create(): the authenticator input.
pub(crate) fn registration_input(
    inputs: &ExtensionInputs,
    info: &Info,
    out: &mut Vec<(String, Value)>,
) {
    if let Some(blob) = &inputs.cred_blob {
        let max = info.max_cred_blob_length.unwrap_or(0);
        if supported(info) && !blob.is_empty() && blob.len() as u64 <= max {
            out.push(("credBlob".into(), Value::bytes(blob)));
        }
    }
}

/// create(): `credBlob: true` when the authenticator says it stored the blob.
pub(crate) fn registration_output(
    inputs: &ExtensionInputs,
    auth_data: &AuthenticatorData,
    out: &mut ExtensionOutputs,
) -> Result<()> {
    if inputs.cred_blob.is_none() {
        return Ok(());
    }
    out.cred_blob = Some(match output(auth_data) {
        None => false,
        Some(Value::Bool(stored)) => *stored,
        Some(_) => {
            return Err(Error::InvalidResponse(
                "credBlob output is not a boolean".into(),
            ));
        }
    });
    Ok(())
}

/// get(): the authenticator input.
pub(crate) fn authentication_input(
    inputs: &ExtensionInputs,
    info: &Info,
    out: &mut Vec<(String, Value)>,
) {
    if inputs.get_cred_blob == Some(true) && supported(info) {
        out.push(("credBlob".into(), Value::Bool(true)));
    }
}

/// get(): the blob (empty when the credential has none, §12.2).
pub(crate) fn authentication_output(
    inputs: &ExtensionInputs,
    info: &Info,
    auth_data: &AuthenticatorData,
    out: &mut ExtensionOutputs,
) -> Result<()> {
    if inputs.get_cred_blob != Some(true) || !supported(info) {
        return Ok(());
    }
    match output(auth_data) {
        None => {}
        Some(Value::Bytes(blob)) => {
            let max = info.max_cred_blob_length.unwrap_or(0);
            if blob.len() as u64 > max {
                return Err(Error::InvalidResponse(format!(
                    "credBlob of {} bytes, more than maxCredBlobLength {max}",
                    blob.len()
                )));
            }
            out.get_cred_blob = Some(Secret::new(blob.clone()));
        }
        Some(_) => {
            return Err(Error::InvalidResponse(
                "credBlob output is not a byte string".into(),
            ));
        }
    }
    Ok(())
}
