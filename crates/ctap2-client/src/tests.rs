//! Unit tests against scripted device answers, and known-answer tests of the PIN/UV
//! auth protocols from the platform's side.

use std::collections::VecDeque;

use ctap_device::{CallOptions, CtapDevice};
use ctap_types::{Capabilities, Command, KeepaliveStatus, StatusCode};
use ctap2_proto::cbor::{CborMessage as _, MapBuilder, Value};
use ctap2_proto::{
    Algorithm, AttestedCredentialData, AuthenticatorData, ClientPinRequest, ClientPinResponse,
    CoseKey, CredentialManagementRequest, CredentialManagementResponse, Flags,
    GetAssertionResponse, Info, LargeBlobsRequest, LargeBlobsResponse, MakeCredentialResponse,
    Permissions, PinProtocol, PinSubCommand, RpEntity, UserEntity,
};
use p256::ecdsa::signature::Signer as _;
use sha2::{Digest as _, Sha256};

use crate::rng::tests::Fixed;
use crate::*;

mod hostile;
mod verification;

/// One scripted answer: keep-alive statuses to report first, then the answer.
struct Step {
    keepalives: Vec<KeepaliveStatus>,
    answer: Result<Vec<u8>, ctap_device::Error>,
}

/// A `CtapDevice` that answers from a script and records every request.
#[derive(Default)]
struct Scripted {
    steps: VecDeque<Step>,
    requests: Vec<Vec<u8>>,
    timeouts: Vec<Option<std::time::Duration>>,
    cancels: Vec<bool>,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripted").finish_non_exhaustive()
    }
}

impl Scripted {
    fn ok(mut self, body: &[u8]) -> Self {
        self.steps.push_back(Step {
            keepalives: Vec::new(),
            answer: Ok([&[0u8][..], body].concat()),
        });
        self
    }

    fn status(mut self, status: StatusCode) -> Self {
        self.steps.push_back(Step {
            keepalives: Vec::new(),
            answer: Ok(vec![status.to_u8()]),
        });
        self
    }

    fn message(self, message: &impl ctap2_proto::cbor::CborMessage) -> Self {
        self.ok(&message.to_cbor())
    }

    /// The command byte and CBOR parameters of request `n`.
    fn request(&self, n: usize) -> (u8, Value) {
        let request = &self.requests[n];
        let params = if request.len() > 1 {
            Value::from_slice(&request[1..]).unwrap()
        } else {
            Value::Null
        };
        (request[0], params)
    }
}

impl CtapDevice for Scripted {
    fn capabilities(&self) -> Capabilities {
        Capabilities::CBOR
    }

    fn call_with(
        &mut self,
        command: Command,
        data: &[u8],
        options: CallOptions<'_>,
    ) -> Result<Vec<u8>, ctap_device::Error> {
        assert_eq!(command, Command::CBOR);
        self.requests.push(data.to_vec());
        self.timeouts.push(options.timeout);
        self.cancels.push(options.cancel.is_some());
        let step = self.steps.pop_front().expect("a scripted answer is left");
        if let Some(callback) = options.on_keepalive {
            for status in step.keepalives {
                callback(status);
            }
        }
        step.answer
    }

    fn close(&mut self) {}
}

fn info(options: &[(&str, bool)], protocols: &[u64]) -> Info {
    Info {
        versions: vec!["FIDO_2_0".into(), "FIDO_2_1".into()],
        options: options.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        pin_uv_auth_protocols: protocols.to_vec(),
        max_msg_size: Some(1200),
        ..Info::default()
    }
}

/// A `Ctap2` whose device answers getInfo with `info`, then follows `device`'s script.
fn open(device: Scripted, info: &Info) -> Ctap2<Scripted> {
    let mut script = device;
    let mut opened = Scripted::default().message(info);
    opened.steps.append(&mut script.steps);
    Ctap2::new(opened).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn member(map: &Value, key: i128) -> Option<Value> {
    let Value::Map(entries) = map else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| *k == Value::Int(key))
        .map(|(_, v)| v.clone())
}

fn bytes_member(map: &Value, key: i128) -> Vec<u8> {
    match member(map, key) {
        Some(Value::Bytes(bytes)) => bytes,
        other => panic!("member {key} is not bytes: {other:?}"),
    }
}

#[test]
fn new_reads_info_and_commands_carry_the_default_timeout() {
    let mut ctap = open(Scripted::default().ok(&[]), &info(&[("rk", true)], &[]))
        .with_timeout(Some(std::time::Duration::from_secs(7)));
    assert_eq!(ctap.info().option("rk"), Some(true));
    ctap.selection(CallOptions::default()).unwrap();
    let device = ctap.device();
    assert_eq!(device.requests[0], [0x04]);
    assert_eq!(device.requests[1], [0x0B]);
    assert_eq!(device.timeouts[1], Some(std::time::Duration::from_secs(7)));
}

#[test]
fn a_deadline_cuts_every_call_to_the_time_left() {
    use std::time::{Duration, Instant};
    let start = Instant::now();
    let deadline = start + Duration::from_secs(10);
    let opened = Scripted::default()
        .message(&info(&[], &[]))
        .ok(&[])
        .ok(&[])
        .ok(&[]);
    let mut ctap = Ctap2::new_until(opened, Some(deadline))
        .unwrap()
        .with_timeout(Some(Duration::from_secs(60)));
    // A per-call time-out longer than the time left is cut; a shorter one is kept.
    ctap.selection(CallOptions::default()).unwrap();
    ctap.selection(CallOptions::default().with_timeout(Duration::from_secs(1)))
        .unwrap();
    // Past the deadline, a call gets no time at all.
    ctap = ctap.with_deadline(Some(start));
    ctap.selection(CallOptions::default()).unwrap();
    let timeouts = &ctap.device().timeouts;
    let left = |t: Option<Duration>| t.expect("a deadline was passed down");
    // The getInfo of opening and the first selection: at most the 10 s left, and
    // (however slow the machine) not the 60 s default.
    for call in [0, 1] {
        let t = left(timeouts[call]);
        assert!(
            t <= Duration::from_secs(10) && t > Duration::from_secs(5),
            "{t:?}"
        );
    }
    assert_eq!(timeouts[2], Some(Duration::from_secs(1)));
    assert_eq!(timeouts[3], Some(Duration::ZERO));
}

#[test]
fn a_status_is_a_ctap_error_with_python_text() {
    let mut ctap = open(
        Scripted::default().status(StatusCode::PIN_INVALID),
        &info(&[], &[]),
    );
    let error = ctap.reset(CallOptions::default()).unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::PIN_INVALID));
    assert_eq!(error.to_string(), "CTAP error: 0x31 - PIN_INVALID");
    assert!(!error.is_cancelled());
}

#[test]
fn cancel_and_keepalive_pass_through() {
    let mut device = Scripted::default();
    device.steps.push_back(Step {
        keepalives: vec![KeepaliveStatus::UPNEEDED],
        answer: Ok(vec![StatusCode::KEEPALIVE_CANCEL.to_u8()]),
    });
    let mut ctap = open(device, &info(&[], &[]));
    let mut seen = Vec::new();
    let mut on_keepalive = |status| seen.push(status);
    let token = ctap_device::CancelToken::new();
    let error = ctap
        .selection(
            CallOptions::default()
                .with_cancel(token)
                .with_on_keepalive(&mut on_keepalive),
        )
        .unwrap_err();
    assert!(error.is_cancelled());
    assert_eq!(seen, [KeepaliveStatus::UPNEEDED]);
    assert!(ctap.device().cancels[1]);
}

#[test]
fn empty_and_malformed_answers_are_invalid_responses() {
    let mut device = Scripted::default();
    device.steps.push_back(Step {
        keepalives: Vec::new(),
        answer: Ok(Vec::new()),
    });
    let mut ctap = open(device.ok(&[0xA1, 0x01]), &info(&[], &[]));
    assert!(matches!(
        ctap.get_info().unwrap_err(),
        Error::InvalidResponse { .. }
    ));
    assert!(matches!(
        ctap.get_info().unwrap_err(),
        Error::InvalidResponse { .. }
    ));
}

#[test]
fn no_cbor_capability_is_unsupported() {
    struct U2fOnly;
    impl CtapDevice for U2fOnly {
        fn capabilities(&self) -> Capabilities {
            Capabilities::WINK
        }
        fn call_with(
            &mut self,
            _: Command,
            _: &[u8],
            _: CallOptions<'_>,
        ) -> Result<Vec<u8>, ctap_device::Error> {
            unreachable!("nothing is sent to a device without CBOR")
        }
        fn close(&mut self) {}
    }
    assert!(matches!(
        Ctap2::new(U2fOnly).unwrap_err(),
        Error::Unsupported(_)
    ));
}

#[test]
fn protocol_is_chosen_from_info() {
    let two_one = info(&[("clientPin", false)], &[2, 1]);
    assert_eq!(preferred_protocol(&two_one), Some(PinProtocol::Two));
    let one_two = info(&[("clientPin", false)], &[1, 2]);
    assert_eq!(preferred_protocol(&one_two), Some(PinProtocol::Two));
    assert_eq!(
        preferred_protocol(&info(&[("clientPin", true)], &[1])),
        Some(PinProtocol::One)
    );
    // CTAP 2.0 authenticators that do not list protocols speak one.
    assert_eq!(
        preferred_protocol(&info(&[("clientPin", true)], &[])),
        Some(PinProtocol::One)
    );
    assert_eq!(preferred_protocol(&info(&[], &[])), None);
    assert_eq!(
        preferred_protocol(&info(&[("clientPin", true)], &[3])),
        None
    );
    let mut ctap = open(Scripted::default(), &info(&[], &[1]));
    assert!(matches!(
        ClientPin::new(&mut ctap).unwrap_err(),
        Error::Unsupported(_)
    ));
}

// python-fido2's test vectors (test/test_ctap2.py, TestClientPin): protocol one with
// the platform key EC_PRIV against the authenticator key DEV_PUB.
const EC_PRIV: &str = "7452E599FEE739D8A653F6A507343D12D382249108A651402520B72F24FE7684";
const EC_PUB_X: &str = "44D78D7989B97E62EA993496C9EF6E8FD58B8B00715F9A89153DDD9C4657E47F";
const EC_PUB_Y: &str = "EC802EE7D22BD4E100F12E48537EB4E7E96ED3A47A0A3BD5F5EEAB65001664F9";
const DEV_PUB_X: &str = "0501D5BC78DA9252560A26CB08FCC60CBE0B6D3B8E1D1FCEE514FAC0AF675168";
const DEV_PUB_Y: &str = "D551B3ED46F665731F95B4532939C25D91DB7EB844BD96D4ABD4083785F8DF47";
const SHARED: &str = "c42a039d548100dfba521e487debcbbb8b66bb7496f8b1862a7a395ed83e1a1c";
const TOKEN_ENC: &str = "7A9F98E31B77BE90F9C64D12E9635040";
const TOKEN: &str = "aff12c6dcfbf9df52f7a09211e8865cd";
const PIN_HASH_ENC: &str = "afe8327ce416da8ee3d057589c2ce1a9";
const SET_PIN_ENC: &str = "0222fc42c6dd76a274a7057858b9b29d98e8a722ec2dc6668476168c5320473cec9907b4cd76ce7943c96ba5683943211d84471e64d9c51e54763488cd66526a";
const SET_PIN_PARAM: &str = "7b40c084ccc5794194189ab57836475f";
const CHANGE_PIN_ENC: &str = "4280e14aac4fcbf02dd079985f0c0ffc9ea7d5f9c173fd1a4c843826f7590cb3c2d080c6923e2fe6d7a52c31ea1309d3fcca3dedae8a2ef14b6330cafc79339e";
const CHANGE_PIN_PARAM: &str = "fb97e92f3724d7c85e001d7f93e6490a";

fn device_key() -> ClientPinResponse {
    ClientPinResponse {
        key_agreement: Some(CoseKey::EcdhEsHkdf256 {
            x: hex(DEV_PUB_X).try_into().unwrap(),
            y: hex(DEV_PUB_Y).try_into().unwrap(),
        }),
        ..ClientPinResponse::default()
    }
}

fn v1_ctap(device: Scripted, options: &[(&str, bool)]) -> Ctap2<Scripted> {
    // The randomness serves EC_PRIV as the platform scalar (protocol one draws no IV).
    open(device, &info(options, &[1])).with_randomness(Fixed(hex(EC_PRIV)))
}

#[test]
fn protocol_one_known_answers_shared_secret() {
    let mut ctap = v1_ctap(
        Scripted::default().message(&device_key()),
        &[("clientPin", true)],
    );
    let mut pin = ClientPin::new(&mut ctap).unwrap();
    assert_eq!(pin.protocol(), PinProtocol::One);
    let (key, shared) = pin.shared_secret().unwrap();
    assert_eq!(shared.as_bytes(), hex(SHARED));
    assert_eq!(
        key,
        CoseKey::EcdhEsHkdf256 {
            x: hex(EC_PUB_X).try_into().unwrap(),
            y: hex(EC_PUB_Y).try_into().unwrap()
        }
    );
}

#[test]
fn protocol_one_known_answers_set_pin() {
    let device = Scripted::default().message(&device_key()).ok(&[]);
    let mut ctap = v1_ctap(device, &[("clientPin", false)]);
    ClientPin::new(&mut ctap).unwrap().set_pin("1234").unwrap();
    let (command, request) = ctap.device().request(2);
    assert_eq!(command, 0x06);
    let request = ClientPinRequest::from_value(request).unwrap();
    assert_eq!(request.sub_command, PinSubCommand::SET_PIN);
    assert_eq!(request.pin_uv_auth_protocol, Some(1));
    assert_eq!(request.new_pin_enc.unwrap(), hex(SET_PIN_ENC));
    assert_eq!(request.pin_uv_auth_param.unwrap(), hex(SET_PIN_PARAM));
}

#[test]
fn protocol_one_known_answers_change_pin() {
    let device = Scripted::default().message(&device_key()).ok(&[]);
    let mut ctap = v1_ctap(device, &[("clientPin", true)]);
    ClientPin::new(&mut ctap)
        .unwrap()
        .change_pin("1234", "4321")
        .unwrap();
    let request = ClientPinRequest::from_value(ctap.device().request(2).1).unwrap();
    assert_eq!(request.sub_command, PinSubCommand::CHANGE_PIN);
    assert_eq!(request.new_pin_enc.unwrap(), hex(CHANGE_PIN_ENC));
    assert_eq!(request.pin_hash_enc.unwrap(), hex(PIN_HASH_ENC));
    assert_eq!(request.pin_uv_auth_param.unwrap(), hex(CHANGE_PIN_PARAM));
}

#[test]
fn protocol_one_known_answers_legacy_pin_token() {
    let token_answer = ClientPinResponse {
        pin_uv_auth_token: Some(hex(TOKEN_ENC)),
        ..ClientPinResponse::default()
    };
    let device = Scripted::default()
        .message(&device_key())
        .message(&token_answer);
    let mut ctap = v1_ctap(device, &[("clientPin", true)]);
    let token = ClientPin::new(&mut ctap)
        .unwrap()
        .get_pin_token("1234", Permissions::CREDENTIAL_MANAGEMENT, Some("x"))
        .unwrap();
    let request = ClientPinRequest::from_value(ctap.device().request(2).1).unwrap();
    // Without the pinUvAuthToken option: the legacy subcommand, no permissions.
    assert_eq!(request.sub_command, PinSubCommand::GET_PIN_TOKEN);
    assert_eq!(request.permissions, None);
    assert_eq!(request.pin_hash_enc.unwrap(), hex(PIN_HASH_ENC));
    assert_eq!(token.rp_id(), None);
    // The decrypted token, seen through what it authenticates.
    assert_eq!(
        token.authenticate(b"message"),
        independent::hmac(&hex(TOKEN), b"message")[..16]
    );
}

/// The PIN/UV auth protocols computed with the RustCrypto primitives directly, not
/// through ctap2-proto, for the protocol-two known answers.
mod independent {
    use aes::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _};
    use hmac::{KeyInit as _, Mac as _};

    pub(super) fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    /// HKDF-SHA-256 with a zero salt: (HMAC key, AES key).
    pub(super) fn v2_keys(z: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(&[0; 32]), z);
        let mut hmac_key = vec![0; 32];
        let mut aes_key = vec![0; 32];
        hkdf.expand(b"CTAP2 HMAC key", &mut hmac_key).unwrap();
        hkdf.expand(b"CTAP2 AES key", &mut aes_key).unwrap();
        (hmac_key, aes_key)
    }

    pub(super) fn cbc_encrypt(key: &[u8], iv: &[u8], plaintext: &[u8]) -> Vec<u8> {
        cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .unwrap()
            .encrypt_padded_vec::<aes::cipher::block_padding::NoPadding>(plaintext)
    }

    pub(super) fn cbc_decrypt(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Vec<u8> {
        cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .unwrap()
            .decrypt_padded_vec::<aes::cipher::block_padding::NoPadding>(ciphertext)
            .unwrap()
    }

    /// ECDH on P-256: the x coordinate of `scalar * peer`.
    pub(super) fn ecdh(scalar: &[u8], peer: &p256::PublicKey) -> Vec<u8> {
        let secret = p256::SecretKey::from_slice(scalar).unwrap();
        p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine())
            .raw_secret_bytes()
            .to_vec()
    }
}

/// Protocol two: the authenticator's key is `AUTH_SCALAR`, the platform's
/// `PLATFORM_SCALAR`, then the IVs 0x11.., 0x22.., ...
const AUTH_SCALAR: [u8; 32] = [0x42; 32];
const PLATFORM_SCALAR: [u8; 32] = [0x17; 32];

fn v2_device_key() -> ClientPinResponse {
    let secret = p256::SecretKey::from_slice(&AUTH_SCALAR).unwrap();
    let CoseKey::Es256 { x, y } = CoseKey::from_p256(&secret.public_key()) else {
        unreachable!("from_p256 makes ES256 keys")
    };
    ClientPinResponse {
        key_agreement: Some(CoseKey::EcdhEsHkdf256 { x, y }),
        ..ClientPinResponse::default()
    }
}

fn v2_randomness(ivs: usize) -> Fixed {
    let mut bytes = PLATFORM_SCALAR.to_vec();
    for n in 1..=ivs {
        bytes.extend_from_slice(&[u8::try_from(n * 0x11).unwrap(); 16]);
    }
    Fixed(bytes)
}

/// The shared secret as the authenticator computes it from the platform key in
/// `request`.
fn v2_authenticator_keys(request: &ClientPinRequest) -> (Vec<u8>, Vec<u8>) {
    let platform = request.key_agreement.as_ref().unwrap().to_p256().unwrap();
    let z = independent::ecdh(&AUTH_SCALAR, &platform);
    independent::v2_keys(&z)
}

#[test]
fn protocol_two_known_answers_set_and_change_pin() {
    let device = Scripted::default()
        .message(&v2_device_key())
        .ok(&[])
        .message(&v2_device_key())
        .ok(&[]);
    let mut ctap = open(device, &info(&[("clientPin", false)], &[2, 1]))
        .with_randomness(Fixed([v2_randomness(1).0, v2_randomness(2).0].concat()));
    let mut pin = ClientPin::new(&mut ctap).unwrap();
    assert_eq!(pin.protocol(), PinProtocol::Two);
    pin.set_pin("123456").unwrap();
    pin.change_pin("123456", "654321").unwrap();

    let set = ClientPinRequest::from_value(ctap.device().request(2).1).unwrap();
    let (hmac_key, aes_key) = v2_authenticator_keys(&set);
    let new_pin_enc = set.new_pin_enc.unwrap();
    assert_eq!(&new_pin_enc[..16], &[0x11; 16], "the IV comes first");
    let mut padded = b"123456".to_vec();
    padded.resize(64, 0);
    assert_eq!(
        new_pin_enc[16..],
        independent::cbc_encrypt(&aes_key, &[0x11; 16], &padded)
    );
    assert_eq!(
        set.pin_uv_auth_param.unwrap(),
        independent::hmac(&hmac_key, &new_pin_enc)
    );

    let change = ClientPinRequest::from_value(ctap.device().request(4).1).unwrap();
    let (hmac_key, aes_key) = v2_authenticator_keys(&change);
    let pin_hash_enc = change.pin_hash_enc.unwrap();
    let new_pin_enc = change.new_pin_enc.unwrap();
    assert_eq!(
        independent::cbc_decrypt(&aes_key, &pin_hash_enc[..16], &pin_hash_enc[16..]),
        Sha256::digest(b"123456")[..16]
    );
    let mut padded = b"654321".to_vec();
    padded.resize(64, 0);
    assert_eq!(
        independent::cbc_decrypt(&aes_key, &new_pin_enc[..16], &new_pin_enc[16..]),
        padded
    );
    assert_eq!(
        change.pin_uv_auth_param.unwrap(),
        independent::hmac(&hmac_key, &[new_pin_enc, pin_hash_enc].concat())
    );
}

#[test]
fn protocol_two_known_answers_token_with_permissions() {
    // The authenticator's answer is computed here: the token encrypted under the
    // shared secret of the platform key the fixed randomness makes, so the answer can
    // be scripted in advance.
    let platform = p256::SecretKey::from_slice(&PLATFORM_SCALAR)
        .unwrap()
        .public_key();
    let z = independent::ecdh(&AUTH_SCALAR, &platform);
    let (_, aes_key) = independent::v2_keys(&z);
    let token = [0x5A; 32];
    let iv = [0x77; 16];
    let answer = ClientPinResponse {
        pin_uv_auth_token: Some(
            [
                iv.as_slice(),
                &independent::cbc_encrypt(&aes_key, &iv, &token),
            ]
            .concat(),
        ),
        ..ClientPinResponse::default()
    };
    let device = Scripted::default()
        .message(&v2_device_key())
        .message(&answer);
    let mut ctap = open(
        device,
        &info(&[("clientPin", true), ("pinUvAuthToken", true)], &[2]),
    )
    .with_randomness(v2_randomness(1));
    let permissions = Permissions(Permissions::MAKE_CREDENTIAL.0 | Permissions::GET_ASSERTION.0);
    let pin_token = ClientPin::new(&mut ctap)
        .unwrap()
        .get_pin_token("1234", permissions, Some("example.com"))
        .unwrap();
    let request = ClientPinRequest::from_value(ctap.device().request(2).1).unwrap();
    assert_eq!(
        request.sub_command,
        PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS
    );
    assert_eq!(request.permissions, Some(0x03));
    assert_eq!(request.rp_id.as_deref(), Some("example.com"));
    assert_eq!(pin_token.rp_id(), Some("example.com"));
    assert_eq!(
        pin_token.authenticate(b"m"),
        independent::hmac(&token, b"m")
    );
    assert!(
        !format!("{pin_token:?}").contains("90"),
        "the token is never printed"
    );

    let mut request = make_credential_request(
        [9; 32],
        RpEntity {
            id: "example.com".into(),
            name: None,
            icon: None,
        },
        UserEntity {
            id: vec![1],
            name: None,
            display_name: None,
            icon: None,
        },
        &[Algorithm::ES256],
    );
    pin_token.authorize_make_credential(&mut request);
    assert_eq!(request.pin_uv_auth_protocol, Some(2));
    assert_eq!(
        request.pin_uv_auth_param.unwrap(),
        independent::hmac(&token, &[9; 32])
    );
}

#[test]
fn pin_lengths_are_checked_before_anything_is_sent() {
    let mut ctap = open(Scripted::default(), &info(&[("clientPin", false)], &[2]));
    let mut pin = ClientPin::new(&mut ctap).unwrap();
    assert!(matches!(pin.set_pin("123"), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        pin.set_pin(&"9".repeat(64)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        pin.change_pin("1234", "éé"),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(ctap.device().requests.len(), 1, "only getInfo was sent");
}

#[test]
fn pin_retries_and_a_wrong_pin() {
    let retries = ClientPinResponse {
        pin_retries: Some(7),
        power_cycle_state: Some(false),
        ..ClientPinResponse::default()
    };
    let device = Scripted::default()
        .message(&retries)
        .message(&v2_device_key())
        .status(StatusCode::PIN_INVALID);
    let mut ctap =
        open(device, &info(&[("clientPin", true)], &[2])).with_randomness(v2_randomness(1));
    let mut pin = ClientPin::new(&mut ctap).unwrap();
    assert_eq!(
        pin.get_pin_retries().unwrap(),
        PinRetries {
            retries: 7,
            power_cycle_state: Some(false)
        }
    );
    let error = pin
        .get_pin_token("0000", Permissions::GET_ASSERTION, None)
        .unwrap_err();
    assert_eq!(error.to_string(), "CTAP error: 0x31 - PIN_INVALID");
}

#[test]
fn a_failing_random_source_is_an_error() {
    let mut ctap = open(
        Scripted::default().message(&v2_device_key()),
        &info(&[("clientPin", true)], &[2]),
    )
    .with_randomness(Fixed(Vec::new()));
    let error = ClientPin::new(&mut ctap)
        .unwrap()
        .get_pin_token("1234", Permissions::GET_ASSERTION, None)
        .unwrap_err();
    assert!(matches!(error, Error::Random(_)), "{error}");
}

// ---- attestation and assertion verification ----

const RP: &str = "example.com";

fn auth_data(key: Option<CoseKey>, counter: u32) -> Vec<u8> {
    AuthenticatorData {
        rp_id_hash: Sha256::digest(RP.as_bytes()).into(),
        flags: Flags::UP,
        sign_count: counter,
        attested_credential: key.map(|public_key| AttestedCredentialData {
            aaguid: [7; 16],
            credential_id: vec![0xC0; 16],
            public_key,
        }),
        extensions: None,
    }
    .to_bytes()
}

fn packed(alg: Algorithm, sig: Vec<u8>, x5c: Option<Vec<u8>>) -> Value {
    let mut entries = vec![
        (Value::text("alg"), Value::int(alg.0)),
        (Value::text("sig"), Value::Bytes(sig)),
    ];
    if let Some(cert) = x5c {
        entries.push((Value::text("x5c"), Value::Array(vec![Value::Bytes(cert)])));
    }
    Value::Map(entries)
}

fn es256_key() -> (p256::ecdsa::SigningKey, CoseKey) {
    let signing = p256::ecdsa::SigningKey::from_slice(&[0x33; 32]).unwrap();
    let public = CoseKey::from_p256(&p256::PublicKey::from(signing.verifying_key()));
    (signing, public)
}

fn es256_sign(key: &p256::ecdsa::SigningKey, message: &[u8]) -> Vec<u8> {
    let signature: p256::ecdsa::Signature = key.sign(message);
    signature.to_der().as_bytes().to_vec()
}

fn attestation(fmt: &str, auth_data: Vec<u8>, att_stmt: Value) -> Attestation {
    Attestation::from_response(MakeCredentialResponse {
        fmt: fmt.into(),
        auth_data,
        att_stmt,
        ep_att: None,
        large_blob_key: None,
        unsigned_extension_outputs: None,
    })
    .unwrap()
}

#[test]
fn self_attestation_es256_and_eddsa_verify_and_tampering_is_caught() {
    let cdh = [0xCD; 32];
    let (signing, public) = es256_key();
    let data = auth_data(Some(public), 0);
    let sig = es256_sign(&signing, &[data.as_slice(), &cdh].concat());
    let att = attestation(
        "packed",
        data.clone(),
        packed(Algorithm::ES256, sig.clone(), None),
    );
    assert_eq!(
        att.verify(RP, &cdh).unwrap(),
        AttestationType::SelfAttestation
    );
    assert!(matches!(
        att.verify(RP, &[0; 32]),
        Err(Error::Verification(_))
    ));
    assert!(matches!(
        att.verify("evil.com", &cdh),
        Err(Error::Verification(_))
    ));
    let wrong_alg = attestation("packed", data, packed(Algorithm::EDDSA, sig, None));
    assert!(matches!(
        wrong_alg.verify(RP, &cdh),
        Err(Error::Verification(_))
    ));

    let ed = ed25519_dalek::SigningKey::from_bytes(&[0x44; 32]);
    let ed_public = CoseKey::EdDsa {
        x: ed.verifying_key().to_bytes(),
    };
    let data = auth_data(Some(ed_public), 0);
    let sig = ed
        .sign(&[data.as_slice(), &cdh].concat())
        .to_bytes()
        .to_vec();
    let att = attestation("packed", data, packed(Algorithm::EDDSA, sig, None));
    assert_eq!(
        att.verify(RP, &cdh).unwrap(),
        AttestationType::SelfAttestation
    );
}

/// A DER certificate around `key` that meets WebAuthn §8.2.1, for the AAGUID of
/// [`auth_data`].
fn certificate(key: &p256::PublicKey) -> Vec<u8> {
    verification::certificate(key, [7; 16], verification::Flaw::None)
}

#[test]
fn full_packed_attestation_verifies_with_the_certificate_key() {
    let cdh = [0xAB; 32];
    let (credential_signing, credential_public) = es256_key();
    let batch = p256::ecdsa::SigningKey::from_slice(&[0x55; 32]).unwrap();
    let cert = certificate(&p256::PublicKey::from(batch.verifying_key()));
    let data = auth_data(Some(credential_public), 0);
    let signed = [data.as_slice(), &cdh].concat();
    let good = attestation(
        "packed",
        data.clone(),
        packed(
            Algorithm::ES256,
            es256_sign(&batch, &signed),
            Some(cert.clone()),
        ),
    );
    assert_eq!(good.verify(RP, &cdh).unwrap(), AttestationType::Basic);
    // Signed by the credential key instead of the batch key: caught.
    let bad = attestation(
        "packed",
        data,
        packed(
            Algorithm::ES256,
            es256_sign(&credential_signing, &signed),
            Some(cert),
        ),
    );
    assert!(matches!(bad.verify(RP, &cdh), Err(Error::Verification(_))));
}

#[test]
fn none_attestation_and_unknown_formats() {
    let (_, public) = es256_key();
    let none = attestation(
        "none",
        auth_data(Some(public.clone()), 0),
        Value::Map(vec![]),
    );
    assert_eq!(none.statement, AttestationStatement::None);
    assert_eq!(none.verify(RP, &[0; 32]).unwrap(), AttestationType::None);
    let tpm = attestation("tpm", auth_data(Some(public), 0), Value::Map(vec![]));
    assert!(matches!(
        tpm.verify(RP, &[0; 32]),
        Err(Error::Unsupported(_))
    ));
    // makeCredential authenticator data without a credential is refused.
    assert!(
        Attestation::from_response(MakeCredentialResponse {
            fmt: "none".into(),
            auth_data: auth_data(None, 0),
            att_stmt: Value::Map(vec![]),
            ep_att: None,
            large_blob_key: None,
            unsigned_extension_outputs: None,
        })
        .is_err()
    );
}

#[test]
fn assertions_verify_and_the_single_allowed_credential_is_filled_in() {
    let cdh = [0x11; 32];
    let (signing, public) = es256_key();
    let data = auth_data(None, 5);
    let response = GetAssertionResponse {
        credential: None,
        signature: es256_sign(&signing, &[data.as_slice(), &cdh].concat()),
        auth_data: data,
        user: None,
        number_of_credentials: None,
        user_selected: None,
        large_blob_key: None,
        unsigned_extension_outputs: None,
    };
    let mut ctap = open(Scripted::default().message(&response), &info(&[], &[]));
    let request = get_assertion_request(RP, cdh, &[vec![0xC0; 16]]);
    let assertion = ctap
        .get_assertion(&request, CallOptions::default())
        .unwrap();
    assert_eq!(assertion.credential().unwrap().id, vec![0xC0; 16]);
    assert_eq!(assertion.auth_data.sign_count, 5);
    assertion.verify(RP, &cdh, &public).unwrap();
    assert!(assertion.verify(RP, &[0; 32], &public).is_err());
    let other = CoseKey::EdDsa {
        x: ed25519_dalek::SigningKey::from_bytes(&[1; 32])
            .verifying_key()
            .to_bytes(),
    };
    assert!(assertion.verify(RP, &cdh, &other).is_err());
}

#[test]
fn get_assertions_follows_number_of_credentials() {
    let one = |n: Option<u32>, id: u8| GetAssertionResponse {
        credential: Some(ctap2_proto::CredentialDescriptor::public_key(&[id])),
        auth_data: auth_data(None, 1),
        signature: vec![0; 8],
        user: Some(UserEntity {
            id: vec![id],
            name: None,
            display_name: None,
            icon: None,
        }),
        number_of_credentials: n,
        user_selected: None,
        large_blob_key: None,
        unsigned_extension_outputs: None,
    };
    let device = Scripted::default()
        .message(&one(Some(3), 1))
        .message(&one(None, 2))
        .message(&one(None, 3));
    let mut ctap = open(device, &info(&[], &[]));
    let request = get_assertion_request(RP, [0; 32], &[]);
    let all = ctap
        .get_assertions(&request, CallOptions::default())
        .unwrap();
    let ids: Vec<u8> = all.iter().map(|a| a.user().unwrap().id[0]).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(ctap.device().request(1).1, request.to_value());
    assert_eq!(ctap.device().request(2).0, 0x08);
}

// ---- credential management, config, large blobs ----

fn v2_token(bytes: [u8; 32], permissions: Permissions) -> PinToken {
    PinToken::new(PinProtocol::Two, bytes.to_vec(), permissions)
}

#[test]
fn credential_management_authenticates_begin_commands_only() {
    let rp = |id: &str| CredentialManagementResponse {
        rp: Some(RpEntity {
            id: id.into(),
            name: None,
            icon: None,
        }),
        rp_id_hash: Some(Sha256::digest(id.as_bytes()).to_vec()),
        total_rps: (id == "a.com").then_some(2),
        ..CredentialManagementResponse::default()
    };
    let device = Scripted::default()
        .message(&rp("a.com"))
        .message(&rp("b.com"))
        .status(StatusCode::NO_CREDENTIALS);
    let mut ctap = open(device, &info(&[("credMgmt", true)], &[2]));
    let token = v2_token([3; 32], Permissions::CREDENTIAL_MANAGEMENT);
    let mut cm = CredentialManagement::new(&mut ctap, token).unwrap();
    let rps = cm.enumerate_rps().unwrap();
    assert_eq!(
        rps.iter().map(|r| r.rp.id.as_str()).collect::<Vec<_>>(),
        ["a.com", "b.com"]
    );
    assert!(cm.enumerate_creds(&rps[0].rp_id_hash).unwrap().is_empty());

    let (command, begin) = ctap.device().request(1);
    assert_eq!(command, 0x0A);
    let begin = CredentialManagementRequest::from_value(begin).unwrap();
    assert_eq!(begin.pin_uv_auth_protocol, Some(2));
    assert_eq!(
        begin.pin_uv_auth_param.unwrap(),
        independent::hmac(&[3; 32], &[0x02])
    );
    let next = CredentialManagementRequest::from_value(ctap.device().request(2).1).unwrap();
    assert_eq!(next.pin_uv_auth_param, None, "getNextRP carries no auth");
    let creds = CredentialManagementRequest::from_value(ctap.device().request(3).1).unwrap();
    let mut message = vec![0x04];
    message.extend_from_slice(&creds.sub_command_params.clone().unwrap().to_vec());
    assert_eq!(
        creds.pin_uv_auth_param.unwrap(),
        independent::hmac(&[3; 32], &message)
    );
}

#[test]
fn credential_management_preview_uses_its_own_command() {
    let metadata = CredentialManagementResponse {
        existing_resident_credentials_count: Some(1),
        max_possible_remaining_resident_credentials_count: Some(9),
        ..CredentialManagementResponse::default()
    };
    let device = Scripted::default().message(&metadata);
    let mut ctap = open(device, &info(&[("credentialMgmtPreview", true)], &[1]));
    let token = PinToken::new(
        PinProtocol::One,
        vec![1; 32],
        Permissions::CREDENTIAL_MANAGEMENT,
    );
    let found = CredentialManagement::new(&mut ctap, token)
        .unwrap()
        .get_metadata()
        .unwrap();
    assert_eq!(
        found,
        CredentialsMetadata {
            existing: 1,
            remaining: 9
        }
    );
    assert_eq!(ctap.device().request(1).0, 0x41);
}

#[test]
fn credential_management_needs_the_option() {
    let mut ctap = open(Scripted::default(), &info(&[], &[2]));
    let token = v2_token([3; 32], Permissions::CREDENTIAL_MANAGEMENT);
    assert!(matches!(
        CredentialManagement::new(&mut ctap, token).unwrap_err(),
        Error::Unsupported(_)
    ));
}

#[test]
fn config_authenticates_its_message() {
    let device = Scripted::default().ok(&[]).ok(&[]);
    let mut ctap = open(device, &info(&[("authnrCfg", true)], &[1]));
    let token = PinToken::new(
        PinProtocol::One,
        vec![8; 32],
        Permissions::AUTHENTICATOR_CONFIG,
    );
    let mut config = Config::new(&mut ctap, Some(token)).unwrap();
    config.toggle_always_uv().unwrap();
    config.set_min_pin_length(Some(6), None, None).unwrap();
    let (command, request) = ctap.device().request(1);
    assert_eq!(command, 0x0D);
    let mut message = vec![0xFF; 32];
    message.extend_from_slice(&[0x0D, 0x02]);
    assert_eq!(
        bytes_member(&request, 4),
        independent::hmac(&[8; 32], &message)[..16]
    );
    assert_eq!(member(&request, 3), Some(Value::Int(1)));
    let request = ctap.device().request(2).1;
    assert_eq!(
        member(&request, 2),
        Some(MapBuilder::new().with(1, Value::Int(6)).build())
    );
}

#[test]
fn large_blobs_round_trip_in_fragments_with_checksum() {
    let entries = vec![Value::Bytes(vec![0xEE; 300]), Value::Bytes(vec![0xDD; 300])];
    let mut serialized = Value::Array(entries.clone()).to_vec();
    let checksum = Sha256::digest(&serialized);
    serialized.extend_from_slice(&checksum[..16]);
    // maxMsgSize 200: fragments of 136 bytes.
    let mut device = Scripted::default();
    for chunk in serialized.chunks(136) {
        device = device.message(&LargeBlobsResponse {
            config: Some(chunk.to_vec()),
        });
    }
    let reads = serialized.len().div_ceil(136);
    assert!(
        !serialized.len().is_multiple_of(136),
        "the last fragment is short"
    );
    let writes = reads;
    for _ in 0..writes {
        device = device.ok(&[]);
    }
    let mut blob_info = info(&[("largeBlobs", true)], &[2]);
    blob_info.max_msg_size = Some(200);
    let mut ctap = open(device, &blob_info);
    let token = v2_token([6; 32], Permissions::LARGE_BLOB_WRITE);
    let mut blobs = LargeBlobs::new(&mut ctap, Some(token)).unwrap();
    assert_eq!(blobs.read_blob_array().unwrap(), entries);
    blobs.write_blob_array(&entries).unwrap();

    let second = LargeBlobsRequest::from_value(ctap.device().request(2).1).unwrap();
    assert_eq!((second.get, second.offset), (Some(136), 136));
    let first_write = LargeBlobsRequest::from_value(ctap.device().request(1 + reads).1).unwrap();
    assert_eq!(first_write.length, Some(serialized.len() as u64));
    let last_write =
        LargeBlobsRequest::from_value(ctap.device().request(reads + writes).1).unwrap();
    let offset = 136 * (writes - 1);
    assert_eq!(last_write.offset, offset as u64);
    assert_eq!(last_write.length, None);
    let set = last_write.set.unwrap();
    assert_eq!(set, serialized[offset..]);
    let mut message = vec![0xFF; 32];
    message.extend_from_slice(&[0x0C, 0x00]);
    message.extend_from_slice(&u32::try_from(offset).unwrap().to_le_bytes());
    message.extend_from_slice(&Sha256::digest(&set));
    assert_eq!(
        last_write.pin_uv_auth_param.unwrap(),
        independent::hmac(&[6; 32], &message)
    );
}

#[test]
fn a_bad_large_blob_checksum_reads_as_empty() {
    let mut bytes = Value::Array(vec![Value::Int(1)]).to_vec();
    bytes.extend_from_slice(&[0; 16]);
    let device = Scripted::default().message(&LargeBlobsResponse {
        config: Some(bytes),
    });
    let mut ctap = open(device, &info(&[("largeBlobs", true)], &[2]));
    let mut blobs = LargeBlobs::new(&mut ctap, None).unwrap();
    assert!(blobs.read_blob_array().unwrap().is_empty());
}

/// A map encoded with its entries in the given order and as the given bytes (the
/// encoder always sorts and shortens; real keys sometimes do neither).
fn map_as_sent(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = vec![0xA0 | u8::try_from(entries.len()).unwrap()];
    for (key, value) in entries {
        out.extend_from_slice(key);
        out.extend_from_slice(value);
    }
    out
}

#[test]
fn responses_in_non_canonical_cbor_are_read_as_python_fido2_reads_them() {
    // getInfo: keys 3, 1, 5 (out of order), key 5 and the aaguid's length in long
    // forms, maxMsgSize in a 32-bit head.
    let aaguid = [&[0x58, 0x10][..], &[0x11; 16]].concat();
    let versions = [&[0x81, 0x68][..], b"FIDO_2_0"].concat();
    let get_info = map_as_sent(&[
        (&[0x03], &aaguid),
        (&[0x01], &versions),
        (&[0x18, 0x05], &[0x1A, 0x00, 0x00, 0x04, 0xB0]),
    ]);
    assert!(Info::from_cbor(&get_info).is_err(), "not canonical");

    // makeCredential: keys 3, 1, 2 with 2 in a long form; in the authenticator data
    // a COSE key with its members reversed and alg -7 in a long form (38 06).
    let (_, public) = es256_key();
    let canonical_data = auth_data(Some(public.clone()), 0);
    let key_len = public.to_cbor().len();
    let (head, _) = canonical_data.split_at(canonical_data.len() - key_len);
    let member = |key: i128| {
        let Value::Map(entries) = public.to_value() else {
            panic!("a COSE key is a map");
        };
        entries
            .into_iter()
            .find(|(k, _)| *k == Value::Int(key))
            .map(|(_, v)| v.to_vec())
            .unwrap()
    };
    let (x, y, kty) = (member(-2), member(-3), member(1));
    let cose = map_as_sent(&[
        (&[0x22], &y),
        (&[0x21], &x),
        (&[0x20], &[0x01]),
        (&[0x03], &[0x38, 0x06]),
        (&[0x01], &kty),
    ]);
    let data = [head, &cose[..]].concat();
    let data_field = [
        &[0x59][..],
        &u16::try_from(data.len()).unwrap().to_be_bytes(),
        &data,
    ]
    .concat();
    let make_credential = map_as_sent(&[
        (&[0x03], &[0xA0]),
        (&[0x01], &[0x64, b'n', b'o', b'n', b'e']),
        (&[0x18, 0x02], &data_field),
    ]);
    assert!(
        MakeCredentialResponse::from_cbor(&make_credential).is_err(),
        "not canonical"
    );

    let device = Scripted::default().ok(&get_info).ok(&make_credential);
    let mut ctap = Ctap2::new(device).expect("the getInfo is read");
    assert_eq!(ctap.info().versions, ["FIDO_2_0"]);
    assert_eq!(ctap.info().aaguid, [0x11; 16]);
    assert_eq!(ctap.info().max_msg_size, Some(1200));

    let request = make_credential_request(
        [0xCD; 32],
        RpEntity {
            id: RP.into(),
            name: None,
            icon: None,
        },
        UserEntity {
            id: vec![1],
            name: None,
            display_name: None,
            icon: None,
        },
        &[Algorithm::ES256],
    );
    let attestation = ctap
        .make_credential(&request, CallOptions::default())
        .expect("the makeCredential answer is read");
    let attested = attestation.auth_data.attested_credential.as_ref().unwrap();
    assert_eq!(attested.public_key, public);
    assert_eq!(attestation.statement, AttestationStatement::None);
    assert_eq!(
        attestation.verify(RP, &[0xCD; 32]).unwrap(),
        AttestationType::None
    );
}

#[test]
fn malformed_and_duplicate_key_responses_are_still_refused() {
    let info_bytes = info(&[], &[]).to_cbor();
    for (body, why) in [
        // {1: 1, 0x18 0x01: 2}: key 1 twice, once in a long form.
        (
            map_as_sent(&[(&[0x01], &[0x01]), (&[0x18, 0x01], &[0x02])]),
            "duplicate key",
        ),
        ([&info_bytes[..], &[0x00]].concat(), "trailing byte"),
        (vec![0xBF, 0x01, 0x01, 0xFF], "indefinite-length map"),
        (info_bytes[..info_bytes.len() - 1].to_vec(), "truncated"),
    ] {
        let error = Ctap2::new(Scripted::default().ok(&body)).unwrap_err();
        assert!(
            matches!(error, Error::InvalidResponse { .. }),
            "{why}: {error}"
        );
    }
}
