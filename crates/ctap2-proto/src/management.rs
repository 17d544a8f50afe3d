//! authenticatorCredentialManagement (CTAP 2.1 §6.8), authenticatorConfig (§6.11) and
//! authenticatorLargeBlobs (§6.10).
//!
//! The subcommand parameters of credentialManagement and authenticatorConfig are kept
//! as the CBOR value received, because the pinUvAuthParam covers their exact encoding;
//! typed views ([`CredentialManagementParams`], [`SetMinPinLengthParams`]) read them.

use alloc::{string::String, vec::Vec};

use crate::cbor::{CborMessage, Error, IntMap, MapBuilder, Value};
use crate::cose::CoseKey;
use crate::credentials::{opt_bool, opt_bytes, opt_u64};
use crate::entities::{CredentialDescriptor, RpEntity, UserEntity, text_list, text_list_value};

crate::codes::sub_command! {
    /// A credentialManagement subcommand (CTAP 2.1 §6.8, subCommand): an open newtype.
    CredMgmtSubCommand {
        /// getCredsMetadata (CTAP 2.1 §6.8.2).
        GET_CREDS_METADATA = 0x01, "getCredsMetadata";
        /// enumerateRPsBegin (CTAP 2.1 §6.8.3).
        ENUMERATE_RPS_BEGIN = 0x02, "enumerateRPsBegin";
        /// enumerateRPsGetNextRP (CTAP 2.1 §6.8.3).
        ENUMERATE_RPS_GET_NEXT_RP = 0x03, "enumerateRPsGetNextRP";
        /// enumerateCredentialsBegin (CTAP 2.1 §6.8.4).
        ENUMERATE_CREDENTIALS_BEGIN = 0x04, "enumerateCredentialsBegin";
        /// enumerateCredentialsGetNextCredential (CTAP 2.1 §6.8.4).
        ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL = 0x05, "enumerateCredentialsGetNextCredential";
        /// deleteCredential (CTAP 2.1 §6.8.5).
        DELETE_CREDENTIAL = 0x06, "deleteCredential";
        /// updateUserInformation (CTAP 2.1 §6.8.6).
        UPDATE_USER_INFORMATION = 0x07, "updateUserInformation";
    }
}

/// authenticatorCredentialManagement parameters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CredentialManagementRequest {
    /// 0x01 subCommand.
    pub sub_command: CredMgmtSubCommand,
    /// 0x02 subCommandParams, as received.
    pub sub_command_params: Option<Value>,
    /// 0x03 pinUvAuthProtocol.
    pub pin_uv_auth_protocol: Option<u64>,
    /// 0x04 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
}

/// The typed members of credentialManagement's subCommandParams.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct CredentialManagementParams {
    /// 0x01 rpIDHash.
    pub rp_id_hash: Option<Vec<u8>>,
    /// 0x02 credentialID.
    pub credential_id: Option<CredentialDescriptor>,
    /// 0x03 user.
    pub user: Option<UserEntity>,
}

impl CredentialManagementParams {
    /// CBOR form.
    #[must_use]
    pub fn to_value(&self) -> Value {
        MapBuilder::new()
            .with_opt(1, self.rp_id_hash.as_deref().map(Value::bytes))
            .with_opt(
                2,
                self.credential_id
                    .as_ref()
                    .map(CredentialDescriptor::to_value),
            )
            .with_opt(3, self.user.as_ref().map(UserEntity::to_value))
            .build()
    }

    /// From CBOR.
    ///
    /// # Errors
    /// Wrong types.
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "subCommandParams")?;
        Ok(Self {
            rp_id_hash: opt_bytes(map.take(1), "rpIDHash")?,
            credential_id: map
                .take(2)
                .map(CredentialDescriptor::from_value)
                .transpose()?,
            user: map.take(3).map(UserEntity::from_value).transpose()?,
        })
    }
}

impl CredentialManagementRequest {
    /// The message its pinUvAuthParam authenticates: `subCommand || subCommandParams`
    /// (§6.8.2 and following).
    #[must_use]
    pub fn auth_message(&self) -> Vec<u8> {
        let mut message = alloc::vec![self.sub_command.0];
        if let Some(params) = &self.sub_command_params {
            params.encode_into(&mut message);
        }
        message
    }

    /// The typed subCommandParams (empty when absent).
    ///
    /// # Errors
    /// Wrong types.
    pub fn params(&self) -> Result<CredentialManagementParams, Error> {
        self.sub_command_params
            .clone()
            .map(CredentialManagementParams::from_value)
            .transpose()
            .map(Option::unwrap_or_default)
    }
}

impl CborMessage for CredentialManagementRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with(1, Value::int(self.sub_command.0))
            .with_opt(2, self.sub_command_params.clone())
            .with_opt(3, self.pin_uv_auth_protocol.map(Value::int))
            .with_opt(4, self.pin_uv_auth_param.as_deref().map(Value::bytes))
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "credentialManagement parameters")?;
        let params = map.take(2);
        if params.as_ref().is_some_and(|p| !matches!(p, Value::Map(_))) {
            return Err(Error::UnexpectedType("subCommandParams"));
        }
        Ok(Self {
            sub_command: CredMgmtSubCommand(map.require(1, "subCommand")?.to_num("subCommand")?),
            sub_command_params: params,
            pin_uv_auth_protocol: opt_u64(map.take(3), "pinUvAuthProtocol")?,
            pin_uv_auth_param: opt_bytes(map.take(4), "pinUvAuthParam")?,
        })
    }
}

/// authenticatorCredentialManagement response.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct CredentialManagementResponse {
    /// 0x01 existingResidentCredentialsCount.
    pub existing_resident_credentials_count: Option<u64>,
    /// 0x02 maxPossibleRemainingResidentCredentialsCount.
    pub max_possible_remaining_resident_credentials_count: Option<u64>,
    /// 0x03 rp.
    pub rp: Option<RpEntity>,
    /// 0x04 rpIDHash.
    pub rp_id_hash: Option<Vec<u8>>,
    /// 0x05 totalRPs.
    pub total_rps: Option<u64>,
    /// 0x06 user.
    pub user: Option<UserEntity>,
    /// 0x07 credentialID.
    pub credential_id: Option<CredentialDescriptor>,
    /// 0x08 publicKey.
    pub public_key: Option<CoseKey>,
    /// 0x09 totalCredentials.
    pub total_credentials: Option<u64>,
    /// 0x0A credProtect.
    pub cred_protect: Option<u64>,
    /// 0x0B largeBlobKey.
    pub large_blob_key: Option<Vec<u8>>,
    /// 0x0C thirdPartyPayment (CTAP 2.2).
    pub third_party_payment: Option<bool>,
}

impl CborMessage for CredentialManagementResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with_opt(1, self.existing_resident_credentials_count.map(Value::int))
            .with_opt(
                2,
                self.max_possible_remaining_resident_credentials_count
                    .map(Value::int),
            )
            .with_opt(3, self.rp.as_ref().map(RpEntity::to_value))
            .with_opt(4, self.rp_id_hash.as_deref().map(Value::bytes))
            .with_opt(5, self.total_rps.map(Value::int))
            .with_opt(6, self.user.as_ref().map(UserEntity::to_value))
            .with_opt(
                7,
                self.credential_id
                    .as_ref()
                    .map(CredentialDescriptor::to_value),
            )
            .with_opt(8, self.public_key.as_ref().map(CborMessage::to_value))
            .with_opt(9, self.total_credentials.map(Value::int))
            .with_opt(10, self.cred_protect.map(Value::int))
            .with_opt(11, self.large_blob_key.as_deref().map(Value::bytes))
            .with_opt(12, self.third_party_payment.map(Value::Bool))
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "credentialManagement response")?;
        Ok(Self {
            existing_resident_credentials_count: opt_u64(
                map.take(1),
                "existingResidentCredentialsCount",
            )?,
            max_possible_remaining_resident_credentials_count: opt_u64(
                map.take(2),
                "maxPossibleRemainingResidentCredentialsCount",
            )?,
            rp: map.take(3).map(RpEntity::from_value).transpose()?,
            rp_id_hash: opt_bytes(map.take(4), "rpIDHash")?,
            total_rps: opt_u64(map.take(5), "totalRPs")?,
            user: map.take(6).map(UserEntity::from_value).transpose()?,
            credential_id: map
                .take(7)
                .map(CredentialDescriptor::from_value)
                .transpose()?,
            public_key: map.take(8).map(CoseKey::from_value).transpose()?,
            total_credentials: opt_u64(map.take(9), "totalCredentials")?,
            cred_protect: opt_u64(map.take(10), "credProtect")?,
            large_blob_key: opt_bytes(map.take(11), "largeBlobKey")?,
            third_party_payment: opt_bool(map.take(12), "thirdPartyPayment")?,
        })
    }
}

crate::codes::sub_command! {
    /// An authenticatorConfig subcommand (CTAP 2.1 §6.11, subCommand): an open newtype.
    ConfigSubCommand {
        /// enableEnterpriseAttestation (CTAP 2.1 §6.11.1).
        ENABLE_ENTERPRISE_ATTESTATION = 0x01, "enableEnterpriseAttestation";
        /// toggleAlwaysUv (CTAP 2.1 §6.11.2).
        TOGGLE_ALWAYS_UV = 0x02, "toggleAlwaysUv";
        /// setMinPINLength (CTAP 2.1 §6.11.4).
        SET_MIN_PIN_LENGTH = 0x03, "setMinPINLength";
        /// vendorPrototype (CTAP 2.1 §6.11.3).
        VENDOR_PROTOTYPE = 0xFF, "vendorPrototype";
    }
}

/// authenticatorConfig parameters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ConfigRequest {
    /// 0x01 subCommand.
    pub sub_command: ConfigSubCommand,
    /// 0x02 subCommandParams, as received.
    pub sub_command_params: Option<Value>,
    /// 0x03 pinUvAuthProtocol.
    pub pin_uv_auth_protocol: Option<u64>,
    /// 0x04 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
}

impl ConfigRequest {
    /// The message its pinUvAuthParam authenticates (§6.11.1):
    /// `32 × 0xff || 0x0d || subCommand || subCommandParams`.
    #[must_use]
    pub fn auth_message(&self) -> Vec<u8> {
        let mut message = alloc::vec![0xFF; 32];
        message.push(0x0D);
        message.push(self.sub_command.0);
        if let Some(params) = &self.sub_command_params {
            params.encode_into(&mut message);
        }
        message
    }
}

impl CborMessage for ConfigRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with(1, Value::int(self.sub_command.0))
            .with_opt(2, self.sub_command_params.clone())
            .with_opt(3, self.pin_uv_auth_protocol.map(Value::int))
            .with_opt(4, self.pin_uv_auth_param.as_deref().map(Value::bytes))
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "authenticatorConfig parameters")?;
        let params = map.take(2);
        if params.as_ref().is_some_and(|p| !matches!(p, Value::Map(_))) {
            return Err(Error::UnexpectedType("subCommandParams"));
        }
        Ok(Self {
            sub_command: ConfigSubCommand(map.require(1, "subCommand")?.to_num("subCommand")?),
            sub_command_params: params,
            pin_uv_auth_protocol: opt_u64(map.take(3), "pinUvAuthProtocol")?,
            pin_uv_auth_param: opt_bytes(map.take(4), "pinUvAuthParam")?,
        })
    }
}

/// setMinPINLength's subCommandParams (§6.11.4).
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct SetMinPinLengthParams {
    /// 0x01 newMinPINLength.
    pub new_min_pin_length: Option<u64>,
    /// 0x02 minPinLengthRPIDs.
    pub min_pin_length_rpids: Option<Vec<String>>,
    /// 0x03 forceChangePin.
    pub force_change_pin: Option<bool>,
}

impl SetMinPinLengthParams {
    /// CBOR form.
    #[must_use]
    pub fn to_value(&self) -> Value {
        MapBuilder::new()
            .with_opt(1, self.new_min_pin_length.map(Value::int))
            .with_opt(2, self.min_pin_length_rpids.as_deref().map(text_list_value))
            .with_opt(3, self.force_change_pin.map(Value::Bool))
            .build()
    }

    /// From CBOR.
    ///
    /// # Errors
    /// Wrong types.
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "subCommandParams")?;
        Ok(Self {
            new_min_pin_length: opt_u64(map.take(1), "newMinPINLength")?,
            min_pin_length_rpids: map
                .take(2)
                .map(|v| text_list(v, "minPinLengthRPIDs"))
                .transpose()?,
            force_change_pin: opt_bool(map.take(3), "forceChangePin")?,
        })
    }
}

/// authenticatorLargeBlobs parameters (§6.10.2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LargeBlobsRequest {
    /// 0x01 get: the number of bytes to read.
    pub get: Option<u64>,
    /// 0x02 set: a fragment to write.
    pub set: Option<Vec<u8>>,
    /// 0x03 offset.
    pub offset: u64,
    /// 0x04 length: the total length, on the first `set`.
    pub length: Option<u64>,
    /// 0x05 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x06 pinUvAuthProtocol.
    pub pin_uv_auth_protocol: Option<u64>,
}

impl CborMessage for LargeBlobsRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with_opt(1, self.get.map(Value::int))
            .with_opt(2, self.set.as_deref().map(Value::bytes))
            .with(3, Value::int(self.offset))
            .with_opt(4, self.length.map(Value::int))
            .with_opt(5, self.pin_uv_auth_param.as_deref().map(Value::bytes))
            .with_opt(6, self.pin_uv_auth_protocol.map(Value::int))
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "largeBlobs parameters")?;
        Ok(Self {
            get: opt_u64(map.take(1), "get")?,
            set: opt_bytes(map.take(2), "set")?,
            offset: map.require(3, "offset")?.to_num("offset")?,
            length: opt_u64(map.take(4), "length")?,
            pin_uv_auth_param: opt_bytes(map.take(5), "pinUvAuthParam")?,
            pin_uv_auth_protocol: opt_u64(map.take(6), "pinUvAuthProtocol")?,
        })
    }
}

/// authenticatorLargeBlobs response: 0x01 config, the fragment read.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct LargeBlobsResponse {
    /// 0x01 config (present on `get`).
    pub config: Option<Vec<u8>>,
}

impl CborMessage for LargeBlobsResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with_opt(1, self.config.as_deref().map(Value::bytes))
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "largeBlobs response")?;
        Ok(Self {
            config: opt_bytes(map.take(1), "config")?,
        })
    }
}
