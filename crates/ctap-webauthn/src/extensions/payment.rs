//! thirdPartyPayment (CTAP 2.2 §12.9): WebAuthn's `payment` extension with `isPayment`
//! marks the credential (create) or asks whether it is one (get). The rest of Secure
//! Payment Confirmation (the payment client data) is the browser's, not implemented
//! here; the authenticator's output stays in the authenticator data.

use ctap2_proto::Info;
use ctap2_proto::cbor::Value;

use super::ExtensionInputs;

/// The authenticator input, when asked for and supported.
pub(crate) fn input(inputs: &ExtensionInputs, info: &Info, out: &mut Vec<(String, Value)>) {
    if inputs.payment.is_some_and(|p| p.is_payment)
        && info.extensions.iter().any(|e| e == "thirdPartyPayment")
    {
        out.push(("thirdPartyPayment".into(), Value::Bool(true)));
    }
}
