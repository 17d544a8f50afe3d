//! authenticatorGetInfo response (CTAP 2.1 §6.4, with the CTAP 2.2 members). Every
//! member is typed; members this crate does not know are kept in
//! [`Info::unknown`] and encoded again, so a decode-encode round trip is lossless.

use alloc::{string::String, vec::Vec};

use crate::cbor::{CborMessage, Error, IntMap, MapBuilder, Value};
use crate::credentials::{opt_bool, opt_bytes, opt_u64};
use crate::entities::{CredentialParameters, list, text_list, text_list_value};

/// authenticatorGetInfo response. `Default` is the smallest valid answer: no versions,
/// nothing else.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct Info {
    /// 0x01 versions ("FIDO_2_0", "FIDO_2_1", "FIDO_2_2", "U2F_V2", ...).
    pub versions: Vec<String>,
    /// 0x02 extensions.
    pub extensions: Vec<String>,
    /// 0x03 aaguid.
    pub aaguid: [u8; 16],
    /// 0x04 options, in the order received (encoding sorts them).
    pub options: Vec<(String, bool)>,
    /// 0x05 maxMsgSize.
    pub max_msg_size: Option<u64>,
    /// 0x06 pinUvAuthProtocols, most preferred first.
    pub pin_uv_auth_protocols: Vec<u64>,
    /// 0x07 maxCredentialCountInList.
    pub max_credential_count_in_list: Option<u64>,
    /// 0x08 maxCredentialIdLength.
    pub max_credential_id_length: Option<u64>,
    /// 0x09 transports.
    pub transports: Vec<String>,
    /// 0x0A algorithms.
    pub algorithms: Option<Vec<CredentialParameters>>,
    /// 0x0B maxSerializedLargeBlobArray.
    pub max_serialized_large_blob_array: Option<u64>,
    /// 0x0C forcePINChange.
    pub force_pin_change: Option<bool>,
    /// 0x0D minPINLength.
    pub min_pin_length: Option<u64>,
    /// 0x0E firmwareVersion.
    pub firmware_version: Option<u64>,
    /// 0x0F maxCredBlobLength.
    pub max_cred_blob_length: Option<u64>,
    /// 0x10 maxRPIDsForSetMinPINLength.
    pub max_rpids_for_set_min_pin_length: Option<u64>,
    /// 0x11 preferredPlatformUvAttempts.
    pub preferred_platform_uv_attempts: Option<u64>,
    /// 0x12 uvModality.
    pub uv_modality: Option<u64>,
    /// 0x13 certifications (a map).
    pub certifications: Option<Value>,
    /// 0x14 remainingDiscoverableCredentials.
    pub remaining_discoverable_credentials: Option<u64>,
    /// 0x15 vendorPrototypeConfigCommands.
    pub vendor_prototype_config_commands: Option<Vec<u64>>,
    /// 0x16 attestationFormats (CTAP 2.2).
    pub attestation_formats: Option<Vec<String>>,
    /// 0x17 uvCountSinceLastPinEntry (CTAP 2.2).
    pub uv_count_since_last_pin_entry: Option<u64>,
    /// 0x18 longTouchForReset (CTAP 2.2).
    pub long_touch_for_reset: Option<bool>,
    /// 0x19 encIdentifier (CTAP 2.2).
    pub enc_identifier: Option<Vec<u8>>,
    /// 0x1A transportsForReset (CTAP 2.2).
    pub transports_for_reset: Option<Vec<String>>,
    /// 0x1B pinComplexityPolicy (CTAP 2.2).
    pub pin_complexity_policy: Option<bool>,
    /// 0x1C pinComplexityPolicyURL (CTAP 2.2).
    pub pin_complexity_policy_url: Option<Vec<u8>>,
    /// 0x1D maxPINLength (CTAP 2.2).
    pub max_pin_length: Option<u64>,
    /// 0x1E encCredStoreState (CTAP 2.2).
    pub enc_cred_store_state: Option<Vec<u8>>,
    /// 0x1F authenticatorConfigCommands (CTAP 2.2).
    pub authenticator_config_commands: Option<Vec<u64>>,
    /// Members with keys this crate does not know, as received.
    pub unknown: Vec<(i128, Value)>,
}

impl Info {
    /// The option `name`, if the authenticator reported it.
    #[must_use]
    pub fn option(&self, name: &str) -> Option<bool> {
        self.options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }
}

fn num_list(value: Value, what: &'static str) -> Result<Vec<u64>, Error> {
    list(value, what, |v| v.to_num(what))
}

fn num_list_value(list: &[u64]) -> Value {
    Value::Array(list.iter().map(|&n| Value::int(n)).collect())
}

impl CborMessage for Info {
    fn to_value(&self) -> Value {
        let options = Value::Map(
            self.options
                .iter()
                .map(|(k, v)| (Value::text(k), Value::Bool(*v)))
                .collect(),
        );
        let nonempty_texts = |l: &[String]| (!l.is_empty()).then(|| text_list_value(l));
        let mut builder = MapBuilder::new()
            .with(1, text_list_value(&self.versions))
            .with_opt(2, nonempty_texts(&self.extensions))
            .with(3, Value::bytes(&self.aaguid))
            .with_opt(4, (!self.options.is_empty()).then_some(options))
            .with_opt(5, self.max_msg_size.map(Value::int))
            .with_opt(
                6,
                (!self.pin_uv_auth_protocols.is_empty())
                    .then(|| num_list_value(&self.pin_uv_auth_protocols)),
            )
            .with_opt(7, self.max_credential_count_in_list.map(Value::int))
            .with_opt(8, self.max_credential_id_length.map(Value::int))
            .with_opt(9, nonempty_texts(&self.transports))
            .with_opt(
                10,
                self.algorithms
                    .as_ref()
                    .map(|l| Value::Array(l.iter().map(CredentialParameters::to_value).collect())),
            )
            .with_opt(11, self.max_serialized_large_blob_array.map(Value::int))
            .with_opt(12, self.force_pin_change.map(Value::Bool))
            .with_opt(13, self.min_pin_length.map(Value::int))
            .with_opt(14, self.firmware_version.map(Value::int))
            .with_opt(15, self.max_cred_blob_length.map(Value::int))
            .with_opt(16, self.max_rpids_for_set_min_pin_length.map(Value::int))
            .with_opt(17, self.preferred_platform_uv_attempts.map(Value::int))
            .with_opt(18, self.uv_modality.map(Value::int))
            .with_opt(19, self.certifications.clone())
            .with_opt(20, self.remaining_discoverable_credentials.map(Value::int))
            .with_opt(
                21,
                self.vendor_prototype_config_commands
                    .as_deref()
                    .map(num_list_value),
            )
            .with_opt(22, self.attestation_formats.as_deref().map(text_list_value))
            .with_opt(23, self.uv_count_since_last_pin_entry.map(Value::int))
            .with_opt(24, self.long_touch_for_reset.map(Value::Bool))
            .with_opt(25, self.enc_identifier.as_deref().map(Value::bytes))
            .with_opt(
                26,
                self.transports_for_reset.as_deref().map(text_list_value),
            )
            .with_opt(27, self.pin_complexity_policy.map(Value::Bool))
            .with_opt(
                28,
                self.pin_complexity_policy_url.as_deref().map(Value::bytes),
            )
            .with_opt(29, self.max_pin_length.map(Value::int))
            .with_opt(30, self.enc_cred_store_state.as_deref().map(Value::bytes))
            .with_opt(
                31,
                self.authenticator_config_commands
                    .as_deref()
                    .map(num_list_value),
            );
        for (key, value) in &self.unknown {
            builder = builder.with(*key, value.clone());
        }
        builder.build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "getInfo response")?;
        let texts = |v: Option<Value>, what| v.map(|v| text_list(v, what)).transpose();
        let aaguid = map.require(3, "aaguid")?.into_bytes("aaguid")?;
        let options = map
            .take(4)
            .map(|v| {
                crate::cbor::TextMap::new(v, "options")?
                    .into_rest()
                    .into_iter()
                    .map(|(k, v)| Ok((k, v.as_bool("option")?)))
                    .collect::<Result<Vec<_>, Error>>()
            })
            .transpose()?
            .unwrap_or_default();
        let info = Self {
            versions: text_list(map.require(1, "versions")?, "versions")?,
            extensions: texts(map.take(2), "extensions")?.unwrap_or_default(),
            aaguid: aaguid
                .as_slice()
                .try_into()
                .map_err(|_| Error::InvalidLength("aaguid"))?,
            options,
            max_msg_size: opt_u64(map.take(5), "maxMsgSize")?,
            pin_uv_auth_protocols: map
                .take(6)
                .map(|v| num_list(v, "pinUvAuthProtocols"))
                .transpose()?
                .unwrap_or_default(),
            max_credential_count_in_list: opt_u64(map.take(7), "maxCredentialCountInList")?,
            max_credential_id_length: opt_u64(map.take(8), "maxCredentialIdLength")?,
            transports: texts(map.take(9), "transports")?.unwrap_or_default(),
            algorithms: map
                .take(10)
                .map(|v| list(v, "algorithms", CredentialParameters::from_value))
                .transpose()?,
            max_serialized_large_blob_array: opt_u64(map.take(11), "maxSerializedLargeBlobArray")?,
            force_pin_change: opt_bool(map.take(12), "forcePINChange")?,
            min_pin_length: opt_u64(map.take(13), "minPINLength")?,
            firmware_version: opt_u64(map.take(14), "firmwareVersion")?,
            max_cred_blob_length: opt_u64(map.take(15), "maxCredBlobLength")?,
            max_rpids_for_set_min_pin_length: opt_u64(map.take(16), "maxRPIDsForSetMinPINLength")?,
            preferred_platform_uv_attempts: opt_u64(map.take(17), "preferredPlatformUvAttempts")?,
            uv_modality: opt_u64(map.take(18), "uvModality")?,
            certifications: map.take(19),
            remaining_discoverable_credentials: opt_u64(
                map.take(20),
                "remainingDiscoverableCredentials",
            )?,
            vendor_prototype_config_commands: map
                .take(21)
                .map(|v| num_list(v, "vendorPrototypeConfigCommands"))
                .transpose()?,
            attestation_formats: texts(map.take(22), "attestationFormats")?,
            uv_count_since_last_pin_entry: opt_u64(map.take(23), "uvCountSinceLastPinEntry")?,
            long_touch_for_reset: opt_bool(map.take(24), "longTouchForReset")?,
            enc_identifier: opt_bytes(map.take(25), "encIdentifier")?,
            transports_for_reset: texts(map.take(26), "transportsForReset")?,
            pin_complexity_policy: opt_bool(map.take(27), "pinComplexityPolicy")?,
            pin_complexity_policy_url: opt_bytes(map.take(28), "pinComplexityPolicyURL")?,
            max_pin_length: opt_u64(map.take(29), "maxPINLength")?,
            enc_cred_store_state: opt_bytes(map.take(30), "encCredStoreState")?,
            authenticator_config_commands: map
                .take(31)
                .map(|v| num_list(v, "authenticatorConfigCommands"))
                .transpose()?,
            unknown: Vec::new(),
        };
        let mut unknown = map.into_rest();
        unknown.sort_by_key(|(k, _)| *k);
        Ok(Self { unknown, ..info })
    }
}
