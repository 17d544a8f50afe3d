//! Built-in user verification, simulated with a scriptable fingerprint sensor
//! (`sensor.rs`): clientPIN's getUVRetries (CTAP 2.1 §6.5.5.6) and
//! getPinUvAuthTokenUsingUvWithPermissions (§6.5.5.7.3), the uvRetries counter.

use std::time::Instant;

use ctap_types::{ChannelId, StatusCode};
use ctap2_proto::pin::{Permissions, PinProtocol, SharedSecret};
use ctap2_proto::{ClientPinRequest, ClientPinResponse, PinSubCommand};

use super::features::PendingFeature;
use super::{Ctap2, Pending, Result, Token, answer};

/// The uvRetries counter's start value. The spec leaves it to the authenticator
/// (§6.5.2.2 "maxUvRetries"); 8 like the PIN's.
pub const MAX_UV_RETRIES: u8 = 8;
/// preferredPlatformUvAttempts (§6.4): how often a platform may try built-in UV
/// before it falls back to the PIN.
pub(crate) const PREFERRED_PLATFORM_UV_ATTEMPTS: u64 = 3;
/// uvModality (§6.4, FIDO Registry USER_VERIFY_FINGERPRINT_INTERNAL).
pub(crate) const UV_MODALITY_FINGERPRINT: u64 = 0x02;

/// A getPinUvAuthTokenUsingUvWithPermissions that passed its checks and waits for
/// the finger.
pub(crate) struct UvTokenPlan {
    shared: SharedSecret,
    protocol: PinProtocol,
    permissions: Permissions,
    rp_id: Option<String>,
}

impl Ctap2 {
    /// authenticatorClientPIN with the built-in UV subcommands in front: with a sensor
    /// configured, getUVRetries and getPinUvAuthTokenUsingUvWithPermissions are
    /// answered here (the second after a touch); everything else, and both without a
    /// sensor, goes to `client_pin.rs`.
    pub(super) fn client_pin_or_uv(
        &mut self,
        now: Instant,
        caller: ChannelId,
        request: ClientPinRequest,
    ) -> Result<Option<Vec<u8>>> {
        let sub = request.sub_command;
        let uv_sub = sub == PinSubCommand::GET_UV_RETRIES
            || sub == PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS;
        if !uv_sub || self.features.fingerprint.is_none() {
            return self.client_pin(now, caller, request).map(Some);
        }
        if sub == PinSubCommand::GET_UV_RETRIES {
            // §6.5.5.6: uvRetries (0x05).
            return Ok(Some(answer(&ClientPinResponse {
                uv_retries: Some(u64::from(self.uv_retries())),
                ..ClientPinResponse::default()
            })));
        }
        // §6.5.5.7.3 step 1: the protocol (MISSING_PARAMETER / INVALID_PARAMETER).
        let protocol = super::protocol(request.pin_uv_auth_protocol)?;
        // Step 2: keyAgreement and permissions are required.
        let peer = request
            .key_agreement
            .as_ref()
            .ok_or(StatusCode::MISSING_PARAMETER)?;
        let permissions = request.permissions.ok_or(StatusCode::MISSING_PARAMETER)?;
        // Steps 3 and 4: no permissions at all; permissions this authenticator does not
        // grant (be and lbw only while their features are on; uvAcfg is true, so acfg
        // is grantable; pcmr alone); undefined ones ignored.
        let permissions = self.grantable(permissions)?;
        // Step 5: the uv option must be true (a sensor with an enrolled finger).
        if !self.uv_enrolled() {
            return Err(StatusCode::NOT_ALLOWED);
        }
        // Step 6: blocked after maxUvRetries failures.
        if self.uv_retries() == 0 {
            return Err(StatusCode::UV_BLOCKED);
        }
        // Step 7: the shared secret.
        let shared = self
            .key_agreement
            .decapsulate(protocol, peer)
            .map_err(|_| StatusCode::INVALID_PARAMETER)?;
        // Step 8: built-in UV, which also collects user presence: wait for the touch.
        self.pending = Some(Pending::Feature(Box::new(PendingFeature::UvToken(
            UvTokenPlan {
                shared,
                protocol,
                permissions,
                rp_id: request.rp_id,
            },
        ))));
        Ok(None)
    }

    /// The finger touched for a getPinUvAuthTokenUsingUvWithPermissions (§6.5.5.7.3
    /// steps 8-11): a match resets uvRetries and issues the token; a mismatch uses a
    /// retry (UV_INVALID), the last one blocks built-in UV (UV_BLOCKED).
    pub(super) fn finish_uv_token(
        &mut self,
        now: Instant,
        caller: ChannelId,
        plan: UvTokenPlan,
    ) -> Result<Vec<u8>> {
        self.builtin_uv_touch()?;
        if let Some(answer) =
            self.persistent_token_request(&plan.shared, plan.protocol, plan.permissions)?
        {
            return Ok(answer);
        }
        let value: [u8; 32] = self.rng.array();
        let encrypted = plan
            .shared
            .encrypt(&value, &mut self.rng)
            .map_err(|e| e.status())?;
        // §6.5.5.7.3 step 12 (step 13 in CTAP 2.2): "If the employed built-in user
        // verification method supplied evidence of user interaction, then call
        // beginUsingPinUvAuthToken(userIsPresent: true)". The finger touched the
        // sensor, so it did: the first makeCredential or getAssertion with up that
        // this token authorizes needs no second touch (§6.1.2 step 14.1, §6.2.2 step
        // 9.1). The initial usage time limit is that of the caller's transport.
        let begin = self.begin(now, caller, true);
        self.token = Some(Token::begin_using(
            value,
            plan.protocol,
            plan.permissions,
            plan.rp_id,
            begin,
        ));
        Ok(answer(&ClientPinResponse {
            pin_uv_auth_token: Some(encrypted),
            ..ClientPinResponse::default()
        }))
    }

    /// makeCredential's and getAssertion's uv option (CTAP 2.1 §6.1.2 step 5, §6.2.2
    /// step 5): with a pinUvAuthParam it is ignored (the token is the UV); without,
    /// `true` asks for built-in UV, which needs an enrolled finger
    /// (CTAP2_ERR_INVALID_OPTION otherwise) and uvRetries left (CTAP2_ERR_UV_BLOCKED).
    /// `Ok(true)`: the touch must be a matching finger ([`Self::builtin_uv_touch`]).
    pub(super) fn builtin_uv_requested(&self, uv: Option<bool>, has_param: bool) -> Result<bool> {
        if uv != Some(true) || has_param {
            return Ok(false);
        }
        if !self.uv_enrolled() {
            return Err(StatusCode::INVALID_OPTION);
        }
        if self.uv_retries() == 0 {
            return Err(StatusCode::UV_BLOCKED);
        }
        Ok(true)
    }

    /// The touch of a command with built-in UV: a matching finger resets uvRetries; a
    /// wrong one uses a retry and ends the command with UV_INVALID (UV_BLOCKED at 0).
    ///
    /// Deliberately not CTAP 2.1 §6.1.2 step 11.2.3 / §6.2.2 step 6.2.3 for the uv
    /// option of makeCredential and getAssertion, whose text ends a failed
    /// performBuiltInUv(internalRetry: true) with OPERATION_DENIED (getAssertion:
    /// PUAT_REQUIRED when a PIN is set) and, at uvRetries 0, PIN_BLOCKED: one touch is
    /// one attempt here (no internal retry: the platform retries, as it does for
    /// getPinUvAuthTokenUsingUvWithPermissions), and the answers are that
    /// subcommand's (§6.5.5.7.3 step 10: UV_INVALID, UV_BLOCKED), since PIN_BLOCKED
    /// would tell the platform the PIN is blocked when it is not. README, "Where this
    /// authenticator departs from the algorithm text".
    pub(super) fn builtin_uv_touch(&mut self) -> Result<()> {
        let finger = self.sensor_touch().ok_or(StatusCode::NOT_ALLOWED)?;
        if finger.matches() {
            self.reset_uv_retries();
            return Ok(());
        }
        let left = self.uv_retries().saturating_sub(1);
        self.state.features.uv_retries = Some(left);
        self.dirty = true;
        Err(if left == 0 {
            StatusCode::UV_BLOCKED
        } else {
            StatusCode::UV_INVALID
        })
    }

    /// The uvRetries counter (persistent).
    pub(super) fn uv_retries(&self) -> u8 {
        self.state.features.uv_retries.unwrap_or(MAX_UV_RETRIES)
    }

    /// Back to maxUvRetries: after a matching finger, and after the correct PIN, so a
    /// blocked sensor is unblocked with the PIN. The PIN half is what fingerprint keys
    /// do and what python-fido2 counts on (on UV_BLOCKED it falls back to the PIN); we
    /// could not find it worded in the CTAP 2.1 text we had, so it is named here.
    pub(super) fn reset_uv_retries(&mut self) {
        if self.state.features.uv_retries.take().is_some() {
            self.dirty = true;
        }
    }

    /// The "uv" option (§6.4): built-in UV is configured (a sensor with at least one
    /// enrolled finger).
    pub(super) fn uv_enrolled(&self) -> bool {
        self.features.fingerprint.is_some() && !self.state.features.templates.is_empty()
    }

    /// The finger of the touch that just happened, when there is a sensor.
    pub(super) fn sensor_touch(&self) -> Option<super::sensor::Finger> {
        self.features.fingerprint.as_ref().map(|s| s.touch())
    }
}
