//! Message round trips, byte-exact agreement with python-fido2's encoder, and property
//! tests: canonical encoding is a fixed point, and no input makes a decoder panic.

use ctap_types::StatusCode;
use ctap2_proto::cbor::{CborMessage, Value};
use ctap2_proto::client_pin::{ClientPinRequest, ClientPinResponse, PinSubCommand};
use ctap2_proto::entities::{Extensions, PUBLIC_KEY};
use ctap2_proto::management::{
    ConfigRequest, ConfigSubCommand, CredMgmtSubCommand, CredentialManagementParams,
    CredentialManagementRequest, CredentialManagementResponse, LargeBlobsRequest,
    LargeBlobsResponse, SetMinPinLengthParams,
};
use ctap2_proto::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn round_trip<T: CborMessage + PartialEq + std::fmt::Debug>(message: &T) -> Vec<u8> {
    let cbor = message.to_cbor();
    assert_eq!(&T::from_cbor(&cbor).unwrap(), message);
    cbor
}

fn make_credential() -> MakeCredentialRequest {
    MakeCredentialRequest {
        client_data_hash: vec![1; 32],
        rp: RpEntity {
            id: "example.com".into(),
            name: Some("Example".into()),
            icon: None,
        },
        user: UserEntity {
            id: vec![2; 4],
            name: Some("alice".into()),
            display_name: Some("Alice".into()),
            icon: None,
        },
        pub_key_cred_params: vec![
            CredentialParameters::public_key(Algorithm::ES256),
            CredentialParameters::public_key(Algorithm::EDDSA),
        ],
        exclude_list: Some(vec![CredentialDescriptor::public_key(&[3; 16])]),
        extensions: Some(vec![("credProtect".into(), Value::Int(2))]),
        options: Some(Options {
            rk: Some(true),
            up: None,
            uv: None,
        }),
        pin_uv_auth_param: Some(vec![4; 16]),
        pin_uv_auth_protocol: Some(1),
        enterprise_attestation: None,
        attestation_formats_preference: None,
    }
}

#[test]
fn make_credential_request_is_byte_identical_to_python_fido2() {
    // fido2.cbor.encode(args(...)) of the same request (python-fido2 2.2.1).
    let python = hex(
        "a9015820010101010101010101010101010101010101010101010101010101010101010102a26269646b\
         6578616d706c652e636f6d646e616d65674578616d706c6503a36269644402020202646e616d656561\
         6c6963656b646973706c61794e616d6565416c6963650482a263616c672664747970656a7075626c69\
         632d6b6579a263616c672764747970656a7075626c69632d6b65790581a26269645003030303030303\
         03030303030303030364747970656a7075626c69632d6b657906a16b6372656450726f746563740207\
         a162726bf50850040404040404040404040404040404040901",
    );
    assert_eq!(round_trip(&make_credential()), python);
}

#[test]
fn get_assertion_request_is_byte_identical_to_python_fido2() {
    let request = GetAssertionRequest {
        rp_id: "example.com".into(),
        client_data_hash: vec![5; 32],
        allow_list: Some(vec![CredentialDescriptor::public_key(&[6; 8])]),
        extensions: None,
        options: Some(Options {
            rk: None,
            up: Some(false),
            uv: None,
        }),
        pin_uv_auth_param: Some(vec![7; 32]),
        pin_uv_auth_protocol: Some(2),
    };
    let python = hex(
        "a6016b6578616d706c652e636f6d02582005050505050505050505050505050505050505050505050505\
         050505050505050381a262696448060606060606060664747970656a7075626c69632d6b657905a162\
         7570f406582007070707070707070707070707070707070707070707070707070707070707070702",
    );
    assert_eq!(round_trip(&request), python);
}

#[test]
fn missing_and_mistyped_members_map_to_their_status() {
    let mut without_rp = make_credential().to_value();
    let Value::Map(entries) = &mut without_rp else {
        unreachable!()
    };
    entries.retain(|(k, _)| *k != Value::Int(2));
    let error = MakeCredentialRequest::from_value(without_rp).unwrap_err();
    assert_eq!(error.status(), StatusCode::MISSING_PARAMETER, "{error}");

    let mut rp_as_text = make_credential().to_value();
    let Value::Map(entries) = &mut rp_as_text else {
        unreachable!()
    };
    for (k, v) in entries.iter_mut() {
        if *k == Value::Int(2) {
            *v = Value::text("example.com");
        }
    }
    let error = MakeCredentialRequest::from_value(rp_as_text).unwrap_err();
    assert_eq!(error.status(), StatusCode::CBOR_UNEXPECTED_TYPE, "{error}");

    // Not a map at all; a key that is text where integers are expected.
    assert_eq!(
        GetAssertionRequest::from_cbor(&[0x80])
            .unwrap_err()
            .status(),
        StatusCode::CBOR_UNEXPECTED_TYPE
    );
    assert_eq!(
        ClientPinRequest::from_cbor(&hex("a1616101"))
            .unwrap_err()
            .status(),
        StatusCode::CBOR_UNEXPECTED_TYPE
    );
    // Truncated.
    let cbor = make_credential().to_cbor();
    assert_eq!(
        MakeCredentialRequest::from_cbor(&cbor[..cbor.len() - 1])
            .unwrap_err()
            .status(),
        StatusCode::INVALID_CBOR
    );
}

#[test]
fn every_response_round_trips() {
    let auth_data = AuthenticatorData {
        rp_id_hash: [9; 32],
        flags: Flags::UP,
        sign_count: 7,
        attested_credential: None,
        extensions: None,
    }
    .to_bytes();
    round_trip(&MakeCredentialResponse {
        fmt: "packed".into(),
        auth_data: auth_data.clone(),
        att_stmt: Value::Map(vec![(Value::text("alg"), Value::Int(-7))]),
        ep_att: Some(false),
        large_blob_key: Some(vec![1; 32]),
        unsigned_extension_outputs: None,
    });
    round_trip(&GetAssertionResponse {
        credential: Some(CredentialDescriptor::public_key(&[1, 2])),
        auth_data,
        signature: vec![3; 70],
        user: Some(UserEntity {
            id: vec![4],
            name: None,
            display_name: None,
            icon: None,
        }),
        number_of_credentials: Some(2),
        user_selected: Some(true),
        large_blob_key: None,
        unsigned_extension_outputs: None,
    });
    round_trip(&ClientPinResponse {
        key_agreement: Some(CoseKey::EcdhEsHkdf256 {
            x: [1; 32],
            y: [2; 32],
        }),
        pin_uv_auth_token: Some(vec![5; 48]),
        pin_retries: Some(8),
        power_cycle_state: Some(false),
        uv_retries: None,
    });
    round_trip(&CredentialManagementResponse {
        existing_resident_credentials_count: Some(1),
        max_possible_remaining_resident_credentials_count: Some(99),
        rp: Some(RpEntity {
            id: "a.example".into(),
            name: None,
            icon: None,
        }),
        rp_id_hash: Some(vec![6; 32]),
        total_rps: Some(1),
        user: Some(UserEntity {
            id: vec![7],
            name: Some("u".into()),
            display_name: None,
            icon: None,
        }),
        credential_id: Some(CredentialDescriptor::public_key(&[8; 16])),
        public_key: Some(CoseKey::EdDsa { x: [9; 32] }),
        total_credentials: Some(1),
        cred_protect: Some(2),
        large_blob_key: None,
        third_party_payment: Some(false),
    });
    round_trip(&LargeBlobsResponse {
        config: Some(vec![0x80; 17]),
    });
}

#[test]
fn every_request_round_trips() {
    let mut pin = ClientPinRequest::new(
        PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS,
        Some(2),
    );
    pin.key_agreement = Some(CoseKey::EcdhEsHkdf256 {
        x: [1; 32],
        y: [2; 32],
    });
    pin.pin_hash_enc = Some(vec![3; 32]);
    pin.permissions = Some(Permissions::MAKE_CREDENTIAL.0 | Permissions::GET_ASSERTION.0);
    pin.rp_id = Some("example.com".into());
    round_trip(&pin);

    let params = CredentialManagementParams {
        rp_id_hash: Some(vec![1; 32]),
        credential_id: Some(CredentialDescriptor::public_key(&[2; 16])),
        user: None,
    };
    let request = CredentialManagementRequest {
        sub_command: CredMgmtSubCommand::DELETE_CREDENTIAL,
        sub_command_params: Some(params.to_value()),
        pin_uv_auth_protocol: Some(1),
        pin_uv_auth_param: Some(vec![0; 16]),
    };
    round_trip(&request);
    assert_eq!(request.params().unwrap(), params);
    // subCommand || canonical params.
    assert_eq!(request.auth_message()[0], 0x06);
    assert_eq!(&request.auth_message()[1..], params.to_value().to_vec());

    let config = ConfigRequest {
        sub_command: ConfigSubCommand::SET_MIN_PIN_LENGTH,
        sub_command_params: Some(
            SetMinPinLengthParams {
                new_min_pin_length: Some(6),
                min_pin_length_rpids: None,
                force_change_pin: Some(true),
            }
            .to_value(),
        ),
        pin_uv_auth_protocol: Some(2),
        pin_uv_auth_param: Some(vec![0; 32]),
    };
    round_trip(&config);
    let message = config.auth_message();
    assert_eq!(
        &message[..34],
        &[[0xFF; 32].as_slice(), &[0x0D, 0x03]].concat()[..]
    );

    round_trip(&LargeBlobsRequest {
        get: Some(1024),
        set: None,
        offset: 0,
        length: None,
        pin_uv_auth_param: None,
        pin_uv_auth_protocol: None,
    });
}

#[test]
fn info_keeps_every_member_and_unknown_ones() {
    let info = Info {
        versions: vec!["FIDO_2_0".into(), "FIDO_2_1".into(), "U2F_V2".into()],
        extensions: vec!["credProtect".into(), "hmac-secret".into()],
        aaguid: *b"0123456789abcdef",
        options: vec![
            ("rk".into(), true),
            ("up".into(), true),
            ("clientPin".into(), false),
        ],
        max_msg_size: Some(7609),
        pin_uv_auth_protocols: vec![2, 1],
        max_credential_count_in_list: Some(8),
        max_credential_id_length: Some(128),
        transports: vec!["usb".into()],
        algorithms: Some(vec![CredentialParameters::public_key(Algorithm::ES256)]),
        max_serialized_large_blob_array: Some(1024),
        force_pin_change: Some(false),
        min_pin_length: Some(4),
        firmware_version: Some(1),
        max_cred_blob_length: Some(32),
        max_rpids_for_set_min_pin_length: Some(0),
        preferred_platform_uv_attempts: Some(3),
        uv_modality: Some(0),
        certifications: Some(Value::Map(vec![(Value::text("FIDO"), Value::Int(1))])),
        remaining_discoverable_credentials: Some(100),
        vendor_prototype_config_commands: Some(vec![1]),
        attestation_formats: Some(vec!["packed".into(), "none".into()]),
        uv_count_since_last_pin_entry: Some(0),
        long_touch_for_reset: Some(false),
        enc_identifier: Some(vec![1; 16]),
        transports_for_reset: Some(vec!["usb".into()]),
        pin_complexity_policy: Some(false),
        pin_complexity_policy_url: Some(b"https://example.com".to_vec()),
        max_pin_length: Some(63),
        enc_cred_store_state: Some(vec![2; 16]),
        authenticator_config_commands: Some(vec![2, 3]),
        unknown: vec![(0x42, Value::text("future")), (-5, Value::Null)],
    };
    let cbor = info.to_cbor();
    let back = Info::from_cbor(&cbor).unwrap();
    // Unknown members come back (their order within `unknown` may differ).
    assert_eq!(back.unknown.len(), 2);
    assert!(back.unknown.contains(&(0x42, Value::text("future"))));
    assert_eq!(back.to_cbor(), cbor);
    assert_eq!(back.option("rk"), Some(true));
    assert_eq!(back.option("uv"), None);
    assert_eq!(back.attestation_formats, info.attestation_formats);
    // The smallest valid answer.
    let minimal = [hex("a20181684649444f5f325f300350"), vec![0; 16]].concat();
    let minimal = Info::from_cbor(&minimal).unwrap();
    assert_eq!(minimal.versions, ["FIDO_2_0"]);
    assert!(minimal.options.is_empty());
}

/// A getInfo a sloppy authenticator might send: members and options out of canonical
/// order, a length in a long form. The strict decoder refuses it (as an authenticator
/// must refuse such a request); the relaxed one, for showing it, reads it whole.
#[test]
fn a_non_canonical_get_info_reads_relaxed() {
    let cbor = hex(concat!(
        "a3",
        // 3: aaguid, its length in the 8-bit form
        "035810000102030405060708090a0b0c0d0e0f",
        // 1: versions ["FIDO_2_0"], after 3
        "0181684649444f5f325f30",
        // 4: options {"up": true, "rk": false}, "up" before "rk"
        "04a2627570f562726bf4",
    ));
    assert_eq!(
        Info::from_cbor(&cbor).unwrap_err().status(),
        StatusCode::INVALID_CBOR
    );
    let info = Info::from_value(Value::from_slice_relaxed(&cbor).unwrap()).unwrap();
    assert_eq!(info.versions, ["FIDO_2_0"]);
    assert_eq!(info.aaguid.to_vec(), (0..16).collect::<Vec<u8>>());
    assert_eq!(
        info.options,
        [("up".to_owned(), true), ("rk".to_owned(), false)]
    );
    assert_eq!(info.option("rk"), Some(false));
}

#[test]
fn extensions_helpers() {
    let extensions: Extensions = vec![("hmac-secret".into(), Value::Bool(true))];
    assert_eq!(
        entities::extension(&extensions, "hmac-secret"),
        Some(&Value::Bool(true))
    );
    assert_eq!(entities::extension(&extensions, "credProtect"), None);
    assert_eq!(PUBLIC_KEY, "public-key");
}

fn arbitrary_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| Value::Int(n.into())),
        any::<u64>().prop_map(|n| Value::Int(n.into())),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        ".{0,12}".prop_map(Value::Text),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((inner.clone(), inner), 0..8).prop_map(|entries| {
                // Duplicate keys are not CBOR maps: keep the first of each.
                let mut seen = Vec::new();
                Value::Map(
                    entries
                        .into_iter()
                        .filter(|(k, _)| {
                            let encoded = k.to_vec();
                            !seen.contains(&encoded) && {
                                seen.push(encoded);
                                true
                            }
                        })
                        .collect(),
                )
            }),
        ]
    })
}

fn sorted(value: Value) -> Value {
    // Decoding yields canonical order: compare against the value with sorted maps.
    Value::from_slice(&value.to_vec()).unwrap()
}

proptest! {
    #[test]
    fn canonical_encoding_is_a_fixed_point(value in arbitrary_value()) {
        let encoded = value.to_vec();
        let decoded = Value::from_slice(&encoded).unwrap();
        prop_assert_eq!(decoded.to_vec(), encoded);
        prop_assert_eq!(sorted(decoded.clone()), decoded);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(value) = Value::from_slice(&bytes) {
            // Whatever decodes is canonical: it encodes back to the same bytes.
            prop_assert_eq!(value.to_vec(), bytes.clone());
        }
        let _ = MakeCredentialRequest::from_cbor(&bytes);
        let _ = GetAssertionRequest::from_cbor(&bytes);
        let _ = ClientPinRequest::from_cbor(&bytes);
        let _ = CredentialManagementRequest::from_cbor(&bytes);
        let _ = ConfigRequest::from_cbor(&bytes);
        let _ = LargeBlobsRequest::from_cbor(&bytes);
        let _ = Info::from_cbor(&bytes);
        let _ = AuthenticatorData::from_bytes(&bytes);
    }

    #[test]
    fn arbitrary_values_never_panic_message_decoders(value in arbitrary_value()) {
        let bytes = value.to_vec();
        for result in [
            MakeCredentialRequest::from_cbor(&bytes).err(),
            GetAssertionRequest::from_cbor(&bytes).err(),
            ClientPinRequest::from_cbor(&bytes).err(),
            CredentialManagementRequest::from_cbor(&bytes).err(),
            ConfigRequest::from_cbor(&bytes).err(),
            Info::from_cbor(&bytes).err(),
        ].into_iter().flatten() {
            // Valid CBOR is never INVALID_CBOR; the error names its status.
            prop_assert_ne!(result.status(), StatusCode::INVALID_CBOR);
        }
    }

    #[test]
    fn mutated_requests_get_an_error_or_a_value(
        index in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut cbor = make_credential().to_cbor();
        let i = index.index(cbor.len());
        cbor[i] = byte;
        match MakeCredentialRequest::from_cbor(&cbor) {
            // Unknown members (a mutated key) are dropped, so compare re-decodes.
            Ok(request) => prop_assert_eq!(
                MakeCredentialRequest::from_cbor(&request.to_cbor()).unwrap(),
                request
            ),
            Err(error) => prop_assert!(!error.what().is_empty()),
        }
    }
}

/// The message types carry what a verifier needs, byte for byte: the signed bytes are
/// `authData || clientDataHash` exactly as received, and a COSE key from attested
/// credential data verifies the signature over them. The verification itself (the
/// rpIdHash, the flags, the statement) is one API, `ctap2_client::Attestation::verify`
/// and `Assertion::verify`: this crate has no verifier that could skip a step.
#[test]
fn signed_bytes_round_trip_and_verify_with_the_attested_key() {
    let signing = p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap();
    let key = CoseKey::from_p256(&p256::PublicKey::from(signing.verifying_key()));
    let auth_data = AuthenticatorData {
        rp_id_hash: [1; 32],
        flags: Flags::UP,
        sign_count: 1,
        attested_credential: Some(AttestedCredentialData {
            aaguid: [2; 16],
            credential_id: vec![9; 16],
            public_key: key.clone(),
        }),
        extensions: None,
    }
    .to_bytes();
    let cdh = [4; 32];
    let response = MakeCredentialResponse {
        fmt: "packed".into(),
        auth_data: auth_data.clone(),
        att_stmt: Value::Map(vec![]),
        ep_att: None,
        large_blob_key: None,
        unsigned_extension_outputs: None,
    };
    let decoded = MakeCredentialResponse::from_cbor(&response.to_cbor()).unwrap();
    assert_eq!(
        decoded.auth_data, auth_data,
        "signed bytes kept as received"
    );
    let attested = decoded.auth_data().unwrap().attested_credential.unwrap();
    let signed = [decoded.auth_data.as_slice(), &cdh].concat();
    let sig = ctap2_proto::cose::sign_es256(&signing, &signed);
    assert!(attested.public_key.verify(&signed, &sig));
    assert!(
        !attested
            .public_key
            .verify(&[auth_data.as_slice(), &[5; 32]].concat(), &sig)
    );
    let mut bad = sig.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert!(!attested.public_key.verify(&signed, &bad));
}
