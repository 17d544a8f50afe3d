//! authenticatorMakeCredential (CTAP 2.1 §6.1), authenticatorGetAssertion (§6.2) and
//! authenticatorGetNextAssertion (§6.3, no parameters; its response is a
//! [`GetAssertionResponse`]).

use alloc::{string::String, vec::Vec};

use crate::authdata::AuthenticatorData;
use crate::cbor::{CborMessage, Error, IntMap, MapBuilder, Value};
use crate::entities::{
    CredentialDescriptor, CredentialParameters, Extensions, Options, RpEntity, UserEntity,
    extensions_from_value, extensions_to_value, list, text_list, text_list_value,
};

/// authenticatorMakeCredential parameters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MakeCredentialRequest {
    /// 0x01 clientDataHash.
    pub client_data_hash: Vec<u8>,
    /// 0x02 rp.
    pub rp: RpEntity,
    /// 0x03 user.
    pub user: UserEntity,
    /// 0x04 pubKeyCredParams, in the RP's order of preference.
    pub pub_key_cred_params: Vec<CredentialParameters>,
    /// 0x05 excludeList.
    pub exclude_list: Option<Vec<CredentialDescriptor>>,
    /// 0x06 extensions.
    pub extensions: Option<Extensions>,
    /// 0x07 options.
    pub options: Option<Options>,
    /// 0x08 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x09 pinUvAuthProtocol.
    pub pin_uv_auth_protocol: Option<u64>,
    /// 0x0A enterpriseAttestation.
    pub enterprise_attestation: Option<u64>,
    /// 0x0B attestationFormatsPreference (CTAP 2.2).
    pub attestation_formats_preference: Option<Vec<String>>,
}

/// authenticatorMakeCredential response.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MakeCredentialResponse {
    /// 0x01 fmt: "packed", "none", ...
    pub fmt: String,
    /// 0x02 authData, as signed (see [`auth_data`](Self::auth_data) to parse it).
    pub auth_data: Vec<u8>,
    /// 0x03 attStmt (a map; its shape depends on `fmt`).
    pub att_stmt: Value,
    /// 0x04 epAtt.
    pub ep_att: Option<bool>,
    /// 0x05 largeBlobKey.
    pub large_blob_key: Option<Vec<u8>>,
    /// 0x06 unsignedExtensionOutputs (CTAP 2.2).
    pub unsigned_extension_outputs: Option<Value>,
}

/// authenticatorGetAssertion parameters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GetAssertionRequest {
    /// 0x01 rpId.
    pub rp_id: String,
    /// 0x02 clientDataHash.
    pub client_data_hash: Vec<u8>,
    /// 0x03 allowList.
    pub allow_list: Option<Vec<CredentialDescriptor>>,
    /// 0x04 extensions.
    pub extensions: Option<Extensions>,
    /// 0x05 options.
    pub options: Option<Options>,
    /// 0x06 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x07 pinUvAuthProtocol.
    pub pin_uv_auth_protocol: Option<u64>,
}

/// authenticatorGetAssertion / authenticatorGetNextAssertion response.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GetAssertionResponse {
    /// 0x01 credential.
    pub credential: Option<CredentialDescriptor>,
    /// 0x02 authData, as signed.
    pub auth_data: Vec<u8>,
    /// 0x03 signature over authData || clientDataHash.
    pub signature: Vec<u8>,
    /// 0x04 user.
    pub user: Option<UserEntity>,
    /// 0x05 numberOfCredentials (first response only).
    pub number_of_credentials: Option<u32>,
    /// 0x06 userSelected.
    pub user_selected: Option<bool>,
    /// 0x07 largeBlobKey.
    pub large_blob_key: Option<Vec<u8>>,
    /// 0x08 unsignedExtensionOutputs (CTAP 2.2).
    pub unsigned_extension_outputs: Option<Value>,
}

pub(crate) fn opt_u64(value: Option<Value>, what: &'static str) -> Result<Option<u64>, Error> {
    value.map(|v| v.to_num(what)).transpose()
}

pub(crate) fn opt_bytes(
    value: Option<Value>,
    what: &'static str,
) -> Result<Option<Vec<u8>>, Error> {
    value.map(|v| v.into_bytes(what)).transpose()
}

pub(crate) fn opt_bool(value: Option<Value>, what: &'static str) -> Result<Option<bool>, Error> {
    value.map(|v| v.as_bool(what)).transpose()
}

fn descriptors(
    list_value: Option<Value>,
    what: &'static str,
) -> Result<Option<Vec<CredentialDescriptor>>, Error> {
    list_value
        .map(|v| list(v, what, CredentialDescriptor::from_value))
        .transpose()
}

fn descriptors_value(list: Option<&Vec<CredentialDescriptor>>) -> Option<Value> {
    list.map(|l| Value::Array(l.iter().map(CredentialDescriptor::to_value).collect()))
}

impl CborMessage for MakeCredentialRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with(1, Value::bytes(&self.client_data_hash))
            .with(2, self.rp.to_value())
            .with(3, self.user.to_value())
            .with(
                4,
                Value::Array(
                    self.pub_key_cred_params
                        .iter()
                        .map(CredentialParameters::to_value)
                        .collect(),
                ),
            )
            .with_opt(5, descriptors_value(self.exclude_list.as_ref()))
            .with_opt(6, self.extensions.as_ref().map(extensions_to_value))
            .with_opt(7, self.options.as_ref().map(Options::to_value))
            .with_opt(8, self.pin_uv_auth_param.as_deref().map(Value::bytes))
            .with_opt(9, self.pin_uv_auth_protocol.map(Value::int))
            .with_opt(10, self.enterprise_attestation.map(Value::int))
            .with_opt(
                11,
                self.attestation_formats_preference
                    .as_deref()
                    .map(text_list_value),
            )
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "makeCredential parameters")?;
        Ok(Self {
            client_data_hash: map
                .require(1, "clientDataHash")?
                .into_bytes("clientDataHash")?,
            rp: RpEntity::from_value(map.require(2, "rp")?)?,
            user: UserEntity::from_value(map.require(3, "user")?)?,
            pub_key_cred_params: list(
                map.require(4, "pubKeyCredParams")?,
                "pubKeyCredParams",
                CredentialParameters::from_value,
            )?,
            exclude_list: descriptors(map.take(5), "excludeList")?,
            extensions: map.take(6).map(extensions_from_value).transpose()?,
            options: map.take(7).map(Options::from_value).transpose()?,
            pin_uv_auth_param: opt_bytes(map.take(8), "pinUvAuthParam")?,
            pin_uv_auth_protocol: opt_u64(map.take(9), "pinUvAuthProtocol")?,
            enterprise_attestation: opt_u64(map.take(10), "enterpriseAttestation")?,
            attestation_formats_preference: map
                .take(11)
                .map(|v| text_list(v, "attestationFormatsPreference"))
                .transpose()?,
        })
    }
}

impl MakeCredentialResponse {
    /// The parsed authenticator data.
    ///
    /// # Errors
    /// As [`AuthenticatorData::from_bytes`].
    pub fn auth_data(&self) -> Result<AuthenticatorData, Error> {
        AuthenticatorData::from_bytes(&self.auth_data)
    }
}

impl CborMessage for MakeCredentialResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with(1, Value::text(&self.fmt))
            .with(2, Value::bytes(&self.auth_data))
            .with(3, self.att_stmt.clone())
            .with_opt(4, self.ep_att.map(Value::Bool))
            .with_opt(5, self.large_blob_key.as_deref().map(Value::bytes))
            .with_opt(6, self.unsigned_extension_outputs.clone())
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "makeCredential response")?;
        let att_stmt = map.require(3, "attStmt")?;
        if !matches!(att_stmt, Value::Map(_)) {
            return Err(Error::UnexpectedType("attStmt"));
        }
        Ok(Self {
            fmt: map.require(1, "fmt")?.into_text("fmt")?,
            auth_data: map.require(2, "authData")?.into_bytes("authData")?,
            att_stmt,
            ep_att: opt_bool(map.take(4), "epAtt")?,
            large_blob_key: opt_bytes(map.take(5), "largeBlobKey")?,
            unsigned_extension_outputs: map.take(6),
        })
    }
}

impl CborMessage for GetAssertionRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with(1, Value::text(&self.rp_id))
            .with(2, Value::bytes(&self.client_data_hash))
            .with_opt(3, descriptors_value(self.allow_list.as_ref()))
            .with_opt(4, self.extensions.as_ref().map(extensions_to_value))
            .with_opt(5, self.options.as_ref().map(Options::to_value))
            .with_opt(6, self.pin_uv_auth_param.as_deref().map(Value::bytes))
            .with_opt(7, self.pin_uv_auth_protocol.map(Value::int))
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "getAssertion parameters")?;
        Ok(Self {
            rp_id: map.require(1, "rpId")?.into_text("rpId")?,
            client_data_hash: map
                .require(2, "clientDataHash")?
                .into_bytes("clientDataHash")?,
            allow_list: descriptors(map.take(3), "allowList")?,
            extensions: map.take(4).map(extensions_from_value).transpose()?,
            options: map.take(5).map(Options::from_value).transpose()?,
            pin_uv_auth_param: opt_bytes(map.take(6), "pinUvAuthParam")?,
            pin_uv_auth_protocol: opt_u64(map.take(7), "pinUvAuthProtocol")?,
        })
    }
}

impl GetAssertionResponse {
    /// The parsed authenticator data.
    ///
    /// # Errors
    /// As [`AuthenticatorData::from_bytes`].
    pub fn auth_data(&self) -> Result<AuthenticatorData, Error> {
        AuthenticatorData::from_bytes(&self.auth_data)
    }
}

impl CborMessage for GetAssertionResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with_opt(
                1,
                self.credential.as_ref().map(CredentialDescriptor::to_value),
            )
            .with(2, Value::bytes(&self.auth_data))
            .with(3, Value::bytes(&self.signature))
            .with_opt(4, self.user.as_ref().map(UserEntity::to_value))
            .with_opt(5, self.number_of_credentials.map(Value::int))
            .with_opt(6, self.user_selected.map(Value::Bool))
            .with_opt(7, self.large_blob_key.as_deref().map(Value::bytes))
            .with_opt(8, self.unsigned_extension_outputs.clone())
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "getAssertion response")?;
        Ok(Self {
            credential: map
                .take(1)
                .map(CredentialDescriptor::from_value)
                .transpose()?,
            auth_data: map.require(2, "authData")?.into_bytes("authData")?,
            signature: map.require(3, "signature")?.into_bytes("signature")?,
            user: map.take(4).map(UserEntity::from_value).transpose()?,
            number_of_credentials: map
                .take(5)
                .map(|v| v.to_num("numberOfCredentials"))
                .transpose()?,
            user_selected: opt_bool(map.take(6), "userSelected")?,
            large_blob_key: opt_bytes(map.take(7), "largeBlobKey")?,
            unsigned_extension_outputs: map.take(8),
        })
    }
}
