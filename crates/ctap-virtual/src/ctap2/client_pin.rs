//! authenticatorClientPIN (§6.5.5) with PIN/UV auth protocols one and two.

use std::time::Instant;

use ctap_types::{ChannelId, StatusCode};
use ctap2_proto::pin::{Permissions, SharedSecret};
use ctap2_proto::{ClientPinRequest, ClientPinResponse, PinSubCommand};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::keys::sha256;
use super::state::MAX_PIN_RETRIES;
use super::token::Token;
use super::{Ctap2, Result, answer};

/// Wrong PINs in one power cycle before PIN_AUTH_BLOCKED (§6.5.5.5).
pub(crate) const PIN_FAILURES_PER_POWER_CYCLE: u8 = 3;
/// The longest PIN in bytes (§6.5.5.5: 63).
const MAX_PIN_BYTES: usize = 63;
/// The permissions CTAP 2.1/2.2 define: mc, ga, cm, be, lbw, acfg, pcmr (§6.5.5.7).
const DEFINED_PERMISSIONS: u8 = Permissions::MAKE_CREDENTIAL.0
    | Permissions::GET_ASSERTION.0
    | Permissions::CREDENTIAL_MANAGEMENT.0
    | Permissions::BIO_ENROLLMENT.0
    | Permissions::LARGE_BLOB_WRITE.0
    | Permissions::AUTHENTICATOR_CONFIG.0
    | Permissions::PCMR.0;
/// Permissions this authenticator can grant: mc, ga, cm, acfg (no bio, no large blobs).
pub(super) const SUPPORTED_PERMISSIONS: u8 = Permissions::MAKE_CREDENTIAL.0
    | Permissions::GET_ASSERTION.0
    | Permissions::CREDENTIAL_MANAGEMENT.0
    | Permissions::AUTHENTICATOR_CONFIG.0;

impl Ctap2 {
    pub(super) fn client_pin(
        &mut self,
        now: Instant,
        caller: ChannelId,
        request: ClientPinRequest,
    ) -> Result<Vec<u8>> {
        let sub = request.sub_command;
        if sub == PinSubCommand::GET_PIN_RETRIES {
            // §6.5.5.2 says nothing about a PIN not set; the widely deployed keys
            // answer PIN_NOT_SET (what the conformance suites of issue 22 expect), and
            // clients read getInfo's clientPin first.
            if self.state.pin.is_none() {
                return Err(StatusCode::PIN_NOT_SET);
            }
            return Ok(answer(&ClientPinResponse {
                pin_retries: Some(u64::from(self.state.pin_retries)),
                power_cycle_state: Some(
                    self.pin_failures_since_power_up >= PIN_FAILURES_PER_POWER_CYCLE,
                ),
                ..ClientPinResponse::default()
            }));
        }
        // No built-in user verification: its subcommands do not exist here.
        if sub == PinSubCommand::GET_UV_RETRIES
            || sub == PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS
        {
            return Err(StatusCode::INVALID_SUBCOMMAND);
        }
        let known = [
            PinSubCommand::GET_KEY_AGREEMENT,
            PinSubCommand::SET_PIN,
            PinSubCommand::CHANGE_PIN,
            PinSubCommand::GET_PIN_TOKEN,
            PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS,
        ];
        if !known.contains(&sub) {
            return Err(StatusCode::INVALID_SUBCOMMAND);
        }
        // Step 1 of §6.5.5.5 to §6.5.5.7.2: "If the authenticator does not receive
        // mandatory parameters for this command, it returns CTAP2_ERR_MISSING_PARAMETER",
        // before step 2's protocol check (INVALID_PARAMETER).
        let missing = match sub {
            PinSubCommand::SET_PIN => {
                request.pin_uv_auth_param.is_none() || request.new_pin_enc.is_none()
            }
            PinSubCommand::CHANGE_PIN => {
                request.pin_uv_auth_param.is_none()
                    || request.new_pin_enc.is_none()
                    || request.pin_hash_enc.is_none()
            }
            PinSubCommand::GET_PIN_TOKEN => request.pin_hash_enc.is_none(),
            PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS => {
                request.pin_hash_enc.is_none() || request.permissions.is_none()
            }
            _ => false,
        };
        if missing || (sub != PinSubCommand::GET_KEY_AGREEMENT && request.key_agreement.is_none()) {
            return Err(StatusCode::MISSING_PARAMETER);
        }
        let protocol = super::protocol(request.pin_uv_auth_protocol)?;
        if sub == PinSubCommand::GET_KEY_AGREEMENT {
            return Ok(answer(&ClientPinResponse {
                key_agreement: Some(self.key_agreement.public_key()),
                ..ClientPinResponse::default()
            }));
        }
        let peer = request
            .key_agreement
            .as_ref()
            .ok_or(StatusCode::MISSING_PARAMETER)?;
        match sub {
            PinSubCommand::SET_PIN => {
                let (Some(param), Some(new_pin_enc)) =
                    (&request.pin_uv_auth_param, &request.new_pin_enc)
                else {
                    return Err(StatusCode::MISSING_PARAMETER);
                };
                // §6.5.5.5 step 3: "If a PIN has already been set, authenticator
                // returns CTAP2_ERR_PIN_AUTH_INVALID error" (OpenSK too).
                if self.state.pin.is_some() {
                    return Err(StatusCode::PIN_AUTH_INVALID);
                }
                let shared = self.decapsulate(protocol, peer)?;
                if !shared.verify(new_pin_enc, param) {
                    return Err(StatusCode::PIN_AUTH_INVALID);
                }
                self.store_new_pin(&shared, new_pin_enc, false)?;
                Ok(vec![StatusCode::SUCCESS.to_u8()])
            }
            PinSubCommand::CHANGE_PIN => {
                let (Some(param), Some(new_pin_enc), Some(pin_hash_enc)) = (
                    &request.pin_uv_auth_param,
                    &request.new_pin_enc,
                    &request.pin_hash_enc,
                ) else {
                    return Err(StatusCode::MISSING_PARAMETER);
                };
                self.pin_usable()?;
                let shared = self.decapsulate(protocol, peer)?;
                let message = [new_pin_enc.as_slice(), pin_hash_enc].concat();
                if !shared.verify(&message, param) {
                    return Err(StatusCode::PIN_AUTH_INVALID);
                }
                self.check_pin_hash(&shared, pin_hash_enc)?;
                // §6.5.5.6: while forcePINChange is set the new PIN must differ from
                // the current one.
                let forced = self.state.force_pin_change;
                self.store_new_pin(&shared, new_pin_enc, forced)?;
                Ok(vec![StatusCode::SUCCESS.to_u8()])
            }
            _ => {
                // getPinToken (0x05) or getPinUvAuthTokenUsingPinWithPermissions (0x09).
                let pin_hash_enc = request
                    .pin_hash_enc
                    .as_ref()
                    .ok_or(StatusCode::MISSING_PARAMETER)?;
                let with_permissions =
                    sub == PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS;
                let permissions = if with_permissions {
                    let permissions = request.permissions.ok_or(StatusCode::MISSING_PARAMETER)?;
                    // §6.5.5.7.2 steps 3 and 4, before the PIN is checked.
                    self.grantable(permissions)?
                } else {
                    // §6.5.5.7.1: getPinToken takes neither permissions nor an rpId and
                    // grants mc and ga.
                    if request.permissions.is_some() || request.rp_id.is_some() {
                        return Err(StatusCode::INVALID_PARAMETER);
                    }
                    Permissions(Permissions::MAKE_CREDENTIAL.0 | Permissions::GET_ASSERTION.0)
                };
                self.pin_usable()?;
                let shared = self.decapsulate(protocol, peer)?;
                self.check_pin_hash(&shared, pin_hash_enc)?;
                // After the PIN check (which reset the retries): getPinToken answers
                // PIN_INVALID (§6.5.5.7.1), the permissions form PIN_POLICY_VIOLATION
                // (§6.5.5.7.2), until changePIN clears forcePINChange.
                if self.state.force_pin_change {
                    return Err(if with_permissions {
                        StatusCode::PIN_POLICY_VIOLATION
                    } else {
                        StatusCode::PIN_INVALID
                    });
                }
                // CTAP 2.2 pcmr: the persistent token instead (`persistent.rs`).
                if let Some(answer) =
                    self.persistent_token_request(&shared, protocol, permissions)?
                {
                    return Ok(answer);
                }
                let value: [u8; 32] = self.rng.array();
                let encrypted = shared
                    .encrypt(&value, &mut self.rng)
                    .map_err(|e| e.status())?;
                // resetPinUvAuthToken (the previous token is gone), then
                // beginUsingPinUvAuthToken(userIsPresent: false) (§6.5.5.7.1 step 13,
                // §6.5.5.7.2: a PIN is no evidence of presence), with the initial usage
                // time limit of the caller's transport (§6.5.2.1), the permissions and
                // the permissions RP ID of the request.
                let begin = self.begin(now, caller, false);
                self.token = Some(Token::begin_using(
                    value,
                    protocol,
                    permissions,
                    request.rp_id.filter(|_| with_permissions),
                    begin,
                ));
                Ok(answer(&ClientPinResponse {
                    pin_uv_auth_token: Some(encrypted),
                    ..ClientPinResponse::default()
                }))
            }
        }
    }

    /// Steps 3 and 4 of §6.5.5.7.2 (and §6.5.5.7.3) for a requested permissions
    /// value: 0 is INVALID_PARAMETER; a defined permission this authenticator cannot
    /// grant now (be without a sensor, lbw with large blobs off; pcmr together with
    /// any other) is UNAUTHORIZED_PERMISSION; "Undefined permissions present in the
    /// permissions parameter are ignored" (and not assigned, step 15: "ignoring any
    /// undefined permissions").
    pub(super) fn grantable(&self, permissions: u8) -> Result<Permissions> {
        if permissions == 0 {
            return Err(StatusCode::INVALID_PARAMETER);
        }
        let requested = permissions & DEFINED_PERMISSIONS;
        if requested & !(SUPPORTED_PERMISSIONS | self.feature_permissions()) != 0 {
            return Err(StatusCode::UNAUTHORIZED_PERMISSION);
        }
        // "pcmr: perCredMgmtRO is false or absent, or any other pinUvAuthToken
        // permission is requested" (CTAP 2.2).
        if requested & Permissions::PCMR.0 != 0 && requested != Permissions::PCMR.0 {
            return Err(StatusCode::UNAUTHORIZED_PERMISSION);
        }
        Ok(Permissions(requested))
    }

    fn decapsulate(
        &self,
        protocol: ctap2_proto::PinProtocol,
        peer: &ctap2_proto::CoseKey,
    ) -> Result<SharedSecret> {
        self.key_agreement
            .decapsulate(protocol, peer)
            .map_err(|_| StatusCode::INVALID_PARAMETER)
    }

    /// PIN_NOT_SET, PIN_BLOCKED (retries exhausted) or PIN_AUTH_BLOCKED (three wrong
    /// PINs since power-up), in that order.
    fn pin_usable(&self) -> Result<()> {
        if self.state.pin.is_none() {
            return Err(StatusCode::PIN_NOT_SET);
        }
        if self.state.pin_retries == 0 {
            return Err(StatusCode::PIN_BLOCKED);
        }
        if self.pin_failures_since_power_up >= PIN_FAILURES_PER_POWER_CYCLE {
            return Err(StatusCode::PIN_AUTH_BLOCKED);
        }
        Ok(())
    }

    /// The PIN check of changePIN (§6.5.5.6), getPinToken (§6.5.5.7.1) and
    /// getPinUvAuthTokenUsingPinWithPermissions (§6.5.5.7.2): "The authenticator
    /// decrements the pinRetries counter by 1" (saved before anything else: when it
    /// cannot be saved the check fails closed, `CTAP1_ERR_OTHER`, and costs nothing, so
    /// a retry is never counted only in memory), then decrypts pinHashEnc and compares;
    /// "if an error results, or a mismatch is detected" (a pinHashEnc of a wrong length
    /// included) the key agreement key is regenerated and the attempt counts toward the
    /// three per power cycle. A match resets the counter to 8.
    fn check_pin_hash(&mut self, shared: &SharedSecret, pin_hash_enc: &[u8]) -> Result<()> {
        let retries = self.state.pin_retries;
        let was_dirty = self.dirty;
        self.state.pin_retries = retries.saturating_sub(1);
        self.dirty = true;
        if self.persist().is_err() {
            // Undone in memory as well, so the state is again what was last saved (or
            // as unsaved as before): later commands do not fail on this change.
            self.state.pin_retries = retries;
            self.dirty = was_dirty;
            return Err(StatusCode::OTHER);
        }
        let stored = self.state.pin.map(|(hash, _)| hash).unwrap_or_default();
        let matches = shared
            .decrypt(pin_hash_enc)
            .is_ok_and(|hash| hash.len() == 16 && bool::from(hash.ct_eq(&stored)));
        if matches {
            // The decrement above is already saved (persist cleared `dirty`): the
            // reset to the maximum is a change of its own to save.
            self.state.pin_retries = MAX_PIN_RETRIES;
            self.dirty = true;
            self.pin_failures_since_power_up = 0;
            self.reset_uv_retries();
            return Ok(());
        }
        self.key_agreement = ctap2_proto::KeyAgreementKey::generate(&mut self.rng);
        self.pin_failures_since_power_up = self.pin_failures_since_power_up.saturating_add(1);
        Err(if self.state.pin_retries == 0 {
            StatusCode::PIN_BLOCKED
        } else if self.pin_failures_since_power_up >= PIN_FAILURES_PER_POWER_CYCLE {
            StatusCode::PIN_AUTH_BLOCKED
        } else {
            StatusCode::PIN_INVALID
        })
    }

    /// Decrypts newPinEnc (64 bytes of padded PIN), checks the policy, stores the PIN.
    /// `differ`: a new PIN equal to the current one is PIN_POLICY_VIOLATION.
    fn store_new_pin(
        &mut self,
        shared: &SharedSecret,
        new_pin_enc: &[u8],
        differ: bool,
    ) -> Result<()> {
        // §6.5.5.5 step 6, §6.5.5.6 step 9: "calls decrypt(shared secret, newPinEnc)
        // to produce paddedNewPin. If an error results, it returns
        // CTAP2_ERR_PIN_AUTH_INVALID."
        let padded = shared
            .decrypt(new_pin_enc)
            .map_err(|_| StatusCode::PIN_AUTH_INVALID)?;
        if padded.len() != 64 {
            return Err(StatusCode::INVALID_PARAMETER);
        }
        let end = padded.iter().position(|&b| b == 0).unwrap_or(padded.len());
        let pin = Zeroizing::new(padded.get(..end).unwrap_or_default().to_vec());
        let pin = std::str::from_utf8(&pin).map_err(|_| StatusCode::PIN_POLICY_VIOLATION)?;
        if differ {
            let current = self.state.pin.map(|(hash, _)| hash).unwrap_or_default();
            if bool::from(pin_hash_left(pin).ct_eq(&current)) {
                return Err(StatusCode::PIN_POLICY_VIOLATION);
            }
        }
        self.set_pin(pin)
    }

    /// Sets the PIN after the policy checks: at least minPINLength code points, at most
    /// 63 bytes (PIN_POLICY_VIOLATION otherwise). Clears forcePINChange, resets the
    /// retries and the token (§6.5.5.5 / §6.5.5.6).
    pub(crate) fn set_pin(&mut self, pin: &str) -> Result<()> {
        let code_points = pin.chars().count();
        if code_points < usize::from(self.state.min_pin_length) || pin.len() > MAX_PIN_BYTES {
            return Err(StatusCode::PIN_POLICY_VIOLATION);
        }
        let left = pin_hash_left(pin);
        self.state.pin = Some((left, u8::try_from(code_points).unwrap_or(u8::MAX)));
        self.state.pin_retries = MAX_PIN_RETRIES;
        self.state.force_pin_change = false;
        self.token = None;
        self.forget_persistent_token();
        self.dirty = true;
        Ok(())
    }
}

/// `LEFT(SHA-256(pin), 16)`, the form the PIN is kept in (§6.5.5.5).
fn pin_hash_left(pin: &str) -> [u8; 16] {
    let hash = sha256(pin.as_bytes());
    let mut left = [0; 16];
    left.copy_from_slice(hash.get(..16).unwrap_or(&[0; 16]));
    left
}
