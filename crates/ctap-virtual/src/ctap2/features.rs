//! The CTAP 2.1/2.2 features past the core commands: their configuration
//! ([`Features`]), the persistent state they add (the large-blob array, the
//! minPinLength RP IDs), what a credential remembers of its extensions (largeBlobKey,
//! credBlob, thirdPartyPayment), and the extension processing that makeCredential and
//! getAssertion call (credBlob §12.2, largeBlobKey §12.3, minPinLength §12.4,
//! thirdPartyPayment CTAP 2.2 §12.9).
//!
//! The command handlers call in here with one line each, so the rules of each feature
//! live in one place.

use ctap_types::StatusCode;
use ctap2_proto::cbor::{TextMap, Value};
use ctap2_proto::entities::{Extensions, extension};
use ctap2_proto::{Info, Permissions};

use super::enterprise::EnterpriseAttestation;
use super::keys::hmac;
use super::sensor::FingerprintSensor;
use super::{Ctap2, Result};

/// The largest large-blob array this authenticator will ever hold, whatever
/// [`Features::max_serialized_large_blob_array`] says: the array lives in memory and in
/// the state file, so it is bounded.
pub const LARGE_BLOB_ARRAY_CAP: usize = 64 * 1024;
/// The smallest maxSerializedLargeBlobArray the spec allows (CTAP 2.1 §6.4: 1024).
pub const MIN_LARGE_BLOB_ARRAY: usize = 1024;
/// The largest credBlob accepted, whatever [`Features::max_cred_blob_length`] says.
pub const CRED_BLOB_CAP: usize = 256;
/// The most RP IDs setMinPINLength may name, whatever
/// [`Features::max_rpids_for_set_min_pin_length`] says.
pub const MIN_PIN_LENGTH_RPIDS_CAP: usize = 64;

/// The optional CTAP 2.1/2.2 features of a virtual authenticator and their limits.
/// Each one on is advertised in authenticatorGetInfo; each one off is neither
/// advertised nor accepted.
///
/// ```
/// use ctap_virtual::Features;
/// let features = Features::default()
///     .with_max_serialized_large_blob_array(2048)
///     .with_min_pin_length_rpids(vec!["example.com".into()]);
/// assert_eq!(features.max_cred_blob_length, 32);
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Features {
    /// maxSerializedLargeBlobArray (CTAP 2.1 §6.10): the size of the large-blob array
    /// in bytes; 0 turns authenticatorLargeBlobs and the largeBlobKey extension off.
    /// Other values are clamped to 1024 ..= [`LARGE_BLOB_ARRAY_CAP`].
    pub max_serialized_large_blob_array: usize,
    /// maxCredBlobLength (§12.2): the longest credBlob stored; 0 turns the credBlob
    /// extension off. Other values are clamped to 32 ..= [`CRED_BLOB_CAP`].
    pub max_cred_blob_length: usize,
    /// maxRPIDsForSetMinPINLength (§6.11.4): how many RP IDs setMinPINLength may add
    /// to the list of RPs that may read the minimum PIN length (minPinLength
    /// extension, §12.4). At most [`MIN_PIN_LENGTH_RPIDS_CAP`].
    pub max_rpids_for_set_min_pin_length: usize,
    /// The RP IDs pre-configured by the "vendor" that may always read the minimum PIN
    /// length (§6.11.4: these are kept through authenticatorReset).
    pub min_pin_length_rpids: Vec<String>,
    /// The thirdPartyPayment extension (CTAP 2.2 §12.9).
    pub third_party_payment: bool,
    /// Built-in user verification with this simulated fingerprint sensor
    /// (getPinUvAuthTokenUsingUvWithPermissions, getUVRetries, authenticatorBioEnrollment);
    /// `None`: no built-in UV.
    pub fingerprint: Option<FingerprintSensor>,
    /// Enterprise attestation (CTAP 2.1 §7.1), disabled until authenticatorConfig
    /// enableEnterpriseAttestation; `None`: not capable (no `ep` option).
    pub enterprise: Option<EnterpriseAttestation>,
}

impl Default for Features {
    /// Large blobs (4096 bytes), credBlob (32 bytes), 8 minPinLength RP IDs and
    /// thirdPartyPayment on.
    fn default() -> Self {
        Self {
            max_serialized_large_blob_array: 4096,
            max_cred_blob_length: 32,
            max_rpids_for_set_min_pin_length: 8,
            min_pin_length_rpids: Vec::new(),
            third_party_payment: true,
            fingerprint: None,
            enterprise: None,
        }
    }
}

impl Features {
    /// Everything optional off: the authenticator of before these features.
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_serialized_large_blob_array: 0,
            max_cred_blob_length: 0,
            max_rpids_for_set_min_pin_length: 0,
            min_pin_length_rpids: Vec::new(),
            third_party_payment: false,
            fingerprint: None,
            enterprise: None,
        }
    }

    /// Sets [`max_serialized_large_blob_array`](Self::max_serialized_large_blob_array).
    #[must_use]
    pub const fn with_max_serialized_large_blob_array(mut self, bytes: usize) -> Self {
        self.max_serialized_large_blob_array = bytes;
        self
    }

    /// Sets [`max_cred_blob_length`](Self::max_cred_blob_length).
    #[must_use]
    pub const fn with_max_cred_blob_length(mut self, bytes: usize) -> Self {
        self.max_cred_blob_length = bytes;
        self
    }

    /// Sets [`max_rpids_for_set_min_pin_length`](Self::max_rpids_for_set_min_pin_length).
    #[must_use]
    pub const fn with_max_rpids_for_set_min_pin_length(mut self, count: usize) -> Self {
        self.max_rpids_for_set_min_pin_length = count;
        self
    }

    /// Sets [`min_pin_length_rpids`](Self::min_pin_length_rpids).
    #[must_use]
    pub fn with_min_pin_length_rpids(mut self, rp_ids: Vec<String>) -> Self {
        self.min_pin_length_rpids = rp_ids;
        self
    }

    /// Sets [`third_party_payment`](Self::third_party_payment).
    #[must_use]
    pub const fn with_third_party_payment(mut self, on: bool) -> Self {
        self.third_party_payment = on;
        self
    }

    /// Sets [`fingerprint`](Self::fingerprint).
    #[must_use]
    pub fn with_fingerprint(mut self, sensor: Option<FingerprintSensor>) -> Self {
        self.fingerprint = sensor;
        self
    }

    /// Sets [`enterprise`](Self::enterprise).
    #[must_use]
    pub fn with_enterprise(mut self, enterprise: Option<EnterpriseAttestation>) -> Self {
        self.enterprise = enterprise;
        self
    }

    /// The large-blob array size in force: 0 (off) or clamped to the spec's minimum
    /// and this crate's cap.
    pub(crate) fn large_blob_array_len(&self) -> usize {
        match self.max_serialized_large_blob_array {
            0 => 0,
            n => n.clamp(MIN_LARGE_BLOB_ARRAY, LARGE_BLOB_ARRAY_CAP),
        }
    }

    /// maxCredBlobLength in force: 0 (off) or clamped to 32 (§12.2: "at least 32")
    /// ..= the cap.
    pub(crate) fn cred_blob_len(&self) -> usize {
        match self.max_cred_blob_length {
            0 => 0,
            n => n.clamp(32, CRED_BLOB_CAP),
        }
    }

    pub(crate) fn rpids_len(&self) -> usize {
        self.max_rpids_for_set_min_pin_length
            .min(MIN_PIN_LENGTH_RPIDS_CAP)
    }
}

/// What the features add to the persistent state.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct FeatureState {
    /// The serialized large-blob array (CBOR array || LEFT(SHA-256, 16)); `None` is
    /// the initial value of §6.10.2, an empty array.
    pub(crate) large_blob_array: Option<Vec<u8>>,
    /// The RP IDs setMinPINLength added (§6.11.4); the configured ones are not here.
    pub(crate) min_pin_length_rpids: Vec<String>,
    /// The enrolled fingerprints (§6.7).
    pub(crate) templates: Vec<Template>,
    /// uvRetries; `None` is the start value (`uv::MAX_UV_RETRIES`).
    pub(crate) uv_retries: Option<u8>,
    /// enableEnterpriseAttestation was called (§6.11.2; reset clears it).
    pub(crate) enterprise_enabled: bool,
    /// CTAP 2.2's persistent pinUvAuthToken (pcmr), `persistent.rs`.
    pub(crate) persistent_token: Option<super::persistent::PersistentToken>,
}

/// An enrolled fingerprint: its template id and friendly name.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Template {
    pub(crate) id: Vec<u8>,
    pub(crate) name: String,
}

/// A feature's command waiting for the user's touch.
pub(crate) enum PendingFeature {
    /// getPinUvAuthTokenUsingUvWithPermissions (`uv.rs`).
    UvToken(super::uv::UvTokenPlan),
    /// An enrollment sample (`bio.rs`).
    Sample(super::bio::SampleWait),
}

/// The serialized empty large-blob array: `h'80' || LEFT(SHA-256(h'80'), 16)`
/// (CTAP 2.1 §6.10.2, its initial value).
pub(crate) const EMPTY_LARGE_BLOB_ARRAY: [u8; 17] = [
    0x80, 0x76, 0xbe, 0x8b, 0x52, 0x8d, 0x00, 0x75, 0xf7, 0xaa, 0xe9, 0x8d, 0x6f, 0xa5, 0x7a, 0x6d,
    0x3c,
];

impl FeatureState {
    pub(crate) fn large_blob_array(&self) -> &[u8] {
        self.large_blob_array
            .as_deref()
            .unwrap_or(&EMPTY_LARGE_BLOB_ARRAY)
    }

    /// The CBOR form in the state file (a map with text keys; empty members left out).
    pub(crate) fn to_value(&self) -> Value {
        let mut entries = Vec::new();
        if let Some(array) = &self.large_blob_array {
            entries.push((Value::text("largeBlobArray"), Value::bytes(array)));
        }
        if !self.min_pin_length_rpids.is_empty() {
            entries.push((
                Value::text("minPinLengthRpIds"),
                Value::Array(
                    self.min_pin_length_rpids
                        .iter()
                        .map(|id| Value::text(id))
                        .collect(),
                ),
            ));
        }
        if !self.templates.is_empty() {
            entries.push((
                Value::text("fingerprints"),
                Value::Array(
                    self.templates
                        .iter()
                        .map(|t| Value::Array(vec![Value::bytes(&t.id), Value::text(&t.name)]))
                        .collect(),
                ),
            ));
        }
        if let Some(left) = self.uv_retries {
            entries.push((Value::text("uvRetries"), Value::int(left)));
        }
        if self.enterprise_enabled {
            entries.push((Value::text("enterpriseAttestation"), Value::Bool(true)));
        }
        if let Some(token) = &self.persistent_token {
            entries.push((
                Value::text("persistentToken"),
                Value::Array(vec![
                    Value::int(token.protocol.number()),
                    Value::bytes(token.value.as_slice()),
                ]),
            ));
        }
        Value::Map(entries)
    }

    /// From the state file; bounded by the caps so a crafted file cannot make it huge.
    pub(crate) fn from_value(value: Value) -> std::result::Result<Self, ctap2_proto::Error> {
        use ctap2_proto::Error;
        let mut map = TextMap::new(value, "features")?;
        let large_blob_array = map
            .take("largeBlobArray")
            .map(|v| v.into_bytes("largeBlobArray"))
            .transpose()?;
        if large_blob_array
            .as_ref()
            .is_some_and(|a| a.len() > LARGE_BLOB_ARRAY_CAP || a.len() < 17)
        {
            return Err(Error::InvalidLength("largeBlobArray"));
        }
        let min_pin_length_rpids = map
            .take("minPinLengthRpIds")
            .map(|v| {
                v.into_array("minPinLengthRpIds")?
                    .into_iter()
                    .map(|id| id.into_text("minPinLengthRpIds"))
                    .collect::<std::result::Result<Vec<_>, Error>>()
            })
            .transpose()?
            .unwrap_or_default();
        if min_pin_length_rpids.len() > MIN_PIN_LENGTH_RPIDS_CAP {
            return Err(Error::InvalidLength("minPinLengthRpIds"));
        }
        let templates = map
            .take("fingerprints")
            .map(|v| {
                v.into_array("fingerprints")?
                    .into_iter()
                    .map(|t| match t.into_array("fingerprint")?.as_slice() {
                        [Value::Bytes(id), Value::Text(name)] => Ok(Template {
                            id: id.clone(),
                            name: name.clone(),
                        }),
                        _ => Err(Error::UnexpectedType("fingerprint")),
                    })
                    .collect::<std::result::Result<Vec<_>, Error>>()
            })
            .transpose()?
            .unwrap_or_default();
        if templates.len() > super::bio::MAX_TEMPLATES {
            return Err(Error::InvalidLength("fingerprints"));
        }
        let uv_retries = map
            .take("uvRetries")
            .map(|v| v.to_num::<u8>("uvRetries"))
            .transpose()?;
        if uv_retries.is_some_and(|r| r > super::uv::MAX_UV_RETRIES) {
            return Err(Error::InvalidParameter("uvRetries above the maximum"));
        }
        let enterprise_enabled = map
            .take("enterpriseAttestation")
            .map(|v| v.as_bool("enterpriseAttestation"))
            .transpose()?
            .unwrap_or(false);
        let persistent_token = match map.take("persistentToken") {
            None => None,
            Some(value) => match value.into_array("persistentToken")?.as_slice() {
                [Value::Int(protocol), Value::Bytes(token)] => {
                    let protocol = u64::try_from(*protocol)
                        .ok()
                        .and_then(ctap2_proto::PinProtocol::from_number)
                        .ok_or(Error::InvalidParameter("persistentToken protocol"))?;
                    let value: [u8; 32] = token
                        .as_slice()
                        .try_into()
                        .map_err(|_| Error::InvalidLength("persistentToken"))?;
                    Some(super::persistent::PersistentToken {
                        value: zeroize::Zeroizing::new(value),
                        protocol,
                    })
                }
                _ => return Err(Error::UnexpectedType("persistentToken")),
            },
        };
        Ok(Self {
            large_blob_array,
            min_pin_length_rpids,
            templates,
            uv_retries,
            enterprise_enabled,
            persistent_token,
        })
    }
}

/// What a discoverable credential remembers of its extensions.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct CredentialExtras {
    /// It was made with largeBlobKey (§12.3): its key is derived from the master
    /// secret and the credential id, so only this flag is stored.
    pub(crate) large_blob_key: bool,
    /// Its credBlob (§12.2).
    pub(crate) cred_blob: Option<Vec<u8>>,
    /// It is enabled for third-party payment (CTAP 2.2 §12.9).
    pub(crate) third_party_payment: bool,
}

impl CredentialExtras {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub(crate) fn to_value(&self) -> Value {
        let mut entries = Vec::new();
        if self.large_blob_key {
            entries.push((Value::text("largeBlobKey"), Value::Bool(true)));
        }
        if let Some(blob) = &self.cred_blob {
            entries.push((Value::text("credBlob"), Value::bytes(blob)));
        }
        if self.third_party_payment {
            entries.push((Value::text("thirdPartyPayment"), Value::Bool(true)));
        }
        Value::Map(entries)
    }

    pub(crate) fn from_value(value: Value) -> std::result::Result<Self, ctap2_proto::Error> {
        let mut map = TextMap::new(value, "credential extras")?;
        let flag = |v: Option<Value>, what| v.map(|v| v.as_bool(what)).transpose();
        let cred_blob = map
            .take("credBlob")
            .map(|v| v.into_bytes("credBlob"))
            .transpose()?;
        if cred_blob.as_ref().is_some_and(|b| b.len() > CRED_BLOB_CAP) {
            return Err(ctap2_proto::Error::InvalidLength("credBlob"));
        }
        Ok(Self {
            large_blob_key: flag(map.take("largeBlobKey"), "largeBlobKey")?.unwrap_or(false),
            cred_blob,
            third_party_payment: flag(map.take("thirdPartyPayment"), "thirdPartyPayment")?
                .unwrap_or(false),
        })
    }
}

/// The extension inputs of a makeCredential that passed their checks.
#[derive(Clone, Default)]
pub(crate) struct MakeCredentialExtensions {
    /// hmac-secret-mc (CTAP 2.2 §12.5): the decrypted salts.
    hmac_secret_mc: Option<super::credentials::HmacSecretInput>,
    large_blob_key: bool,
    /// credBlob was sent: `Some(Some(blob))` to store, `Some(None)` too long.
    cred_blob: Option<Option<Vec<u8>>>,
    /// minPinLength was asked for by an RP allowed to read it.
    min_pin_length: bool,
    third_party_payment: bool,
}

/// What finishing a makeCredential adds: the credential's extras, the extension
/// outputs, the largeBlobKey of the response.
pub(crate) struct MadeExtensions {
    pub(crate) extras: CredentialExtras,
    pub(crate) large_blob_key: Option<Vec<u8>>,
}

/// The extension inputs of a getAssertion.
#[derive(Clone, Debug, Default)]
pub(crate) struct AssertionExtensions {
    large_blob_key: bool,
    cred_blob: bool,
    third_party_payment: bool,
}

fn flag_input(extensions: &Extensions, name: &str) -> Result<Option<bool>> {
    match extension(extensions, name) {
        None => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(_) => Err(StatusCode::CBOR_UNEXPECTED_TYPE),
    }
}

impl Ctap2 {
    /// The features' part of authenticatorGetInfo (§6.4): each feature on is
    /// advertised with its limits, nothing else.
    pub(super) fn advertise_features(&self, info: &mut Info) {
        let features = &self.features;
        let large_blobs = features.large_blob_array_len();
        if large_blobs > 0 {
            info.extensions.push("largeBlobKey".into());
            info.options.push(("largeBlobs".into(), true));
            info.max_serialized_large_blob_array = Some(large_blobs as u64);
        }
        let cred_blob = features.cred_blob_len();
        if cred_blob > 0 {
            info.extensions.push("credBlob".into());
            info.max_cred_blob_length = Some(cred_blob as u64);
        }
        // minPinLength (§12.4) goes with setMinPINLength, which is always offered.
        info.extensions.push("minPinLength".into());
        // CTAP 2.2: hmac-secret-mc and the persistent token for read-only credential
        // management (pcmr).
        info.extensions.push("hmac-secret-mc".into());
        info.options.push(("perCredMgmtRO".into(), true));
        info.max_rpids_for_set_min_pin_length = Some(features.rpids_len() as u64);
        if features.third_party_payment {
            info.extensions.push("thirdPartyPayment".into());
        }
        if features.enterprise.is_some() {
            // §6.4 / §7.1: ep present when capable, true once enabled.
            info.options
                .push(("ep".into(), self.state.features.enterprise_enabled));
        }
        if features.fingerprint.is_some() {
            // §6.4: uv and bioEnroll say whether a finger is enrolled; uvBioEnroll and
            // uvAcfg that a UV token may carry be and acfg.
            let enrolled = self.uv_enrolled();
            info.options.push(("uv".into(), enrolled));
            info.options.push(("bioEnroll".into(), enrolled));
            info.options.push(("uvBioEnroll".into(), true));
            info.options.push(("uvAcfg".into(), true));
            info.uv_modality = Some(super::uv::UV_MODALITY_FINGERPRINT);
            info.preferred_platform_uv_attempts = Some(super::uv::PREFERRED_PLATFORM_UV_ATTEMPTS);
        }
    }

    /// Finishes a feature's command after the user's touch.
    pub(super) fn finish_feature(
        &mut self,
        now: std::time::Instant,
        caller: ctap_types::ChannelId,
        pending: PendingFeature,
    ) -> Result<Vec<u8>> {
        match pending {
            PendingFeature::UvToken(plan) => self.finish_uv_token(now, caller, plan),
            PendingFeature::Sample(wait) => self.finish_sample(&wait),
        }
    }

    /// Permissions a pinUvAuthToken may carry because of these features (lbw while
    /// large blobs are on).
    pub(super) fn feature_permissions(&self) -> u8 {
        let mut permissions = 0;
        if self.features.large_blob_array_len() > 0 {
            permissions |= Permissions::LARGE_BLOB_WRITE.0;
        }
        if self.features.fingerprint.is_some() {
            permissions |= Permissions::BIO_ENROLLMENT.0;
        }
        // CTAP 2.2: pcmr (`persistent.rs`), always offered (perCredMgmtRO).
        permissions | Permissions::PCMR.0
    }

    /// Whether `rp_id` may read the minimum PIN length (§12.4): it is in the
    /// configured list or in the one setMinPINLength stored.
    fn may_read_min_pin_length(&self, rp_id: &str) -> bool {
        self.features
            .min_pin_length_rpids
            .iter()
            .any(|id| id == rp_id)
            || self
                .state
                .features
                .min_pin_length_rpids
                .iter()
                .any(|id| id == rp_id)
    }

    /// setMinPINLength's minPinLengthRPIDs (CTAP 2.1 §6.11.4): more RP IDs than
    /// maxRPIDsForSetMinPINLength cannot be stored. The spec text names no status for
    /// this; OpenSK (and the keys built on it) answer CTAP2_ERR_KEY_STORE_FULL, and so
    /// do we. Checked before anything is changed, so a refused command changes nothing.
    pub(super) fn check_min_pin_length_rpids(&self, rp_ids: Option<&[String]>) -> Result<()> {
        match rp_ids {
            Some(ids) if ids.len() > self.features.rpids_len() => Err(StatusCode::KEY_STORE_FULL),
            _ => Ok(()),
        }
    }

    /// Stores setMinPINLength's RP IDs, after every check passed.
    pub(super) fn store_min_pin_length_rpids(&mut self, rp_ids: Option<Vec<String>>) {
        if let Some(ids) = rp_ids {
            self.state.features.min_pin_length_rpids = ids;
            self.dirty = true;
        }
    }

    /// The extension inputs of makeCredential (CTAP 2.1 §6.1.2 step 13, one extension
    /// at a time). Unsupported extensions are ignored, as the spec says.
    pub(super) fn make_credential_extensions(
        &mut self,
        rp_id: &str,
        extensions: &Extensions,
        discoverable: bool,
        hmac_secret: bool,
    ) -> Result<MakeCredentialExtensions> {
        let mut out = MakeCredentialExtensions::default();
        // CTAP 2.2 hmac-secret-mc: the getAssertion hmac-secret input structure, only
        // together with hmac-secret: true (the spec text was not at hand; like
        // pico-fido, the other deployed implementation we know, CTAP2_ERR_MISSING_PARAMETER
        // without it).
        if let Some(input) = extension(extensions, "hmac-secret-mc") {
            if !hmac_secret {
                return Err(StatusCode::MISSING_PARAMETER);
            }
            out.hmac_secret_mc = Some(self.hmac_secret_input(input.clone())?);
        }
        // §12.3: only `true` is a valid input, and only for a discoverable credential
        // (CTAP2_ERR_INVALID_OPTION otherwise).
        if self.features.large_blob_array_len() > 0 {
            match flag_input(extensions, "largeBlobKey")? {
                Some(true) if discoverable => out.large_blob_key = true,
                Some(_) => return Err(StatusCode::INVALID_OPTION),
                None => {}
            }
        }
        // §12.2: a byte string; stored when it fits maxCredBlobLength, otherwise the
        // output says false.
        let max_blob = self.features.cred_blob_len();
        if max_blob > 0 {
            match extension(extensions, "credBlob") {
                None => {}
                Some(Value::Bytes(blob)) => {
                    out.cred_blob = Some((blob.len() <= max_blob).then(|| blob.clone()));
                }
                Some(_) => return Err(StatusCode::CBOR_UNEXPECTED_TYPE),
            }
        }
        // §12.4: only RPs on the list learn the minimum PIN length; `false` asks
        // for nothing.
        if flag_input(extensions, "minPinLength")? == Some(true) {
            out.min_pin_length = self.may_read_min_pin_length(rp_id);
        }
        if self.features.third_party_payment {
            out.third_party_payment = flag_input(extensions, "thirdPartyPayment")? == Some(true);
        }
        Ok(out)
    }

    /// Finishes makeCredential's extensions for the new credential `id`: pushes the
    /// authenticator extension outputs and says what the credential keeps.
    pub(super) fn finish_make_credential_extensions(
        &mut self,
        inputs: &MakeCredentialExtensions,
        (id, header): (&[u8], &super::keys::CredentialId),
        discoverable: bool,
        uv: bool,
        outputs: &mut Vec<(Value, Value)>,
    ) -> Result<MadeExtensions> {
        if let Some(input) = &inputs.hmac_secret_mc {
            // The new credential's CredRandom for this UV state, as getAssertion's
            // hmac-secret computes it, encrypted for the platform.
            let cred_random = header.cred_random(self.state.master.as_slice(), id, uv);
            let mut output = zeroize::Zeroizing::new(Vec::with_capacity(64));
            for salt in input.salts.chunks(32) {
                output.extend_from_slice(&hmac(&cred_random, &[salt]));
            }
            let encrypted = input
                .shared
                .encrypt(&output, &mut self.rng)
                .map_err(|e| e.status())?;
            outputs.push((Value::text("hmac-secret-mc"), Value::Bytes(encrypted)));
        }
        let mut extras = CredentialExtras {
            large_blob_key: inputs.large_blob_key,
            ..CredentialExtras::default()
        };
        if let Some(blob) = &inputs.cred_blob {
            // A non-discoverable credential has nowhere to keep it (its id is fixed
            // by the key format): the output says false, as §12.2 allows.
            let stored = blob.as_ref().filter(|_| discoverable);
            outputs.push((Value::text("credBlob"), Value::Bool(stored.is_some())));
            extras.cred_blob = stored.cloned();
        }
        if inputs.min_pin_length {
            outputs.push((
                Value::text("minPinLength"),
                Value::int(self.state.min_pin_length),
            ));
        }
        extras.third_party_payment = inputs.third_party_payment && discoverable;
        let large_blob_key = inputs
            .large_blob_key
            .then(|| self.large_blob_key(id).to_vec());
        Ok(MadeExtensions {
            extras,
            large_blob_key,
        })
    }

    /// What enumerateCredentials says of a credential's extensions (CTAP 2.1 §6.8.4:
    /// largeBlobKey (0x0B) when it has one; CTAP 2.2: thirdPartyPayment (0x0C) when
    /// the extension is on).
    pub(super) fn credential_management_extras(
        &self,
        credential: &super::state::Resident,
    ) -> (Option<Vec<u8>>, Option<bool>) {
        let key = credential
            .extras
            .large_blob_key
            .then(|| self.large_blob_key(&credential.id).to_vec());
        let payment = self
            .features
            .third_party_payment
            .then_some(credential.extras.third_party_payment);
        (key, payment)
    }

    /// The largeBlobKey of credential `id`: HMAC-SHA-256(master, "largeBlobKey" ||
    /// id). Derived rather than stored; it changes only with the master secret (reset).
    pub(super) fn large_blob_key(&self, id: &[u8]) -> [u8; 32] {
        hmac(self.state.master.as_slice(), &[b"largeBlobKey", id])
    }

    /// The extension inputs of getAssertion (§6.2.2 step 8).
    pub(super) fn assertion_extensions(
        &self,
        extensions: Option<&Extensions>,
    ) -> Result<AssertionExtensions> {
        let Some(extensions) = extensions else {
            return Ok(AssertionExtensions::default());
        };
        let mut out = AssertionExtensions::default();
        if self.features.large_blob_array_len() > 0 {
            // §12.3: only `true` is valid.
            match flag_input(extensions, "largeBlobKey")? {
                Some(true) => out.large_blob_key = true,
                Some(false) => return Err(StatusCode::INVALID_OPTION),
                None => {}
            }
        }
        if self.features.cred_blob_len() > 0 {
            out.cred_blob = flag_input(extensions, "credBlob")? == Some(true);
        }
        if self.features.third_party_payment {
            out.third_party_payment = flag_input(extensions, "thirdPartyPayment")? == Some(true);
        }
        Ok(out)
    }

    /// The outputs of getAssertion's extensions for the credential `id` (stored
    /// credentials have `extras`): authenticator extension outputs pushed to
    /// `outputs`, the largeBlobKey of the response returned.
    pub(super) fn finish_assertion_extensions(
        &self,
        inputs: &AssertionExtensions,
        id: &[u8],
        outputs: &mut Vec<(Value, Value)>,
    ) -> Option<Vec<u8>> {
        let extras = self
            .state
            .credentials
            .iter()
            .find(|c| c.id == id)
            .map(|c| &c.extras);
        if inputs.cred_blob {
            // §12.2: the stored blob, or an empty byte string when there is none.
            let blob = extras.and_then(|e| e.cred_blob.clone()).unwrap_or_default();
            outputs.push((Value::text("credBlob"), Value::Bytes(blob)));
        }
        if inputs.third_party_payment {
            let on = extras.is_some_and(|e| e.third_party_payment);
            outputs.push((Value::text("thirdPartyPayment"), Value::Bool(on)));
        }
        // §12.3: the key only for credentials made with the extension.
        (inputs.large_blob_key && extras.is_some_and(|e| e.large_blob_key))
            .then(|| self.large_blob_key(id).to_vec())
    }
}
