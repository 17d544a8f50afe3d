//! The client's half of the PIN/UV key agreement against code nobody here wrote: our
//! `encapsulate` (CTAP 2.1 §6.5.6; both paths: ring, taken with the operating system's
//! randomness when built with the `ring` feature, and p256, taken with any other
//! source) sends a key; python-fido2 2.2.1 and OpenSSL (`cryptography`) do the
//! authenticator's `decapsulate` with it (`interop/pin_shared_secret.py`): ECDH, then
//! `PinProtocolV1.kdf` / `PinProtocolV2.kdf`. The shared secrets must be equal, and
//! what python-fido2 encrypts under protocol two's must decrypt with ours.
//!
//! Needs the venv `crates/ctap-virtual/interop/venv.sh` makes (target/interop-venv with
//! fido2 2.2.1; `.ci/run` makes it before the test step). Without it the test says
//! SKIPPED and passes, except under CI (the `CI` variable set to anything but empty,
//! `0` or `false`, the rule of `.ci/skip.sh`) or when `CTAP2_CLIENT_INTEROP_REQUIRED`
//! is set: then a skip fails, so the check cannot pass by not running.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

use ctap2_client::proto::{CoseKey, KeyAgreementKey, PinProtocol};
use ctap2_client::{Error, Randomness, SystemRandom, encapsulate};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/pin_shared_secret.py");

/// The authenticator's private key (any valid scalar).
const SCALAR: [u8; 32] = [0x5a; 32];

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
const REQUIRED_VAR: &str = "CTAP2_CLIENT_INTEROP_REQUIRED";

fn skip(why: &str) {
    let ci = std::env::var("CI").is_ok_and(|value| !matches!(value.trim(), "" | "0" | "false"));
    assert!(
        !ci && std::env::var_os(REQUIRED_VAR).is_none(),
        "CI or {REQUIRED_VAR} is set but the test would skip: {why}"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// The operating system's generator, not saying so: `encapsulate` takes p256.
struct ThroughP256;

impl Randomness for ThroughP256 {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), Error> {
        SystemRandom.fill(out)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// python-fido2's `decapsulate` of our key `ours`: its three lines (protocol one's
/// secret, protocol two's, protocol two's encryption of 32 bytes of 0x11).
fn python_decapsulate(python: &PathBuf, ours: &CoseKey) -> Vec<String> {
    let CoseKey::EcdhEsHkdf256 { x, y } = ours else {
        panic!("the platform key is not an ECDH-ES+HKDF-256 key: {ours:?}");
    };
    let output = Command::new(python)
        .args([SCRIPT, &hex(&SCALAR), &hex(x), &hex(y)])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{text}");
    lines
}

#[test]
fn python_fido2_derives_our_shared_secrets_on_both_paths() {
    let Some(python) = python_fido2() else {
        skip(
            "no python-fido2 2.2.1 venv at target/interop-venv (bash crates/ctap-virtual/interop/venv.sh makes it)",
        );
        return;
    };
    let device = KeyAgreementKey::from_scalar(&SCALAR).unwrap().public_key();
    let sources: [(&str, &mut dyn Randomness); 2] = [
        (
            "the operating system's randomness (ring when built with it)",
            &mut SystemRandom,
        ),
        ("another source (p256)", &mut ThroughP256),
    ];
    for (path, rng) in sources {
        // A new platform key each call, so one python run per call.
        let (ours, one) = encapsulate(PinProtocol::One, &device, &mut *rng).unwrap();
        let theirs = python_decapsulate(&python, &ours);
        assert_eq!(hex(one.as_bytes()), theirs[0], "protocol one, {path}");

        let (ours, two) = encapsulate(PinProtocol::Two, &device, rng).unwrap();
        let theirs = python_decapsulate(&python, &ours);
        assert_eq!(hex(two.as_bytes()), theirs[1], "protocol two, {path}");
        let plain = two.decrypt(&unhex(&theirs[2])).unwrap();
        assert_eq!(plain.as_slice(), [0x11; 32], "protocol two, {path}");
    }
}
