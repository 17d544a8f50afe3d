//! minPinLength (CTAP 2.1 §12.4): asks the authenticator to report its minimum PIN
//! length in the authenticator data (for RPs it has been configured to tell). Supported
//! when getInfo has the `setMinPINLength` option (the extension has no getInfo entry
//! of its own, as python-fido2 notes). No client output.

use ctap2_proto::Info;
use ctap2_proto::cbor::Value;

use super::ExtensionInputs;

/// The authenticator input, when asked for and supported.
pub(crate) fn registration_input(
    inputs: &ExtensionInputs,
    info: &Info,
    out: &mut Vec<(String, Value)>,
) {
    if inputs.min_pin_length == Some(true) && info.option("setMinPINLength").is_some() {
        out.push(("minPinLength".into(), Value::Bool(true)));
    }
}
