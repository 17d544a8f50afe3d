//! hmac-secret (CTAP 2.1 §12.5) and WebAuthn's prf (§10.1.4), which rides on it: the
//! salts are encrypted to the authenticator with the PIN/UV auth protocol's shared
//! secret (protocol one or two, the one the client negotiated), authenticated with
//! saltAuth, and the outputs decrypted. prf's inputs become salts as
//! SHA-256("WebAuthn PRF" || 0x00 || input) (§10.1.4 step "salt1").
//!
//! An output that does not match what was asked (not 32 bytes for one salt, 64 for
//! two, or not decryptable) is an error, not passed on.

use std::collections::BTreeMap;

use ctap_device::CtapDevice;
use ctap2_client::{ClientPin, Ctap2};
use ctap2_proto::cbor::{CborMessage as _, Value};
use ctap2_proto::{AuthenticatorData, CoseKey, Info, PinProtocol, SharedSecret};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::{
    ExtensionInputs, ExtensionOutputs, HmacGetSecretInput, HmacGetSecretOutput, PrfInputs,
    PrfOutputs, PrfResults, PrfValues, Secret,
};
use crate::b64;
use crate::error::{Error, Result};
use ctap2_client::{Drawn, SystemRandom};

/// The extension's identifier.
pub(crate) const NAME: &str = "hmac-secret";
/// The length of a salt and of an output.
pub(crate) const SALT_LEN: usize = 32;

fn supported(info: &Info) -> bool {
    info.extensions.iter().any(|e| e == NAME)
}

fn output(auth_data: &AuthenticatorData) -> Option<&Value> {
    named_output(auth_data, NAME)
}

/// The PRF salt of an input (WebAuthn §10.1.4).
#[must_use]
pub fn prf_salt(input: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"WebAuthn PRF\x00");
    hash.update(input);
    hash.finalize().into()
}

/// The CTAP 2.2 extension that carries hmac-secret's salts in makeCredential, so the
/// new credential's outputs come back at registration (WebAuthn prf's `results` from
/// create()).
pub(crate) const MC_NAME: &str = "hmac-secret-mc";

/// What create() asked for, and the key agreement of an hmac-secret-mc input.
pub(crate) struct Registration {
    prf: bool,
    hmac: bool,
    /// hmac-secret-mc was sent: the shared secret its output is encrypted with, and
    /// whether two salts went (the output is then 64 bytes).
    mc: Option<(SharedSecret, bool)>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("prf", &self.prf)
            .field("hmac", &self.hmac)
            .field(
                "mc_salts",
                &self.mc.as_ref().map(|(_, two)| 1 + usize::from(*two)),
            )
            .finish_non_exhaustive()
    }
}

/// create(): `hmac-secret: true` when prf or hmacCreateSecret is asked for and the
/// authenticator has the extension and a PIN/UV auth protocol (as python-fido2); and,
/// when the authenticator lists hmac-secret-mc (CTAP 2.2 §12.5) and salts were given
/// (prf's `eval`, or hmacGetSecret beside hmacCreateSecret), the salts in an
/// hmac-secret-mc input (keyAgreement 1, saltEnc 2, saltAuth 3, pinUvAuthProtocol 4,
/// the getAssertion input's structure) after a getKeyAgreement of its own.
///
/// # Errors
/// [`Error::Unsupported`] for prf's `evalByCredential` at create() (WebAuthn §10.1.4:
/// NotSupportedError, no credential exists yet); the errors of getKeyAgreement.
pub(crate) fn registration_input<D: CtapDevice>(
    ctap: &mut Ctap2<D>,
    inputs: &ExtensionInputs,
    protocol: Option<PinProtocol>,
    out: &mut Vec<(String, Value)>,
) -> Result<Option<Registration>> {
    let prf = inputs.prf.is_some();
    let hmac = inputs.hmac_create_secret == Some(true);
    if !(prf || hmac) {
        return Ok(None);
    }
    if inputs
        .prf
        .as_ref()
        .is_some_and(|p| !p.eval_by_credential.is_empty())
    {
        return Err(Error::Unsupported(
            "prf evalByCredential at registration (WebAuthn §10.1.4: only eval)".into(),
        ));
    }
    let mut mc = None;
    if let Some(protocol) = protocol.filter(|_| supported(ctap.info())) {
        out.push((NAME.into(), Value::Bool(true)));
        let hmac_salts = if hmac {
            inputs.hmac_get_secret.as_ref()
        } else {
            None
        };
        let wants_mc = ctap.info().extensions.iter().any(|e| e == MC_NAME);
        if let Some(salts) = salts(inputs.prf.as_ref(), hmac_salts, None).filter(|_| wants_mc) {
            let (key_agreement, shared) =
                ClientPin::with_protocol(ctap, protocol).shared_secret()?;
            out.push((
                MC_NAME.into(),
                salt_input(&key_agreement, &shared, &salts, MC_NAME)?,
            ));
            mc = Some((shared, salts.len() == 2 * SALT_LEN));
        }
    }
    Ok(Some(Registration { prf, hmac, mc }))
}

impl Registration {
    /// create(): `prf.enabled` / `hmacCreateSecret` from the authenticator's output,
    /// and with hmac-secret-mc the results (`prf.results`, or hmacGetSecret's outputs).
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] for an hmac-secret output that is not a boolean, or
    /// an hmac-secret-mc output that is not a byte string, does not decrypt, or is not
    /// 32 bytes per salt sent.
    pub(crate) fn output(
        &self,
        auth_data: &AuthenticatorData,
        out: &mut ExtensionOutputs,
    ) -> Result<()> {
        let enabled = match output(auth_data) {
            None => false,
            Some(Value::Bool(enabled)) => *enabled,
            Some(_) => {
                return Err(Error::InvalidResponse(
                    "hmac-secret output of makeCredential is not a boolean".into(),
                ));
            }
        };
        let results = match &self.mc {
            Some((shared, two)) => named_output(auth_data, MC_NAME)
                .map(|value| decrypt_outputs(shared, value, *two, MC_NAME))
                .transpose()?,
            None => None,
        };
        if self.prf {
            out.prf = Some(PrfOutputs {
                enabled: Some(enabled),
                results: results.map(|(first, second)| PrfResults { first, second }),
            });
        } else if let Some((output1, output2)) = results {
            out.hmac_get_secret = Some(HmacGetSecretOutput { output1, output2 });
        }
        if self.hmac {
            out.hmac_create_secret = Some(enabled);
        }
        Ok(())
    }
}

/// The salts' input to the authenticator (CTAP 2.1 §12.5, and CTAP 2.2's hmac-secret-mc
/// with the same structure): keyAgreement 1, saltEnc 2 (the salts encrypted with the
/// shared secret), saltAuth 3, pinUvAuthProtocol 4.
fn salt_input(
    key_agreement: &CoseKey,
    shared: &SharedSecret,
    salts: &[u8],
    name: &str,
) -> Result<Value> {
    let salt_enc = shared
        .encrypt(salts, &mut Drawn::new(&mut SystemRandom, 16)?)
        .map_err(|e| Error::InvalidResponse(format!("{name} salts: {e}")))?;
    let salt_auth = shared.authenticate(&salt_enc);
    Ok(Value::Map(vec![
        (Value::int(1), key_agreement.to_value()),
        (Value::int(2), Value::Bytes(salt_enc)),
        (Value::int(3), Value::Bytes(salt_auth)),
        (Value::int(4), Value::int(shared.protocol().number())),
    ]))
}

/// hmac-secret's getAssertion input for `salts` (one 32-byte salt, or two
/// concatenated) under a key agreement made with getKeyAgreement (CTAP 2.1 §12.5), for
/// callers below the WebAuthn client (the `ctap cred assert --fido2-tools
/// --hmac-secret` of libfido2's format); the WebAuthn client builds its own through
/// the same code.
///
/// # Errors
/// [`Error::InvalidResponse`] when the salts cannot be encrypted (the operating
/// system's random number generator failed).
pub fn hmac_secret_input(
    key_agreement: &CoseKey,
    shared: &SharedSecret,
    salts: &[u8],
) -> Result<Value> {
    salt_input(key_agreement, shared, salts, NAME)
}

/// The secret(s) of an assertion's hmac-secret output (CTAP 2.1 §12.5), decrypted with
/// the shared secret the input was made with: `None` without an output; `two` when
/// two salts were sent.
///
/// # Errors
/// [`Error::InvalidResponse`] for an output that is not a byte string, does not
/// decrypt, or is not 32 bytes per salt.
pub fn hmac_secret_output(
    shared: &SharedSecret,
    auth_data: &AuthenticatorData,
    two: bool,
) -> Result<Option<(Secret, Option<Secret>)>> {
    output(auth_data)
        .map(|value| decrypt_outputs(shared, value, two, NAME))
        .transpose()
}

/// The output of extension `name` in `auth_data`, if any.
fn named_output<'a>(auth_data: &'a AuthenticatorData, name: &str) -> Option<&'a Value> {
    match &auth_data.extensions {
        Some(Value::Map(entries)) => entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == name))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// An encrypted hmac-secret(-mc) output: decrypted, 32 bytes per salt sent, split.
fn decrypt_outputs(
    shared: &SharedSecret,
    value: &Value,
    two: bool,
    name: &str,
) -> Result<(Secret, Option<Secret>)> {
    let Value::Bytes(encrypted) = value else {
        return Err(Error::InvalidResponse(format!(
            "{name} output is not a byte string"
        )));
    };
    let plain = shared
        .decrypt(encrypted)
        .map_err(|e| Error::InvalidResponse(format!("{name} output does not decrypt: {e}")))?;
    let expected = if two { 2 * SALT_LEN } else { SALT_LEN };
    if plain.len() != expected {
        return Err(Error::InvalidResponse(format!(
            "{name} output of {} bytes for {} salt(s): expected {expected}",
            plain.len(),
            if two { 2 } else { 1 }
        )));
    }
    let (first, second) = plain.split_at(SALT_LEN);
    Ok((
        Secret::new(first.to_vec()),
        (!second.is_empty()).then(|| Secret::new(second.to_vec())),
    ))
}

/// get(): the key agreement made before the request, and the salts' origin.
pub(crate) struct Authentication {
    key_agreement: CoseKey,
    shared: SharedSecret,
    prf: Option<PrfInputs>,
    hmac: Option<HmacGetSecretInput>,
    /// Whether two salts were sent (the output must then be 64 bytes).
    sent: Option<bool>,
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authentication")
            .field("protocol", &self.shared.protocol())
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// get(): starts the extension (getKeyAgreement) when prf or hmacGetSecret is asked
/// for and the authenticator can do it.
///
/// # Errors
/// The errors of getKeyAgreement.
pub(crate) fn authentication<D: CtapDevice>(
    ctap: &mut Ctap2<D>,
    inputs: &ExtensionInputs,
    protocol: Option<PinProtocol>,
) -> Result<Option<Authentication>> {
    let asked = inputs
        .prf
        .as_ref()
        .is_some_and(|p| p.eval.is_some() || !p.eval_by_credential.is_empty())
        || inputs.hmac_get_secret.is_some();
    let Some(protocol) = protocol.filter(|_| asked && supported(ctap.info())) else {
        return Ok(None);
    };
    let (key_agreement, shared) = ClientPin::with_protocol(ctap, protocol).shared_secret()?;
    Ok(Some(Authentication {
        key_agreement,
        shared,
        prf: inputs.prf.clone(),
        hmac: inputs.hmac_get_secret.clone(),
        sent: None,
    }))
}

/// The salts for the credential `selected` (WebAuthn §10.1.4 authentication steps
/// 3-4: its evalByCredential entry, else eval).
fn salts(
    prf: Option<&PrfInputs>,
    hmac: Option<&HmacGetSecretInput>,
    selected: Option<&[u8]>,
) -> Option<Zeroizing<Vec<u8>>> {
    let mut salts = Zeroizing::new(Vec::with_capacity(2 * SALT_LEN));
    if let Some(prf) = prf {
        let by_credential: &BTreeMap<String, PrfValues> = &prf.eval_by_credential;
        let values = selected
            .and_then(|id| by_credential.get(&b64::encode(id)))
            .or(prf.eval.as_ref())?;
        salts.extend_from_slice(&prf_salt(&values.first));
        if let Some(second) = &values.second {
            salts.extend_from_slice(&prf_salt(second));
        }
    } else {
        let hmac = hmac?;
        salts.extend_from_slice(&hmac.salt1);
        if let Some(salt2) = &hmac.salt2 {
            salts.extend_from_slice(salt2);
        }
    }
    Some(salts)
}

impl Authentication {
    /// The authenticator input for the credential `selected` (CTAP 2.1 §12.5:
    /// keyAgreement 1, saltEnc 2, saltAuth 3, pinUvAuthProtocol 4).
    pub(crate) fn input(
        &mut self,
        selected: Option<&[u8]>,
        out: &mut Vec<(String, Value)>,
    ) -> Result<()> {
        let Some(salts) = salts(self.prf.as_ref(), self.hmac.as_ref(), selected) else {
            return Ok(());
        };
        let input = salt_input(&self.key_agreement, &self.shared, &salts, NAME)?;
        self.sent = Some(salts.len() == 2 * SALT_LEN);
        out.push((NAME.into(), input));
        Ok(())
    }

    /// The client output from one assertion's authenticator data.
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] for an output that is not a byte string, does not
    /// decrypt, or is not 32 bytes per salt sent.
    pub(crate) fn output(
        &self,
        auth_data: &AuthenticatorData,
        out: &mut ExtensionOutputs,
    ) -> Result<()> {
        let Some(two) = self.sent else {
            return Ok(());
        };
        let results = hmac_secret_output(&self.shared, auth_data, two)?;
        if self.prf.is_some() {
            out.prf = Some(PrfOutputs {
                enabled: None,
                results: results.map(|(first, second)| PrfResults { first, second }),
            });
        } else if let Some((output1, output2)) = results {
            out.hmac_get_secret = Some(HmacGetSecretOutput { output1, output2 });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn auth_data_with(output: Value) -> AuthenticatorData {
        AuthenticatorData {
            rp_id_hash: [0; 32],
            flags: ctap2_proto::Flags::UP,
            sign_count: 1,
            attested_credential: None,
            extensions: Some(Value::Map(vec![(Value::text(NAME), output)])),
        }
    }

    fn processor(protocol: PinProtocol, two: bool) -> Authentication {
        Authentication {
            key_agreement: CoseKey::EcdhEsHkdf256 {
                x: [1; 32],
                y: [2; 32],
            },
            shared: protocol.kdf(&[7; 32]),
            prf: None,
            hmac: Some(HmacGetSecretInput {
                salt1: vec![0; 32],
                salt2: two.then(|| vec![1; 32]),
            }),
            sent: Some(two),
        }
    }

    proptest! {
        // A hostile authenticator's hmac-secret output (CTAP 2.1 §12.5: the encrypted
        // output1 or output1 || output2): any bytes give an error or exactly 32 bytes
        // per salt sent, never a panic.
        #[test]
        fn any_output_is_checked(bytes in proptest::collection::vec(any::<u8>(), 0..200), two in any::<bool>(), one in any::<bool>()) {
            let protocol = if one { PinProtocol::One } else { PinProtocol::Two };
            let mut out = ExtensionOutputs::default();
            match processor(protocol, two).output(&auth_data_with(Value::Bytes(bytes.clone())), &mut out) {
                Ok(()) => {
                    let hmac = out.hmac_get_secret.unwrap();
                    prop_assert_eq!(hmac.output1.as_bytes().len(), 32);
                    prop_assert_eq!(hmac.output2.is_some(), two);
                }
                Err(error) => prop_assert!(matches!(error, Error::InvalidResponse(_))),
            }
        }
    }

    #[test]
    fn outputs_of_the_right_length_decrypt() {
        for protocol in [PinProtocol::One, PinProtocol::Two] {
            for two in [false, true] {
                let processor = processor(protocol, two);
                let plain = vec![9u8; if two { 64 } else { 32 }];
                let encrypted = processor
                    .shared
                    .encrypt(&plain, &mut Drawn::new(&mut SystemRandom, 16).unwrap())
                    .unwrap();
                let mut out = ExtensionOutputs::default();
                processor
                    .output(&auth_data_with(Value::Bytes(encrypted)), &mut out)
                    .unwrap();
                let hmac = out.hmac_get_secret.unwrap();
                assert_eq!(hmac.output1.as_bytes(), &[9; 32]);
                assert_eq!(
                    hmac.output2.map(|s| s.as_bytes().to_vec()),
                    two.then(|| vec![9; 32])
                );
                // The other count of salts: refused.
                let processor = Authentication {
                    sent: Some(!two),
                    ..processor
                };
                let encrypted = processor
                    .shared
                    .encrypt(&plain, &mut Drawn::new(&mut SystemRandom, 16).unwrap())
                    .unwrap();
                let mut out = ExtensionOutputs::default();
                assert!(
                    processor
                        .output(&auth_data_with(Value::Bytes(encrypted)), &mut out)
                        .is_err()
                );
            }
        }
    }

    #[test]
    fn prf_salt_is_webauthns() {
        // SHA-256("WebAuthn PRF" || 0x00 || "") computed independently (python:
        // hashlib.sha256(b"WebAuthn PRF\0").hexdigest()).
        assert_eq!(
            b64::encode(&prf_salt(b"")),
            b64::encode(&Sha256::digest(b"WebAuthn PRF\x00"))
        );
        assert_ne!(prf_salt(b"a"), prf_salt(b"b"));
    }

    #[test]
    fn salts_pick_the_selected_credentials_entry() {
        let prf = PrfInputs {
            eval: Some(PrfValues {
                first: b"any".to_vec(),
                second: None,
            }),
            eval_by_credential: [(
                b64::encode(b"id-1"),
                PrfValues {
                    first: b"one".to_vec(),
                    second: Some(b"two".to_vec()),
                },
            )]
            .into_iter()
            .collect(),
        };
        let for_one = salts(Some(&prf), None, Some(b"id-1")).unwrap();
        assert_eq!(
            for_one.as_slice(),
            [prf_salt(b"one"), prf_salt(b"two")].concat()
        );
        let other = salts(Some(&prf), None, Some(b"id-2")).unwrap();
        assert_eq!(other.as_slice(), prf_salt(b"any"));
    }
}
