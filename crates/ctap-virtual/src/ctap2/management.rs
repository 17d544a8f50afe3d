//! authenticatorCredentialManagement (§6.8) and authenticatorConfig (§6.11).

use std::time::Instant;

use ctap_types::{ChannelId, StatusCode};
use ctap2_proto::management::{CredentialManagementParams, SetMinPinLengthParams};
use ctap2_proto::pin::Permissions;
use ctap2_proto::{
    ConfigRequest, ConfigSubCommand, CredMgmtSubCommand, CredentialDescriptor,
    CredentialManagementRequest, CredentialManagementResponse, RpEntity,
};

use super::keys::{CredentialId, sha256};
use super::state::Resident;
use super::token::RpScope;
use super::{CONTINUATION_TIMEOUT, Ctap2, Result, answer};
use crate::Config;

/// An enumeration in progress: what getNextRP / getNextCredential return next.
pub(crate) enum Enumeration {
    Rps {
        rps: Vec<RpEntity>,
        next: usize,
        expires: Instant,
    },
    Credentials {
        credentials: Vec<Resident>,
        next: usize,
        expires: Instant,
    },
}

impl Ctap2 {
    pub(super) fn credential_management(
        &mut self,
        now: Instant,
        config: &Config,
        caller: ChannelId,
        request: CredentialManagementRequest,
    ) -> Result<Vec<u8>> {
        let sub = request.sub_command;
        // The "next" subcommands continue an enumeration and carry no auth, so they
        // reach only the enumeration `caller`'s channel started.
        if sub == CredMgmtSubCommand::ENUMERATE_RPS_GET_NEXT_RP
            || sub == CredMgmtSubCommand::ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL
        {
            return self.enumerate_next(now, config, caller, sub);
        }
        let known = [
            CredMgmtSubCommand::GET_CREDS_METADATA,
            CredMgmtSubCommand::ENUMERATE_RPS_BEGIN,
            CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
            CredMgmtSubCommand::DELETE_CREDENTIAL,
            CredMgmtSubCommand::UPDATE_USER_INFORMATION,
        ];
        if !known.contains(&sub) {
            return Err(StatusCode::INVALID_SUBCOMMAND);
        }
        let param = request
            .pin_uv_auth_param
            .as_deref()
            .ok_or(StatusCode::PUAT_REQUIRED)?;
        let params: CredentialManagementParams = request.params().map_err(|e| e.status())?;
        // The permissions RP ID rule of each subcommand: §6.8.2 getCredsMetadata and
        // §6.8.3 enumerateRPsBegin need a token with no permissions RP ID; §6.8.4
        // enumerateCredentialsBegin one whose RP ID matches rpIDHash; §6.8.5 and §6.8.6
        // one whose RP ID matches the credential's (checked once it is found, below).
        let scope = match sub {
            CredMgmtSubCommand::GET_CREDS_METADATA | CredMgmtSubCommand::ENUMERATE_RPS_BEGIN => {
                RpScope::Unscoped
            }
            CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN => RpScope::Hash(
                params
                    .rp_id_hash
                    .as_deref()
                    .ok_or(StatusCode::MISSING_PARAMETER)?,
            ),
            _ => RpScope::Ignored,
        };
        // CTAP 2.2: the persistent pcmr token is good for the read-only subcommands
        // (`persistent.rs`); everything else needs a token with cm.
        if !self.persistent_token_allows(
            sub,
            request.pin_uv_auth_protocol,
            param,
            &request.auth_message(),
        ) {
            self.check_token(
                now,
                request.pin_uv_auth_protocol,
                param,
                &request.auth_message(),
                Permissions::CREDENTIAL_MANAGEMENT,
                scope,
            )?;
        }
        let credential = |params: &CredentialManagementParams| -> Result<Vec<u8>> {
            params
                .credential_id
                .as_ref()
                .map(|d| d.id.clone())
                .ok_or(StatusCode::MISSING_PARAMETER)
        };
        match sub {
            CredMgmtSubCommand::GET_CREDS_METADATA => Ok(answer(&CredentialManagementResponse {
                existing_resident_credentials_count: Some(self.state.credentials.len() as u64),
                max_possible_remaining_resident_credentials_count: Some(
                    config
                        .max_discoverable_credentials
                        .saturating_sub(self.state.credentials.len()) as u64,
                ),
                ..CredentialManagementResponse::default()
            })),
            CredMgmtSubCommand::ENUMERATE_RPS_BEGIN => {
                let mut rps: Vec<RpEntity> = Vec::new();
                for credential in &self.state.credentials {
                    if !rps.iter().any(|rp| rp.id == credential.rp.id) {
                        rps.push(credential.rp.clone());
                    }
                }
                let first = rps.first().ok_or(StatusCode::NO_CREDENTIALS)?;
                let response = rp_response(first, Some(rps.len()));
                let enumeration = Enumeration::Rps {
                    rps,
                    next: 1,
                    expires: now + CONTINUATION_TIMEOUT,
                };
                self.enumerations
                    .put(caller, enumeration, config.max_channels);
                Ok(response)
            }
            CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN => {
                let hash = params
                    .rp_id_hash
                    .as_ref()
                    .ok_or(StatusCode::MISSING_PARAMETER)?;
                let credentials: Vec<Resident> = self
                    .state
                    .credentials
                    .iter()
                    .filter(|c| c.rp_id_hash().as_slice() == hash.as_slice())
                    .cloned()
                    .collect();
                let first = credentials.first().ok_or(StatusCode::NO_CREDENTIALS)?;
                let response = self.credential_response(first, Some(credentials.len()))?;
                let enumeration = Enumeration::Credentials {
                    credentials,
                    next: 1,
                    expires: now + CONTINUATION_TIMEOUT,
                };
                self.enumerations
                    .put(caller, enumeration, config.max_channels);
                Ok(response)
            }
            CredMgmtSubCommand::DELETE_CREDENTIAL => {
                let id = credential(&params)?;
                self.token_reaches_credential(&id)?;
                self.state.credentials.retain(|c| c.id != id);
                self.dirty = true;
                Ok(vec![StatusCode::SUCCESS.to_u8()])
            }
            _ => {
                // updateUserInformation: the user id must stay the same.
                let id = credential(&params)?;
                let mut user = params.user.ok_or(StatusCode::MISSING_PARAMETER)?;
                super::credentials::limit_entities(None, &mut user)?;
                self.token_reaches_credential(&id)?;
                let stored = self
                    .state
                    .credentials
                    .iter_mut()
                    .find(|c| c.id == id)
                    .ok_or(StatusCode::NO_CREDENTIALS)?;
                if stored.user.id != user.id {
                    return Err(StatusCode::INVALID_PARAMETER);
                }
                stored.user = user;
                self.dirty = true;
                Ok(vec![StatusCode::SUCCESS.to_u8()])
            }
        }
    }

    /// §6.8.5 deleteCredential and §6.8.6 updateUserInformation: the stored credential
    /// `id` (NO_CREDENTIALS without one), and a token with a permissions RP ID reaches
    /// only that RP's credentials (PIN_AUTH_INVALID).
    fn token_reaches_credential(&self, id: &[u8]) -> Result<()> {
        let rp_id_hash = self
            .state
            .credentials
            .iter()
            .find(|c| c.id == id)
            .map(Resident::rp_id_hash)
            .ok_or(StatusCode::NO_CREDENTIALS)?;
        match &self.token {
            Some(token) if !token.scope_allows(RpScope::Hash(&rp_id_hash)) => {
                Err(StatusCode::PIN_AUTH_INVALID)
            }
            _ => Ok(()),
        }
    }

    fn enumerate_next(
        &mut self,
        now: Instant,
        config: &Config,
        caller: ChannelId,
        sub: CredMgmtSubCommand,
    ) -> Result<Vec<u8>> {
        let mut enumeration = self
            .enumerations
            .take(caller)
            .ok_or(StatusCode::NOT_ALLOWED)?;
        let response = match (&mut enumeration, sub) {
            (
                Enumeration::Rps { rps, next, expires },
                CredMgmtSubCommand::ENUMERATE_RPS_GET_NEXT_RP,
            ) if *expires > now => {
                let rp = rps.get(*next).ok_or(StatusCode::NOT_ALLOWED)?;
                *next += 1;
                *expires = now + CONTINUATION_TIMEOUT;
                rp_response(rp, None)
            }
            (
                Enumeration::Credentials {
                    credentials,
                    next,
                    expires,
                },
                CredMgmtSubCommand::ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL,
            ) if *expires > now => {
                let credential = credentials
                    .get(*next)
                    .ok_or(StatusCode::NOT_ALLOWED)?
                    .clone();
                *next += 1;
                *expires = now + CONTINUATION_TIMEOUT;
                self.credential_response(&credential, None)?
            }
            _ => return Err(StatusCode::NOT_ALLOWED),
        };
        self.enumerations
            .put(caller, enumeration, config.max_channels);
        Ok(response)
    }

    fn credential_response(&self, credential: &Resident, total: Option<usize>) -> Result<Vec<u8>> {
        let rp_id_hash = credential.rp_id_hash();
        let master = self.state.master.as_slice();
        let header =
            CredentialId::decode(master, &rp_id_hash, &credential.id).ok_or(StatusCode::OTHER)?;
        let key = header
            .signing_key(master, &rp_id_hash)
            .ok_or(StatusCode::OTHER)?;
        let (large_blob_key, third_party_payment) = self.credential_management_extras(credential);
        Ok(answer(&CredentialManagementResponse {
            large_blob_key,
            third_party_payment,
            user: Some(credential.user.clone()),
            credential_id: Some(CredentialDescriptor::public_key(&credential.id)),
            public_key: Some(key.public_key()),
            total_credentials: total.map(|t| t as u64),
            cred_protect: Some(u64::from(header.cred_protect)),
            ..CredentialManagementResponse::default()
        }))
    }

    pub(super) fn config(&mut self, now: Instant, request: ConfigRequest) -> Result<Vec<u8>> {
        let sub = request.sub_command;
        if sub != ConfigSubCommand::TOGGLE_ALWAYS_UV
            && sub != ConfigSubCommand::SET_MIN_PIN_LENGTH
            && !(sub == ConfigSubCommand::ENABLE_ENTERPRISE_ATTESTATION
                && self.enterprise_capable())
        {
            // vendorPrototype is not supported, enableEnterpriseAttestation only when
            // enterprise attestation is configured (`enterprise.rs`).
            return Err(StatusCode::INVALID_SUBCOMMAND);
        }
        // §6.11.1: with a PIN set (or alwaysUv on), the command needs a token with acfg.
        match request.pin_uv_auth_param.as_deref() {
            Some(param) => self.check_token(
                now,
                request.pin_uv_auth_protocol,
                param,
                &request.auth_message(),
                Permissions::AUTHENTICATOR_CONFIG,
                RpScope::Ignored,
            )?,
            None if self.state.pin.is_some() || self.state.always_uv => {
                return Err(StatusCode::PUAT_REQUIRED);
            }
            None => {}
        }
        if sub == ConfigSubCommand::ENABLE_ENTERPRISE_ATTESTATION {
            return self.enable_enterprise_attestation();
        }
        if sub == ConfigSubCommand::TOGGLE_ALWAYS_UV {
            self.state.always_uv = !self.state.always_uv;
            self.dirty = true;
            return Ok(vec![StatusCode::SUCCESS.to_u8()]);
        }
        let params = request
            .sub_command_params
            .clone()
            .map(SetMinPinLengthParams::from_value)
            .transpose()
            .map_err(|e| e.status())?
            .unwrap_or_default();
        let new_min = match params.new_min_pin_length {
            Some(n) => u8::try_from(n).map_err(|_| StatusCode::PIN_POLICY_VIOLATION)?,
            None => self.state.min_pin_length,
        };
        // §6.11.4: the minimum never goes down (only a reset lowers it); the RP list
        // is bounded by maxRPIDsForSetMinPINLength (`features.rs`).
        if new_min < self.state.min_pin_length || usize::from(new_min) > 63 {
            return Err(StatusCode::PIN_POLICY_VIOLATION);
        }
        self.check_min_pin_length_rpids(params.min_pin_length_rpids.as_deref())?;
        if params.force_change_pin == Some(true) && self.state.pin.is_none() {
            return Err(StatusCode::PIN_NOT_SET);
        }
        self.state.min_pin_length = new_min;
        self.store_min_pin_length_rpids(params.min_pin_length_rpids.clone());
        let too_short = self.state.pin.is_some_and(|(_, len)| len < new_min);
        if params.force_change_pin == Some(true) || too_short {
            self.state.force_pin_change = true;
        }
        self.dirty = true;
        Ok(vec![StatusCode::SUCCESS.to_u8()])
    }
}

fn rp_response(rp: &RpEntity, total: Option<usize>) -> Vec<u8> {
    answer(&CredentialManagementResponse {
        rp: Some(rp.clone()),
        rp_id_hash: Some(sha256(rp.id.as_bytes()).to_vec()),
        total_rps: total.map(|t| t as u64),
        ..CredentialManagementResponse::default()
    })
}
