//! The CTAP2 commands end to end (`pin`, `reset`, `cred`, `config`): against the
//! in-process software authenticator (`--device virtual`, its state kept between runs
//! in `$CTAP_VIRTUAL_STATE`) and against `ctap serve --udp`, with and without a PIN,
//! with both PIN/UV auth protocols.

mod support;

use support::Target;

use std::io::{BufRead, BufReader};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

/// `cred make` then `cred assert` with the printed id and key: both verify.
fn make_then_assert(target: &Target, alg: &str, auth: &[&str]) {
    let mut make = vec!["cred", "make", "--rp", "example.com", "--alg", alg];
    make.extend_from_slice(auth);
    let made = target.json(&make);
    assert_eq!(made["algorithm"], alg);
    assert_eq!(made["attestation"]["format"], "packed");
    assert_eq!(made["attestation"]["verified"], true, "{made}");
    assert_eq!(made["user_verified"], !auth.is_empty());
    let id = made["credential_id"].as_str().unwrap();
    let key = made["public_key"].as_str().unwrap();
    let mut assert = vec![
        "cred",
        "assert",
        "--rp",
        "example.com",
        "--cred-id",
        id,
        "--public-key",
        key,
    ];
    assert.extend_from_slice(auth);
    let asserted = target.json(&assert);
    let first = &asserted["assertions"][0];
    assert_eq!(first["credential_id"], id);
    assert_eq!(first["verified"], true, "{asserted}");
    assert_eq!(first["user_verified"], !auth.is_empty());
    assert!(first["sign_count"].as_u64().unwrap() > made["sign_count"].as_u64().unwrap());

    // Someone else's key does not verify it: exit status 1, and the JSON says why.
    let mut make = vec!["cred", "make", "--rp", "example.com", "--alg", alg];
    make.extend_from_slice(auth);
    let other = target.json(&make);
    let wrong_key = other["public_key"].as_str().unwrap();
    let mut assert = vec![
        "--json",
        "cred",
        "assert",
        "--rp",
        "example.com",
        "--cred-id",
        id,
        "--public-key",
        wrong_key,
    ];
    assert.extend_from_slice(auth);
    let output = target.command(&assert).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["assertions"][0]["verified"], false);
}

#[test]
fn make_and_assert_without_a_pin_on_virtual_and_udp() {
    for target in [Target::virtual_device(), Target::udp(&[])] {
        make_then_assert(&target, "es256", &[]);
        make_then_assert(&target, "eddsa", &[]);
        let error = target.fails(&["cred", "make", "--rp", "x.com", "--uv"], 1);
        assert!(error.contains("--uv needs a PIN"), "{error}");
        let status = target.json(&["pin", "status"]);
        assert_eq!(status["pin_set"], false);
        // No PIN, no retry counter (a key answers getPINRetries with PIN_NOT_SET).
        assert_eq!(status["retries"], serde_json::Value::Null);
        assert_eq!(status["protocols"], serde_json::json!([2, 1]));
    }
}

#[test]
fn with_a_pin_both_protocols_on_virtual_and_udp() {
    for protocol in ["1", "2"] {
        for target in [Target::virtual_device(), Target::udp(&[])] {
            target.json(&["pin", "set", "--new", "1234", "--pin-protocol", protocol]);
            let status = target.json(&["pin", "status"]);
            assert_eq!(status["pin_set"], true);
            let auth = ["--pin", "1234", "--pin-protocol", protocol];
            make_then_assert(&target, "es256", &auth);
            make_then_assert(&target, "eddsa", &auth);

            // Discoverable: assert without ids; the key comes from credential management.
            let mut make = vec![
                "cred",
                "make",
                "--rp",
                "rk.com",
                "--resident",
                "--user",
                "alice",
            ];
            make.extend_from_slice(&auth);
            let made = target.json(&make);
            let id = made["credential_id"].as_str().unwrap().to_owned();
            let mut assert = vec!["cred", "assert", "--rp", "rk.com"];
            assert.extend_from_slice(&auth);
            let asserted = target.json(&assert);
            assert_eq!(asserted["assertions"][0]["credential_id"], id.as_str());
            assert_eq!(asserted["assertions"][0]["user"]["name"], "alice");
            assert_eq!(asserted["assertions"][0]["verified"], true, "{asserted}");

            let mut list = vec!["cred", "list"];
            list.extend_from_slice(&auth);
            let listed = target.json(&list);
            assert_eq!(listed["existing"], 1);
            assert_eq!(listed["rps"][0]["rp_id"], "rk.com");
            assert_eq!(
                listed["rps"][0]["credentials"][0]["credential_id"],
                id.as_str()
            );
            assert_eq!(
                listed["rps"][0]["credentials"][0]["public_key"],
                made["public_key"]
            );

            let mut delete = vec!["cred", "delete", "--cred-id", &id, "--yes"];
            delete.extend_from_slice(&auth);
            assert_eq!(target.json(&delete)["deleted"], id.as_str());
            let error = target.fails(&delete, 1);
            assert!(error.contains("no credential with id"), "{error}");
            assert_eq!(target.json(&list)["rps"], serde_json::json!([]));

            // The PIN is needed once set.
            let error = target.fails(&["cred", "list"], 2);
            assert!(error.contains("CTAP_PIN"), "{error}");
            // ...and CTAP_PIN is one way to give it.
            let output = target
                .command(&["--json", "cred", "list", "--pin-protocol", protocol])
                .env("CTAP_PIN", "1234")
                .output()
                .unwrap();
            assert!(output.status.success());

            target.json(&[
                "pin",
                "change",
                "--pin",
                "1234",
                "--new",
                "98765",
                "--pin-protocol",
                protocol,
            ]);
            let error = target.fails(&["cred", "list", "--pin", "1234"], 1);
            assert!(error.contains("CTAP error: 0x31 - PIN_INVALID"), "{error}");
            target.json(&["cred", "list", "--pin", "98765"]);
        }
    }
}

#[test]
fn wrong_pins_block_the_pin() {
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "1234"]);
    // Every run is a power cycle of the in-process authenticator, so the three-per-boot
    // limit never hits; the eighth wrong PIN blocks.
    for attempt in 1..=8 {
        let error = target.fails(&["cred", "list", "--pin", "0000"], 1);
        let expected = if attempt < 8 {
            "CTAP error: 0x31 - PIN_INVALID"
        } else {
            "CTAP error: 0x32 - PIN_BLOCKED"
        };
        assert!(error.contains(expected), "attempt {attempt}: {error}");
    }
    assert_eq!(target.json(&["pin", "status"])["retries"], 0);
    let error = target.fails(&["cred", "list", "--pin", "1234"], 1);
    assert!(error.contains("PIN_BLOCKED"), "{error}");
}

#[test]
fn three_wrong_pins_need_a_power_cycle_on_a_running_authenticator() {
    let target = Target::udp(&["--pin", "1234"]);
    for _ in 0..2 {
        target.fails(&["cred", "list", "--pin", "0000"], 1);
    }
    let error = target.fails(&["cred", "list", "--pin", "0000"], 1);
    assert!(error.contains("0x34 - PIN_AUTH_BLOCKED"), "{error}");
    let error = target.fails(&["cred", "list", "--pin", "1234"], 1);
    assert!(error.contains("PIN_AUTH_BLOCKED"), "{error}");
    let status = target.json(&["pin", "status"]);
    assert_eq!(status["retries"], 5);
    assert_eq!(status["power_cycle_required"], true);
}

#[test]
fn pin_argument_errors() {
    let target = Target::virtual_device();
    // Checked against getInfo's minPINLength before anything is sent: a usage error.
    let error = target.fails(&["pin", "set", "--new", "123"], 2);
    assert!(error.contains("at least 4 characters"), "{error}");
    let error = target.fails(&["pin", "set"], 2);
    assert!(error.contains("--new"), "{error}");
    target.json(&["pin", "set", "--new", "1234"]);
    let error = target.fails(&["pin", "set", "--new", "5678"], 1);
    // CTAP 2.1 §6.5.5.5 step 3.
    assert!(error.contains("PIN_AUTH_INVALID"), "{error}");
    let error = target.fails(
        &["pin", "change", "--new", "5678", "--pin-protocol", "3"],
        2,
    );
    assert!(error.contains("3"), "{error}");
}

#[test]
fn config_always_uv_and_min_pin_length() {
    for target in [Target::virtual_device(), Target::udp(&[])] {
        target.json(&["pin", "set", "--new", "1234"]);
        let toggled = target.json(&["config", "always-uv", "on", "--pin", "1234"]);
        assert_eq!(toggled["always_uv"], true);
        // alwaysUv: even a non-discoverable credential needs the PIN now.
        let output = target
            .command(&["cred", "make", "--rp", "a.com", "--pin", "1234"])
            .output()
            .unwrap();
        assert!(output.status.success());
        let raised = target.json(&["config", "min-pin-length", "6", "--pin", "1234"]);
        assert_eq!(raised["min_pin_length"], 6);
        let status = target.json(&["pin", "status"]);
        assert_eq!(status["min_pin_length"], 6);
        // The 4-digit PIN is now too short: it must be changed before any other use.
        assert_eq!(status["force_pin_change"], true);
        let error = target.fails(&["config", "always-uv", "off", "--pin", "1234"], 1);
        assert!(error.contains("PIN_POLICY_VIOLATION"), "{error}");
        // Shorter than the new minimum: refused before it is sent (usage, status 2).
        let error = target.fails(&["pin", "change", "--pin", "1234", "--new", "12345"], 2);
        assert!(error.contains("at least 6 characters"), "{error}");
        target.json(&["pin", "change", "--pin", "1234", "--new", "123456"]);
        // The minimum can only grow (CTAP 2.1 section 6.11.4): refused before sending.
        let error = target.fails(&["config", "min-pin-length", "4", "--pin", "123456"], 2);
        assert!(error.contains("can only grow, and it is 6"), "{error}");
        let toggled = target.json(&["config", "always-uv", "off", "--pin", "123456"]);
        assert_eq!(toggled["always_uv"], false);
    }
}

#[test]
fn reset_needs_yes_and_forgets_everything() {
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "1234"]);
    target.json(&[
        "cred",
        "make",
        "--rp",
        "a.com",
        "--resident",
        "--pin",
        "1234",
    ]);
    let error = target.fails(&["reset"], 2);
    assert!(error.contains("--yes"), "{error}");
    assert_eq!(target.json(&["reset", "--yes"])["reset"], true);
    assert_eq!(target.json(&["pin", "status"])["pin_set"], false);
    let error = target.fails(&["cred", "assert", "--rp", "a.com"], 1);
    assert!(error.contains("NO_CREDENTIALS"), "{error}");
}

#[test]
fn a_refused_touch_fails_with_operation_denied() {
    let target = Target::udp(&["--deny"]);
    let error = target.fails(&["cred", "make", "--rp", "a.com"], 1);
    assert!(
        error.contains("CTAP error: 0x27 - OPERATION_DENIED"),
        "{error}"
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_a_touch_wait() {
    let target = Target::udp(&["--touch-delay", "60000"]);
    let mut make = Process::new(assert_cmd::cargo::cargo_bin("ctap"))
        .args(["--device", &target.device, "cred", "make", "--rp", "a.com"])
        .env_remove("CTAP_PIN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(make.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("touch the key"), "{first:?}");
    let started = Instant::now();
    let status = Process::new("kill")
        .args(["-INT", &make.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = loop {
        if let Some(status) = make.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "cred make did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(rest.trim(), "ctap: cancelled", "{rest:?}");
}

/// `$CTAP_VIRTUAL_STATE` is read by every command, not only the CTAP2 ones: `ctap raw`
/// (getInfo) sees the PIN `pin set` stored. And `--timeout` means the same for the
/// CTAP2 commands as for the others: a value too large for a deadline is "none", not an
/// error.
#[test]
fn the_virtual_state_is_every_commands_and_timeouts_mean_the_same() {
    let target = Target::virtual_device();
    // getInfo's options (map key 4) with clientPin (a text key) false, then true.
    let client_pin = |expected: bool| {
        let info = target.json(&["raw", "--cmd", "cbor", "--data", "04"]);
        let hex = info["response"].as_str().unwrap_or_default().to_owned();
        // "clientPin" in CBOR: 0x69 + the 9 bytes; its value follows (f4 false, f5 true).
        let key = "69636c69656e7450696e";
        let at = hex
            .find(key)
            .unwrap_or_else(|| panic!("no clientPin in {hex}"));
        let value = &hex[at + key.len()..at + key.len() + 2];
        assert_eq!(value, if expected { "f5" } else { "f4" }, "{hex}");
    };
    client_pin(false);
    target.json(&["pin", "set", "--new", "123456"]);
    client_pin(true);
    let status = target.json(&["--timeout", "1e19", "pin", "status"]);
    assert_eq!(status["pin_set"], true);
    let error = target.fails(&["--timeout", "0", "pin", "status"], 2);
    assert!(
        error.contains("--timeout must be a positive number"),
        "{error}"
    );
}

/// `serve --reset-window`: starting the server is the power-up; reset is refused once
/// the window has passed (NOT_ALLOWED, CTAP 2.1 section 6.6) and allowed any time with
/// `none`.
#[test]
fn serve_reset_window_is_counted_from_start() {
    let closed = Target::udp(&["--reset-window", "0"]);
    let error = closed.fails(&["reset", "--yes"], 1);
    assert!(error.contains("CTAP error: 0x30 - NOT_ALLOWED"), "{error}");
    let open = Target::udp(&["--reset-window", "none"]);
    assert_eq!(open.json(&["reset", "--yes"])["reset"], true);
    let output = Command::cargo_bin("ctap")
        .unwrap()
        .args(["serve", "--udp", "127.0.0.1:0", "--reset-window", "ten"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("or `none`"), "{stderr}");
}

/// Issue 25: the PIN is asked for only when the operation needs it. With a PIN set and
/// none given (stdin is not a terminal, so a prompt would be a usage error), what can go
/// without it does; what cannot says a PIN is needed.
#[test]
fn the_pin_is_needed_only_where_the_key_needs_it() {
    for target in [Target::virtual_device(), Target::udp(&[])] {
        target.json(&["pin", "set", "--new", "1234"]);
        // Non-discoverable with makeCredUvNotRqd (CTAP 2.1 section 6.1.2): no PIN.
        let made = target.json(&["cred", "make", "--rp", "a.com"]);
        assert_eq!(made["user_verified"], false, "{made}");
        let id = made["credential_id"].as_str().unwrap();
        let key = made["public_key"].as_str().unwrap();
        // An allow list and no --uv: no PIN either.
        let asserted = target.json(&[
            "cred",
            "assert",
            "--rp",
            "a.com",
            "--cred-id",
            id,
            "--public-key",
            key,
        ]);
        assert_eq!(asserted["assertions"][0]["verified"], true, "{asserted}");
        assert_eq!(asserted["assertions"][0]["user_verified"], false);
        assert_eq!(asserted["assertions"][0]["user_present"], true);
        // --uv with the PIN: verified.
        let asserted = target.json(&[
            "cred",
            "assert",
            "--rp",
            "a.com",
            "--cred-id",
            id,
            "--public-key",
            key,
            "--uv",
            "--pin",
            "1234",
        ]);
        assert_eq!(asserted["assertions"][0]["user_verified"], true);
        // A PIN given but not needed is used; --no-pin keeps it out.
        let made = target.json(&["cred", "make", "--rp", "a.com", "--pin", "1234"]);
        assert_eq!(made["user_verified"], true);
        let made = target.json(&["cred", "make", "--rp", "a.com", "--no-pin"]);
        assert_eq!(made["user_verified"], false);
        let error = target.fails(&["cred", "make", "--rp", "a.com", "--no-pin", "--uv"], 2);
        assert!(error.contains("--no-pin"), "{error}");
        // Discoverable: the PIN is needed (and none was given).
        let error = target.fails(&["cred", "make", "--rp", "a.com", "--resident"], 2);
        assert!(error.contains("a PIN is needed"), "{error}");
        let error = target.fails(&["cred", "assert", "--rp", "a.com"], 2);
        assert!(error.contains("a PIN is needed"), "{error}");
        // alwaysUv: every credential needs it.
        target.json(&["config", "always-uv", "on", "--pin", "1234"]);
        let error = target.fails(&["cred", "make", "--rp", "a.com"], 2);
        assert!(error.contains("a PIN is needed"), "{error}");
    }
}

/// `cred assert --silent` (up=false, fido2-assert -t up=false): no touch is asked for,
/// so even an authenticator that refuses every touch answers; UP is clear.
#[test]
fn a_silent_assertion_needs_no_touch_and_no_pin() {
    let target = Target::udp(&["--deny", "--pin", "1234"]);
    let approving = Target::udp(&["--pin", "1234"]);
    let made = approving.json(&["cred", "make", "--rp", "a.com"]);
    let id = made["credential_id"].as_str().unwrap();
    let key = made["public_key"].as_str().unwrap();
    let asserted = approving.json(&[
        "cred",
        "assert",
        "--rp",
        "a.com",
        "--cred-id",
        id,
        "--public-key",
        key,
        "--silent",
    ]);
    assert_eq!(asserted["assertions"][0]["verified"], true, "{asserted}");
    assert_eq!(asserted["assertions"][0]["user_present"], false);
    assert_eq!(asserted["assertions"][0]["user_verified"], false);
    // An authenticator that refuses every touch answers a silent check at once: it has
    // no such credential (NO_CREDENTIALS), rather than OPERATION_DENIED for a touch.
    let error = target.fails(
        &[
            "cred",
            "assert",
            "--rp",
            "a.com",
            "--cred-id",
            id,
            "--silent",
        ],
        1,
    );
    assert!(error.contains("NO_CREDENTIALS"), "{error}");
}

/// `config always-uv on|off` sets a state, not a toggle: asking for the state the key is
/// in already sends nothing (`changed: false`) and leaves it so.
#[test]
fn always_uv_on_and_off_are_states_not_a_toggle() {
    for target in [Target::virtual_device(), Target::udp(&[])] {
        let off = target.json(&["config", "always-uv", "off"]);
        assert_eq!(off["always_uv"], false);
        assert_eq!(off["changed"], false);
        let on = target.json(&["config", "always-uv", "on"]);
        assert_eq!(
            (on["always_uv"].clone(), on["changed"].clone()),
            (true.into(), true.into())
        );
        let again = target.json(&["config", "always-uv", "on"]);
        assert_eq!(
            (again["always_uv"].clone(), again["changed"].clone()),
            (true.into(), false.into())
        );
        let error = target.fails(&["config", "always-uv"], 2);
        assert!(error.contains("<STATE>"), "{error}");
    }
}

/// `config force-pin-change` (forceChangePin, CTAP 2.1 section 6.11.4): the PIN must be
/// changed before it is used again; without a PIN it says to set one.
#[test]
fn force_pin_change_then_the_pin_must_be_changed() {
    for target in [Target::virtual_device(), Target::udp(&[])] {
        let error = target.fails(&["config", "force-pin-change"], 1);
        assert!(
            error.contains("next: set one with `ctap pin set`"),
            "{error}"
        );
        target.json(&["pin", "set", "--new", "1234"]);
        let forced = target.json(&["config", "force-pin-change", "--pin", "1234"]);
        assert_eq!(forced["force_pin_change"], true);
        assert_eq!(target.json(&["pin", "status"])["force_pin_change"], true);
        let error = target.fails(&["cred", "list", "--pin", "1234"], 1);
        assert!(error.contains("`ctap pin change`"), "{error}");
        target.json(&["pin", "change", "--pin", "1234", "--new", "5678"]);
        assert_eq!(target.json(&["pin", "status"])["force_pin_change"], false);
    }
}

/// `config enterprise-attestation`: a key without the `ep` option (the software
/// authenticator) is told so before anything is sent.
#[test]
fn enterprise_attestation_needs_the_ep_option() {
    let target = Target::virtual_device();
    let error = target.fails(&["config", "enterprise-attestation"], 1);
    assert!(error.contains("no `ep` option"), "{error}");
}

/// `cred update` (updateUserInformation, CTAP 2.1 section 6.8.6): the name and display
/// name change, the user id stays, what is not given is kept.
#[test]
fn cred_update_changes_the_user_names() {
    for target in [Target::virtual_device(), Target::udp(&[])] {
        target.json(&["pin", "set", "--new", "1234"]);
        let made = target.json(&[
            "cred",
            "make",
            "--rp",
            "a.com",
            "--resident",
            "--user",
            "alice",
            "--pin",
            "1234",
        ]);
        let id = made["credential_id"].as_str().unwrap();
        let updated = target.json(&[
            "cred",
            "update",
            "--cred-id",
            id,
            "--display-name",
            "Alice A.",
            "--pin",
            "1234",
        ]);
        assert_eq!(updated["user"]["name"], "alice");
        assert_eq!(updated["user"]["display_name"], "Alice A.");
        let updated = target.json(&[
            "cred",
            "update",
            "--cred-id",
            id,
            "--user-name",
            "alice2",
            "--pin",
            "1234",
        ]);
        assert_eq!(updated["user"]["display_name"], "Alice A.");
        let listed = target.json(&["cred", "list", "--pin", "1234"]);
        let user = &listed["rps"][0]["credentials"][0]["user"];
        assert_eq!(user["name"], "alice2");
        assert_eq!(user["display_name"], "Alice A.");
        assert_eq!(user["id"], "616c696365", "the user id is kept: {user}");
        let error = target.fails(&["cred", "update", "--cred-id", id, "--pin", "1234"], 2);
        assert!(error.contains("nothing to update"), "{error}");
        let error = target.fails(
            &[
                "cred",
                "update",
                "--cred-id",
                "00",
                "--user-name",
                "x",
                "--pin",
                "1234",
            ],
            1,
        );
        assert!(
            error.contains("no discoverable credential with id 00"),
            "{error}"
        );
    }
}

/// `cred delete` asks first; without a terminal to ask on it needs --yes, and without
/// it nothing is deleted.
#[test]
fn cred_delete_asks_unless_yes() {
    for target in [Target::virtual_device(), Target::udp(&[])] {
        target.json(&["pin", "set", "--new", "1234"]);
        let made = target.json(&[
            "cred",
            "make",
            "--rp",
            "a.com",
            "--resident",
            "--pin",
            "1234",
        ]);
        let id = made["credential_id"].as_str().unwrap();
        let error = target.fails(&["cred", "delete", "--cred-id", id, "--pin", "1234"], 2);
        assert!(error.contains("add --yes"), "{error}");
        assert_eq!(
            target.json(&["cred", "list", "--pin", "1234"])["existing"],
            1
        );
        let deleted = target.json(&["cred", "delete", "--cred-id", id, "--yes", "--pin", "1234"]);
        assert_eq!(deleted["deleted"], id);
        assert_eq!(
            target.json(&["cred", "list", "--pin", "1234"])["existing"],
            0
        );
    }
}

/// `pin verify`: a right PIN puts the retries back to the maximum (CTAP 2.1 section
/// 6.5.5.7), a wrong one uses one up and says how many are left.
#[test]
fn pin_verify_checks_the_pin() {
    for target in [Target::virtual_device(), Target::udp(&[])] {
        let error = target.fails(&["pin", "verify", "--pin", "1234"], 1);
        assert!(error.contains("`ctap pin set`"), "{error}");
        target.json(&["pin", "set", "--new", "1234"]);
        let error = target.fails(&["pin", "verify", "--pin", "0000"], 1);
        assert!(
            error.contains("PIN_INVALID: wrong PIN; 7 tries left"),
            "{error}"
        );
        assert_eq!(target.json(&["pin", "status"])["retries"], 7);
        let verified = target.json(&["pin", "verify", "--pin", "1234"]);
        assert_eq!(verified["pin_verified"], true);
        assert_eq!(target.json(&["pin", "status"])["retries"], 8);
    }
}

/// `cred make --user-id/--user-name/--display-name`: the user entity as given (a
/// discoverable credential keeps it; credential management shows it).
#[test]
fn cred_make_takes_the_user_entity() {
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "1234"]);
    target.json(&[
        "cred",
        "make",
        "--rp",
        "a.com",
        "--resident",
        "--user-id",
        "0a0b0c",
        "--user-name",
        "bob",
        "--display-name",
        "Bob B.",
        "--pin",
        "1234",
    ]);
    let listed = target.json(&["cred", "list", "--pin", "1234"]);
    let user = &listed["rps"][0]["credentials"][0]["user"];
    assert_eq!(user["id"], "0a0b0c");
    assert_eq!(user["name"], "bob");
    assert_eq!(user["display_name"], "Bob B.");
    let long = "ab".repeat(65);
    let error = target.fails(&["cred", "make", "--rp", "a.com", "--user-id", &long], 2);
    assert!(error.contains("--user-id is 65 bytes"), "{error}");
    let error = target.fails(&["cred", "make", "--rp", "a.com", "--display-name", ""], 2);
    assert!(error.contains("--display-name is empty"), "{error}");
}

/// A caller-given clientDataHash is signed over as given (the attestation and the
/// assertion verify with it), and `--client-data FILE` is hashed with SHA-256 as libfido2
/// does.
#[test]
fn cred_make_and_assert_take_the_client_data_hash() {
    let target = Target::virtual_device();
    let hash = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let made = target.json(&["cred", "make", "--rp", "a.com", "--client-data-hash", hash]);
    assert_eq!(made["client_data_hash"], hash);
    assert_eq!(made["attestation"]["verified"], true, "{made}");
    let id = made["credential_id"].as_str().unwrap();
    let key = made["public_key"].as_str().unwrap();
    let file = std::env::temp_dir().join(format!("ctap-cli-cdata-{}", std::process::id()));
    std::fs::write(&file, b"abc").unwrap();
    let asserted = target.json(&[
        "cred",
        "assert",
        "--rp",
        "a.com",
        "--cred-id",
        id,
        "--public-key",
        key,
        "--client-data",
        file.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&file);
    // SHA-256("abc") (FIPS 180-2 appendix B.1).
    assert_eq!(
        asserted["client_data_hash"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(asserted["assertions"][0]["verified"], true, "{asserted}");
    let error = target.fails(
        &[
            "cred",
            "make",
            "--rp",
            "a.com",
            "--client-data-hash",
            "0011",
        ],
        2,
    );
    assert!(error.contains("--client-data-hash is 2 bytes"), "{error}");
}

/// Extensions: credProtect and hmac-secret come back in the authenticator data (and
/// credProtect in credential management); largeBlobKey and credBlob are checked
/// against getInfo's extensions before sending.
#[test]
fn cred_make_asks_for_extensions() {
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "1234"]);
    let made = target.json(&[
        "cred",
        "make",
        "--rp",
        "a.com",
        "--resident",
        "--cred-protect",
        "2",
        "--hmac-secret",
        "--pin",
        "1234",
    ]);
    assert_eq!(made["extensions"]["credProtect"], 2, "{made}");
    assert_eq!(made["extensions"]["hmac-secret"], true, "{made}");
    let listed = target.json(&["cred", "list", "--pin", "1234"]);
    assert_eq!(listed["rps"][0]["credentials"][0]["cred_protect"], 2);
    let error = target.fails(&["cred", "make", "--rp", "a.com", "--cred-protect", "4"], 2);
    assert!(error.contains("--cred-protect"), "{error}");
    let info = target.json(&["info"]);
    let known = |id: &str| {
        info["get_info"]["extensions"]
            .as_array()
            .is_some_and(|list| list.iter().any(|e| e == id))
    };
    for (id, args) in [
        ("largeBlobKey", vec!["--large-blob-key"]),
        ("credBlob", vec!["--cred-blob", "0102"]),
    ] {
        let mut make = vec![
            "cred",
            "make",
            "--rp",
            "b.com",
            "--resident",
            "--pin",
            "1234",
        ];
        make.extend_from_slice(&args);
        if known(id) {
            let made = target.json(&make);
            assert!(
                made["large_blob_key"].is_string() || made["extensions"]["credBlob"] == true,
                "{made}"
            );
        } else {
            let error = target.fails(&make, 1);
            assert!(
                error.contains(&format!("does not support the {id} extension")),
                "{error}"
            );
        }
    }
}

/// `-vv` decodes every CTAP2 request and answer (command, members by name, status)
/// between the report trace (`-v`) and the authenticator's own (`-vvv`); byte strings
/// show only their length.
#[test]
fn double_verbose_decodes_the_ctap2_requests() {
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "1234"]);
    let stderr = |flag: &str| {
        let output = target
            .command(&[flag, "cred", "make", "--rp", "a.com", "--pin", "1234"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stderr).unwrap()
    };
    let decoded = stderr("-vv");
    assert!(
        decoded.contains("-> CLIENT_PIN {pinUvAuthProtocol=2, subCommand=2}"),
        "{decoded}"
    );
    assert!(
        decoded.contains("pinHashEnc=<32 bytes>, permissions=1, rpId=\"a.com\"}"),
        "{decoded}"
    );
    assert!(
        decoded.contains("-> MAKE_CREDENTIAL {clientDataHash=<32 bytes>, rp={\"id\", \"name\"}"),
        "{decoded}"
    );
    assert!(
        decoded.contains("pinUvAuthParam=<32 bytes>, pinUvAuthProtocol=2}"),
        "{decoded}"
    );
    assert!(
        decoded.contains("<- 0x00 - SUCCESS {1=\"packed\""),
        "{decoded}"
    );
    assert!(
        decoded.contains(" send "),
        "the reports are still traced: {decoded}"
    );
    assert!(!decoded.contains("ctap_virtual"), "{decoded}");
    let reports = stderr("-v");
    assert!(!reports.contains("MAKE_CREDENTIAL"), "{reports}");
    let everything = stderr("-vvv");
    assert!(everything.contains("MAKE_CREDENTIAL {"), "{everything}");
    assert!(everything.contains("ctap_virtual"), "{everything}");
}

/// On a terminal `cred delete` asks first, naming whose credential it is: `n` keeps it
/// (status 1), `y` deletes it. The terminal is util-linux's `script` (a pseudo-terminal
/// around the command); skipped where there is none.
#[cfg(unix)]
#[test]
fn cred_delete_asks_on_a_terminal() {
    let Some(script) = support::on_path("script") else {
        support::skip("no `script` (util-linux) to give cred delete a terminal");
        return;
    };
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "1234"]);
    let made = target.json(&[
        "cred",
        "make",
        "--rp",
        "a.com",
        "--resident",
        "--user-name",
        "carol",
        "--pin",
        "1234",
    ]);
    let id = made["credential_id"].as_str().unwrap();
    let delete = format!(
        "{} --device virtual cred delete --cred-id {id} --pin 1234",
        assert_cmd::cargo::cargo_bin("ctap").display()
    );
    let answer = |reply: &str| {
        let output = Command::new(&script)
            .args(["-qec", &delete, "/dev/null"])
            .env("CTAP_VIRTUAL_STATE", target.state.as_ref().unwrap())
            .env_remove("CTAP_PIN")
            .write_stdin(reply)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code(), text)
    };
    let (code, text) = answer("n\n");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("delete the credential of carol for a.com for good? [y/N]"),
        "{text}"
    );
    assert!(text.contains("not deleted"), "{text}");
    assert_eq!(
        target.json(&["cred", "list", "--pin", "1234"])["existing"],
        1
    );
    let (code, text) = answer("y\n");
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        target.json(&["cred", "list", "--pin", "1234"])["existing"],
        0
    );
}
