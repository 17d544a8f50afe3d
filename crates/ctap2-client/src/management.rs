//! `CredentialManagement`, `Config` and `LargeBlobs` (python-fido2's
//! `fido2.ctap2.CredentialManagement`, `Config` and `LargeBlobs`).

use ctap_device::CtapDevice;
use ctap_types::StatusCode;
use ctap2_proto::cbor::Value;
use ctap2_proto::management::{CredentialManagementParams, SetMinPinLengthParams};
use ctap2_proto::{
    ConfigRequest, ConfigSubCommand, CoseKey, CredMgmtSubCommand, CredentialDescriptor,
    CredentialManagementRequest, CredentialManagementResponse, LargeBlobsRequest, RpEntity,
    UserEntity,
};
use sha2::{Digest as _, Sha256};

use crate::{Ctap2, Error, PinToken, Result};

/// getCredsMetadata's answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CredentialsMetadata {
    /// Discoverable credentials stored.
    pub existing: u64,
    /// How many more fit (at most).
    pub remaining: u64,
}

/// One RP with discoverable credentials.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RpInfo {
    /// The RP (its id, maybe its name).
    pub rp: RpEntity,
    /// SHA-256 of its id.
    pub rp_id_hash: Vec<u8>,
}

/// One discoverable credential.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CredentialInfo {
    /// The user.
    pub user: UserEntity,
    /// The credential id.
    pub credential_id: CredentialDescriptor,
    /// Its public key.
    pub public_key: CoseKey,
    /// The credProtect level, if any.
    pub cred_protect: Option<u64>,
    /// Its largeBlobKey, if any.
    pub large_blob_key: Option<Vec<u8>>,
}

/// authenticatorCredentialManagement with a pinUvAuthToken that has the
/// credentialManagement permission.
#[derive(Debug)]
pub struct CredentialManagement<'c, D> {
    ctap: &'c mut Ctap2<D>,
    token: PinToken,
}

impl<'c, D: CtapDevice> CredentialManagement<'c, D> {
    /// Credential management with `token`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] without the `credMgmt` (or `credentialMgmtPreview`)
    /// option.
    pub fn new(ctap: &'c mut Ctap2<D>, token: PinToken) -> Result<Self> {
        if !Self::is_supported(ctap.info()) {
            return Err(Error::Unsupported("credential management".into()));
        }
        Ok(Self { ctap, token })
    }

    /// Whether the authenticator has credential management.
    #[must_use]
    pub fn is_supported(info: &ctap2_proto::Info) -> bool {
        info.option("credMgmt") == Some(true) || info.option("credentialMgmtPreview") == Some(true)
    }

    /// getCredsMetadata.
    ///
    /// # Errors
    /// As [`Ctap2::credential_management`]; [`Error::InvalidResponse`] if a count is
    /// missing.
    pub fn get_metadata(&mut self) -> Result<CredentialsMetadata> {
        let response = self.call(CredMgmtSubCommand::GET_CREDS_METADATA, None, true)?;
        Ok(CredentialsMetadata {
            existing: response
                .existing_resident_credentials_count
                .ok_or_else(|| missing("existingResidentCredentialsCount"))?,
            remaining: response
                .max_possible_remaining_resident_credentials_count
                .ok_or_else(|| missing("maxPossibleRemainingResidentCredentialsCount"))?,
        })
    }

    /// enumerateRPsBegin / getNextRP: every RP with discoverable credentials (none:
    /// an empty list, also when the authenticator says `NO_CREDENTIALS`).
    ///
    /// # Errors
    /// As [`Ctap2::credential_management`].
    pub fn enumerate_rps(&mut self) -> Result<Vec<RpInfo>> {
        let first = match self.call(CredMgmtSubCommand::ENUMERATE_RPS_BEGIN, None, true) {
            Err(error) if error.status() == Some(StatusCode::NO_CREDENTIALS) => {
                return Ok(Vec::new());
            }
            other => other?,
        };
        let total = first.total_rps.unwrap_or(0);
        let mut rps = Vec::new();
        let mut next = Some(first);
        for _ in 0..total {
            let response = match next.take() {
                Some(response) => response,
                None => self.call(CredMgmtSubCommand::ENUMERATE_RPS_GET_NEXT_RP, None, false)?,
            };
            rps.push(RpInfo {
                rp: response.rp.ok_or_else(|| missing("rp"))?,
                rp_id_hash: response.rp_id_hash.ok_or_else(|| missing("rpIDHash"))?,
            });
        }
        Ok(rps)
    }

    /// enumerateCredentialsBegin / getNextCredential: the discoverable credentials of
    /// the RP whose id hashes to `rp_id_hash` (none: an empty list).
    ///
    /// # Errors
    /// As [`Ctap2::credential_management`].
    pub fn enumerate_creds(&mut self, rp_id_hash: &[u8]) -> Result<Vec<CredentialInfo>> {
        let params = CredentialManagementParams {
            rp_id_hash: Some(rp_id_hash.to_vec()),
            ..CredentialManagementParams::default()
        };
        let first = match self.call(
            CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
            Some(params.to_value()),
            true,
        ) {
            Err(error) if error.status() == Some(StatusCode::NO_CREDENTIALS) => {
                return Ok(Vec::new());
            }
            other => other?,
        };
        let total = first.total_credentials.unwrap_or(0);
        let mut creds = Vec::new();
        let mut next = Some(first);
        for _ in 0..total {
            let response = match next.take() {
                Some(response) => response,
                None => self.call(
                    CredMgmtSubCommand::ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL,
                    None,
                    false,
                )?,
            };
            creds.push(CredentialInfo {
                user: response.user.ok_or_else(|| missing("user"))?,
                credential_id: response
                    .credential_id
                    .ok_or_else(|| missing("credentialID"))?,
                public_key: response.public_key.ok_or_else(|| missing("publicKey"))?,
                cred_protect: response.cred_protect,
                large_blob_key: response.large_blob_key,
            });
        }
        Ok(creds)
    }

    /// deleteCredential.
    ///
    /// # Errors
    /// As [`Ctap2::credential_management`]; `NO_CREDENTIALS` for an unknown id.
    pub fn delete_cred(&mut self, credential_id: &CredentialDescriptor) -> Result<()> {
        let params = CredentialManagementParams {
            credential_id: Some(credential_id.clone()),
            ..CredentialManagementParams::default()
        };
        self.call(
            CredMgmtSubCommand::DELETE_CREDENTIAL,
            Some(params.to_value()),
            true,
        )
        .map(drop)
    }

    /// updateUserInformation.
    ///
    /// # Errors
    /// As [`Ctap2::credential_management`].
    pub fn update_user_info(
        &mut self,
        credential_id: &CredentialDescriptor,
        user: &UserEntity,
    ) -> Result<()> {
        let params = CredentialManagementParams {
            credential_id: Some(credential_id.clone()),
            user: Some(user.clone()),
            ..CredentialManagementParams::default()
        };
        self.call(
            CredMgmtSubCommand::UPDATE_USER_INFORMATION,
            Some(params.to_value()),
            true,
        )
        .map(drop)
    }

    fn call(
        &mut self,
        sub_command: CredMgmtSubCommand,
        params: Option<Value>,
        authenticated: bool,
    ) -> Result<CredentialManagementResponse> {
        let mut request = CredentialManagementRequest {
            sub_command,
            sub_command_params: params,
            pin_uv_auth_protocol: None,
            pin_uv_auth_param: None,
        };
        if authenticated {
            request.pin_uv_auth_param = Some(self.token.authenticate(&request.auth_message()));
            request.pin_uv_auth_protocol = Some(u64::from(self.token.protocol().number()));
        }
        self.ctap.credential_management(&request)
    }
}

fn missing(what: &'static str) -> Error {
    Error::response("authenticatorCredentialManagement")(ctap2_proto::Error::MissingParameter(what))
}

/// authenticatorConfig, with a pinUvAuthToken that has the authenticatorConfig
/// permission (or none, on an authenticator without a PIN).
#[derive(Debug)]
pub struct Config<'c, D> {
    ctap: &'c mut Ctap2<D>,
    token: Option<PinToken>,
}

impl<'c, D: CtapDevice> Config<'c, D> {
    /// authenticatorConfig with `token`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] without the `authnrCfg` option.
    pub fn new(ctap: &'c mut Ctap2<D>, token: Option<PinToken>) -> Result<Self> {
        if !Self::is_supported(ctap.info()) {
            return Err(Error::Unsupported("authenticatorConfig".into()));
        }
        Ok(Self { ctap, token })
    }

    /// Whether the authenticator has authenticatorConfig.
    #[must_use]
    pub fn is_supported(info: &ctap2_proto::Info) -> bool {
        info.option("authnrCfg") == Some(true)
    }

    /// enableEnterpriseAttestation.
    ///
    /// # Errors
    /// As [`Ctap2::config`].
    pub fn enable_enterprise_attestation(&mut self) -> Result<()> {
        self.call(ConfigSubCommand::ENABLE_ENTERPRISE_ATTESTATION, None)
    }

    /// toggleAlwaysUv: flips the `alwaysUv` option.
    ///
    /// # Errors
    /// As [`Ctap2::config`].
    pub fn toggle_always_uv(&mut self) -> Result<()> {
        self.call(ConfigSubCommand::TOGGLE_ALWAYS_UV, None)
    }

    /// setMinPINLength: a new minimum PIN length (it can only grow), the RPs that may
    /// read it, whether the PIN must be changed.
    ///
    /// # Errors
    /// As [`Ctap2::config`]; `PIN_POLICY_VIOLATION` when shrinking.
    pub fn set_min_pin_length(
        &mut self,
        min_pin_length: Option<u64>,
        rp_ids: Option<Vec<String>>,
        force_change_pin: Option<bool>,
    ) -> Result<()> {
        let params = SetMinPinLengthParams {
            new_min_pin_length: min_pin_length,
            min_pin_length_rpids: rp_ids,
            force_change_pin,
        };
        self.call(
            ConfigSubCommand::SET_MIN_PIN_LENGTH,
            Some(params.to_value()),
        )
    }

    fn call(&mut self, sub_command: ConfigSubCommand, params: Option<Value>) -> Result<()> {
        let mut request = ConfigRequest {
            sub_command,
            sub_command_params: params,
            pin_uv_auth_protocol: None,
            pin_uv_auth_param: None,
        };
        if let Some(token) = &self.token {
            request.pin_uv_auth_param = Some(token.authenticate(&request.auth_message()));
            request.pin_uv_auth_protocol = Some(u64::from(token.protocol().number()));
        }
        self.ctap.config(&request)
    }
}

/// The serialized large-blob array (CTAP 2.1 §6.10): read and written whole, in
/// fragments of `maxMsgSize - 64` bytes, with its 16-byte SHA-256 checksum.
#[derive(Debug)]
pub struct LargeBlobs<'c, D> {
    ctap: &'c mut Ctap2<D>,
    token: Option<PinToken>,
    max_fragment: usize,
}

/// The length of the serialized array's checksum: `LEFT(SHA-256(array), 16)`.
const CHECKSUM_LEN: usize = 16;

impl<'c, D: CtapDevice> LargeBlobs<'c, D> {
    /// Large blobs; `token` (with the largeBlobWrite permission) is needed to write.
    ///
    /// # Errors
    /// [`Error::Unsupported`] without the `largeBlobs` option.
    pub fn new(ctap: &'c mut Ctap2<D>, token: Option<PinToken>) -> Result<Self> {
        if ctap.info().option("largeBlobs") != Some(true) {
            return Err(Error::Unsupported("large blobs".into()));
        }
        let max_msg = ctap.info().max_msg_size.unwrap_or(1024);
        let max_fragment = usize::try_from(max_msg.saturating_sub(64))
            .unwrap_or(usize::MAX)
            .max(1);
        Ok(Self {
            ctap,
            token,
            max_fragment,
        })
    }

    /// The client this works through (for `large_blob.rs`).
    pub(crate) fn ctap(&mut self) -> &mut Ctap2<D> {
        self.ctap
    }

    /// The serialized array's bytes (the CBOR array and its checksum), read whole.
    ///
    /// # Errors
    /// As [`Ctap2::large_blobs`]; [`Error::InvalidResponse`] for a fragment longer than
    /// asked for, or an array longer than the authenticator's
    /// maxSerializedLargeBlobArray (at most
    /// [`MAX_LARGE_BLOB_ARRAY`](crate::MAX_LARGE_BLOB_ARRAY)): memory stays bounded
    /// whatever the authenticator sends.
    pub fn read_serialized(&mut self) -> Result<Vec<u8>> {
        let limit = crate::large_blob::read_limit(self.ctap.info());
        let mut data = Vec::new();
        loop {
            let request = LargeBlobsRequest {
                get: Some(self.max_fragment as u64),
                set: None,
                offset: data.len() as u64,
                length: None,
                pin_uv_auth_param: None,
                pin_uv_auth_protocol: None,
            };
            let fragment = self
                .ctap
                .large_blobs(&request)?
                .config
                .ok_or_else(|| blob_error(ctap2_proto::Error::MissingParameter("config")))?;
            if fragment.len() > self.max_fragment {
                return Err(blob_error(ctap2_proto::Error::InvalidLength(
                    "fragment longer than asked for",
                )));
            }
            let last = fragment.len() < self.max_fragment;
            if data.len().saturating_add(fragment.len()) > limit {
                return Err(blob_error(ctap2_proto::Error::InvalidLength(
                    "large-blob array longer than maxSerializedLargeBlobArray",
                )));
            }
            data.extend_from_slice(&fragment);
            if last {
                return Ok(data);
            }
        }
    }

    /// The large-blob array: its entries as CBOR values. A checksum that does not match
    /// means the array is treated as empty (§6.10.3), as python-fido2 does.
    ///
    /// # Errors
    /// As [`read_serialized`](Self::read_serialized); [`Error::InvalidResponse`] when
    /// the checksummed bytes are not a CBOR array.
    pub fn read_blob_array(&mut self) -> Result<Vec<Value>> {
        let data = self.read_serialized()?;
        let Some(split) = data.len().checked_sub(CHECKSUM_LEN) else {
            return Ok(Vec::new());
        };
        let (array, checksum) = data.split_at(split);
        if Sha256::digest(array).get(..CHECKSUM_LEN) != Some(checksum) {
            return Ok(Vec::new());
        }
        // Written by whichever platform stored it: read as responses are (relaxed).
        Value::from_slice_with(array, ctap2_proto::DecodeMode::Relaxed)
            .and_then(|v| v.into_array("large-blob array"))
            .map_err(blob_error)
    }

    /// Writes `entries` as the whole large-blob array.
    ///
    /// # Errors
    /// As [`Ctap2::large_blobs`]; `LARGE_BLOB_STORAGE_FULL`, `PUAT_REQUIRED` without a
    /// token.
    pub fn write_blob_array(&mut self, entries: &[Value]) -> Result<()> {
        let mut data = Value::Array(entries.to_vec()).to_vec();
        let checksum = Sha256::digest(&data);
        data.extend_from_slice(checksum.get(..CHECKSUM_LEN).unwrap_or_default());
        let total = data.len();
        let mut offset = 0;
        for chunk in data.chunks(self.max_fragment) {
            let mut request = LargeBlobsRequest {
                get: None,
                set: Some(chunk.to_vec()),
                offset: offset as u64,
                length: (offset == 0).then_some(total as u64),
                pin_uv_auth_param: None,
                pin_uv_auth_protocol: None,
            };
            if let Some(token) = &self.token {
                // §6.10.2: 32 × 0xff || h'0c00' || uint32LE(offset) || SHA-256(set).
                let mut message = vec![0xFF; 32];
                message.extend_from_slice(&[0x0C, 0x00]);
                message.extend_from_slice(&u32::try_from(offset).unwrap_or(u32::MAX).to_le_bytes());
                message.extend_from_slice(&Sha256::digest(chunk));
                request.pin_uv_auth_param = Some(token.authenticate(&message));
                request.pin_uv_auth_protocol = Some(u64::from(token.protocol().number()));
            }
            self.ctap.large_blobs(&request)?;
            offset += chunk.len();
        }
        Ok(())
    }
}

fn blob_error(error: ctap2_proto::Error) -> Error {
    Error::response("authenticatorLargeBlobs")(error)
}
