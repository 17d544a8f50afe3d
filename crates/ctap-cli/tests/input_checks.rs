//! Input checks before anything is sent (issue 25): every usage error exits with status
//! 2 and says what was wrong, and for a misspelt device what was probably meant.

use std::process::Output;

use assert_cmd::Command;

fn ctap(args: &[&str]) -> Output {
    Command::cargo_bin("ctap")
        .unwrap()
        .env_remove("CTAP_VIRTUAL_STATE")
        .env_remove("CTAP_PIN")
        .env("CTAP_CLI_FAKE_DEVICES", "[]")
        .args(args)
        .output()
        .unwrap()
}

/// Runs `ctap ARGS`, expects exit status 2, returns stderr.
fn usage_error(args: &[&str]) -> String {
    let output = ctap(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    stderr
}

#[test]
fn a_misspelt_device_gets_a_did_you_mean() {
    for (device, meant) in [
        ("VIRTUAL", "`virtual`"),
        ("Touch", "`touch`"),
        ("127.0.0.1:8111", "`udp:127.0.0.1:8111`"),
        ("localhost:8111", "`udp:localhost:8111`"),
        ("[::1]:8111", "`udp:[::1]:8111`"),
        ("UDP:127.0.0.1:8111", "`udp:127.0.0.1:8111`"),
        ("Serial:A1B2", "`serial:A1B2`"),
    ] {
        let error = usage_error(&["--device", device, "info"]);
        assert!(
            error.contains(&format!("did you mean {meant}?")),
            "{device}: {error}"
        );
    }
    let error = usage_error(&["--device", "yubikey", "info"]);
    assert!(error.contains("not a device name"), "{error}");
}

#[test]
fn a_port_out_of_range_is_named() {
    let error = usage_error(&["--device", "udp:127.0.0.1:70000", "info"]);
    assert!(
        error.contains("port 70000 is out of range (0..=65535)"),
        "{error}"
    );
    let error = usage_error(&["serve", "--udp", "127.0.0.1:65536"]);
    assert!(error.contains("port 65536 is out of range"), "{error}");
}

#[cfg(unix)]
#[test]
fn a_path_that_is_not_a_hid_device_is_a_usage_error() {
    let file = std::env::temp_dir().join(format!("ctap-cli-not-hid-{}", std::process::id()));
    std::fs::write(&file, b"").unwrap();
    let error = usage_error(&["--device", file.to_str().unwrap(), "info"]);
    let _ = std::fs::remove_file(&file);
    assert!(
        error.contains("not a HID device (a regular file)"),
        "{error}"
    );
    let error = usage_error(&["--device", "/", "info"]);
    assert!(error.contains("not a HID device (a directory)"), "{error}");
    #[cfg(target_os = "linux")]
    {
        let error = usage_error(&["--device", "/dev/null", "info"]);
        assert!(error.contains("not a hidraw one"), "{error}");
    }
}

#[test]
fn empty_or_oversized_credential_fields_are_refused_by_name() {
    let virtual_device = ["--device", "virtual"];
    let error = usage_error(&[&virtual_device[..], &["cred", "make", "--rp", ""]].concat());
    assert!(error.contains("--rp is empty"), "{error}");
    let error = usage_error(&[&virtual_device[..], &["cred", "assert", "--rp", " "]].concat());
    assert!(error.contains("--rp is empty"), "{error}");
    let error = usage_error(
        &[
            &virtual_device[..],
            &["cred", "make", "--rp", "a.com", "--user", ""],
        ]
        .concat(),
    );
    assert!(error.contains("--user-name is empty"), "{error}");
    let long = "u".repeat(65);
    let error = usage_error(
        &[
            &virtual_device[..],
            &["cred", "make", "--rp", "a.com", "--user", &long],
        ]
        .concat(),
    );
    assert!(
        error.contains("--user-name is 65 bytes; the most is 64"),
        "{error}"
    );
    let error = usage_error(
        &[
            &virtual_device[..],
            &["cred", "assert", "--rp", "a.com", "--cred-id", ""],
        ]
        .concat(),
    );
    assert!(error.contains("--cred-id is empty"), "{error}");
}
