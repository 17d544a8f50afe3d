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

/// Standard padded base64, as libfido2's tools write it (RustCrypto's base64ct).
struct B64;

impl B64 {
    fn encode(&self, bytes: impl AsRef<[u8]>) -> String {
        use base64ct::Encoding as _;
        base64ct::Base64::encode_string(bytes.as_ref())
    }

    fn decode(&self, text: &str) -> Result<Vec<u8>, base64ct::Error> {
        use base64ct::Encoding as _;
        base64ct::Base64::decode_vec(text)
    }
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

/// U2F in libfido2's formats (fido2-cred -M -u, fido2-assert -G -u): `ctap u2f register
/// --fido2-tools` prints a fido-u2f credential (the authenticator data as CTAP 2.1
/// section 10.2 maps a registration) that `ctap cred verify` and fido2-cred -V check,
/// and `u2f authenticate --fido2-tools` an assertion fido2-assert -V checks.
#[test]
fn u2f_in_the_tools_formats_verifies_both_ways() {
    let target = Target::virtual_device();
    let made = ctap_with_input(
        &target,
        &["u2f", "register", "--fido2-tools"],
        &format!("{CLIENT_DATA_HASH}\nexample.com\nalice\nYWxpY2U=\n"),
    );
    let lines: Vec<&str> = made.lines().collect();
    assert_eq!(lines.len(), 7, "{made}");
    assert_eq!(lines[2], "fido-u2f");
    let verified = offline_ok(&["cred", "verify"], &made);
    assert_eq!(verified.lines().next(), Some(lines[4]));
    // A changed client data hash breaks the attestation.
    let mut wrong: Vec<&str> = lines.clone();
    let other_hash = "HwECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    wrong[0] = other_hash;
    assert_eq!(
        offline(&["cred", "verify"], &wrong.join("\n"))
            .status
            .code(),
        Some(1)
    );
    let asserted = ctap_with_input(
        &target,
        &["u2f", "authenticate", "--fido2-tools"],
        &format!("{CLIENT_DATA_HASH}\nexample.com\n{}\n", lines[4]),
    );
    assert_eq!(asserted.lines().count(), 4, "{asserted}");
    let key = Temp::new(
        "u2f.pem",
        verified
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
            .as_bytes(),
    );
    let key_path = key.0.to_str().unwrap();
    let checked = offline_ok(
        &["cred", "verify", "--assertion", "--key", key_path],
        &asserted,
    );
    assert!(checked.contains("verified"), "{checked}");
    if let Some(output) = tool("fido2-cred", &["-V"], &made) {
        assert!(output.status.success(), "fido2-cred -V: {output:?}");
        assert_eq!(String::from_utf8(output.stdout).unwrap(), verified);
    }
    if let Some(output) = tool("fido2-assert", &["-V", key_path, "es256"], &asserted) {
        assert!(output.status.success(), "fido2-assert -V: {output:?}");
    }
}

/// fido2-assert -G -h's formats: `--hmac-secret` reads the salt from the input's last
/// line (line 4 after a credential id, line 3 for a discoverable credential) and ends
/// each assertion's output with the secret (CTAP 2.1 §12.5). The secret is the one
/// `ctap hmac-secret` (the WebAuthn client's hmacGetSecret) derives for the same
/// credential and salt, a 64-byte salt gives two secrets, another salt another secret,
/// and a salt of the wrong size is a usage error naming its line.
#[test]
fn hmac_secret_salts_and_secrets_in_fido2_assert_formats() {
    let b64 = B64;
    let target = Target::virtual_device();
    let made = ctap_with_input(
        &target,
        &["cred", "make", "--fido2-tools", "--hmac-secret"],
        &format!("{CLIENT_DATA_HASH}\nexample.com\nalice\nYWxpY2U=\n"),
    );
    let credential_id = made.lines().nth(4).unwrap().to_owned();
    let id_hex: String = b64
        .decode(&credential_id)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let salt = [7u8; 32];
    let salt_b64 = b64.encode(salt);
    let asserted = ctap_with_input(
        &target,
        &["cred", "assert", "--fido2-tools", "--hmac-secret"],
        &format!("{CLIENT_DATA_HASH}\nexample.com\n{credential_id}\n{salt_b64}\n"),
    );
    let lines: Vec<&str> = asserted.lines().collect();
    assert_eq!(lines.len(), 5, "4 lines and the secret: {asserted}");
    let secret = b64.decode(lines[4]).unwrap();
    assert_eq!(secret.len(), 32);
    // The same secret through the WebAuthn client's hmacGetSecret.
    let through_webauthn = target.json(&[
        "hmac-secret",
        "--rp",
        "example.com",
        "--cred-id",
        &id_hex,
        "--salt",
        &"07".repeat(32),
    ]);
    let webauthn_hex = through_webauthn.to_string();
    let secret_hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        webauthn_hex.contains(&secret_hex),
        "ctap hmac-secret: {webauthn_hex}, fido2-tools: {secret_hex}"
    );
    // Still an assertion fido2-assert -V's format: the first four lines verify.
    let verified = offline_ok(&["cred", "verify"], &made);
    let pem = verified.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n";
    let key = Temp::new("hmac-key.pem", pem.as_bytes());
    let checked = offline_ok(
        &[
            "cred",
            "verify",
            "--assertion",
            "--key",
            key.0.to_str().unwrap(),
        ],
        &lines[..4].join("\n"),
    );
    assert_eq!(checked.trim(), "signature         verified");
    // Two salts: two secrets, the first the same as before.
    let two = b64.encode([[7u8; 32], [8u8; 32]].concat());
    let asserted = ctap_with_input(
        &target,
        &["cred", "assert", "--fido2-tools", "--hmac-secret"],
        &format!("{CLIENT_DATA_HASH}\nexample.com\n{credential_id}\n{two}\n"),
    );
    let both = b64.decode(asserted.lines().nth(4).unwrap()).unwrap();
    assert_eq!(both.len(), 64);
    assert_eq!(both[..32], secret[..]);
    assert_ne!(both[32..], secret[..]);
    // A 16-byte salt is refused before anything is sent.
    let short = target
        .command(&["cred", "assert", "--fido2-tools", "--hmac-secret"])
        .write_stdin(format!(
            "{CLIENT_DATA_HASH}\nexample.com\n{credential_id}\n{}\n",
            b64.encode([1u8; 16])
        ))
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(2), "{short:?}");
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(
        stderr.contains("line 4 (hmac salt) is 16 bytes"),
        "{stderr}"
    );
    // Without --hmac-secret a fourth line is refused, naming the option.
    let extra = target
        .command(&["cred", "assert", "--fido2-tools"])
        .write_stdin(format!(
            "{CLIENT_DATA_HASH}\nexample.com\n{credential_id}\n{salt_b64}\n"
        ))
        .output()
        .unwrap();
    assert_eq!(extra.status.code(), Some(2), "{extra:?}");
    assert!(
        String::from_utf8_lossy(&extra.stderr).contains("--hmac-secret (-h)"),
        "{extra:?}"
    );
}

/// A discoverable credential with hmac-secret: no credential id line, so the salt is
/// line 3 (fido2-assert -G -r -h), and the output has the user id, then the secret.
#[test]
fn hmac_secret_with_a_discoverable_credential_reads_the_salt_from_line_3() {
    let b64 = B64;
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "1234"]);
    ctap_with_input(
        &target,
        &[
            "cred",
            "make",
            "--fido2-tools",
            "--resident",
            "--hmac-secret",
            "--pin",
            "1234",
        ],
        &format!("{CLIENT_DATA_HASH}\nrk.example\nbob\nYm9i\n"),
    );
    let asserted = ctap_with_input(
        &target,
        &[
            "cred",
            "assert",
            "--fido2-tools",
            "--hmac-secret",
            "--pin",
            "1234",
        ],
        &format!(
            "{CLIENT_DATA_HASH}\nrk.example\n{}\n",
            b64.encode([9u8; 32])
        ),
    );
    let lines: Vec<&str> = asserted.lines().collect();
    assert_eq!(lines.len(), 6, "{asserted}");
    assert_eq!(lines[4], "Ym9i", "the user id");
    assert_eq!(b64.decode(lines[5]).unwrap().len(), 32, "the secret");
}
