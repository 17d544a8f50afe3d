//! Errors a person can act on (issue 25): every status a daily user meets keeps its
//! code and name (`CTAP error: 0x31 - PIN_INVALID`, for scripts) and says what it means
//! here and the next command, in text (stderr) and in the `--json` error document
//! (stdout); what the key would refuse for a known reason is refused before sending
//! (exit status 2). Against `--device virtual` and `ctap serve`.

mod support;

use serde_json::Value;
use support::Target;

/// Runs `ctap --json ARGS`, expects exit status 1, returns the error document.
fn json_error(target: &Target, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let output = target.command(&all).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{all:?}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn pin_set_with_a_pin_already_set_points_at_pin_change() {
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "1234"]);
    // CTAP 2.1 section 6.5.5.5 step 3: setPIN with a PIN set is PIN_AUTH_INVALID.
    let error = target.fails(&["pin", "set", "--new", "5678"], 1);
    assert!(
        error.contains("CTAP error: 0x33 - PIN_AUTH_INVALID: a PIN is already set"),
        "{error}"
    );
    assert!(
        error.contains("next: change it with `ctap pin change`"),
        "{error}"
    );
    let document = json_error(&target, &["pin", "set", "--new", "5678"]);
    assert_eq!(document["error"]["status"], "PIN_AUTH_INVALID");
    assert_eq!(document["error"]["code"], 0x33);
    assert_eq!(
        document["error"]["next"],
        "change it with `ctap pin change`"
    );
}

#[test]
fn a_wrong_pin_says_how_many_tries_are_left_and_a_blocked_pin_needs_a_reset() {
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "1234"]);
    // Eight tries (CTAP 2.1 section 6.5.2.1); each wrong one counts down.
    let error = target.fails(&["cred", "list", "--pin", "0000"], 1);
    assert!(
        error.contains("CTAP error: 0x31 - PIN_INVALID: wrong PIN; 7 tries left"),
        "{error}"
    );
    assert!(error.contains("`ctap pin status`"), "{error}");
    let document = json_error(&target, &["cred", "list", "--pin", "0000"]);
    assert_eq!(document["error"]["status"], "PIN_INVALID");
    assert_eq!(document["error"]["code"], 0x31);
    assert!(
        document["error"]["message"]
            .as_str()
            .unwrap()
            .contains("6 tries left"),
        "{document}"
    );
    // The current PIN of `pin change` is counted the same way.
    let error = target.fails(&["pin", "change", "--pin", "0000", "--new", "5678"], 1);
    assert!(error.contains("5 tries left"), "{error}");
    for _ in 0..4 {
        target.fails(&["cred", "list", "--pin", "0000"], 1);
    }
    let error = target.fails(&["cred", "list", "--pin", "0000"], 1);
    assert!(error.contains("0x32 - PIN_BLOCKED"), "{error}");
    assert!(error.contains("only `ctap reset --yes`"), "{error}");
}

#[test]
fn three_wrong_pins_on_serve_ask_for_a_restart_of_serve() {
    let target = Target::udp(&["--pin", "1234"]);
    for _ in 0..2 {
        target.fails(&["cred", "list", "--pin", "0000"], 1);
    }
    let error = target.fails(&["cred", "list", "--pin", "0000"], 1);
    assert!(error.contains("0x34 - PIN_AUTH_BLOCKED"), "{error}");
    assert!(
        error.contains("power-cycle the authenticator: restart `ctap serve`"),
        "{error}"
    );
}

#[test]
fn reset_outside_the_window_says_how_to_get_into_it() {
    let target = Target::udp(&["--reset-window", "0"]);
    let error = target.fails(&["reset", "--yes"], 1);
    assert!(
        error.contains("CTAP error: 0x30 - NOT_ALLOWED: reset is only allowed within 10 s"),
        "{error}"
    );
    assert!(error.contains("--reset-window none"), "{error}");
}

#[test]
fn pin_policy_violations_are_named_by_cause() {
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "1234"]);
    // Checked before sending (exit status 2): a minimum that can only grow, more RP IDs
    // than maxRPIDsForSetMinPINLength (8 on the software authenticator).
    let error = target.fails(&["config", "min-pin-length", "3", "--pin", "1234"], 2);
    assert!(error.contains("can only grow, and it is 4"), "{error}");
    let mut args = vec!["config", "min-pin-length", "6", "--pin", "1234"];
    let rps: Vec<String> = (0..9).map(|n| format!("rp{n}.example")).collect();
    for rp in &rps {
        args.extend(["--rp-id", rp.as_str()]);
    }
    let error = target.fails(&args, 2);
    assert!(error.contains("at most 8 RP IDs"), "{error}");
    assert!(error.contains("maxRPIDsForSetMinPINLength"), "{error}");
    target.json(&["config", "min-pin-length", "6", "--pin", "1234"]);
    // A new PIN shorter than the key's minimum, before sending.
    let error = target.fails(&["pin", "change", "--pin", "1234", "--new", "12345"], 2);
    assert!(error.contains("at least 6 characters"), "{error}");
    // The forced change (CTAP 2.1 section 6.5.5.7): the key's status, and what to do.
    let error = target.fails(&["cred", "list", "--pin", "1234"], 1);
    assert!(error.contains("0x37 - PIN_POLICY_VIOLATION"), "{error}");
    assert!(error.contains("forcePINChange"), "{error}");
    assert!(
        error.contains("next: change it with `ctap pin change`"),
        "{error}"
    );
}

#[test]
fn no_pin_set_points_at_pin_set() {
    let target = Target::virtual_device();
    let error = target.fails(&["cred", "list", "--pin", "1234"], 1);
    assert!(error.contains("no PIN is set"), "{error}");
    assert!(
        error.contains("next: set one with `ctap pin set`"),
        "{error}"
    );
}

#[test]
fn no_credentials_for_the_rp_points_at_cred_make() {
    let target = Target::virtual_device();
    let error = target.fails(&["cred", "assert", "--rp", "x.example"], 1);
    assert!(
        error.contains(
            "CTAP error: 0x2E - NO_CREDENTIALS: this key has no credential for x.example"
        ),
        "{error}"
    );
    assert!(error.contains("`ctap cred make --rp x.example`"), "{error}");
    let document = json_error(&target, &["cred", "assert", "--rp", "x.example"]);
    assert_eq!(document["error"]["status"], "NO_CREDENTIALS");
    assert_eq!(document["error"]["code"], 0x2e);
}

#[test]
fn a_refused_touch_and_a_touch_never_given_say_what_to_do() {
    let denied = Target::udp(&["--deny"]);
    let error = denied.fails(&["cred", "make", "--rp", "a.com"], 1);
    assert!(
        error.contains("0x27 - OPERATION_DENIED: the key refused"),
        "{error}"
    );
    assert!(
        error.contains("next: run the command again and approve it"),
        "{error}"
    );
    // The key waits for a touch (UPNEEDED keep-alives) that never comes: the time-out
    // says so and names --timeout.
    let slow = Target::udp(&["--touch-delay", "600000"]);
    let error = slow.fails(&["--timeout", "1", "cred", "make", "--rp", "a.com"], 1);
    assert!(
        error.contains("authenticatorMakeCredential: gave up after 1 s (--timeout)"),
        "{error}"
    );
    assert!(error.contains("waiting for a touch"), "{error}");
}
