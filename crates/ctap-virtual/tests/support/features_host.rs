//! A host on simulated time speaking CTAP2 over CTAPHID to one authenticator, for the
//! feature tests (`tests/features.rs`): the same shape as the `Host` of
//! `tests/ctap2.rs`, with the helpers the optional features need.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use ctap_types::{ChannelId, Command, InitResponse, KeepaliveStatus, StatusCode};
use ctap_virtual::{Authenticator, Config, Features, FingerprintSensor};
use ctap2_proto::cbor::CborMessage;
use ctap2_proto::pin::{PinProtocol, SharedSecret, pad_pin, pin_hash};
use ctap2_proto::*;
use ctaphid_frame::{Feed, Packetizer, Reassembler, ReassemblerConfig, ReportSize};
use sha2::Digest as _;

/// A deterministic `CryptoRng` for the platform side.
pub(crate) struct CounterRng(pub(crate) u64);

impl rand_core::TryRng for CounterRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut buf = [0; 4];
        self.try_fill_bytes(&mut buf)?;
        Ok(u32::from_le_bytes(buf))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut buf = [0; 8];
        self.try_fill_bytes(&mut buf)?;
        Ok(u64::from_le_bytes(buf))
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dest.chunks_mut(32) {
            self.0 += 1;
            let block = sha2::Sha256::digest(self.0.to_be_bytes());
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for CounterRng {}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// The status and body of a CTAP2 answer, and the keep-alives before it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
    pub(crate) keepalives: Vec<KeepaliveStatus>,
}

impl Reply {
    pub(crate) fn ok<T: CborMessage>(&self) -> T {
        assert_eq!(self.status, StatusCode::SUCCESS, "{self:?}");
        T::from_cbor(&self.body).unwrap()
    }
}

pub(crate) struct Host {
    pub(crate) device: Authenticator,
    pub(crate) now: Instant,
    pub(crate) cid: ChannelId,
    pub(crate) rng: CounterRng,
}

/// The touch comes 10 ms (simulated) after a touch-wait starts, so that the wait is
/// seen (UPNEEDED keep-alives): an immediate touch answers without any, since a
/// keep-alive means "not ready yet" (CTAP 2.1 §11.2.9.1.7).
pub(crate) fn config() -> Config {
    Config::default()
        .with_rng_seed(Some([0x42; 32]))
        .with_touch(ctap_virtual::TouchPolicy::Approve {
            after: std::time::Duration::from_millis(10),
        })
}

impl Host {
    pub(crate) fn new(config: Config) -> Self {
        Self::with(Authenticator::new(config))
    }

    pub(crate) fn with(mut device: Authenticator) -> Self {
        let now = Instant::now();
        device.power_up(now);
        let mut host = Self {
            device,
            now,
            cid: ChannelId::BROADCAST,
            rng: CounterRng(0),
        };
        host.cid = host.open();
        host
    }

    fn size(&self) -> ReportSize {
        self.device.config().report_size
    }

    fn send(&mut self, cid: ChannelId, command: Command, payload: &[u8]) {
        for report in Packetizer::new(cid, command, payload, self.size()).unwrap() {
            self.device.handle_report(self.now, &report);
        }
    }

    fn messages(&mut self) -> Vec<(Command, Vec<u8>)> {
        let mut host = Reassembler::new(vec![0; 7609], ReassemblerConfig::new(self.size()));
        let mut out = Vec::new();
        while let Some(report) = self.device.poll_report() {
            if let Feed::Complete(m) = host.feed(&report).unwrap() {
                out.push((m.command, m.payload.to_vec()));
            }
        }
        out
    }

    fn open(&mut self) -> ChannelId {
        self.send(ChannelId::BROADCAST, Command::INIT, b"12345678");
        let messages = self.messages();
        InitResponse::parse(&messages[0].1).unwrap().cid
    }

    /// A power cycle after `after` of simulated time.
    pub(crate) fn power_cycle(&mut self, after: Duration) {
        self.now += after;
        self.device.power_up(self.now);
        self.cid = self.open();
    }

    /// Sends a CTAP2 command and runs simulated time (timer to timer) until its
    /// answer, at most 600 timer events.
    pub(crate) fn ctap(&mut self, command: u8, params: &[u8]) -> Reply {
        let payload = [&[command][..], params].concat();
        self.send(self.cid, Command::CBOR, &payload);
        self.ctap_answer()
    }

    /// Runs simulated time (timer to timer) until the answer of the command sent,
    /// at most 600 timer events.
    fn ctap_answer(&mut self) -> Reply {
        let mut keepalives = Vec::new();
        for _ in 0..600 {
            for (cmd, payload) in self.messages() {
                match cmd {
                    Command::KEEPALIVE => {
                        keepalives.push(KeepaliveStatus::new(payload[0]));
                    }
                    Command::CBOR => {
                        return Reply {
                            status: StatusCode::new(payload[0]),
                            body: payload[1..].to_vec(),
                            keepalives,
                        };
                    }
                    other => panic!("unexpected {other:?} {payload:?}"),
                }
            }
            let next = self
                .device
                .poll_timeout()
                .unwrap_or(self.now + Duration::from_millis(100));
            self.now = next.max(self.now);
            self.device.handle_timeout(self.now);
        }
        panic!("no answer after 600 timer events");
    }

    /// Sends a CTAP2 command, then CANCEL on the same channel before any time passes
    /// (CTAPHID_CANCEL, CTAP 2.1 §11.2.9.1.5), and returns the answer.
    pub(crate) fn ctap_cancelled(&mut self, command: u8, params: &[u8]) -> Reply {
        let payload = [&[command][..], params].concat();
        self.send(self.cid, Command::CBOR, &payload);
        self.send(self.cid, Command::CANCEL, &[]);
        self.ctap_answer()
    }

    pub(crate) fn call<T: CborMessage>(&mut self, command: u8, message: &T) -> Reply {
        self.ctap(command, &message.to_cbor())
    }

    pub(crate) fn info(&mut self) -> Info {
        self.ctap(0x04, &[]).ok()
    }

    pub(crate) fn make_credential(&mut self, request: &MakeCredentialRequest) -> Reply {
        self.call(0x01, request)
    }

    pub(crate) fn get_assertion(&mut self, request: &GetAssertionRequest) -> Reply {
        self.call(0x02, request)
    }

    pub(crate) fn client_pin(&mut self, request: &ClientPinRequest) -> Reply {
        self.call(0x06, request)
    }

    /// getKeyAgreement + encapsulate.
    pub(crate) fn shared_secret(&mut self, protocol: PinProtocol) -> (CoseKey, SharedSecret) {
        let reply: ClientPinResponse = self
            .client_pin(&ClientPinRequest::new(
                PinSubCommand::GET_KEY_AGREEMENT,
                Some(protocol.number().into()),
            ))
            .ok();
        protocol
            .encapsulate(&reply.key_agreement.unwrap(), &mut self.rng)
            .unwrap()
    }

    pub(crate) fn set_pin(&mut self, protocol: PinProtocol, pin: &str) -> StatusCode {
        let (key, shared) = self.shared_secret(protocol);
        let new_pin_enc = shared
            .encrypt(&pad_pin(pin).unwrap(), &mut self.rng)
            .unwrap();
        let mut request =
            ClientPinRequest::new(PinSubCommand::SET_PIN, Some(protocol.number().into()));
        request.key_agreement = Some(key);
        request.pin_uv_auth_param = Some(shared.authenticate(&new_pin_enc));
        request.new_pin_enc = Some(new_pin_enc);
        self.client_pin(&request).status
    }

    /// getPinUvAuthTokenUsingPinWithPermissions: the token, or the status.
    pub(crate) fn token(
        &mut self,
        protocol: PinProtocol,
        pin: &str,
        permissions: Permissions,
        rp_id: Option<&str>,
    ) -> Result<Vec<u8>, StatusCode> {
        let (key, shared) = self.shared_secret(protocol);
        let mut request = ClientPinRequest::new(
            PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS,
            Some(protocol.number().into()),
        );
        request.key_agreement = Some(key);
        request.pin_hash_enc = Some(shared.encrypt(&pin_hash(pin), &mut self.rng).unwrap());
        request.permissions = Some(permissions.0);
        request.rp_id = rp_id.map(Into::into);
        let reply = self.client_pin(&request);
        if reply.status != StatusCode::SUCCESS {
            return Err(reply.status);
        }
        let response: ClientPinResponse = reply.ok();
        Ok(shared
            .decrypt(&response.pin_uv_auth_token.unwrap())
            .unwrap()
            .to_vec())
    }

    /// getPinUvAuthTokenUsingUvWithPermissions: the token, or the status.
    pub(crate) fn uv_token(
        &mut self,
        protocol: PinProtocol,
        permissions: Permissions,
        rp_id: Option<&str>,
    ) -> Result<Vec<u8>, StatusCode> {
        let (key, shared) = self.shared_secret(protocol);
        let mut request = ClientPinRequest::new(
            PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS,
            Some(protocol.number().into()),
        );
        request.key_agreement = Some(key);
        request.permissions = Some(permissions.0);
        request.rp_id = rp_id.map(Into::into);
        let reply = self.client_pin(&request);
        if reply.status != StatusCode::SUCCESS {
            return Err(reply.status);
        }
        let response: ClientPinResponse = reply.ok();
        Ok(shared
            .decrypt(&response.pin_uv_auth_token.unwrap())
            .unwrap()
            .to_vec())
    }

    /// getUVRetries.
    pub(crate) fn uv_retries(&mut self) -> Reply {
        self.client_pin(&ClientPinRequest::new(PinSubCommand::GET_UV_RETRIES, None))
    }

    /// authenticatorBioEnrollment (fingerprint) with `sub` and `params`, signed with
    /// `token` (protocol two) when there is one.
    pub(crate) fn bio(
        &mut self,
        token: Option<&[u8]>,
        sub: BioSubCommand,
        params: Option<BioEnrollmentParams>,
    ) -> Reply {
        let mut request = BioEnrollmentRequest {
            modality: Some(1),
            sub_command: Some(sub),
            sub_command_params: params.map(|p| p.to_value()),
            ..BioEnrollmentRequest::default()
        };
        if let Some(token) = token {
            request.pin_uv_auth_protocol = Some(2);
            request.pin_uv_auth_param =
                Some(PinProtocol::Two.authenticate(token, &request.auth_message()));
        }
        self.call(0x09, &request)
    }
}

pub(crate) fn user(n: u8) -> UserEntity {
    UserEntity {
        icon: None,
        id: vec![n; 8],
        name: Some(format!("user{n}")),
        display_name: Some(format!("User {n}")),
    }
}

/// A makeCredential request for `rp` and user `n` (ES256, no options).
pub(crate) fn make_request(rp: &str, n: u8) -> MakeCredentialRequest {
    MakeCredentialRequest {
        client_data_hash: sha256(&[n]).to_vec(),
        rp: RpEntity {
            icon: None,
            id: rp.into(),
            name: None,
        },
        user: user(n),
        pub_key_cred_params: vec![CredentialParameters::public_key(Algorithm::ES256)],
        exclude_list: None,
        extensions: None,
        options: None,
        pin_uv_auth_param: None,
        pin_uv_auth_protocol: None,
        enterprise_attestation: None,
        attestation_formats_preference: None,
    }
}

pub(crate) fn assertion_request(rp: &str, allow: Option<&[u8]>) -> GetAssertionRequest {
    GetAssertionRequest {
        rp_id: rp.into(),
        client_data_hash: sha256(b"assert").to_vec(),
        allow_list: allow.map(|id| vec![CredentialDescriptor::public_key(id)]),
        extensions: None,
        options: None,
        pin_uv_auth_param: None,
        pin_uv_auth_protocol: None,
    }
}

pub(crate) fn resident(mut request: MakeCredentialRequest) -> MakeCredentialRequest {
    request.options = Some(Options {
        rk: Some(true),
        ..Options::default()
    });
    request
}

/// The extension outputs of authenticator data, as (name, value) pairs.
pub(crate) fn extension_outputs(auth_data: &[u8]) -> Vec<(String, ctap2_proto::Value)> {
    let parsed = AuthenticatorData::from_bytes(auth_data).unwrap();
    match parsed.extensions {
        Some(ctap2_proto::Value::Map(entries)) => entries
            .into_iter()
            .map(|(k, v)| match k {
                ctap2_proto::Value::Text(k) => (k, v),
                other => panic!("extension key {other:?}"),
            })
            .collect(),
        None => Vec::new(),
        Some(other) => panic!("extensions {other:?}"),
    }
}

pub(crate) fn output(auth_data: &[u8], name: &str) -> Option<ctap2_proto::Value> {
    extension_outputs(auth_data)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// A host whose authenticator has the fingerprint `sensor`, a PIN ("1234") and a
/// token with the be permission.
pub(crate) fn bio_host(sensor: &FingerprintSensor) -> (Host, Vec<u8>) {
    let mut device = Authenticator::new(config());
    device.set_features(Features::default().with_fingerprint(Some(sensor.clone())));
    let mut host = Host::with(device);
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let token = host
        .token(PinProtocol::Two, "1234", Permissions::BIO_ENROLLMENT, None)
        .unwrap();
    (host, token)
}

/// Enrolls a finger with four good samples: its template id.
pub(crate) fn enroll(host: &mut Host, token: &[u8]) -> Vec<u8> {
    let first: BioEnrollmentResponse = host
        .bio(Some(token), BioSubCommand::ENROLL_BEGIN, None)
        .ok();
    let id = first.template_id.unwrap();
    let mut remaining = first.remaining_samples.unwrap();
    while remaining > 0 {
        let next: BioEnrollmentResponse = host
            .bio(
                Some(token),
                BioSubCommand::ENROLL_CAPTURE_NEXT_SAMPLE,
                Some(BioEnrollmentParams {
                    template_id: Some(id.clone()),
                    ..BioEnrollmentParams::default()
                }),
            )
            .ok();
        remaining = next.remaining_samples.unwrap();
    }
    id
}
