//! WebAuthn's JSON forms: what servers send is read (bare or wrapped, base64url with
//! or without padding, nulls), hostile input gets an error naming the member and never
//! unbounded work, options round trip, and clientDataJSON is what WebAuthn §5.8.1.1's
//! serialization algorithm produces.

use std::time::Instant;

use ctap_webauthn::{
    CollectedClientData, CreationOptions, Error, MAX_CREDENTIALS, RequestOptions, ResidentKey,
    UserVerification, base64url_encode,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn creation() -> Value {
    json!({
        "rp": {"id": "example.com", "name": "Example"},
        "user": {"id": "dXNlcg", "name": "alice", "displayName": "Alice"},
        "challenge": "Y2hhbGxlbmdlLWNoYWxsZW5nZQ",
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
    })
}

/// The member an error names.
fn member(error: Error) -> String {
    match error {
        Error::InvalidInput { member, .. } => member,
        other => panic!("not an input error: {other}"),
    }
}

fn with(mut value: Value, path: &[&str], member: Value) -> Value {
    let mut at = &mut value;
    for key in &path[..path.len() - 1] {
        at = &mut at[*key];
    }
    at[path[path.len() - 1]] = member;
    value
}

#[test]
fn what_servers_send_is_read() {
    // python-fido2's Fido2Server.register_begin output shape: wrapped in publicKey,
    // with nulls for absent members and padding-free base64url.
    let wrapped = json!({"publicKey": with(with(creation(), &["authenticatorSelection"], json!({
        "authenticatorAttachment": null, "residentKey": "preferred", "requireResidentKey": false,
        "userVerification": "discouraged"})), &["timeout"], json!(60000.0))});
    let options = CreationOptions::from_value(&wrapped).unwrap();
    assert_eq!(options.user.id, b"user");
    assert_eq!(options.timeout, Some(60000));
    let selection = options.authenticator_selection.clone().unwrap();
    assert_eq!(selection.effective_resident_key(), ResidentKey::Preferred);
    assert_eq!(options.user_verification(), UserVerification::Discouraged);
    assert_eq!(
        options,
        CreationOptions::from_value(
            &creation()
                .as_object()
                .map(|_| wrapped["publicKey"].clone())
                .unwrap()
        )
        .unwrap()
    );
    // Padding accepted; unknown enumeration values ignored (WebAuthn §2.1.1).
    let padded = with(
        with(creation(), &["user", "id"], json!("dXNlcg==")),
        &["attestation"],
        json!("someday"),
    );
    let options = CreationOptions::from_value(&padded).unwrap();
    assert_eq!(options.user.id, b"user");
    let request = RequestOptions::from_json(r#"{"challenge":"AAAA","userVerification":"sometimes","extensions":{"futureThing":{"x":1}}}"#).unwrap();
    assert_eq!(request.user_verification, None);
    assert_eq!(request.extensions.ignored, ["futureThing"]);
}

#[test]
fn bad_input_names_the_member() {
    let cases: Vec<(Value, &str)> = vec![
        (
            with(creation(), &["user", "id"], json!(5)),
            "publicKey.user.id",
        ),
        (
            with(creation(), &["user", "id"], json!("a+b/")),
            "publicKey.user.id",
        ),
        (
            with(
                creation(),
                &["user", "id"],
                json!(base64url_encode(&[1; 65])),
            ),
            "publicKey.user.id",
        ),
        (
            with(creation(), &["user", "id"], json!("")),
            "publicKey.user.id",
        ),
        (
            with(creation(), &["user", "name"], json!("x".repeat(5000))),
            "publicKey.user.name",
        ),
        (
            with(creation(), &["challenge"], json!("!!")),
            "publicKey.challenge",
        ),
        (
            with(creation(), &["rp"], json!("example.com")),
            "publicKey.rp",
        ),
        (
            with(
                creation(),
                &["pubKeyCredParams"],
                json!([{"type": "public-key", "alg": "ES256"}]),
            ),
            "publicKey.pubKeyCredParams[0].alg",
        ),
        (
            with(
                creation(),
                &["pubKeyCredParams"],
                json!([{"type": "public-key", "alg": 1e12}]),
            ),
            "publicKey.pubKeyCredParams[0].alg",
        ),
        (
            with(creation(), &["timeout"], json!(-1)),
            "publicKey.timeout",
        ),
        (
            with(
                creation(),
                &["excludeCredentials"],
                json!([{"type": "public-key"}]),
            ),
            "publicKey.excludeCredentials[0].id",
        ),
        (
            with(creation(), &["extensions"], json!({"credProps": "yes"})),
            "publicKey.extensions.credProps",
        ),
        (
            with(
                creation(),
                &["extensions"],
                json!({"prf": {"eval": {"first": 1}}}),
            ),
            "publicKey.extensions.prf.eval.first",
        ),
        (
            with(
                creation(),
                &["extensions"],
                json!({"hmacGetSecret": {"salt1": "AAAA"}}),
            ),
            "publicKey.extensions.hmacGetSecret.salt1",
        ),
        (
            with(
                creation(),
                &["extensions"],
                json!({"credentialProtectionPolicy": "maybe"}),
            ),
            "publicKey.extensions.credentialProtectionPolicy",
        ),
        (
            with(
                creation(),
                &["extensions"],
                json!({"largeBlob": {"write": "%%"}}),
            ),
            "publicKey.extensions.largeBlob.write",
        ),
    ];
    for (value, expected) in cases {
        let wrapped = json!({"publicKey": value});
        assert_eq!(
            member(CreationOptions::from_value(&wrapped).unwrap_err()),
            expected
        );
    }
    // Missing members.
    let mut missing = creation();
    missing.as_object_mut().unwrap().remove("challenge");
    assert_eq!(
        member(CreationOptions::from_value(&missing).unwrap_err()),
        "challenge"
    );
    // evalByCredential needs allowCredentials, and its keys must be among them.
    let request = json!({"challenge": "AAAA", "allowCredentials": [{"type": "public-key", "id": "AQID"}],
        "extensions": {"prf": {"evalByCredential": {"BAUG": {"first": "AA"}}}}});
    assert!(
        member(RequestOptions::from_value(&request).unwrap_err())
            .starts_with("extensions.prf.evalByCredential")
    );
    // Not JSON, not an object.
    assert_eq!(
        member(RequestOptions::from_json("{").unwrap_err()),
        "options"
    );
    assert_eq!(
        member(RequestOptions::from_json("[]").unwrap_err()),
        "options"
    );
}

#[test]
fn hostile_sizes_are_refused_quickly() {
    // Thousands of allowCredentials: refused by count, before any is decoded.
    let many: Vec<Value> = (0..5000)
        .map(|_| json!({"type": "public-key", "id": "AAAA"}))
        .collect();
    let request = json!({"challenge": "AAAA", "allowCredentials": many});
    let error = RequestOptions::from_value(&request).unwrap_err();
    assert_eq!(member(error), "allowCredentials");
    let at_limit: Vec<Value> = (0..MAX_CREDENTIALS)
        .map(|_| json!({"type": "public-key", "id": "AAAA"}))
        .collect();
    RequestOptions::from_value(&json!({"challenge": "AAAA", "allowCredentials": at_limit}))
        .unwrap();
    // More than 1 MiB of JSON is not parsed at all.
    let huge = format!(r#"{{"challenge":"AAAA","rpId":"{}"}}"#, "a".repeat(2 << 20));
    let start = Instant::now();
    assert!(
        RequestOptions::from_json(&huge)
            .unwrap_err()
            .to_string()
            .contains("more than")
    );
    // Deep nesting is serde_json's recursion limit, not a stack overflow.
    let deep = format!(
        r#"{{"challenge":"AAAA","extensions":{{"x":{}1{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(RequestOptions::from_json(&deep).is_err());
    // Many unknown extensions: bounded.
    let unknown: serde_json::Map<String, Value> = (0..1000)
        .map(|i| (format!("ext{i}"), json!(true)))
        .collect();
    let request = json!({"challenge": "AAAA", "extensions": unknown});
    assert_eq!(
        member(RequestOptions::from_value(&request).unwrap_err()),
        "extensions"
    );
    assert!(start.elapsed().as_secs() < 5, "bounded work");
}

fn b64_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..max)
}

prop_compose! {
    fn creation_options()(
        user_id in b64_bytes(64),
        name in "\\PC{0,40}",
        challenge in b64_bytes(64),
        algs in proptest::collection::vec(-300i32..300, 1..5),
        exclude in proptest::collection::vec(b64_bytes(100), 0..5),
        rp_id in proptest::option::of("[a-z]{1,10}\\.com"),
        timeout in proptest::option::of(any::<u32>()),
        uv in prop_oneof![Just("required"), Just("preferred"), Just("discouraged")],
        cred_props in proptest::option::of(any::<bool>()),
        prf_first in proptest::option::of(b64_bytes(40)),
    ) -> Value {
        let mut extensions = serde_json::Map::new();
        if let Some(c) = cred_props { extensions.insert("credProps".into(), json!(c)); }
        if let Some(f) = prf_first { extensions.insert("prf".into(), json!({"eval": {"first": base64url_encode(&f)}})); }
        let mut rp = json!({"name": name});
        if let Some(id) = rp_id { rp["id"] = json!(id); }
        let mut value = json!({
            "rp": rp,
            "user": {"id": base64url_encode(&user_id), "name": name, "displayName": name},
            "challenge": base64url_encode(&challenge),
            "pubKeyCredParams": algs.iter().map(|a| json!({"type": "public-key", "alg": a})).collect::<Vec<_>>(),
            "excludeCredentials": exclude.iter().map(|id| json!({"type": "public-key", "id": base64url_encode(id), "transports": ["usb"]})).collect::<Vec<_>>(),
            "authenticatorSelection": {"userVerification": uv, "residentKey": "preferred"},
            "attestation": "direct",
            "extensions": extensions,
        });
        if let Some(t) = timeout { value["timeout"] = json!(t); }
        value
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn creation_options_round_trip(value in creation_options()) {
        let options = CreationOptions::from_value(&value).unwrap();
        let again = CreationOptions::from_json(&options.to_json()).unwrap();
        prop_assert_eq!(&options, &again);
        // And the JSON written is the JSON read, member for member (empty lists and
        // maps left out).
        let written: Value = serde_json::from_str(&options.to_json()).unwrap();
        prop_assert_eq!(&written["user"], &value["user"]);
        prop_assert_eq!(&written["challenge"], &value["challenge"]);
        prop_assert_eq!(&written["pubKeyCredParams"], &value["pubKeyCredParams"]);
    }

    #[test]
    fn request_options_round_trip(
        challenge in b64_bytes(64),
        allow in proptest::collection::vec(b64_bytes(64), 0..6),
        rp_id in proptest::option::of("[a-z]{1,10}\\.org"),
        second in proptest::option::of(b64_bytes(16)),
    ) {
        let mut value = json!({
            "challenge": base64url_encode(&challenge),
            "allowCredentials": allow.iter().map(|id| json!({"type": "public-key", "id": base64url_encode(id)})).collect::<Vec<_>>(),
            "userVerification": "required",
            "extensions": {"prf": {"eval": {"first": "AA", "second": second.map(|s| base64url_encode(&s))}}},
        });
        if let Some(id) = rp_id { value["rpId"] = json!(id); }
        let options = RequestOptions::from_value(&value).unwrap();
        prop_assert_eq!(&options, &RequestOptions::from_json(&options.to_json()).unwrap());
    }

    #[test]
    fn no_input_panics(text in "\\PC{0,200}") {
        let _ = RequestOptions::from_json(&text);
        let _ = CreationOptions::from_json(&text);
    }

    #[test]
    fn client_data_is_webauthns_serialization(
        challenge in proptest::collection::vec(any::<u8>(), 0..64),
        origin in "\\PC{0,40}|[\\x00-\\x7f]{0,40}",
        cross_origin in any::<bool>(),
        top in proptest::option::of("\\PC{0,20}"),
    ) {
        let data = CollectedClientData::new("webauthn.get", &challenge, &origin, cross_origin, top.as_deref());
        let json = data.json();
        // Valid JSON with the members' values...
        let parsed: Value = serde_json::from_str(json).unwrap();
        prop_assert_eq!(parsed["type"].as_str(), Some("webauthn.get"));
        let encoded = base64url_encode(&challenge);
        prop_assert_eq!(parsed["challenge"].as_str(), Some(encoded.as_str()));
        prop_assert_eq!(parsed["origin"].as_str(), Some(origin.as_str()));
        prop_assert_eq!(parsed["crossOrigin"].as_bool(), Some(cross_origin));
        prop_assert_eq!(parsed.get("topOrigin").and_then(Value::as_str), top.as_deref().filter(|_| cross_origin));
        // ...in §5.8.1.1's order, starting with the fixed prefix...
        let prefix = r#"{"type":"webauthn.get","challenge":"#;
        prop_assert!(json.starts_with(prefix), "{}", json);
        let keys: Vec<usize> = ["\"challenge\":", "\"origin\":", "\"crossOrigin\":"]
            .iter()
            .map(|k| json.find(k).unwrap())
            .collect();
        prop_assert!(keys.windows(2).all(|w| w[0] < w[1]));
        // ...and CCDToString's escaping: only ", \ and controls (as \u00xx in lower
        // case) are escaped; everything else is the UTF-8 itself.
        let mut expected = String::from("\"");
        for c in origin.chars() {
            match c {
                '"' => expected.push_str("\\\""),
                '\\' => expected.push_str("\\\\"),
                c if (c as u32) < 0x20 => expected.push_str(&format!("\\u{:04x}", c as u32)),
                c => expected.push(c),
            }
        }
        expected.push('"');
        let origin_field = format!("\"origin\":{expected},\"crossOrigin\"");
        prop_assert!(json.contains(&origin_field), "{} lacks {}", json, origin_field);
    }
}
