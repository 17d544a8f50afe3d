//! credProps (WebAuthn §10.1.3): the client says whether the new credential is
//! discoverable. Nothing is sent to the authenticator; `rk` is what the client asked
//! for (the `rk` option of makeCredential, which the authenticator honours or fails).

use super::{CredProps, ExtensionInputs, ExtensionOutputs};

/// The output for a credential created with `rk` (create() only).
pub(crate) fn registration_output(inputs: &ExtensionInputs, rk: bool, out: &mut ExtensionOutputs) {
    if inputs.cred_props == Some(true) {
        out.cred_props = Some(CredProps { rk });
    }
}
