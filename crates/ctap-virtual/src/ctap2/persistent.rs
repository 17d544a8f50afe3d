//! CTAP 2.2's persistent pinUvAuthToken: a token with only the pcmr permission
//! (persistent credential management read-only) that survives power cycles, so a
//! platform can list credentials later without asking for the PIN again. It allows
//! getCredsMetadata, enumerateRPs and enumerateCredentials, nothing else; a new one
//! replaces the old; a new PIN and authenticatorReset end it.

use std::fmt;

use ctap_types::StatusCode;
use ctap2_proto::pin::{Permissions, PinProtocol, SharedSecret};
use ctap2_proto::{ClientPinResponse, CredMgmtSubCommand};
use zeroize::Zeroizing;

use super::{Ctap2, Result, answer};

/// The persistent token (kept in the state file, which is private).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PersistentToken {
    pub(crate) value: Zeroizing<[u8; 32]>,
    pub(crate) protocol: PinProtocol,
}

impl fmt::Debug for PersistentToken {
    /// Never the token itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistentToken")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Ctap2 {
    /// A token request with the pcmr permission: `Ok(None)` without pcmr (a regular
    /// token follows); pcmr together with any other permission is
    /// CTAP2_ERR_UNAUTHORIZED_PERMISSION (pcmr tokens are read-only by design, so we
    /// refuse the mix rather than grant part of it); otherwise a new persistent token,
    /// encrypted for the platform.
    pub(super) fn persistent_token_request(
        &mut self,
        shared: &SharedSecret,
        protocol: PinProtocol,
        permissions: Permissions,
    ) -> Result<Option<Vec<u8>>> {
        if !permissions.contains(Permissions::PCMR) {
            return Ok(None);
        }
        if permissions != Permissions::PCMR {
            return Err(StatusCode::UNAUTHORIZED_PERMISSION);
        }
        let value = Zeroizing::new(self.rng.array::<32>());
        let encrypted = shared
            .encrypt(value.as_slice(), &mut self.rng)
            .map_err(|e| e.status())?;
        self.state.features.persistent_token = Some(PersistentToken { value, protocol });
        self.dirty = true;
        Ok(Some(answer(&ClientPinResponse {
            pin_uv_auth_token: Some(encrypted),
            ..ClientPinResponse::default()
        })))
    }

    /// Whether `param` over `message` is the persistent token's, for a read-only
    /// credentialManagement subcommand.
    pub(super) fn persistent_token_allows(
        &self,
        sub: CredMgmtSubCommand,
        protocol: Option<u64>,
        param: &[u8],
        message: &[u8],
    ) -> bool {
        let read_only = [
            CredMgmtSubCommand::GET_CREDS_METADATA,
            CredMgmtSubCommand::ENUMERATE_RPS_BEGIN,
            CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
        ];
        let Some(token) = &self.state.features.persistent_token else {
            return false;
        };
        read_only.contains(&sub)
            && protocol.and_then(PinProtocol::from_number) == Some(token.protocol)
            && token
                .protocol
                .verify(token.value.as_slice(), message, param)
    }

    /// A new PIN ends the persistent token.
    pub(super) fn forget_persistent_token(&mut self) {
        if self.state.features.persistent_token.take().is_some() {
            self.dirty = true;
        }
    }
}
