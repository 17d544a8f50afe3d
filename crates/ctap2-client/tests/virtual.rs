//! The client against the software authenticator (ctap-virtual), in process: every
//! command, both PIN/UV auth protocols, wrong PINs up to blocking, a cancelled and a
//! refused touch.

use std::time::{Duration, Instant};

use ctap_device::{CallOptions, CancelToken};
use ctap_types::StatusCode;
use ctap_virtual::VirtualConnection;
use ctap_virtual::{Attestation as VirtualAttestation, Config, TouchPolicy, VirtualAuthenticator};
use ctap2_client::proto::{
    Algorithm, CredentialDescriptor, Options, Permissions, PinProtocol, RpEntity, UserEntity,
};
use ctap2_client::{
    AttestationType, ClientPin, Config as AuthenticatorConfig, CredentialManagement, Ctap2, Error,
    PinToken, get_assertion_request, make_credential_request,
};

type Device = ctap_device::CtapHidDevice<VirtualConnection>;

const RP: &str = "example.com";
const PROTOCOLS: [PinProtocol; 2] = [PinProtocol::One, PinProtocol::Two];

fn authenticator(config: Config) -> (VirtualAuthenticator, Ctap2<Device>) {
    let authenticator = VirtualAuthenticator::new(config.with_rng_seed(Some([9; 32])));
    let ctap = Ctap2::new(authenticator.open_device().unwrap())
        .unwrap()
        .with_timeout(Some(Duration::from_secs(20)));
    (authenticator, ctap)
}

fn rp() -> RpEntity {
    RpEntity {
        id: RP.into(),
        name: Some("Example".into()),
        icon: None,
    }
}

fn user(id: u8) -> UserEntity {
    UserEntity {
        id: vec![id; 8],
        name: Some(format!("user{id}")),
        display_name: None,
        icon: None,
    }
}

fn register(
    ctap: &mut Ctap2<Device>,
    alg: Algorithm,
    resident: bool,
    token: Option<&PinToken>,
    user_id: u8,
) -> Result<ctap2_client::Attestation, Error> {
    let cdh = [user_id; 32];
    let mut request = make_credential_request(cdh, rp(), user(user_id), &[alg]);
    if resident {
        request.options = Some(Options {
            rk: Some(true),
            ..Options::default()
        });
    }
    if let Some(token) = token {
        token.authorize_make_credential(&mut request);
    }
    ctap.make_credential(&request, CallOptions::default())
}

fn token(ctap: &mut Ctap2<Device>, protocol: PinProtocol, pin: &str, p: Permissions) -> PinToken {
    ClientPin::with_protocol(ctap, protocol)
        .get_pin_token(pin, p, Some(RP).filter(|_| p.0 & 0x03 != 0))
        .unwrap()
}

const MC_GA: Permissions = Permissions(0x03);

#[test]
fn register_authenticate_verify_es256_and_eddsa_without_pin() {
    for (attestation, expected) in [
        (
            VirtualAttestation::SelfAttestation,
            AttestationType::SelfAttestation,
        ),
        (VirtualAttestation::Batch, AttestationType::Basic),
        (VirtualAttestation::None, AttestationType::None),
    ] {
        let (_authenticator, mut ctap) =
            authenticator(Config::default().with_attestation(attestation));
        for alg in [Algorithm::ES256, Algorithm::EDDSA] {
            let attestation = register(&mut ctap, alg, false, None, 1).unwrap();
            assert_eq!(
                attestation.verify(RP, &[1; 32]).unwrap(),
                expected,
                "{alg:?}"
            );
            let credential = attestation.credential().unwrap().clone();
            assert_eq!(credential.public_key.algorithm(), Some(alg));

            let cdh = [0x5C; 32];
            let request =
                get_assertion_request(RP, cdh, std::slice::from_ref(&credential.credential_id));
            let first = ctap
                .get_assertion(&request, CallOptions::default())
                .unwrap();
            first.verify(RP, &cdh, &credential.public_key).unwrap();
            assert_eq!(first.credential().unwrap().id, credential.credential_id);
            assert!(first.verify(RP, &[0; 32], &credential.public_key).is_err());
            assert!(
                first
                    .verify("other.com", &cdh, &credential.public_key)
                    .is_err()
            );
            let second = ctap
                .get_assertion(&request, CallOptions::default())
                .unwrap();
            assert!(second.auth_data.sign_count > first.auth_data.sign_count);
        }
    }
}

#[test]
fn unknown_credentials_and_keepalives() {
    let (_authenticator, mut ctap) =
        authenticator(Config::default().with_touch(TouchPolicy::Approve {
            after: Duration::from_millis(250),
        }));
    let mut statuses = Vec::new();
    let mut on_keepalive = |status| statuses.push(status);
    let attestation = {
        let request = make_credential_request([1; 32], rp(), user(1), &[Algorithm::ES256]);
        ctap.make_credential(
            &request,
            CallOptions::default().with_on_keepalive(&mut on_keepalive),
        )
        .unwrap()
    };
    assert_eq!(statuses, [ctap_types::KeepaliveStatus::UPNEEDED]);
    assert!(attestation.verify(RP, &[1; 32]).is_ok());
    let request = get_assertion_request(RP, [0; 32], &[vec![0xAA; 40]]);
    let error = ctap
        .get_assertion(&request, CallOptions::default())
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::NO_CREDENTIALS));
    assert_eq!(error.to_string(), "CTAP error: 0x2E - NO_CREDENTIALS");
}

#[test]
fn pin_set_change_and_tokens_with_both_protocols() {
    for protocol in PROTOCOLS {
        let (_authenticator, mut ctap) = authenticator(Config::default());
        assert_eq!(ctap.info().option("clientPin"), Some(false));
        {
            let mut pin = ClientPin::with_protocol(&mut ctap, protocol);
            // No PIN yet: PIN_NOT_SET, as the widely deployed keys answer.
            let none = pin.get_pin_retries().unwrap_err();
            assert_eq!(none.status(), Some(StatusCode::PIN_NOT_SET));
            pin.set_pin("1234").unwrap();
            assert_eq!(pin.get_pin_retries().unwrap().retries, 8);
            let again = pin.set_pin("5678").unwrap_err();
            // CTAP 2.1 §6.5.5.5 step 3: a PIN already set is PIN_AUTH_INVALID.
            assert_eq!(
                again.status(),
                Some(StatusCode::PIN_AUTH_INVALID),
                "{protocol:?}"
            );
        }
        assert_eq!(ctap.get_info().unwrap().option("clientPin"), Some(true));
        // The client's own choice from getInfo is protocol two.
        assert_eq!(
            ClientPin::new(&mut ctap).unwrap().protocol(),
            PinProtocol::Two
        );

        // A discoverable credential now needs the PIN.
        let error = register(&mut ctap, Algorithm::ES256, true, None, 1).unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::PUAT_REQUIRED));

        let token = token(&mut ctap, protocol, "1234", MC_GA);
        let attestation = register(&mut ctap, Algorithm::ES256, true, Some(&token), 1).unwrap();
        assert!(
            attestation
                .auth_data
                .flags
                .contains(ctap2_client::proto::Flags::UV)
        );
        attestation.verify(RP, &[1; 32]).unwrap();
        let key = attestation.credential().unwrap().public_key.clone();

        // A CTAP 2.1 token authorizes one operation that collects user presence
        // (§6.1.2 step 14.4): the registration spent it, the assertion needs another.
        let cdh = [0x77; 32];
        let mut request = get_assertion_request(RP, cdh, &[]);
        token.authorize_get_assertion(&mut request);
        let spent = ctap
            .get_assertion(&request, CallOptions::default())
            .unwrap_err();
        assert_eq!(spent.status(), Some(StatusCode::PIN_AUTH_INVALID));
        let token = self::token(&mut ctap, protocol, "1234", MC_GA);
        token.authorize_get_assertion(&mut request);
        let assertion = ctap
            .get_assertion(&request, CallOptions::default())
            .unwrap();
        assert!(
            assertion
                .auth_data
                .flags
                .contains(ctap2_client::proto::Flags::UV)
        );
        assertion.verify(RP, &cdh, &key).unwrap();
        assert_eq!(assertion.user().unwrap().id, user(1).id);
        // An unspent token, for the changePIN check below.
        let token = self::token(&mut ctap, protocol, "1234", MC_GA);

        ClientPin::with_protocol(&mut ctap, protocol)
            .change_pin("1234", "87654321")
            .unwrap();
        let mut pin = ClientPin::with_protocol(&mut ctap, protocol);
        let old = pin.get_pin_token("1234", MC_GA, Some(RP)).unwrap_err();
        assert_eq!(old.status(), Some(StatusCode::PIN_INVALID));
        assert_eq!(pin.get_pin_retries().unwrap().retries, 7);
        pin.get_pin_token("87654321", MC_GA, Some(RP)).unwrap();
        assert_eq!(
            pin.get_pin_retries().unwrap().retries,
            8,
            "a good PIN resets the count"
        );
        // The old token was invalidated by changePIN.
        let mut request = get_assertion_request(RP, cdh, &[]);
        token.authorize_get_assertion(&mut request);
        let stale = ctap
            .get_assertion(&request, CallOptions::default())
            .unwrap_err();
        assert_eq!(
            stale.status(),
            Some(StatusCode::PIN_AUTH_INVALID),
            "{protocol:?}"
        );
    }
}

#[test]
fn wrong_pins_block_after_three_per_power_cycle_and_eight_in_all() {
    for protocol in PROTOCOLS {
        let (authenticator, mut ctap) = authenticator(Config::default());
        ClientPin::with_protocol(&mut ctap, protocol)
            .set_pin("1234")
            .unwrap();
        let mut statuses = Vec::new();
        for _ in 1..=8 {
            let status = ClientPin::with_protocol(&mut ctap, protocol)
                .get_pin_token("0000", MC_GA, Some(RP))
                .unwrap_err()
                .status()
                .unwrap();
            statuses.push(status);
            if status == StatusCode::PIN_AUTH_BLOCKED {
                let blocked = ClientPin::with_protocol(&mut ctap, protocol)
                    .get_pin_token("1234", MC_GA, Some(RP))
                    .unwrap_err();
                assert_eq!(
                    blocked.status(),
                    Some(StatusCode::PIN_AUTH_BLOCKED),
                    "until a power cycle"
                );
                authenticator.with_device(|device| device.power_up(Instant::now()));
            }
        }
        use StatusCode as S;
        assert_eq!(
            statuses,
            [
                S::PIN_INVALID,
                S::PIN_INVALID,
                S::PIN_AUTH_BLOCKED,
                S::PIN_INVALID,
                S::PIN_INVALID,
                S::PIN_AUTH_BLOCKED,
                S::PIN_INVALID,
                S::PIN_BLOCKED
            ],
            "{protocol:?}"
        );
        let mut pin = ClientPin::with_protocol(&mut ctap, protocol);
        assert_eq!(pin.get_pin_retries().unwrap().retries, 0);
        let error = pin.get_pin_token("1234", MC_GA, Some(RP)).unwrap_err();
        assert_eq!(error.to_string(), "CTAP error: 0x32 - PIN_BLOCKED");
    }
}

#[test]
fn credential_management_lists_and_deletes_with_both_protocols() {
    for protocol in PROTOCOLS {
        let (_authenticator, mut ctap) = authenticator(Config::default());
        ClientPin::with_protocol(&mut ctap, protocol)
            .set_pin("1234")
            .unwrap();
        // One token per registration (CTAP 2.1 §6.1.2 step 14.4).
        let mc = token(&mut ctap, protocol, "1234", MC_GA);
        let first = register(&mut ctap, Algorithm::ES256, true, Some(&mc), 1).unwrap();
        let mc = token(&mut ctap, protocol, "1234", MC_GA);
        register(&mut ctap, Algorithm::EDDSA, true, Some(&mc), 2).unwrap();

        let cm_token = token(
            &mut ctap,
            protocol,
            "1234",
            Permissions::CREDENTIAL_MANAGEMENT,
        );
        let mut cm = CredentialManagement::new(&mut ctap, cm_token).unwrap();
        let metadata = cm.get_metadata().unwrap();
        assert_eq!(metadata.existing, 2);
        let rps = cm.enumerate_rps().unwrap();
        assert_eq!(rps.len(), 1);
        assert_eq!(rps[0].rp.id, RP);
        let creds = cm.enumerate_creds(&rps[0].rp_id_hash).unwrap();
        let mut users: Vec<u8> = creds.iter().map(|c| c.user.id[0]).collect();
        users.sort_unstable();
        assert_eq!(users, [1, 2]);
        let first_id = first.credential().unwrap().credential_id.clone();
        let listed = creds
            .iter()
            .find(|c| c.credential_id.id == first_id)
            .unwrap();
        assert_eq!(listed.public_key, first.credential().unwrap().public_key);

        let renamed = UserEntity {
            id: user(1).id,
            name: Some("renamed".into()),
            display_name: Some("Renamed User".into()),
            icon: None,
        };
        cm.update_user_info(&CredentialDescriptor::public_key(&first_id), &renamed)
            .unwrap();
        let creds = cm.enumerate_creds(&rps[0].rp_id_hash).unwrap();
        let updated = creds
            .iter()
            .find(|c| c.credential_id.id == first_id)
            .unwrap();
        assert_eq!(updated.user, renamed);

        cm.delete_cred(&CredentialDescriptor::public_key(&first_id))
            .unwrap();
        let gone = cm
            .delete_cred(&CredentialDescriptor::public_key(&first_id))
            .unwrap_err();
        assert_eq!(gone.status(), Some(StatusCode::NO_CREDENTIALS));
        assert_eq!(cm.enumerate_creds(&rps[0].rp_id_hash).unwrap().len(), 1);

        // A token without the permission is refused.
        let wrong = token(&mut ctap, protocol, "1234", MC_GA);
        let error = CredentialManagement::new(&mut ctap, wrong)
            .unwrap()
            .get_metadata()
            .unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::PIN_AUTH_INVALID));
    }
}

#[test]
fn config_always_uv_and_min_pin_length_with_both_protocols() {
    for protocol in PROTOCOLS {
        let (_authenticator, mut ctap) = authenticator(Config::default());
        ClientPin::with_protocol(&mut ctap, protocol)
            .set_pin("1234")
            .unwrap();
        let without = AuthenticatorConfig::new(&mut ctap, None)
            .unwrap()
            .toggle_always_uv()
            .unwrap_err();
        assert_eq!(without.status(), Some(StatusCode::PUAT_REQUIRED));

        let acfg = token(
            &mut ctap,
            protocol,
            "1234",
            Permissions::AUTHENTICATOR_CONFIG,
        );
        let mut config = AuthenticatorConfig::new(&mut ctap, Some(acfg)).unwrap();
        config.toggle_always_uv().unwrap();
        config.set_min_pin_length(Some(6), None, None).unwrap();
        let shrink = config.set_min_pin_length(Some(4), None, None).unwrap_err();
        assert_eq!(shrink.status(), Some(StatusCode::PIN_POLICY_VIOLATION));
        let info = ctap.get_info().unwrap();
        assert_eq!(info.option("alwaysUv"), Some(true));
        assert_eq!(info.min_pin_length, Some(6));
        // With alwaysUv even a non-discoverable credential needs the PIN.
        let error = register(&mut ctap, Algorithm::ES256, false, None, 3).unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::PUAT_REQUIRED));
        let short = ClientPin::with_protocol(&mut ctap, protocol)
            .change_pin("1234", "12345")
            .unwrap_err();
        assert_eq!(short.status(), Some(StatusCode::PIN_POLICY_VIOLATION));
    }
}

#[test]
fn a_cancelled_touch_ends_with_keepalive_cancel_and_the_device_still_works() {
    let (authenticator, mut ctap) = authenticator(Config::default().with_touch(TouchPolicy::Never));
    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            token.cancel();
        })
    };
    let request = make_credential_request([1; 32], rp(), user(1), &[Algorithm::ES256]);
    let error = ctap
        .make_credential(&request, CallOptions::default().with_cancel(token))
        .unwrap_err();
    canceller.join().unwrap();
    assert!(error.is_cancelled(), "{error}");
    assert_eq!(error.to_string(), "CTAP error: 0x2D - KEEPALIVE_CANCEL");

    authenticator.set_touch_policy(TouchPolicy::IMMEDIATE);
    register(&mut ctap, Algorithm::ES256, false, None, 1).unwrap();
}

#[test]
fn a_refused_touch_is_operation_denied() {
    let (_authenticator, mut ctap) =
        authenticator(Config::default().with_touch(TouchPolicy::Deny {
            after: Duration::ZERO,
        }));
    let error = register(&mut ctap, Algorithm::ES256, false, None, 1).unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::OPERATION_DENIED));
    let error = ctap.selection(CallOptions::default()).unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::OPERATION_DENIED));
}

#[test]
fn reset_forgets_credentials_and_pin() {
    let (_authenticator, mut ctap) = authenticator(Config::default());
    ClientPin::new(&mut ctap).unwrap().set_pin("1234").unwrap();
    ctap.get_info().unwrap();
    let token = token(&mut ctap, PinProtocol::Two, "1234", MC_GA);
    register(&mut ctap, Algorithm::ES256, true, Some(&token), 1).unwrap();
    ctap.selection(CallOptions::default()).unwrap();
    ctap.reset(CallOptions::default()).unwrap();
    assert_eq!(ctap.get_info().unwrap().option("clientPin"), Some(false));
    let error = ctap
        .get_assertion(
            &get_assertion_request(RP, [0; 32], &[]),
            CallOptions::default(),
        )
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::NO_CREDENTIALS));
}

/// The operating system's generator, not saying so (`Randomness::is_operating_system`
/// is false): the client's key agreement then takes p256 with a scalar from it, instead
/// of ring (feature `ring`) with a key ring draws itself.
struct ThroughP256;

impl ctap2_client::Randomness for ThroughP256 {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), Error> {
        ctap2_client::SystemRandom.fill(out)
    }
}

/// Both key-agreement paths of the client (ring with the default randomness when built
/// with it, p256 with any other source) get PIN tokens from the software authenticator
/// that authorize a registration with user verification (CTAP 2.1 §6.5.6 `encapsulate`
/// on our side, `decapsulate` on the authenticator's), with both protocols, and PIN
/// changes (the new PIN encrypted under the shared secret) go through on both.
#[test]
fn pin_tokens_through_both_key_agreements_authorize_requests() {
    for protocol in PROTOCOLS {
        for through_p256 in [false, true] {
            let (_authenticator, ctap) = authenticator(Config::default());
            let mut ctap = if through_p256 {
                ctap.with_randomness(ThroughP256)
            } else {
                ctap
            };
            let mut pin = ClientPin::with_protocol(&mut ctap, protocol);
            pin.set_pin("1234").unwrap();
            pin.change_pin("1234", "4321").unwrap();
            let token = token(&mut ctap, protocol, "4321", MC_GA);
            let attestation = register(&mut ctap, Algorithm::ES256, true, Some(&token), 1)
                .unwrap_or_else(|e| panic!("{protocol:?}, p256 {through_p256}: {e}"));
            assert!(
                attestation
                    .auth_data
                    .flags
                    .contains(ctap2_client::proto::Flags::UV)
            );
        }
    }
}
