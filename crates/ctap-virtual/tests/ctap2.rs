//! The CTAP2 authenticator on simulated time, through CTAPHID: every command, every
//! error the spec assigns, touch-waits, power cycles, persistence and U2F. The host
//! side uses ctap2-proto (the same types a real host client uses); signatures are
//! checked with ctap2-proto's COSE verification.
#![allow(clippy::too_many_lines)]

use std::time::{Duration, Instant};

use ctap_types::{ChannelId, Command, InitResponse, KeepaliveStatus, StatusCode};
use ctap_virtual::{Attestation, Authenticator, Config, TouchPolicy};
use ctap2_proto::cbor::{CborMessage, Value};
use ctap2_proto::management::{CredentialManagementParams, SetMinPinLengthParams};
use ctap2_proto::pin::{PinProtocol, SharedSecret, pad_pin, pin_hash};
use ctap2_proto::*;
use ctaphid_frame::{Feed, Packetizer, Reassembler, ReassemblerConfig, ReportSize};
use proptest::prelude::*;
use sha2::Digest as _;

/// A deterministic `CryptoRng` for the platform side.
struct CounterRng(u64);

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

fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// The status and body of a CTAP2 answer, plus what came before it.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    keepalives: usize,
}

impl Reply {
    fn ok<T: CborMessage>(&self) -> T {
        assert_eq!(self.status, StatusCode::SUCCESS, "{self:?}");
        T::from_cbor(&self.body).unwrap()
    }
}

/// A host on simulated time speaking CTAP2 over CTAPHID to one authenticator.
struct Host {
    device: Authenticator,
    now: Instant,
    cid: ChannelId,
    rng: CounterRng,
}

/// The simulated user touches 10 ms after the request, so a reply's keep-alive count
/// shows whether the command waited for a touch (an immediate touch sends none: issue
/// 27, CTAP 2.1 §11.2.9.1.7).
fn config() -> Config {
    Config::default()
        .with_rng_seed(Some([0x42; 32]))
        .with_touch(TouchPolicy::Approve {
            after: Duration::from_millis(10),
        })
}

impl Host {
    fn new(config: Config) -> Self {
        let mut device = Authenticator::new(config);
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

    fn advance(&mut self, duration: Duration) {
        self.now += duration;
        self.device.handle_timeout(self.now);
    }

    /// Sends a CTAP2 command, runs simulated time (from timer to timer) until its
    /// answer, at most 600 timer events.
    fn ctap(&mut self, command: u8, params: &[u8]) -> Reply {
        let payload = [&[command][..], params].concat();
        self.send(self.cid, Command::CBOR, &payload);
        let mut keepalives = 0;
        for _ in 0..600 {
            for (cmd, payload) in self.messages() {
                match cmd {
                    Command::KEEPALIVE => {
                        assert_eq!(payload, [KeepaliveStatus::UPNEEDED.to_u8()]);
                        keepalives += 1;
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

    fn call<T: CborMessage>(&mut self, command: u8, message: &T) -> Reply {
        self.ctap(command, &message.to_cbor())
    }

    fn info(&mut self) -> Info {
        self.ctap(0x04, &[]).ok()
    }

    fn make_credential(&mut self, request: &MakeCredentialRequest) -> Reply {
        self.call(0x01, request)
    }

    fn get_assertion(&mut self, request: &GetAssertionRequest) -> Reply {
        self.call(0x02, request)
    }

    fn client_pin(&mut self, request: &ClientPinRequest) -> Reply {
        self.call(0x06, request)
    }

    /// getKeyAgreement + encapsulate.
    fn shared_secret(&mut self, protocol: PinProtocol) -> (CoseKey, SharedSecret) {
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

    fn set_pin(&mut self, protocol: PinProtocol, pin: &str) -> StatusCode {
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

    fn change_pin(&mut self, protocol: PinProtocol, old: &str, new: &str) -> StatusCode {
        let (key, shared) = self.shared_secret(protocol);
        let new_pin_enc = shared
            .encrypt(&pad_pin(new).unwrap(), &mut self.rng)
            .unwrap();
        let pin_hash_enc = shared.encrypt(&pin_hash(old), &mut self.rng).unwrap();
        let mut request =
            ClientPinRequest::new(PinSubCommand::CHANGE_PIN, Some(protocol.number().into()));
        request.key_agreement = Some(key);
        request.pin_uv_auth_param =
            Some(shared.authenticate(&[new_pin_enc.as_slice(), &pin_hash_enc].concat()));
        request.new_pin_enc = Some(new_pin_enc);
        request.pin_hash_enc = Some(pin_hash_enc);
        self.client_pin(&request).status
    }

    /// getPinUvAuthTokenUsingPinWithPermissions (or getPinToken with `permissions`
    /// `None`): the token, or the status.
    fn token(
        &mut self,
        protocol: PinProtocol,
        pin: &str,
        permissions: Option<Permissions>,
        rp_id: Option<&str>,
    ) -> Result<Vec<u8>, StatusCode> {
        let (key, shared) = self.shared_secret(protocol);
        let sub = if permissions.is_some() {
            PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS
        } else {
            PinSubCommand::GET_PIN_TOKEN
        };
        let mut request = ClientPinRequest::new(sub, Some(protocol.number().into()));
        request.key_agreement = Some(key);
        request.pin_hash_enc = Some(shared.encrypt(&pin_hash(pin), &mut self.rng).unwrap());
        request.permissions = permissions.map(|p| p.0);
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

    /// getPINRetries' status alone (PIN_NOT_SET without a PIN).
    fn retries_status(&mut self) -> StatusCode {
        self.client_pin(&ClientPinRequest::new(PinSubCommand::GET_PIN_RETRIES, None))
            .status
    }

    fn retries(&mut self) -> (u64, bool) {
        let reply: ClientPinResponse = self
            .client_pin(&ClientPinRequest::new(PinSubCommand::GET_PIN_RETRIES, None))
            .ok();
        (reply.pin_retries.unwrap(), reply.power_cycle_state.unwrap())
    }
}

fn user(n: u8) -> UserEntity {
    UserEntity {
        id: vec![n; 8],
        name: Some(format!("user{n}")),
        display_name: Some(format!("User {n}")),
        icon: None,
    }
}

fn make_request(rp: &str, n: u8, alg: Algorithm) -> MakeCredentialRequest {
    MakeCredentialRequest {
        client_data_hash: sha256(&[n]).to_vec(),
        rp: RpEntity {
            id: rp.into(),
            name: None,
            icon: None,
        },
        user: user(n),
        pub_key_cred_params: vec![CredentialParameters::public_key(alg)],
        exclude_list: None,
        extensions: None,
        options: None,
        pin_uv_auth_param: None,
        pin_uv_auth_protocol: None,
        enterprise_attestation: None,
        attestation_formats_preference: None,
    }
}

fn assertion_request(rp: &str, allow: Option<&[u8]>) -> GetAssertionRequest {
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

fn resident(mut request: MakeCredentialRequest) -> MakeCredentialRequest {
    request.options = Some(Options {
        rk: Some(true),
        ..Options::default()
    });
    request
}

/// Makes a credential and returns (id, public key).
fn register(host: &mut Host, request: &MakeCredentialRequest) -> (Vec<u8>, CoseKey) {
    let response: MakeCredentialResponse = host.make_credential(request).ok();
    let attested = response.auth_data().unwrap().attested_credential.unwrap();
    (attested.credential_id, attested.public_key)
}

fn verify_assertion(request: &GetAssertionRequest, response: &GetAssertionResponse, key: &CoseKey) {
    let signed = [response.auth_data.as_slice(), &request.client_data_hash].concat();
    assert!(
        key.verify(&signed, &response.signature),
        "assertion signature"
    );
}

#[test]
fn make_credential_and_assert_with_es256_and_eddsa() {
    let mut host = Host::new(config());
    for alg in [Algorithm::ES256, Algorithm::EDDSA] {
        let request = make_request("example.com", 1, alg);
        let reply = host.make_credential(&request);
        assert!(reply.keepalives >= 1, "makeCredential waits for a touch");
        let response: MakeCredentialResponse = reply.ok();
        assert_eq!(response.fmt, "packed");
        let auth_data = response.auth_data().unwrap();
        assert_eq!(auth_data.rp_id_hash, sha256(b"example.com"));
        assert!(auth_data.flags.contains(Flags::UP) && !auth_data.flags.contains(Flags::UV));
        let attested = auth_data.attested_credential.clone().unwrap();
        assert_eq!(attested.aaguid, *b"ctap-rs-virtual!");
        assert_eq!(attested.public_key.algorithm(), Some(alg));
        // Packed self attestation: signed by the credential key itself.
        let mut att = IntMapView::new(&response.att_stmt);
        assert_eq!(att.get("alg"), Some(Value::int(alg.0)));
        let Some(Value::Bytes(sig)) = att.get("sig") else {
            panic!("no sig")
        };
        let signed = [response.auth_data.as_slice(), &request.client_data_hash].concat();
        assert!(attested.public_key.verify(&signed, &sig));
        assert_eq!(att.get("x5c"), None);
        // (What a host uses, ctap2_client::Attestation::verify, is tested against this
        // authenticator in crates/ctap2-client/tests/virtual.rs.)

        let assertion_req = assertion_request("example.com", Some(&attested.credential_id));
        let reply = host.get_assertion(&assertion_req);
        let assertion: GetAssertionResponse = reply.ok();
        verify_assertion(&assertion_req, &assertion, &attested.public_key);
        let data = assertion.auth_data().unwrap();
        assert!(data.sign_count > auth_data.sign_count, "counter grows");
        assert_eq!(assertion.number_of_credentials, None, "allowList: no count");
        assert_eq!(assertion.user, None, "non-discoverable: no user");
    }
}

/// Reads a text-keyed CBOR map in tests.
struct IntMapView(Vec<(Value, Value)>);
impl IntMapView {
    fn new(value: &Value) -> Self {
        Self(value.clone().into_map("map").unwrap())
    }
    fn get(&mut self, key: &str) -> Option<Value> {
        self.0
            .iter()
            .find(|(k, _)| *k == Value::text(key))
            .map(|(_, v)| v.clone())
    }
}

#[test]
fn batch_and_none_attestation() {
    let mut host = Host::new(config().with_attestation(Attestation::Batch));
    let request = make_request("example.com", 1, Algorithm::EDDSA);
    let response: MakeCredentialResponse = host.make_credential(&request).ok();
    assert_eq!(response.fmt, "packed");
    let mut att = IntMapView::new(&response.att_stmt);
    assert_eq!(
        att.get("alg"),
        Some(Value::int(-7)),
        "the batch key is ES256"
    );
    let Some(Value::Array(x5c)) = att.get("x5c") else {
        panic!("no x5c")
    };
    let Value::Bytes(cert) = &x5c[0] else {
        panic!()
    };
    // The certificate's P-256 key: the BIT STRING `03 42 00 04 x y`.
    let at = cert
        .windows(4)
        .position(|w| w == [0x03, 0x42, 0x00, 0x04])
        .unwrap();
    let key = CoseKey::Es256 {
        x: cert[at + 4..at + 36].try_into().unwrap(),
        y: cert[at + 36..at + 68].try_into().unwrap(),
    };
    let Some(Value::Bytes(sig)) = att.get("sig") else {
        panic!()
    };
    let signed = [response.auth_data.as_slice(), &request.client_data_hash].concat();
    assert!(key.verify(&signed, &sig), "batch signature");

    let mut host = Host::new(config().with_attestation(Attestation::None));
    let response: MakeCredentialResponse = host.make_credential(&request).ok();
    assert_eq!(
        (response.fmt.as_str(), response.att_stmt),
        ("none", Value::Map(vec![]))
    );
    // attestationFormatsPreference "none" first overrides a packed configuration.
    let mut host = Host::new(config());
    let mut preferring_none = request.clone();
    preferring_none.attestation_formats_preference = Some(vec!["none".into()]);
    let response: MakeCredentialResponse = host.make_credential(&preferring_none).ok();
    assert_eq!(response.fmt, "none");
}

#[test]
fn touch_policies_decide_make_credential() {
    let request = make_request("example.com", 1, Algorithm::ES256);
    // Approve after 250 ms: three keep-alives (0, 100, 200 ms), then the answer.
    let mut host = Host::new(config().with_touch(TouchPolicy::Approve {
        after: Duration::from_millis(250),
    }));
    let reply = host.make_credential(&request);
    assert_eq!((reply.status, reply.keepalives), (StatusCode::SUCCESS, 3));
    let mut host = Host::new(config().with_touch(TouchPolicy::Deny {
        after: Duration::ZERO,
    }));
    assert_eq!(
        host.make_credential(&request).status,
        StatusCode::OPERATION_DENIED
    );
    let mut host = Host::new(
        config()
            .with_touch(TouchPolicy::Never)
            .with_user_presence_timeout(Some(Duration::from_secs(5))),
    );
    assert_eq!(
        host.make_credential(&request).status,
        StatusCode::USER_ACTION_TIMEOUT
    );
    // CANCEL ends the wait; the next command works.
    let mut host = Host::new(config().with_touch(TouchPolicy::Never));
    host.send(
        host.cid,
        Command::CBOR,
        &[&[0x01][..], &request.to_cbor()].concat(),
    );
    host.send(host.cid, Command::CANCEL, &[]);
    let messages = host.messages();
    assert_eq!(
        messages.last().unwrap().1,
        [StatusCode::KEEPALIVE_CANCEL.to_u8()]
    );
    host.device.set_touch_policy(TouchPolicy::IMMEDIATE);
    assert_eq!(host.make_credential(&request).status, StatusCode::SUCCESS);
}

#[test]
fn make_credential_errors() {
    let mut host = Host::new(config().with_max_discoverable_credentials(1));
    let base = make_request("example.com", 1, Algorithm::ES256);
    let (id, _) = register(&mut host, &base);
    let status = |host: &mut Host, f: &dyn Fn(&mut MakeCredentialRequest)| {
        let mut request = base.clone();
        f(&mut request);
        host.make_credential(&request).status
    };
    type Change<'a> = Box<dyn Fn(&mut MakeCredentialRequest) + 'a>;
    let cases: Vec<(StatusCode, Change<'_>)> = vec![
        (
            StatusCode::CREDENTIAL_EXCLUDED,
            Box::new(|r| r.exclude_list = Some(vec![CredentialDescriptor::public_key(&id)])),
        ),
        (
            StatusCode::UNSUPPORTED_ALGORITHM,
            // RS1 (-65535): python-fido2 knows it, this authenticator does not make it.
            Box::new(|r| {
                r.pub_key_cred_params = vec![CredentialParameters::public_key(Algorithm(-65535))]
            }),
        ),
        (
            StatusCode::UNSUPPORTED_ALGORITHM,
            Box::new(|r| r.pub_key_cred_params[0].kind = "other".into()),
        ),
        (
            StatusCode::INVALID_OPTION,
            Box::new(|r| {
                r.options = Some(Options {
                    up: Some(false),
                    ..Options::default()
                })
            }),
        ),
        (
            StatusCode::INVALID_OPTION,
            Box::new(|r| {
                r.options = Some(Options {
                    uv: Some(true),
                    ..Options::default()
                })
            }),
        ),
        (
            StatusCode::INVALID_PARAMETER,
            Box::new(|r| r.enterprise_attestation = Some(1)),
        ),
        (
            StatusCode::MISSING_PARAMETER,
            Box::new(|r| r.pin_uv_auth_param = Some(vec![0; 16])),
        ),
        (
            StatusCode::INVALID_PARAMETER,
            Box::new(|r| {
                r.pin_uv_auth_param = Some(vec![0; 16]);
                r.pin_uv_auth_protocol = Some(3);
            }),
        ),
        (
            StatusCode::PIN_AUTH_INVALID,
            Box::new(|r| {
                r.pin_uv_auth_param = Some(vec![0; 16]);
                r.pin_uv_auth_protocol = Some(1);
            }),
        ),
        // The zero-length probe without a PIN: a touch, then PIN_NOT_SET.
        (
            StatusCode::PIN_NOT_SET,
            Box::new(|r| {
                r.pin_uv_auth_param = Some(vec![]);
            }),
        ),
        (
            StatusCode::CBOR_UNEXPECTED_TYPE,
            Box::new(|r| r.extensions = Some(vec![("hmac-secret".into(), Value::Int(1))])),
        ),
    ];
    for (expected, change) in cases {
        assert_eq!(status(&mut host, &*change), expected);
    }
    // The store holds one discoverable credential; the same user replaces it.
    assert_eq!(
        host.make_credential(&resident(base.clone())).status,
        StatusCode::SUCCESS
    );
    assert_eq!(
        host.make_credential(&resident(base.clone())).status,
        StatusCode::SUCCESS
    );
    let other = resident(make_request("example.com", 2, Algorithm::ES256));
    assert_eq!(
        host.make_credential(&other).status,
        StatusCode::KEY_STORE_FULL
    );
    assert_eq!(host.info().remaining_discoverable_credentials, Some(0));
    // Malformed parameters.
    assert_eq!(
        host.ctap(0x01, &[0xA1, 0x01]).status,
        StatusCode::INVALID_CBOR
    );
    assert_eq!(
        host.ctap(0x01, &[0x80]).status,
        StatusCode::CBOR_UNEXPECTED_TYPE
    );
    assert_eq!(
        host.ctap(0x01, &[0xA1, 0x01, 0x40]).status,
        StatusCode::MISSING_PARAMETER
    );
}

#[test]
fn discoverable_credentials_and_get_next_assertion() {
    let mut host = Host::new(config());
    let mut keys = Vec::new();
    for n in 1..=3 {
        keys.push(register(
            &mut host,
            &resident(make_request("multi.example", n, Algorithm::ES256)),
        ));
    }
    let request = assertion_request("multi.example", None);
    let first: GetAssertionResponse = host.get_assertion(&request).ok();
    assert_eq!(first.number_of_credentials, Some(3));
    let mut responses = vec![first];
    for _ in 0..2 {
        responses.push(host.ctap(0x08, &[]).ok());
    }
    assert_eq!(host.ctap(0x08, &[]).status, StatusCode::NOT_ALLOWED);
    // Newest first, each signed by its own key; no name without UV.
    for (response, n) in responses.iter().zip([3u8, 2, 1]) {
        let user = response.user.clone().unwrap();
        assert_eq!((user.id, user.name), (vec![n; 8], None));
        let (id, key) = &keys[usize::from(n - 1)];
        assert_eq!(&response.credential.as_ref().unwrap().id, id);
        verify_assertion(&request, response, key);
    }
    // Another command ends the sequence; so do 30 s of silence.
    let _: GetAssertionResponse = host.get_assertion(&request).ok();
    host.info();
    assert_eq!(host.ctap(0x08, &[]).status, StatusCode::NOT_ALLOWED);
    let _: GetAssertionResponse = host.get_assertion(&request).ok();
    host.advance(Duration::from_secs(31));
    assert_eq!(host.ctap(0x08, &[]).status, StatusCode::NOT_ALLOWED);
}

#[test]
fn get_assertion_errors_and_silent_assertions() {
    let mut host = Host::new(config());
    let (id, key) = register(&mut host, &make_request("example.com", 1, Algorithm::ES256));
    let mut request = assertion_request("example.com", Some(&id));
    // up=false: no touch, UP clear, still signed.
    request.options = Some(Options {
        up: Some(false),
        ..Options::default()
    });
    let reply = host.get_assertion(&request);
    assert_eq!(reply.keepalives, 0);
    let response: GetAssertionResponse = reply.ok();
    assert!(!response.auth_data().unwrap().flags.contains(Flags::UP));
    verify_assertion(&request, &response, &key);
    let cases: Vec<(StatusCode, GetAssertionRequest)> = vec![
        (
            StatusCode::NO_CREDENTIALS,
            assertion_request("other.example", Some(&id)),
        ),
        (
            StatusCode::NO_CREDENTIALS,
            assertion_request("example.com", None),
        ),
        (
            StatusCode::NO_CREDENTIALS,
            assertion_request("example.com", Some(&[0; 51])),
        ),
        (
            StatusCode::UNSUPPORTED_OPTION,
            GetAssertionRequest {
                options: Some(Options {
                    rk: Some(true),
                    ..Options::default()
                }),
                ..assertion_request("example.com", Some(&id))
            },
        ),
        (
            StatusCode::INVALID_OPTION,
            GetAssertionRequest {
                options: Some(Options {
                    uv: Some(true),
                    ..Options::default()
                }),
                ..assertion_request("example.com", Some(&id))
            },
        ),
        (
            StatusCode::LIMIT_EXCEEDED,
            GetAssertionRequest {
                allow_list: Some(vec![CredentialDescriptor::public_key(&id); 9]),
                ..assertion_request("example.com", None)
            },
        ),
        (
            StatusCode::PIN_AUTH_INVALID,
            GetAssertionRequest {
                pin_uv_auth_param: Some(vec![1; 32]),
                pin_uv_auth_protocol: Some(2),
                ..assertion_request("example.com", Some(&id))
            },
        ),
    ];
    for (expected, request) in cases {
        assert_eq!(host.get_assertion(&request).status, expected, "{request:?}");
    }
    assert_eq!(
        host.ctap(0x02, &[0xA1, 0x02, 0x40]).status,
        StatusCode::MISSING_PARAMETER
    );
    assert_eq!(
        host.ctap(0x02, &[0xA2, 0x02, 0x40, 0x01, 0x60]).status,
        StatusCode::INVALID_CBOR
    );
    assert_eq!(
        host.ctap(0x02, &[0xA2, 0x01, 0x01, 0x02, 0x40]).status,
        StatusCode::CBOR_UNEXPECTED_TYPE
    );
}

#[test]
fn client_pin_with_both_protocols_and_its_errors() {
    let mut host = Host::new(config());
    for protocol in [PinProtocol::One, PinProtocol::Two] {
        let mut host = Host::new(config());
        // getPINRetries without a PIN: PIN_NOT_SET (the spec is silent; deployed keys
        // answer so).
        assert_eq!(host.retries_status(), StatusCode::PIN_NOT_SET);
        assert_eq!(
            host.token(protocol, "1234", None, None),
            Err(StatusCode::PIN_NOT_SET)
        );
        assert_eq!(
            host.change_pin(protocol, "1234", "5678"),
            StatusCode::PIN_NOT_SET
        );
        assert_eq!(
            host.set_pin(protocol, "123"),
            StatusCode::PIN_POLICY_VIOLATION
        );
        assert_eq!(host.set_pin(protocol, "1234"), StatusCode::SUCCESS);
        // §6.5.5.5 step 3: "If a PIN has already been set, authenticator returns
        // CTAP2_ERR_PIN_AUTH_INVALID error".
        assert_eq!(host.set_pin(protocol, "1234"), StatusCode::PIN_AUTH_INVALID);
        assert_eq!(host.info().option("clientPin"), Some(true));
        assert_eq!(
            host.change_pin(protocol, "0000", "5678"),
            StatusCode::PIN_INVALID
        );
        assert_eq!(host.retries(), (7, false));
        assert_eq!(
            host.change_pin(protocol, "1234", "5678"),
            StatusCode::SUCCESS
        );
        assert_eq!(host.retries(), (8, false));
        let token = host.token(protocol, "5678", None, None).unwrap();
        assert_eq!(token.len(), 32);
        // The token makes a UV credential (getPinToken grants mc and ga).
        let mut request = resident(make_request("example.com", 1, Algorithm::ES256));
        request.pin_uv_auth_param = Some(protocol.authenticate(&token, &request.client_data_hash));
        request.pin_uv_auth_protocol = Some(protocol.number().into());
        let response: MakeCredentialResponse = host.make_credential(&request).ok();
        assert!(response.auth_data().unwrap().flags.contains(Flags::UV));
        // With a PIN set a discoverable credential needs it; a non-discoverable one
        // does not (makeCredUvNotRqd).
        assert_eq!(
            host.make_credential(&resident(make_request("example.com", 2, Algorithm::ES256)))
                .status,
            StatusCode::PUAT_REQUIRED
        );
        assert_eq!(
            host.make_credential(&make_request("example.com", 2, Algorithm::ES256))
                .status,
            StatusCode::SUCCESS
        );
        // The zero-length probe with a PIN: PIN_INVALID after the touch.
        let mut probe = make_request("example.com", 3, Algorithm::ES256);
        probe.pin_uv_auth_param = Some(vec![]);
        let reply = host.make_credential(&probe);
        assert_eq!(
            (reply.status, reply.keepalives > 0),
            (StatusCode::PIN_INVALID, true)
        );
    }
    // Parameter errors.
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let errors = [
        (
            ClientPinRequest::new(PinSubCommand::GET_KEY_AGREEMENT, None),
            StatusCode::MISSING_PARAMETER,
        ),
        (
            ClientPinRequest::new(PinSubCommand::GET_KEY_AGREEMENT, Some(3)),
            StatusCode::INVALID_PARAMETER,
        ),
        (
            ClientPinRequest::new(PinSubCommand::SET_PIN, Some(2)),
            StatusCode::MISSING_PARAMETER,
        ),
        (
            ClientPinRequest::new(PinSubCommand::GET_PIN_TOKEN, Some(1)),
            StatusCode::MISSING_PARAMETER,
        ),
        (
            ClientPinRequest::new(PinSubCommand::GET_UV_RETRIES, None),
            StatusCode::INVALID_SUBCOMMAND,
        ),
        (
            ClientPinRequest::new(
                PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS,
                Some(2),
            ),
            StatusCode::INVALID_SUBCOMMAND,
        ),
        (
            ClientPinRequest::new(PinSubCommand(0x42), Some(2)),
            StatusCode::INVALID_SUBCOMMAND,
        ),
    ];
    for (request, expected) in errors {
        assert_eq!(host.client_pin(&request).status, expected, "{request:?}");
    }
    // An off-curve platform key.
    let mut request = ClientPinRequest::new(PinSubCommand::GET_PIN_TOKEN, Some(2));
    request.key_agreement = Some(CoseKey::EcdhEsHkdf256 {
        x: [1; 32],
        y: [1; 32],
    });
    request.pin_hash_enc = Some(vec![0; 32]);
    assert_eq!(
        host.client_pin(&request).status,
        StatusCode::INVALID_PARAMETER
    );
    // setPIN with a bad pinUvAuthParam, changePIN likewise.
    let (key, shared) = host.shared_secret(PinProtocol::Two);
    let mut request = ClientPinRequest::new(PinSubCommand::CHANGE_PIN, Some(2));
    request.key_agreement = Some(key);
    request.new_pin_enc = Some(
        shared
            .encrypt(&pad_pin("9999").unwrap(), &mut host.rng)
            .unwrap(),
    );
    request.pin_hash_enc = Some(shared.encrypt(&pin_hash("1234"), &mut host.rng).unwrap());
    request.pin_uv_auth_param = Some(vec![0; 32]);
    assert_eq!(
        host.client_pin(&request).status,
        StatusCode::PIN_AUTH_INVALID
    );
    // Permissions: zero, and ones this authenticator cannot grant.
    assert_eq!(
        host.token(PinProtocol::Two, "1234", Some(Permissions(0)), None),
        Err(StatusCode::INVALID_PARAMETER)
    );
    assert_eq!(
        host.token(
            PinProtocol::Two,
            "1234",
            Some(Permissions::BIO_ENROLLMENT),
            None
        ),
        Err(StatusCode::UNAUTHORIZED_PERMISSION)
    );
    // A permission bit no version of the spec defines is ignored (§6.5.5.7.2 step 4:
    // "Undefined permissions present in the permissions parameter are ignored"; lbw
    // is granted while large blobs are on: tests/features.rs).
    assert!(
        host.token(PinProtocol::Two, "1234", Some(Permissions(0x80)), None)
            .is_ok()
    );
}

#[test]
fn pin_retries_block_per_power_cycle_and_for_good() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let wrong = |host: &mut Host| {
        host.token(PinProtocol::Two, "0000", None, None)
            .unwrap_err()
    };
    let power_cycle = |host: &mut Host| {
        host.now += Duration::from_secs(1);
        host.device.power_up(host.now);
    };
    // Three wrong PINs block PIN use for this power cycle, even with the right PIN.
    assert_eq!(
        [wrong(&mut host), wrong(&mut host)],
        [StatusCode::PIN_INVALID; 2]
    );
    assert_eq!(wrong(&mut host), StatusCode::PIN_AUTH_BLOCKED);
    assert_eq!(
        host.token(PinProtocol::Two, "1234", None, None),
        Err(StatusCode::PIN_AUTH_BLOCKED)
    );
    assert_eq!(host.retries(), (5, true));
    power_cycle(&mut host);
    assert_eq!(host.retries(), (5, false));
    // The right PIN resets the counter.
    assert!(host.token(PinProtocol::Two, "1234", None, None).is_ok());
    assert_eq!(host.retries(), (8, false));
    // Eight wrong PINs in a row (over three power cycles) block it for good.
    let mut statuses = Vec::new();
    while statuses.last() != Some(&StatusCode::PIN_BLOCKED) && statuses.len() < 20 {
        let status = wrong(&mut host);
        if status == StatusCode::PIN_AUTH_BLOCKED {
            power_cycle(&mut host);
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::PIN_INVALID,
            StatusCode::PIN_INVALID,
            StatusCode::PIN_AUTH_BLOCKED,
            StatusCode::PIN_INVALID,
            StatusCode::PIN_INVALID,
            StatusCode::PIN_AUTH_BLOCKED,
            StatusCode::PIN_INVALID,
            StatusCode::PIN_BLOCKED,
        ]
    );
    // 8 wrong PINs since the last right one: blocked until reset.
    assert_eq!(host.retries(), (0, false));
    assert_eq!(
        host.token(PinProtocol::Two, "1234", None, None),
        Err(StatusCode::PIN_BLOCKED)
    );
    assert_eq!(
        host.change_pin(PinProtocol::One, "1234", "5678"),
        StatusCode::PIN_BLOCKED
    );
    assert_eq!(host.ctap(0x07, &[]).status, StatusCode::SUCCESS);
    assert_eq!(host.retries_status(), StatusCode::PIN_NOT_SET);
    assert_eq!(host.info().option("clientPin"), Some(false));
}

#[test]
fn tokens_carry_permissions_rp_binding_and_expire() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let protocol = PinProtocol::Two;
    // (Registered first: a makeCredential collects user presence, which spends the
    // token in use, CTAP 2.1 §6.1.2 step 14.4.)
    let (id, key) = register(&mut host, &make_request("example.com", 1, Algorithm::ES256));
    let (other_id, _) = register(
        &mut host,
        &make_request("other.example", 1, Algorithm::ES256),
    );
    let token = host
        .token(
            protocol,
            "1234",
            Some(Permissions::GET_ASSERTION),
            Some("example.com"),
        )
        .unwrap();
    let mut request = make_request("example.com", 1, Algorithm::ES256);
    request.pin_uv_auth_param = Some(protocol.authenticate(&token, &request.client_data_hash));
    request.pin_uv_auth_protocol = Some(2);
    // No mc permission.
    assert_eq!(
        host.make_credential(&request).status,
        StatusCode::PIN_AUTH_INVALID
    );
    let mut assertion = assertion_request("example.com", Some(&id));
    assertion.pin_uv_auth_param = Some(protocol.authenticate(&token, &assertion.client_data_hash));
    assertion.pin_uv_auth_protocol = Some(2);
    // Bound to example.com.
    let mut elsewhere = assertion.clone();
    elsewhere.rp_id = "other.example".into();
    elsewhere.allow_list = Some(vec![CredentialDescriptor::public_key(&other_id)]);
    assert_eq!(
        host.get_assertion(&elsewhere).status,
        StatusCode::PIN_AUTH_INVALID
    );
    // The wrong protocol for this token.
    let mut wrong_protocol = assertion.clone();
    wrong_protocol.pin_uv_auth_param =
        Some(PinProtocol::One.authenticate(&token, &assertion.client_data_hash));
    wrong_protocol.pin_uv_auth_protocol = Some(1);
    assert_eq!(
        host.get_assertion(&wrong_protocol).status,
        StatusCode::PIN_AUTH_INVALID
    );
    // None of those spent it.
    let response: GetAssertionResponse = host.get_assertion(&assertion).ok();
    assert!(response.auth_data().unwrap().flags.contains(Flags::UV));
    verify_assertion(&assertion, &response, &key);
    // forcePINChange (set through authenticatorConfig) refuses tokens until changed.
    let token = host
        .token(
            protocol,
            "1234",
            Some(Permissions::AUTHENTICATOR_CONFIG),
            None,
        )
        .unwrap();
    let params = SetMinPinLengthParams {
        new_min_pin_length: Some(6),
        ..Default::default()
    }
    .to_value();
    let mut config_request = ConfigRequest {
        sub_command: ConfigSubCommand::SET_MIN_PIN_LENGTH,
        sub_command_params: Some(params),
        pin_uv_auth_protocol: Some(2),
        pin_uv_auth_param: None,
    };
    config_request.pin_uv_auth_param =
        Some(protocol.authenticate(&token, &config_request.auth_message()));
    assert_eq!(host.call(0x0D, &config_request).status, StatusCode::SUCCESS);
    let info = host.info();
    assert_eq!(
        (info.min_pin_length, info.force_pin_change),
        (Some(6), Some(true))
    );
    // CTAP 2.1 §6.5.5.7.1: getPinToken answers PIN_INVALID under forcePINChange;
    // §6.5.5.7.2: the permissions form PIN_POLICY_VIOLATION.
    assert_eq!(
        host.token(protocol, "1234", None, None),
        Err(StatusCode::PIN_INVALID)
    );
    assert_eq!(
        host.token(protocol, "1234", Some(Permissions::GET_ASSERTION), None),
        Err(StatusCode::PIN_POLICY_VIOLATION)
    );
    assert_eq!(host.retries(), (8, false), "the PIN itself was right");
    assert_eq!(
        host.change_pin(protocol, "1234", "12345"),
        StatusCode::PIN_POLICY_VIOLATION
    );
    assert_eq!(
        host.change_pin(protocol, "1234", "123456"),
        StatusCode::SUCCESS
    );
    assert_eq!(host.info().force_pin_change, Some(false));
    assert!(host.token(protocol, "123456", None, None).is_ok());
}

fn cred_mgmt(
    host: &mut Host,
    token: &[u8],
    sub: CredMgmtSubCommand,
    params: Option<CredentialManagementParams>,
) -> Reply {
    let mut request = CredentialManagementRequest {
        sub_command: sub,
        sub_command_params: params.map(|p| p.to_value()),
        pin_uv_auth_protocol: Some(1),
        pin_uv_auth_param: None,
    };
    request.pin_uv_auth_param = Some(PinProtocol::One.authenticate(token, &request.auth_message()));
    host.call(0x0A, &request)
}

#[test]
fn credential_management() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::One, "1234"), StatusCode::SUCCESS);
    let token = host.token(PinProtocol::One, "1234", None, None).unwrap();
    // A token binds to the first RP it is used for: one token per RP.
    let with_uv = |host: &mut Host, rp: &str, n: u8| {
        let token = host.token(PinProtocol::One, "1234", None, None).unwrap();
        let mut request = resident(make_request(rp, n, Algorithm::EDDSA));
        request.pin_uv_auth_param =
            Some(PinProtocol::One.authenticate(&token, &request.client_data_hash));
        request.pin_uv_auth_protocol = Some(1);
        register(host, &request)
    };
    let (a1, key_a1) = with_uv(&mut host, "a.example", 1);
    with_uv(&mut host, "a.example", 2);
    with_uv(&mut host, "b.example", 3);
    let cm_token = host
        .token(
            PinProtocol::One,
            "1234",
            Some(Permissions::CREDENTIAL_MANAGEMENT),
            None,
        )
        .unwrap();
    // Without the cm permission, and without any param.
    assert_eq!(
        cred_mgmt(
            &mut host,
            &token,
            CredMgmtSubCommand::GET_CREDS_METADATA,
            None
        )
        .status,
        StatusCode::PIN_AUTH_INVALID
    );
    let bare = CredentialManagementRequest {
        sub_command: CredMgmtSubCommand::GET_CREDS_METADATA,
        sub_command_params: None,
        pin_uv_auth_protocol: Some(1),
        pin_uv_auth_param: None,
    };
    assert_eq!(host.call(0x0A, &bare).status, StatusCode::PUAT_REQUIRED);
    let metadata: CredentialManagementResponse = cred_mgmt(
        &mut host,
        &cm_token,
        CredMgmtSubCommand::GET_CREDS_METADATA,
        None,
    )
    .ok();
    assert_eq!(metadata.existing_resident_credentials_count, Some(3));
    assert_eq!(
        metadata.max_possible_remaining_resident_credentials_count,
        Some(47)
    );
    let first: CredentialManagementResponse = cred_mgmt(
        &mut host,
        &cm_token,
        CredMgmtSubCommand::ENUMERATE_RPS_BEGIN,
        None,
    )
    .ok();
    assert_eq!(
        (first.total_rps, first.rp.unwrap().id.as_str()),
        (Some(2), "a.example")
    );
    let next: CredentialManagementResponse = host
        .call(
            0x0A,
            &CredentialManagementRequest {
                sub_command: CredMgmtSubCommand::ENUMERATE_RPS_GET_NEXT_RP,
                sub_command_params: None,
                pin_uv_auth_protocol: None,
                pin_uv_auth_param: None,
            },
        )
        .ok();
    assert_eq!(next.rp.unwrap().id, "b.example");
    assert_eq!(next.rp_id_hash, Some(sha256(b"b.example").to_vec()));
    let by_rp = CredentialManagementParams {
        rp_id_hash: Some(sha256(b"a.example").to_vec()),
        ..Default::default()
    };
    let creds: CredentialManagementResponse = cred_mgmt(
        &mut host,
        &cm_token,
        CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
        Some(by_rp.clone()),
    )
    .ok();
    assert_eq!(creds.total_credentials, Some(2));
    assert_eq!(creds.credential_id.unwrap().id, a1);
    assert_eq!(creds.public_key, Some(key_a1));
    assert_eq!(
        creds.user.unwrap().name.as_deref(),
        Some("user1"),
        "full user for management"
    );
    assert_eq!(creds.cred_protect, Some(1));
    let next_cred = CredentialManagementRequest {
        sub_command: CredMgmtSubCommand::ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL,
        sub_command_params: None,
        pin_uv_auth_protocol: None,
        pin_uv_auth_param: None,
    };
    let second: CredentialManagementResponse = host.call(0x0A, &next_cred).ok();
    assert_eq!(second.user.unwrap().id, vec![2; 8]);
    assert_eq!(host.call(0x0A, &next_cred).status, StatusCode::NOT_ALLOWED);
    // Update: same user id only.
    let renamed = UserEntity {
        name: Some("renamed".into()),
        ..user(1)
    };
    let update = CredentialManagementParams {
        credential_id: Some(CredentialDescriptor::public_key(&a1)),
        user: Some(renamed),
        ..Default::default()
    };
    assert_eq!(
        cred_mgmt(
            &mut host,
            &cm_token,
            CredMgmtSubCommand::UPDATE_USER_INFORMATION,
            Some(update.clone())
        )
        .status,
        StatusCode::SUCCESS
    );
    let mut wrong_user = update.clone();
    wrong_user.user = Some(user(9));
    assert_eq!(
        cred_mgmt(
            &mut host,
            &cm_token,
            CredMgmtSubCommand::UPDATE_USER_INFORMATION,
            Some(wrong_user)
        )
        .status,
        StatusCode::INVALID_PARAMETER
    );
    let creds: CredentialManagementResponse = cred_mgmt(
        &mut host,
        &cm_token,
        CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
        Some(by_rp.clone()),
    )
    .ok();
    assert_eq!(creds.user.unwrap().name.as_deref(), Some("renamed"));
    // Delete, then it is gone (also for getAssertion).
    let delete = CredentialManagementParams {
        credential_id: Some(CredentialDescriptor::public_key(&a1)),
        ..Default::default()
    };
    assert_eq!(
        cred_mgmt(
            &mut host,
            &cm_token,
            CredMgmtSubCommand::DELETE_CREDENTIAL,
            Some(delete.clone())
        )
        .status,
        StatusCode::SUCCESS
    );
    assert_eq!(
        cred_mgmt(
            &mut host,
            &cm_token,
            CredMgmtSubCommand::DELETE_CREDENTIAL,
            Some(delete)
        )
        .status,
        StatusCode::NO_CREDENTIALS
    );
    assert_eq!(
        host.get_assertion(&assertion_request("a.example", Some(&a1)))
            .status,
        StatusCode::NO_CREDENTIALS
    );
    assert_eq!(
        cred_mgmt(
            &mut host,
            &cm_token,
            CredMgmtSubCommand::DELETE_CREDENTIAL,
            None
        )
        .status,
        StatusCode::MISSING_PARAMETER
    );
    assert_eq!(
        cred_mgmt(
            &mut host,
            &cm_token,
            CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
            None
        )
        .status,
        StatusCode::MISSING_PARAMETER
    );
    let nobody = CredentialManagementParams {
        rp_id_hash: Some(vec![0; 32]),
        ..Default::default()
    };
    assert_eq!(
        cred_mgmt(
            &mut host,
            &cm_token,
            CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
            Some(nobody)
        )
        .status,
        StatusCode::NO_CREDENTIALS
    );
    assert_eq!(
        cred_mgmt(&mut host, &cm_token, CredMgmtSubCommand(0x42), None).status,
        StatusCode::INVALID_SUBCOMMAND
    );
    // A fresh authenticator has nothing to enumerate.
    let mut empty = Host::new(config());
    assert_eq!(empty.set_pin(PinProtocol::One, "1234"), StatusCode::SUCCESS);
    let token = empty
        .token(
            PinProtocol::One,
            "1234",
            Some(Permissions::CREDENTIAL_MANAGEMENT),
            None,
        )
        .unwrap();
    assert_eq!(
        cred_mgmt(
            &mut empty,
            &token,
            CredMgmtSubCommand::ENUMERATE_RPS_BEGIN,
            None
        )
        .status,
        StatusCode::NO_CREDENTIALS
    );
}

#[test]
fn authenticator_config_always_uv_and_min_pin_length() {
    let mut host = Host::new(config());
    let toggle = ConfigRequest {
        sub_command: ConfigSubCommand::TOGGLE_ALWAYS_UV,
        sub_command_params: None,
        pin_uv_auth_protocol: None,
        pin_uv_auth_param: None,
    };
    // No PIN: allowed without a token.
    assert_eq!(host.call(0x0D, &toggle).status, StatusCode::SUCCESS);
    assert_eq!(host.info().option("alwaysUv"), Some(true));
    assert_eq!(host.info().option("makeCredUvNotRqd"), Some(false));
    // alwaysUv without a PIN: nothing can verify the user. clientPin is supported, so
    // the platform hears PUAT_REQUIRED (CTAP 2.1 §6.1.2 step 6.2.1), not PIN_NOT_SET.
    assert_eq!(
        host.make_credential(&make_request("example.com", 1, Algorithm::ES256))
            .status,
        StatusCode::PUAT_REQUIRED
    );
    assert_eq!(
        host.call(0x0D, &toggle).status,
        StatusCode::PUAT_REQUIRED,
        "alwaysUv on: a token is needed"
    );
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    assert_eq!(
        host.make_credential(&make_request("example.com", 1, Algorithm::ES256))
            .status,
        StatusCode::PUAT_REQUIRED
    );
    let token = host
        .token(
            PinProtocol::Two,
            "1234",
            Some(Permissions::AUTHENTICATOR_CONFIG),
            None,
        )
        .unwrap();
    let mut signed = toggle.clone();
    signed.pin_uv_auth_protocol = Some(2);
    signed.pin_uv_auth_param = Some(PinProtocol::Two.authenticate(&token, &toggle.auth_message()));
    assert_eq!(host.call(0x0D, &signed).status, StatusCode::SUCCESS);
    assert_eq!(host.info().option("alwaysUv"), Some(false));
    let min = |n: u64| ConfigRequest {
        sub_command: ConfigSubCommand::SET_MIN_PIN_LENGTH,
        sub_command_params: Some(
            SetMinPinLengthParams {
                new_min_pin_length: Some(n),
                ..Default::default()
            }
            .to_value(),
        ),
        pin_uv_auth_protocol: Some(2),
        pin_uv_auth_param: None,
    };
    let signed_min = |n| {
        let mut request = min(n);
        request.pin_uv_auth_param =
            Some(PinProtocol::Two.authenticate(&token, &request.auth_message()));
        request
    };
    assert_eq!(host.call(0x0D, &min(5)).status, StatusCode::PUAT_REQUIRED);
    assert_eq!(
        host.call(0x0D, &signed_min(3)).status,
        StatusCode::PIN_POLICY_VIOLATION,
        "never lower"
    );
    assert_eq!(host.call(0x0D, &signed_min(4)).status, StatusCode::SUCCESS);
    let mut with_rps = min(4);
    with_rps.sub_command_params = Some(
        SetMinPinLengthParams {
            min_pin_length_rpids: Some(vec!["example.com".into()]),
            ..Default::default()
        }
        .to_value(),
    );
    with_rps.pin_uv_auth_param =
        Some(PinProtocol::Two.authenticate(&token, &with_rps.auth_message()));
    // minPinLengthRPIDs are accepted up to maxRPIDsForSetMinPINLength (the rules are
    // tested in tests/features.rs).
    assert_eq!(host.call(0x0D, &with_rps).status, StatusCode::SUCCESS);
    // A tampered message.
    let mut tampered = signed_min(8);
    tampered.sub_command_params = min(9).sub_command_params;
    assert_eq!(
        host.call(0x0D, &tampered).status,
        StatusCode::PIN_AUTH_INVALID
    );
    for sub in [
        ConfigSubCommand::ENABLE_ENTERPRISE_ATTESTATION,
        ConfigSubCommand::VENDOR_PROTOTYPE,
    ] {
        let request = ConfigRequest {
            sub_command: sub,
            ..min(4)
        };
        assert_eq!(
            host.call(0x0D, &request).status,
            StatusCode::INVALID_SUBCOMMAND
        );
    }
}

#[test]
fn cred_protect_and_hmac_secret() {
    let mut host = Host::new(config());
    let with_ext = |n: u8, level: i64| {
        let mut request = resident(make_request("example.com", n, Algorithm::ES256));
        request.extensions = Some(vec![
            ("credProtect".into(), Value::int(level)),
            ("hmac-secret".into(), Value::Bool(true)),
        ]);
        request
    };
    let response: MakeCredentialResponse = host.make_credential(&with_ext(1, 3)).ok();
    let data = response.auth_data().unwrap();
    let outputs = data.extensions.unwrap();
    assert_eq!(
        outputs,
        Value::Map(vec![
            (Value::text("credProtect"), Value::int(3)),
            (Value::text("hmac-secret"), Value::Bool(true)),
        ])
    );
    let uv_required = data.attested_credential.unwrap().credential_id;
    let (list_only, list_key) = register(&mut host, &with_ext(2, 2));
    // Without UV: level 3 is invisible even in an allowList, level 2 only in one.
    assert_eq!(
        host.get_assertion(&assertion_request("example.com", None))
            .status,
        StatusCode::NO_CREDENTIALS
    );
    assert_eq!(
        host.get_assertion(&assertion_request("example.com", Some(&uv_required)))
            .status,
        StatusCode::NO_CREDENTIALS
    );
    let request = assertion_request("example.com", Some(&list_only));
    let response: GetAssertionResponse = host.get_assertion(&request).ok();
    verify_assertion(&request, &response, &list_key);
    // An excludeList naming a level-3 credential does not reveal it without UV.
    let mut excluded = make_request("example.com", 5, Algorithm::ES256);
    excluded.exclude_list = Some(vec![CredentialDescriptor::public_key(&uv_required)]);
    assert_eq!(host.make_credential(&excluded).status, StatusCode::SUCCESS);

    // hmac-secret: the same salt gives the same output, another salt another.
    let output = |host: &mut Host, protocol: PinProtocol, salt: &[u8]| {
        let (key, shared) = host.shared_secret(protocol);
        let salt_enc = shared.encrypt(salt, &mut host.rng).unwrap();
        let mut input = vec![
            (Value::Int(1), key.to_value()),
            (Value::Int(2), Value::bytes(&salt_enc)),
            (Value::Int(3), Value::Bytes(shared.authenticate(&salt_enc))),
        ];
        if protocol == PinProtocol::Two {
            input.push((Value::Int(4), Value::Int(2)));
        }
        let mut request = assertion_request("example.com", Some(&list_only));
        request.extensions = Some(vec![("hmac-secret".into(), Value::Map(input))]);
        let reply = host.get_assertion(&request);
        if reply.status != StatusCode::SUCCESS {
            return Err(reply.status);
        }
        let response: GetAssertionResponse = reply.ok();
        let outputs = response.auth_data().unwrap().extensions.unwrap();
        let Value::Bytes(encrypted) = IntMapView::new(&outputs).get("hmac-secret").unwrap() else {
            panic!()
        };
        Ok(shared.decrypt(&encrypted).unwrap().to_vec())
    };
    let a = output(&mut host, PinProtocol::One, &[1; 32]).unwrap();
    let b = output(&mut host, PinProtocol::Two, &[1; 32]).unwrap();
    let c = output(&mut host, PinProtocol::One, &[2; 64]).unwrap();
    assert_eq!(a, b);
    assert_eq!(c.len(), 64);
    assert_ne!(&c[..32], a.as_slice());
    assert_eq!(
        output(&mut host, PinProtocol::One, &[1; 16]),
        Err(StatusCode::INVALID_LENGTH)
    );
    // A bad saltAuth.
    let (key, shared) = host.shared_secret(PinProtocol::One);
    let salt_enc = shared.encrypt(&[1; 32], &mut host.rng).unwrap();
    let mut request = assertion_request("example.com", Some(&list_only));
    request.extensions = Some(vec![(
        "hmac-secret".into(),
        Value::Map(vec![
            (Value::Int(1), key.to_value()),
            (Value::Int(2), Value::bytes(&salt_enc)),
            (Value::Int(3), Value::bytes(&[0; 16])),
        ]),
    )]);
    assert_eq!(
        host.get_assertion(&request).status,
        StatusCode::PIN_AUTH_INVALID
    );
}

#[test]
fn reset_only_in_its_window_and_wipes_everything() {
    let mut host = Host::new(config());
    let (id, _) = register(
        &mut host,
        &resident(make_request("example.com", 1, Algorithm::ES256)),
    );
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    host.advance(Duration::from_secs(11));
    assert_eq!(host.ctap(0x07, &[]).status, StatusCode::NOT_ALLOWED);
    host.device.power_up(host.now);
    host.advance(Duration::from_secs(9));
    let reply = host.ctap(0x07, &[]);
    assert_eq!(
        (reply.status, reply.keepalives > 0),
        (StatusCode::SUCCESS, true)
    );
    assert_eq!(host.device.discoverable_credentials(), 0);
    assert_eq!(host.info().option("clientPin"), Some(false));
    // Old credential ids no longer verify (new master secret).
    assert_eq!(
        host.get_assertion(&assertion_request("example.com", Some(&id)))
            .status,
        StatusCode::NO_CREDENTIALS
    );
    // Denied reset keeps everything.
    let (id, _) = register(&mut host, &make_request("example.com", 1, Algorithm::ES256));
    host.device.set_touch_policy(TouchPolicy::Deny {
        after: Duration::ZERO,
    });
    assert_eq!(host.ctap(0x07, &[]).status, StatusCode::OPERATION_DENIED);
    host.device.set_touch_policy(TouchPolicy::IMMEDIATE);
    assert_eq!(
        host.get_assertion(&assertion_request("example.com", Some(&id)))
            .status,
        StatusCode::SUCCESS
    );
    // A window of None allows reset at any time.
    let mut host = Host::new(config().with_reset_window(None));
    host.advance(Duration::from_secs(3600));
    assert_eq!(host.ctap(0x07, &[]).status, StatusCode::SUCCESS);
}

#[test]
fn state_persists_through_the_sink_and_refuses_corruption() {
    use std::sync::{Arc, Mutex};
    let saved = Arc::new(Mutex::new(Vec::new()));
    let mut host = Host::new(config());
    let sink = Arc::clone(&saved);
    host.device
        .on_state_change(move |bytes| *sink.lock().unwrap() = bytes.to_vec());
    let (id, key) = register(
        &mut host,
        &resident(make_request("example.com", 1, Algorithm::EDDSA)),
    );
    assert_eq!(host.set_pin(PinProtocol::One, "1234"), StatusCode::SUCCESS);
    let bytes = saved.lock().unwrap().clone();
    assert_eq!(bytes, host.device.state_bytes());
    // A new authenticator (another seed) with the saved state knows the credential.
    let mut restored = Host::new(config().with_rng_seed(Some([7; 32])));
    restored.device.load_state(&bytes).unwrap();
    assert_eq!(restored.info().option("clientPin"), Some(true));
    let request = assertion_request("example.com", None);
    let response: GetAssertionResponse = restored.get_assertion(&request).ok();
    assert_eq!(response.credential.as_ref().unwrap().id, id);
    verify_assertion(&request, &response, &key);
    assert!(
        response.auth_data().unwrap().sign_count > 1,
        "the counter came along"
    );
    // Corrupt bytes are refused and change nothing.
    let mut corrupt = bytes.clone();
    *corrupt.last_mut().unwrap() ^= 0x55;
    assert!(restored.device.load_state(&corrupt).is_err());
    assert!(restored.device.load_state(&bytes[..10]).is_err());
    assert_eq!(restored.device.discoverable_credentials(), 1);
}

#[test]
fn preset_pin_and_state_file() {
    let dir = std::env::temp_dir().join(format!("ctap2-state-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.bin");
    let mut host = Host::new(config());
    assert_eq!(
        host.device.set_pin("12"),
        Err(StatusCode::PIN_POLICY_VIOLATION)
    );
    host.device
        .use_state_file(ctap_virtual::StateFile::new(&path))
        .unwrap();
    let (id, _) = register(
        &mut host,
        &resident(make_request("example.com", 1, Algorithm::ES256)),
    );
    host.device.set_pin("4321").unwrap();
    // The preset PIN works; the file has the credential.
    assert!(host.token(PinProtocol::Two, "4321", None, None).is_ok());
    let mut second = Host::new(config().with_rng_seed(Some([9; 32])));
    second
        .device
        .use_state_file(ctap_virtual::StateFile::new(&path))
        .unwrap();
    assert_eq!(second.device.discoverable_credentials(), 1);
    assert_eq!(
        second
            .get_assertion(&assertion_request("example.com", Some(&id)))
            .status,
        StatusCode::SUCCESS
    );
    // A corrupt file is refused with a clear error and left alone.
    std::fs::write(&path, b"not a state file").unwrap();
    let mut third = Host::new(config());
    let error = third
        .device
        .use_state_file(ctap_virtual::StateFile::new(&path))
        .unwrap_err();
    assert!(error.to_string().contains("corrupt"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a state file");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn u2f_register_and_authenticate_share_the_credential_store() {
    let mut host = Host::new(config());
    let app = sha256(b"example.com");
    let challenge = [7; 32];
    let apdu = |ins: u8, p1: u8, data: &[u8]| {
        let len = u16::try_from(data.len()).unwrap().to_be_bytes();
        [&[0, ins, p1, 0, 0, len[0], len[1]][..], data, &[0, 0]].concat()
    };
    let cid = host.cid;
    let msg = |host: &mut Host, apdu: Vec<u8>| {
        host.send(cid, Command::MSG, &apdu);
        host.messages().pop().unwrap().1
    };
    let register = msg(&mut host, apdu(1, 0, &[challenge, app].concat()));
    assert_eq!(&register[register.len() - 2..], [0x90, 0x00]);
    assert_eq!(register[0], 0x05);
    let public = &register[1..66];
    let key = CoseKey::Es256 {
        x: public[1..33].try_into().unwrap(),
        y: public[33..65].try_into().unwrap(),
    };
    let handle_len = usize::from(register[66]);
    let handle = register[67..67 + handle_len].to_vec();
    let auth = |p1: u8, handle: &[u8]| {
        apdu(
            2,
            p1,
            &[
                &challenge[..],
                &app,
                &[u8::try_from(handle.len()).unwrap()],
                handle,
            ]
            .concat(),
        )
    };
    assert_eq!(
        msg(&mut host, auth(0x07, &handle)),
        [0x69, 0x85],
        "check-only"
    );
    let signed = msg(&mut host, auth(0x03, &handle));
    assert_eq!(&signed[signed.len() - 2..], [0x90, 0x00]);
    assert_eq!(signed[0], 0x01, "user present");
    let counter = &signed[1..5];
    let signature = &signed[5..signed.len() - 2];
    let message = [&app[..], &[0x01], counter, &challenge].concat();
    assert!(key.verify(&message, signature));
    let silent = msg(&mut host, auth(0x08, &handle));
    assert_eq!(silent[0], 0x00, "dont-enforce: no presence");
    assert_eq!(
        msg(&mut host, auth(0x03, &[0; 51])),
        [0x6A, 0x80],
        "not our handle"
    );
    assert_eq!(
        msg(&mut host, auth(0x09, &handle)),
        [0x6A, 0x80],
        "unknown control byte"
    );
    assert_eq!(msg(&mut host, apdu(1, 0, &[1; 63])), [0x67, 0x00]);
    // The U2F key handle is a CTAP2 credential of the RP whose hash is the app id.
    let request = assertion_request("example.com", Some(&handle));
    let response: GetAssertionResponse = host.get_assertion(&request).ok();
    verify_assertion(&request, &response, &key);
    // And a CTAP2 ES256 credential answers U2F AUTHENTICATE.
    let (id, key) = register_ctap2(&mut host);
    let signed = msg(&mut host, auth(0x03, &id));
    let message = [&app[..], &[0x01], &signed[1..5], &challenge].concat();
    assert!(key.verify(&message, &signed[5..signed.len() - 2]));
    // A policy that does not approve: presence is not available to U2F.
    host.device.set_touch_policy(TouchPolicy::Never);
    assert_eq!(msg(&mut host, auth(0x03, &handle)), [0x69, 0x85]);
    assert_eq!(
        msg(&mut host, apdu(1, 0, &[challenge, app].concat())),
        [0x69, 0x85]
    );
}

fn register_ctap2(host: &mut Host) -> (Vec<u8>, CoseKey) {
    register(host, &make_request("example.com", 1, Algorithm::ES256))
}

#[test]
fn an_answer_over_the_maximum_message_is_other_not_silence() {
    // 8-byte reports carry at most 385 bytes: a batch-attested credential is longer.
    let config = config()
        .with_report_size(ReportSize::new(8).unwrap())
        .with_attestation(Attestation::Batch);
    let mut host = Host::new(config);
    let request = make_request("example.com", 1, Algorithm::ES256);
    assert_eq!(host.make_credential(&request).status, StatusCode::OTHER);
    // Issue 22: an answer that cannot be sent leaves nothing behind: no stored
    // credential, no bumped counter, no state change handed to the sink.
    let saves = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = saves.clone();
    host.device.on_state_change(move |_| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    assert_eq!(
        host.make_credential(&resident(request.clone())).status,
        StatusCode::OTHER
    );
    assert_eq!(host.device.discoverable_credentials(), 0);
    assert_eq!(saves.load(std::sync::atomic::Ordering::SeqCst), 0);
    let mut none = request.clone();
    none.attestation_formats_preference = Some(vec!["none".into()]);
    let response: MakeCredentialResponse = host.make_credential(&none).ok();
    assert_eq!(
        response.auth_data().unwrap().sign_count,
        1,
        "never bumped before"
    );
    // A short answer still fits.
    let mut host = Host::new(config.with_attestation(Attestation::None));
    assert_eq!(host.make_credential(&request).status, StatusCode::SUCCESS);
}

#[test]
fn get_info_tells_the_truth() {
    let mut host = Host::new(config().with_max_discoverable_credentials(5));
    let info = host.info();
    assert_eq!(info.versions, ["U2F_V2", "FIDO_2_0", "FIDO_2_1"]);
    assert_eq!(
        info.extensions,
        [
            "credProtect",
            "hmac-secret",
            "largeBlobKey",
            "credBlob",
            "minPinLength",
            "hmac-secret-mc",
            "thirdPartyPayment"
        ]
    );
    assert_eq!(info.pin_uv_auth_protocols, [2, 1]);
    assert_eq!(
        info.algorithms
            .unwrap()
            .iter()
            .map(|a| a.alg)
            .collect::<Vec<_>>(),
        ctap_virtual::Algorithms::ALL.as_slice()
    );
    assert_eq!(info.max_credential_count_in_list, Some(8));
    assert_eq!(info.max_credential_id_length, Some(51));
    assert_eq!(info.remaining_discoverable_credentials, Some(5));
    // CTAP 2.2 §6.4 attestationFormats: packed by default, none on request (see
    // batch_and_none_attestation); a key configured without attestation has only none.
    assert_eq!(
        info.attestation_formats.as_deref(),
        Some(["packed".to_owned(), "none".to_owned()].as_slice())
    );
    let no_attestation = Host::new(config().with_attestation(Attestation::None)).info();
    assert_eq!(
        no_attestation.attestation_formats.as_deref(),
        Some(["none".to_owned()].as_slice())
    );
    assert_eq!(info.min_pin_length, Some(4));
    register(
        &mut host,
        &resident(make_request("example.com", 1, Algorithm::ES256)),
    );
    assert_eq!(host.info().remaining_discoverable_credentials, Some(4));
    // Every credential id fits the advertised maximum.
    let (id, _) = register(&mut host, &make_request("example.com", 2, Algorithm::EDDSA));
    assert_eq!(id.len(), 51);
    // largeBlobs is advertised and answers (tests/features.rs has the rest);
    // bioEnrollment is neither.
    assert_eq!(host.info().option("largeBlobs"), Some(true));
    assert_eq!(
        host.ctap(0x0C, &[0xA2, 0x01, 0x01, 0x03, 0x00]).status,
        StatusCode::SUCCESS
    );
    assert_eq!(host.info().option("bioEnroll"), None);
    assert_eq!(
        host.ctap(0x09, &[0xA1, 0x01, 0x01]).status,
        StatusCode::INVALID_COMMAND
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every credential and assertion signature verifies, whatever the mix of
    /// algorithms, residency and client data.
    #[test]
    fn every_signature_verifies(
        steps in proptest::collection::vec((any::<bool>(), any::<bool>(), any::<[u8; 32]>()), 1..6)
    ) {
        let mut host = Host::new(config());
        for (n, (eddsa, rk, cdh)) in steps.into_iter().enumerate() {
            let alg = if eddsa { Algorithm::EDDSA } else { Algorithm::ES256 };
            let mut request = make_request("prop.example", u8::try_from(n).unwrap(), alg);
            request.client_data_hash = cdh.to_vec();
            if rk {
                request = resident(request);
            }
            let response: MakeCredentialResponse = host.make_credential(&request).ok();
            let attested = response.auth_data().unwrap().attested_credential.unwrap();
            let mut att = IntMapView::new(&response.att_stmt);
            let Some(Value::Bytes(sig)) = att.get("sig") else { panic!() };
            let signed = [response.auth_data.as_slice(), &request.client_data_hash].concat();
            prop_assert!(attested.public_key.verify(&signed, &sig));
            let mut assertion = assertion_request("prop.example", Some(&attested.credential_id));
            assertion.client_data_hash = cdh.iter().rev().copied().collect();
            let reply: GetAssertionResponse = host.get_assertion(&assertion).ok();
            let signed = [reply.auth_data.as_slice(), &assertion.client_data_hash].concat();
            prop_assert!(attested.public_key.verify(&signed, &reply.signature));
        }
    }

    /// Arbitrary parameters to every command: an answer with a status, never a panic,
    /// and never SUCCESS for bytes that are not even CBOR.
    #[test]
    fn malformed_requests_get_an_error(
        command in prop::sample::select(vec![0x01u8, 0x02, 0x04, 0x06, 0x07, 0x08, 0x0A, 0x0B, 0x0C, 0x0D, 0x41]),
        params in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut host = Host::new(config().with_touch(TouchPolicy::IMMEDIATE));
        let reply = host.ctap(command, &params);
        if Value::from_slice(&params).is_err() && !params.is_empty() && ![0x04, 0x07, 0x08, 0x0B].contains(&command) {
            prop_assert_ne!(reply.status, StatusCode::SUCCESS);
        }
        // The device still answers.
        prop_assert_eq!(host.ctap(0x04, &[]).status, StatusCode::SUCCESS);
    }

    /// State bytes from a file are input: arbitrary bytes, and arbitrary bodies behind
    /// a valid header and checksum, are refused or loaded, never a panic; after a
    /// refusal the authenticator still works.
    #[test]
    fn arbitrary_state_files_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        raw in proptest::collection::vec(any::<u8>(), 0..100),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut device = Authenticator::new(config());
        prop_assert!(device.load_state(&raw).is_err());
        let frame = |body: &[u8]| [b"ctap-virtual state v1\n".as_slice(), &sha256(body), body].concat();
        let _ = device.load_state(&frame(&body));
        // A real state (with a PIN and a credential) with one byte changed and the
        // checksum fixed up: reaches the CBOR and field checks.
        let mut host = Host::new(config());
        register(&mut host, &resident(make_request("example.com", 1, Algorithm::ES256)));
        host.device.set_pin("1234").unwrap();
        let mut real = host.device.state_bytes()[54..].to_vec();
        let at = flip.index(real.len());
        real[at] = byte;
        let _ = device.load_state(&frame(&real));
        let valid = Authenticator::new(config()).state_bytes();
        prop_assert!(device.load_state(&valid).is_ok());
    }
}

/// Hosts read responses in the relaxed mode (keys in any order, long forms), but the
/// authenticator keeps CTAP 2.1 §8's rule for requests: only canonical CBOR.
#[test]
fn requests_must_be_canonical_even_though_hosts_read_relaxed() {
    let mut host = Host::new(config());
    assert!(host.device.set_pin("1234").is_ok());
    // clientPIN getRetries {1: 1, 2: 1}: canonical, answered.
    assert_eq!(
        host.ctap(0x06, &[0xA2, 0x01, 0x01, 0x02, 0x01]).status,
        StatusCode::SUCCESS
    );
    for (params, why) in [
        (&[0xA2, 0x02, 0x01, 0x01, 0x01][..], "keys out of order"),
        (
            &[0xA2, 0x01, 0x18, 0x01, 0x02, 0x01][..],
            "value in a long form",
        ),
        (
            &[0xA2, 0x18, 0x01, 0x01, 0x02, 0x01][..],
            "key in a long form",
        ),
    ] {
        assert_eq!(
            host.ctap(0x06, params).status,
            StatusCode::INVALID_CBOR,
            "{why}"
        );
    }
    // makeCredential with its first key (clientDataHash) in a long form.
    let canonical = make_request("example.com", 1, Algorithm::ES256).to_cbor();
    assert_eq!(canonical[1], 0x01, "key 1 follows the map head");
    let long_key = [&canonical[..1], &[0x18, 0x01], &canonical[2..]].concat();
    assert_eq!(host.ctap(0x01, &long_key).status, StatusCode::INVALID_CBOR);
    assert_eq!(host.ctap(0x01, &canonical).status, StatusCode::SUCCESS);
}

// ---- Issue 22: the rules a real CTAP 2.1 key keeps ----

/// A getAssertion for `rp` signed with `token` (protocol two), `up` as given.
fn signed_assertion(rp: &str, allow: Option<&[u8]>, token: &[u8], up: bool) -> GetAssertionRequest {
    let mut request = assertion_request(rp, allow);
    request.options = Some(Options {
        up: Some(up),
        ..Options::default()
    });
    request.pin_uv_auth_param =
        Some(PinProtocol::Two.authenticate(token, &request.client_data_hash));
    request.pin_uv_auth_protocol = Some(2);
    request
}

fn signed_make(mut request: MakeCredentialRequest, token: &[u8]) -> MakeCredentialRequest {
    request.pin_uv_auth_param =
        Some(PinProtocol::Two.authenticate(token, &request.client_data_hash));
    request.pin_uv_auth_protocol = Some(2);
    request
}

/// CTAP 2.1 §6.1.2 step 14.4 and §6.2.2 step 9: once makeCredential or getAssertion
/// has collected user presence, the token's userVerified flag and every permission but
/// lbw are cleared: one token, one such operation. A silent assertion (up=false)
/// collects none and spends nothing.
#[test]
fn a_token_authorizes_one_operation_that_collects_user_presence() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let all = Permissions(
        Permissions::MAKE_CREDENTIAL.0
            | Permissions::GET_ASSERTION.0
            | Permissions::CREDENTIAL_MANAGEMENT.0,
    );
    let token = host
        .token(PinProtocol::Two, "1234", Some(all), Some("example.com"))
        .unwrap();
    let first = signed_make(
        resident(make_request("example.com", 1, Algorithm::ES256)),
        &token,
    );
    let response: MakeCredentialResponse = host.make_credential(&first).ok();
    assert!(response.auth_data().unwrap().flags.contains(Flags::UV));
    let id = response
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;
    // The same token again: spent (§6.1.2 step 14.4).
    let second = signed_make(
        resident(make_request("example.com", 2, Algorithm::ES256)),
        &token,
    );
    assert_eq!(
        host.make_credential(&second).status,
        StatusCode::PIN_AUTH_INVALID
    );
    assert_eq!(
        host.get_assertion(&signed_assertion("example.com", None, &token, false))
            .status,
        StatusCode::PIN_AUTH_INVALID,
        "ga went with it"
    );
    let mut metadata = CredentialManagementRequest {
        sub_command: CredMgmtSubCommand::GET_CREDS_METADATA,
        sub_command_params: None,
        pin_uv_auth_protocol: Some(2),
        pin_uv_auth_param: None,
    };
    metadata.pin_uv_auth_param =
        Some(PinProtocol::Two.authenticate(&token, &metadata.auth_message()));
    assert_eq!(
        host.call(0x0A, &metadata).status,
        StatusCode::PIN_AUTH_INVALID,
        "cm too"
    );
    // A fresh token: silent assertions do not spend it; one with up does.
    let token = host
        .token(
            PinProtocol::Two,
            "1234",
            Some(Permissions::GET_ASSERTION),
            Some("example.com"),
        )
        .unwrap();
    for _ in 0..2 {
        let reply = host.get_assertion(&signed_assertion("example.com", Some(&id), &token, false));
        let response: GetAssertionResponse = reply.ok();
        let flags = response.auth_data().unwrap().flags;
        assert!(flags.contains(Flags::UV) && !flags.contains(Flags::UP));
    }
    let response: GetAssertionResponse = host
        .get_assertion(&signed_assertion("example.com", Some(&id), &token, true))
        .ok();
    let flags = response.auth_data().unwrap().flags;
    assert!(flags.contains(Flags::UV) && flags.contains(Flags::UP));
    assert_eq!(
        host.get_assertion(&signed_assertion("example.com", Some(&id), &token, true))
            .status,
        StatusCode::PIN_AUTH_INVALID,
        "§6.2.2 step 9"
    );
    // A touch the user refuses collects no presence: the token survives it.
    let token = host
        .token(
            PinProtocol::Two,
            "1234",
            Some(Permissions::GET_ASSERTION),
            Some("example.com"),
        )
        .unwrap();
    host.device.set_touch_policy(TouchPolicy::Deny {
        after: Duration::ZERO,
    });
    assert_eq!(
        host.get_assertion(&signed_assertion("example.com", Some(&id), &token, true))
            .status,
        StatusCode::OPERATION_DENIED
    );
    host.device.set_touch_policy(TouchPolicy::Approve {
        after: Duration::ZERO,
    });
    assert_eq!(
        host.get_assertion(&signed_assertion("example.com", Some(&id), &token, true))
            .status,
        StatusCode::SUCCESS
    );
}

/// CTAP 2.1 §6.5.2.1: a token not used within the initial usage time limit (30 s on
/// USB) stops being in use; a used one lasts the max usage time period (10 min).
#[test]
fn token_usage_timer_follows_the_initial_and_max_usage_limits() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let id = register(&mut host, &make_request("example.com", 1, Algorithm::ES256)).0;
    let ga = Some(Permissions::GET_ASSERTION);
    let token = host.token(PinProtocol::Two, "1234", ga, None).unwrap();
    host.advance(Duration::from_secs(30));
    assert_eq!(
        host.get_assertion(&signed_assertion("example.com", Some(&id), &token, false))
            .status,
        StatusCode::PIN_AUTH_INVALID,
        "unused for the initial usage time limit"
    );
    let token = host.token(PinProtocol::Two, "1234", ga, None).unwrap();
    host.advance(Duration::from_secs(29));
    let silent = signed_assertion("example.com", Some(&id), &token, false);
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);
    host.advance(Duration::from_secs(570));
    assert_eq!(
        host.get_assertion(&silent).status,
        StatusCode::SUCCESS,
        "599 s, used"
    );
    host.advance(Duration::from_secs(1));
    assert_eq!(
        host.get_assertion(&silent).status,
        StatusCode::PIN_AUTH_INVALID,
        "the max usage time period"
    );
}

/// CTAP 2.1 §6.1.2 step 5 and §6.2.2 step 4: with a pinUvAuthParam the "uv" option is
/// treated as false (CTAP 2.0 platforms send both), not refused.
#[test]
fn uv_true_with_a_pin_uv_auth_param_is_treated_as_false() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let uv = Some(Options {
        uv: Some(true),
        ..Options::default()
    });
    let token = host.token(PinProtocol::Two, "1234", None, None).unwrap();
    let mut request = make_request("example.com", 1, Algorithm::ES256);
    request.options = uv;
    let (id, _) = register(&mut host, &signed_make(request.clone(), &token));
    let token = host.token(PinProtocol::Two, "1234", None, None).unwrap();
    let mut assertion = signed_assertion("example.com", Some(&id), &token, true);
    assertion.options = uv;
    let response: GetAssertionResponse = host.get_assertion(&assertion).ok();
    assert!(response.auth_data().unwrap().flags.contains(Flags::UV));
    // Without a pinUvAuthParam uv still needs built-in UV, which this has not.
    assert_eq!(
        host.make_credential(&request_without_auth(request)).status,
        StatusCode::INVALID_OPTION
    );
}

fn request_without_auth(mut request: MakeCredentialRequest) -> MakeCredentialRequest {
    request.pin_uv_auth_param = None;
    request.pin_uv_auth_protocol = None;
    request
}

/// CTAP 2.1 §6.8.2-§6.8.6: a cm token with a permissions RP ID reaches only that RP.
#[test]
fn an_rp_scoped_credential_management_token_reaches_only_its_rp() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::One, "1234"), StatusCode::SUCCESS);
    let mut ids = Vec::new();
    for (rp, n) in [("a.example", 1), ("b.example", 2)] {
        let token = host.token(PinProtocol::One, "1234", None, None).unwrap();
        let mut request = resident(make_request(rp, n, Algorithm::ES256));
        request.pin_uv_auth_param =
            Some(PinProtocol::One.authenticate(&token, &request.client_data_hash));
        request.pin_uv_auth_protocol = Some(1);
        ids.push(register(&mut host, &request).0);
    }
    let cm = Some(Permissions::CREDENTIAL_MANAGEMENT);
    let scoped = host
        .token(PinProtocol::One, "1234", cm, Some("a.example"))
        .unwrap();
    for sub in [
        CredMgmtSubCommand::GET_CREDS_METADATA,
        CredMgmtSubCommand::ENUMERATE_RPS_BEGIN,
    ] {
        assert_eq!(
            cred_mgmt(&mut host, &scoped, sub, None).status,
            StatusCode::PIN_AUTH_INVALID,
            "§6.8.2/§6.8.3: no permissions RP ID allowed ({sub:?})"
        );
    }
    let by_rp = |rp: &str| CredentialManagementParams {
        rp_id_hash: Some(sha256(rp.as_bytes()).to_vec()),
        ..Default::default()
    };
    let own: CredentialManagementResponse = cred_mgmt(
        &mut host,
        &scoped,
        CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
        Some(by_rp("a.example")),
    )
    .ok();
    assert_eq!(own.credential_id.unwrap().id, ids[0]);
    assert_eq!(
        cred_mgmt(
            &mut host,
            &scoped,
            CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
            Some(by_rp("b.example"))
        )
        .status,
        StatusCode::PIN_AUTH_INVALID,
        "§6.8.4"
    );
    let of = |id: &[u8]| CredentialManagementParams {
        credential_id: Some(CredentialDescriptor::public_key(id)),
        ..Default::default()
    };
    let update = |id: &[u8], n: u8| CredentialManagementParams {
        user: Some(user(n)),
        ..of(id)
    };
    assert_eq!(
        cred_mgmt(
            &mut host,
            &scoped,
            CredMgmtSubCommand::UPDATE_USER_INFORMATION,
            Some(update(&ids[1], 2))
        )
        .status,
        StatusCode::PIN_AUTH_INVALID,
        "§6.8.6"
    );
    assert_eq!(
        cred_mgmt(
            &mut host,
            &scoped,
            CredMgmtSubCommand::DELETE_CREDENTIAL,
            Some(of(&ids[1]))
        )
        .status,
        StatusCode::PIN_AUTH_INVALID,
        "§6.8.5"
    );
    assert_eq!(
        host.device.discoverable_credentials(),
        2,
        "b.example's is still there"
    );
    assert_eq!(
        cred_mgmt(
            &mut host,
            &scoped,
            CredMgmtSubCommand::UPDATE_USER_INFORMATION,
            Some(update(&ids[0], 1))
        )
        .status,
        StatusCode::SUCCESS
    );
    assert_eq!(
        cred_mgmt(
            &mut host,
            &scoped,
            CredMgmtSubCommand::DELETE_CREDENTIAL,
            Some(of(&ids[0]))
        )
        .status,
        StatusCode::SUCCESS
    );
    // A token without an rpId gets one from its first mc/ga (§6.2.2 step 6.1), and
    // then it is RP-scoped for credential management too.
    let both = Some(Permissions(
        Permissions::CREDENTIAL_MANAGEMENT.0 | Permissions::GET_ASSERTION.0,
    ));
    let token = host.token(PinProtocol::One, "1234", both, None).unwrap();
    assert_eq!(
        cred_mgmt(
            &mut host,
            &token,
            CredMgmtSubCommand::GET_CREDS_METADATA,
            None
        )
        .status,
        StatusCode::SUCCESS
    );
    let mut silent = assertion_request("b.example", Some(&ids[1]));
    silent.options = Some(Options {
        up: Some(false),
        ..Options::default()
    });
    silent.pin_uv_auth_param =
        Some(PinProtocol::One.authenticate(&token, &silent.client_data_hash));
    silent.pin_uv_auth_protocol = Some(1);
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);
    assert_eq!(
        cred_mgmt(
            &mut host,
            &token,
            CredMgmtSubCommand::GET_CREDS_METADATA,
            None
        )
        .status,
        StatusCode::PIN_AUTH_INVALID
    );
}

/// CTAP 2.1 §7.2 alwaysUv: CTAP1/U2F off (no U2F_V2 in getInfo; VERSION, REGISTER and
/// AUTHENTICATE refused with 6986); silent assertions still work without a token; otherwise PUAT_REQUIRED,
/// with or without a PIN (§6.1.2 step 6, §6.2.2 step 5).
#[test]
fn always_uv_disables_u2f_and_keeps_silent_assertions() {
    let mut host = Host::new(config());
    let id = register(&mut host, &make_request("example.com", 1, Algorithm::ES256)).0;
    let toggle = ConfigRequest {
        sub_command: ConfigSubCommand::TOGGLE_ALWAYS_UV,
        sub_command_params: None,
        pin_uv_auth_protocol: None,
        pin_uv_auth_param: None,
    };
    assert_eq!(host.call(0x0D, &toggle).status, StatusCode::SUCCESS);
    assert_eq!(host.info().versions, ["FIDO_2_0", "FIDO_2_1"]);
    let app = sha256(b"example.com");
    let apdu = |ins: u8, p1: u8, data: &[u8]| {
        let len = u16::try_from(data.len()).unwrap().to_be_bytes();
        [&[0, ins, p1, 0, 0, len[0], len[1]][..], data, &[0, 0]].concat()
    };
    let cid = host.cid;
    let mut msg = |apdu: Vec<u8>| {
        host.send(cid, Command::MSG, &apdu);
        host.messages().pop().unwrap().1
    };
    assert_eq!(
        msg(apdu(1, 0, &[[7; 32], app].concat())),
        [0x69, 0x86],
        "REGISTER"
    );
    let auth = [&[7; 32][..], &app, &[51], &id].concat();
    assert_eq!(msg(apdu(2, 0x03, &auth)), [0x69, 0x86], "AUTHENTICATE");
    // §7.2: CTAP1/U2F disabled is VERSION too: no U2F_V2 there while getInfo leaves
    // it out (SW_COMMAND_NOT_ALLOWED, as OpenSK answers every CTAP1 command then).
    assert_eq!(msg(apdu(3, 0, &[])), [0x69, 0x86], "VERSION");
    let mut silent = assertion_request("example.com", Some(&id));
    silent.options = Some(Options {
        up: Some(false),
        ..Options::default()
    });
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);
    assert_eq!(
        host.get_assertion(&assertion_request("example.com", Some(&id)))
            .status,
        StatusCode::PUAT_REQUIRED
    );
    assert!(host.device.set_pin("1234").is_ok());
    assert_eq!(
        host.get_assertion(&assertion_request("example.com", Some(&id)))
            .status,
        StatusCode::PUAT_REQUIRED
    );
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);
    // Off again: U2F is back.
    let token = host
        .token(
            PinProtocol::Two,
            "1234",
            Some(Permissions::AUTHENTICATOR_CONFIG),
            None,
        )
        .unwrap();
    let mut signed = toggle.clone();
    signed.pin_uv_auth_protocol = Some(2);
    signed.pin_uv_auth_param = Some(PinProtocol::Two.authenticate(&token, &toggle.auth_message()));
    assert_eq!(host.call(0x0D, &signed).status, StatusCode::SUCCESS);
    assert_eq!(host.info().versions, ["U2F_V2", "FIDO_2_0", "FIDO_2_1"]);
    host.send(cid, Command::MSG, &apdu(3, 0, &[]));
    assert_eq!(
        host.messages().pop().unwrap().1,
        b"U2F_V2\x90\x00",
        "VERSION"
    );
    host.send(cid, Command::MSG, &apdu(2, 0x03, &auth));
    let signed = host.messages().pop().unwrap().1;
    assert_eq!(&signed[signed.len() - 2..], [0x90, 0x00]);
}

/// CTAP 2.1 §6.5.5.6: under forcePINChange the new PIN must differ from the old.
#[test]
fn change_pin_under_force_pin_change_refuses_the_same_pin() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let token = host
        .token(
            PinProtocol::Two,
            "1234",
            Some(Permissions::AUTHENTICATOR_CONFIG),
            None,
        )
        .unwrap();
    let mut force = ConfigRequest {
        sub_command: ConfigSubCommand::SET_MIN_PIN_LENGTH,
        sub_command_params: Some(
            SetMinPinLengthParams {
                force_change_pin: Some(true),
                ..Default::default()
            }
            .to_value(),
        ),
        pin_uv_auth_protocol: Some(2),
        pin_uv_auth_param: None,
    };
    force.pin_uv_auth_param = Some(PinProtocol::Two.authenticate(&token, &force.auth_message()));
    assert_eq!(host.call(0x0D, &force).status, StatusCode::SUCCESS);
    assert_eq!(host.info().force_pin_change, Some(true));
    assert_eq!(
        host.change_pin(PinProtocol::Two, "1234", "1234"),
        StatusCode::PIN_POLICY_VIOLATION
    );
    assert_eq!(host.info().force_pin_change, Some(true));
    assert_eq!(
        host.change_pin(PinProtocol::Two, "1234", "4321"),
        StatusCode::SUCCESS
    );
    assert_eq!(host.info().force_pin_change, Some(false));
    // Without forcePINChange the same PIN again is allowed.
    assert_eq!(
        host.change_pin(PinProtocol::Two, "4321", "4321"),
        StatusCode::SUCCESS
    );
}

/// Issue 22 / CTAP 2.1 §6.5.5.7.1: a pinHashEnc that does not decrypt costs a retry
/// and counts toward the three per power cycle like a wrong PIN ("if an error results,
/// or a mismatch is detected"), so retries cannot be drained within one power cycle.
#[test]
fn a_pin_hash_enc_of_a_wrong_length_counts_toward_the_per_boot_limit() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (key, _) = host.shared_secret(PinProtocol::Two);
        let mut request = ClientPinRequest::new(PinSubCommand::GET_PIN_TOKEN, Some(2));
        request.key_agreement = Some(key);
        request.pin_hash_enc = Some(vec![0; 5]);
        statuses.push(host.client_pin(&request).status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::PIN_INVALID,
            StatusCode::PIN_INVALID,
            StatusCode::PIN_AUTH_BLOCKED,
            StatusCode::PIN_AUTH_BLOCKED,
            StatusCode::PIN_AUTH_BLOCKED,
            StatusCode::PIN_AUTH_BLOCKED,
        ]
    );
    assert_eq!(host.retries(), (5, true), "three retries spent, no more");
}

/// Issue 22: the retry counter is saved before the PIN is checked; when it cannot be,
/// the check fails closed and costs nothing.
#[test]
fn a_pin_check_whose_retry_cannot_be_saved_fails_closed() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let broken = Arc::new(AtomicBool::new(true));
    let disk = broken.clone();
    host.device.save_state_with(move |_| {
        if disk.load(Ordering::SeqCst) {
            Err(std::io::Error::other("disk full"))
        } else {
            Ok(())
        }
    });
    for pin in ["0000", "0000", "0000", "0000", "1234"] {
        assert_eq!(
            host.token(PinProtocol::Two, pin, None, None),
            Err(StatusCode::OTHER)
        );
    }
    assert_eq!(host.retries(), (8, false), "nothing counted in memory only");
    broken.store(false, Ordering::SeqCst);
    assert!(host.token(PinProtocol::Two, "1234", None, None).is_ok());
}

/// Issue 22: getNextAssertion and the enumerations belong to the channel that began
/// them; another channel gets NOT_ALLOWED and cannot end them.
#[test]
fn continuations_belong_to_their_channel() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::One, "1234"), StatusCode::SUCCESS);
    for (rp, n) in [("a.example", 1), ("a.example", 2), ("b.example", 3)] {
        let token = host.token(PinProtocol::One, "1234", None, None).unwrap();
        let mut request = resident(make_request(rp, n, Algorithm::ES256));
        request.pin_uv_auth_param =
            Some(PinProtocol::One.authenticate(&token, &request.client_data_hash));
        request.pin_uv_auth_protocol = Some(1);
        register(&mut host, &request);
    }
    let owner = host.cid;
    let other = host.open();
    let first: GetAssertionResponse = host
        .get_assertion(&assertion_request("a.example", None))
        .ok();
    assert_eq!(first.number_of_credentials, Some(2));
    host.cid = other;
    assert_eq!(host.ctap(0x08, &[]).status, StatusCode::NOT_ALLOWED);
    assert_eq!(
        host.ctap(0x04, &[]).status,
        StatusCode::SUCCESS,
        "getInfo between"
    );
    // The other channel's own getAssertion does not replace the first one's either.
    let theirs: GetAssertionResponse = host
        .get_assertion(&assertion_request("a.example", None))
        .ok();
    assert_eq!(theirs.number_of_credentials, Some(2));
    host.cid = owner;
    let next: GetAssertionResponse = host.ctap(0x08, &[]).ok();
    assert_ne!(next.credential, first.credential);
    assert_eq!(
        host.ctap(0x08, &[]).status,
        StatusCode::NOT_ALLOWED,
        "only two"
    );
    host.cid = other;
    let their_next: GetAssertionResponse = host.ctap(0x08, &[]).ok();
    assert_ne!(their_next.credential, theirs.credential);
    host.cid = owner;
    // The same for an enumeration.
    let cm = host
        .token(
            PinProtocol::One,
            "1234",
            Some(Permissions::CREDENTIAL_MANAGEMENT),
            None,
        )
        .unwrap();
    let rps: CredentialManagementResponse = cred_mgmt(
        &mut host,
        &cm,
        CredMgmtSubCommand::ENUMERATE_RPS_BEGIN,
        None,
    )
    .ok();
    assert_eq!(rps.total_rps, Some(2));
    let next_rp = CredentialManagementRequest {
        sub_command: CredMgmtSubCommand::ENUMERATE_RPS_GET_NEXT_RP,
        sub_command_params: None,
        pin_uv_auth_protocol: None,
        pin_uv_auth_param: None,
    };
    host.cid = other;
    assert_eq!(host.call(0x0A, &next_rp).status, StatusCode::NOT_ALLOWED);
    assert_eq!(host.ctap(0x04, &[]).status, StatusCode::SUCCESS);
    host.cid = owner;
    let second: CredentialManagementResponse = host.call(0x0A, &next_rp).ok();
    assert_ne!(second.rp, rps.rp);
}

/// Issue 22: stored entity fields stay within the limits (user.id at most 64 bytes,
/// WebAuthn §5.4.3; names truncated to 64 bytes on a code point boundary, CTAP 2.1
/// §6.1.2), so one registration cannot make the RP's listing too long to send.
#[test]
fn stored_entity_fields_stay_within_their_limits() {
    let mut host = Host::new(config());
    let mut huge = resident(make_request("example.com", 1, Algorithm::ES256));
    huge.user.id = vec![7; 7400];
    assert_eq!(
        host.make_credential(&huge).status,
        StatusCode::INVALID_LENGTH
    );
    huge.user.id = vec![7; 65];
    assert_eq!(
        host.make_credential(&huge).status,
        StatusCode::INVALID_LENGTH
    );
    let long_rp = resident(make_request(&"a".repeat(254), 1, Algorithm::ES256));
    assert_eq!(
        host.make_credential(&long_rp).status,
        StatusCode::INVALID_LENGTH
    );
    assert_eq!(host.device.discoverable_credentials(), 0);
    // 64 bytes of id are fine; names are cut to 64 bytes without splitting a "€".
    let mut long = resident(make_request("example.com", 1, Algorithm::ES256));
    long.user.id = vec![7; 64];
    long.user.name = Some(format!("ab{}", "€".repeat(30)));
    long.user.display_name = Some("x".repeat(1000));
    long.rp.name = Some("é".repeat(100));
    register(&mut host, &long);
    assert!(host.device.set_pin("1234").is_ok());
    let cm = host
        .token(
            PinProtocol::One,
            "1234",
            Some(Permissions::CREDENTIAL_MANAGEMENT),
            None,
        )
        .unwrap();
    let rps: CredentialManagementResponse = cred_mgmt(
        &mut host,
        &cm,
        CredMgmtSubCommand::ENUMERATE_RPS_BEGIN,
        None,
    )
    .ok();
    assert_eq!(rps.rp.unwrap().name, Some("é".repeat(32)));
    let by_rp = CredentialManagementParams {
        rp_id_hash: Some(sha256(b"example.com").to_vec()),
        ..Default::default()
    };
    let listed: CredentialManagementResponse = cred_mgmt(
        &mut host,
        &cm,
        CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
        Some(by_rp),
    )
    .ok();
    let stored = listed.user.unwrap();
    assert_eq!(stored.id, vec![7; 64]);
    assert_eq!(
        stored.name,
        Some(format!("ab{}", "€".repeat(20))),
        "62 bytes"
    );
    assert_eq!(stored.display_name, Some("x".repeat(64)));
    // updateUserInformation keeps the same limits.
    let update = CredentialManagementParams {
        credential_id: listed.credential_id.clone(),
        user: Some(UserEntity {
            id: vec![7; 64],
            name: Some("y".repeat(500)),
            display_name: None,
            icon: None,
        }),
        ..Default::default()
    };
    assert_eq!(
        cred_mgmt(
            &mut host,
            &cm,
            CredMgmtSubCommand::UPDATE_USER_INFORMATION,
            Some(update)
        )
        .status,
        StatusCode::SUCCESS
    );
    let by_rp = CredentialManagementParams {
        rp_id_hash: Some(sha256(b"example.com").to_vec()),
        ..Default::default()
    };
    let listed: CredentialManagementResponse = cred_mgmt(
        &mut host,
        &cm,
        CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
        Some(by_rp),
    )
    .ok();
    assert_eq!(listed.user.unwrap().name, Some("y".repeat(64)));
}

/// Issue 22: CTAP 2.0 entities carry `icon`. It is type-checked (a text string, else
/// CBOR_UNEXPECTED_TYPE, CTAP 2.1 §8), stored with a discoverable credential and
/// returned as given: by credential management, and by getAssertion with UV (user
/// identifiable information, §6.2.2 step 12). Icons over 256 bytes are not stored.
#[test]
fn entity_icons_are_type_checked_stored_and_returned_as_given() {
    let mut host = Host::new(config());
    let mut request = resident(make_request("example.com", 1, Algorithm::ES256));
    request.rp.icon = Some("https://example.com/rp.png".into());
    request.user.icon = Some("https://example.com/user1.png".into());
    // The wrong type: an integer icon.
    let mut value = request.to_value();
    if let Value::Map(entries) = &mut value {
        for (key, member) in entries.iter_mut() {
            if *key == Value::Int(3) {
                if let Value::Map(user) = member {
                    for (field, icon) in user.iter_mut() {
                        if *field == Value::text("icon") {
                            *icon = Value::Int(7);
                        }
                    }
                }
            }
        }
    }
    assert_eq!(
        host.ctap(0x01, &value.to_vec()).status,
        StatusCode::CBOR_UNEXPECTED_TYPE
    );
    let (id, _) = register(&mut host, &request);
    let mut long = resident(make_request("example.com", 2, Algorithm::ES256));
    long.user.icon = Some(format!("data:image/png;base64,{}", "A".repeat(300)));
    register(&mut host, &long);
    // Without UV getAssertion gives the user id only.
    let plain: GetAssertionResponse = host
        .get_assertion(&assertion_request("example.com", Some(&id)))
        .ok();
    assert_eq!(plain.user.unwrap().icon, None);
    assert!(host.device.set_pin("1234").is_ok());
    let token = host
        .token(
            PinProtocol::Two,
            "1234",
            Some(Permissions::GET_ASSERTION),
            None,
        )
        .unwrap();
    let verified: GetAssertionResponse = host
        .get_assertion(&signed_assertion("example.com", Some(&id), &token, true))
        .ok();
    assert_eq!(verified.user.unwrap().icon, request.user.icon);
    let cm = host
        .token(
            PinProtocol::One,
            "1234",
            Some(Permissions::CREDENTIAL_MANAGEMENT),
            None,
        )
        .unwrap();
    let rps: CredentialManagementResponse = cred_mgmt(
        &mut host,
        &cm,
        CredMgmtSubCommand::ENUMERATE_RPS_BEGIN,
        None,
    )
    .ok();
    assert_eq!(rps.rp.unwrap().icon, request.rp.icon);
    let by_rp = CredentialManagementParams {
        rp_id_hash: Some(sha256(b"example.com").to_vec()),
        ..Default::default()
    };
    let first: CredentialManagementResponse = cred_mgmt(
        &mut host,
        &cm,
        CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
        Some(by_rp),
    )
    .ok();
    let next_cred = CredentialManagementRequest {
        sub_command: CredMgmtSubCommand::ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL,
        sub_command_params: None,
        pin_uv_auth_protocol: None,
        pin_uv_auth_param: None,
    };
    let second: CredentialManagementResponse = host.call(0x0A, &next_cred).ok();
    let mut icons = [first.user.unwrap(), second.user.unwrap()].map(|user| (user.id[0], user.icon));
    icons.sort();
    assert_eq!(icons, [(1, request.user.icon.clone()), (2, None)]);
}

/// CTAP 2.1 §6.5.5.5 to §6.5.5.7.2, step by step where this authenticator used to
/// differ: step 1 (a missing mandatory parameter is MISSING_PARAMETER even when the
/// protocol is also unsupported, step 2), setPIN step 3 (a PIN already set:
/// PIN_AUTH_INVALID, not NOT_ALLOWED), setPIN step 6 / changePIN step 9 (a newPinEnc
/// that does not decrypt: PIN_AUTH_INVALID), §6.5.5.7.2 step 4 (undefined permissions
/// ignored, not refused; pcmr with another permission refused before the PIN is
/// checked, so it costs no retry).
#[test]
fn client_pin_steps_one_to_four_as_the_spec_orders_them() {
    let mut host = Host::new(config());
    let protocol = PinProtocol::Two;
    // Step 1 before step 2: setPIN without newPinEnc and with protocol 3.
    let (key, _) = host.shared_secret(protocol);
    let mut request = ClientPinRequest::new(PinSubCommand::SET_PIN, Some(3));
    request.key_agreement = Some(key.clone());
    request.pin_uv_auth_param = Some(vec![0; 16]);
    assert_eq!(
        host.client_pin(&request).status,
        StatusCode::MISSING_PARAMETER
    );
    request.new_pin_enc = Some(vec![0; 64]);
    assert_eq!(
        host.client_pin(&request).status,
        StatusCode::INVALID_PARAMETER,
        "step 2"
    );
    // setPIN step 6: newPinEnc authenticated but not whole AES blocks.
    let (key, shared) = host.shared_secret(protocol);
    let new_pin_enc = vec![7; 65];
    let mut request = ClientPinRequest::new(PinSubCommand::SET_PIN, Some(2));
    request.key_agreement = Some(key);
    request.pin_uv_auth_param = Some(shared.authenticate(&new_pin_enc));
    request.new_pin_enc = Some(new_pin_enc);
    assert_eq!(
        host.client_pin(&request).status,
        StatusCode::PIN_AUTH_INVALID
    );
    assert_eq!(host.set_pin(protocol, "1234"), StatusCode::SUCCESS);
    // setPIN step 3.
    assert_eq!(host.set_pin(protocol, "5678"), StatusCode::PIN_AUTH_INVALID);
    // changePIN step 9: the right PIN, a newPinEnc that does not decrypt.
    let (key, shared) = host.shared_secret(protocol);
    let new_pin_enc = vec![7; 65];
    let pin_hash_enc = shared.encrypt(&pin_hash("1234"), &mut host.rng).unwrap();
    let mut request = ClientPinRequest::new(PinSubCommand::CHANGE_PIN, Some(2));
    request.key_agreement = Some(key);
    request.pin_uv_auth_param =
        Some(shared.authenticate(&[new_pin_enc.as_slice(), &pin_hash_enc].concat()));
    request.new_pin_enc = Some(new_pin_enc);
    request.pin_hash_enc = Some(pin_hash_enc);
    assert_eq!(
        host.client_pin(&request).status,
        StatusCode::PIN_AUTH_INVALID
    );
    assert_eq!(host.retries(), (8, false), "the PIN itself was right");
    // §6.5.5.7.2 step 4: an undefined permission (0x80) is ignored: the token gets
    // ga only, and works for it.
    let id = register(&mut host, &make_request("example.com", 1, Algorithm::ES256)).0;
    let token = host
        .token(protocol, "1234", Some(Permissions(0x80 | 0x02)), None)
        .unwrap();
    assert_eq!(
        host.get_assertion(&signed_assertion("example.com", Some(&id), &token, false))
            .status,
        StatusCode::SUCCESS
    );
    // pcmr with cm: UNAUTHORIZED_PERMISSION at step 4, before step 8's decrement
    // (a wrong PIN is not even looked at).
    assert_eq!(
        host.token(
            protocol,
            "0000",
            Some(Permissions(
                Permissions::PCMR.0 | Permissions::CREDENTIAL_MANAGEMENT.0
            )),
            None
        ),
        Err(StatusCode::UNAUTHORIZED_PERMISSION)
    );
    assert_eq!(host.retries(), (8, false), "no retry spent");
}

/// CTAP 2.1 §6.1.2 step 12: an excludeList match waits for user presence and,
/// "Regardless of whether user presence is obtained or the authenticator times out",
/// answers CREDENTIAL_EXCLUDED: a refused or timed-out touch too.
#[test]
fn an_excluded_credential_is_reported_whatever_the_touch() {
    let mut host = Host::new(config());
    let id = register(&mut host, &make_request("example.com", 1, Algorithm::ES256)).0;
    let mut excluded = make_request("example.com", 2, Algorithm::ES256);
    excluded.exclude_list = Some(vec![CredentialDescriptor::public_key(&id)]);
    for touch in [
        TouchPolicy::Approve {
            after: Duration::from_millis(10),
        },
        TouchPolicy::Deny {
            after: Duration::from_millis(10),
        },
        TouchPolicy::Never,
    ] {
        host.device.set_touch_policy(touch);
        let reply = host.make_credential(&excluded);
        assert_eq!(reply.status, StatusCode::CREDENTIAL_EXCLUDED, "{touch:?}");
        assert!(reply.keepalives > 0, "it waited for the touch: {touch:?}");
    }
    // Other commands keep their own answers to a refused touch.
    host.device.set_touch_policy(TouchPolicy::Deny {
        after: Duration::from_millis(10),
    });
    assert_eq!(
        host.make_credential(&make_request("example.com", 3, Algorithm::ES256))
            .status,
        StatusCode::OPERATION_DENIED
    );
    assert_eq!(host.ctap(0x0B, &[]).status, StatusCode::OPERATION_DENIED);
}

/// CTAP 2.1 §6.6: authenticatorReset "Invalidates all generated credentials" and
/// "Erases all discoverable credentials": another channel's getNextAssertion and
/// credential enumeration, begun before the reset, cannot go on reading them after it.
#[test]
fn reset_ends_every_channels_continuations() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    for (rp, n) in [("example.com", 1), ("example.com", 2), ("other.example", 3)] {
        let token = host.token(PinProtocol::Two, "1234", None, None).unwrap();
        let request = signed_make(resident(make_request(rp, n, Algorithm::ES256)), &token);
        register(&mut host, &request);
    }
    let reader = host.cid;
    let first: GetAssertionResponse = host
        .get_assertion(&assertion_request("example.com", None))
        .ok();
    assert_eq!(first.number_of_credentials, Some(2));
    let cm = host
        .token(
            PinProtocol::Two,
            "1234",
            Some(Permissions::CREDENTIAL_MANAGEMENT),
            None,
        )
        .unwrap();
    let other = host.open();
    host.cid = other;
    let mut begin = CredentialManagementRequest {
        sub_command: CredMgmtSubCommand::ENUMERATE_RPS_BEGIN,
        sub_command_params: None,
        pin_uv_auth_protocol: Some(2),
        pin_uv_auth_param: None,
    };
    begin.pin_uv_auth_param = Some(PinProtocol::Two.authenticate(&cm, &begin.auth_message()));
    let rps: CredentialManagementResponse = host.call(0x0A, &begin).ok();
    assert_eq!(rps.total_rps, Some(2));
    // A third channel resets the key (within the window after power-up).
    host.cid = host.open();
    assert_eq!(host.ctap(0x07, &[]).status, StatusCode::SUCCESS);
    host.cid = reader;
    assert_eq!(host.ctap(0x08, &[]).status, StatusCode::NOT_ALLOWED);
    host.cid = other;
    let next_rp = CredentialManagementRequest {
        sub_command: CredMgmtSubCommand::ENUMERATE_RPS_GET_NEXT_RP,
        sub_command_params: None,
        pin_uv_auth_protocol: None,
        pin_uv_auth_param: None,
    };
    assert_eq!(host.call(0x0A, &next_rp).status, StatusCode::NOT_ALLOWED);
}
