//! authenticatorMakeCredential (§6.1), authenticatorGetAssertion (§6.2) and
//! authenticatorGetNextAssertion (§6.3), with the credProtect (§12.1) and hmac-secret
//! (§12.5) extensions.

use std::time::Instant;

use ctap_types::{ChannelId, StatusCode};
use ctap2_proto::authdata::{AttestedCredentialData, AuthenticatorData, Flags};
use ctap2_proto::cbor::{IntMap, Value};
use ctap2_proto::cose::CoseKey;
use ctap2_proto::entities::{PUBLIC_KEY, extension};
use ctap2_proto::pin::{Permissions, PinProtocol};
use ctap2_proto::{
    Algorithm, CredentialDescriptor, GetAssertionRequest, GetAssertionResponse,
    MakeCredentialRequest, MakeCredentialResponse, RpEntity, UserEntity,
};

use super::keys::{CredentialId, KIND_DISCOVERABLE, KIND_SERVER_SIDE, sha256};
use super::state::Resident;
use super::token::RpScope;
use super::{CONTINUATION_TIMEOUT, Ctap2, MAX_CREDENTIALS_IN_LIST, Pending, Result, answer};
use crate::{Attestation, Config};

/// credProtect levels (§12.1).
const CRED_PROTECT_UV_OPTIONAL: u8 = 1;
const CRED_PROTECT_UV_OPTIONAL_WITH_LIST: u8 = 2;
const CRED_PROTECT_UV_REQUIRED: u8 = 3;

/// The longest user handle accepted (WebAuthn §5.4.3: user.id "maximum size of 64
/// bytes"; CTAP 2.1 §6.1 takes the entity from WebAuthn).
pub(crate) const MAX_USER_ID_BYTES: usize = 64;
/// The longest RP ID accepted (a DNS name has at most 253 bytes).
pub(crate) const MAX_RP_ID_BYTES: usize = 253;
/// rp.name, user.name and user.displayName are stored truncated to 64 bytes, on a
/// UTF-8 code point boundary (CTAP 2.1 §6.1.2 lets an authenticator truncate them to
/// 64 bytes; WebAuthn §6.4.1 "String Truncation").
pub(crate) const MAX_NAME_BYTES: usize = 64;
/// The longest rp.icon / user.icon stored (CTAP 2.0 entities; a URL). A longer one
/// (a large `data:` URL, say) is not stored: the credential is made without it, since
/// cutting a URL would not give the icon back as given.
pub(crate) const MAX_ICON_BYTES: usize = 256;

/// The entity fields a makeCredential (or updateUserInformation) may store, within
/// the limits above: `INVALID_LENGTH` for a user.id over 64 bytes or an RP ID over
/// 253 (the spec names no status; an over-long item is what INVALID_LENGTH means),
/// names truncated, icons over 256 bytes left out (icons of the right type are
/// stored and returned as given; the wrong type was CBOR_UNEXPECTED_TYPE when the
/// request was decoded). So one registration cannot make the answers that carry the
/// entity (getAssertion, the enumerations) too long for everyone.
pub(crate) fn limit_entities(rp: Option<&mut RpEntity>, user: &mut UserEntity) -> Result<()> {
    if user.id.len() > MAX_USER_ID_BYTES {
        return Err(StatusCode::INVALID_LENGTH);
    }
    if let Some(rp) = rp {
        if rp.id.len() > MAX_RP_ID_BYTES {
            return Err(StatusCode::INVALID_LENGTH);
        }
        truncate_name(rp.name.as_mut());
        drop_long_icon(&mut rp.icon);
    }
    truncate_name(user.name.as_mut());
    truncate_name(user.display_name.as_mut());
    drop_long_icon(&mut user.icon);
    Ok(())
}

/// Forgets an icon over [`MAX_ICON_BYTES`].
fn drop_long_icon(icon: &mut Option<String>) {
    if icon
        .as_ref()
        .is_some_and(|icon| icon.len() > MAX_ICON_BYTES)
    {
        *icon = None;
    }
}

/// Truncates `name` to [`MAX_NAME_BYTES`] on a code point boundary.
fn truncate_name(name: Option<&mut String>) {
    if let Some(name) = name {
        if name.len() > MAX_NAME_BYTES {
            let end = (0..=MAX_NAME_BYTES)
                .rev()
                .find(|&i| name.is_char_boundary(i))
                .unwrap_or(0);
            name.truncate(end);
        }
    }
}

/// A makeCredential that passed its checks and waits for the touch.
pub(crate) struct MakeCredentialPlan {
    client_data_hash: Vec<u8>,
    rp: RpEntity,
    user: UserEntity,
    alg: Algorithm,
    discoverable: bool,
    uv: bool,
    cred_protect: Option<u8>,
    hmac_secret: bool,
    attestation: Attestation,
    /// UV by the built-in sensor at the touch (the uv option, `uv.rs`).
    builtin_uv: bool,
    /// Enterprise attestation (`enterprise.rs`, §6.1.2 step 9).
    enterprise: bool,
    /// credBlob, largeBlobKey, minPinLength, thirdPartyPayment (`features.rs`).
    extensions: super::features::MakeCredentialExtensions,
}

impl MakeCredentialPlan {
    /// Whether the touch is built-in UV (the uv option).
    pub(super) const fn builtin_uv(&self) -> bool {
        self.builtin_uv
    }
}

impl AssertionPlan {
    /// Whether the touch is built-in UV (the uv option).
    pub(super) const fn builtin_uv(&self) -> bool {
        self.builtin_uv
    }
}

/// One credential found for an assertion.
#[derive(Clone, Debug)]
struct Found {
    id: Vec<u8>,
    header: CredentialId,
    /// The user, for discoverable credentials.
    user: Option<UserEntity>,
}

/// A getAssertion that passed its checks and waits for the touch (or not, with up=false).
pub(crate) struct AssertionPlan {
    rp_id_hash: [u8; 32],
    client_data_hash: Vec<u8>,
    credentials: Vec<Found>,
    up: bool,
    uv: bool,
    /// Whether the credentials came from a discoverable search (no allowList).
    discovered: bool,
    hmac_secret: Option<HmacSecretInput>,
    /// UV by the built-in sensor at the touch (the uv option, `uv.rs`).
    builtin_uv: bool,
    /// credBlob, largeBlobKey, thirdPartyPayment (`features.rs`).
    extensions: super::features::AssertionExtensions,
}

/// The decrypted hmac-secret input of a getAssertion (or of makeCredential's
/// hmac-secret-mc, `features.rs`).
#[derive(Clone)]
pub(super) struct HmacSecretInput {
    pub(super) shared: ctap2_proto::SharedSecret,
    pub(super) salts: Vec<u8>,
}

/// The credentials left for getNextAssertion.
pub(crate) struct NextAssertions {
    plan: AssertionPlan,
    next: usize,
    expires: Instant,
}

fn option_or(value: Option<bool>, default: bool) -> bool {
    value.unwrap_or(default)
}

impl Ctap2 {
    /// The first two steps of makeCredential and getAssertion (§6.1.2, §6.2.2), the
    /// same for both: a zero-length pinUvAuthParam asks for a touch only (`true`: that
    /// probe is now pending and the command answers once it is decided); a
    /// pinUvAuthParam must come with a protocol this authenticator supports.
    fn pin_probe_or_protocol(
        &mut self,
        param: Option<&[u8]>,
        protocol: Option<u64>,
    ) -> Result<bool> {
        match param {
            Some([]) => {
                self.pending = Some(Pending::PinProbe);
                Ok(true)
            }
            Some(_) => super::protocol(protocol).map(|_| false),
            None => Ok(false),
        }
    }

    pub(super) fn make_credential(
        &mut self,
        now: Instant,
        config: &Config,
        mut request: MakeCredentialRequest,
    ) -> Result<Option<Vec<u8>>> {
        // §6.1.2 steps 1 and 2.
        if self.pin_probe_or_protocol(
            request.pin_uv_auth_param.as_deref(),
            request.pin_uv_auth_protocol,
        )? {
            return Ok(None);
        }
        // The stored entity fields within their limits (see `limit_entities`).
        limit_entities(Some(&mut request.rp), &mut request.user)?;
        // Step 3: the first algorithm of the RP's list that this authenticator offers
        // (`Config::algorithms`).
        let alg = request
            .pub_key_cred_params
            .iter()
            .filter(|p| p.kind == PUBLIC_KEY)
            .map(|p| p.alg)
            .find(|alg| config.algorithms.contains(*alg))
            .ok_or(StatusCode::UNSUPPORTED_ALGORITHM)?;
        // Step 5: options. With a pinUvAuthParam "uv" is treated as false (step 5's
        // first rule: CTAP 2.0 platforms send both); otherwise uv needs a built-in
        // method this authenticator does not have. up=false makes no sense for a new
        // credential.
        let mut options = request.options.unwrap_or_default();
        if request.pin_uv_auth_param.is_some() {
            options.uv = Some(false);
        }
        if options.up == Some(false) {
            return Err(StatusCode::INVALID_OPTION);
        }
        // The uv option: built-in UV at the touch (`uv.rs`), or INVALID_OPTION.
        let mut builtin_uv =
            self.builtin_uv_requested(options.uv, request.pin_uv_auth_param.is_some())?;
        // Step 6.3: with alwaysUv, no pinUvAuthParam and the getInfo uv option ID true
        // (a finger enrolled), "let the uv option be treated as being present with the
        // value true": built-in UV rather than PUAT_REQUIRED.
        if self.state.always_uv && request.pin_uv_auth_param.is_none() && self.uv_enrolled() {
            builtin_uv = self.builtin_uv_requested(Some(true), false)?;
        }
        let discoverable = option_or(options.rk, false);
        // §6.1.2 step 9: enterpriseAttestation (`enterprise.rs`).
        let enterprise =
            self.enterprise_attestation_for(&request.rp.id, request.enterprise_attestation)?;
        // Step 6: alwaysUv. The clientPin option ID is always present here (clientPin
        // is supported), so an authenticator without a PIN or built-in UV (6.2.1) and
        // a request without a pinUvAuthParam or the uv option (6.4.1) both get
        // PUAT_REQUIRED: the platform is to set a PIN, or ask for one.
        if self.state.always_uv
            && !builtin_uv
            && (request.pin_uv_auth_param.is_none()
                || (self.state.pin.is_none() && !self.uv_enrolled()))
        {
            return Err(StatusCode::PUAT_REQUIRED);
        }
        // Step 14.1.1's getUserPresentFlagValue(), read once the token verified: a
        // token that began with userIsPresent true (built-in UV, §6.5.5.7.3) stands for
        // the touch of this one operation.
        let mut presence_cached = false;
        // Steps 7-11: user verification through a pinUvAuthToken.
        let uv = match &request.pin_uv_auth_param {
            Some(param) => {
                // Step 11.1: verify, mc permission, permissions RP ID, userVerified;
                // an unbound token is bound to rp.id.
                self.check_token(
                    now,
                    request.pin_uv_auth_protocol,
                    param,
                    &request.client_data_hash,
                    Permissions::MAKE_CREDENTIAL,
                    RpScope::Bind(&request.rp.id),
                )?;
                presence_cached = self.token_user_present(now);
                true
            }
            None if builtin_uv => true,
            None => {
                // Step 7 (makeCredUvNotRqd is true unless alwaysUv): with a PIN set a
                // discoverable credential needs it.
                if self.state.pin.is_some() && discoverable {
                    return Err(StatusCode::PUAT_REQUIRED);
                }
                false
            }
        };
        // Step 12: excludeList. A match asks for a touch (so a page cannot probe
        // silently), then says CREDENTIAL_EXCLUDED; when the token's userPresent flag
        // is true ("let userPresentFlagValue be the result of calling
        // getUserPresentFlagValue()") the answer comes at once.
        let rp_id_hash = sha256(request.rp.id.as_bytes());
        if let Some(list) = &request.exclude_list {
            for descriptor in list.iter().filter(|d| d.kind == PUBLIC_KEY) {
                if let Some(found) = self.locate(&rp_id_hash, &descriptor.id) {
                    // credProtect 3 credentials are invisible without UV.
                    if found.header.cred_protect != CRED_PROTECT_UV_REQUIRED || uv {
                        if presence_cached {
                            return Err(StatusCode::CREDENTIAL_EXCLUDED);
                        }
                        self.pending = Some(Pending::Excluded);
                        return Ok(None);
                    }
                }
            }
        }
        let extensions = request.extensions.unwrap_or_default();
        let cred_protect = match extension(&extensions, "credProtect") {
            Some(Value::Int(level @ 1..=3)) => Some(u8::try_from(*level).unwrap_or(1)),
            Some(Value::Int(_)) | None => None,
            Some(_) => return Err(StatusCode::CBOR_UNEXPECTED_TYPE),
        };
        let hmac_secret = match extension(&extensions, "hmac-secret") {
            Some(Value::Bool(value)) => *value,
            None => false,
            Some(_) => return Err(StatusCode::CBOR_UNEXPECTED_TYPE),
        };
        let feature_extensions = self.make_credential_extensions(
            &request.rp.id,
            &extensions,
            discoverable,
            hmac_secret,
        )?;
        if discoverable {
            let replaces = self
                .state
                .credentials
                .iter()
                .any(|c| c.rp.id == request.rp.id && c.user.id == request.user.id);
            if !replaces && self.state.credentials.len() >= config.max_discoverable_credentials {
                return Err(StatusCode::KEY_STORE_FULL);
            }
        }
        // CTAP 2.2 attestationFormatsPreference: "none" first means no attestation.
        let attestation = match request.attestation_formats_preference.as_deref() {
            Some([first, ..]) if first == "none" => Attestation::None,
            _ => config.attestation,
        };
        let plan = MakeCredentialPlan {
            client_data_hash: request.client_data_hash,
            rp: request.rp,
            user: request.user,
            alg,
            discoverable,
            uv,
            cred_protect,
            hmac_secret,
            attestation,
            builtin_uv,
            enterprise,
            extensions: feature_extensions,
        };
        // Step 14 ("up" is always true here, step 5): with a pinUvAuthParam whose
        // token's userPresent flag is true, no evidence of user interaction is asked
        // for (14.1.2 is skipped); the flags and permissions are cleared all the same
        // (14.4). Otherwise the touch (14.1.2.1, 14.2.1.1), then 14.4 in `touched`.
        if presence_cached {
            self.consume_token_after_presence(now);
            return self.finish_make_credential(config, plan).map(Some);
        }
        self.pending = Some(Pending::MakeCredential(Box::new(plan)));
        Ok(None)
    }

    pub(super) fn finish_make_credential(
        &mut self,
        config: &Config,
        plan: MakeCredentialPlan,
    ) -> Result<Vec<u8>> {
        if plan.builtin_uv {
            self.builtin_uv_touch()?;
        }
        let rp_id_hash = sha256(plan.rp.id.as_bytes());
        let header = CredentialId {
            kind: if plan.discoverable {
                KIND_DISCOVERABLE
            } else {
                KIND_SERVER_SIDE
            },
            alg: plan.alg,
            cred_protect: plan.cred_protect.unwrap_or(CRED_PROTECT_UV_OPTIONAL),
            hmac_secret: plan.hmac_secret,
            nonce: self.rng.array(),
        };
        let id = header.encode(self.state.master.as_slice(), &rp_id_hash);
        let key = header
            .signing_key(self.state.master.as_slice(), &rp_id_hash)
            .ok_or(StatusCode::OTHER)?;
        let mut outputs = Vec::new();
        let made = self.finish_make_credential_extensions(
            &plan.extensions,
            (&id, &header),
            plan.discoverable,
            plan.uv,
            &mut outputs,
        )?;
        if plan.discoverable {
            self.state
                .credentials
                .retain(|c| !(c.rp.id == plan.rp.id && c.user.id == plan.user.id));
            let created = self.state.next_created;
            self.state.next_created = self.state.next_created.wrapping_add(1);
            self.state.credentials.push(Resident {
                id: id.clone(),
                rp: plan.rp,
                user: plan.user,
                created,
                extras: made.extras,
            });
        }
        self.state.sign_count = self.state.sign_count.wrapping_add(1);
        self.dirty = true;
        if let Some(level) = plan.cred_protect {
            outputs.push((Value::text("credProtect"), Value::int(level)));
        }
        if plan.hmac_secret {
            outputs.push((Value::text("hmac-secret"), Value::Bool(true)));
        }
        let mut flags = Flags::UP;
        if plan.uv {
            flags = flags.with(Flags::UV);
        }
        let auth_data = AuthenticatorData {
            rp_id_hash,
            flags,
            sign_count: self.state.sign_count,
            attested_credential: Some(AttestedCredentialData {
                aaguid: config.aaguid,
                credential_id: id,
                public_key: key.public_key(),
            }),
            extensions: (!outputs.is_empty()).then_some(Value::Map(outputs)),
        }
        .to_bytes();
        let (fmt, att_stmt) = match plan.attestation {
            _ if plan.enterprise => {
                let signed = [auth_data.as_slice(), &plan.client_data_hash].concat();
                self.enterprise_statement(&config.aaguid, &signed)?
            }
            Attestation::None => ("none", Value::Map(Vec::new())),
            Attestation::Batch => {
                let batch = super::attestation::BatchAttestation::cached(&config.aaguid)
                    .ok_or(StatusCode::OTHER)?;
                let signed = [auth_data.as_slice(), &plan.client_data_hash].concat();
                (
                    "packed",
                    Value::Map(vec![
                        (Value::text("alg"), Value::int(batch.key.algorithm().0)),
                        (Value::text("sig"), Value::Bytes(batch.key.sign(&signed))),
                        (
                            Value::text("x5c"),
                            Value::Array(vec![Value::Bytes(batch.certificate.clone())]),
                        ),
                    ]),
                )
            }
            Attestation::SelfAttestation => {
                let signed = [auth_data.as_slice(), &plan.client_data_hash].concat();
                let signature = key.sign(&signed);
                (
                    "packed",
                    Value::Map(vec![
                        (Value::text("alg"), Value::int(key.algorithm().0)),
                        (Value::text("sig"), Value::Bytes(signature)),
                    ]),
                )
            }
        };
        Ok(answer(&MakeCredentialResponse {
            fmt: fmt.into(),
            auth_data,
            att_stmt,
            ep_att: plan.enterprise.then_some(true),
            large_blob_key: made.large_blob_key,
            unsigned_extension_outputs: None,
        }))
    }

    /// One of our credentials for this RP with this id, if it exists (a discoverable
    /// one only while it is stored).
    fn locate(&self, rp_id_hash: &[u8; 32], id: &[u8]) -> Option<Found> {
        let header = CredentialId::decode(self.state.master.as_slice(), rp_id_hash, id)?;
        match header.kind {
            KIND_SERVER_SIDE => Some(Found {
                id: id.to_vec(),
                header,
                user: None,
            }),
            KIND_DISCOVERABLE => {
                let stored = self.state.credentials.iter().find(|c| c.id == id)?;
                Some(Found {
                    id: id.to_vec(),
                    header,
                    user: Some(stored.user.clone()),
                })
            }
            _ => None,
        }
    }

    pub(super) fn get_assertion(
        &mut self,
        now: Instant,
        config: &Config,
        caller: ChannelId,
        request: GetAssertionRequest,
    ) -> Result<Option<Vec<u8>>> {
        // §6.2.2 steps 1 and 2.
        if self.pin_probe_or_protocol(
            request.pin_uv_auth_param.as_deref(),
            request.pin_uv_auth_protocol,
        )? {
            return Ok(None);
        }
        // §6.2.2 step 4: options. With a pinUvAuthParam "uv" is treated as false
        // (CTAP 2.0 platforms send both); "rk" is not an option of getAssertion; uv
        // needs a built-in method this authenticator does not have; up defaults to
        // true.
        let mut options = request.options.unwrap_or_default();
        if request.pin_uv_auth_param.is_some() {
            options.uv = Some(false);
        }
        if options.rk.is_some() {
            return Err(StatusCode::UNSUPPORTED_OPTION);
        }
        // The uv option: built-in UV at the touch (`uv.rs`), or INVALID_OPTION.
        let mut builtin_uv =
            self.builtin_uv_requested(options.uv, request.pin_uv_auth_param.is_some())?;
        let up = option_or(options.up, true);
        // Step 5.4: with alwaysUv and up, no pinUvAuthParam, uv false and built-in UV
        // enabled (a finger enrolled): "Let the uv option be treated as being present
        // with the value true" rather than PUAT_REQUIRED (step 5.5).
        if self.state.always_uv && up && request.pin_uv_auth_param.is_none() && self.uv_enrolled() {
            builtin_uv = self.builtin_uv_requested(Some(true), false)?;
        }
        // Step 5: alwaysUv applies when "up" is true; a silent assertion (up=false)
        // goes on without a token. clientPin is supported, so PUAT_REQUIRED both
        // without a PIN and without a pinUvAuthParam.
        if self.state.always_uv
            && up
            && !builtin_uv
            && (request.pin_uv_auth_param.is_none()
                || (self.state.pin.is_none() && !self.uv_enrolled()))
        {
            return Err(StatusCode::PUAT_REQUIRED);
        }
        // Step 9.1.1's getUserPresentFlagValue(), read once the token verified.
        let mut presence_cached = false;
        let uv = match &request.pin_uv_auth_param {
            Some(param) => {
                // Step 6.1: verify, ga permission, permissions RP ID, userVerified; an
                // unbound token is bound to rpId.
                self.check_token(
                    now,
                    request.pin_uv_auth_protocol,
                    param,
                    &request.client_data_hash,
                    Permissions::GET_ASSERTION,
                    RpScope::Bind(&request.rp_id),
                )?;
                presence_cached = self.token_user_present(now);
                true
            }
            None if builtin_uv => true,
            None => false,
        };
        let rp_id_hash = sha256(request.rp_id.as_bytes());
        let discovered = request.allow_list.as_ref().is_none_or(Vec::is_empty);
        let mut credentials: Vec<Found> = if discovered {
            let mut stored: Vec<&Resident> = self
                .state
                .credentials
                .iter()
                .filter(|c| c.rp.id == request.rp_id)
                .collect();
            // Most recently created first (§6.2.2 step 7: "in order of creation, newest
            // first" is what platforms expect).
            stored.sort_by_key(|c| std::cmp::Reverse(c.created));
            stored
                .into_iter()
                .filter_map(|c| self.locate(&rp_id_hash, &c.id))
                .collect()
        } else {
            let list = request.allow_list.as_deref().unwrap_or_default();
            if list.len() > MAX_CREDENTIALS_IN_LIST {
                return Err(StatusCode::LIMIT_EXCEEDED);
            }
            list.iter()
                .filter(|d| d.kind == PUBLIC_KEY)
                .filter_map(|d| self.locate(&rp_id_hash, &d.id))
                .collect()
        };
        // credProtect (§12.1): level 3 needs UV; level 2 needs UV unless named in an
        // allowList.
        credentials.retain(|c| match c.header.cred_protect {
            CRED_PROTECT_UV_REQUIRED => uv,
            CRED_PROTECT_UV_OPTIONAL_WITH_LIST => uv || !discovered,
            _ => true,
        });
        if !discovered {
            credentials.truncate(1);
        }
        if credentials.is_empty() {
            return Err(StatusCode::NO_CREDENTIALS);
        }
        let hmac_secret = match request
            .extensions
            .as_ref()
            .and_then(|e| extension(e, "hmac-secret"))
        {
            Some(input) => Some(self.hmac_secret_input(input.clone())?),
            None => None,
        };
        let feature_extensions = self.assertion_extensions(request.extensions.as_ref())?;
        let plan = AssertionPlan {
            rp_id_hash,
            client_data_hash: request.client_data_hash,
            credentials,
            up,
            uv,
            discovered,
            hmac_secret,
            builtin_uv,
            extensions: feature_extensions,
        };
        // Step 9 with up: a pinUvAuthParam whose token's userPresent flag is true
        // needs no evidence of user interaction (9.1.2 is skipped); the flags and
        // permissions are cleared all the same (9.4). (builtin_uv is false with a
        // pinUvAuthParam.)
        if up && presence_cached {
            self.consume_token_after_presence(now);
            return self
                .finish_get_assertion(now, config, caller, plan)
                .map(Some);
        }
        // A finger on the sensor is a touch even with up=false.
        if up || builtin_uv {
            self.pending = Some(Pending::GetAssertion(Box::new(plan)));
            Ok(None)
        } else {
            self.finish_get_assertion(now, config, caller, plan)
                .map(Some)
        }
    }

    /// Decrypts and checks the hmac-secret input (§12.5): keyAgreement (1), saltEnc (2),
    /// saltAuth (3), pinUvAuthProtocol (4, default 1).
    pub(super) fn hmac_secret_input(&mut self, input: Value) -> Result<HmacSecretInput> {
        let mut map = IntMap::new(input, "hmac-secret").map_err(|e| e.status())?;
        let status = |e: ctap2_proto::Error| e.status();
        let key = map.require(1, "keyAgreement").map_err(status)?;
        let key = <CoseKey as ctap2_proto::CborMessage>::from_value(key).map_err(status)?;
        let salt_enc = map
            .require(2, "saltEnc")
            .and_then(|v| v.into_bytes("saltEnc"))
            .map_err(status)?;
        let salt_auth = map
            .require(3, "saltAuth")
            .and_then(|v| v.into_bytes("saltAuth"))
            .map_err(status)?;
        let protocol = match map.take(4) {
            Some(v) => PinProtocol::from_number(v.to_num("pinUvAuthProtocol").map_err(status)?)
                .ok_or(StatusCode::INVALID_PARAMETER)?,
            None => PinProtocol::One,
        };
        let shared = self
            .key_agreement
            .decapsulate(protocol, &key)
            .map_err(status)?;
        if !shared.verify(&salt_enc, &salt_auth) {
            return Err(StatusCode::PIN_AUTH_INVALID);
        }
        let salts = shared.decrypt(&salt_enc).map_err(status)?;
        if salts.len() != 32 && salts.len() != 64 {
            return Err(StatusCode::INVALID_LENGTH);
        }
        Ok(HmacSecretInput {
            shared,
            salts: salts.to_vec(),
        })
    }

    /// The first assertion of `plan`; the rest wait for getNextAssertion on `caller`'s
    /// channel.
    pub(super) fn finish_get_assertion(
        &mut self,
        now: Instant,
        config: &Config,
        caller: ChannelId,
        plan: AssertionPlan,
    ) -> Result<Vec<u8>> {
        if plan.builtin_uv {
            self.builtin_uv_touch()?;
        }
        let count = plan.credentials.len();
        let first = self.assertion(&plan, 0, true)?;
        if plan.discovered && count > 1 {
            let next = NextAssertions {
                plan,
                next: 1,
                expires: now + CONTINUATION_TIMEOUT,
            };
            self.next_assertions.put(caller, next, config.max_channels);
        }
        Ok(first)
    }

    /// authenticatorGetNextAssertion (§6.3) on `caller`'s channel: NOT_ALLOWED unless
    /// that channel's getAssertion left credentials (another channel's are not its).
    pub(super) fn get_next_assertion(
        &mut self,
        now: Instant,
        config: &Config,
        caller: ChannelId,
    ) -> Result<Vec<u8>> {
        let mut next = self
            .next_assertions
            .take(caller)
            .ok_or(StatusCode::NOT_ALLOWED)?;
        if next.expires <= now || next.next >= next.plan.credentials.len() {
            return Err(StatusCode::NOT_ALLOWED);
        }
        let answer = self.assertion(&next.plan, next.next, false)?;
        next.next += 1;
        next.expires = now + CONTINUATION_TIMEOUT;
        self.next_assertions.put(caller, next, config.max_channels);
        Ok(answer)
    }

    /// The response for credential `index` of `plan`.
    fn assertion(&mut self, plan: &AssertionPlan, index: usize, first: bool) -> Result<Vec<u8>> {
        let found = plan.credentials.get(index).ok_or(StatusCode::NOT_ALLOWED)?;
        let master = self.state.master.as_slice();
        let key = found
            .header
            .signing_key(master, &plan.rp_id_hash)
            .ok_or(StatusCode::OTHER)?;
        let mut outputs = Vec::new();
        let large_blob_key =
            self.finish_assertion_extensions(&plan.extensions, &found.id, &mut outputs);
        match &plan.hmac_secret {
            Some(input) if found.header.hmac_secret => {
                let cred_random = found.header.cred_random(master, &found.id, plan.uv);
                let mut output = Vec::with_capacity(64);
                for salt in input.salts.chunks(32) {
                    output.extend_from_slice(&super::keys::hmac(&cred_random, &[salt]));
                }
                let encrypted = input
                    .shared
                    .encrypt(&output, &mut self.rng)
                    .map_err(|e| e.status())?;
                outputs.push((Value::text("hmac-secret"), Value::Bytes(encrypted)));
            }
            _ => {}
        }
        let extensions = (!outputs.is_empty()).then_some(Value::Map(outputs));
        // Not `dirty`: `persist` saves only when the counter leaves its reserved block.
        self.state.sign_count = self.state.sign_count.wrapping_add(1);
        let mut flags = Flags::default();
        if plan.up {
            flags = flags.with(Flags::UP);
        }
        if plan.uv {
            flags = flags.with(Flags::UV);
        }
        let auth_data = AuthenticatorData {
            rp_id_hash: plan.rp_id_hash,
            flags,
            sign_count: self.state.sign_count,
            attested_credential: None,
            extensions,
        }
        .to_bytes();
        let signature = key.sign(&[auth_data.as_slice(), &plan.client_data_hash].concat());
        // §6.2.2 step 12: user identifiable information (name, displayName, and the
        // CTAP 2.0 icon) only after UV.
        let user = found.user.as_ref().map(|user| UserEntity {
            id: user.id.clone(),
            name: user.name.clone().filter(|_| plan.uv),
            display_name: user.display_name.clone().filter(|_| plan.uv),
            icon: user.icon.clone().filter(|_| plan.uv),
        });
        Ok(answer(&GetAssertionResponse {
            credential: Some(CredentialDescriptor::public_key(&found.id)),
            auth_data,
            signature,
            user,
            number_of_credentials: (first && plan.discovered)
                .then(|| u32::try_from(plan.credentials.len()).unwrap_or(u32::MAX)),
            user_selected: None,
            large_blob_key,
            unsigned_extension_outputs: None,
        }))
    }
}
