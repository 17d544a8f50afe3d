//! `ctap webauthn register|authenticate` and `ctap hmac-secret` (issue 24) against the
//! in-process authenticator with a state file: the response JSON on stdout and nothing
//! else, an origin that does not own the rpId refused with a non-zero exit, the same
//! secret twice for the same salt and a different one for another.

mod support;

use serde_json::{Value, json};
use support::Target;

fn creation(rp_id: &str) -> String {
    json!({"publicKey": {
        "rp": {"id": rp_id, "name": "Example"},
        "user": {"id": "dXNlcg", "name": "alice", "displayName": "Alice"},
        "challenge": "Y2hhbGxlbmdlLWNoYWxsZW5nZQ",
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        "extensions": {"prf": {}, "credProps": true},
    }})
    .to_string()
}

fn stdout_json(target: &Target, args: &[&str], stdin: &str) -> Value {
    let output = target.command(args).write_stdin(stdin).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Exactly one JSON document.
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn register_and_authenticate_print_the_response_json() {
    let target = Target::virtual_device();
    let origin = ["--origin", "https://login.example.com"];
    let registration = stdout_json(
        &target,
        &[&["webauthn", "register"][..], &origin].concat(),
        &creation("example.com"),
    );
    assert_eq!(registration["type"], "public-key");
    assert_eq!(
        registration["clientExtensionResults"],
        json!({"credProps": {"rk": false}, "prf": {"enabled": true}})
    );
    let id = registration["id"].as_str().unwrap();
    let request = json!({"challenge": "AAAAAAAAAAAAAAAAAAAAAA", "rpId": "example.com",
        "allowCredentials": [{"type": "public-key", "id": id}]});
    let assertion = stdout_json(
        &target,
        &[&["webauthn", "authenticate"][..], &origin].concat(),
        &request.to_string(),
    );
    assert_eq!(assertion["id"], id);
    assert!(assertion["response"]["signature"].is_string());

    // Another site's rpId: refused, nothing on stdout.
    let output = target
        .command(&[&["webauthn", "register"][..], &origin].concat())
        .write_stdin(creation("evil.com"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("SecurityError"));
    // Bad options name the member.
    let output = target
        .command(&[&["webauthn", "register"][..], &origin].concat())
        .write_stdin(r#"{"publicKey": {"rp": {"name": "x"}, "user": {"id": "!!"}}}"#)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("publicKey.user.id"));
}

#[test]
fn hmac_secret_gives_one_secret_per_credential_and_salt() {
    let target = Target::virtual_device();
    let registration = stdout_json(
        &target,
        &["webauthn", "register", "--origin", "https://example.com"],
        &creation("example.com"),
    );
    let raw = ctap::webauthn::base64url_decode(registration["rawId"].as_str().unwrap()).unwrap();
    let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let salt = "11".repeat(32);
    let other = "22".repeat(32);
    let secret = |salt: &str| {
        target.json(&[
            "hmac-secret",
            "--rp",
            "example.com",
            "--cred-id",
            &id,
            "--salt",
            salt,
        ])["output1"]
            .clone()
    };
    let first = secret(&salt);
    assert_eq!(first.as_str().unwrap().len(), 64);
    assert_eq!(secret(&salt), first);
    assert_ne!(secret(&other), first);
    // Two salts, two secrets; the first the same as alone.
    let both = target.json(&[
        "hmac-secret",
        "--rp",
        "example.com",
        "--cred-id",
        &id,
        "--salt",
        &salt,
        "--salt2",
        &other,
    ]);
    assert_eq!(both["output1"], first);
    assert_eq!(both["output2"], secret(&other));
    // A salt of the wrong length is a usage error.
    target.fails(
        &[
            "hmac-secret",
            "--rp",
            "example.com",
            "--cred-id",
            &id,
            "--salt",
            "00",
        ],
        2,
    );
}

#[test]
fn blob_put_get_delete() {
    let target = Target::virtual_device();
    let options = json!({"publicKey": {
        "rp": {"id": "example.com", "name": "Example"},
        "user": {"id": "dXNlcg", "name": "alice", "displayName": "Alice"},
        "challenge": "Y2hhbGxlbmdlLWNoYWxsZW5nZQ",
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        "authenticatorSelection": {"residentKey": "required"},
        "extensions": {"largeBlob": {"support": "required"}},
    }});
    let registration = stdout_json(
        &target,
        &["webauthn", "register", "--origin", "https://example.com"],
        &options.to_string(),
    );
    let raw = ctap::webauthn::base64url_decode(registration["rawId"].as_str().unwrap()).unwrap();
    let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let which = ["--rp", "example.com", "--cred-id", id.as_str()];
    let output = target
        .command(&[&["blob", "put"][..], &which].concat())
        .write_stdin("blob bytes \u{0}\u{1}")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = target
        .command(&[&["blob", "get"][..], &which].concat())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"blob bytes \x00\x01");
    assert_eq!(
        target.json(&[&["blob", "delete"][..], &which].concat())["deleted"],
        true
    );
    let error = target.fails(&[&["blob", "get"][..], &which].concat(), 1);
    assert!(error.contains("no large blob"), "{error}");
}
