//! Interchange with libfido2's tools (issue 25): `ctap cred make|assert --fido2-tools`
//! read fido2-cred -M's / fido2-assert -G's input and print their output, which
//! fido2-cred -V / fido2-assert -V (when installed: Debian fido2-tools) and
//! `ctap cred verify` check; the other way (fido2-cred -M against a key, then `ctap`)
//! goes through the hidraw harness, in `fido2_tools_hidraw.rs`.

mod support;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use support::Target;

/// A temporary file holding `text`, removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str, text: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("ctap-cli-f2t-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `ctap ARGS` on `target` with `input` on stdin; expects success; stdout.
fn ctap_with_input(target: &Target, args: &[&str], input: &str) -> String {
    let output = target.command(args).write_stdin(input).output().unwrap();
    assert!(
        output.status.success(),
        "ctap {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `ctap ARGS` (a command that talks to no device) with `input` on stdin;
/// returns the output.
fn offline(args: &[&str], input: &str) -> std::process::Output {
    assert_cmd::Command::cargo_bin("ctap")
        .unwrap()
        .args(args)
        .write_stdin(input)
        .output()
        .unwrap()
}

/// `offline`, expecting success; stdout.
fn offline_ok(args: &[&str], input: &str) -> String {
    let output = offline(args, input);
    assert!(
        output.status.success(),
        "ctap {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs a libfido2 tool; `None` (after saying so) when it is not installed.
fn tool(name: &str, args: &[&str], input: &str) -> Option<std::process::Output> {
    let Some(path) = support::on_path(name) else {
        support::skip(&format!(
            "no {name} on PATH (libfido2's tools: apt-get install fido2-tools)"
        ));
        return None;
    };
    let mut child = Command::new(path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    Some(child.wait_with_output().unwrap())
}

const CLIENT_DATA_HASH: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[test]
fn what_ctap_makes_fido2_cred_and_fido2_assert_verify() {
    let target = Target::virtual_device();
    // fido2-cred -M input: client data hash, RP id, user name, user id.
    let made = ctap_with_input(
        &target,
        &["cred", "make", "--fido2-tools"],
        &format!("{CLIENT_DATA_HASH}\nexample.com\nalice\nYWxpY2U=\n"),
    );
    let lines: Vec<&str> = made.lines().collect();
    assert_eq!(
        lines.len(),
        6,
        "packed self attestation: no certificate line: {made}"
    );
    assert_eq!(lines[0], CLIENT_DATA_HASH);
    assert_eq!(lines[1], "example.com");
    assert_eq!(lines[2], "packed");
    // libfido2 prints the authenticator data as a CBOR byte string: 0x58 + length.
    // (0x58: a one-byte length follows; base64 of 0b010110.. is "W").
    assert!(lines[3].starts_with('W'), "{made}");
    let credential_id = lines[4].to_owned();
    // `ctap cred verify` checks it and prints what fido2-cred -V prints.
    let verified = offline_ok(&["cred", "verify"], &made);
    let pem = verified.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n";
    assert_eq!(verified.lines().next(), Some(credential_id.as_str()));
    assert!(
        pem.starts_with("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"),
        "{pem}"
    );
    // fido2-assert -G input: client data hash, RP id, credential id.
    let asserted = ctap_with_input(
        &target,
        &["cred", "assert", "--fido2-tools"],
        &format!("{CLIENT_DATA_HASH}\nexample.com\n{credential_id}\n"),
    );
    assert_eq!(asserted.lines().count(), 4, "{asserted}");
    let key = Temp::new("key.pem", pem.as_bytes());
    let key_path = key.0.to_str().unwrap();
    let checked = offline_ok(
        &["cred", "verify", "--assertion", "--key", key_path],
        &asserted,
    );
    assert_eq!(checked.trim(), "signature         verified");
    // A changed signature does not verify.
    let mut tampered: Vec<String> = asserted.lines().map(str::to_owned).collect();
    tampered[3] = tampered[3].replacen('M', "N", 1);
    let output = offline(
        &["cred", "verify", "--assertion", "--key", key_path],
        &tampered.join("\n"),
    );
    assert_eq!(output.status.code(), Some(1));

    // libfido2's own verifiers agree.
    let Some(cred_v) = tool("fido2-cred", &["-V"], &made) else {
        return;
    };
    assert!(cred_v.status.success(), "fido2-cred -V: {cred_v:?}");
    assert_eq!(
        String::from_utf8(cred_v.stdout).unwrap(),
        verified,
        "same as fido2-cred -V"
    );
    let Some(assert_v) = tool("fido2-assert", &["-V", key_path, "es256"], &asserted) else {
        return;
    };
    assert!(assert_v.status.success(), "fido2-assert -V: {assert_v:?}");
    let Some(assert_v) = tool(
        "fido2-assert",
        &["-V", key_path, "es256"],
        &tampered.join("\n"),
    ) else {
        return;
    };
    assert!(
        !assert_v.status.success(),
        "fido2-assert -V took a changed signature"
    );
}

#[test]
fn a_discoverable_credential_prints_the_user_id_and_eddsa_verifies() {
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "1234"]);
    let made = target
        .command(&[
            "cred",
            "make",
            "--fido2-tools",
            "--resident",
            "--alg",
            "eddsa",
            "--pin",
            "1234",
        ])
        .write_stdin(format!("{CLIENT_DATA_HASH}\nrk.example\nbob\nYm9i\n"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let made = String::from_utf8(made.stdout).unwrap();
    let verified = offline_ok(&["cred", "verify"], &made);
    assert!(
        verified.contains("MCowBQYDK2VwAyEA"),
        "an Ed25519 PEM: {verified}"
    );
    // No credential id line: the RP's discoverable credentials, each with its user id.
    let asserted = target
        .command(&["cred", "assert", "--fido2-tools", "--pin", "1234"])
        .write_stdin(format!("{CLIENT_DATA_HASH}\nrk.example\n"))
        .output()
        .unwrap();
    assert!(asserted.status.success(), "{asserted:?}");
    let asserted = String::from_utf8(asserted.stdout).unwrap();
    let lines: Vec<&str> = asserted.lines().collect();
    assert_eq!(lines.len(), 5, "{asserted}");
    assert_eq!(lines[4], "Ym9i", "the user id");
    let key = Temp::new(
        "ed.pem",
        verified
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
            .as_bytes(),
    );
    let checked = offline_ok(
        &[
            "cred",
            "verify",
            "--assertion",
            "--key",
            key.0.to_str().unwrap(),
        ],
        &asserted,
    );
    assert!(checked.contains("verified"), "{checked}");
    if let Some(output) = tool(
        "fido2-assert",
        &["-V", key.0.to_str().unwrap(), "eddsa"],
        &asserted,
    ) {
        assert!(output.status.success(), "fido2-assert -V: {output:?}");
    }
}

#[test]
fn bad_tool_input_is_a_usage_error_naming_the_line() {
    let target = Target::virtual_device();
    for (input, expected) in [
        ("", "line 1 (client data hash) is missing"),
        (
            "AAEC\nexample.com\nalice\nYWxpY2U=\n",
            "line 1 (client data hash) is 3 bytes",
        ),
        (
            &format!("{CLIENT_DATA_HASH}\nexample.com\nalice\n")[..],
            "line 4 (user id) is missing",
        ),
        (
            &format!("{CLIENT_DATA_HASH}\nexample.com\nalice\n!!\n")[..],
            "line 4 (user id): not base64",
        ),
    ] {
        let output = target
            .command(&["cred", "make", "--fido2-tools"])
            .write_stdin(input)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{input:?}: {stderr}");
        assert!(stderr.contains(expected), "{input:?}: {stderr}");
    }
    let error = target.fails(&["--json", "cred", "make", "--fido2-tools"], 2);
    assert!(error.contains("choose one"), "{error}");
}
