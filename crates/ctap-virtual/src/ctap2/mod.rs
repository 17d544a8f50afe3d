//! The CTAP2 authenticator (CTAP 2.1 §6): commands in, status byte and CBOR out, with
//! time passed in and randomness from a seedable generator. The CTAPHID layer
//! (`authenticator.rs`) hands it each CTAPHID_CBOR message and runs the touch-waits it
//! asks for; everything else is here.

pub(crate) mod bio;
mod client_pin;
mod credentials;
pub(crate) mod enterprise;
pub(crate) mod features;
mod features_api;
pub(crate) mod keys;
mod large_blobs;
mod management;
mod persistent;
pub(crate) mod sensor;
pub(crate) mod state;
mod token;
pub(crate) mod uv;

pub use state::{StateError, StateFile};
pub use token::Transport;
mod api;
mod attestation;
mod u2f;

use std::time::{Duration, Instant};

use ctap_types::{ChannelId, Ctap2Command, StatusCode};
use ctap2_proto::cbor::CborMessage;
use ctap2_proto::pin::{KeyAgreementKey, Permissions, PinProtocol};
use ctap2_proto::{CredentialParameters, Info};

use self::keys::Drbg;
use self::state::State;
use self::token::{Begin, RpScope, Token};
use crate::Config;

pub(crate) use u2f::respond as u2f_respond;

/// The PIN/UV auth protocols supported, most preferred first.
pub(crate) const PIN_PROTOCOLS: [PinProtocol; 2] = [PinProtocol::Two, PinProtocol::One];
/// The extensions supported.
pub(crate) const EXTENSIONS: [&str; 2] = ["credProtect", "hmac-secret"];
/// maxCredentialCountInList.
pub(crate) const MAX_CREDENTIALS_IN_LIST: usize = 8;
/// How long getNextAssertion and the credentialManagement enumerations may follow
/// their first command (§6.3: 30 seconds).
pub(crate) const CONTINUATION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the CTAPHID layer does with a command.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Send this CTAPHID_CBOR response (status byte first).
    Answer(Vec<u8>),
    /// Wait for the user's touch, then call [`Ctap2::touched`].
    Touch,
}

/// Continuation state (getNextAssertion, the credentialManagement enumerations) kept
/// per caller: the CTAPHID channel that started it. Another channel can neither
/// continue nor end it (issue 22; the UDP server gives each channel to one address, the
/// NFC applet uses a channel of its own). At most one per channel, and at most
/// `bound` in all (the oldest goes first).
pub(crate) struct Continuations<T> {
    slots: Vec<(ChannelId, T)>,
}

impl<T> Continuations<T> {
    const fn new() -> Self {
        Self { slots: Vec::new() }
    }

    /// Takes `caller`'s continuation out.
    fn take(&mut self, caller: ChannelId) -> Option<T> {
        let index = self.slots.iter().position(|(owner, _)| *owner == caller)?;
        Some(self.slots.remove(index).1)
    }

    /// Stores `caller`'s continuation (replacing its previous one), keeping at most
    /// `bound` in all.
    fn put(&mut self, caller: ChannelId, value: T, bound: usize) {
        self.slots.retain(|(owner, _)| *owner != caller);
        while !self.slots.is_empty() && self.slots.len() >= bound.max(1) {
            self.slots.remove(0);
        }
        self.slots.push((caller, value));
    }

    fn clear(&mut self) {
        self.slots.clear();
    }
}

/// A command waiting for the user's touch.
enum Pending {
    MakeCredential(Box<credentials::MakeCredentialPlan>),
    GetAssertion(Box<credentials::AssertionPlan>),
    /// An excludeList match: the touch confirms, then CREDENTIAL_EXCLUDED.
    Excluded,
    /// A zero-length pinUvAuthParam (the "select a device" probe of §6.1.2 step 1).
    PinProbe,
    Reset,
    /// A feature's command (built-in UV, an enrollment sample: `features.rs`).
    Feature(Box<features::PendingFeature>),
}

/// A callback that persists the state file bytes after each change; an error means
/// the bytes are not durable (see `Ctap2::persist` in state.rs).
pub(crate) type StateSink = Box<dyn FnMut(&[u8]) -> std::io::Result<()> + Send>;

/// The CTAP2 state machine.
pub(crate) struct Ctap2 {
    pub(crate) state: State,
    rng: Drbg,
    key_agreement: KeyAgreementKey,
    token: Option<Token>,
    /// Wrong PINs since power-up (§6.5.5.5: three make the PIN auth blocked until the
    /// next power cycle).
    pin_failures_since_power_up: u8,
    powered_up: Option<Instant>,
    pending: Option<Pending>,
    next_assertions: Continuations<credentials::NextAssertions>,
    enumerations: Continuations<management::Enumeration>,
    sink: Option<StateSink>,
    dirty: bool,
    /// Counter values reserved per save (`Config::sign_count_block`; state.rs).
    sign_count_block: u32,
    /// The optional CTAP 2.1/2.2 features and their limits (`features.rs`).
    features: features::Features,
    /// An authenticatorLargeBlobs write in progress (volatile, `large_blobs.rs`).
    large_blob_write: Option<large_blobs::LargeBlobWrite>,
    /// A fingerprint enrollment in progress (volatile, `bio.rs`).
    enrollment: Option<bio::Enrollment>,
    /// The channels whose host is not on USB (the NFC applet's), newest last, at most
    /// [`MAX_MARKED_CHANNELS`]; volatile, as the channels are.
    transports: Vec<(ChannelId, Transport)>,
}

/// How many channels [`Ctap2::set_transport`] remembers (the oldest mark goes first;
/// the NFC applet marks its channel again before each call).
const MAX_MARKED_CHANNELS: usize = 16;

type Result<T> = std::result::Result<T, StatusCode>;

/// Decodes a command's parameters; an absent parameter map is an empty one (so its
/// required members are MISSING_PARAMETER).
fn decode<T: CborMessage>(params: &[u8]) -> Result<T> {
    let result = if params.is_empty() {
        T::from_value(ctap2_proto::Value::Map(Vec::new()))
    } else {
        T::from_cbor(params)
    };
    result.map_err(|error| error.status())
}

/// Whether an answer fits the transport's maximum message (the report size's:
/// 7609 bytes at 64-byte reports, 385 at 8; the NFC applet relays CTAPHID messages, so
/// the same bound holds there).
fn fits(answer: &[u8], config: &Config) -> bool {
    answer.len() <= config.report_size.max_message_len()
}

fn answer(message: &impl CborMessage) -> Vec<u8> {
    let mut out = vec![StatusCode::SUCCESS.to_u8()];
    message.to_value().encode_into(&mut out);
    out
}

/// The protocol a request names: MISSING_PARAMETER when absent, INVALID_PARAMETER when
/// not supported.
fn protocol(number: Option<u64>) -> Result<PinProtocol> {
    let number = number.ok_or(StatusCode::MISSING_PARAMETER)?;
    PinProtocol::from_number(number).ok_or(StatusCode::INVALID_PARAMETER)
}

impl Ctap2 {
    /// A fresh authenticator whose secrets all come from `seed` (the OS generator's
    /// output, or [`Config::rng_seed`]).
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        let mut rng = Drbg::new(seed);
        let state = State::new(rng.array());
        let key_agreement = KeyAgreementKey::generate(&mut rng);
        Self {
            state,
            rng,
            key_agreement,
            token: None,
            pin_failures_since_power_up: 0,
            powered_up: None,
            pending: None,
            next_assertions: Continuations::new(),
            enumerations: Continuations::new(),
            sink: None,
            dirty: false,
            sign_count_block: state::DEFAULT_SIGN_COUNT_BLOCK,
            features: features::Features::default(),
            large_blob_write: None,
            enrollment: None,
            transports: Vec::new(),
        }
    }

    /// A power cycle at `now`: volatile state (tokens, key agreement, the per-power-cycle
    /// PIN failure count, continuations) is lost; the reset window starts.
    pub(crate) fn power_up(&mut self, now: Instant) {
        self.powered_up = Some(now);
        self.token = None;
        self.key_agreement = KeyAgreementKey::generate(&mut self.rng);
        self.pin_failures_since_power_up = 0;
        self.pending = None;
        self.next_assertions.clear();
        self.enumerations.clear();
        self.large_blob_write = None;
        self.enrollment = None;
        self.transports.clear();
    }

    /// Records that the host on `channel` reaches the authenticator over `transport`
    /// (what beginUsingPinUvAuthToken reads, §6.5.2.1). [`Transport::Usb`] forgets a
    /// mark.
    pub(crate) fn set_transport(&mut self, channel: ChannelId, transport: Transport) {
        self.transports.retain(|(marked, _)| *marked != channel);
        if transport == Transport::Usb {
            return;
        }
        if self.transports.len() >= MAX_MARKED_CHANNELS {
            self.transports.remove(0);
        }
        self.transports.push((channel, transport));
    }

    /// The transport of the host on `channel` (USB unless marked).
    pub(crate) fn transport(&self, channel: ChannelId) -> Transport {
        self.transports
            .iter()
            .find(|(marked, _)| *marked == channel)
            .map_or(Transport::Usb, |(_, transport)| *transport)
    }

    pub(crate) fn set_sink(&mut self, sink: Option<StateSink>) {
        self.sink = sink;
    }

    /// Replaces the persistent state (from a state file).
    pub(crate) fn load(&mut self, state: State) {
        self.state = state;
        self.token = None;
        self.pending = None;
        self.next_assertions.clear();
        self.enumerations.clear();
    }

    /// Runs one CTAP2 command that came on channel `caller`.
    pub(crate) fn handle(
        &mut self,
        now: Instant,
        config: &Config,
        caller: ChannelId,
        command: Ctap2Command,
        params: &[u8],
    ) -> Outcome {
        if self.powered_up.is_none() {
            self.powered_up = Some(now);
        }
        self.pending = None;
        // §6.3: getNextAssertion follows its getAssertion (or another getNextAssertion)
        // directly; the enumerations likewise follow their own commands. "Directly" is
        // per caller: another channel's commands neither continue nor end them.
        if command != Ctap2Command::GET_NEXT_ASSERTION {
            drop(self.next_assertions.take(caller));
        }
        if command != Ctap2Command::CREDENTIAL_MGMT && command != Ctap2Command::CREDENTIAL_MGMT_PRE
        {
            drop(self.enumerations.take(caller));
        }
        let before = self.snapshot();
        let result = match command {
            Ctap2Command::GET_INFO => Ok(Some(self.info_answer(config))),
            Ctap2Command::MAKE_CREDENTIAL => {
                decode(params).and_then(|r| self.make_credential(now, config, r))
            }
            Ctap2Command::GET_ASSERTION => {
                decode(params).and_then(|r| self.get_assertion(now, config, caller, r))
            }
            Ctap2Command::GET_NEXT_ASSERTION => {
                self.get_next_assertion(now, config, caller).map(Some)
            }
            Ctap2Command::CLIENT_PIN => {
                decode(params).and_then(|r| self.client_pin_or_uv(now, caller, r))
            }
            Ctap2Command::CREDENTIAL_MGMT | Ctap2Command::CREDENTIAL_MGMT_PRE => decode(params)
                .and_then(|r| self.credential_management(now, config, caller, r))
                .map(Some),
            Ctap2Command::CONFIG => decode(params).and_then(|r| self.config(now, r)).map(Some),
            Ctap2Command::RESET => self.reset(now, config),
            Ctap2Command::LARGE_BLOBS => self.large_blobs(now, config, params).map(Some),
            Ctap2Command::BIO_ENROLLMENT => {
                decode(params).and_then(|r| self.bio_enrollment(now, r))
            }
            // Anything unknown.
            _ => Err(StatusCode::INVALID_COMMAND),
        };
        let result = result.and_then(|answer| match answer {
            Some(bytes) => self.commit(before, caller, bytes, config).map(Some),
            None => Ok(None),
        });
        // Fail closed: an answer whose state change is not durable (a counter value, a
        // credential, a PIN retry) is not sent (state.rs, `persist`).
        let result = self.persist().and(result);
        match result {
            Ok(Some(bytes)) => Outcome::Answer(bytes),
            Ok(None) => Outcome::Touch,
            Err(status) => Outcome::Answer(vec![status.to_u8()]),
        }
    }

    /// The user touched the key for the pending command of channel `caller`: finish it.
    pub(crate) fn touched(&mut self, now: Instant, config: &Config, caller: ChannelId) -> Vec<u8> {
        let before = self.snapshot();
        let result = match self.pending.take() {
            // §6.1.2 step 14 and §6.2.2 step 9: user presence collected, so the token
            // in use is spent (a pending getAssertion always has up).
            // Not after built-in UV: its touch is the "evidence of user interaction ...
            // provided as part of Step 11" (§6.1.2 step 13, §6.2.2 step 8), which goes
            // on past step 14 / 9 and so clears nothing.
            Some(Pending::MakeCredential(plan)) => {
                if !plan.builtin_uv() {
                    self.consume_token_after_presence(now);
                }
                self.finish_make_credential(config, *plan)
            }
            Some(Pending::GetAssertion(plan)) => {
                if !plan.builtin_uv() {
                    self.consume_token_after_presence(now);
                }
                self.finish_get_assertion(now, config, caller, *plan)
            }
            Some(Pending::Excluded) => Err(StatusCode::CREDENTIAL_EXCLUDED),
            Some(Pending::PinProbe) => Err(if self.state.pin.is_some() {
                StatusCode::PIN_INVALID
            } else {
                StatusCode::PIN_NOT_SET
            }),
            Some(Pending::Feature(pending)) => self.finish_feature(now, caller, *pending),
            Some(Pending::Reset) => {
                self.factory_reset();
                Ok(vec![StatusCode::SUCCESS.to_u8()])
            }
            None => Err(StatusCode::OTHER),
        };
        let result = result.and_then(|bytes| self.commit(before, caller, bytes, config));
        let result = self.persist().and(result);
        result.unwrap_or_else(|status| vec![status.to_u8()])
    }

    /// What [`commit`](Self::commit) restores when an answer cannot be sent: the
    /// persistent state and whether it still had to be saved.
    fn snapshot(&self) -> (State, bool) {
        (self.state.clone(), self.dirty)
    }

    /// An answer that cannot be sent (longer than the transport's maximum message: a
    /// batch-attested credential at 8-byte reports, say) must leave nothing behind: the
    /// persistent state goes back to `before` (no stored credential, no bumped
    /// counter), `caller`'s continuation is dropped, and the host hears
    /// `CTAP1_ERR_OTHER` instead of silence (the spec has no status for this; issue 22).
    /// Commands that change the state only before their answer is known (clientPIN's
    /// retry counter) never answer more than a few hundred bytes.
    fn commit(
        &mut self,
        before: (State, bool),
        caller: ChannelId,
        answer: Vec<u8>,
        config: &Config,
    ) -> Result<Vec<u8>> {
        if fits(&answer, config) {
            return Ok(answer);
        }
        log::debug!(
            "answer of {} bytes over the maximum message of {}: undone",
            answer.len(),
            config.report_size.max_message_len()
        );
        (self.state, self.dirty) = before;
        drop(self.next_assertions.take(caller));
        drop(self.enumerations.take(caller));
        Err(StatusCode::OTHER)
    }

    /// The touch-wait ended without a touch (denied, timed out, cancelled).
    pub(crate) fn abandon(&mut self) {
        self.pending = None;
    }

    /// The touch-wait ended without a touch because the user declined or the
    /// user-presence time-out passed, which the CTAPHID layer would answer with
    /// `status`: the pending command (of `command`, the wait's) is dropped and the
    /// status to answer returned.
    /// Only an excludeList match answers otherwise: §6.1.2 step 12, "Wait for user
    /// presence. Regardless of whether user presence is obtained or the authenticator
    /// times out, terminate this procedure and return CTAP2_ERR_CREDENTIAL_EXCLUDED."
    pub(crate) fn touch_refused(
        &mut self,
        command: Ctap2Command,
        status: StatusCode,
    ) -> StatusCode {
        match self.pending.take() {
            Some(Pending::Excluded) if command == Ctap2Command::MAKE_CREDENTIAL => {
                StatusCode::CREDENTIAL_EXCLUDED
            }
            _ => status,
        }
    }

    /// getInfo's answer, fitted to the largest message of the report size: when the
    /// whole `algorithms` list does not fit (8-byte reports carry 385 bytes), the least
    /// preferred algorithms are left out of the list until it does. What is listed is
    /// still true; the rest stays usable by RPs that ask for it.
    fn info_answer(&self, config: &Config) -> Vec<u8> {
        let mut info = self.info(config);
        let mut bytes = answer(&info);
        while bytes.len() > config.report_size.max_message_len() {
            match info.algorithms.as_mut() {
                Some(list) if list.len() > 1 => {
                    list.pop();
                }
                _ => break,
            }
            bytes = answer(&info);
        }
        bytes
    }

    /// authenticatorGetInfo (§6.4): what this authenticator does, truthfully.
    pub(crate) fn info(&self, config: &Config) -> Info {
        let pin_set = self.state.pin.is_some();
        let options = [
            ("rk", true),
            ("up", true),
            ("plat", false),
            ("clientPin", pin_set),
            ("credMgmt", true),
            ("authnrCfg", true),
            ("alwaysUv", self.state.always_uv),
            ("setMinPINLength", true),
            ("makeCredUvNotRqd", !self.state.always_uv),
            ("pinUvAuthToken", true),
        ];
        let remaining = config
            .max_discoverable_credentials
            .saturating_sub(self.state.credentials.len());
        // The generation this key presents as (a CTAP 2.0 key has no FIDO_2_1), and
        // §7.2: with alwaysUv on, CTAP1/U2F is disabled and U2F_V2 is not offered.
        let all: &[&str] = match config.generation {
            crate::config::Generation::Ctap21 => &["U2F_V2", "FIDO_2_0", "FIDO_2_1"],
            _ => &["U2F_V2", "FIDO_2_0"],
        };
        let versions = all
            .iter()
            .filter(|v| !(self.state.always_uv && **v == "U2F_V2"));
        let mut info = Info {
            versions: versions.map(|v| (*v).into()).collect(),
            extensions: EXTENSIONS.iter().map(|e| (*e).into()).collect(),
            aaguid: config.aaguid,
            options: options.iter().map(|(k, v)| ((*k).into(), *v)).collect(),
            max_msg_size: Some(config.report_size.max_message_len() as u64),
            pin_uv_auth_protocols: PIN_PROTOCOLS
                .iter()
                .map(|p| u64::from(p.number()))
                .collect(),
            max_credential_count_in_list: Some(MAX_CREDENTIALS_IN_LIST as u64),
            max_credential_id_length: Some(keys::CREDENTIAL_ID_LEN as u64),
            transports: vec!["usb".into()],
            algorithms: Some(
                config
                    .algorithms
                    .as_slice()
                    .iter()
                    .map(|a| CredentialParameters::public_key(*a))
                    .collect(),
            ),
            force_pin_change: Some(self.state.force_pin_change),
            min_pin_length: Some(u64::from(self.state.min_pin_length)),
            firmware_version: Some(
                u64::from(config.device_version.major) << 16
                    | u64::from(config.device_version.minor) << 8
                    | u64::from(config.device_version.build),
            ),
            remaining_discoverable_credentials: Some(remaining as u64),
            // CTAP 2.2 attestationFormats (0x16): the formats makeCredential can
            // answer, the default first (absent means ["packed"] to a platform).
            // attestationFormatsPreference starting with "none" gives "none";
            // nothing else picks a format, so a key configured without attestation
            // has only "none".
            attestation_formats: Some(match config.attestation {
                crate::Attestation::None => vec!["none".into()],
                _ => vec!["packed".into(), "none".into()],
            }),
            ..Info::default()
        };
        self.advertise_features(&mut info);
        info
    }

    /// authenticatorReset (§6.6): only within the window after power-up, then a touch.
    fn reset(&mut self, now: Instant, config: &Config) -> Result<Option<Vec<u8>>> {
        if let (Some(window), Some(powered_up)) = (config.reset_window, self.powered_up) {
            if now.saturating_duration_since(powered_up) > window {
                return Err(StatusCode::NOT_ALLOWED);
            }
        }
        self.pending = Some(Pending::Reset);
        Ok(None)
    }

    fn factory_reset(&mut self) {
        // The old credentials' cached private keys (RSA) go with them.
        keys::forget_cached_keys(self.state.master.as_slice());
        self.state = State::new(self.rng.array());
        self.token = None;
        self.key_agreement = KeyAgreementKey::generate(&mut self.rng);
        self.pin_failures_since_power_up = 0;
        self.large_blob_write = None;
        self.enrollment = None;
        // §6.6 "Invalidates all generated credentials ... Erases all discoverable
        // credentials": also for every other channel's getNextAssertion and
        // enumeration, which still held credentials (and would sign with keys derived
        // from the new master secret) or listed the erased ones.
        self.next_assertions.clear();
        self.enumerations.clear();
        self.dirty = true;
    }

    /// The token in use at `now`, after the usage timer observer ran (§6.5.2.1
    /// pinUvAuthTokenUsageTimerObserver: a token past its time stops being in use, and
    /// stopUsingPinUvAuthToken forgets it).
    fn token_in_use(&mut self, now: Instant) -> Option<&mut Token> {
        if self.token.as_ref().is_some_and(|t| !t.in_use(now)) {
            self.token = None;
        }
        self.token.as_mut()
    }

    /// Checks a pinUvAuthParam over `message` against the token in use (the "verify"
    /// steps of each command: §6.1.2 step 11.1, §6.2.2 step 6.1, §6.8, §6.11):
    /// PIN_AUTH_INVALID when there is no token in use, it is of another protocol, the
    /// param does not verify, the token lacks `permission` or the userVerified flag
    /// (mc and ga), or its permissions RP ID does not allow `scope`. On success an
    /// unbound token is bound by a `Bind` scope (§6.1.2 step 11.1.7, §6.2.2 step 6.1).
    fn check_token(
        &mut self,
        now: Instant,
        protocol_number: Option<u64>,
        param: &[u8],
        message: &[u8],
        permission: Permissions,
        scope: RpScope<'_>,
    ) -> Result<()> {
        let protocol = protocol(protocol_number)?;
        let token = self.token_in_use(now).ok_or(StatusCode::PIN_AUTH_INVALID)?;
        token
            .authorize(protocol, param, message, permission, scope)
            .map_err(|()| StatusCode::PIN_AUTH_INVALID)
    }

    /// getUserPresentFlagValue() (§6.5.2.1): the userPresent flag of the token in use
    /// at `now`, `false` without one (or once its user present time limit passed).
    fn token_user_present(&mut self, now: Instant) -> bool {
        self.token_in_use(now)
            .is_some_and(|token| token.user_present(now))
    }

    /// beginUsingPinUvAuthToken's argument for a token issued now to the host on
    /// `caller` (§6.5.2.1: the initial usage time limit of its transport).
    fn begin(&self, now: Instant, caller: ChannelId, user_is_present: bool) -> Begin {
        Begin {
            user_is_present,
            transport: self.transport(caller),
            now,
        }
    }

    /// After makeCredential or getAssertion collected user presence (§6.1.2 step 14.4,
    /// §6.2.2 step 9.4): clearUserPresentFlag(), clearUserVerifiedFlag() and
    /// clearPinUvAuthTokenPermissionsExceptLbw() on the token in use, whichever command
    /// it authorized (no-ops without one). One token, one such operation.
    pub(super) fn consume_token_after_presence(&mut self, now: Instant) {
        if let Some(token) = self.token_in_use(now) {
            token.consume_presence();
        }
    }
}
