//! The pinUvAuthToken state of CTAP 2.1 §6.5.2.1 beyond permissions and the
//! userVerified flag (those are in ctap2.rs): the userPresent flag that a token from
//! built-in UV begins with (§6.5.5.7.3), what reads it (§6.1.2 steps 12 and 14,
//! §6.2.2 step 9) and what clears it, and the per-transport initial usage time limit.
//! All on simulated time through CTAPHID; each test names the step it checks.

mod support;

use std::time::Duration;

use ctap_types::StatusCode;
use ctap_virtual::{Finger, FingerprintSensor, Transport};
use ctap2_proto::pin::{Permissions, PinProtocol};
use ctap2_proto::*;
use support::features_host::*;

/// A host whose authenticator has a sensor with one finger enrolled and a PIN.
fn uv_host(sensor: &FingerprintSensor) -> Host {
    let (mut host, token) = bio_host(sensor);
    enroll(&mut host, &token);
    host
}

/// `duration` of simulated time passes.
fn advance(host: &mut Host, duration: Duration) {
    host.now += duration;
    host.device.handle_timeout(host.now);
}

fn mc_ga() -> Permissions {
    Permissions(Permissions::MAKE_CREDENTIAL.0 | Permissions::GET_ASSERTION.0)
}

fn signed_make(mut request: MakeCredentialRequest, token: &[u8]) -> MakeCredentialRequest {
    request.pin_uv_auth_param =
        Some(PinProtocol::Two.authenticate(token, &request.client_data_hash));
    request.pin_uv_auth_protocol = Some(2);
    request
}

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

/// CTAP 2.1 §6.5.5.7.3 step 12 (13 in CTAP 2.2): a token from built-in UV whose
/// method supplied evidence of user interaction (the finger touched the sensor) begins
/// with userIsPresent true. §6.1.2 step 14.1 / §6.2.2 step 9.1: then the first
/// makeCredential or getAssertion with up that it authorizes asks for no touch of its
/// own (no KEEPALIVE UPNEEDED, no second sensor touch) and still says UP; step
/// 14.4 / 9.4 clear the flag with the others, so the token authorizes nothing more.
#[test]
fn a_built_in_uv_token_stands_for_the_touch_of_one_operation() {
    let sensor = FingerprintSensor::new();
    let mut host = uv_host(&sensor);

    let token = host
        .uv_token(PinProtocol::Two, mc_ga(), Some("example.com"))
        .unwrap();
    let touches = sensor.touches();
    let reply = host.make_credential(&signed_make(
        resident(make_request("example.com", 1)),
        &token,
    ));
    assert!(reply.keepalives.is_empty(), "no touch-wait: {reply:?}");
    assert_eq!(sensor.touches(), touches, "and no second touch");
    let made: MakeCredentialResponse = reply.ok();
    let flags = made.auth_data().unwrap().flags;
    assert!(
        flags.contains(Flags::UP) && flags.contains(Flags::UV),
        "{flags:?}"
    );
    let id = made
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;
    // §6.1.2 step 14.4: spent for every further mc and ga.
    assert_eq!(
        host.make_credential(&signed_make(make_request("example.com", 2), &token))
            .status,
        StatusCode::PIN_AUTH_INVALID
    );

    // getAssertion: the same, once.
    let token = host
        .uv_token(PinProtocol::Two, mc_ga(), Some("example.com"))
        .unwrap();
    let reply = host.get_assertion(&signed_assertion("example.com", Some(&id), &token, true));
    assert!(reply.keepalives.is_empty(), "no touch-wait: {reply:?}");
    let asserted: GetAssertionResponse = reply.ok();
    let flags = asserted.auth_data().unwrap().flags;
    assert!(
        flags.contains(Flags::UP) && flags.contains(Flags::UV),
        "{flags:?}"
    );
    assert_eq!(
        host.get_assertion(&signed_assertion("example.com", Some(&id), &token, true))
            .status,
        StatusCode::PIN_AUTH_INVALID,
        "§6.2.2 step 9.4"
    );

    // A PIN token begins with userIsPresent false (§6.5.5.7.2): a touch-wait.
    let token = host
        .token(PinProtocol::Two, "1234", mc_ga(), Some("example.com"))
        .unwrap();
    let reply = host.get_assertion(&signed_assertion("example.com", Some(&id), &token, true));
    assert!(
        !reply.keepalives.is_empty(),
        "a PIN is no presence: {reply:?}"
    );
    assert_eq!(reply.status, StatusCode::SUCCESS);
}

/// §6.5.2.1: silent assertions (up=false) do not clear the userPresent flag (only the
/// steps that collect presence do), but the flag lasts only the user present time
/// limit (by default the transport's initial usage time limit: 30 s over USB); the
/// token itself, once used, stays in use, and an operation with up after that limit
/// waits for a touch again.
#[test]
fn cached_presence_lasts_the_user_present_time_limit() {
    let sensor = FingerprintSensor::new();
    let mut host = uv_host(&sensor);
    let id = {
        let token = host
            .token(PinProtocol::Two, "1234", mc_ga(), Some("example.com"))
            .unwrap();
        let made: MakeCredentialResponse = host
            .make_credential(&signed_make(make_request("example.com", 1), &token))
            .ok();
        made.auth_data()
            .unwrap()
            .attested_credential
            .unwrap()
            .credential_id
    };
    let token = host
        .uv_token(PinProtocol::Two, mc_ga(), Some("example.com"))
        .unwrap();
    let silent = signed_assertion("example.com", Some(&id), &token, false);
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);
    advance(&mut host, Duration::from_millis(29_900));
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);
    advance(&mut host, Duration::from_millis(100));
    let reply = host.get_assertion(&signed_assertion("example.com", Some(&id), &token, true));
    assert!(
        !reply.keepalives.is_empty(),
        "30 s after the finger: presence is no longer cached: {reply:?}"
    );
    assert_eq!(
        reply.status,
        StatusCode::SUCCESS,
        "the token is still in use"
    );

    // Within the limit, the cached presence is not used by a silent assertion, so the
    // next one with up still needs no touch.
    let token = host
        .uv_token(PinProtocol::Two, mc_ga(), Some("example.com"))
        .unwrap();
    let silent = signed_assertion("example.com", Some(&id), &token, false);
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);
    let reply = host.get_assertion(&signed_assertion("example.com", Some(&id), &token, true));
    assert!(reply.keepalives.is_empty(), "{reply:?}");
    assert_eq!(reply.status, StatusCode::SUCCESS);
}

/// §6.1.2 step 12: an excludeList match with a pinUvAuthParam whose token's
/// userPresent flag is true answers CREDENTIAL_EXCLUDED at once ("Else, (implying
/// userPresentFlagValue is true) terminate this procedure and return
/// CTAP2_ERR_CREDENTIAL_EXCLUDED"); with a PIN token it waits for the touch first.
#[test]
fn an_excluded_credential_with_cached_presence_answers_at_once() {
    let sensor = FingerprintSensor::new();
    let mut host = uv_host(&sensor);
    let token = host
        .token(PinProtocol::Two, "1234", mc_ga(), Some("example.com"))
        .unwrap();
    let made: MakeCredentialResponse = host
        .make_credential(&signed_make(make_request("example.com", 1), &token))
        .ok();
    let id = made
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;
    let mut excluded = make_request("example.com", 2);
    excluded.exclude_list = Some(vec![CredentialDescriptor::public_key(&id)]);

    let token = host
        .token(PinProtocol::Two, "1234", mc_ga(), Some("example.com"))
        .unwrap();
    let reply = host.make_credential(&signed_make(excluded.clone(), &token));
    assert_eq!(reply.status, StatusCode::CREDENTIAL_EXCLUDED);
    assert!(!reply.keepalives.is_empty(), "PIN token: a touch first");

    let token = host
        .uv_token(PinProtocol::Two, mc_ga(), Some("example.com"))
        .unwrap();
    let reply = host.make_credential(&signed_make(excluded, &token));
    assert_eq!(reply.status, StatusCode::CREDENTIAL_EXCLUDED);
    assert!(reply.keepalives.is_empty(), "cached presence: {reply:?}");
}

/// A wrong finger gives no token at all (§6.5.5.7.3 step 10), so nothing can carry a
/// presence the user did not give; and a new token from the PIN replaces a UV one
/// with its flag (resetPinUvAuthToken, then userIsPresent false).
#[test]
fn only_a_matching_finger_caches_presence() {
    let sensor = FingerprintSensor::new();
    let mut host = uv_host(&sensor);
    let token = host
        .token(PinProtocol::Two, "1234", mc_ga(), Some("example.com"))
        .unwrap();
    let made: MakeCredentialResponse = host
        .make_credential(&signed_make(make_request("example.com", 1), &token))
        .ok();
    let id = made
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;
    sensor.push(Finger::NoMatch);
    assert_eq!(
        host.uv_token(PinProtocol::Two, mc_ga(), Some("example.com")),
        Err(StatusCode::UV_INVALID)
    );
    let uv = host
        .uv_token(PinProtocol::Two, mc_ga(), Some("example.com"))
        .unwrap();
    let pin = host
        .token(PinProtocol::Two, "1234", mc_ga(), Some("example.com"))
        .unwrap();
    assert_eq!(
        host.get_assertion(&signed_assertion("example.com", Some(&id), &uv, true))
            .status,
        StatusCode::PIN_AUTH_INVALID,
        "the UV token was replaced"
    );
    let reply = host.get_assertion(&signed_assertion("example.com", Some(&id), &pin, true));
    assert!(!reply.keepalives.is_empty(), "{reply:?}");
    assert_eq!(reply.status, StatusCode::SUCCESS);
}

/// §6.5.2.1: beginUsingPinUvAuthToken sets the initial usage time limit "according to
/// the transport the platform is using": 30 s over USB, 19.8 s over NFC. A token
/// issued on a channel marked NFC (as the NFC applet marks its own) and not used for
/// 19.8 s stops being in use; one issued on a USB channel does not.
#[test]
fn a_token_issued_over_nfc_has_the_nfc_initial_usage_time_limit() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let id = {
        let token = host.token(PinProtocol::Two, "1234", mc_ga(), None).unwrap();
        let made: MakeCredentialResponse = host
            .make_credential(&signed_make(make_request("example.com", 1), &token))
            .ok();
        made.auth_data()
            .unwrap()
            .attested_credential
            .unwrap()
            .credential_id
    };
    let ga = Permissions::GET_ASSERTION;
    assert_eq!(host.device.channel_transport(host.cid), Transport::Usb);

    // USB: still in use after 19.8 s.
    let token = host.token(PinProtocol::Two, "1234", ga, None).unwrap();
    advance(&mut host, Duration::from_millis(19_800));
    let silent = signed_assertion("example.com", Some(&id), &token, false);
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);

    // NFC: just under 19.8 s unused is fine; 19.8 s is not.
    let cid = host.cid;
    host.device.set_channel_transport(cid, Transport::Nfc);
    assert_eq!(host.device.channel_transport(cid), Transport::Nfc);
    let token = host.token(PinProtocol::Two, "1234", ga, None).unwrap();
    advance(&mut host, Duration::from_millis(19_799));
    let silent = signed_assertion("example.com", Some(&id), &token, false);
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);
    let token = host.token(PinProtocol::Two, "1234", ga, None).unwrap();
    advance(&mut host, Duration::from_millis(19_800));
    assert_eq!(
        host.get_assertion(&signed_assertion("example.com", Some(&id), &token, false))
            .status,
        StatusCode::PIN_AUTH_INVALID,
        "unused for NFC's initial usage time limit"
    );

    // Once used, an NFC token lasts the max usage time period like any other.
    let token = host.token(PinProtocol::Two, "1234", ga, None).unwrap();
    let silent = signed_assertion("example.com", Some(&id), &token, false);
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);
    advance(&mut host, Duration::from_secs(599));
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);

    // The mark is volatile, as the channel is: a power cycle forgets it.
    host.power_cycle(Duration::from_secs(1));
    assert_eq!(host.device.channel_transport(cid), Transport::Usb);
    // Back to USB by hand, too.
    host.device.set_channel_transport(host.cid, Transport::Nfc);
    host.device.set_channel_transport(host.cid, Transport::Usb);
    assert_eq!(host.device.channel_transport(host.cid), Transport::Usb);
}

/// §6.1.2 step 13 / §6.2.2 step 8: a makeCredential or getAssertion whose user
/// interaction was built-in UV (the uv option, a finger on the sensor) goes on past
/// step 14 / 9, so it does not call clearUserPresentFlag(), clearUserVerifiedFlag()
/// or clearPinUvAuthTokenPermissionsExceptLbw(): a token in use keeps its permissions.
/// A plain touch (step 14.2 / 9.2) clears them, whoever's token it is.
#[test]
fn built_in_uv_operations_leave_the_token_in_use_alone() {
    let sensor = FingerprintSensor::new();
    let mut host = uv_host(&sensor);
    let id = {
        let mut request = resident(make_request("example.com", 1));
        let mut options = request.options.unwrap_or_default();
        options.uv = Some(true);
        request.options = Some(options);
        let made: MakeCredentialResponse = host.make_credential(&request).ok();
        made.auth_data()
            .unwrap()
            .attested_credential
            .unwrap()
            .credential_id
    };
    let token = host
        .token(PinProtocol::Two, "1234", mc_ga(), Some("example.com"))
        .unwrap();
    let silent = signed_assertion("example.com", Some(&id), &token, false);
    // getAssertion with the uv option (a finger, no pinUvAuthParam).
    let mut with_uv = assertion_request("example.com", Some(&id));
    with_uv.options = Some(Options {
        uv: Some(true),
        ..Options::default()
    });
    let asserted: GetAssertionResponse = host.get_assertion(&with_uv).ok();
    assert!(asserted.auth_data().unwrap().flags.contains(Flags::UV));
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);
    // makeCredential with the uv option.
    let mut request = make_request("example.com", 2);
    request.options = Some(Options {
        uv: Some(true),
        ..Options::default()
    });
    assert_eq!(host.make_credential(&request).status, StatusCode::SUCCESS);
    assert_eq!(host.get_assertion(&silent).status, StatusCode::SUCCESS);
    // A plain touch (no token, no uv) does clear the token in use (§6.2.2 step 9.4).
    let reply = host.get_assertion(&assertion_request("example.com", Some(&id)));
    assert_eq!(reply.status, StatusCode::SUCCESS);
    assert_eq!(
        host.get_assertion(&silent).status,
        StatusCode::PIN_AUTH_INVALID
    );
}
