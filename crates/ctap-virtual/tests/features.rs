//! The optional CTAP 2.1/2.2 features of the virtual authenticator, on simulated
//! time through CTAPHID: authenticatorLargeBlobs (CTAP 2.1 §6.10), the largeBlobKey
//! (§12.3), credBlob (§12.2), minPinLength (§12.4) and thirdPartyPayment (CTAP 2.2
//! §12.9) extensions, setMinPINLength's RP IDs (§6.11.4), and what getInfo says of
//! them (§6.4). Each test names the spec step it checks.
#![allow(clippy::too_many_lines)]

mod support;

use ctap_types::StatusCode;
use ctap_virtual::{Authenticator, EnterpriseAttestation, Features, Finger, FingerprintSensor};
use ctap2_proto::cbor::{MapBuilder, Value};
use ctap2_proto::management::{CredentialManagementParams, SetMinPinLengthParams};
use ctap2_proto::pin::{Permissions, PinProtocol};
use ctap2_proto::*;
use support::features_host::*;

/// The serialized empty array: h'80' || LEFT(SHA-256(h'80'), 16) (§6.10.2).
const EMPTY_ARRAY: [u8; 17] = [
    0x80, 0x76, 0xbe, 0x8b, 0x52, 0x8d, 0x00, 0x75, 0xf7, 0xaa, 0xe9, 0x8d, 0x6f, 0xa5, 0x7a, 0x6d,
    0x3c,
];
/// maxMsgSize - 64 at 64-byte reports (7609 - 64).
const MAX_FRAGMENT: usize = 7545;

fn blobs(
    get: Option<u64>,
    set: Option<&[u8]>,
    offset: u64,
    length: Option<u64>,
) -> LargeBlobsRequest {
    LargeBlobsRequest {
        get,
        set: set.map(<[u8]>::to_vec),
        offset,
        length,
        pin_uv_auth_param: None,
        pin_uv_auth_protocol: None,
    }
}

/// A serialized array of `entries` with its checksum.
fn serialized(entries: Vec<Value>) -> Vec<u8> {
    let mut data = Value::Array(entries).to_vec();
    let checksum = sha256(&data);
    data.extend_from_slice(&checksum[..16]);
    data
}

/// pinUvAuthParam of a largeBlobs set (§6.10.2 step 4.5.4).
fn lbw_param(token: &[u8], offset: u32, set: &[u8]) -> Vec<u8> {
    let mut message = vec![0xFF; 32];
    message.extend_from_slice(&[0x0C, 0x00]);
    message.extend_from_slice(&offset.to_le_bytes());
    message.extend_from_slice(&sha256(set));
    PinProtocol::Two.authenticate(token, &message)
}

fn read_all(host: &mut Host) -> Vec<u8> {
    let reply: LargeBlobsResponse = host
        .call(0x0C, &blobs(Some(MAX_FRAGMENT as u64), None, 0, None))
        .ok();
    reply.config.unwrap()
}

#[test]
fn get_info_advertises_each_feature_on_and_nothing_off() {
    // §6.4: every member the features bring, with the configured limits.
    let mut host = Host::new(config());
    let info = host.info();
    assert_eq!(info.option("largeBlobs"), Some(true));
    assert_eq!(info.max_serialized_large_blob_array, Some(4096));
    assert_eq!(info.max_cred_blob_length, Some(32));
    assert_eq!(info.max_rpids_for_set_min_pin_length, Some(8));
    for name in [
        "largeBlobKey",
        "credBlob",
        "minPinLength",
        "thirdPartyPayment",
    ] {
        assert!(
            info.extensions.iter().any(|e| e == name),
            "{name} in {:?}",
            info.extensions
        );
    }
    // Limits are clamped to the spec's minimums and this crate's caps.
    host.device.set_features(
        Features::default()
            .with_max_serialized_large_blob_array(10)
            .with_max_cred_blob_length(1 << 20),
    );
    let info = host.info();
    assert_eq!(info.max_serialized_large_blob_array, Some(1024));
    assert_eq!(info.max_cred_blob_length, Some(256));
    // Off: neither advertised nor accepted.
    host.device.set_features(Features::none());
    let info = host.info();
    assert_eq!(info.option("largeBlobs"), None);
    assert_eq!(info.max_serialized_large_blob_array, None);
    assert_eq!(info.max_cred_blob_length, None);
    assert_eq!(info.max_rpids_for_set_min_pin_length, Some(0));
    for name in ["largeBlobKey", "credBlob", "thirdPartyPayment"] {
        assert!(!info.extensions.iter().any(|e| e == name), "{name}");
    }
    assert_eq!(
        host.call(0x0C, &blobs(Some(10), None, 0, None)).status,
        StatusCode::INVALID_COMMAND
    );
    // largeBlobKey is then an unknown extension: ignored, no key.
    let mut request = resident(make_request("example.com", 1));
    request.extensions = Some(vec![("largeBlobKey".into(), Value::Bool(true))]);
    let response: MakeCredentialResponse = host.make_credential(&request).ok();
    assert_eq!(response.large_blob_key, None);
}

#[test]
fn large_blob_array_starts_empty_is_written_in_fragments_and_persists() {
    let mut host = Host::new(config());
    // §6.10.2: the initial array is the empty CBOR array and its checksum.
    assert_eq!(read_all(&mut host), EMPTY_ARRAY);
    // Step 3.5: at most `get` bytes from `offset`.
    let reply: LargeBlobsResponse = host.call(0x0C, &blobs(Some(5), None, 3, None)).ok();
    assert_eq!(reply.config.unwrap(), EMPTY_ARRAY[3..8]);
    // Reading at the very end gives an empty fragment (step 3.4 allows offset = length).
    let reply: LargeBlobsResponse = host.call(0x0C, &blobs(Some(5), None, 17, None)).ok();
    assert_eq!(reply.config.unwrap(), b"");

    // Step 4: no PIN set, so no auth needed; two fragments.
    let data = serialized(vec![Value::Map(vec![(
        Value::int(1),
        Value::bytes(&[7; 100]),
    )])]);
    let (first, second) = data.split_at(60);
    let reply = host.call(0x0C, &blobs(None, Some(first), 0, Some(data.len() as u64)));
    assert_eq!(reply.status, StatusCode::SUCCESS);
    // Not committed until complete (step 4.10).
    assert_eq!(read_all(&mut host), EMPTY_ARRAY);
    let reply = host.call(0x0C, &blobs(None, Some(second), 60, None));
    assert_eq!(reply.status, StatusCode::SUCCESS);
    assert_eq!(read_all(&mut host), data);
    assert_eq!(host.device.large_blob_array(), data);

    // Persisted in the state file and loaded again.
    let bytes = host.device.state_bytes();
    let mut other = Authenticator::new(config());
    other.load_state(&bytes).unwrap();
    assert_eq!(other.large_blob_array(), data);

    // A power cycle in the middle of a write loses the write (volatile), not the array.
    let replacement = serialized(vec![]);
    let reply = host.call(
        0x0C,
        &blobs(
            None,
            Some(&replacement[..5]),
            0,
            Some(replacement.len() as u64),
        ),
    );
    assert_eq!(reply.status, StatusCode::SUCCESS);
    host.power_cycle(std::time::Duration::from_secs(1));
    let reply = host.call(0x0C, &blobs(None, Some(&replacement[5..]), 5, None));
    assert_eq!(reply.status, StatusCode::INVALID_SEQ);
    assert_eq!(read_all(&mut host), data);

    // authenticatorReset (§6.6) brings the initial array back.
    assert_eq!(host.ctap(0x07, &[]).status, StatusCode::SUCCESS);
    assert_eq!(read_all(&mut host), EMPTY_ARRAY);
}

#[test]
fn large_blobs_errors_follow_the_steps() {
    let mut host = Host::new(config());
    let status = |host: &mut Host, request: &LargeBlobsRequest| host.call(0x0C, request).status;
    // Step 1: offset missing.
    let no_offset = MapBuilder::new().with(1, Value::int(10)).build().to_vec();
    assert_eq!(
        host.ctap(0x0C, &no_offset).status,
        StatusCode::INVALID_PARAMETER
    );
    // Step 2: both get and set, or neither.
    assert_eq!(
        status(&mut host, &blobs(Some(1), Some(b"x"), 0, None)),
        StatusCode::INVALID_PARAMETER
    );
    assert_eq!(
        status(&mut host, &blobs(None, None, 0, None)),
        StatusCode::INVALID_PARAMETER
    );
    // Step 3.1: get with length.
    assert_eq!(
        status(&mut host, &blobs(Some(1), None, 0, Some(17))),
        StatusCode::INVALID_PARAMETER
    );
    // Step 3.2: get with pinUvAuthParam.
    let mut with_auth = blobs(Some(1), None, 0, None);
    with_auth.pin_uv_auth_param = Some(vec![0; 32]);
    assert_eq!(status(&mut host, &with_auth), StatusCode::INVALID_PARAMETER);
    // Step 3.3: get beyond maxFragmentLength.
    assert_eq!(
        status(
            &mut host,
            &blobs(Some(MAX_FRAGMENT as u64 + 1), None, 0, None)
        ),
        StatusCode::INVALID_LENGTH
    );
    // Step 3.4: offset past the end of the array.
    assert_eq!(
        status(&mut host, &blobs(Some(1), None, 18, None)),
        StatusCode::INVALID_PARAMETER
    );
    // Step 4.1: a fragment over maxFragmentLength.
    let big = vec![0; MAX_FRAGMENT + 1];
    assert_eq!(
        status(&mut host, &blobs(None, Some(&big), 0, Some(4000))),
        StatusCode::INVALID_LENGTH
    );
    // Step 4.2.1: the first fragment without length.
    assert_eq!(
        status(&mut host, &blobs(None, Some(b"x"), 0, None)),
        StatusCode::INVALID_PARAMETER
    );
    // Step 4.2.2: more than maxSerializedLargeBlobArray.
    assert_eq!(
        status(&mut host, &blobs(None, Some(b"x"), 0, Some(4097))),
        StatusCode::LARGE_BLOB_STORAGE_FULL
    );
    // Step 4.2.3: less than 17 bytes.
    assert_eq!(
        status(&mut host, &blobs(None, Some(b"x"), 0, Some(16))),
        StatusCode::INVALID_PARAMETER
    );
    // Step 4.4: nothing started, so any offset but 0 is out of sequence.
    assert_eq!(
        status(&mut host, &blobs(None, Some(b"x"), 5, None)),
        StatusCode::INVALID_SEQ
    );
    let data = serialized(vec![Value::int(1)]);
    assert_eq!(
        status(
            &mut host,
            &blobs(None, Some(&data[..10]), 0, Some(data.len() as u64))
        ),
        StatusCode::SUCCESS
    );
    assert_eq!(
        status(&mut host, &blobs(None, Some(&data[10..]), 11, None)),
        StatusCode::INVALID_SEQ
    );
    // Step 4.3: length on a later fragment.
    assert_eq!(
        status(&mut host, &blobs(None, Some(&data[10..]), 10, Some(18))),
        StatusCode::INVALID_PARAMETER
    );
    // Step 4.6: past expectedLength.
    assert_eq!(
        status(&mut host, &blobs(None, Some(&[0; 20]), 10, None)),
        StatusCode::INVALID_PARAMETER
    );
    // Step 4.10: a wrong checksum is INTEGRITY_FAILURE and nothing is stored.
    let mut damaged = data.clone();
    *damaged.last_mut().unwrap() ^= 1;
    assert_eq!(
        status(
            &mut host,
            &blobs(None, Some(&damaged), 0, Some(damaged.len() as u64))
        ),
        StatusCode::INTEGRITY_FAILURE
    );
    assert_eq!(read_all(&mut host), EMPTY_ARRAY);
    // Not even CBOR, and wrong types: errors, not panics.
    assert_ne!(host.ctap(0x0C, &[0xA1]).status, StatusCode::SUCCESS);
    let wrong = MapBuilder::new()
        .with(1, Value::text("ten"))
        .with(3, Value::int(0))
        .build()
        .to_vec();
    assert_eq!(
        host.ctap(0x0C, &wrong).status,
        StatusCode::CBOR_UNEXPECTED_TYPE
    );
}

#[test]
fn large_blob_writes_need_a_token_with_lbw_once_a_pin_is_set() {
    let mut host = Host::new(config());
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let data = serialized(vec![Value::bytes(b"secret stuff")]);
    let mut request = blobs(None, Some(&data), 0, Some(data.len() as u64));
    // Step 4.5.1: no pinUvAuthParam.
    assert_eq!(host.call(0x0C, &request).status, StatusCode::PUAT_REQUIRED);
    // Step 4.5.2: a param without its protocol.
    let token = host
        .token(
            PinProtocol::Two,
            "1234",
            Permissions::LARGE_BLOB_WRITE,
            None,
        )
        .unwrap();
    request.pin_uv_auth_param = Some(lbw_param(&token, 0, &data));
    assert_eq!(
        host.call(0x0C, &request).status,
        StatusCode::MISSING_PARAMETER
    );
    // Step 4.5.4: a param over another offset does not verify.
    request.pin_uv_auth_protocol = Some(2);
    request.pin_uv_auth_param = Some(lbw_param(&token, 1, &data));
    assert_eq!(
        host.call(0x0C, &request).status,
        StatusCode::PIN_AUTH_INVALID
    );
    // Step 4.5.5: a token without lbw.
    let mc_token = host
        .token(
            PinProtocol::Two,
            "1234",
            Permissions::MAKE_CREDENTIAL,
            Some("x.example"),
        )
        .unwrap();
    request.pin_uv_auth_param = Some(lbw_param(&mc_token, 0, &data));
    assert_eq!(
        host.call(0x0C, &request).status,
        StatusCode::PIN_AUTH_INVALID
    );
    // With lbw: written.
    let token = host
        .token(
            PinProtocol::Two,
            "1234",
            Permissions::LARGE_BLOB_WRITE,
            None,
        )
        .unwrap();
    request.pin_uv_auth_param = Some(lbw_param(&token, 0, &data));
    assert_eq!(host.call(0x0C, &request).status, StatusCode::SUCCESS);
    assert_eq!(read_all(&mut host), data);
    // Reading never needs a token.
    assert_eq!(read_all(&mut host), data);
    // With large blobs off, lbw is not a permission this authenticator grants.
    host.device.set_features(Features::none());
    assert_eq!(
        host.token(
            PinProtocol::Two,
            "1234",
            Permissions::LARGE_BLOB_WRITE,
            None
        ),
        Err(StatusCode::UNAUTHORIZED_PERMISSION)
    );
}

fn with_extensions(
    mut request: MakeCredentialRequest,
    extensions: Vec<(&str, Value)>,
) -> MakeCredentialRequest {
    request.extensions = Some(extensions.into_iter().map(|(k, v)| (k.into(), v)).collect());
    request
}

fn assert_with(
    rp: &str,
    allow: Option<&[u8]>,
    extensions: Vec<(&str, Value)>,
) -> GetAssertionRequest {
    let mut request = assertion_request(rp, allow);
    request.extensions = Some(extensions.into_iter().map(|(k, v)| (k.into(), v)).collect());
    request
}

#[test]
fn large_blob_key_for_discoverable_credentials_only() {
    let mut host = Host::new(config());
    let request = with_extensions(
        resident(make_request("example.com", 1)),
        vec![("largeBlobKey", Value::Bool(true))],
    );
    let made: MakeCredentialResponse = host.make_credential(&request).ok();
    let key = made.large_blob_key.clone().unwrap();
    assert_eq!(key.len(), 32);
    let id = made
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;
    // §12.3: the key is not an authenticator extension output.
    assert_eq!(output(&made.auth_data, "largeBlobKey"), None);
    // getAssertion with largeBlobKey: true returns the same key.
    let reply: GetAssertionResponse = host
        .get_assertion(&assert_with(
            "example.com",
            Some(&id),
            vec![("largeBlobKey", Value::Bool(true))],
        ))
        .ok();
    assert_eq!(reply.large_blob_key, Some(key.clone()));
    // Not asked for: not returned.
    let reply: GetAssertionResponse = host
        .get_assertion(&assertion_request("example.com", Some(&id)))
        .ok();
    assert_eq!(reply.large_blob_key, None);
    // A credential made without the extension has no key.
    let plain: MakeCredentialResponse = host
        .make_credential(&resident(make_request("example.com", 2)))
        .ok();
    assert_eq!(plain.large_blob_key, None);
    let plain_id = plain
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;
    let reply: GetAssertionResponse = host
        .get_assertion(&assert_with(
            "example.com",
            Some(&plain_id),
            vec![("largeBlobKey", Value::Bool(true))],
        ))
        .ok();
    assert_eq!(reply.large_blob_key, None);
    // §12.3: only `true`, and only with rk: CTAP2_ERR_INVALID_OPTION otherwise.
    let not_rk = with_extensions(
        make_request("example.com", 3),
        vec![("largeBlobKey", Value::Bool(true))],
    );
    assert_eq!(
        host.make_credential(&not_rk).status,
        StatusCode::INVALID_OPTION
    );
    let false_input = with_extensions(
        resident(make_request("example.com", 3)),
        vec![("largeBlobKey", Value::Bool(false))],
    );
    assert_eq!(
        host.make_credential(&false_input).status,
        StatusCode::INVALID_OPTION
    );
    let reply = host.get_assertion(&assert_with(
        "example.com",
        Some(&id),
        vec![("largeBlobKey", Value::Bool(false))],
    ));
    assert_eq!(reply.status, StatusCode::INVALID_OPTION);
    let wrong_type = with_extensions(
        resident(make_request("example.com", 3)),
        vec![("largeBlobKey", Value::int(1))],
    );
    assert_eq!(
        host.make_credential(&wrong_type).status,
        StatusCode::CBOR_UNEXPECTED_TYPE
    );
    // The flag survives the state file.
    let mut other = Host::with({
        let mut device = Authenticator::new(config());
        device.load_state(&host.device.state_bytes()).unwrap();
        device
    });
    let reply: GetAssertionResponse = other
        .get_assertion(&assert_with(
            "example.com",
            Some(&id),
            vec![("largeBlobKey", Value::Bool(true))],
        ))
        .ok();
    assert_eq!(reply.large_blob_key, Some(key.clone()));
    // §6.8.4: enumerateCredentials returns it (0x0B).
    assert_eq!(other.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let token = other
        .token(
            PinProtocol::Two,
            "1234",
            Permissions::CREDENTIAL_MANAGEMENT,
            None,
        )
        .unwrap();
    let mut cm = CredentialManagementRequest {
        sub_command: CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN,
        sub_command_params: Some(
            CredentialManagementParams {
                rp_id_hash: Some(sha256(b"example.com").to_vec()),
                ..CredentialManagementParams::default()
            }
            .to_value(),
        ),
        pin_uv_auth_protocol: Some(2),
        pin_uv_auth_param: None,
    };
    cm.pin_uv_auth_param = Some(PinProtocol::Two.authenticate(&token, &cm.auth_message()));
    let first: CredentialManagementResponse = other.call(0x0A, &cm).ok();
    let second: CredentialManagementResponse = other
        .call(
            0x0A,
            &CredentialManagementRequest {
                sub_command: CredMgmtSubCommand::ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL,
                sub_command_params: None,
                pin_uv_auth_protocol: None,
                pin_uv_auth_param: None,
            },
        )
        .ok();
    let keys: Vec<_> = [first, second]
        .into_iter()
        .map(|c| (c.credential_id.unwrap().id, c.large_blob_key))
        .collect();
    assert!(keys.contains(&(id, Some(key))), "{keys:?}");
    assert!(keys.contains(&(plain_id, None)), "{keys:?}");
}

#[test]
fn cred_blob_is_stored_with_discoverable_credentials_and_returned_on_request() {
    let mut host = Host::new(config());
    let blob = b"thirty-two bytes of credBlob!!!!".to_vec();
    assert_eq!(blob.len(), 32);
    // §12.2: stored when it fits maxCredBlobLength: output credBlob: true.
    let made: MakeCredentialResponse = host
        .make_credential(&with_extensions(
            resident(make_request("example.com", 1)),
            vec![("credBlob", Value::Bytes(blob.clone()))],
        ))
        .ok();
    assert_eq!(output(&made.auth_data, "credBlob"), Some(Value::Bool(true)));
    let id = made
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;
    // Too long: not stored, output false.
    let made_long: MakeCredentialResponse = host
        .make_credential(&with_extensions(
            resident(make_request("example.com", 2)),
            vec![("credBlob", Value::Bytes(vec![1; 33]))],
        ))
        .ok();
    assert_eq!(
        output(&made_long.auth_data, "credBlob"),
        Some(Value::Bool(false))
    );
    let long_id = made_long
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;
    // A non-discoverable credential has nowhere to keep it: false.
    let made_nr: MakeCredentialResponse = host
        .make_credential(&with_extensions(
            make_request("example.com", 3),
            vec![("credBlob", Value::Bytes(vec![1; 4]))],
        ))
        .ok();
    assert_eq!(
        output(&made_nr.auth_data, "credBlob"),
        Some(Value::Bool(false))
    );
    // getAssertion credBlob: true returns the blob, or an empty byte string.
    let ask = |id: &[u8]| {
        assert_with(
            "example.com",
            Some(id),
            vec![("credBlob", Value::Bool(true))],
        )
    };
    let reply: GetAssertionResponse = host.get_assertion(&ask(&id)).ok();
    assert_eq!(
        output(&reply.auth_data, "credBlob"),
        Some(Value::Bytes(blob.clone()))
    );
    let reply: GetAssertionResponse = host.get_assertion(&ask(&long_id)).ok();
    assert_eq!(
        output(&reply.auth_data, "credBlob"),
        Some(Value::Bytes(vec![]))
    );
    // Not asked: no output.
    let reply: GetAssertionResponse = host
        .get_assertion(&assertion_request("example.com", Some(&id)))
        .ok();
    assert_eq!(output(&reply.auth_data, "credBlob"), None);
    // Wrong input type.
    let wrong = with_extensions(
        resident(make_request("example.com", 4)),
        vec![("credBlob", Value::Bool(true))],
    );
    assert_eq!(
        host.make_credential(&wrong).status,
        StatusCode::CBOR_UNEXPECTED_TYPE
    );
    // The blob survives the state file.
    let mut device = Authenticator::new(config());
    device.load_state(&host.device.state_bytes()).unwrap();
    let mut other = Host::with(device);
    let reply: GetAssertionResponse = other.get_assertion(&ask(&id)).ok();
    assert_eq!(
        output(&reply.auth_data, "credBlob"),
        Some(Value::Bytes(blob))
    );
}

fn set_min_pin_length(
    host: &mut Host,
    token: Option<&[u8]>,
    params: SetMinPinLengthParams,
) -> StatusCode {
    let mut request = ConfigRequest {
        sub_command: ConfigSubCommand::SET_MIN_PIN_LENGTH,
        sub_command_params: Some(params.to_value()),
        pin_uv_auth_protocol: None,
        pin_uv_auth_param: None,
    };
    if let Some(token) = token {
        request.pin_uv_auth_protocol = Some(2);
        request.pin_uv_auth_param =
            Some(PinProtocol::Two.authenticate(token, &request.auth_message()));
    }
    host.call(0x0D, &request).status
}

#[test]
fn min_pin_length_goes_to_the_listed_rps_only() {
    let mut device = Authenticator::new(config());
    device.set_features(
        Features::default()
            .with_max_rpids_for_set_min_pin_length(2)
            .with_min_pin_length_rpids(vec!["vendor.example".into()]),
    );
    let mut host = Host::with(device);
    let ask = |rp: &str, n| {
        with_extensions(
            resident(make_request(rp, n)),
            vec![("minPinLength", Value::Bool(true))],
        )
    };
    // §12.4: a pre-configured RP learns the minimum PIN length.
    let made: MakeCredentialResponse = host.make_credential(&ask("vendor.example", 1)).ok();
    assert_eq!(output(&made.auth_data, "minPinLength"), Some(Value::int(4)));
    // Any other RP: no output at all.
    let made: MakeCredentialResponse = host.make_credential(&ask("other.example", 2)).ok();
    assert_eq!(output(&made.auth_data, "minPinLength"), None);
    // §6.11.4: setMinPINLength adds RPs, up to maxRPIDsForSetMinPINLength.
    let too_many = SetMinPinLengthParams {
        new_min_pin_length: Some(6),
        min_pin_length_rpids: Some(vec![
            "a.example".into(),
            "b.example".into(),
            "c.example".into(),
        ]),
        force_change_pin: None,
    };
    assert_eq!(
        set_min_pin_length(&mut host, None, too_many),
        StatusCode::KEY_STORE_FULL
    );
    // A refused command changed nothing (not even the length).
    assert_eq!(host.info().min_pin_length, Some(4));
    let two = SetMinPinLengthParams {
        new_min_pin_length: Some(6),
        min_pin_length_rpids: Some(vec!["other.example".into(), "b.example".into()]),
        force_change_pin: None,
    };
    assert_eq!(
        set_min_pin_length(&mut host, None, two),
        StatusCode::SUCCESS
    );
    let made: MakeCredentialResponse = host.make_credential(&ask("other.example", 3)).ok();
    assert_eq!(output(&made.auth_data, "minPinLength"), Some(Value::int(6)));
    // The configured RP stays readable.
    let made: MakeCredentialResponse = host.make_credential(&ask("vendor.example", 4)).ok();
    assert_eq!(output(&made.auth_data, "minPinLength"), Some(Value::int(6)));
    // With a PIN, the command needs the acfg token (§6.11.1); the list persists.
    assert_eq!(
        host.set_pin(PinProtocol::Two, "123456"),
        StatusCode::SUCCESS
    );
    let token = host
        .token(
            PinProtocol::Two,
            "123456",
            Permissions::AUTHENTICATOR_CONFIG,
            None,
        )
        .unwrap();
    let replace = SetMinPinLengthParams {
        new_min_pin_length: None,
        min_pin_length_rpids: Some(vec!["third.example".into()]),
        force_change_pin: None,
    };
    assert_eq!(
        set_min_pin_length(&mut host, Some(&token), replace),
        StatusCode::SUCCESS
    );
    let mut device = Authenticator::new(config());
    device.load_state(&host.device.state_bytes()).unwrap();
    let mut other = Host::with(device);
    let token = other
        .token(
            PinProtocol::Two,
            "123456",
            Permissions::MAKE_CREDENTIAL,
            Some("third.example"),
        )
        .unwrap();
    let mut request = ask("third.example", 5);
    request.pin_uv_auth_protocol = Some(2);
    request.pin_uv_auth_param =
        Some(PinProtocol::Two.authenticate(&token, &request.client_data_hash));
    let made: MakeCredentialResponse = other.make_credential(&request).ok();
    assert_eq!(output(&made.auth_data, "minPinLength"), Some(Value::int(6)));
    // The list set before was replaced.
    let not_listed = with_extensions(
        make_request("b.example", 6),
        vec![("minPinLength", Value::Bool(true))],
    );
    let made: MakeCredentialResponse = other.make_credential(&not_listed).ok();
    assert_eq!(output(&made.auth_data, "minPinLength"), None);
}

#[test]
fn third_party_payment_is_remembered_per_credential() {
    let mut host = Host::new(config());
    let payment = with_extensions(
        resident(make_request("bank.example", 1)),
        vec![("thirdPartyPayment", Value::Bool(true))],
    );
    let made: MakeCredentialResponse = host.make_credential(&payment).ok();
    let id = made
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;
    let plain: MakeCredentialResponse = host
        .make_credential(&resident(make_request("bank.example", 2)))
        .ok();
    let plain_id = plain
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;
    // CTAP 2.2 §12.9: getAssertion's output says whether the credential is enabled.
    let ask = |id: &[u8]| {
        assert_with(
            "bank.example",
            Some(id),
            vec![("thirdPartyPayment", Value::Bool(true))],
        )
    };
    let reply: GetAssertionResponse = host.get_assertion(&ask(&id)).ok();
    assert_eq!(
        output(&reply.auth_data, "thirdPartyPayment"),
        Some(Value::Bool(true))
    );
    let reply: GetAssertionResponse = host.get_assertion(&ask(&plain_id)).ok();
    assert_eq!(
        output(&reply.auth_data, "thirdPartyPayment"),
        Some(Value::Bool(false))
    );
    let reply: GetAssertionResponse = host
        .get_assertion(&assertion_request("bank.example", Some(&id)))
        .ok();
    assert_eq!(output(&reply.auth_data, "thirdPartyPayment"), None);
}

#[test]
fn without_a_sensor_there_is_no_built_in_uv() {
    let mut host = Host::new(config());
    let info = host.info();
    for option in ["uv", "bioEnroll", "uvBioEnroll", "uvAcfg"] {
        assert_eq!(info.option(option), None, "{option}");
    }
    assert_eq!(info.uv_modality, None);
    assert_eq!(
        host.bio(None, BioSubCommand::GET_FINGERPRINT_SENSOR_INFO, None)
            .status,
        StatusCode::INVALID_COMMAND
    );
    assert_eq!(host.uv_retries().status, StatusCode::INVALID_SUBCOMMAND);
    assert_eq!(
        host.uv_token(PinProtocol::Two, Permissions::GET_ASSERTION, Some("x")),
        Err(StatusCode::INVALID_SUBCOMMAND)
    );
}

#[test]
fn bio_enrollment_sample_by_sample_with_scripted_statuses() {
    let sensor = FingerprintSensor::new();
    let (mut host, _) = bio_host(&sensor);
    // §6.4: a sensor but no finger yet: uv and bioEnroll false, uvBioEnroll true.
    let info = host.info();
    assert_eq!(info.option("uv"), Some(false));
    assert_eq!(info.option("bioEnroll"), Some(false));
    assert_eq!(info.option("uvBioEnroll"), Some(true));
    assert_eq!(info.uv_modality, Some(2));
    assert_eq!(info.preferred_platform_uv_attempts, Some(3));
    // getModality and getFingerprintSensorInfo need no token (§6.7.3, §6.7.4).
    let modality: BioEnrollmentResponse = host
        .call(
            0x09,
            &BioEnrollmentRequest {
                get_modality: Some(true),
                ..BioEnrollmentRequest::default()
            },
        )
        .ok();
    assert_eq!(modality.modality, Some(1));
    let sensor_info: BioEnrollmentResponse = host
        .bio(None, BioSubCommand::GET_FINGERPRINT_SENSOR_INFO, None)
        .ok();
    assert_eq!(sensor_info.fingerprint_kind, Some(1));
    assert_eq!(sensor_info.max_capture_samples_required_for_enroll, Some(4));
    assert_eq!(sensor_info.max_template_friendly_name, Some(64));
    // Enrollment needs a token with be: none, then one without be.
    assert_eq!(
        host.bio(None, BioSubCommand::ENROLL_BEGIN, None).status,
        StatusCode::PUAT_REQUIRED
    );
    let mc_token = host
        .token(
            PinProtocol::Two,
            "1234",
            Permissions::MAKE_CREDENTIAL,
            Some("x"),
        )
        .unwrap();
    assert_eq!(
        host.bio(Some(&mc_token), BioSubCommand::ENROLL_BEGIN, None)
            .status,
        StatusCode::PIN_AUTH_INVALID
    );
    let token = host
        .token(PinProtocol::Two, "1234", Permissions::BIO_ENROLLMENT, None)
        .unwrap();
    // §6.7.5: each sample is a touch (UPNEEDED keep-alives) and the script decides its
    // status; only good samples count.
    for finger in [
        Finger::Sample(0x05),
        Finger::NoMatch,
        Finger::Match,
        Finger::Match,
        Finger::Match,
    ] {
        sensor.push(finger);
    }
    let begin = host.bio(Some(&token), BioSubCommand::ENROLL_BEGIN, None);
    assert!(!begin.keepalives.is_empty(), "a touch-wait");
    let begin: BioEnrollmentResponse = begin.ok();
    assert_eq!(
        begin.last_enroll_sample_status,
        Some(SampleStatus::TOO_FAST)
    );
    assert_eq!(begin.remaining_samples, Some(4));
    let id = begin.template_id.unwrap();
    let next = |host: &mut Host, id: &[u8]| {
        host.bio(
            Some(&token),
            BioSubCommand::ENROLL_CAPTURE_NEXT_SAMPLE,
            Some(BioEnrollmentParams {
                template_id: Some(id.to_vec()),
                ..BioEnrollmentParams::default()
            }),
        )
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let reply: BioEnrollmentResponse = next(&mut host, &id).ok();
        assert_eq!(reply.template_id, None, "only enrollBegin returns the id");
        statuses.push((
            reply.last_enroll_sample_status.unwrap(),
            reply.remaining_samples.unwrap(),
        ));
    }
    assert_eq!(
        statuses,
        [
            (SampleStatus::POOR_QUALITY, 4),
            (SampleStatus::GOOD, 3),
            (SampleStatus::GOOD, 2),
            (SampleStatus::GOOD, 1),
        ]
    );
    // Another template id is not the enrollment in progress.
    assert_eq!(next(&mut host, b"xx").status, StatusCode::INVALID_PARAMETER);
    let last: BioEnrollmentResponse = next(&mut host, &id).ok();
    assert_eq!(last.remaining_samples, Some(0));
    assert_eq!(sensor.touches(), 6);
    // Enrolled: uv and bioEnroll true; nothing left to capture.
    assert_eq!(host.info().option("uv"), Some(true));
    assert_eq!(host.info().option("bioEnroll"), Some(true));
    assert_eq!(next(&mut host, &id).status, StatusCode::INVALID_PARAMETER);

    // §6.7.7-6.7.9: enumerate, rename, remove.
    let list: BioEnrollmentResponse = host
        .bio(Some(&token), BioSubCommand::ENUMERATE_ENROLLMENTS, None)
        .ok();
    let infos = list.template_infos.unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].template_id, id);
    let rename = |name: &str, id: &[u8]| BioEnrollmentParams {
        template_id: Some(id.to_vec()),
        template_friendly_name: Some(name.into()),
        timeout_milliseconds: None,
    };
    assert_eq!(
        host.bio(
            Some(&token),
            BioSubCommand::SET_FRIENDLY_NAME,
            Some(rename("thumb", &id))
        )
        .status,
        StatusCode::SUCCESS
    );
    assert_eq!(
        host.bio(
            Some(&token),
            BioSubCommand::SET_FRIENDLY_NAME,
            Some(rename("x", b"no"))
        )
        .status,
        StatusCode::INVALID_OPTION
    );
    assert_eq!(
        host.bio(
            Some(&token),
            BioSubCommand::SET_FRIENDLY_NAME,
            Some(rename(&"n".repeat(65), &id))
        )
        .status,
        StatusCode::INVALID_LENGTH
    );
    // The names and fingers survive the state file.
    let mut device = Authenticator::new(config());
    device.set_features(Features::default().with_fingerprint(Some(sensor.clone())));
    device.load_state(&host.device.state_bytes()).unwrap();
    let mut other = Host::with(device);
    let token2 = other
        .token(PinProtocol::Two, "1234", Permissions::BIO_ENROLLMENT, None)
        .unwrap();
    let list: BioEnrollmentResponse = other
        .bio(Some(&token2), BioSubCommand::ENUMERATE_ENROLLMENTS, None)
        .ok();
    assert_eq!(
        list.template_infos.unwrap()[0].friendly_name.as_deref(),
        Some("thumb")
    );
    let remove = |id: &[u8]| BioEnrollmentParams {
        template_id: Some(id.to_vec()),
        ..BioEnrollmentParams::default()
    };
    assert_eq!(
        host.bio(
            Some(&token),
            BioSubCommand::REMOVE_ENROLLMENT,
            Some(remove(b"no"))
        )
        .status,
        StatusCode::INVALID_OPTION
    );
    assert_eq!(
        host.bio(
            Some(&token),
            BioSubCommand::REMOVE_ENROLLMENT,
            Some(remove(&id))
        )
        .status,
        StatusCode::SUCCESS
    );
    assert_eq!(
        host.bio(Some(&token), BioSubCommand::ENUMERATE_ENROLLMENTS, None)
            .status,
        StatusCode::INVALID_OPTION
    );
    assert_eq!(host.info().option("uv"), Some(false));
    // Unknown subcommand and modality.
    assert_eq!(
        host.bio(Some(&token), BioSubCommand(0x42), None).status,
        StatusCode::INVALID_SUBCOMMAND
    );
    let mut other_modality = BioEnrollmentRequest {
        modality: Some(2),
        sub_command: Some(BioSubCommand::ENUMERATE_ENROLLMENTS),
        ..BioEnrollmentRequest::default()
    };
    other_modality.pin_uv_auth_protocol = Some(2);
    assert_eq!(
        host.call(0x09, &other_modality).status,
        StatusCode::INVALID_PARAMETER
    );
}

#[test]
fn enrollment_is_cancelled_lost_at_power_down_and_bounded() {
    let sensor = FingerprintSensor::new();
    let (mut host, token) = bio_host(&sensor);
    let begin: BioEnrollmentResponse = host
        .bio(Some(&token), BioSubCommand::ENROLL_BEGIN, None)
        .ok();
    let id = begin.template_id.unwrap();
    let capture = BioEnrollmentParams {
        template_id: Some(id),
        ..BioEnrollmentParams::default()
    };
    assert_eq!(
        host.bio(None, BioSubCommand::CANCEL_CURRENT_ENROLLMENT, None)
            .status,
        StatusCode::SUCCESS
    );
    assert_eq!(
        host.bio(
            Some(&token),
            BioSubCommand::ENROLL_CAPTURE_NEXT_SAMPLE,
            Some(capture.clone())
        )
        .status,
        StatusCode::INVALID_PARAMETER
    );
    // A power cycle loses an enrollment in progress (volatile).
    let begin: BioEnrollmentResponse = host
        .bio(Some(&token), BioSubCommand::ENROLL_BEGIN, None)
        .ok();
    let capture = BioEnrollmentParams {
        template_id: begin.template_id,
        ..BioEnrollmentParams::default()
    };
    host.power_cycle(std::time::Duration::from_secs(1));
    let token = host
        .token(PinProtocol::Two, "1234", Permissions::BIO_ENROLLMENT, None)
        .unwrap();
    assert_eq!(
        host.bio(
            Some(&token),
            BioSubCommand::ENROLL_CAPTURE_NEXT_SAMPLE,
            Some(capture)
        )
        .status,
        StatusCode::INVALID_PARAMETER
    );
    // Five fingers fit; the sixth is FP_DATABASE_FULL.
    for _ in 0..5 {
        enroll(&mut host, &token);
    }
    assert_eq!(
        host.bio(Some(&token), BioSubCommand::ENROLL_BEGIN, None)
            .status,
        StatusCode::FP_DATABASE_FULL
    );
    // authenticatorReset forgets the fingers.
    assert_eq!(host.ctap(0x07, &[]).status, StatusCode::SUCCESS);
    assert_eq!(host.info().option("bioEnroll"), Some(false));
}

#[test]
fn built_in_uv_tokens_retries_blocking_and_the_pin_unblocks() {
    let sensor = FingerprintSensor::new();
    let (mut host, token) = bio_host(&sensor);
    // §6.5.5.7.3 step 5: no finger enrolled yet.
    assert_eq!(
        host.uv_token(
            PinProtocol::Two,
            Permissions::MAKE_CREDENTIAL,
            Some("example.com")
        ),
        Err(StatusCode::NOT_ALLOWED)
    );
    enroll(&mut host, &token);
    let retries: ClientPinResponse = host.uv_retries().ok();
    assert_eq!(retries.uv_retries, Some(8));
    // Steps 2-4: the parameters.
    let (key, _) = host.shared_secret(PinProtocol::Two);
    let mut request = ClientPinRequest::new(
        PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS,
        Some(2),
    );
    assert_eq!(
        host.client_pin(&request).status,
        StatusCode::MISSING_PARAMETER
    );
    request.key_agreement = Some(key);
    assert_eq!(
        host.client_pin(&request).status,
        StatusCode::MISSING_PARAMETER
    );
    request.permissions = Some(0);
    assert_eq!(
        host.client_pin(&request).status,
        StatusCode::INVALID_PARAMETER
    );
    // Step 4: be is granted (uvBioEnroll); pcmr with another permission is not.
    request.permissions = Some(Permissions::PCMR.0 | Permissions::GET_ASSERTION.0);
    assert_eq!(
        host.client_pin(&request).status,
        StatusCode::UNAUTHORIZED_PERMISSION
    );
    // "Undefined permissions present in the permissions parameter are ignored"
    // (steps 4 and 14): 0x80 alone asks the finger for a token without permissions.
    request.permissions = Some(0x80);
    assert_eq!(host.client_pin(&request).status, StatusCode::SUCCESS);
    request.pin_uv_auth_protocol = Some(3);
    assert_eq!(
        host.client_pin(&request).status,
        StatusCode::INVALID_PARAMETER
    );

    // A matching finger: a token with the UV flag's power.
    let touches = sensor.touches();
    let token = host
        .uv_token(
            PinProtocol::Two,
            Permissions::MAKE_CREDENTIAL,
            Some("example.com"),
        )
        .unwrap();
    assert_eq!(sensor.touches(), touches + 1);
    let mut request = resident(make_request("example.com", 1));
    request.pin_uv_auth_protocol = Some(2);
    request.pin_uv_auth_param =
        Some(PinProtocol::Two.authenticate(&token, &request.client_data_hash));
    let made: MakeCredentialResponse = host.make_credential(&request).ok();
    assert!(made.auth_data().unwrap().flags.contains(Flags::UV));

    // Wrong fingers use up uvRetries: UV_INVALID, the last UV_BLOCKED (steps 8-9).
    sensor.set_default(Finger::NoMatch);
    for left in (1..8).rev() {
        assert_eq!(
            host.uv_token(
                PinProtocol::Two,
                Permissions::GET_ASSERTION,
                Some("example.com")
            ),
            Err(StatusCode::UV_INVALID)
        );
        let retries: ClientPinResponse = host.uv_retries().ok();
        assert_eq!(retries.uv_retries, Some(left));
    }
    assert_eq!(
        host.uv_token(
            PinProtocol::Two,
            Permissions::GET_ASSERTION,
            Some("example.com")
        ),
        Err(StatusCode::UV_BLOCKED)
    );
    // Blocked (step 6): no touch is even asked for, whatever the finger; it survives
    // a power cycle.
    sensor.set_default(Finger::Match);
    host.power_cycle(std::time::Duration::from_secs(1));
    let touches = sensor.touches();
    assert_eq!(
        host.uv_token(
            PinProtocol::Two,
            Permissions::GET_ASSERTION,
            Some("example.com")
        ),
        Err(StatusCode::UV_BLOCKED)
    );
    assert_eq!(sensor.touches(), touches);
    // The correct PIN resets uvRetries.
    host.token(
        PinProtocol::Two,
        "1234",
        Permissions::GET_ASSERTION,
        Some("example.com"),
    )
    .unwrap();
    let retries: ClientPinResponse = host.uv_retries().ok();
    assert_eq!(retries.uv_retries, Some(8));
    assert!(
        host.uv_token(
            PinProtocol::Two,
            Permissions::GET_ASSERTION,
            Some("example.com")
        )
        .is_ok()
    );
    // A refused touch is not a wrong finger: no retry is used.
    host.device
        .set_touch_policy(ctap_virtual::TouchPolicy::Deny {
            after: std::time::Duration::from_millis(50),
        });
    assert_eq!(
        host.uv_token(
            PinProtocol::Two,
            Permissions::GET_ASSERTION,
            Some("example.com")
        ),
        Err(StatusCode::OPERATION_DENIED)
    );
    let retries: ClientPinResponse = host.uv_retries().ok();
    assert_eq!(retries.uv_retries, Some(8));
}

fn enable_enterprise_attestation(host: &mut Host) -> StatusCode {
    host.call(
        0x0D,
        &ConfigRequest {
            sub_command: ConfigSubCommand::ENABLE_ENTERPRISE_ATTESTATION,
            sub_command_params: None,
            pin_uv_auth_protocol: None,
            pin_uv_auth_param: None,
        },
    )
    .status
}

fn enterprise_request(rp: &str, ea: u64) -> MakeCredentialRequest {
    let mut request = make_request(rp, 1);
    request.enterprise_attestation = Some(ea);
    request
}

fn x5c(response: &MakeCredentialResponse) -> Option<Vec<Vec<u8>>> {
    let Value::Map(members) = &response.att_stmt else {
        panic!("attStmt {:?}", response.att_stmt)
    };
    members
        .iter()
        .find(|(k, _)| *k == Value::text("x5c"))
        .map(|(_, v)| match v {
            Value::Array(certs) => certs
                .iter()
                .map(|c| match c {
                    Value::Bytes(c) => c.clone(),
                    other => panic!("{other:?}"),
                })
                .collect(),
            other => panic!("{other:?}"),
        })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn enterprise_attestation_vendor_facilitated_and_platform_managed() {
    // Not capable: no ep, the parameter is INVALID_PARAMETER, the subcommand unknown.
    let mut host = Host::new(config());
    assert_eq!(host.info().option("ep"), None);
    assert_eq!(
        host.make_credential(&enterprise_request("corp.example", 2))
            .status,
        StatusCode::INVALID_PARAMETER
    );
    assert_eq!(
        enable_enterprise_attestation(&mut host),
        StatusCode::INVALID_SUBCOMMAND
    );

    let mut device = Authenticator::new(config());
    device.set_features(
        Features::default().with_enterprise(Some(EnterpriseAttestation::new(vec![
            "corp.example".into(),
        ]))),
    );
    let mut host = Host::with(device);
    // §7.1: capable but disabled: ep false, and the parameter is refused (step 9.1).
    assert_eq!(host.info().option("ep"), Some(false));
    assert_eq!(
        host.make_credential(&enterprise_request("corp.example", 1))
            .status,
        StatusCode::INVALID_PARAMETER
    );
    // §6.11.2: enabled (no PIN: no token needed); persisted.
    assert_eq!(
        enable_enterprise_attestation(&mut host),
        StatusCode::SUCCESS
    );
    assert_eq!(host.info().option("ep"), Some(true));
    let mut device = Authenticator::new(config());
    device.load_state(&host.device.state_bytes()).unwrap();
    device.set_features(
        Features::default().with_enterprise(Some(EnterpriseAttestation::new(vec![]))),
    );
    assert_eq!(device.info().option("ep"), Some(true));
    // Step 9.2: only 1 and 2.
    assert_eq!(
        host.make_credential(&enterprise_request("corp.example", 3))
            .status,
        StatusCode::INVALID_OPTION
    );
    // Step 9.3: vendor-facilitated for a listed RP: the enterprise certificate, epAtt.
    let listed: MakeCredentialResponse = host
        .make_credential(&enterprise_request("corp.example", 1))
        .ok();
    assert_eq!(listed.ep_att, Some(true));
    let chain = x5c(&listed).unwrap();
    assert!(contains(&chain[0], b"ctap-virtual enterprise attestation"));
    // ...and the regular attestation for another RP.
    let other: MakeCredentialResponse = host
        .make_credential(&enterprise_request("other.example", 1))
        .ok();
    assert_eq!(other.ep_att, None);
    assert_eq!(x5c(&other), None, "self attestation");
    // Step 9.4: platform-managed for any RP.
    let managed: MakeCredentialResponse = host
        .make_credential(&enterprise_request("other.example", 2))
        .ok();
    assert_eq!(managed.ep_att, Some(true));
    assert_eq!(x5c(&managed).unwrap(), chain);
    // authenticatorReset disables it again (§7.1).
    assert_eq!(host.ctap(0x07, &[]).status, StatusCode::SUCCESS);
    assert_eq!(host.info().option("ep"), Some(false));
}

#[test]
fn enterprise_attestation_with_a_configured_certificate() {
    let scalar = sha256(b"enterprise key");
    let signing = p256::ecdsa::SigningKey::from_slice(&scalar).unwrap();
    let public = CoseKey::from_p256(&p256::PublicKey::from(signing.verifying_key()));
    assert!(
        EnterpriseAttestation::new(vec![])
            .with_certificate([0; 32], vec![vec![1]])
            .is_err()
    );
    assert!(
        EnterpriseAttestation::new(vec![])
            .with_certificate(scalar, vec![])
            .is_err()
    );
    let enterprise = EnterpriseAttestation::new(vec![])
        .with_certificate(scalar, vec![b"leaf".to_vec(), b"root".to_vec()])
        .unwrap();
    // Debug never shows the key.
    let debug = format!("{enterprise:?}");
    assert_eq!(
        debug,
        r#"EnterpriseAttestation { rp_ids: [], own_certificate: true }"#
    );
    let mut device = Authenticator::new(config());
    device.set_features(Features::default().with_enterprise(Some(enterprise)));
    let mut host = Host::with(device);
    // With a PIN, enabling needs a token with acfg (§6.11.1).
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    assert_eq!(
        enable_enterprise_attestation(&mut host),
        StatusCode::PUAT_REQUIRED
    );
    let token = host
        .token(
            PinProtocol::Two,
            "1234",
            Permissions::AUTHENTICATOR_CONFIG,
            None,
        )
        .unwrap();
    let mut request = ConfigRequest {
        sub_command: ConfigSubCommand::ENABLE_ENTERPRISE_ATTESTATION,
        sub_command_params: None,
        pin_uv_auth_protocol: Some(2),
        pin_uv_auth_param: None,
    };
    request.pin_uv_auth_param =
        Some(PinProtocol::Two.authenticate(&token, &request.auth_message()));
    assert_eq!(host.call(0x0D, &request).status, StatusCode::SUCCESS);
    let made: MakeCredentialResponse = host
        .make_credential(&enterprise_request("corp.example", 2))
        .ok();
    assert_eq!(made.ep_att, Some(true));
    assert_eq!(x5c(&made).unwrap(), [b"leaf".to_vec(), b"root".to_vec()]);
    let Value::Map(members) = &made.att_stmt else {
        panic!()
    };
    let Some((_, Value::Bytes(sig))) = members.iter().find(|(k, _)| *k == Value::text("sig"))
    else {
        panic!()
    };
    let signed = [
        made.auth_data.as_slice(),
        &make_request("corp.example", 1).client_data_hash,
    ]
    .concat();
    assert!(public.verify(&signed, sig));
}

fn cred_mgmt_with(
    host: &mut Host,
    token: &[u8],
    protocol: PinProtocol,
    sub: CredMgmtSubCommand,
    params: Option<CredentialManagementParams>,
) -> StatusCode {
    let mut request = CredentialManagementRequest {
        sub_command: sub,
        sub_command_params: params.map(|p| p.to_value()),
        pin_uv_auth_protocol: Some(protocol.number().into()),
        pin_uv_auth_param: None,
    };
    request.pin_uv_auth_param = Some(protocol.authenticate(token, &request.auth_message()));
    host.call(0x0A, &request).status
}

#[test]
fn persistent_pcmr_token_reads_credentials_across_power_cycles_and_nothing_more() {
    let mut host = Host::new(config());
    assert_eq!(host.info().option("perCredMgmtRO"), Some(true));
    assert_eq!(host.set_pin(PinProtocol::Two, "1234"), StatusCode::SUCCESS);
    let token = host
        .token(
            PinProtocol::Two,
            "1234",
            Permissions::MAKE_CREDENTIAL,
            Some("example.com"),
        )
        .unwrap();
    let mut request = resident(make_request("example.com", 1));
    request.pin_uv_auth_protocol = Some(2);
    request.pin_uv_auth_param =
        Some(PinProtocol::Two.authenticate(&token, &request.client_data_hash));
    let made: MakeCredentialResponse = host.make_credential(&request).ok();
    let id = made
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;
    // pcmr only: mixed with cm it is refused.
    assert_eq!(
        host.token(
            PinProtocol::Two,
            "1234",
            Permissions(Permissions::PCMR.0 | Permissions::CREDENTIAL_MANAGEMENT.0),
            None
        ),
        Err(StatusCode::UNAUTHORIZED_PERMISSION)
    );
    let persistent = host
        .token(PinProtocol::Two, "1234", Permissions::PCMR, None)
        .unwrap();
    // It outlives a power cycle and a state file reload.
    host.power_cycle(std::time::Duration::from_secs(5));
    let mut device = Authenticator::new(config());
    device.load_state(&host.device.state_bytes()).unwrap();
    let mut host = Host::with(device);
    let by_rp = Some(CredentialManagementParams {
        rp_id_hash: Some(sha256(b"example.com").to_vec()),
        ..CredentialManagementParams::default()
    });
    for (sub, params) in [
        (CredMgmtSubCommand::GET_CREDS_METADATA, None),
        (CredMgmtSubCommand::ENUMERATE_RPS_BEGIN, None),
        (CredMgmtSubCommand::ENUMERATE_CREDENTIALS_BEGIN, by_rp),
    ] {
        assert_eq!(
            cred_mgmt_with(&mut host, &persistent, PinProtocol::Two, sub, params),
            StatusCode::SUCCESS,
            "{sub:?}"
        );
    }
    // Read-only: deleting or updating needs a token with cm.
    let delete = Some(CredentialManagementParams {
        credential_id: Some(CredentialDescriptor::public_key(&id)),
        ..CredentialManagementParams::default()
    });
    assert_eq!(
        cred_mgmt_with(
            &mut host,
            &persistent,
            PinProtocol::Two,
            CredMgmtSubCommand::DELETE_CREDENTIAL,
            delete
        ),
        StatusCode::PIN_AUTH_INVALID
    );
    // Another protocol's MAC of the same token does not verify.
    assert_eq!(
        cred_mgmt_with(
            &mut host,
            &persistent,
            PinProtocol::One,
            CredMgmtSubCommand::GET_CREDS_METADATA,
            None
        ),
        StatusCode::PIN_AUTH_INVALID
    );
    // A new one replaces the old.
    let newer = host
        .token(PinProtocol::Two, "1234", Permissions::PCMR, None)
        .unwrap();
    assert_eq!(
        cred_mgmt_with(
            &mut host,
            &persistent,
            PinProtocol::Two,
            CredMgmtSubCommand::GET_CREDS_METADATA,
            None
        ),
        StatusCode::PIN_AUTH_INVALID
    );
    assert_eq!(
        cred_mgmt_with(
            &mut host,
            &newer,
            PinProtocol::Two,
            CredMgmtSubCommand::GET_CREDS_METADATA,
            None
        ),
        StatusCode::SUCCESS
    );
    // A new PIN ends it.
    host.device.set_pin("5678").unwrap();
    assert_eq!(
        cred_mgmt_with(
            &mut host,
            &newer,
            PinProtocol::Two,
            CredMgmtSubCommand::GET_CREDS_METADATA,
            None
        ),
        StatusCode::PIN_AUTH_INVALID
    );
}

/// The platform's hmac-secret input for `salt` (§12.5: keyAgreement, saltEnc,
/// saltAuth, pinUvAuthProtocol) and its shared secret.
fn hmac_input(host: &mut Host, salt: &[u8]) -> (Value, ctap2_proto::SharedSecret) {
    let (key, shared) = host.shared_secret(PinProtocol::Two);
    let salt_enc = shared.encrypt(salt, &mut host.rng).unwrap();
    let salt_auth = shared.authenticate(&salt_enc);
    let input = MapBuilder::new()
        .with(1, key.to_value())
        .with(2, Value::Bytes(salt_enc))
        .with(3, Value::Bytes(salt_auth))
        .with(4, Value::int(2))
        .build();
    (input, shared)
}

#[test]
fn hmac_secret_mc_gives_the_same_secret_as_a_later_assertion() {
    use ctap2_proto::cbor::CborMessage as _;
    let mut host = Host::new(config());
    assert!(host.info().extensions.iter().any(|e| e == "hmac-secret-mc"));
    let salt = [0x5A; 32];
    let (input, _) = hmac_input(&mut host, &salt);
    // Without hmac-secret: true.
    let alone = with_extensions(
        make_request("example.com", 1),
        vec![("hmac-secret-mc", input.clone())],
    );
    assert_eq!(
        host.make_credential(&alone).status,
        StatusCode::MISSING_PARAMETER
    );
    let (input, shared2) = hmac_input(&mut host, &salt);
    let request = with_extensions(
        make_request("example.com", 1),
        vec![
            ("hmac-secret", Value::Bool(true)),
            ("hmac-secret-mc", input),
        ],
    );
    let made: MakeCredentialResponse = host.make_credential(&request).ok();
    assert_eq!(
        output(&made.auth_data, "hmac-secret"),
        Some(Value::Bool(true))
    );
    let Some(Value::Bytes(encrypted)) = output(&made.auth_data, "hmac-secret-mc") else {
        panic!("no hmac-secret-mc output")
    };
    let at_creation = shared2.decrypt(&encrypted).unwrap().to_vec();
    assert_eq!(at_creation.len(), 32);
    // getAssertion's hmac-secret with the same salt (and the same UV state: none).
    let id = made
        .auth_data()
        .unwrap()
        .attested_credential
        .unwrap()
        .credential_id;
    let (input, shared3) = hmac_input(&mut host, &salt);
    let reply: GetAssertionResponse = host
        .get_assertion(&assert_with(
            "example.com",
            Some(&id),
            vec![("hmac-secret", input)],
        ))
        .ok();
    let Some(Value::Bytes(encrypted)) = output(&reply.auth_data, "hmac-secret") else {
        panic!("no hmac-secret output")
    };
    assert_eq!(shared3.decrypt(&encrypted).unwrap().to_vec(), at_creation);
    // A bad saltAuth.
    let (key, shared4) = host.shared_secret(PinProtocol::Two);
    let salt_enc = shared4.encrypt(&salt, &mut host.rng).unwrap();
    let forged = MapBuilder::new()
        .with(1, key.to_value())
        .with(2, Value::Bytes(salt_enc))
        .with(3, Value::bytes(&[0; 32]))
        .with(4, Value::int(2))
        .build();
    let request = with_extensions(
        make_request("example.com", 2),
        vec![
            ("hmac-secret", Value::Bool(true)),
            ("hmac-secret-mc", forged),
        ],
    );
    assert_eq!(
        host.make_credential(&request).status,
        StatusCode::PIN_AUTH_INVALID
    );
}

fn with_uv_option(mut request: MakeCredentialRequest) -> MakeCredentialRequest {
    let mut options = request.options.unwrap_or_default();
    options.uv = Some(true);
    request.options = Some(options);
    request
}

#[test]
fn the_uv_option_uses_the_finger_in_make_credential_and_get_assertion() {
    let sensor = FingerprintSensor::new();
    let (mut host, token) = bio_host(&sensor);
    // §6.1.2 step 5: no finger enrolled: the uv option is invalid.
    let request = with_uv_option(resident(make_request("example.com", 1)));
    assert_eq!(
        host.make_credential(&request).status,
        StatusCode::INVALID_OPTION
    );
    enroll(&mut host, &token);
    // A matching finger: UV, and a discoverable credential needs no PIN token.
    let made: MakeCredentialResponse = host.make_credential(&request).ok();
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
    // A wrong finger: UV_INVALID and one retry less.
    sensor.push(Finger::NoMatch);
    assert_eq!(
        host.make_credential(&with_uv_option(resident(make_request("example.com", 2))))
            .status,
        StatusCode::UV_INVALID
    );
    let retries: ClientPinResponse = host.uv_retries().ok();
    assert_eq!(retries.uv_retries, Some(7));
    // getAssertion with uv and up=false: still a touch (the finger), UV without UP.
    let mut assertion = assertion_request("example.com", Some(&id));
    assertion.options = Some(Options {
        up: Some(false),
        uv: Some(true),
        ..Options::default()
    });
    let touches = sensor.touches();
    let reply = host.get_assertion(&assertion);
    assert!(!reply.keepalives.is_empty());
    let reply: GetAssertionResponse = reply.ok();
    let parsed = AuthenticatorData::from_bytes(&reply.auth_data).unwrap();
    assert!(parsed.flags.contains(Flags::UV) && !parsed.flags.contains(Flags::UP));
    assert_eq!(sensor.touches(), touches + 1);
    // A match reset the counter; then blocked: UV_BLOCKED at once, no touch.
    let retries: ClientPinResponse = host.uv_retries().ok();
    assert_eq!(retries.uv_retries, Some(8));
    sensor.set_default(Finger::NoMatch);
    for _ in 0..8 {
        host.get_assertion(&assertion);
    }
    let touches = sensor.touches();
    assert_eq!(
        host.get_assertion(&assertion).status,
        StatusCode::UV_BLOCKED
    );
    assert_eq!(sensor.touches(), touches);
    // With a pinUvAuthParam the uv option is ignored: the token is the UV.
    let token = host
        .token(
            PinProtocol::Two,
            "1234",
            Permissions::MAKE_CREDENTIAL,
            Some("example.com"),
        )
        .unwrap();
    let mut request = with_uv_option(resident(make_request("example.com", 3)));
    request.pin_uv_auth_protocol = Some(2);
    request.pin_uv_auth_param =
        Some(PinProtocol::Two.authenticate(&token, &request.client_data_hash));
    let touches = sensor.touches();
    let made: MakeCredentialResponse = host.make_credential(&request).ok();
    assert!(made.auth_data().unwrap().flags.contains(Flags::UV));
    assert_eq!(sensor.touches(), touches);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// Any array up to maxSerializedLargeBlobArray, written in fragments of any size,
    /// reads back byte for byte in fragments of any size (§6.10.2), and a write that
    /// stops half way changes nothing.
    #[test]
    fn large_blob_arrays_round_trip_in_any_fragments(
        payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
        write_size in 1usize..700,
        read_size in 1u64..700,
        stop_early in proptest::prelude::any::<bool>(),
    ) {
        let mut host = Host::new(config());
        let data = serialized(vec![Value::Bytes(payload)]);
        let chunks: Vec<&[u8]> = data.chunks(write_size).collect();
        let sent = if stop_early && chunks.len() > 1 { chunks.len() - 1 } else { chunks.len() };
        let mut offset = 0;
        for chunk in &chunks[..sent] {
            let length = (offset == 0).then_some(data.len() as u64);
            let reply = host.call(0x0C, &blobs(None, Some(chunk), offset as u64, length));
            proptest::prop_assert_eq!(reply.status, StatusCode::SUCCESS);
            offset += chunk.len();
        }
        let expected = if sent == chunks.len() { data.clone() } else { EMPTY_ARRAY.to_vec() };
        let mut read = Vec::new();
        loop {
            let reply: LargeBlobsResponse = host
                .call(0x0C, &blobs(Some(read_size), None, read.len() as u64, None))
                .ok();
            let fragment = reply.config.unwrap();
            let last = (fragment.len() as u64) < read_size;
            read.extend_from_slice(&fragment);
            if last {
                break;
            }
        }
        proptest::prop_assert_eq!(read, expected);
    }
}

#[test]
fn a_cancelled_finger_wait_uses_no_retry_and_no_sample() {
    use ctap2_proto::cbor::CborMessage as _;
    let sensor = FingerprintSensor::new();
    let (mut host, token) = bio_host(&sensor);
    host.device
        .set_touch_policy(ctap_virtual::TouchPolicy::Approve {
            after: std::time::Duration::from_millis(300),
        });
    // An enrollment sample cancelled: KEEPALIVE_CANCEL, the sensor untouched; a new
    // enrollment starts afresh.
    let mut begin = BioEnrollmentRequest {
        modality: Some(1),
        sub_command: Some(BioSubCommand::ENROLL_BEGIN),
        pin_uv_auth_protocol: Some(2),
        ..BioEnrollmentRequest::default()
    };
    begin.pin_uv_auth_param = Some(PinProtocol::Two.authenticate(&token, &begin.auth_message()));
    let reply = host.ctap_cancelled(0x09, &begin.to_cbor());
    assert_eq!(reply.status, StatusCode::KEEPALIVE_CANCEL);
    assert_eq!(sensor.touches(), 0);
    enroll(&mut host, &token);
    // A cancelled getPinUvAuthTokenUsingUv: no retry used.
    let (key, _) = host.shared_secret(PinProtocol::Two);
    let mut request = ClientPinRequest::new(
        PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS,
        Some(2),
    );
    request.key_agreement = Some(key);
    request.permissions = Some(Permissions::GET_ASSERTION.0);
    request.rp_id = Some("example.com".into());
    sensor.set_default(Finger::NoMatch);
    let touches = sensor.touches();
    let reply = host.ctap_cancelled(0x06, &request.to_cbor());
    assert_eq!(reply.status, StatusCode::KEEPALIVE_CANCEL);
    assert_eq!(sensor.touches(), touches);
    let retries: ClientPinResponse = host.uv_retries().ok();
    assert_eq!(retries.uv_retries, Some(8));
}
