//! The pinUvAuthToken state (CTAP 2.1 §6.5.2.1) and its maintenance functions
//! (beginUsingPinUvAuthToken, pinUvAuthTokenUsageTimerObserver, getUserPresentFlagValue,
//! getUserVerifiedFlagValue, clearUserPresentFlag, clearUserVerifiedFlag,
//! clearPinUvAuthTokenPermissionsExceptLbw, stopUsingPinUvAuthToken), with time passed
//! in.
//!
//! The usage timer is observed when the token is looked at (there is no clock of our
//! own): a token is *in use* from beginUsingPinUvAuthToken until the initial usage time
//! limit of the transport it was issued over passes without the platform using it, or
//! the max usage time period ends. No rolling timer (§6.5.2.1 makes it a MAY).
//!
//! The userPresent flag: getPinToken and getPinUvAuthTokenUsingPinWithPermissions call
//! beginUsingPinUvAuthToken(userIsPresent: false) (§6.5.5.7.1, §6.5.5.7.2: a PIN is no
//! evidence of presence); getPinUvAuthTokenUsingUvWithPermissions calls it with true,
//! because the simulated fingerprint sensor is touched (§6.5.5.7.3 step 12, step 13 in
//! CTAP 2.2 which adds the pcmr step: "If the employed built-in user verification
//! method supplied evidence of user interaction, then call
//! beginUsingPinUvAuthToken(userIsPresent: true)"). While the
//! flag is set and the user present time limit has not passed (the spec's default:
//! the transport's initial usage time limit), the first makeCredential or getAssertion
//! with up that the token authorizes needs no touch of its own (§6.1.2 step 14.1, §6.2.2
//! step 9.1); that operation then clears the flag with the others (§6.1.2 step 14.4,
//! §6.2.2 step 9.4).

use std::time::{Duration, Instant};

use ctap2_proto::pin::{Permissions, PinProtocol};
use zeroize::Zeroizing;

/// The initial usage time limit over USB (§6.5.2.1: "usb: 30 seconds"); also the
/// user present time limit there (§6.5.2.1: it "defaults to the same default maximum
/// per-transport values as the initial usage time limit").
pub(crate) const INITIAL_USAGE_TIME_LIMIT_USB: Duration = Duration::from_secs(30);
/// The initial usage time limit over NFC (§6.5.2.1: "nfc: 19.8 seconds (16 bit
/// counter with 3311hz clock: max time before overflow)"), and the user present time
/// limit there.
pub(crate) const INITIAL_USAGE_TIME_LIMIT_NFC: Duration = Duration::from_millis(19_800);
/// The max usage time period (§6.5.2.1: "SHOULD default to a maximum of 10 minutes").
pub(crate) const MAX_USAGE_TIME_PERIOD: Duration = Duration::from_secs(600);

/// The transport a host reaches the authenticator by, as far as the CTAP2 core needs to
/// know it: beginUsingPinUvAuthToken sets the initial usage time limit "according to
/// the transport the platform is using to communicate with it" (CTAP 2.1 §6.5.2.1).
///
/// Every CTAPHID channel is [`Transport::Usb`] unless marked otherwise with
/// [`Authenticator::set_channel_transport`](crate::Authenticator::set_channel_transport);
/// the [`NfcApplet`](crate::NfcApplet) marks its own channel [`Transport::Nfc`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// USB HID (CTAPHID), and the UDP and in-process transports that carry its
    /// reports: a token's initial usage time limit is 30 s.
    #[default]
    Usb,
    /// NFC (ISO 7816-4 APDUs, CTAP 2.1 §11.3): 19.8 s.
    Nfc,
}

impl Transport {
    /// The initial usage time limit of a token issued over this transport (§6.5.2.1's
    /// default maximum per-transport values), which is also its user present time
    /// limit.
    #[must_use]
    pub const fn initial_usage_time_limit(self) -> Duration {
        match self {
            Self::Usb => INITIAL_USAGE_TIME_LIMIT_USB,
            Self::Nfc => INITIAL_USAGE_TIME_LIMIT_NFC,
        }
    }
}

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
    /// The initial usage time limit, set by beginUsingPinUvAuthToken from the
    /// transport; also the user present time limit (its default, §6.5.2.1).
    initial_limit: Duration,
    /// Whether the platform has used the token in an authenticator operation (what
    /// the initial usage time limit waits for).
    used: bool,
    /// The userVerified flag.
    user_verified: bool,
    /// The userPresent flag.
    user_present: bool,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<secret>")
            .field("protocol", &self.protocol)
            .field("permissions", &self.permissions)
            .field("rp_id", &self.rp_id)
            .field("initial_limit", &self.initial_limit)
            .field("used", &self.used)
            .field("user_verified", &self.user_verified)
            .field("user_present", &self.user_present)
            .finish_non_exhaustive()
    }
}

/// How a new token begins (beginUsingPinUvAuthToken's argument and what it reads).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Begin {
    /// userIsPresent: `true` only when the operation that issued the token collected
    /// user presence (built-in UV by a touch, §6.5.5.7.3).
    pub(crate) user_is_present: bool,
    /// The transport the platform is using (the initial usage time limit).
    pub(crate) transport: Transport,
    /// Now: the usage timer starts.
    pub(crate) now: Instant,
}

impl Token {
    /// A new token value with `permissions` and the permissions RP ID `rp_id`, and
    /// beginUsingPinUvAuthToken(userIsPresent) (§6.5.2.1): the userPresent flag set to
    /// `begin.user_is_present`, userVerified set, the initial usage time limit of
    /// `begin.transport`, the usage timer started at `begin.now`: in use.
    pub(crate) fn begin_using(
        value: [u8; 32],
        protocol: PinProtocol,
        permissions: Permissions,
        rp_id: Option<String>,
        begin: Begin,
    ) -> Self {
        Self {
            value: Zeroizing::new(value),
            protocol,
            permissions,
            rp_id,
            started: begin.now,
            initial_limit: begin.transport.initial_usage_time_limit(),
            used: false,
            user_verified: true,
            user_present: begin.user_is_present,
        }
    }

    /// pinUvAuthTokenUsageTimerObserver at `now`: `false` once the token has stopped
    /// being in use (the caller then forgets it: stopUsingPinUvAuthToken).
    pub(crate) fn in_use(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.started);
        elapsed < MAX_USAGE_TIME_PERIOD && (self.used || elapsed < self.initial_limit)
    }

    /// getUserPresentFlagValue() at `now` for a token in use (the caller checked
    /// [`in_use`](Self::in_use)): the userPresent flag, unless the user present time
    /// limit has passed since presence was collected (pinUvAuthTokenUsageTimerObserver:
    /// "If the current user present time limit is reached, call
    /// clearUserPresentFlag()"; presence was collected when the token began).
    pub(crate) fn user_present(&self, now: Instant) -> bool {
        self.user_present && now.saturating_duration_since(self.started) < self.initial_limit
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
    /// §6.2.2 step 9.4): clearUserPresentFlag(), clearUserVerifiedFlag() and
    /// clearPinUvAuthTokenPermissionsExceptLbw(), so the token authorizes no further
    /// mc, ga, cm or acfg operation and its cached presence is spent.
    pub(crate) fn consume_presence(&mut self) {
        self.user_present = false;
        self.user_verified = false;
        self.permissions = Permissions(self.permissions.0 & Permissions::LARGE_BLOB_WRITE.0);
    }
}
