//! The CTAP2 authenticator (CTAP 2.1 §6): commands in, status byte and CBOR out, with
//! time passed in and randomness from a seedable generator. The CTAPHID layer
//! (`authenticator.rs`) hands it each CTAPHID_CBOR message and runs the touch-waits it
//! asks for; everything else is here.

mod client_pin;
mod credentials;
pub(crate) mod keys;
mod management;
pub(crate) mod state;

pub use state::{StateError, StateFile};
mod api;
mod attestation;
mod u2f;

use std::time::{Duration, Instant};

use ctap_types::{Ctap2Command, StatusCode};
use ctap2_proto::cbor::CborMessage;
use ctap2_proto::pin::{KeyAgreementKey, Permissions, PinProtocol};
use ctap2_proto::{CredentialParameters, Info};

use self::keys::Drbg;
use self::state::State;
use crate::Config;

pub(crate) use u2f::respond as u2f_respond;

/// The PIN/UV auth protocols supported, most preferred first.
pub(crate) const PIN_PROTOCOLS: [PinProtocol; 2] = [PinProtocol::Two, PinProtocol::One];
/// The extensions supported.
pub(crate) const EXTENSIONS: [&str; 2] = ["credProtect", "hmac-secret"];
/// maxCredentialCountInList.
pub(crate) const MAX_CREDENTIALS_IN_LIST: usize = 8;
/// How long a pinUvAuthToken stays usable after it was issued (§6.5.2.1 leaves the
/// maximum usage period to the authenticator; 10 minutes is common).
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(600);
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

/// A pinUvAuthToken in force (§6.5.2.1).
#[derive(Clone, Debug)]
struct Token {
    value: [u8; 32],
    protocol: PinProtocol,
    permissions: Permissions,
    rp_id: Option<String>,
    expires: Instant,
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
}

/// A callback that persists the state file bytes after each change.
pub(crate) type StateSink = Box<dyn FnMut(&[u8]) + Send>;

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
    next_assertions: Option<credentials::NextAssertions>,
    enumeration: Option<management::Enumeration>,
    sink: Option<StateSink>,
    dirty: bool,
}

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

/// An answer longer than the report size's maximum message (a batch-attested
/// credential at 8-byte reports, say) cannot be sent: `CTAP1_ERR_OTHER` instead of
/// silence, so the host is not left waiting.
fn fit(answer: Vec<u8>, config: &Config) -> Vec<u8> {
    if answer.len() > config.report_size.max_message_len() {
        vec![StatusCode::OTHER.to_u8()]
    } else {
        answer
    }
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
    pub(crate) fn new(config: &Config) -> Self {
        let mut rng = Drbg::new(config.rng_seed);
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
            next_assertions: None,
            enumeration: None,
            sink: None,
            dirty: false,
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
        self.next_assertions = None;
        self.enumeration = None;
    }

    pub(crate) fn set_sink(&mut self, sink: Option<StateSink>) {
        self.sink = sink;
    }

    /// Replaces the persistent state (from a state file).
    pub(crate) fn load(&mut self, state: State) {
        self.state = state;
        self.token = None;
        self.pending = None;
        self.next_assertions = None;
        self.enumeration = None;
    }

    /// Runs one CTAP2 command.
    pub(crate) fn handle(
        &mut self,
        now: Instant,
        config: &Config,
        command: Ctap2Command,
        params: &[u8],
    ) -> Outcome {
        if self.powered_up.is_none() {
            self.powered_up = Some(now);
        }
        self.pending = None;
        // §6.3: getNextAssertion follows its getAssertion (or another getNextAssertion)
        // directly; the enumerations likewise follow their own commands.
        if command != Ctap2Command::GET_NEXT_ASSERTION {
            self.next_assertions = None;
        }
        if command != Ctap2Command::CREDENTIAL_MGMT && command != Ctap2Command::CREDENTIAL_MGMT_PRE
        {
            self.enumeration = None;
        }
        let result = match command {
            Ctap2Command::GET_INFO => Ok(Some(self.info_answer(config))),
            Ctap2Command::MAKE_CREDENTIAL => {
                decode(params).and_then(|r| self.make_credential(now, config, r))
            }
            Ctap2Command::GET_ASSERTION => {
                decode(params).and_then(|r| self.get_assertion(now, config, r))
            }
            Ctap2Command::GET_NEXT_ASSERTION => self.get_next_assertion(now).map(Some),
            Ctap2Command::CLIENT_PIN => decode(params)
                .and_then(|r| self.client_pin(now, r))
                .map(Some),
            Ctap2Command::CREDENTIAL_MGMT | Ctap2Command::CREDENTIAL_MGMT_PRE => decode(params)
                .and_then(|r| self.credential_management(now, config, r))
                .map(Some),
            Ctap2Command::CONFIG => decode(params).and_then(|r| self.config(now, r)).map(Some),
            Ctap2Command::RESET => self.reset(now, config),
            // bioEnrollment, largeBlobs and anything unknown.
            _ => Err(StatusCode::INVALID_COMMAND),
        };
        self.persist();
        match result {
            Ok(Some(bytes)) => Outcome::Answer(fit(bytes, config)),
            Ok(None) => Outcome::Touch,
            Err(status) => Outcome::Answer(vec![status.to_u8()]),
        }
    }

    /// The user touched the key for the pending command: finish it.
    pub(crate) fn touched(&mut self, now: Instant, config: &Config) -> Vec<u8> {
        let result = match self.pending.take() {
            Some(Pending::MakeCredential(plan)) => self.finish_make_credential(config, *plan),
            Some(Pending::GetAssertion(plan)) => self.finish_get_assertion(now, *plan),
            Some(Pending::Excluded) => Err(StatusCode::CREDENTIAL_EXCLUDED),
            Some(Pending::PinProbe) => Err(if self.state.pin.is_some() {
                StatusCode::PIN_INVALID
            } else {
                StatusCode::PIN_NOT_SET
            }),
            Some(Pending::Reset) => {
                self.factory_reset();
                Ok(vec![StatusCode::SUCCESS.to_u8()])
            }
            None => Err(StatusCode::OTHER),
        };
        self.persist();
        fit(result.unwrap_or_else(|status| vec![status.to_u8()]), config)
    }

    /// The touch-wait ended without a touch (denied, timed out, cancelled).
    pub(crate) fn abandon(&mut self) {
        self.pending = None;
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
        Info {
            versions: vec!["U2F_V2".into(), "FIDO_2_0".into(), "FIDO_2_1".into()],
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
            max_rpids_for_set_min_pin_length: Some(0),
            remaining_discoverable_credentials: Some(remaining as u64),
            ..Info::default()
        }
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
        self.dirty = true;
    }

    pub(crate) fn persist(&mut self) {
        if std::mem::take(&mut self.dirty) {
            if let Some(sink) = self.sink.as_mut() {
                sink(&self.state.to_file_bytes());
            }
        }
    }

    /// Checks a pinUvAuthParam over `message` against the token in force (§6.5.5.7 and
    /// the "verify" steps of each command): PIN_AUTH_INVALID when it does not verify,
    /// has expired, lacks `permission`, or is bound to another RP. On success the token
    /// is bound to `rp_id` if it was not bound yet.
    fn check_token(
        &mut self,
        now: Instant,
        protocol_number: Option<u64>,
        param: &[u8],
        message: &[u8],
        permission: Permissions,
        rp_id: Option<&str>,
    ) -> Result<()> {
        let protocol = protocol(protocol_number)?;
        let token = self.token.as_mut().ok_or(StatusCode::PIN_AUTH_INVALID)?;
        if token.protocol != protocol
            || token.expires <= now
            || !protocol.verify(&token.value, message, param)
            || !token.permissions.contains(permission)
        {
            return Err(StatusCode::PIN_AUTH_INVALID);
        }
        match (&token.rp_id, rp_id) {
            (Some(bound), Some(rp_id)) if bound != rp_id => {
                return Err(StatusCode::PIN_AUTH_INVALID);
            }
            (None, Some(rp_id)) => token.rp_id = Some(rp_id.into()),
            _ => {}
        }
        Ok(())
    }
}
