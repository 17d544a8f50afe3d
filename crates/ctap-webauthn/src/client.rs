//! `Fido2Client` (python-fido2's `fido2.client.Fido2Client`): WebAuthn's create() and
//! get() against one authenticator, over CTAP2 or, for keys without it, CTAP1/U2F.
//!
//! The PIN/UV decision, the exclude/allow list pre-flight and the retries follow
//! python-fido2's `_Ctap2ClientBackend` (itself CTAP 2.1 §6.1.1 / §6.2.1 "platform"
//! text and WebAuthn §6.3.2 / §6.3.3); each user-present operation gets its own
//! pinUvAuthToken, since CTAP 2.1 §6.1.2 step 17 / §6.2.2 step 9 clear the token's
//! permissions after one (the pre-flight, with up=false, does not use it up).

use std::fmt;
use std::time::{Duration, Instant};

use ctap_device::{CallOptions, CancelToken, CtapDevice};
use ctap_types::{Capabilities, KeepaliveStatus, StatusCode};
use ctap2_client::{
    Assertion, ClientPin, Ctap2, PinToken, get_assertion_request, make_credential_request,
    preferred_protocol,
};
use ctap2_proto::cbor::Value;
use ctap2_proto::{
    Algorithm, AttestedCredentialData, AuthenticatorData, CoseKey,
    CredentialDescriptor as CtapDescriptor, Flags, Info, Options, Permissions, PinProtocol,
    RpEntity as CtapRp, UserEntity as CtapUser,
};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::b64;
use crate::client_data::{ClientDataCollector, CollectedClientData, Operation, verify_app_id};
use crate::ctap1::{self, AuthenticateMode, Ctap1, StatusWord};
use crate::error::{Error, Result};
use crate::extensions::{
    ExtensionOutputs, cred_blob, cred_props, cred_protect, hmac_secret, large_blob, min_pin_length,
    payment,
};
use crate::webauthn::{
    AssertionResponse, AttestationConveyance, AttestationResponse, AuthenticationResponse,
    CreationOptions, CredentialDescriptor, RegistrationResponse, RequestOptions, ResidentKey,
    UserVerification,
};

/// What the client asks of the user (python-fido2's `UserInteraction`). Every method
/// has a default: no PIN, UV allowed, nothing shown.
pub trait UserInteraction {
    /// The authenticator waits for a touch (a KEEPALIVE UPNEEDED, or U2F's
    /// "conditions not satisfied").
    fn prompt_up(&mut self) {}

    /// A PIN is needed for `permissions` (on `rp_id`); `None` gives up
    /// ([`Error::PinRequired`]).
    fn request_pin(
        &mut self,
        permissions: Permissions,
        rp_id: Option<&str>,
    ) -> Option<Zeroizing<String>> {
        let _ = (permissions, rp_id);
        None
    }

    /// The authenticator is about to verify the user itself; `false` declines (the
    /// PIN is asked for instead, when there is one).
    fn request_uv(&mut self, permissions: Permissions, rp_id: Option<&str>) -> bool {
        let _ = (permissions, rp_id);
        true
    }
}

/// A [`UserInteraction`] with a fixed PIN (scripts, tests, the CLI's `--pin`). The PIN
/// is zeroized on drop and not printed.
pub struct FixedPin(Option<Zeroizing<String>>);

impl FixedPin {
    /// Answers every PIN request with `pin` (`None`: no PIN).
    #[must_use]
    pub fn new(pin: Option<&str>) -> Self {
        Self(pin.map(|p| Zeroizing::new(p.to_owned())))
    }
}

impl fmt::Debug for FixedPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FixedPin")
            .field(&self.0.as_ref().map(|_| "<PIN>"))
            .finish()
    }
}

impl UserInteraction for FixedPin {
    fn request_pin(&mut self, _: Permissions, _: Option<&str>) -> Option<Zeroizing<String>> {
        self.0.clone()
    }
}

/// The most assertions read for one get() (getNextAssertion is called at most this
/// many times less one, whatever numberOfCredentials says).
pub const MAX_ASSERTIONS: usize = 256;
/// How long a U2F authenticator is polled for a touch when the options give no
/// timeout.
pub const DEFAULT_U2F_TIMEOUT: Duration = Duration::from_secs(30);
/// The pause between two U2F polls (python-fido2: 0.25 s).
pub const U2F_POLL_INTERVAL: Duration = Duration::from_millis(250);

enum Backend<D> {
    Ctap2(Box<Ctap2<D>>),
    Ctap1 { ctap1: Ctap1<D>, info: Box<Info> },
}

/// A WebAuthn client for one authenticator.
///
/// ```text
/// python-fido2                                   here
/// Fido2Client(device, collector, interaction)    Fido2Client::new(device, collector, interaction)
/// .make_credential(options, event)               .make_credential(&options, cancel)
/// .get_assertion(options, event)                 .get_assertion(&options, cancel) -> AssertionSelection
/// .info                                          .info()
/// ```
pub struct Fido2Client<D> {
    backend: Backend<D>,
    collector: Box<dyn ClientDataCollector>,
    interaction: Box<dyn UserInteraction>,
    pin_protocol: Option<PinProtocol>,
}

impl<D> fmt::Debug for Fido2Client<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fido2Client")
            .field("ctap2", &matches!(self.backend, Backend::Ctap2(_)))
            .finish_non_exhaustive()
    }
}

/// The assertions of one get() (python-fido2's `AssertionSelection`): one for a
/// request with an allow list, one per discoverable credential otherwise, for the
/// user to choose from.
#[derive(Debug)]
pub struct AssertionSelection {
    client_data: CollectedClientData,
    assertions: Vec<(Assertion, ExtensionOutputs)>,
}

impl AssertionSelection {
    /// How many assertions there are (at least one).
    #[must_use]
    pub fn len(&self) -> usize {
        self.assertions.len()
    }

    /// Always `false`: a selection has at least one assertion.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.assertions.is_empty()
    }

    /// The raw assertions, to show their users before choosing.
    pub fn assertions(&self) -> impl Iterator<Item = &Assertion> {
        self.assertions.iter().map(|(a, _)| a)
    }

    /// The client data all assertions signed.
    #[must_use]
    pub fn client_data(&self) -> &CollectedClientData {
        &self.client_data
    }

    /// The response for assertion `index`.
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] when there is no such assertion or it names no
    /// credential.
    pub fn response(&self, index: usize) -> Result<AuthenticationResponse> {
        let (assertion, outputs) = self.assertions.get(index).ok_or_else(|| {
            Error::InvalidResponse(format!("no assertion {index} of {}", self.len()))
        })?;
        let credential = assertion
            .credential()
            .ok_or_else(|| Error::InvalidResponse("the assertion names no credential".into()))?;
        Ok(AuthenticationResponse {
            id: b64::encode(&credential.id),
            raw_id: credential.id.clone(),
            response: AssertionResponse {
                client_data_json: self.client_data.json().as_bytes().to_vec(),
                authenticator_data: assertion.response.auth_data.clone(),
                signature: assertion.response.signature.clone(),
                user_handle: assertion.user().map(|u| u.id.clone()),
            },
            authenticator_attachment: Some("cross-platform".into()),
            client_extension_results: outputs.clone(),
            kind: "public-key".into(),
        })
    }
}

/// The call options of one CTAP call: the caller's cancel token, a time-out, the
/// keep-alive passed on to the user interaction.
fn call<'a>(
    cancel: Option<&CancelToken>,
    timeout: Option<Duration>,
    on_keepalive: &'a mut dyn FnMut(KeepaliveStatus),
) -> CallOptions<'a> {
    let mut options = CallOptions::default().with_on_keepalive(on_keepalive);
    if let Some(token) = cancel {
        options = options.with_cancel(token.clone());
    }
    if let Some(timeout) = timeout {
        options = options.with_timeout(timeout);
    }
    options
}

fn timeout_of(ms: Option<u32>) -> Option<Duration> {
    ms.map(|ms| Duration::from_millis(u64::from(ms)))
}

/// Whether user verification is to be done (python-fido2's `_should_use_uv`, with one
/// difference): required or forced (`alwaysUv`) needs it configured; preferred uses it
/// when it is configured (a PIN set, built-in UV enrolled) and goes on without it when
/// not, as WebAuthn §5.8.6 says "preferred" means ("will not fail the operation if the
/// response does not have the UV flag set"; python-fido2 2.2.1 refuses instead);
/// makeCredential needs it on a configured authenticator without `makeCredUvNotRqd`
/// (CTAP 2.1 §6.4 options), and permissions beyond mc/ga need a token.
///
/// # Errors
/// [`Error::Unsupported`] when it is required and nothing is configured.
pub fn should_use_uv(
    info: &Info,
    requirement: UserVerification,
    permissions: Permissions,
) -> Result<bool> {
    let configured = ["uv", "clientPin", "bioEnroll"]
        .iter()
        .any(|k| info.option(k) == Some(true));
    let mc = permissions.0 & Permissions::MAKE_CREDENTIAL.0 != 0;
    let additional =
        permissions.0 & !(Permissions::MAKE_CREDENTIAL.0 | Permissions::GET_ASSERTION.0) != 0;
    if requirement == UserVerification::Required || info.option("alwaysUv") == Some(true) {
        if !configured {
            return Err(Error::Unsupported(
                "user verification is not configured".into(),
            ));
        }
        return Ok(true);
    }
    Ok(configured
        && (requirement == UserVerification::Preferred
            || (mc && info.option("makeCredUvNotRqd") != Some(true))
            || additional))
}

/// The DER SubjectPublicKeyInfo of an ES256 or EdDSA key (`getPublicKey()`).
fn spki(key: &CoseKey) -> Option<Vec<u8>> {
    match key {
        CoseKey::Es256 { x, y } => {
            let mut der = vec![
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
            ];
            der.extend_from_slice(x);
            der.extend_from_slice(y);
            Some(der)
        }
        CoseKey::EdDsa { x } => {
            let mut der = vec![
                0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
            ];
            der.extend_from_slice(x);
            Some(der)
        }
        _ => None,
    }
}

fn cose_algorithm(key: &CoseKey) -> i64 {
    match key {
        CoseKey::Other(Value::Map(entries)) => entries
            .iter()
            .find(|(k, _)| *k == Value::Int(3))
            .and_then(|(_, v)| v.as_int("alg").ok())
            .and_then(|a| i64::try_from(a).ok())
            .unwrap_or(0),
        other => other.algorithm().map_or(0, |a| i64::from(a.0)),
    }
}

/// Truncates `text` to at most 64 bytes at a character boundary (CTAP 2.1 §6.1.2
/// "rp.name, user.name, user.displayName": authenticators store 64 bytes; WebAuthn
/// §6.4.1 lets the client truncate).
fn truncated(text: &str) -> String {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}

/// The attestation object: CBOR {fmt, attStmt, authData} (WebAuthn §6.5).
fn attestation_object(fmt: &str, att_stmt: Value, auth_data: &[u8]) -> Vec<u8> {
    Value::Map(vec![
        (Value::text("fmt"), Value::text(fmt)),
        (Value::text("attStmt"), att_stmt),
        (Value::text("authData"), Value::bytes(auth_data)),
    ])
    .to_vec()
}

/// WebAuthn §5.1.3 step 22.1 ("none" conveyance): unless it is self attestation
/// (packed, no x5c, zero AAGUID), the statement becomes "none" and the AAGUID zeros.
fn anonymized(
    fmt: &str,
    att_stmt: &Value,
    auth_data: &AuthenticatorData,
) -> Option<(String, Value, Vec<u8>)> {
    let credential = auth_data.attested_credential.as_ref()?;
    let has_x5c =
        matches!(att_stmt, Value::Map(m) if m.iter().any(|(k, _)| *k == Value::text("x5c")));
    if fmt == "none" || (fmt == "packed" && !has_x5c && credential.aaguid == [0; 16]) {
        return None;
    }
    let mut data = auth_data.clone();
    if let Some(c) = data.attested_credential.as_mut() {
        c.aaguid = [0; 16];
    }
    Some(("none".into(), Value::Map(Vec::new()), data.to_bytes()))
}

#[allow(clippy::too_many_arguments)]
fn registration_response(
    client_data: &CollectedClientData,
    fmt: &str,
    att_stmt: Value,
    auth_data_bytes: Vec<u8>,
    auth_data: &AuthenticatorData,
    conveyance: AttestationConveyance,
    transports: Vec<String>,
    outputs: ExtensionOutputs,
) -> Result<RegistrationResponse> {
    let credential = auth_data
        .attested_credential
        .as_ref()
        .ok_or_else(|| Error::InvalidResponse("no attested credential data".into()))?;
    let (fmt, att_stmt, auth_data_bytes) = match (conveyance, anonymized(fmt, &att_stmt, auth_data))
    {
        (AttestationConveyance::None, Some(replaced)) => replaced,
        _ => (fmt.to_owned(), att_stmt, auth_data_bytes),
    };
    Ok(RegistrationResponse {
        id: b64::encode(&credential.credential_id),
        raw_id: credential.credential_id.clone(),
        response: AttestationResponse {
            client_data_json: client_data.json().as_bytes().to_vec(),
            attestation_object: attestation_object(&fmt, att_stmt, &auth_data_bytes),
            authenticator_data: auth_data_bytes,
            transports,
            public_key: spki(&credential.public_key),
            public_key_algorithm: cose_algorithm(&credential.public_key),
        },
        authenticator_attachment: Some("cross-platform".into()),
        client_extension_results: outputs,
        kind: "public-key".into(),
    })
}

/// The CTAP2 error of `error`, if it is one with status `status`.
fn is_status(error: &Error, status: StatusCode) -> bool {
    matches!(error, Error::Ctap(e) if e.status() == Some(status))
}

/// WebAuthn's reading of the CTAP statuses that end an operation (python-fido2's
/// `_ctap2client_err`).
fn webauthn_error(error: Error) -> Error {
    let Error::Ctap(e) = &error else {
        return error;
    };
    match e.status() {
        Some(StatusCode::CREDENTIAL_EXCLUDED) => Error::CredentialExcluded,
        Some(StatusCode::NO_CREDENTIALS) => Error::NoCredentials,
        Some(StatusCode::UNSUPPORTED_ALGORITHM) => {
            Error::Unsupported("none of pubKeyCredParams' algorithms".into())
        }
        Some(StatusCode::UNSUPPORTED_OPTION) => Error::Unsupported(format!("an option ({e})")),
        _ => error,
    }
}

impl<D: CtapDevice> Fido2Client<D> {
    /// A client for `device`: CTAP2 when the device has the CBOR capability, U2F
    /// otherwise (python-fido2 falls back the same way).
    ///
    /// # Errors
    /// The errors of opening CTAP2 (its getInfo).
    pub fn new(
        device: D,
        collector: impl ClientDataCollector + 'static,
        interaction: impl UserInteraction + 'static,
    ) -> Result<Self> {
        let backend = if device.capabilities().contains(Capabilities::CBOR) {
            Backend::Ctap2(Box::new(Ctap2::new(device)?))
        } else {
            Backend::Ctap1 {
                ctap1: Ctap1::new(device),
                info: Box::new(Info {
                    versions: vec!["U2F_V2".into()],
                    ..Info::default()
                }),
            }
        };
        Ok(Self {
            backend,
            collector: Box::new(collector),
            interaction: Box::new(interaction),
            pin_protocol: None,
        })
    }

    /// Uses PIN/UV auth protocol `protocol` (for PIN tokens and hmac-secret/prf)
    /// instead of the preferred one of getInfo (two, then one, as python-fido2).
    #[must_use]
    pub fn with_pin_protocol(mut self, protocol: PinProtocol) -> Self {
        self.pin_protocol = Some(protocol);
        self
    }

    /// The authenticator's getInfo (for a U2F key: versions `U2F_V2` and nothing
    /// else, as python-fido2).
    #[must_use]
    pub fn info(&self) -> &Info {
        match &self.backend {
            Backend::Ctap2(ctap) => ctap.info(),
            Backend::Ctap1 { info, .. } => info,
        }
    }

    /// The CTAP2 layer, when the authenticator has one.
    pub fn ctap2(&mut self) -> Option<&mut Ctap2<D>> {
        match &mut self.backend {
            Backend::Ctap2(ctap) => Some(ctap),
            Backend::Ctap1 { .. } => None,
        }
    }

    /// Reads getInfo again (after the PIN or `alwaysUv` changed elsewhere). The PIN/UV
    /// decision uses the getInfo read when the client was made, or by this.
    ///
    /// # Errors
    /// The errors of getInfo.
    pub fn refresh_info(&mut self) -> Result<()> {
        if let Backend::Ctap2(ctap) = &mut self.backend {
            ctap.get_info()?;
        }
        Ok(())
    }

    /// `navigator.credentials.create()`: registers a credential.
    ///
    /// # Errors
    /// [`Error::RpIdNotAllowed`] / [`Error::InvalidOrigin`] from the client data;
    /// [`Error::CredentialExcluded`], [`Error::PinRequired`], [`Error::Unsupported`],
    /// [`Error::Ctap`] (cancelled, denied, ...), [`Error::InvalidResponse`].
    pub fn make_credential(
        &mut self,
        options: &CreationOptions,
        cancel: Option<&CancelToken>,
    ) -> Result<RegistrationResponse> {
        let (client_data, rp_id) = self.collector.collect(Operation::Create(options))?;
        let interaction = self.interaction.as_mut();
        match &mut self.backend {
            Backend::Ctap2(ctap) => {
                let protocol = self
                    .pin_protocol
                    .or_else(|| preferred_protocol(ctap.info()));
                ctap2_make_credential(
                    ctap,
                    interaction,
                    protocol,
                    options,
                    &client_data,
                    &rp_id,
                    cancel,
                )
            }
            Backend::Ctap1 { ctap1, .. } => {
                u2f_register(ctap1, interaction, options, &client_data, &rp_id, cancel)
            }
        }
        .map_err(webauthn_error)
    }

    /// `navigator.credentials.get()`: one assertion per credential to choose from.
    ///
    /// # Errors
    /// As [`make_credential`](Self::make_credential); [`Error::NoCredentials`].
    pub fn get_assertion(
        &mut self,
        options: &RequestOptions,
        cancel: Option<&CancelToken>,
    ) -> Result<AssertionSelection> {
        let (client_data, rp_id) = self.collector.collect(Operation::Get(options))?;
        let interaction = self.interaction.as_mut();
        match &mut self.backend {
            Backend::Ctap2(ctap) => {
                let protocol = self
                    .pin_protocol
                    .or_else(|| preferred_protocol(ctap.info()));
                ctap2_get_assertion(
                    ctap,
                    interaction,
                    protocol,
                    options,
                    client_data,
                    &rp_id,
                    cancel,
                )
            }
            Backend::Ctap1 { ctap1, .. } => {
                u2f_authenticate(ctap1, interaction, options, client_data, &rp_id, cancel)
            }
        }
        .map_err(webauthn_error)
    }
}

/// A pinUvAuthToken, or built-in UV without one (python-fido2's `_get_token`).
fn get_token<D: CtapDevice>(
    ctap: &mut Ctap2<D>,
    ui: &mut dyn UserInteraction,
    protocol: Option<PinProtocol>,
    permissions: Permissions,
    rp_id: &str,
    allow_uv: bool,
    cancel: Option<&CancelToken>,
) -> Result<Option<PinToken>> {
    let info = ctap.info().clone();
    let mut declined = false;
    let allow_internal_uv =
        permissions.0 & !(Permissions::MAKE_CREDENTIAL.0 | Permissions::GET_ASSERTION.0) == 0;
    if allow_uv && info.option("uv") == Some(true) {
        if ClientPin::<D>::is_token_supported(&info) {
            if let Some(protocol) = protocol {
                declined = !ui.request_uv(permissions, Some(rp_id));
                if !declined {
                    let mut keepalive = |s: KeepaliveStatus| {
                        if s == KeepaliveStatus::UPNEEDED {
                            ui.prompt_up();
                        }
                    };
                    let token = ClientPin::with_protocol(ctap, protocol).get_uv_token(
                        permissions,
                        Some(rp_id),
                        call(cancel, None, &mut keepalive),
                    )?;
                    return Ok(Some(token));
                }
            }
        } else if allow_internal_uv {
            if ui.request_uv(permissions, Some(rp_id)) {
                return Ok(None);
            }
            declined = true;
        }
    }
    if info.option("clientPin") == Some(true) {
        let protocol = protocol.ok_or_else(|| {
            Error::Unsupported("a PIN/UV auth protocol this client speaks".into())
        })?;
        let pin = ui
            .request_pin(permissions, Some(rp_id))
            .filter(|p| !p.is_empty())
            .ok_or(Error::PinRequired)?;
        let token = ClientPin::with_protocol(ctap, protocol).get_pin_token(
            &pin,
            permissions,
            Some(rp_id),
        )?;
        return Ok(Some(token));
    }
    if declined {
        // Built-in UV was the only way, and the user said no.
        return Err(Error::UvDeclined);
    }
    Err(Error::Unsupported(
        "user verification is not configured".into(),
    ))
}

/// The token (or built-in UV) an operation needs: `(token, uv option)`.
#[allow(clippy::too_many_arguments)]
fn auth_params<D: CtapDevice>(
    ctap: &mut Ctap2<D>,
    ui: &mut dyn UserInteraction,
    protocol: Option<PinProtocol>,
    requirement: UserVerification,
    permissions: Permissions,
    rp_id: &str,
    allow_uv: bool,
    cancel: Option<&CancelToken>,
) -> Result<(Option<PinToken>, bool)> {
    if !should_use_uv(ctap.info(), requirement, permissions)? {
        return Ok((None, false));
    }
    let token = get_token(ctap, ui, protocol, permissions, rp_id, allow_uv, cancel)?;
    let internal_uv = token.is_none();
    Ok((token, internal_uv))
}

/// The silent pre-flight (python-fido2's `_filter_creds`, CTAP 2.1 §6.2.2 with
/// up=false): which credential of `list` the authenticator holds for `rp_id`, asked in
/// batches of `maxCredentialCountInList` (smaller after REQUEST_TOO_LARGE), ids longer
/// than `maxCredentialIdLength` left out.
fn filter_creds<D: CtapDevice>(
    ctap: &mut Ctap2<D>,
    rp_id: &str,
    list: &[CredentialDescriptor],
    token: Option<&PinToken>,
    cancel: Option<&CancelToken>,
) -> Result<Option<CtapDescriptor>> {
    let info = ctap.info();
    let max_len = info
        .max_credential_id_length
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(usize::MAX);
    let list: Vec<CtapDescriptor> = list
        .iter()
        .filter(|c| c.id.len() <= max_len && c.kind == "public-key")
        .map(|c| CtapDescriptor::public_key(&c.id))
        .collect();
    let mut max_creds = info
        .max_credential_count_in_list
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(1)
        .clamp(1, crate::webauthn::MAX_CREDENTIALS);
    let mut rest = list.as_slice();
    while !rest.is_empty() {
        let (chunk, after) = rest.split_at(max_creds.min(rest.len()));
        let mut request = get_assertion_request(rp_id, [0; 32], &[]);
        request.allow_list = Some(chunk.to_vec());
        request.options = Some(Options {
            up: Some(false),
            ..Options::default()
        });
        if let Some(token) = token {
            token.authorize_get_assertion(&mut request);
        }
        let mut ignore = |_| {};
        match ctap.get_assertion(&request, call(cancel, None, &mut ignore)) {
            Ok(assertion) => {
                return Ok(if let [only] = chunk {
                    Some(only.clone())
                } else {
                    assertion
                        .credential()
                        .map(|c| CtapDescriptor::public_key(&c.id))
                });
            }
            Err(e) if e.status() == Some(StatusCode::REQUEST_TOO_LARGE) && max_creds > 1 => {
                max_creds -= 1
            }
            Err(e) if e.status() == Some(StatusCode::NO_CREDENTIALS) => rest = after,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// `list` as one request's list when it fits in one (no more ids than
/// `maxCredentialCountInList`, ids longer than `maxCredentialIdLength` left out): the
/// authenticator then checks the ids itself and no pre-flight is needed (as Chromium
/// does; python-fido2 always probes). `None` when it does not fit.
fn single_batch(info: &Info, list: &[CredentialDescriptor]) -> Option<Vec<CtapDescriptor>> {
    let max_len = info
        .max_credential_id_length
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(usize::MAX);
    let max_count = info
        .max_credential_count_in_list
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(1)
        .max(1);
    let fitting: Vec<CtapDescriptor> = list
        .iter()
        .filter(|c| c.id.len() <= max_len && c.kind == "public-key")
        .map(|c| CtapDescriptor::public_key(&c.id))
        .collect();
    (fitting.len() <= max_count).then_some(fitting)
}

/// makeCredential's algorithms (WebAuthn §5.1.3 step 10: public-key entries; none
/// given: ES256 and RS256).
fn algorithms(options: &CreationOptions) -> Result<Vec<Algorithm>> {
    if options.pub_key_cred_params.is_empty() {
        return Ok(vec![Algorithm::ES256, Algorithm(-257)]);
    }
    let algs: Vec<Algorithm> = options
        .pub_key_cred_params
        .iter()
        .filter(|p| p.kind == "public-key")
        .map(|p| Algorithm(p.alg))
        .collect();
    if algs.is_empty() {
        return Err(Error::Unsupported(
            "no pubKeyCredParams of type public-key".into(),
        ));
    }
    Ok(algs)
}

fn ctap2_make_credential<D: CtapDevice>(
    ctap: &mut Ctap2<D>,
    ui: &mut dyn UserInteraction,
    protocol: Option<PinProtocol>,
    options: &CreationOptions,
    client_data: &CollectedClientData,
    rp_id: &str,
    cancel: Option<&CancelToken>,
) -> Result<RegistrationResponse> {
    let algorithms = algorithms(options)?;
    let mut requirement = options.user_verification();
    let mut allow_uv = true;
    // python-fido2's retries: PUAT_REQUIRED with "discouraged" asks for UV after all;
    // UV_BLOCKED falls back to the PIN once. Three attempts cover both.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match ctap2_make_credential_once(
            ctap,
            ui,
            options,
            client_data,
            rp_id,
            &algorithms,
            protocol,
            requirement,
            allow_uv,
            cancel,
        ) {
            Err(e)
                if attempt < 3
                    && is_status(&e, StatusCode::PUAT_REQUIRED)
                    && requirement == UserVerification::Discouraged =>
            {
                requirement = UserVerification::Required;
            }
            Err(e) if attempt < 3 && is_status(&e, StatusCode::UV_BLOCKED) && allow_uv => {
                allow_uv = false
            }
            other => return other,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn ctap2_make_credential_once<D: CtapDevice>(
    ctap: &mut Ctap2<D>,
    ui: &mut dyn UserInteraction,
    options: &CreationOptions,
    client_data: &CollectedClientData,
    rp_id: &str,
    algorithms: &[Algorithm],
    protocol: Option<PinProtocol>,
    requirement: UserVerification,
    allow_uv: bool,
    cancel: Option<&CancelToken>,
) -> Result<RegistrationResponse> {
    let info = ctap.info().clone();
    let inputs = &options.extensions;
    let mut permissions = Permissions::MAKE_CREDENTIAL;
    if !options.exclude_credentials.is_empty() {
        // The pre-flight of the exclude list is a getAssertion.
        permissions = Permissions(permissions.0 | Permissions::GET_ASSERTION.0);
    }
    let selection = options.authenticator_selection.clone().unwrap_or_default();
    let can_rk = info.option("rk") == Some(true);
    let rk = match selection.effective_resident_key() {
        ResidentKey::Required => true,
        ResidentKey::Preferred => can_rk,
        ResidentKey::Discouraged => false,
    };
    if rk && !can_rk {
        return Err(Error::Unsupported(
            "discoverable credentials (residentKey required)".into(),
        ));
    }
    // Extension inputs first: an enforced or required extension fails before any PIN
    // is asked for.
    let mut ext = Vec::new();
    let hmac = hmac_secret::registration_input(ctap, inputs, protocol, &mut ext)?;
    let large_blob = large_blob::registration_input(inputs, &info, rk, &mut ext)?;
    cred_blob::registration_input(inputs, &info, &mut ext);
    cred_protect::registration_input(inputs, &info, &mut ext)?;
    min_pin_length::registration_input(inputs, &info, &mut ext);
    payment::input(inputs, &info, &mut ext);

    let (token, internal_uv) = auth_params(
        ctap,
        ui,
        protocol,
        requirement,
        permissions,
        rp_id,
        allow_uv,
        cancel,
    )?;
    // An excluded credential found here still goes to the authenticator, which waits
    // for the touch before refusing (CTAP 2.1 §6.1.2 step 7), so the user sees why.
    let excluded = if options.exclude_credentials.is_empty() {
        None
    } else if let Some(list) = single_batch(&info, &options.exclude_credentials) {
        // All in one request: the authenticator finds the excluded one itself.
        (!list.is_empty()).then_some(list)
    } else {
        filter_creds(
            ctap,
            rp_id,
            &options.exclude_credentials,
            token.as_ref(),
            cancel,
        )?
        .map(|c| vec![c])
    };

    let rp = CtapRp {
        icon: None,
        id: rp_id.to_owned(),
        name: Some(truncated(&options.rp.name)),
    };
    let user = CtapUser {
        icon: None,
        id: options.user.id.clone(),
        name: Some(truncated(&options.user.name)),
        display_name: Some(truncated(&options.user.display_name)),
    };
    let mut request = make_credential_request(client_data.hash(), rp, user, algorithms);
    request.exclude_list = excluded;
    request.extensions = (!ext.is_empty()).then_some(ext);
    if rk || internal_uv {
        request.options = Some(Options {
            rk: rk.then_some(true),
            uv: internal_uv.then_some(true),
            up: None,
        });
    }
    if let Some(token) = &token {
        token.authorize_make_credential(&mut request);
    }
    let mut keepalive = |s: KeepaliveStatus| {
        if s == KeepaliveStatus::UPNEEDED {
            ui.prompt_up();
        }
    };
    let attestation = ctap.make_credential(
        &request,
        call(cancel, timeout_of(options.timeout), &mut keepalive),
    )?;

    let mut outputs = ExtensionOutputs::default();
    cred_props::registration_output(inputs, rk, &mut outputs);
    if let Some(hmac) = hmac {
        hmac.output(&attestation.auth_data, &mut outputs)?;
    }
    if large_blob {
        large_blob::registration_output(
            attestation.response.large_blob_key.as_deref(),
            &mut outputs,
        )?;
    }
    cred_blob::registration_output(inputs, &attestation.auth_data, &mut outputs)?;
    registration_response(
        client_data,
        &attestation.response.fmt,
        attestation.response.att_stmt.clone(),
        attestation.response.auth_data.clone(),
        &attestation.auth_data,
        options.attestation,
        info.transports.clone(),
        outputs,
    )
}

fn ctap2_get_assertion<D: CtapDevice>(
    ctap: &mut Ctap2<D>,
    ui: &mut dyn UserInteraction,
    protocol: Option<PinProtocol>,
    options: &RequestOptions,
    client_data: CollectedClientData,
    rp_id: &str,
    cancel: Option<&CancelToken>,
) -> Result<AssertionSelection> {
    let mut requirement = options.user_verification.unwrap_or_default();
    let mut allow_uv = true;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match ctap2_get_assertion_once(
            ctap,
            ui,
            options,
            &client_data,
            rp_id,
            protocol,
            requirement,
            allow_uv,
            cancel,
        ) {
            Err(e)
                if attempt < 3
                    && is_status(&e, StatusCode::PUAT_REQUIRED)
                    && requirement == UserVerification::Discouraged =>
            {
                requirement = UserVerification::Required;
            }
            Err(e) if attempt < 3 && is_status(&e, StatusCode::UV_BLOCKED) && allow_uv => {
                allow_uv = false
            }
            Ok(assertions) => {
                return Ok(AssertionSelection {
                    client_data,
                    assertions,
                });
            }
            Err(e) => return Err(e),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn ctap2_get_assertion_once<D: CtapDevice>(
    ctap: &mut Ctap2<D>,
    ui: &mut dyn UserInteraction,
    options: &RequestOptions,
    client_data: &CollectedClientData,
    rp_id: &str,
    protocol: Option<PinProtocol>,
    requirement: UserVerification,
    allow_uv: bool,
    cancel: Option<&CancelToken>,
) -> Result<Vec<(Assertion, ExtensionOutputs)>> {
    let info = ctap.info().clone();
    let inputs = &options.extensions;
    let large_blob = large_blob::authentication(inputs, &info)?;
    let mut permissions = Permissions::GET_ASSERTION;
    if large_blob
        .as_ref()
        .is_some_and(large_blob::Authentication::writes)
    {
        permissions = Permissions(permissions.0 | Permissions::LARGE_BLOB_WRITE.0);
    }
    let mut hmac = hmac_secret::authentication(ctap, inputs, protocol)?;
    let (token, internal_uv) = auth_params(
        ctap,
        ui,
        protocol,
        requirement,
        permissions,
        rp_id,
        allow_uv,
        cancel,
    )?;

    let mut used_rp_id = rp_id.to_owned();
    let mut appid_used = None;
    // The pre-flight is needed when the list does not fit in one request, when prf's
    // evalByCredential must know the credential before the salts are sent, and for
    // the appid fallback; otherwise the whole list goes to the authenticator.
    let by_credential = inputs
        .prf
        .as_ref()
        .is_some_and(|p| !p.eval_by_credential.is_empty());
    let direct = single_batch(&info, &options.allow_credentials)
        .filter(|list| inputs.appid.is_none() && (list.len() == 1 || !by_credential));
    let selected = if options.allow_credentials.is_empty() || direct.is_some() {
        direct.as_deref().and_then(|list| {
            if let [only] = list {
                Some(only.clone())
            } else {
                None
            }
        })
    } else {
        let found = filter_creds(
            ctap,
            rp_id,
            &options.allow_credentials,
            token.as_ref(),
            cancel,
        )?;
        match (&found, &inputs.appid) {
            // WebAuthn §10.1.1: the U2F AppID in place of the rpId, for credentials
            // registered over U2F (rpIdHash = SHA-256(AppID)).
            (None, Some(appid)) if verify_app_id(appid, &client_data.origin) => {
                let by_appid = filter_creds(
                    ctap,
                    appid,
                    &options.allow_credentials,
                    token.as_ref(),
                    cancel,
                )?;
                appid_used = Some(by_appid.is_some());
                if by_appid.is_some() {
                    appid.clone_into(&mut used_rp_id);
                }
                by_appid
            }
            (_, Some(_)) => {
                appid_used = Some(false);
                found
            }
            _ => found,
        }
    };

    let mut ext = Vec::new();
    if let Some(hmac) = hmac.as_mut() {
        hmac.input(selected.as_ref().map(|c| c.id.as_slice()), &mut ext)?;
    }
    cred_blob::authentication_input(inputs, &info, &mut ext);
    if large_blob.is_some() {
        ext.push(("largeBlobKey".into(), Value::Bool(true)));
    }
    payment::input(inputs, &info, &mut ext);

    let allow: Vec<Vec<u8>> = match (&selected, &direct) {
        (_, Some(list)) if !list.is_empty() => list.iter().map(|c| c.id.clone()).collect(),
        (Some(c), _) => vec![c.id.clone()],
        // An allow list none of which is here: one dummy id, so the authenticator
        // still waits for the touch before saying NO_CREDENTIALS (python-fido2).
        (None, _) if !options.allow_credentials.is_empty() => vec![vec![0]],
        (None, _) => Vec::new(),
    };
    let mut request = get_assertion_request(&used_rp_id, client_data.hash(), &allow);
    request.extensions = (!ext.is_empty()).then_some(ext);
    if internal_uv {
        request.options = Some(Options {
            uv: Some(true),
            ..Options::default()
        });
    }
    if let Some(token) = &token {
        token.authorize_get_assertion(&mut request);
    }
    let timeout = timeout_of(options.timeout);
    let mut assertions = {
        let mut keepalive = |s: KeepaliveStatus| {
            if s == KeepaliveStatus::UPNEEDED {
                ui.prompt_up();
            }
        };
        vec![ctap.get_assertion(&request, call(cancel, timeout, &mut keepalive))?]
    };
    let count = assertions
        .first()
        .and_then(Assertion::number_of_credentials)
        .map_or(1, |n| usize::try_from(n).unwrap_or(usize::MAX))
        .min(MAX_ASSERTIONS);
    for _ in 1..count {
        assertions.push(ctap.get_next_assertion()?);
    }

    let mut results = Vec::with_capacity(assertions.len());
    for assertion in assertions {
        let mut outputs = ExtensionOutputs {
            appid: appid_used,
            ..ExtensionOutputs::default()
        };
        if let Some(hmac) = &hmac {
            hmac.output(&assertion.auth_data, &mut outputs)?;
        }
        cred_blob::authentication_output(inputs, &info, &assertion.auth_data, &mut outputs)?;
        if let Some(large_blob) = &large_blob {
            large_blob.output(ctap, &assertion, token.as_ref(), &mut outputs)?;
        }
        results.push((assertion, outputs));
    }
    Ok(results)
}

/// Polls a U2F request until the user touches the key (python-fido2's
/// `_call_polling`): USE_NOT_SATISFIED means "touch needed, ask again".
fn poll<T>(
    ui: &mut dyn UserInteraction,
    cancel: Option<&CancelToken>,
    timeout: Option<Duration>,
    mut request: impl FnMut() -> Result<T, ctap1::Error>,
) -> Result<T> {
    let deadline = Instant::now() + timeout.unwrap_or(DEFAULT_U2F_TIMEOUT);
    let mut prompted = false;
    loop {
        match request() {
            Err(ctap1::Error::Apdu(StatusWord::USE_NOT_SATISFIED)) => {
                if !prompted {
                    ui.prompt_up();
                    prompted = true;
                }
                if cancel.is_some_and(CancelToken::is_cancelled) {
                    return Err(Error::Ctap1(ctap1::Error::Device(
                        ctap_device::Error::Cancelled,
                    )));
                }
                if Instant::now() >= deadline {
                    return Err(Error::Ctap1(ctap1::Error::Apdu(
                        StatusWord::USE_NOT_SATISFIED,
                    )));
                }
                std::thread::sleep(U2F_POLL_INTERVAL);
            }
            other => return other.map_err(Error::from),
        }
    }
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// create() on a U2F key (python-fido2's `_Ctap1ClientBackend.do_make_credential`):
/// no discoverable credentials, no UV, ES256 only, no extensions.
fn u2f_register<D: CtapDevice>(
    ctap1: &mut Ctap1<D>,
    ui: &mut dyn UserInteraction,
    options: &CreationOptions,
    client_data: &CollectedClientData,
    rp_id: &str,
    cancel: Option<&CancelToken>,
) -> Result<RegistrationResponse> {
    let selection = options.authenticator_selection.clone().unwrap_or_default();
    if selection.effective_resident_key() == ResidentKey::Required {
        return Err(Error::Unsupported(
            "discoverable credentials on a U2F key".into(),
        ));
    }
    if options.user_verification() == UserVerification::Required {
        return Err(Error::Unsupported("user verification on a U2F key".into()));
    }
    if !algorithms(options)?.contains(&Algorithm::ES256) {
        return Err(Error::Unsupported("a U2F key signs with ES256 only".into()));
    }
    if options.attestation == AttestationConveyance::Enterprise {
        return Err(Error::Unsupported(
            "enterprise attestation on a U2F key".into(),
        ));
    }
    let app_param = sha256(rp_id);
    let timeout = timeout_of(options.timeout);
    let dummy = [0u8; 32];
    for credential in &options.exclude_credentials {
        if credential.id.len() > 255 {
            // Not a U2F key handle (one length byte): cannot be this key's.
            continue;
        }
        match ctap1.authenticate(
            &dummy,
            &app_param,
            &credential.id,
            AuthenticateMode::CheckOnly,
            CallOptions::default(),
        ) {
            Err(ctap1::Error::Apdu(StatusWord::USE_NOT_SATISFIED)) => {
                // Known: a touch on a dummy registration, then refuse (WebAuthn §6.3.2
                // step 3's "after user consent").
                poll(ui, cancel, timeout, || {
                    ctap1.register(&dummy, &dummy, CallOptions::default())
                })?;
                return Err(Error::CredentialExcluded);
            }
            Err(ctap1::Error::Apdu(_)) | Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let client_param = client_data.hash();
    let registration = poll(ui, cancel, timeout, || {
        ctap1.register(&client_param, &app_param, CallOptions::default())
    })?;
    registration.verify(&app_param, &client_param)?;
    // WebAuthn §8.6 step "authenticator data": the U2F answer as attested credential
    // data (AAGUID zero, counter zero, flags UP|AT).
    let auth_data = AuthenticatorData {
        rp_id_hash: app_param,
        flags: Flags::UP,
        sign_count: 0,
        attested_credential: Some(AttestedCredentialData {
            aaguid: [0; 16],
            credential_id: registration.key_handle.clone(),
            public_key: registration.cose_key()?,
        }),
        extensions: None,
    };
    let att_stmt = Value::Map(vec![
        (Value::text("sig"), Value::bytes(&registration.signature)),
        (
            Value::text("x5c"),
            Value::Array(vec![Value::bytes(&registration.certificate)]),
        ),
    ]);
    let mut outputs = ExtensionOutputs::default();
    cred_props::registration_output(&options.extensions, false, &mut outputs);
    registration_response(
        client_data,
        "fido-u2f",
        att_stmt,
        auth_data.to_bytes(),
        &auth_data,
        options.attestation,
        vec!["usb".into()],
        outputs,
    )
}

/// get() on a U2F key: the first allowed key handle the key knows (under the rpId, or
/// the appid extension's AppID), signed after a touch.
fn u2f_authenticate<D: CtapDevice>(
    ctap1: &mut Ctap1<D>,
    ui: &mut dyn UserInteraction,
    options: &RequestOptions,
    client_data: CollectedClientData,
    rp_id: &str,
    cancel: Option<&CancelToken>,
) -> Result<AssertionSelection> {
    if options.user_verification == Some(UserVerification::Required) {
        return Err(Error::Unsupported("user verification on a U2F key".into()));
    }
    if options.allow_credentials.is_empty() {
        return Err(Error::Unsupported(
            "discoverable credentials on a U2F key".into(),
        ));
    }
    let mut candidates = vec![(sha256(rp_id), false)];
    let appid = options
        .extensions
        .appid
        .as_deref()
        .filter(|a| verify_app_id(a, &client_data.origin));
    if let Some(appid) = appid {
        candidates.push((sha256(appid), true));
    }
    let client_param = client_data.hash();
    let mut found = None;
    'search: for credential in options
        .allow_credentials
        .iter()
        .filter(|c| c.id.len() <= 255)
    {
        for (app_param, by_appid) in &candidates {
            match ctap1.authenticate(
                &client_param,
                app_param,
                &credential.id,
                AuthenticateMode::CheckOnly,
                CallOptions::default(),
            ) {
                Err(ctap1::Error::Apdu(StatusWord::USE_NOT_SATISFIED)) => {
                    found = Some((credential, *app_param, *by_appid));
                    break 'search;
                }
                Err(ctap1::Error::Apdu(_)) | Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let (credential, app_param, by_appid) = found.ok_or(Error::NoCredentials)?;
    let signature = poll(ui, cancel, timeout_of(options.timeout), || {
        ctap1.authenticate(
            &client_param,
            &app_param,
            &credential.id,
            AuthenticateMode::EnforceUserPresence,
            CallOptions::default(),
        )
    })?;
    // The U2F signature covers application || presence || counter || challenge: the
    // authenticator data (with the presence byte as flags) || clientDataHash.
    let mut auth_data_bytes = app_param.to_vec();
    auth_data_bytes.push(signature.user_presence);
    auth_data_bytes.extend_from_slice(&signature.counter.to_be_bytes());
    let response = ctap2_proto::GetAssertionResponse {
        credential: Some(CtapDescriptor::public_key(&credential.id)),
        auth_data: auth_data_bytes,
        signature: signature.signature,
        user: None,
        number_of_credentials: None,
        user_selected: None,
        large_blob_key: None,
        unsigned_extension_outputs: None,
    };
    let assertion = Assertion::from_response(response)?;
    let outputs = ExtensionOutputs {
        appid: appid.map(|_| by_appid),
        ..ExtensionOutputs::default()
    };
    Ok(AssertionSelection {
        client_data,
        assertions: vec![(assertion, outputs)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(options: &[(&str, bool)]) -> Info {
        Info {
            options: options.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            ..Info::default()
        }
    }

    #[test]
    fn the_uv_decision_is_python_fido2s() {
        let mc = Permissions::MAKE_CREDENTIAL;
        let ga = Permissions::GET_ASSERTION;
        use UserVerification::{Discouraged, Preferred, Required};
        // No PIN set: preferred goes on without UV (WebAuthn §5.8.6), required is
        // unsupported.
        let unset = info(&[("clientPin", false)]);
        assert!(!should_use_uv(&unset, Preferred, ga).unwrap());
        assert!(matches!(
            should_use_uv(&unset, Required, mc),
            Err(Error::Unsupported(_))
        ));
        assert!(!should_use_uv(&unset, Discouraged, ga).unwrap());
        assert!(should_use_uv(&unset, Required, ga).is_err());
        // A PIN set: preferred uses it; discouraged does not for getAssertion.
        let set = info(&[("clientPin", true), ("makeCredUvNotRqd", true)]);
        assert!(should_use_uv(&set, Preferred, ga).unwrap());
        assert!(!should_use_uv(&set, Discouraged, ga).unwrap());
        assert!(!should_use_uv(&set, Discouraged, mc).unwrap());
        // Without makeCredUvNotRqd, makeCredential needs it even when discouraged.
        let strict = info(&[("clientPin", true)]);
        assert!(should_use_uv(&strict, Discouraged, mc).unwrap());
        // alwaysUv forces it.
        let always = info(&[
            ("clientPin", true),
            ("alwaysUv", true),
            ("makeCredUvNotRqd", true),
        ]);
        assert!(should_use_uv(&always, Discouraged, ga).unwrap());
        // Permissions beyond mc/ga (largeBlobWrite) need a token.
        let lbw = Permissions(ga.0 | Permissions::LARGE_BLOB_WRITE.0);
        assert!(should_use_uv(&set, Discouraged, lbw).unwrap());
        // No clientPin/uv at all: preferred does nothing.
        assert!(!should_use_uv(&Info::default(), Preferred, mc).unwrap());
    }

    #[test]
    fn names_are_truncated_at_a_character_boundary() {
        assert_eq!(truncated("short"), "short");
        let long = "é".repeat(40); // 80 bytes
        let cut = truncated(&long);
        assert_eq!(cut.len(), 64);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
