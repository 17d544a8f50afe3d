//! What `cred make`, `cred list` and `cred assert` print of what a device and an RP
//! control: names escaped in text and JSON as `info` and `list` escape device strings
//! (control characters, C1, bidi overrides), and "verified" only where a signature was
//! verified (format `none` has none). Against `ctap serve --udp`.

mod support;

use support::Target;

/// A user name that would retitle the terminal (OSC), ring its bell, send a C1 CSI and
/// reverse the rest of the line (RLO), were it printed as is.
const EVIL: &str = "evil\u{1b}]0;pwned\u{7}\u{9b}2J\u{202e}txt";

fn assert_escaped(text: &str) {
    for raw in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'] {
        assert!(!text.contains(raw), "raw {raw:?} printed: {text:?}");
    }
}

#[test]
fn user_names_from_the_device_are_escaped_in_text_and_json() {
    let target = Target::udp(&["--pin", "123456"]);
    let pin = ["--pin", "123456"];
    let mut make = vec![
        "cred",
        "make",
        "--rp",
        "example.com",
        "--resident",
        "--user",
        EVIL,
    ];
    make.extend_from_slice(&pin);
    target.json(&make);

    let mut list = vec!["cred", "list"];
    list.extend_from_slice(&pin);
    let text = target.command(&list).output().unwrap();
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert_escaped(&text);
    assert!(
        text.contains("evil\\u{1b}]0;pwned\\u{7}\\u{9b}2J\\u{202e}txt"),
        "{text}"
    );
    let json = target.json(&list);
    let name = json["rps"][0]["credentials"][0]["user"]["name"]
        .as_str()
        .unwrap();
    assert_escaped(name);
    assert!(name.starts_with("evil\\u{1b}"), "{name}");

    let mut assert = vec!["cred", "assert", "--rp", "example.com"];
    assert.extend_from_slice(&pin);
    let text = target.command(&assert).output().unwrap();
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let text = String::from_utf8(text.stdout).unwrap();
    assert_escaped(&text);
    assert!(text.contains("evil\\u{1b}"), "{text}");
    let json = target.json(&assert);
    let name = json["assertions"][0]["user"]["name"].as_str().unwrap();
    assert_escaped(name);
}

#[test]
fn none_attestation_is_never_verified_and_batch_attestation_is() {
    // Format none: the authenticator data is checked, nothing is signed.
    let target = Target::udp(&["--attestation", "none"]);
    let made = target.json(&["cred", "make", "--rp", "example.com"]);
    assert_eq!(made["attestation"]["format"], "none");
    assert_eq!(made["attestation"]["type"], "none");
    assert_eq!(made["attestation"]["verified"], false, "{made}");
    assert_eq!(
        made["attestation"]["result"],
        "no signature to verify (attestation format none)"
    );
    let text = target
        .command(&["cred", "make", "--rp", "example.com"])
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("signature         none: no signature to verify"),
        "{text}"
    );
    assert!(!text.contains(" verified\n"), "{text}");

    // Batch: the certificate meets WebAuthn §8.2.1 and the signature verifies.
    let target = Target::udp(&["--attestation", "batch"]);
    let made = target.json(&["cred", "make", "--rp", "example.com"]);
    assert_eq!(made["attestation"]["type"], "basic", "{made}");
    assert_eq!(made["attestation"]["verified"], true, "{made}");
}

#[test]
fn serve_channels_is_bounded() {
    let target = Target::virtual_device();
    for bad in ["1", "65537", "lots"] {
        let error = target.fails(&["serve", "--udp", "127.0.0.1:0", "--channels", bad], 2);
        assert!(error.contains("--channels"), "{error}");
    }
}
