//! authenticatorClientPIN (CTAP 2.1 §6.5.5).

use alloc::{string::String, vec::Vec};

use crate::cbor::{CborMessage, Error, IntMap, MapBuilder, Value};
use crate::cose::CoseKey;
use crate::credentials::{opt_bool, opt_bytes, opt_u64};

crate::codes::sub_command! {
    /// A clientPIN subcommand (CTAP 2.1 §6.5.5, subCommand): an open newtype.
    PinSubCommand {
        /// getPINRetries (CTAP 2.1 §6.5.5.2).
        GET_PIN_RETRIES = 0x01, "getPINRetries";
        /// getKeyAgreement (CTAP 2.1 §6.5.5.4).
        GET_KEY_AGREEMENT = 0x02, "getKeyAgreement";
        /// setPIN (CTAP 2.1 §6.5.5.5).
        SET_PIN = 0x03, "setPIN";
        /// changePIN (CTAP 2.1 §6.5.5.6).
        CHANGE_PIN = 0x04, "changePIN";
        /// getPinToken (CTAP 2.1 §6.5.5.7.1; superseded by 0x09, no permissions).
        GET_PIN_TOKEN = 0x05, "getPinToken";
        /// getPinUvAuthTokenUsingUvWithPermissions (CTAP 2.1 §6.5.5.7.3).
        GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS = 0x06, "getPinUvAuthTokenUsingUvWithPermissions";
        /// getUVRetries (CTAP 2.1 §6.5.5.3).
        GET_UV_RETRIES = 0x07, "getUVRetries";
        /// getPinUvAuthTokenUsingPinWithPermissions (CTAP 2.1 §6.5.5.7.2).
        GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS = 0x09, "getPinUvAuthTokenUsingPinWithPermissions";
    }
}

/// authenticatorClientPIN parameters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ClientPinRequest {
    /// 0x01 pinUvAuthProtocol (required by every subcommand but getPINRetries and
    /// getUVRetries).
    pub pin_uv_auth_protocol: Option<u64>,
    /// 0x02 subCommand.
    pub sub_command: PinSubCommand,
    /// 0x03 keyAgreement: the platform's key.
    pub key_agreement: Option<CoseKey>,
    /// 0x04 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x05 newPinEnc.
    pub new_pin_enc: Option<Vec<u8>>,
    /// 0x06 pinHashEnc.
    pub pin_hash_enc: Option<Vec<u8>>,
    /// 0x09 permissions.
    pub permissions: Option<u8>,
    /// 0x0A rpId.
    pub rp_id: Option<String>,
}

impl ClientPinRequest {
    /// A request with just a subcommand (and protocol).
    #[must_use]
    pub const fn new(sub_command: PinSubCommand, protocol: Option<u64>) -> Self {
        Self {
            pin_uv_auth_protocol: protocol,
            sub_command,
            key_agreement: None,
            pin_uv_auth_param: None,
            new_pin_enc: None,
            pin_hash_enc: None,
            permissions: None,
            rp_id: None,
        }
    }
}

/// authenticatorClientPIN response.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct ClientPinResponse {
    /// 0x01 keyAgreement: the authenticator's key.
    pub key_agreement: Option<CoseKey>,
    /// 0x02 pinUvAuthToken, encrypted.
    pub pin_uv_auth_token: Option<Vec<u8>>,
    /// 0x03 pinRetries.
    pub pin_retries: Option<u64>,
    /// 0x04 powerCycleState.
    pub power_cycle_state: Option<bool>,
    /// 0x05 uvRetries.
    pub uv_retries: Option<u64>,
}

impl CborMessage for ClientPinRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with_opt(1, self.pin_uv_auth_protocol.map(Value::int))
            .with(2, Value::int(self.sub_command.0))
            .with_opt(3, self.key_agreement.as_ref().map(CborMessage::to_value))
            .with_opt(4, self.pin_uv_auth_param.as_deref().map(Value::bytes))
            .with_opt(5, self.new_pin_enc.as_deref().map(Value::bytes))
            .with_opt(6, self.pin_hash_enc.as_deref().map(Value::bytes))
            .with_opt(9, self.permissions.map(Value::int))
            .with_opt(10, self.rp_id.as_deref().map(Value::text))
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "clientPIN parameters")?;
        Ok(Self {
            pin_uv_auth_protocol: opt_u64(map.take(1), "pinUvAuthProtocol")?,
            sub_command: PinSubCommand(map.require(2, "subCommand")?.to_num("subCommand")?),
            key_agreement: map.take(3).map(CoseKey::from_value).transpose()?,
            pin_uv_auth_param: opt_bytes(map.take(4), "pinUvAuthParam")?,
            new_pin_enc: opt_bytes(map.take(5), "newPinEnc")?,
            pin_hash_enc: opt_bytes(map.take(6), "pinHashEnc")?,
            permissions: map.take(9).map(|v| v.to_num("permissions")).transpose()?,
            rp_id: map.take(10).map(|v| v.into_text("rpId")).transpose()?,
        })
    }
}

impl CborMessage for ClientPinResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with_opt(1, self.key_agreement.as_ref().map(CborMessage::to_value))
            .with_opt(2, self.pin_uv_auth_token.as_deref().map(Value::bytes))
            .with_opt(3, self.pin_retries.map(Value::int))
            .with_opt(4, self.power_cycle_state.map(Value::Bool))
            .with_opt(5, self.uv_retries.map(Value::int))
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "clientPIN response")?;
        Ok(Self {
            key_agreement: map.take(1).map(CoseKey::from_value).transpose()?,
            pin_uv_auth_token: opt_bytes(map.take(2), "pinUvAuthToken")?,
            pin_retries: opt_u64(map.take(3), "pinRetries")?,
            power_cycle_state: opt_bool(map.take(4), "powerCycleState")?,
            uv_retries: opt_u64(map.take(5), "uvRetries")?,
        })
    }
}
