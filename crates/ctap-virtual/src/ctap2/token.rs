//! The pinUvAuthToken state (CTAP 2.1 §6.5.2.1) and its maintenance functions
//! (beginUsingPinUvAuthToken, pinUvAuthTokenUsageTimerObserver, getUserVerifiedFlagValue,
//! clearUserVerifiedFlag, clearPinUvAuthTokenPermissionsExceptLbw,
//! stopUsingPinUvAuthToken), with time passed in.
//!
//! The usage timer is observed when the token is looked at (there is no clock of our
//! own): a token is *in use* from beginUsingPinUvAuthToken until the initial usage time
//! limit passes without the platform using it, or the max usage time period ends. No
//! rolling timer. The userPresent flag is not kept: this authenticator issues tokens
//! only from a PIN, and getPinToken / getPinUvAuthTokenUsingPinWithPermissions call
//! beginUsingPinUvAuthToken(userIsPresent: false) (§6.5.5.7.1 and §6.5.5.7.2), so
//! getUserPresentFlagValue() is always false here and every makeCredential and
//! getAssertion with up waits for its own touch. A token from built-in UV may begin
//! with userIsPresent true (§6.5.5.7.3 step 13); until such tokens exist here, asking
//! for the touch anyway is stricter than §6.1.2 step 14.1.2, never weaker.

use std::time::{Duration, Instant};

use ctap2_proto::pin::{Permissions, PinProtocol};
use zeroize::Zeroizing;

/// The initial usage time limit (§6.5.2.1: "usb: 30 seconds"; NFC allows 19.8 s, we
/// use the USB value on every transport): a token nobody uses in an authenticator
/// operation within it stops being in use.
pub(crate) const INITIAL_USAGE_TIME_LIMIT: Duration = Duration::from_secs(30);
/// The max usage time period (§6.5.2.1: "SHOULD default to a maximum of 10 minutes").
pub(crate) const MAX_USAGE_TIME_PERIOD: Duration = Duration::from_secs(600);

/// How a command's permissions RP ID rule reads (§6.1.2 step 11, §6.2.2 step 6, §6.8).
#[derive(Clone, Copy, Debug)]
pub(crate) enum RpScope<'a> {
    /// makeCredential / getAssertion: a permissions RP ID must equal this RP ID; a token
    /// without one is bound to it ("associate the request's rp.id ... as its
    /// permissions RP ID").
    Bind(&'a str),
    /// getCredsMetadata, enumerateRPsBegin: a token with a permissions RP ID is refused.
    Unscoped,
    /// enumerateCredentialsBegin, deleteCredential, updateUserInformation: a permissions
    /// RP ID, if any, must hash to this rpIdHash.
    Hash(&'a [u8]),
    /// authenticatorConfig: the permissions RP ID does not matter (§6.11).
    Ignored,
}

/// A pinUvAuthToken and its state (§6.5.2.1).
pub(crate) struct Token {
    value: Zeroizing<[u8; 32]>,
    protocol: PinProtocol,
    /// The permissions set.
    permissions: Permissions,
    /// The permissions RP ID.
    rp_id: Option<String>,
    /// When the usage timer started (beginUsingPinUvAuthToken).
    started: Instant,
    /// Whether the platform has used the token in an authenticator operation (what
    /// the initial usage time limit waits for).
    used: bool,
    /// The userVerified flag.
    user_verified: bool,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<secret>")
            .field("protocol", &self.protocol)
            .field("permissions", &self.permissions)
            .field("rp_id", &self.rp_id)
            .field("used", &self.used)
            .field("user_verified", &self.user_verified)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// A new token value with `permissions` and the permissions RP ID `rp_id`, and
    /// beginUsingPinUvAuthToken(userIsPresent: false) at `now`: userVerified set, the
    /// usage timer started, in use.
    pub(crate) fn begin_using(
        value: [u8; 32],
        protocol: PinProtocol,
        permissions: Permissions,
        rp_id: Option<String>,
        now: Instant,
    ) -> Self {
        Self {
            value: Zeroizing::new(value),
            protocol,
            permissions,
            rp_id,
            started: now,
            used: false,
            user_verified: true,
        }
    }

    /// pinUvAuthTokenUsageTimerObserver at `now`: `false` once the token has stopped
    /// being in use (the caller then forgets it: stopUsingPinUvAuthToken).
    pub(crate) fn in_use(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.started);
        elapsed < MAX_USAGE_TIME_PERIOD && (self.used || elapsed < INITIAL_USAGE_TIME_LIMIT)
    }

    /// Checks a pinUvAuthParam and the token's state for one command; `Err(())` is
    /// PIN_AUTH_INVALID to the caller. The token must be in use (checked by the caller),
    /// of `protocol`, verify `param` over `message` (§6.5.6/§6.5.7 verify), carry
    /// `permission`, and meet `scope`; mc and ga also need the userVerified flag
    /// (§6.1.2 step 11.1.5, §6.2.2 step 6.1.5). On success the token counts as used and
    /// a `Bind` scope binds an unbound token.
    pub(crate) fn authorize(
        &mut self,
        protocol: PinProtocol,
        param: &[u8],
        message: &[u8],
        permission: Permissions,
        scope: RpScope<'_>,
    ) -> Result<(), ()> {
        if self.protocol != protocol
            || !protocol.verify(self.value.as_slice(), message, param)
            || !self.permissions.contains(permission)
            || !self.scope_allows(scope)
        {
            return Err(());
        }
        if matches!(scope, RpScope::Bind(_)) && !self.user_verified {
            return Err(());
        }
        if let (RpScope::Bind(rp_id), None) = (scope, &self.rp_id) {
            self.rp_id = Some(rp_id.into());
        }
        self.used = true;
        Ok(())
    }

    /// Whether the permissions RP ID allows `scope`: §6.1.2 step 11.1.3 and §6.2.2 step
    /// 6.1 ("does not match the rp.id in this request"); §6.8.2 getCredsMetadata and
    /// §6.8.3 enumerateRPsBegin ("the cm permission and no associated permissions RP
    /// ID"); §6.8.4 enumerateCredentialsBegin ("matches the RP ID of this request");
    /// §6.8.5 deleteCredential and §6.8.6 updateUserInformation ("matches the RP ID of
    /// the credential").
    pub(crate) fn scope_allows(&self, scope: RpScope<'_>) -> bool {
        match (scope, &self.rp_id) {
            (RpScope::Bind(rp_id), Some(bound)) => bound == rp_id,
            (RpScope::Unscoped, Some(_)) => false,
            (RpScope::Hash(hash), Some(bound)) => {
                super::keys::sha256(bound.as_bytes()).as_slice() == hash
            }
            _ => true,
        }
    }

    /// After makeCredential or getAssertion collected user presence (§6.1.2 step 14.4,
    /// §6.2.2 step 9.4): clearUserPresentFlag() (not kept, see the module doc),
    /// clearUserVerifiedFlag() and clearPinUvAuthTokenPermissionsExceptLbw(), so the
    /// token authorizes no further mc, ga, cm or acfg operation.
    pub(crate) fn consume_presence(&mut self) {
        self.user_verified = false;
        self.permissions = Permissions(self.permissions.0 & Permissions::LARGE_BLOB_WRITE.0);
    }
}
