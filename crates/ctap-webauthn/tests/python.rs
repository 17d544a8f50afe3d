//! Relying-party verification by code nobody here wrote: python-fido2 2.2.1's
//! `Fido2Server` makes the options, our client answers them against the software
//! authenticator (served over UDP), and the server verifies our
//! RegistrationResponseJSON and AuthenticationResponseJSON as a browser would post
//! them. Then python-fido2's `Fido2Client` derives the PRF of the same credential with
//! the same salts over the same authenticator, and the outputs must be equal.
//!
//! Needs the venv `crates/ctap-virtual/interop/venv.sh` makes (target/interop-venv with
//! fido2 2.2.1; `.ci/run` makes it before the test step). Without it the test says
//! SKIPPED and passes, except under CI (the `CI` variable set to anything but empty,
//! `0` or `false`, the rule of `.ci/skip.sh`) or when `WEBAUTHN_INTEROP_REQUIRED` is
//! set: then a skip fails, so the check cannot pass by not running.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use ctap_virtual::{Config, UdpServer};
use ctap_webauthn::{
    CreationOptions, DefaultClientDataCollector, Fido2Client, FixedPin, RequestOptions,
    base64url_encode,
};
use serde_json::{Value, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/relying_party.py");

/// The venv's python, if it has fido2 2.2.1.
fn python_fido2() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let python = target.join("interop-venv/bin/python");
    let output = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('fido2'))",
        ])
        .output()
        .ok()?;
    (String::from_utf8_lossy(&output.stdout).trim() == "2.2.1").then_some(python)
}

/// Set (to anything) to make a skip a failure outside CI too.
const REQUIRED_VAR: &str = "WEBAUTHN_INTEROP_REQUIRED";

fn skip(why: &str) {
    let ci = std::env::var("CI").is_ok_and(|value| !matches!(value.trim(), "" | "0" | "false"));
    assert!(
        !ci && std::env::var_os(REQUIRED_VAR).is_none(),
        "CI or {REQUIRED_VAR} is set but the test would skip: {why}"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

struct RelyingParty {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl RelyingParty {
    fn ask(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let answer: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        assert!(
            answer.get("error").is_none(),
            "python-fido2: {}\n{}",
            answer["error"],
            answer["trace"].as_str().unwrap_or("")
        );
        answer
    }
}

impl Drop for RelyingParty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn python_fido2_verifies_our_responses_and_derives_the_same_prf() {
    let Some(python) = python_fido2() else {
        skip(
            "no python-fido2 2.2.1 venv at target/interop-venv (bash crates/ctap-virtual/interop/run.sh makes it)",
        );
        return;
    };
    let mut child = Command::new(python)
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut rp = RelyingParty {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
        child,
    };
    let server = UdpServer::bind("127.0.0.1:0", Config::default()).unwrap();
    let address = server.local_addr().unwrap();
    let running = server.spawn().unwrap();
    let device = ctap_device::udp::open(address).unwrap();
    let mut client = Fido2Client::new(
        device,
        DefaultClientDataCollector::new("https://example.com"),
        FixedPin::new(None),
    )
    .unwrap();

    // Registration, with prf and credProps asked for by the server.
    let options =
        rp.ask(json!({"cmd": "register_begin", "extensions": {"prf": {}, "credProps": true}}));
    let options = CreationOptions::from_json(&options.to_string()).unwrap();
    let registration = client.make_credential(&options, None).unwrap();
    let response: Value = serde_json::from_str(&registration.to_json()).unwrap();
    assert_eq!(
        response["clientExtensionResults"],
        json!({"credProps": {"rk": false}, "prf": {"enabled": true}})
    );
    let verified = rp.ask(json!({"cmd": "register_complete", "response": response}));
    assert_eq!(verified["credential_id"], registration.id);

    // Authentication, verified by the server (signature, counter, client data).
    for _ in 0..2 {
        let options = rp.ask(json!({"cmd": "authenticate_begin"}));
        let options = RequestOptions::from_json(&options.to_string()).unwrap();
        let response = client
            .get_assertion(&options, None)
            .unwrap()
            .response(0)
            .unwrap();
        let response: Value = serde_json::from_str(&response.to_json()).unwrap();
        assert_eq!(
            rp.ask(json!({"cmd": "authenticate_complete", "response": response}))["ok"],
            true
        );
    }

    // The same PRF as python-fido2's client, for one salt and for two.
    for (first, second) in [
        (b"first salt".as_slice(), None),
        (b"one", Some(b"two".as_slice())),
    ] {
        let mut eval = json!({"first": base64url_encode(first)});
        if let Some(second) = second {
            eval["second"] = json!(base64url_encode(second));
        }
        let request = RequestOptions::from_value(&json!({
            "challenge": base64url_encode(b"rust challenge"),
            "rpId": "example.com",
            "allowCredentials": [{"type": "public-key", "id": registration.id}],
            "userVerification": "discouraged",
            "extensions": {"prf": {"eval": eval.clone()}},
        }))
        .unwrap();
        let ours = client
            .get_assertion(&request, None)
            .unwrap()
            .response(0)
            .unwrap();
        let ours = serde_json::to_value(&ours.client_extension_results).unwrap();
        let mut command =
            json!({"cmd": "prf", "udp": address.to_string(), "credential_id": registration.id});
        command["first"] = eval["first"].clone();
        command["second"] = eval.get("second").cloned().unwrap_or(Value::Null);
        let theirs = rp.ask(command);
        assert_eq!(ours["prf"]["results"]["first"], theirs["first"]);
        assert_eq!(
            ours["prf"]["results"].get("second"),
            theirs.get("second").filter(|v| !v.is_null())
        );
    }
    // PRF results at registration (hmac-secret-mc, CTAP 2.2 §12.5) are the secrets
    // python-fido2's client later derives for that credential with the same salts.
    let eval = json!({"first": base64url_encode(b"one"), "second": base64url_encode(b"two")});
    let options = CreationOptions::from_value(&json!({
        "rp": {"id": "example.com", "name": "Example"},
        "user": {"id": base64url_encode(b"mc-user"), "name": "mc", "displayName": "MC"},
        "challenge": base64url_encode(b"mc challenge"),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        "extensions": {"prf": {"eval": eval.clone()}},
    }))
    .unwrap();
    let made = client.make_credential(&options, None).unwrap();
    let ours = serde_json::to_value(&made.client_extension_results).unwrap();
    let mut command = json!({"cmd": "prf", "udp": address.to_string(), "credential_id": made.id});
    command["first"] = eval["first"].clone();
    command["second"] = eval["second"].clone();
    let theirs = rp.ask(command);
    assert_eq!(ours["prf"]["results"]["first"], theirs["first"], "{ours}");
    assert_eq!(ours["prf"]["results"]["second"], theirs["second"], "{ours}");
    drop(rp);
    running.stop().unwrap();
}
