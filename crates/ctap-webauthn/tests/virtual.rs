//! The WebAuthn client against the software authenticator (ctap-virtual) in process:
//! register and authenticate with and without a PIN, the exclude and allow list
//! pre-flight in batches, discoverable credentials, cancel and keep-alive, every
//! extension the authenticator has (prf and hmac-secret with both PIN protocols,
//! credProtect, credProps), and the U2F fallback with CTAP2 turned off.

use std::cell::Cell;
use std::rc::Rc;

use ctap_device::CancelToken;
use ctap_virtual::{Config, Generation, TouchPolicy, VirtualAuthenticator, VirtualConnection};
use ctap_webauthn::{
    AuthenticationResponse, CreationOptions, DefaultClientDataCollector, Error, Fido2Client,
    FixedPin, RegistrationResponse, RequestOptions, UserInteraction, base64url_decode,
    base64url_encode,
};
use ctap2_client::proto::{AuthenticatorData, Permissions, PinProtocol};
use ctap2_client::{Assertion, ClientPin};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

type Device = ctap_device::CtapHidDevice<VirtualConnection>;

const ORIGIN: &str = "https://login.example.com";
const PIN: &str = "12345678";

fn authenticator(config: Config) -> VirtualAuthenticator {
    VirtualAuthenticator::new(config.with_rng_seed(Some([3; 32])))
}

fn client(authenticator: &VirtualAuthenticator, pin: Option<&str>) -> Fido2Client<Device> {
    Fido2Client::new(
        authenticator.open_device().unwrap(),
        DefaultClientDataCollector::new(ORIGIN),
        FixedPin::new(pin),
    )
    .unwrap()
}

fn set_pin(client: &mut Fido2Client<Device>) {
    let ctap = client.ctap2().unwrap();
    ClientPin::new(ctap).unwrap().set_pin(PIN).unwrap();
    client.refresh_info().unwrap();
}

fn creation(extra: Value) -> CreationOptions {
    let mut options = json!({
        "rp": {"id": "example.com", "name": "Example"},
        "user": {"id": base64url_encode(b"user-1"), "name": "alice", "displayName": "Alice"},
        "challenge": base64url_encode(b"registration challenge"),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -8}],
        "attestation": "direct",
    });
    merge(&mut options, extra);
    CreationOptions::from_value(&options).unwrap()
}

fn request(extra: Value) -> RequestOptions {
    let mut options = json!({
        "challenge": base64url_encode(b"authentication challenge"),
        "rpId": "example.com",
    });
    merge(&mut options, extra);
    RequestOptions::from_value(&options).unwrap()
}

fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(into), Value::Object(extra)) = (into, extra) {
        into.extend(extra);
    }
}

fn allow(registration: &RegistrationResponse) -> Value {
    json!([{"type": "public-key", "id": registration.id}])
}

/// Checks an assertion the way a relying party does: clientDataJSON, rpIdHash,
/// signature with the registered key.
fn verify(registration: &RegistrationResponse, response: &AuthenticationResponse, rp_id: &str) {
    let registered =
        AuthenticatorData::from_bytes(&registration.response.authenticator_data).unwrap();
    let key = registered.attested_credential.unwrap().public_key;
    let client_data: Value = serde_json::from_slice(&response.response.client_data_json).unwrap();
    assert_eq!(client_data["type"], "webauthn.get");
    assert_eq!(client_data["origin"], ORIGIN);
    let cdh = Sha256::digest(&response.response.client_data_json);
    let assertion = Assertion::from_response(ctap2_client::proto::GetAssertionResponse {
        credential: None,
        auth_data: response.response.authenticator_data.clone(),
        signature: response.response.signature.clone(),
        user: None,
        number_of_credentials: None,
        user_selected: None,
        large_blob_key: None,
        unsigned_extension_outputs: None,
    })
    .unwrap();
    assertion.verify(rp_id, &cdh, &key).unwrap();
}

#[test]
fn register_and_authenticate_without_a_pin() {
    let authenticator = authenticator(Config::default());
    let mut client = client(&authenticator, None);
    let registration = client.make_credential(&creation(json!({})), None).unwrap();
    assert_eq!(
        base64url_decode(&registration.id).unwrap(),
        registration.raw_id
    );
    let json: Value = serde_json::from_str(&registration.to_json()).unwrap();
    assert_eq!(json["type"], "public-key");
    assert_eq!(json["clientExtensionResults"], json!({}));
    assert_eq!(json["response"]["publicKeyAlgorithm"], -7);
    let client_data: Value =
        serde_json::from_slice(&registration.response.client_data_json).unwrap();
    assert_eq!(
        client_data["challenge"],
        base64url_encode(b"registration challenge")
    );
    assert_eq!(client_data["type"], "webauthn.create");

    let selection = client
        .get_assertion(
            &request(json!({"allowCredentials": allow(&registration)})),
            None,
        )
        .unwrap();
    assert_eq!(selection.len(), 1);
    let response = selection.response(0).unwrap();
    assert_eq!(response.raw_id, registration.raw_id);
    verify(&registration, &response, "example.com");
}

#[test]
fn an_rp_id_the_origin_does_not_own_is_refused() {
    let authenticator = authenticator(Config::default());
    let mut client = client(&authenticator, None);
    let options = creation(json!({"rp": {"id": "evil.com", "name": "Evil"}}));
    let error = client.make_credential(&options, None).unwrap_err();
    assert!(matches!(error, Error::RpIdNotAllowed { .. }), "{error}");
    assert_eq!(error.dom_exception(), "SecurityError");
    // Nothing reached the authenticator.
    assert_eq!(authenticator.with_device(|d| d.stats().selections), 0);
}

#[test]
fn a_pin_is_asked_for_and_gives_uv() {
    let authenticator = authenticator(Config::default());
    let mut client = client(&authenticator, Some(PIN));
    set_pin(&mut client);
    let registration = client.make_credential(&creation(json!({})), None).unwrap();
    let flags = registration.response.authenticator_data[32];
    assert_eq!(flags & 0x05, 0x05, "UP and UV");
    // Two operations in a row each get their own token (CTAP 2.1 §6.2.2 step 9
    // clears a token's permissions after a user-present operation).
    for _ in 0..2 {
        let response = client
            .get_assertion(
                &request(json!({"allowCredentials": allow(&registration)})),
                None,
            )
            .unwrap()
            .response(0)
            .unwrap();
        assert_eq!(response.response.authenticator_data[32] & 0x04, 0x04);
        verify(&registration, &response, "example.com");
    }
    // discouraged: no PIN, no UV for getAssertion.
    let response = client
        .get_assertion(
            &request(json!({"allowCredentials": allow(&registration), "userVerification": "discouraged"})),
            None,
        )
        .unwrap()
        .response(0)
        .unwrap();
    assert_eq!(response.response.authenticator_data[32] & 0x04, 0);

    // Without a PIN to give, the operation fails before the authenticator is asked.
    let mut no_pin = Fido2Client::new(
        authenticator.open_device().unwrap(),
        DefaultClientDataCollector::new(ORIGIN),
        FixedPin::new(None),
    )
    .unwrap();
    let error = no_pin
        .make_credential(&creation(json!({})), None)
        .unwrap_err();
    assert!(matches!(error, Error::PinRequired), "{error}");
}

/// Ids the authenticator does not know, then `real` at `position`.
fn credential_list(count: usize, real: &RegistrationResponse, position: usize) -> Value {
    let mut list: Vec<Value> = (0..count)
        .map(|i| json!({"type": "public-key", "id": base64url_encode(&[u8::try_from(i + 1).unwrap(); 48])}))
        .collect();
    list.insert(position, json!({"type": "public-key", "id": real.id}));
    Value::Array(list)
}

#[test]
fn exclude_and_allow_lists_are_searched_in_batches() {
    // The authenticator takes 8 ids per request (maxCredentialCountInList): 20 unknown
    // ids before the real one make three pre-flight batches.
    let authenticator = authenticator(Config::default());
    let mut client = client(&authenticator, None);
    let registration = client.make_credential(&creation(json!({})), None).unwrap();
    let excluded = creation(json!({"excludeCredentials": credential_list(20, &registration, 20)}));
    let error = client.make_credential(&excluded, None).unwrap_err();
    assert!(matches!(error, Error::CredentialExcluded), "{error}");
    assert_eq!(error.dom_exception(), "InvalidStateError");
    // Unknown ids only: registration goes ahead.
    let mut fresh = creation(json!({"excludeCredentials": credential_list(20, &registration, 0)}));
    fresh.exclude_credentials.remove(0);
    client.make_credential(&fresh, None).unwrap();

    let options = request(json!({"allowCredentials": credential_list(20, &registration, 17)}));
    let response = client
        .get_assertion(&options, None)
        .unwrap()
        .response(0)
        .unwrap();
    assert_eq!(response.raw_id, registration.raw_id);
    verify(&registration, &response, "example.com");
    // None known: NO_CREDENTIALS (after the touch on a dummy id).
    let mut none = options.clone();
    none.allow_credentials.remove(17);
    let error = client.get_assertion(&none, None).unwrap_err();
    assert!(matches!(error, Error::NoCredentials), "{error}");
}

#[test]
fn discoverable_credentials_give_one_assertion_each() {
    let authenticator = authenticator(Config::default());
    let mut client = client(&authenticator, Some(PIN));
    set_pin(&mut client);
    let mut handles = Vec::new();
    for user in [b"user-a", b"user-b"] {
        let options = creation(json!({
            "user": {"id": base64url_encode(user), "name": "u", "displayName": "U"},
            "authenticatorSelection": {"residentKey": "required"},
            "extensions": {"credProps": true},
        }));
        let registration = client.make_credential(&options, None).unwrap();
        assert_eq!(
            serde_json::to_value(&registration.client_extension_results).unwrap(),
            json!({"credProps": {"rk": true}})
        );
        handles.push(user.to_vec());
    }
    let selection = client.get_assertion(&request(json!({})), None).unwrap();
    assert_eq!(selection.len(), 2);
    let mut users: Vec<Vec<u8>> = (0..2)
        .map(|i| selection.response(i).unwrap().response.user_handle.unwrap())
        .collect();
    users.sort();
    assert_eq!(users, handles);
    assert!(selection.response(2).is_err());
}

#[derive(Default)]
struct Counting {
    prompts: Rc<Cell<u32>>,
}

impl UserInteraction for Counting {
    fn prompt_up(&mut self) {
        self.prompts.set(self.prompts.get() + 1);
    }

    fn request_pin(&mut self, _: Permissions, _: Option<&str>) -> Option<Zeroizing<String>> {
        None
    }
}

#[test]
fn keepalive_reaches_the_user_interaction_and_cancel_ends_the_call() {
    // A touch 50 ms into the wait: an immediate one answers without any KEEPALIVE
    // (a keep-alive means "not ready yet", CTAP 2.1 §11.2.9.1.7).
    let authenticator = authenticator(Config::default().with_touch(TouchPolicy::Approve {
        after: std::time::Duration::from_millis(50),
    }));
    let prompts = Rc::new(Cell::new(0));
    let mut client = Fido2Client::new(
        authenticator.open_device().unwrap(),
        DefaultClientDataCollector::new(ORIGIN),
        Counting {
            prompts: prompts.clone(),
        },
    )
    .unwrap();
    // The touch-wait starts with KEEPALIVE UPNEEDED: prompt_up is called.
    client.make_credential(&creation(json!({})), None).unwrap();
    assert!(prompts.get() >= 1);
    // Nobody touches; a cancelled token ends the wait with KEEPALIVE_CANCEL.
    authenticator.set_touch_policy(TouchPolicy::Never);
    let cancel = CancelToken::new();
    cancel.cancel();
    let error = client
        .make_credential(&creation(json!({})), Some(&cancel))
        .unwrap_err();
    assert!(error.is_cancelled(), "{error}");
}

fn prf_outputs(response: &AuthenticationResponse) -> (String, Option<String>) {
    let json = serde_json::to_value(&response.client_extension_results).unwrap();
    let results = &json["prf"]["results"];
    (
        results["first"].as_str().unwrap().to_owned(),
        results["second"].as_str().map(str::to_owned),
    )
}

#[test]
fn prf_round_trips_with_both_pin_protocols() {
    let authenticator = authenticator(Config::default());
    let mut outputs = Vec::new();
    let mut registration = None;
    for protocol in [PinProtocol::One, PinProtocol::Two] {
        let mut client = client(&authenticator, None).with_pin_protocol(protocol);
        let registration = registration.get_or_insert_with(|| {
            let r = client
                .make_credential(&creation(json!({"extensions": {"prf": {}}})), None)
                .unwrap();
            assert_eq!(
                serde_json::to_value(&r.client_extension_results).unwrap(),
                json!({"prf": {"enabled": true}})
            );
            r
        });
        let salts = json!({"first": base64url_encode(b"salt one"), "second": base64url_encode(b"salt two")});
        let options = request(
            json!({"allowCredentials": allow(registration), "extensions": {"prf": {"eval": salts}}}),
        );
        let response = client
            .get_assertion(&options, None)
            .unwrap()
            .response(0)
            .unwrap();
        let (first, second) = prf_outputs(&response);
        assert_eq!(base64url_decode(&first).unwrap().len(), 32);
        assert_ne!(Some(&first), second.as_ref());
        outputs.push((first, second));
        // evalByCredential overrides eval for its credential.
        let by = json!({registration.id.clone(): {"first": base64url_encode(b"salt two")}});
        let options = request(json!({
            "allowCredentials": allow(registration),
            "extensions": {"prf": {"eval": {"first": base64url_encode(b"salt one")}, "evalByCredential": by}},
        }));
        let response = client
            .get_assertion(&options, None)
            .unwrap()
            .response(0)
            .unwrap();
        let (by_credential, none) = prf_outputs(&response);
        assert_eq!(Some(by_credential), outputs.last().unwrap().1.clone());
        assert_eq!(none, None);
    }
    // The same credential and salts give the same secret whatever protocol carried them.
    assert_eq!(outputs[0], outputs[1]);
}

/// PRF results at registration through CTAP 2.2's hmac-secret-mc (§12.5; WebAuthn
/// §10.1.4 create() with `eval`): with either PIN/UV auth protocol the results of
/// create() equal those of a later get() with the same salts, and hmacCreateSecret
/// with hmacGetSecret salts returns hmacGetSecret's outputs at registration too.
#[test]
fn prf_results_at_registration_equal_a_later_assertions() {
    let authenticator = authenticator(Config::default());
    let salts =
        json!({"first": base64url_encode(b"salt one"), "second": base64url_encode(b"salt two")});
    for protocol in [PinProtocol::One, PinProtocol::Two] {
        let mut client = client(&authenticator, None).with_pin_protocol(protocol);
        let registration = client
            .make_credential(
                &creation(json!({"extensions": {"prf": {"eval": salts.clone()}}})),
                None,
            )
            .unwrap();
        let created = serde_json::to_value(&registration.client_extension_results).unwrap();
        assert_eq!(created["prf"]["enabled"], true, "{created}");
        let first = created["prf"]["results"]["first"].as_str().unwrap();
        let second = created["prf"]["results"]["second"].as_str().unwrap();
        assert_eq!(base64url_decode(first).unwrap().len(), 32);
        assert_ne!(first, second);
        let options = request(
            json!({"allowCredentials": allow(&registration), "extensions": {"prf": {"eval": salts.clone()}}}),
        );
        let response = client
            .get_assertion(&options, None)
            .unwrap()
            .response(0)
            .unwrap();
        assert_eq!(
            prf_outputs(&response),
            (first.to_owned(), Some(second.to_owned())),
            "protocol {protocol:?}"
        );
    }
    // The legacy names: hmacCreateSecret with hmacGetSecret salts.
    let mut client = client(&authenticator, None);
    let salt1 = base64url_encode(&[5; 32]);
    let registration = client
        .make_credential(
            &creation(json!({"extensions": {"hmacCreateSecret": true, "hmacGetSecret": {"salt1": salt1}}})),
            None,
        )
        .unwrap();
    let created = serde_json::to_value(&registration.client_extension_results).unwrap();
    assert_eq!(created["hmacCreateSecret"], true, "{created}");
    let at_creation = created["hmacGetSecret"]["output1"]
        .as_str()
        .unwrap()
        .to_owned();
    let options = request(
        json!({"allowCredentials": allow(&registration), "extensions": {"hmacGetSecret": {"salt1": salt1}}}),
    );
    let response = client
        .get_assertion(&options, None)
        .unwrap()
        .response(0)
        .unwrap();
    let later = serde_json::to_value(&response.client_extension_results).unwrap();
    assert_eq!(later["hmacGetSecret"]["output1"], at_creation.as_str());
}

/// prf's evalByCredential names existing credentials: at create() it is
/// NotSupportedError (WebAuthn §10.1.4 registration step 1), whether it comes in JSON
/// (refused when parsed) or is set on the options in code (refused before anything is
/// sent).
#[test]
fn prf_eval_by_credential_at_registration_is_refused() {
    let by = json!({base64url_encode(b"some id"): {"first": base64url_encode(b"salt")}});
    let mut options = json!({
        "rp": {"id": "example.com", "name": "Example"},
        "user": {"id": base64url_encode(b"user-1"), "name": "alice", "displayName": "Alice"},
        "challenge": base64url_encode(b"registration challenge"),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
    });
    merge(
        &mut options,
        json!({"extensions": {"prf": {"evalByCredential": by}}}),
    );
    let error = CreationOptions::from_value(&options).unwrap_err();
    assert!(error.to_string().contains("evalByCredential"), "{error}");

    let authenticator = authenticator(Config::default());
    let mut client = client(&authenticator, None);
    let mut options = creation(json!({}));
    let mut prf = ctap_webauthn::extensions::PrfInputs::default();
    prf.eval_by_credential.insert(
        base64url_encode(b"some id"),
        ctap_webauthn::extensions::PrfValues {
            first: b"salt".to_vec(),
            second: None,
        },
    );
    options.extensions.prf = Some(prf);
    let error = client.make_credential(&options, None).unwrap_err();
    assert!(error.to_string().contains("evalByCredential"), "{error}");
}

#[test]
fn hmac_secret_outputs_are_32_bytes_per_salt() {
    let authenticator = authenticator(Config::default());
    let mut client = client(&authenticator, None);
    let registration = client
        .make_credential(
            &creation(json!({"extensions": {"hmacCreateSecret": true}})),
            None,
        )
        .unwrap();
    assert_eq!(
        serde_json::to_value(&registration.client_extension_results).unwrap(),
        json!({"hmacCreateSecret": true})
    );
    let salt = base64url_encode(&[5; 32]);
    let options = request(
        json!({"allowCredentials": allow(&registration), "extensions": {"hmacGetSecret": {"salt1": salt}}}),
    );
    let response = client
        .get_assertion(&options, None)
        .unwrap()
        .response(0)
        .unwrap();
    let json = serde_json::to_value(&response.client_extension_results).unwrap();
    assert_eq!(
        base64url_decode(json["hmacGetSecret"]["output1"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    assert!(json["hmacGetSecret"].get("output2").is_none());
    // The secret is not in Debug output.
    let debug = format!("{:?}", response.client_extension_results);
    assert!(debug.contains("Secret(32 bytes)"), "{debug}");
    assert!(!debug.contains(json["hmacGetSecret"]["output1"].as_str().unwrap()));
}

#[test]
fn cred_protect_is_applied_and_enforced() {
    let authenticator = authenticator(Config::default());
    let mut client = client(&authenticator, Some(PIN));
    set_pin(&mut client);
    // Level 3 (UV required): the authenticator reports it in the authenticator data.
    let options = creation(json!({"extensions": {
        "credentialProtectionPolicy": "userVerificationRequired",
        "enforceCredentialProtectionPolicy": true,
    }}));
    let registration = client.make_credential(&options, None).unwrap();
    let auth_data =
        AuthenticatorData::from_bytes(&registration.response.authenticator_data).unwrap();
    let extensions = auth_data.extensions.unwrap();
    assert!(
        format!("{extensions:?}").contains("credProtect"),
        "{extensions:?}"
    );
    // Without UV, the credential is invisible.
    let options = request(
        json!({"allowCredentials": allow(&registration), "userVerification": "discouraged"}),
    );
    assert!(matches!(
        client.get_assertion(&options, None).unwrap_err(),
        Error::NoCredentials
    ));
    // With UV it works.
    let options = request(json!({"allowCredentials": allow(&registration)}));
    client.get_assertion(&options, None).unwrap();
}

#[test]
fn u2f_only_keys_register_and_authenticate_through_ctap1() {
    let authenticator = authenticator(Config::default().with_generation(Generation::U2fOnly));
    let mut client = client(&authenticator, None);
    assert_eq!(client.info().versions, ["U2F_V2"]);
    assert!(client.ctap2().is_none());
    let options = creation(json!({"attestation": "direct", "extensions": {"credProps": true}}));
    let registration = client.make_credential(&options, None).unwrap();
    let attestation =
        ctap2_client::proto::Value::from_slice(&registration.response.attestation_object).unwrap();
    assert!(format!("{attestation:?}").contains("fido-u2f"));
    assert_eq!(
        serde_json::to_value(&registration.client_extension_results).unwrap(),
        json!({"credProps": {"rk": false}})
    );
    let response = client
        .get_assertion(
            &request(json!({"allowCredentials": allow(&registration)})),
            None,
        )
        .unwrap()
        .response(0)
        .unwrap();
    verify(&registration, &response, "example.com");
    // Excluded: refused after the (immediate) touch.
    let excluded = creation(json!({"excludeCredentials": allow(&registration)}));
    assert!(matches!(
        client.make_credential(&excluded, None).unwrap_err(),
        Error::CredentialExcluded
    ));
    // What U2F cannot do is NotSupportedError.
    let rk = creation(json!({"authenticatorSelection": {"residentKey": "required"}}));
    assert_eq!(
        client
            .make_credential(&rk, None)
            .unwrap_err()
            .dom_exception(),
        "NotSupportedError"
    );
    assert!(matches!(
        client.get_assertion(&request(json!({})), None).unwrap_err(),
        Error::Unsupported(_)
    ));
}

#[test]
fn the_appid_extension_finds_u2f_credentials_registered_under_an_appid() {
    // A credential registered over U2F for the AppID https://example.com/app-id.json
    // (rpIdHash = SHA-256 of the AppID), then used through WebAuthn with the appid
    // extension, on a U2F-only key and through CTAP2.
    const APPID: &str = "https://example.com/app-id.json";
    for u2f_only in [true, false] {
        let authenticator = authenticator(Config::default().with_generation(if u2f_only {
            Generation::U2fOnly
        } else {
            Generation::Ctap21
        }));
        let mut ctap1 = ctap_webauthn::ctap1::Ctap1::new(authenticator.open_device().unwrap());
        let app: [u8; 32] = Sha256::digest(APPID.as_bytes()).into();
        let registered = ctap1
            .register(&[1; 32], &app, ctap_device::CallOptions::default())
            .unwrap();
        registered.verify(&app, &[1; 32]).unwrap();
        let mut client = client(&authenticator, None);
        let id = base64url_encode(&registered.key_handle);
        let options = request(
            json!({"allowCredentials": [{"type": "public-key", "id": id}], "extensions": {"appid": APPID}}),
        );
        let response = client
            .get_assertion(&options, None)
            .unwrap()
            .response(0)
            .unwrap();
        assert_eq!(
            serde_json::to_value(&response.client_extension_results).unwrap(),
            json!({"appid": true}),
            "u2f_only {u2f_only}"
        );
        assert_eq!(response.response.authenticator_data[..32], app);
        // An AppID of another site is not used.
        let options = request(
            json!({"allowCredentials": [{"type": "public-key", "id": id}], "extensions": {"appid": "https://evil.com/app"}}),
        );
        assert!(matches!(
            client.get_assertion(&options, None).unwrap_err(),
            Error::NoCredentials
        ));
    }
}

#[test]
fn large_blobs_round_trip_with_and_without_a_pin() {
    // The software authenticator's large-blob array (CTAP 2.1 §6.10), two
    // discoverable credentials, each with its own blob; with a PIN the write needs a
    // token with the largeBlobWrite permission.
    for pin in [None, Some(PIN)] {
        let authenticator = authenticator(Config::default());
        let mut client = client(&authenticator, pin);
        if pin.is_some() {
            set_pin(&mut client);
        }
        let mut registrations = Vec::new();
        for user in [b"user-a", b"user-b"] {
            let options = creation(json!({
                "user": {"id": base64url_encode(user), "name": "u", "displayName": "U"},
                "authenticatorSelection": {"residentKey": "required"},
                "extensions": {"largeBlob": {"support": "required"}},
            }));
            let registration = client.make_credential(&options, None).unwrap();
            assert_eq!(
                serde_json::to_value(&registration.client_extension_results).unwrap(),
                json!({"largeBlob": {"supported": true}})
            );
            registrations.push(registration);
        }
        let blobs: [&[u8]; 2] = [b"first blob", b"the second, longer blob"];
        for (registration, blob) in registrations.iter().zip(blobs) {
            let write = json!({"allowCredentials": allow(registration), "extensions": {"largeBlob": {"write": base64url_encode(blob)}}});
            let response = client
                .get_assertion(&request(write), None)
                .unwrap()
                .response(0)
                .unwrap();
            assert_eq!(
                serde_json::to_value(&response.client_extension_results).unwrap(),
                json!({"largeBlob": {"written": true}}),
                "pin {pin:?}"
            );
        }
        for (registration, blob) in registrations.iter().zip(blobs) {
            let read = json!({"allowCredentials": allow(registration), "extensions": {"largeBlob": {"read": true}}});
            let response = client
                .get_assertion(&request(read), None)
                .unwrap()
                .response(0)
                .unwrap();
            assert_eq!(
                serde_json::to_value(&response.client_extension_results).unwrap(),
                json!({"largeBlob": {"blob": base64url_encode(blob)}})
            );
        }
        // A non-discoverable credential gets no largeBlobKey (§12.3): supported false,
        // and "required" is refused.
        let plain = creation(json!({"extensions": {"largeBlob": {"support": "preferred"}}}));
        let registration = client.make_credential(&plain, None).unwrap();
        assert_eq!(
            serde_json::to_value(&registration.client_extension_results).unwrap(),
            json!({"largeBlob": {"supported": false}})
        );
        let required = creation(json!({"extensions": {"largeBlob": {"support": "required"}}}));
        assert!(matches!(
            client.make_credential(&required, None).unwrap_err(),
            Error::Unsupported(_)
        ));
    }
}

#[test]
fn cred_blob_min_pin_length_and_third_party_payment_reach_the_authenticator() {
    let authenticator = authenticator(Config::default());
    let mut client = client(&authenticator, None);
    let options = creation(json!({
        "authenticatorSelection": {"residentKey": "required"},
        "extensions": {"credBlob": base64url_encode(b"small blob"), "minPinLength": true, "payment": {"isPayment": true}},
    }));
    let registration = client.make_credential(&options, None).unwrap();
    assert_eq!(
        serde_json::to_value(&registration.client_extension_results).unwrap(),
        json!({"credBlob": true})
    );
    let made = AuthenticatorData::from_bytes(&registration.response.authenticator_data).unwrap();
    let outputs = format!("{:?}", made.extensions);
    assert!(
        outputs.contains("thirdPartyPayment") || outputs.contains("credBlob"),
        "{outputs}"
    );
    let options = request(json!({
        "allowCredentials": allow(&registration),
        "extensions": {"getCredBlob": true, "payment": {"isPayment": true}},
    }));
    let response = client
        .get_assertion(&options, None)
        .unwrap()
        .response(0)
        .unwrap();
    assert_eq!(
        serde_json::to_value(&response.client_extension_results).unwrap(),
        json!({"getCredBlob": base64url_encode(b"small blob")})
    );
    let asserted = AuthenticatorData::from_bytes(&response.response.authenticator_data).unwrap();
    assert!(
        format!("{:?}", asserted.extensions).contains("thirdPartyPayment"),
        "{:?}",
        asserted.extensions
    );
}

/// Counts request_uv calls, answers them with `allow`, gives `pin` when asked.
struct UvUser {
    allow: bool,
    asked_uv: Rc<Cell<u32>>,
    asked_pin: Rc<Cell<u32>>,
}

impl UserInteraction for UvUser {
    fn request_uv(&mut self, _: Permissions, _: Option<&str>) -> bool {
        self.asked_uv.set(self.asked_uv.get() + 1);
        self.allow
    }

    fn request_pin(&mut self, _: Permissions, _: Option<&str>) -> Option<Zeroizing<String>> {
        self.asked_pin.set(self.asked_pin.get() + 1);
        Some(Zeroizing::new(PIN.to_owned()))
    }
}

#[test]
fn built_in_uv_is_preferred_to_the_pin_and_falls_back_to_it() {
    use ctap_virtual::{Features, Finger, FingerprintSensor};
    // The simulated fingerprint sensor, a PIN, and one enrolled finger.
    let sensor = FingerprintSensor::new();
    let authenticator = authenticator(Config::default());
    authenticator.with_device(|d| {
        d.set_features(Features::default().with_fingerprint(Some(sensor.clone())))
    });
    let mut setup = client(&authenticator, Some(PIN));
    set_pin(&mut setup);
    let ctap = setup.ctap2().unwrap();
    let token = ClientPin::new(ctap)
        .unwrap()
        .get_pin_token(PIN, Permissions::BIO_ENROLLMENT, None)
        .unwrap();
    let mut bio = ctap2_client::FpBioEnrollment::new(ctap, Some(token)).unwrap();
    let mut enrollment = bio.enroll(None);
    while !matches!(
        enrollment
            .capture(ctap_device::CallOptions::default())
            .unwrap(),
        ctap2_client::Captured::Enrolled(_)
    ) {}

    let (asked_uv, asked_pin) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let user = |allow| UvUser {
        allow,
        asked_uv: asked_uv.clone(),
        asked_pin: asked_pin.clone(),
    };
    // UV allowed: a token from the sensor (getPinUvAuthTokenUsingUvWithPermissions),
    // no PIN asked.
    let mut client = Fido2Client::new(
        authenticator.open_device().unwrap(),
        DefaultClientDataCollector::new(ORIGIN),
        user(true),
    )
    .unwrap();
    let touches = sensor.touches();
    let registration = client.make_credential(&creation(json!({})), None).unwrap();
    assert_eq!(
        registration.response.authenticator_data[32] & 0x04,
        0x04,
        "UV"
    );
    assert_eq!((asked_uv.get(), asked_pin.get()), (1, 0));
    assert!(sensor.touches() > touches);
    // The user declines UV: the PIN instead.
    let mut client = Fido2Client::new(
        authenticator.open_device().unwrap(),
        DefaultClientDataCollector::new(ORIGIN),
        user(false),
    )
    .unwrap();
    let response = client
        .get_assertion(
            &request(json!({"allowCredentials": allow(&registration)})),
            None,
        )
        .unwrap()
        .response(0)
        .unwrap();
    assert_eq!(response.response.authenticator_data[32] & 0x04, 0x04);
    assert_eq!((asked_uv.get(), asked_pin.get()), (2, 1));
    // A finger that does not match until UV blocks: UV_BLOCKED falls back to the PIN
    // (python-fido2's retry), after the sensor's tries.
    sensor.set_default(Finger::NoMatch);
    let mut client = Fido2Client::new(
        authenticator.open_device().unwrap(),
        DefaultClientDataCollector::new(ORIGIN),
        user(true),
    )
    .unwrap();
    // Each try the sensor refuses is UV_INVALID (CTAP 2.1 §6.5.5.7.3); once its
    // retries are used up the key answers UV_BLOCKED and the client falls back to the
    // PIN (python-fido2's retry), within MAX_UV_RETRIES + 1 operations.
    let options = request(json!({"allowCredentials": allow(&registration)}));
    let mut invalid = 0;
    let response = loop {
        match client.get_assertion(&options, None) {
            Ok(selection) => break selection.response(0).unwrap(),
            Err(error) => {
                assert_eq!(
                    error.to_string(),
                    "CTAP error: 0x3F - UV_INVALID",
                    "only UV_INVALID before the fallback"
                );
                invalid += 1;
                assert!(
                    invalid <= ctap_virtual::MAX_UV_RETRIES,
                    "no fallback to the PIN"
                );
            }
        }
    };
    assert!(invalid >= 1);
    assert_eq!(asked_pin.get(), 2, "the PIN after UV_BLOCKED");
    assert_eq!(response.response.authenticator_data[32] & 0x04, 0x04);
}
