//! credProtect (CTAP 2.1 §12.1): the policy as the authenticator's level 1-3; with
//! `enforceCredentialProtectionPolicy`, an authenticator without the extension is
//! refused for levels above 1 (§12.1 "Client extension processing" step 2), as
//! python-fido2 does. The authenticator's output (the level it applied) stays in the
//! authenticator data; WebAuthn defines no client output.

use ctap2_proto::Info;
use ctap2_proto::cbor::Value;

use super::ExtensionInputs;
use crate::error::{Error, Result};

/// The authenticator input, or an error when the policy is enforced and unsupported.
pub(crate) fn registration_input(
    inputs: &ExtensionInputs,
    info: &Info,
    out: &mut Vec<(String, Value)>,
) -> Result<()> {
    let Some(policy) = inputs.credential_protection_policy else {
        return Ok(());
    };
    let supported = info.extensions.iter().any(|e| e == "credProtect");
    if !supported {
        if inputs.enforce_credential_protection_policy == Some(true) && policy.level() > 1 {
            return Err(Error::Unsupported(
                "credProtect (enforceCredentialProtectionPolicy is set)".into(),
            ));
        }
        // Not enforced: the credential is created without protection.
        return Ok(());
    }
    out.push(("credProtect".into(), Value::int(policy.level())));
    Ok(())
}
