//! Client extensions (WebAuthn §9, §10; CTAP 2.1 §12): their inputs as a relying party
//! sends them in `extensions` ([`ExtensionInputs`]), their outputs as
//! `clientExtensionResults` ([`ExtensionOutputs`]), and one module per extension that
//! turns inputs into authenticator extension inputs and authenticator outputs into
//! client outputs (python-fido2's `fido2.ctap2.extensions`).
//!
//! Extensions this client does not know are ignored, as WebAuthn §9 step "client
//! extension processing" says ("extensions the client does not support ... are
//! ignored"); their names are kept in [`ExtensionInputs::ignored`] and they give no
//! output. A known extension with a malformed input is an error naming the member.

pub(crate) mod cred_blob;
pub(crate) mod cred_props;
pub(crate) mod cred_protect;
pub(crate) mod hmac_secret;
pub(crate) mod large_blob;
pub(crate) mod min_pin_length;
pub(crate) mod payment;

pub use hmac_secret::{hmac_secret_input, hmac_secret_output, prf_salt};

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};
use zeroize::Zeroizing;

use crate::b64;
use crate::error::{Error, Result};
use crate::json::Obj;
use crate::webauthn::{CredentialDescriptor, MAX_CREDENTIALS};

/// The longest PRF or hmac-secret salt input read (PRF inputs are hashed, so any
/// length works; hmac-secret's are exactly 32).
pub const MAX_SALT: usize = 1024;
/// The longest credBlob or largeBlob write read (largeBlob arrays are at most a few KiB
/// on real keys; `maxSerializedLargeBlobArray` bounds what is written).
pub const MAX_BLOB: usize = 64 * 1024;
/// How many extension members are looked at (known ones are a dozen).
pub const MAX_EXTENSIONS: usize = 64;

/// Secret bytes (PRF and hmac-secret outputs, a large-blob read): zeroized on drop,
/// `Debug` prints only the length, serialized as base64url.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps `bytes`.
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&b64::encode(&self.0))
    }
}

/// `credentialProtectionPolicy` (CTAP 2.1 §12.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub enum CredProtectPolicy {
    /// Level 1: no protection.
    #[serde(rename = "userVerificationOptional")]
    Optional,
    /// Level 2: discoverable only with UV, usable without when its id is given.
    #[serde(rename = "userVerificationOptionalWithCredentialIDList")]
    OptionalWithCredentialIdList,
    /// Level 3: usable only with UV.
    #[serde(rename = "userVerificationRequired")]
    Required,
}

impl CredProtectPolicy {
    /// The authenticator's level (1, 2, 3).
    #[must_use]
    pub const fn level(self) -> u8 {
        match self {
            Self::Optional => 1,
            Self::OptionalWithCredentialIdList => 2,
            Self::Required => 3,
        }
    }
}

/// `AuthenticationExtensionsPRFValues`: one or two PRF inputs.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct PrfValues {
    /// The first input.
    #[serde(serialize_with = "b64::serialize")]
    pub first: Vec<u8>,
    /// The second input.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "b64::serialize_opt"
    )]
    pub second: Option<Vec<u8>>,
}

/// `AuthenticationExtensionsPRFInputs` (WebAuthn §10.1.4).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrfInputs {
    /// Inputs for any credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval: Option<PrfValues>,
    /// Inputs per credential id (base64url keys; get() only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub eval_by_credential: BTreeMap<String, PrfValues>,
}

/// hmac-secret's `hmacGetSecret` input (CTAP 2.1 §12.5): one or two 32-byte salts.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct HmacGetSecretInput {
    /// The first salt.
    #[serde(serialize_with = "b64::serialize")]
    pub salt1: Vec<u8>,
    /// The second salt.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "b64::serialize_opt"
    )]
    pub salt2: Option<Vec<u8>>,
}

/// `AuthenticationExtensionsLargeBlobInputs` (WebAuthn §10.1.5).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
pub struct LargeBlobInputs {
    /// "required" or "preferred" (create() only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support: Option<String>,
    /// Read the credential's blob (get() only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<bool>,
    /// Write this blob (get() only).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "b64::serialize_opt"
    )]
    pub write: Option<Vec<u8>>,
}

/// The `payment` input as far as the authenticator sees it (thirdPartyPayment, CTAP
/// 2.2 §12.9); the rest of Secure Payment Confirmation is the browser's.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInputs {
    /// Whether this is a payment credential / request.
    pub is_payment: bool,
}

/// `AuthenticationExtensionsClientInputs` as JSON (the extensions this client knows).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionInputs {
    /// appid (WebAuthn §10.1.1, get(): a U2F AppID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// credProps (WebAuthn §10.1.3, create()).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cred_props: Option<bool>,
    /// credProtect's policy (CTAP 2.1 §12.1, create()).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_protection_policy: Option<CredProtectPolicy>,
    /// Fail rather than create a less protected credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforce_credential_protection_policy: Option<bool>,
    /// credBlob to store (CTAP 2.1 §12.2, create()).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "b64::serialize_opt"
    )]
    pub cred_blob: Option<Vec<u8>>,
    /// Read the credBlob (get()).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub get_cred_blob: Option<bool>,
    /// largeBlob (WebAuthn §10.1.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub large_blob: Option<LargeBlobInputs>,
    /// minPinLength (CTAP 2.1 §12.4, create()).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_pin_length: Option<bool>,
    /// hmac-secret at create() (CTAP 2.1 §12.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hmac_create_secret: Option<bool>,
    /// hmac-secret at get().
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hmac_get_secret: Option<HmacGetSecretInput>,
    /// prf (WebAuthn §10.1.4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prf: Option<PrfInputs>,
    /// payment (thirdPartyPayment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentInputs>,
    /// The extensions given that this client does not know (ignored).
    #[serde(skip)]
    pub ignored: Vec<String>,
}

const KNOWN: [&str; 12] = [
    "appid",
    "credProps",
    "credentialProtectionPolicy",
    "enforceCredentialProtectionPolicy",
    "credBlob",
    "getCredBlob",
    "largeBlob",
    "minPinLength",
    "hmacCreateSecret",
    "hmacGetSecret",
    "prf",
    "payment",
];

fn prf_values(o: &Obj<'_>) -> Result<PrfValues> {
    Ok(PrfValues {
        first: o.req_bytes("first", MAX_SALT)?,
        second: o.bytes("second", MAX_SALT)?,
    })
}

impl ExtensionInputs {
    /// Whether no extension is asked for (unknown ones apart).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        Self {
            ignored: Vec::new(),
            ..self.clone()
        } == Self::default()
    }

    /// Reads `extensions`. `allow` is the request's allowCredentials (`None` for
    /// create()), against which prf's evalByCredential keys are checked (WebAuthn
    /// §10.1.4 client extension processing (authentication) steps 1-2).
    pub(crate) fn from_obj(
        o: Option<Obj<'_>>,
        allow: Option<&[CredentialDescriptor]>,
    ) -> Result<Self> {
        let Some(o) = o else {
            return Ok(Self::default());
        };
        let mut ignored = Vec::new();
        for key in o.keys() {
            if !KNOWN.contains(&key.as_str()) {
                if ignored.len() >= MAX_EXTENSIONS {
                    return Err(Error::input(
                        "extensions",
                        format!("more than {MAX_EXTENSIONS} unknown extensions"),
                    ));
                }
                ignored.push(key.chars().take(64).collect());
            }
        }
        let credential_protection_policy = match o.string("credentialProtectionPolicy", 64)? {
            None => None,
            Some("userVerificationOptional") => Some(CredProtectPolicy::Optional),
            Some("userVerificationOptionalWithCredentialIDList") => {
                Some(CredProtectPolicy::OptionalWithCredentialIdList)
            }
            Some("userVerificationRequired") => Some(CredProtectPolicy::Required),
            Some(other) => {
                return Err(Error::input(
                    o.path("credentialProtectionPolicy"),
                    format!("{other:?} is not a credential protection policy"),
                ));
            }
        };
        let large_blob = o
            .obj("largeBlob")?
            .map(|l| {
                Ok::<_, Error>(LargeBlobInputs {
                    support: l.string("support", 64)?.map(str::to_owned),
                    read: l.bool("read")?,
                    write: l.bytes("write", MAX_BLOB)?,
                })
            })
            .transpose()?;
        let hmac_get_secret = o
            .obj("hmacGetSecret")?
            .map(|h| {
                let input = HmacGetSecretInput {
                    salt1: h.req_bytes("salt1", MAX_SALT)?,
                    salt2: h.bytes("salt2", MAX_SALT)?,
                };
                for (name, salt) in [
                    ("salt1", Some(&input.salt1)),
                    ("salt2", input.salt2.as_ref()),
                ] {
                    if salt.is_some_and(|s| s.len() != 32) {
                        return Err(Error::input(
                            h.path(name),
                            "an hmac-secret salt has 32 bytes",
                        ));
                    }
                }
                Ok(input)
            })
            .transpose()?;
        let prf = o
            .obj("prf")?
            .map(|p| {
                let eval = p.obj("eval")?.map(|e| prf_values(&e)).transpose()?;
                let mut eval_by_credential = BTreeMap::new();
                if let Some(by) = p.obj("evalByCredential")? {
                    let path = p.path("evalByCredential");
                    let keys: Vec<&String> = by.keys().collect();
                    if keys.len() > MAX_CREDENTIALS {
                        return Err(Error::input(
                            path,
                            format!("more than {MAX_CREDENTIALS} entries"),
                        ));
                    }
                    if !keys.is_empty() {
                        // §10.1.4 (registration) step 1: evalByCredential in create()
                        // is NotSupportedError; (authentication) step 1: it needs
                        // allowCredentials.
                        let Some(allow) = allow.filter(|a| !a.is_empty()) else {
                            return Err(Error::input(
                                path,
                                "evalByCredential needs allowCredentials (and is not for create())",
                            ));
                        };
                        for key in keys {
                            // Step 2: every key is the base64url id of an allowed credential.
                            let id = b64::decode(key)
                                .map_err(|e| Error::input(format!("{path}[{key:?}]"), e))?;
                            if key.is_empty() || !allow.iter().any(|c| c.id == id) {
                                return Err(Error::input(
                                    format!("{path}[{key:?}]"),
                                    "not the id of a credential in allowCredentials",
                                ));
                            }
                            let values = Obj::new(
                                by.get(key).unwrap_or(&serde_json::Value::Null),
                                format!("{path}[{key:?}]"),
                            )?;
                            eval_by_credential.insert(key.clone(), prf_values(&values)?);
                        }
                    }
                }
                Ok(PrfInputs {
                    eval,
                    eval_by_credential,
                })
            })
            .transpose()?;
        let payment = o
            .obj("payment")?
            .map(|p| {
                Ok::<_, Error>(PaymentInputs {
                    is_payment: p.bool("isPayment")?.unwrap_or(false),
                })
            })
            .transpose()?;
        Ok(Self {
            appid: o.string("appid", 2048)?.map(str::to_owned),
            cred_props: o.bool("credProps")?,
            credential_protection_policy,
            enforce_credential_protection_policy: o.bool("enforceCredentialProtectionPolicy")?,
            cred_blob: o.bytes("credBlob", MAX_BLOB)?,
            get_cred_blob: o.bool("getCredBlob")?,
            large_blob,
            min_pin_length: o.bool("minPinLength")?,
            hmac_create_secret: o.bool("hmacCreateSecret")?,
            hmac_get_secret,
            prf,
            payment,
            ignored,
        })
    }
}

/// `credProps` output.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct CredProps {
    /// Whether the credential is discoverable.
    pub rk: bool,
}

/// PRF results: one or two 32-byte secrets.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct PrfResults {
    /// The output for `first`.
    pub first: Secret,
    /// The output for `second`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second: Option<Secret>,
}

/// `AuthenticationExtensionsPRFOutputs`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
pub struct PrfOutputs {
    /// Whether the credential can do PRF (create() only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The PRF outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<PrfResults>,
}

/// hmac-secret's `hmacGetSecret` output.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct HmacGetSecretOutput {
    /// HMAC-SHA-256(CredRandom, salt1).
    pub output1: Secret,
    /// HMAC-SHA-256(CredRandom, salt2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output2: Option<Secret>,
}

/// `AuthenticationExtensionsLargeBlobOutputs`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
pub struct LargeBlobOutputs {
    /// Whether the credential has large-blob storage (create()).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported: Option<bool>,
    /// The blob read (get() with read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<Secret>,
    /// Whether the write succeeded (get() with write).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<bool>,
}

/// `AuthenticationExtensionsClientOutputs` (`clientExtensionResults`).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionOutputs {
    /// Whether the appid was used instead of the rpId.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appid: Option<bool>,
    /// credProps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cred_props: Option<CredProps>,
    /// Whether the credBlob was stored (create()).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cred_blob: Option<bool>,
    /// The credBlob read (get()).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub get_cred_blob: Option<Secret>,
    /// hmac-secret at create().
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hmac_create_secret: Option<bool>,
    /// hmac-secret at get().
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hmac_get_secret: Option<HmacGetSecretOutput>,
    /// prf.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prf: Option<PrfOutputs>,
    /// largeBlob.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub large_blob: Option<LargeBlobOutputs>,
}
