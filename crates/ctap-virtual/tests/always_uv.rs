//! CTAP 2.1 §7.2 alwaysUv together with built-in UV, on simulated time through
//! CTAPHID: §6.1.2 step 6.3 and §6.2.2 step 5.4 make a request without a
//! pinUvAuthParam use the enrolled finger rather than answer PUAT_REQUIRED.

mod support;

use ctap_types::StatusCode;
use ctap_virtual::FingerprintSensor;
use ctap2_proto::pin::{Permissions, PinProtocol};
use ctap2_proto::*;
use support::features_host::*;

/// A host whose authenticator has a PIN, a sensor with one finger enrolled, and
/// alwaysUv on.
fn always_uv_host(sensor: &FingerprintSensor) -> Host {
    let (mut host, token) = bio_host(sensor);
    enroll(&mut host, &token);
    let token = host
        .token(
            PinProtocol::Two,
            "1234",
            Permissions::AUTHENTICATOR_CONFIG,
            None,
        )
        .unwrap();
    let mut toggle = ConfigRequest {
        sub_command: ConfigSubCommand::TOGGLE_ALWAYS_UV,
        sub_command_params: None,
        pin_uv_auth_protocol: Some(2),
        pin_uv_auth_param: None,
    };
    toggle.pin_uv_auth_param = Some(PinProtocol::Two.authenticate(&token, &toggle.auth_message()));
    assert_eq!(host.call(0x0D, &toggle).status, StatusCode::SUCCESS);
    assert_eq!(host.info().option("alwaysUv"), Some(true));
    host
}

/// §6.1.2 step 6.3 ("If the pinUvAuthParam is not present, and the uv option ID is
/// true, let the "uv" option be treated as being present with the value true") and
/// §6.2.2 step 5.4 (likewise for getAssertion with up): the finger verifies the user,
/// UV is set, no PUAT_REQUIRED. A silent assertion stays silent (step 5 applies only
/// with up).
#[test]
fn always_uv_uses_the_enrolled_finger_without_a_token() {
    let sensor = FingerprintSensor::new();
    let mut host = always_uv_host(&sensor);
    let touches = sensor.touches();
    let made: MakeCredentialResponse = host.make_credential(&make_request("example.com", 1)).ok();
    assert_eq!(sensor.touches(), touches + 1, "the finger was asked");
    let flags = made.auth_data().unwrap().flags;
    assert!(
        flags.contains(Flags::UV) && flags.contains(Flags::UP),
        "{flags:?}"
    );
    let id = made
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;

    let asserted: GetAssertionResponse = host
        .get_assertion(&assertion_request("example.com", Some(&id)))
        .ok();
    assert_eq!(sensor.touches(), touches + 2);
    let flags = asserted.auth_data().unwrap().flags;
    assert!(
        flags.contains(Flags::UV) && flags.contains(Flags::UP),
        "{flags:?}"
    );

    let mut silent = assertion_request("example.com", Some(&id));
    silent.options = Some(Options {
        up: Some(false),
        ..Options::default()
    });
    let asserted: GetAssertionResponse = host.get_assertion(&silent).ok();
    assert_eq!(sensor.touches(), touches + 2, "no finger for a silent one");
    let flags = asserted.auth_data().unwrap().flags;
    assert!(!flags.contains(Flags::UV) && !flags.contains(Flags::UP));
}
