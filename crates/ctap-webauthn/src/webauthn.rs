//! WebAuthn Level 3 types (python-fido2's `fido2.webauthn`): the options a relying
//! party sends ([`CreationOptions`], [`RequestOptions`]) read from their JSON forms
//! (`PublicKeyCredentialCreationOptionsJSON`, §5.1.3.1 / `...RequestOptionsJSON`,
//! base64url for every buffer), bare or wrapped in `{"publicKey": ...}`, and written
//! back as the same JSON; the responses a browser posts back
//! ([`RegistrationResponse`], [`AuthenticationResponse`]) as `toJSON()` gives them
//! (§5.1 `RegistrationResponseJSON` / `AuthenticationResponseJSON`).

use serde::Serialize;
use serde_json::Value;

use crate::b64;
use crate::error::{Error, Result};
use crate::extensions::{ExtensionInputs, ExtensionOutputs};
use crate::json::{self, Obj};

/// The most credentials an `allowCredentials` or `excludeCredentials` list may hold.
/// WebAuthn sets no limit; authenticators take 8 to 20 per request
/// (`maxCredentialCountInList`), so 256 costs at most a few dozen pre-flight requests
/// and bounds the work a hostile list can cause.
pub const MAX_CREDENTIALS: usize = 256;
/// The longest credential id (WebAuthn §4 "Credential ID": at most 1023 bytes).
pub const MAX_CREDENTIAL_ID: usize = 1023;
/// The longest user handle (WebAuthn §5.1.3 step 5: 1 to 64 bytes).
pub const MAX_USER_ID: usize = 64;
/// The longest name (rp.name, user.name, user.displayName) read. Authenticators keep
/// at least 64 bytes and may truncate (WebAuthn §6.4.1); longer than this is refused.
pub const MAX_NAME: usize = 1024;
/// The longest challenge read (WebAuthn asks for at least 16 bytes and sets no
/// maximum; it is echoed into clientDataJSON).
pub const MAX_CHALLENGE: usize = 4096;
/// The longest rpId (a DNS name: 253 characters).
pub const MAX_RP_ID: usize = 253;
/// How many `pubKeyCredParams` are read.
pub const MAX_CRED_PARAMS: usize = 64;
/// How many hints, transports or attestation formats are read.
pub const MAX_SHORT_LIST: usize = 16;
/// The longest enumeration string read (hints, transports, ...).
pub const MAX_TOKEN: usize = 64;

/// `PublicKeyCredentialRpEntity`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct RpEntity {
    /// The RP id; absent: the origin's effective domain (WebAuthn §5.1.3 step 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A human-palatable name.
    pub name: String,
}

/// `PublicKeyCredentialUserEntity`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntity {
    /// The user handle (1 to 64 bytes).
    #[serde(serialize_with = "b64::serialize")]
    pub id: Vec<u8>,
    /// The account name.
    pub name: String,
    /// The display name.
    pub display_name: String,
}

/// `PublicKeyCredentialParameters`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct CredentialParameters {
    /// "public-key".
    #[serde(rename = "type")]
    pub kind: String,
    /// The COSE algorithm identifier.
    pub alg: i32,
}

/// `PublicKeyCredentialDescriptor`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct CredentialDescriptor {
    /// "public-key".
    #[serde(rename = "type")]
    pub kind: String,
    /// The credential id.
    #[serde(serialize_with = "b64::serialize")]
    pub id: Vec<u8>,
    /// Transport hints (empty: none given).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transports: Vec<String>,
}

/// `UserVerificationRequirement` (§5.8.6).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserVerification {
    /// The operation fails without user verification.
    Required,
    /// User verification if the authenticator can do it (the default).
    #[default]
    Preferred,
    /// No user verification unless the authenticator insists.
    Discouraged,
}

/// `ResidentKeyRequirement` (§5.4.6).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResidentKey {
    /// A server-side credential is preferred.
    Discouraged,
    /// A discoverable credential if the authenticator can.
    Preferred,
    /// A discoverable credential or an error.
    Required,
}

/// `AttestationConveyancePreference` (§5.4.7).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttestationConveyance {
    /// No attestation (the default).
    #[default]
    None,
    /// Attestation, possibly anonymized.
    Indirect,
    /// The authenticator's attestation.
    Direct,
    /// Enterprise attestation.
    Enterprise,
}

/// `AuthenticatorSelectionCriteria` (§5.4.4).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorSelection {
    /// "platform" or "cross-platform".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<String>,
    /// The resident key requirement, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resident_key: Option<ResidentKey>,
    /// WebAuthn Level 1's flag, used when `residentKey` is absent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_resident_key: bool,
    /// The user verification requirement, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_verification: Option<UserVerification>,
}

impl AuthenticatorSelection {
    /// The effective resident key requirement (§5.4.4: `residentKey`, else
    /// `requireResidentKey` ? required : discouraged).
    #[must_use]
    pub fn effective_resident_key(&self) -> ResidentKey {
        self.resident_key.unwrap_or(if self.require_resident_key {
            ResidentKey::Required
        } else {
            ResidentKey::Discouraged
        })
    }
}

/// `PublicKeyCredentialCreationOptions` (§5.4).
#[derive(Clone, PartialEq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationOptions {
    /// The relying party.
    pub rp: RpEntity,
    /// The user.
    pub user: UserEntity,
    /// The challenge.
    #[serde(serialize_with = "b64::serialize")]
    pub challenge: Vec<u8>,
    /// The algorithms acceptable, most preferred first.
    pub pub_key_cred_params: Vec<CredentialParameters>,
    /// Milliseconds the caller is willing to wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Credentials that must not be registered again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_credentials: Vec<CredentialDescriptor>,
    /// Authenticator selection criteria.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticator_selection: Option<AuthenticatorSelection>,
    /// Hints ("security-key", "client-device", "hybrid").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// The attestation conveyance preference.
    pub attestation: AttestationConveyance,
    /// Attestation statement formats, most preferred first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attestation_formats: Vec<String>,
    /// Client extension inputs.
    #[serde(skip_serializing_if = "ExtensionInputs::is_empty")]
    pub extensions: ExtensionInputs,
}

/// `PublicKeyCredentialRequestOptions` (§5.5).
#[derive(Clone, PartialEq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptions {
    /// The challenge.
    #[serde(serialize_with = "b64::serialize")]
    pub challenge: Vec<u8>,
    /// Milliseconds the caller is willing to wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// The RP id; absent: the origin's effective domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rp_id: Option<String>,
    /// The credentials acceptable (empty: discoverable credentials).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_credentials: Vec<CredentialDescriptor>,
    /// The user verification requirement, if given (absent: preferred).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_verification: Option<UserVerification>,
    /// Hints.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// Client extension inputs.
    #[serde(skip_serializing_if = "ExtensionInputs::is_empty")]
    pub extensions: ExtensionInputs,
}

/// The options object inside a server's JSON: `{"publicKey": {...}}` or the bare
/// options.
fn unwrap_public_key(value: &Value) -> Result<Obj<'_>> {
    let outer = Obj::new(value, "options")?;
    match outer.get("publicKey") {
        Some(inner) => Obj::new(inner, "publicKey"),
        // Bare options: members are named from the top ("user.id").
        None => Obj::new(value, ""),
    }
}

fn user_verification(o: &Obj<'_>, key: &str) -> Result<Option<UserVerification>> {
    Ok(match o.string(key, MAX_TOKEN)? {
        Some("required") => Some(UserVerification::Required),
        Some("preferred") => Some(UserVerification::Preferred),
        Some("discouraged") => Some(UserVerification::Discouraged),
        // §2.1.1: unknown enumeration values are ignored.
        _ => None,
    })
}

pub(crate) fn descriptors(o: &Obj<'_>, key: &str) -> Result<Vec<CredentialDescriptor>> {
    let Some(items) = o.array(key, MAX_CREDENTIALS)? else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let d = Obj::new(item, format!("{}[{i}]", o.path(key)))?;
            Ok(CredentialDescriptor {
                kind: d.req_string("type", MAX_TOKEN)?.to_owned(),
                id: d.req_bytes("id", MAX_CREDENTIAL_ID)?,
                transports: d.strings("transports", MAX_SHORT_LIST, MAX_TOKEN)?,
            })
        })
        .collect()
}

impl CreationOptions {
    /// Reads `PublicKeyCredentialCreationOptionsJSON`, bare or as
    /// `{"publicKey": ...}`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first member that is wrong.
    pub fn from_json(text: &str) -> Result<Self> {
        Self::from_value(&json::parse(text, "options")?)
    }

    /// As [`from_json`](Self::from_json), from parsed JSON.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first member that is wrong.
    pub fn from_value(value: &Value) -> Result<Self> {
        let o = unwrap_public_key(value)?;
        let rp = o.req_obj("rp")?;
        let user = o.req_obj("user")?;
        let user_id = user.req_bytes("id", MAX_USER_ID)?;
        if user_id.is_empty() {
            return Err(Error::input(
                user.path("id"),
                "a user handle has 1 to 64 bytes",
            ));
        }
        let params = o
            .array("pubKeyCredParams", MAX_CRED_PARAMS)?
            .ok_or_else(|| Error::input(o.path("pubKeyCredParams"), "required member missing"))?;
        let pub_key_cred_params = params
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let p = Obj::new(item, format!("{}[{i}]", o.path("pubKeyCredParams")))?;
                Ok(CredentialParameters {
                    kind: p.req_string("type", MAX_TOKEN)?.to_owned(),
                    alg: p
                        .int("alg")?
                        .ok_or_else(|| Error::input(p.path("alg"), "required member missing"))?,
                })
            })
            .collect::<Result<_>>()?;
        let authenticator_selection = o
            .obj("authenticatorSelection")?
            .map(|s| {
                Ok::<_, Error>(AuthenticatorSelection {
                    authenticator_attachment: match s
                        .string("authenticatorAttachment", MAX_TOKEN)?
                    {
                        Some(a @ ("platform" | "cross-platform")) => Some(a.to_owned()),
                        _ => None,
                    },
                    resident_key: match s.string("residentKey", MAX_TOKEN)? {
                        Some("discouraged") => Some(ResidentKey::Discouraged),
                        Some("preferred") => Some(ResidentKey::Preferred),
                        Some("required") => Some(ResidentKey::Required),
                        _ => None,
                    },
                    require_resident_key: s.bool("requireResidentKey")?.unwrap_or(false),
                    user_verification: user_verification(&s, "userVerification")?,
                })
            })
            .transpose()?;
        let attestation = match o.string("attestation", MAX_TOKEN)? {
            Some("indirect") => AttestationConveyance::Indirect,
            Some("direct") => AttestationConveyance::Direct,
            Some("enterprise") => AttestationConveyance::Enterprise,
            _ => AttestationConveyance::None,
        };
        Ok(Self {
            rp: RpEntity {
                id: rp.string("id", MAX_RP_ID)?.map(str::to_owned),
                name: rp.req_string("name", MAX_NAME)?.to_owned(),
            },
            user: UserEntity {
                id: user_id,
                name: user.req_string("name", MAX_NAME)?.to_owned(),
                display_name: user.req_string("displayName", MAX_NAME)?.to_owned(),
            },
            challenge: o.req_bytes("challenge", MAX_CHALLENGE)?,
            pub_key_cred_params,
            timeout: o.int("timeout")?,
            exclude_credentials: descriptors(&o, "excludeCredentials")?,
            authenticator_selection,
            hints: o.strings("hints", MAX_SHORT_LIST, MAX_TOKEN)?,
            attestation,
            attestation_formats: o.strings("attestationFormats", MAX_SHORT_LIST, MAX_TOKEN)?,
            extensions: ExtensionInputs::from_obj(o.obj("extensions")?, None)?,
        })
    }

    /// The options as `PublicKeyCredentialCreationOptionsJSON`.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The effective user verification requirement.
    #[must_use]
    pub fn user_verification(&self) -> UserVerification {
        self.authenticator_selection
            .as_ref()
            .and_then(|s| s.user_verification)
            .unwrap_or_default()
    }
}

impl RequestOptions {
    /// Reads `PublicKeyCredentialRequestOptionsJSON`, bare or as
    /// `{"publicKey": ...}`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first member that is wrong.
    pub fn from_json(text: &str) -> Result<Self> {
        Self::from_value(&json::parse(text, "options")?)
    }

    /// As [`from_json`](Self::from_json), from parsed JSON.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first member that is wrong.
    pub fn from_value(value: &Value) -> Result<Self> {
        let o = unwrap_public_key(value)?;
        let allow_credentials = descriptors(&o, "allowCredentials")?;
        Ok(Self {
            challenge: o.req_bytes("challenge", MAX_CHALLENGE)?,
            timeout: o.int("timeout")?,
            rp_id: o.string("rpId", MAX_RP_ID)?.map(str::to_owned),
            user_verification: user_verification(&o, "userVerification")?,
            hints: o.strings("hints", MAX_SHORT_LIST, MAX_TOKEN)?,
            extensions: ExtensionInputs::from_obj(o.obj("extensions")?, Some(&allow_credentials))?,
            allow_credentials,
        })
    }

    /// The options as `PublicKeyCredentialRequestOptionsJSON`.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `AuthenticatorAttestationResponseJSON` (§5.2.1).
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponse {
    /// clientDataJSON, as hashed.
    #[serde(rename = "clientDataJSON", serialize_with = "b64::serialize")]
    pub client_data_json: Vec<u8>,
    /// The authenticator data.
    #[serde(serialize_with = "b64::serialize")]
    pub authenticator_data: Vec<u8>,
    /// The transports the authenticator was reached over.
    pub transports: Vec<String>,
    /// The credential public key as a DER SubjectPublicKeyInfo (ES256 and EdDSA
    /// keys; absent for others, as §5.2.1.1 allows).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "b64::serialize_opt"
    )]
    pub public_key: Option<Vec<u8>>,
    /// The credential's COSE algorithm.
    pub public_key_algorithm: i64,
    /// The attestation object (CBOR: fmt, attStmt, authData).
    #[serde(serialize_with = "b64::serialize")]
    pub attestation_object: Vec<u8>,
}

/// `RegistrationResponseJSON` (§5.1): what `PublicKeyCredential.toJSON()` gives after
/// `create()`.
#[derive(Clone, PartialEq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponse {
    /// The credential id, base64url.
    pub id: String,
    /// The credential id.
    #[serde(serialize_with = "b64::serialize")]
    pub raw_id: Vec<u8>,
    /// The authenticator's response.
    pub response: AttestationResponse,
    /// "cross-platform" (a roaming authenticator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<String>,
    /// Client extension outputs.
    pub client_extension_results: ExtensionOutputs,
    /// "public-key".
    #[serde(rename = "type")]
    pub kind: String,
}

/// `AuthenticatorAssertionResponseJSON` (§5.2.2).
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponse {
    /// clientDataJSON, as hashed.
    #[serde(rename = "clientDataJSON", serialize_with = "b64::serialize")]
    pub client_data_json: Vec<u8>,
    /// The authenticator data.
    #[serde(serialize_with = "b64::serialize")]
    pub authenticator_data: Vec<u8>,
    /// The signature over authenticatorData || SHA-256(clientDataJSON).
    #[serde(serialize_with = "b64::serialize")]
    pub signature: Vec<u8>,
    /// The user handle (discoverable credentials).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "b64::serialize_opt"
    )]
    pub user_handle: Option<Vec<u8>>,
}

/// `AuthenticationResponseJSON` (§5.1): what `PublicKeyCredential.toJSON()` gives after
/// `get()`.
#[derive(Clone, PartialEq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponse {
    /// The credential id, base64url.
    pub id: String,
    /// The credential id.
    #[serde(serialize_with = "b64::serialize")]
    pub raw_id: Vec<u8>,
    /// The authenticator's response.
    pub response: AssertionResponse,
    /// "cross-platform" (a roaming authenticator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<String>,
    /// Client extension outputs.
    pub client_extension_results: ExtensionOutputs,
    /// "public-key".
    #[serde(rename = "type")]
    pub kind: String,
}

impl RegistrationResponse {
    /// `toJSON()`.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl AuthenticationResponse {
    /// `toJSON()`.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
