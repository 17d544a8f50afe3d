//! `Ctap2`: the CTAP2 commands over any [`CtapDevice`] (python-fido2's
//! `fido2.ctap2.Ctap2`).

use std::fmt;
use std::time::{Duration, Instant};

use ctap_device::{CallOptions, CtapDevice};
use ctap_types::{Command, Ctap2Command, CtapError, StatusCode};
use ctap2_proto::cbor::{CborMessage, DecodeMode, Value};
use ctap2_proto::{
    ClientPinRequest, ClientPinResponse, ConfigRequest, CredentialManagementRequest,
    CredentialManagementResponse, GetAssertionRequest, GetAssertionResponse, Info,
    LargeBlobsRequest, LargeBlobsResponse, MakeCredentialRequest, MakeCredentialResponse,
};

use crate::results::{Assertion, Attestation};
use crate::rng::{Randomness, SystemRandom};
use crate::{Error, Result};

/// The most results a list built from a device's own count may hold: assertions of
/// [`Ctap2::get_assertions`] without an allow list, RPs and credentials of
/// [`CredentialManagement`](crate::CredentialManagement)'s enumerations (all RPs'
/// credentials together). CTAP 2.1 sets no limit on discoverable credentials (§6.2.2,
/// §6.8); the keys on sale hold at most a few hundred. Each result is one answer of at
/// most the transport's message size (7609 bytes over CTAPHID), so a list is bounded
/// by about 8 MiB whatever a device claims; a larger claim is an error before anything
/// is kept.
pub const MAX_CREDENTIALS: usize = 1024;

/// A CTAP2 authenticator behind a [`CtapDevice`]: every command of CTAP 2.1 with typed
/// requests and results. The authenticator's [`Info`] is read once when it is opened
/// (as python-fido2 does) and kept in [`info`](Self::info).
///
/// Commands that may wait for a touch (`make_credential`, `get_assertion`,
/// `selection`, `reset`) take [`CallOptions`]: a cancel token and a keep-alive callback
/// pass through to [`CtapDevice::call_with`] as they are. The others use the default
/// options. Every call gets [`timeout`](Self::with_timeout) as its overall deadline
/// unless its options set one; a [`deadline`](Self::with_deadline) bounds every call
/// together (a command of several calls ends by one instant).
pub struct Ctap2<D> {
    device: D,
    info: Info,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    rng: Box<dyn Randomness>,
}

impl<D> fmt::Debug for Ctap2<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctap2")
            .field("info", &self.info)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<D: CtapDevice> Ctap2<D> {
    /// Opens the CTAP2 layer of `device`: sends authenticatorGetInfo.
    ///
    /// # Errors
    /// [`Error::Unsupported`] if the device has no CBOR capability; the errors of
    /// [`get_info`](Self::get_info).
    pub fn new(device: D) -> Result<Self> {
        Self::new_until(device, None)
    }

    /// As [`new`](Self::new), with a [`deadline`](Self::with_deadline) that bounds the
    /// getInfo of opening too.
    ///
    /// # Errors
    /// As [`new`](Self::new); a deadline that passes first ends the getInfo with the
    /// device's time-out error.
    pub fn new_until(mut device: D, deadline: Option<Instant>) -> Result<Self> {
        if !device
            .capabilities()
            .contains(ctap_types::Capabilities::CBOR)
        {
            return Err(Error::Unsupported(
                "CTAP2 (the device has no CBOR capability)".into(),
            ));
        }
        let info = decode(
            "authenticatorGetInfo",
            &send(
                &mut device,
                Ctap2Command::GET_INFO,
                None,
                bounded(CallOptions::default(), deadline, Instant::now()),
            )?,
        )?;
        Ok(Self {
            device,
            info,
            timeout: None,
            deadline,
            rng: Box::new(SystemRandom),
        })
    }

    /// Sets the overall deadline of every call whose options set none (`None`: no
    /// deadline; the device's silence limit and cancel tokens still end calls).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the instant by which every later call must end, whatever the per-call
    /// time-outs say (`None`: none): each call's overall deadline is cut to the time
    /// left, so a command made of several calls (PIN token, then the request) takes no
    /// longer than the caller allows in total, however the time splits between the
    /// calls. A call made after the instant ends at once with the device's
    /// [`TimeoutKind::Deadline`](ctap_device::TimeoutKind::Deadline) error.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Replaces the source of randomness (platform key-agreement keys, IVs).
    #[must_use]
    pub fn with_randomness(mut self, rng: impl Randomness + 'static) -> Self {
        self.rng = Box::new(rng);
        self
    }

    /// The authenticator's getInfo, as read when opened or by the last
    /// [`get_info`](Self::get_info).
    #[must_use]
    pub const fn info(&self) -> &Info {
        &self.info
    }

    /// The device.
    #[must_use]
    pub const fn device(&self) -> &D {
        &self.device
    }

    /// The device, mutably (e.g. for CTAPHID commands of its own).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// Gives the device back.
    pub fn into_device(self) -> D {
        self.device
    }

    pub(crate) fn rng(&mut self) -> &mut dyn Randomness {
        self.rng.as_mut()
    }

    /// Sends one CTAP2 command: `command` with `request` as its CBOR parameters, and
    /// returns the CBOR of the answer (`None` when the answer is just SUCCESS). The
    /// building block of the typed methods, for commands they do not cover.
    ///
    /// # Errors
    /// [`Error::Ctap`] for a status other than SUCCESS, [`Error::Device`] from the
    /// transport, [`Error::InvalidResponse`] if the answer is not CBOR.
    pub fn send_cbor(
        &mut self,
        command: Ctap2Command,
        request: Option<&Value>,
        options: CallOptions<'_>,
    ) -> Result<Option<Value>> {
        let body = self.send(command, request, options)?;
        if body.is_empty() {
            return Ok(None);
        }
        Value::from_slice_with(&body, DecodeMode::Relaxed)
            .map(Some)
            .map_err(Error::response("a CTAP2 command"))
    }

    /// authenticatorGetInfo; also refreshes [`info`](Self::info).
    ///
    /// # Errors
    /// As [`send_cbor`](Self::send_cbor).
    pub fn get_info(&mut self) -> Result<Info> {
        let body = self.send(Ctap2Command::GET_INFO, None, CallOptions::default())?;
        let info: Info = decode("authenticatorGetInfo", &body)?;
        self.info = info.clone();
        Ok(info)
    }

    /// authenticatorMakeCredential: registers a credential and returns the attestation
    /// (authenticator data parsed, statement typed).
    ///
    /// # Errors
    /// As [`send_cbor`](Self::send_cbor); e.g. `CREDENTIAL_EXCLUDED`,
    /// `OPERATION_DENIED`, `PUAT_REQUIRED`, `KEEPALIVE_CANCEL`.
    pub fn make_credential(
        &mut self,
        request: &MakeCredentialRequest,
        options: CallOptions<'_>,
    ) -> Result<Attestation> {
        let body = self.send(
            Ctap2Command::MAKE_CREDENTIAL,
            Some(&request.to_value()),
            options,
        )?;
        let response: MakeCredentialResponse = decode("authenticatorMakeCredential", &body)?;
        Attestation::from_response(response)
    }

    /// authenticatorGetAssertion: the first assertion (see
    /// [`Assertion::number_of_credentials`] and
    /// [`get_next_assertion`](Self::get_next_assertion) for the others). When the
    /// allow list has exactly one credential the authenticator may leave the
    /// credential out of its answer; it is filled in from the request then.
    ///
    /// # Errors
    /// As [`send_cbor`](Self::send_cbor); e.g. `NO_CREDENTIALS`, `KEEPALIVE_CANCEL`.
    pub fn get_assertion(
        &mut self,
        request: &GetAssertionRequest,
        options: CallOptions<'_>,
    ) -> Result<Assertion> {
        let body = self.send(
            Ctap2Command::GET_ASSERTION,
            Some(&request.to_value()),
            options,
        )?;
        let mut response: GetAssertionResponse = decode("authenticatorGetAssertion", &body)?;
        if response.credential.is_none() {
            if let Some([only]) = request.allow_list.as_deref() {
                response.credential = Some(only.clone());
            }
        }
        Assertion::from_response(response)
    }

    /// authenticatorGetNextAssertion.
    ///
    /// # Errors
    /// As [`send_cbor`](Self::send_cbor); `NOT_ALLOWED` when there is none left.
    pub fn get_next_assertion(&mut self) -> Result<Assertion> {
        let body = self.send(
            Ctap2Command::GET_NEXT_ASSERTION,
            None,
            CallOptions::default(),
        )?;
        Assertion::from_response(decode("authenticatorGetNextAssertion", &body)?)
    }

    /// getAssertion, then getNextAssertion for every other credential: all assertions
    /// (python-fido2's `get_assertions`).
    ///
    /// The count comes from the device, so it is checked before anything is kept: an
    /// absent `numberOfCredentials` means one (CTAP 2.1 §6.2.2, response member 0x05:
    /// optional, there when more than one credential applies); with an allow list the
    /// count cannot exceed its length (§6.2.2 step 7: the applicable credentials are
    /// found in the allowList); without one it cannot exceed [`MAX_CREDENTIALS`] (the
    /// spec gives no limit for discoverable credentials; no key on sale holds more
    /// than a few hundred). A larger claim ends the call at once, before any
    /// getNextAssertion, so a hostile key claiming 2^32 credentials costs one answer's
    /// memory.
    ///
    /// # Errors
    /// As [`get_assertion`](Self::get_assertion); [`Error::InvalidResponse`] for a
    /// `numberOfCredentials` of 0, [`Error::TooMany`] for one over the bound.
    pub fn get_assertions(
        &mut self,
        request: &GetAssertionRequest,
        options: CallOptions<'_>,
    ) -> Result<Vec<Assertion>> {
        let first = self.get_assertion(request, options)?;
        let (limit, bound) = match request.allow_list.as_ref().filter(|l| !l.is_empty()) {
            Some(list) => (
                list.len(),
                "the allow list's length, CTAP 2.1 §6.2.2 step 7",
            ),
            None => (MAX_CREDENTIALS, "ctap2_client::MAX_CREDENTIALS"),
        };
        let count = match first.response.number_of_credentials {
            None => 1,
            Some(0) => {
                return Err(Error::response("authenticatorGetAssertion")(
                    ctap2_proto::Error::InvalidParameter("numberOfCredentials is 0"),
                ));
            }
            Some(n) => {
                let count = usize::try_from(n).unwrap_or(usize::MAX);
                if count > limit {
                    return Err(Error::TooMany {
                        what: "numberOfCredentials",
                        claimed: u64::from(n),
                        limit: limit as u64,
                        bound,
                    });
                }
                count
            }
        };
        let mut all = Vec::with_capacity(count);
        all.push(first);
        for _ in 1..count {
            all.push(self.get_next_assertion()?);
        }
        Ok(all)
    }

    /// authenticatorSelection: waits for a touch.
    ///
    /// # Errors
    /// As [`send_cbor`](Self::send_cbor); `KEEPALIVE_CANCEL` when cancelled.
    pub fn selection(&mut self, options: CallOptions<'_>) -> Result<()> {
        self.send(Ctap2Command::SELECTION, None, options).map(drop)
    }

    /// authenticatorReset: deletes every credential and the PIN. Authenticators allow it
    /// only within seconds of power-up and with a touch.
    ///
    /// # Errors
    /// As [`send_cbor`](Self::send_cbor); e.g. `NOT_ALLOWED`, `OPERATION_DENIED`.
    pub fn reset(&mut self, options: CallOptions<'_>) -> Result<()> {
        self.send(Ctap2Command::RESET, None, options).map(drop)
    }

    /// authenticatorClientPIN, raw. [`ClientPin`](crate::ClientPin) does the protocol.
    ///
    /// # Errors
    /// As [`send_cbor`](Self::send_cbor).
    pub fn client_pin(&mut self, request: &ClientPinRequest) -> Result<ClientPinResponse> {
        let body = self.send(
            Ctap2Command::CLIENT_PIN,
            Some(&request.to_value()),
            CallOptions::default(),
        )?;
        decode("authenticatorClientPIN", &body)
    }

    /// authenticatorCredentialManagement, raw: to the command the authenticator
    /// announces (`credMgmt`: 0x0A, or only `credentialMgmtPreview`: 0x41).
    /// [`CredentialManagement`](crate::CredentialManagement) does the subcommands.
    ///
    /// # Errors
    /// As [`send_cbor`](Self::send_cbor).
    pub fn credential_management(
        &mut self,
        request: &CredentialManagementRequest,
    ) -> Result<CredentialManagementResponse> {
        let command = if self.info.option("credMgmt").is_none()
            && self.info.option("credentialMgmtPreview").is_some()
        {
            Ctap2Command::CREDENTIAL_MGMT_PRE
        } else {
            Ctap2Command::CREDENTIAL_MGMT
        };
        let body = self.send(command, Some(&request.to_value()), CallOptions::default())?;
        decode("authenticatorCredentialManagement", &body)
    }

    /// authenticatorConfig, raw. [`Config`](crate::Config) does the subcommands.
    ///
    /// # Errors
    /// As [`send_cbor`](Self::send_cbor).
    pub fn config(&mut self, request: &ConfigRequest) -> Result<()> {
        self.send(
            Ctap2Command::CONFIG,
            Some(&request.to_value()),
            CallOptions::default(),
        )
        .map(drop)
    }

    /// authenticatorLargeBlobs, raw: one fragment. [`LargeBlobs`](crate::LargeBlobs)
    /// reads and writes the whole serialized array.
    ///
    /// # Errors
    /// As [`send_cbor`](Self::send_cbor).
    pub fn large_blobs(&mut self, request: &LargeBlobsRequest) -> Result<LargeBlobsResponse> {
        let body = self.send(
            Ctap2Command::LARGE_BLOBS,
            Some(&request.to_value()),
            CallOptions::default(),
        )?;
        decode("authenticatorLargeBlobs", &body)
    }

    fn send(
        &mut self,
        command: Ctap2Command,
        request: Option<&Value>,
        mut options: CallOptions<'_>,
    ) -> Result<Vec<u8>> {
        if options.timeout.is_none() {
            options.timeout = self.timeout;
        }
        let options = bounded(options, self.deadline, Instant::now());
        send(&mut self.device, command, request, options)
    }
}

/// `options` with its overall time-out cut to what is left until `deadline` at `now`
/// (unchanged without a deadline).
fn bounded(
    mut options: CallOptions<'_>,
    deadline: Option<Instant>,
    now: Instant,
) -> CallOptions<'_> {
    if let Some(end) = deadline {
        let left = end.saturating_duration_since(now);
        options.timeout = Some(options.timeout.map_or(left, |timeout| timeout.min(left)));
    }
    options
}

/// One CTAP2 command: `command byte || CBOR` out, `status byte || CBOR` back; the body
/// after a SUCCESS status.
fn send<D: CtapDevice>(
    device: &mut D,
    command: Ctap2Command,
    request: Option<&Value>,
    options: CallOptions<'_>,
) -> Result<Vec<u8>> {
    let mut data = vec![command.to_u8()];
    if let Some(request) = request {
        request.encode_into(&mut data);
    }
    let mut answer = device.call_with(Command::CBOR, &data, options)?;
    let Some(&status) = answer.first() else {
        return Err(Error::InvalidResponse {
            command: "a CTAP2 command",
            error: ctap2_proto::Error::InvalidLength("empty answer (no status byte)"),
        });
    };
    CtapError::check(StatusCode::new(status))?;
    answer.remove(0);
    Ok(answer)
}

/// Decodes an answer's body; an empty body is an empty map (a command whose answer has
/// no members).
/// Reads the body of an authenticator's response (the CBOR after the status byte) as
/// `T`, the way every command of [`Ctap2`] does: an empty body is an empty map, and the
/// CBOR is read in [`DecodeMode::Relaxed`] (map keys in any order and long-form
/// integers are accepted, as python-fido2 and libfido2 accept them from real keys;
/// malformed CBOR, duplicate keys and indefinite lengths are not). `command` names the
/// request in the error.
///
/// # Errors
/// [`Error::InvalidResponse`] if the body does not decode as `T`.
pub fn decode_response<T: CborMessage>(command: &'static str, body: &[u8]) -> Result<T> {
    if body.is_empty() {
        T::from_value(Value::Map(Vec::new()))
    } else {
        T::from_cbor_with(body, DecodeMode::Relaxed)
    }
    .map_err(Error::response(command))
}

fn decode<T: CborMessage>(command: &'static str, body: &[u8]) -> Result<T> {
    decode_response(command, body)
}

/// A makeCredential request with the members every registration needs; the others
/// (exclude list, extensions, options, PIN/UV auth) are `None` to fill in.
#[must_use]
pub fn make_credential_request(
    client_data_hash: [u8; 32],
    rp: ctap2_proto::RpEntity,
    user: ctap2_proto::UserEntity,
    algorithms: &[ctap2_proto::Algorithm],
) -> MakeCredentialRequest {
    MakeCredentialRequest {
        client_data_hash: client_data_hash.to_vec(),
        rp,
        user,
        pub_key_cred_params: algorithms
            .iter()
            .map(|alg| ctap2_proto::CredentialParameters::public_key(*alg))
            .collect(),
        exclude_list: None,
        extensions: None,
        options: None,
        pin_uv_auth_param: None,
        pin_uv_auth_protocol: None,
        enterprise_attestation: None,
        attestation_formats_preference: None,
    }
}

/// A getAssertion request for `rp_id` allowing the credentials `allow` (none: the
/// discoverable credentials of the RP); the other members are `None` to fill in.
#[must_use]
pub fn get_assertion_request(
    rp_id: &str,
    client_data_hash: [u8; 32],
    allow: &[Vec<u8>],
) -> GetAssertionRequest {
    GetAssertionRequest {
        rp_id: rp_id.to_owned(),
        client_data_hash: client_data_hash.to_vec(),
        allow_list: (!allow.is_empty()).then(|| {
            allow
                .iter()
                .map(|id| ctap2_proto::CredentialDescriptor::public_key(id))
                .collect()
        }),
        extensions: None,
        options: None,
        pin_uv_auth_param: None,
        pin_uv_auth_protocol: None,
    }
}
