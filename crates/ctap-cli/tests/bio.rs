//! `ctap bio ...` (issue 25: fingerprint management, as fido2-token -L/-S/-D -e and
//! `ykman fido fingerprints`) against `ctap serve --fingerprint SCRIPT`, whose sensor
//! answers each touch as the script says (a sample status number; `match` is a good one).

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Target;

/// A server with the PIN 1234 and a sensor whose touches follow `script`.
fn sensor(script: &str) -> Target {
    Target::udp(&["--pin", "1234", "--fingerprint", script])
}

/// `ctap ARGS` succeeds; its stdout.
fn stdout(target: &Target, args: &[&str]) -> String {
    let output = target.command(args).output().unwrap();
    assert!(
        output.status.success(),
        "ctap {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The enrolled fingerprints as `(template id, name)`.
fn fingerprints(target: &Target) -> Vec<(String, String)> {
    let list = target.json(&["bio", "list", "--pin", "1234"]);
    list["fingerprints"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|f| {
            (
                f["template_id"].as_str().unwrap().to_owned(),
                f["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn enroll_reports_each_sample_a_bad_one_is_not_counted_and_list_shows_the_name() {
    // The first touch is "too high" (status 1), then four good samples.
    let target = sensor("1,0,0,0,0");
    let text = stdout(
        &target,
        &["bio", "enroll", "--name", "left thumb", "--pin", "1234"],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(
        lines[0].starts_with("sample 1: too high (not counted"),
        "{text}"
    );
    assert!(lines[0].ends_with("4 remaining"), "{text}");
    assert_eq!(lines[1], "sample 2: good, 3 remaining", "{text}");
    assert_eq!(lines[4], "sample 5: good, 0 remaining", "{text}");
    let id = lines[5]
        .strip_prefix("enrolled ")
        .and_then(|rest| rest.strip_suffix(" as left thumb"))
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned();
    assert_eq!(
        fingerprints(&target),
        [(id.clone(), "left thumb".to_owned())]
    );
    let text = stdout(&target, &["bio", "list", "--pin", "1234"]);
    assert_eq!(text.trim(), format!("{id}  left thumb"));
}

#[test]
fn enroll_with_json_gives_one_line_per_sample_then_the_template() {
    let target = sensor("7,0");
    let text = stdout(&target, &["--json", "bio", "enroll", "--pin", "1234"]);
    let events: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(events.len(), 6, "{text}");
    assert_eq!(events[0]["event"], "sample");
    assert_eq!(events[0]["status"], "poor quality");
    assert_eq!(events[0]["status_code"], 7);
    assert_eq!(events[0]["good"], false);
    assert_eq!(events[0]["remaining"], 4);
    assert_eq!(events[4]["good"], true);
    assert_eq!(events[4]["remaining"], 0);
    assert_eq!(events[5]["event"], "enrolled");
    let id = events[5]["template_id"].as_str().unwrap().to_owned();
    assert_eq!(fingerprints(&target)[0].0, id);
}

#[test]
fn rename_and_delete_with_confirmation() {
    let target = sensor("match");
    let enrolled = stdout(&target, &["--json", "bio", "enroll", "--pin", "1234"]);
    let last: Value = serde_json::from_str(enrolled.lines().last().unwrap()).unwrap();
    let id = last["template_id"].as_str().unwrap().to_owned();

    let renamed = target.json(&[
        "bio",
        "rename",
        "--template-id",
        &id,
        "--name",
        "index",
        "--pin",
        "1234",
    ]);
    assert_eq!(renamed["name"], "index");
    assert_eq!(fingerprints(&target), [(id.clone(), "index".to_owned())]);

    // Without a terminal to ask on, delete wants --yes (a usage error) and deletes nothing.
    let error = target.fails(&["bio", "delete", "--template-id", &id, "--pin", "1234"], 2);
    assert!(error.contains("--yes"), "{error}");
    assert_eq!(fingerprints(&target).len(), 1);
    // An id the key does not have: said so, with where to find the ids.
    let error = target.fails(
        &[
            "bio",
            "delete",
            "--template-id",
            "abcd",
            "--yes",
            "--pin",
            "1234",
        ],
        1,
    );
    assert!(
        error.contains("no fingerprint with template id abcd"),
        "{error}"
    );
    assert!(error.contains("ctap bio list"), "{error}");
    let error = target.fails(
        &[
            "bio",
            "rename",
            "--template-id",
            "abcd",
            "--name",
            "x",
            "--pin",
            "1234",
        ],
        1,
    );
    assert!(error.contains("INVALID_OPTION"), "{error}");
    assert!(error.contains("ctap bio list"), "{error}");

    // A name longer than the sensor takes: refused before anything is sent.
    let long = "x".repeat(65);
    let error = target.fails(
        &[
            "bio",
            "rename",
            "--template-id",
            &id,
            "--name",
            &long,
            "--pin",
            "1234",
        ],
        2,
    );
    assert!(error.contains("at most 64"), "{error}");

    let deleted = target.json(&[
        "bio",
        "delete",
        "--template-id",
        &id,
        "--yes",
        "--pin",
        "1234",
    ]);
    assert_eq!(deleted["deleted"], id.as_str());
    assert!(fingerprints(&target).is_empty());
    let text = stdout(&target, &["bio", "list", "--pin", "1234"]);
    assert!(text.contains("no fingerprints enrolled"), "{text}");
}

#[test]
fn a_full_database_is_explained() {
    let target = sensor("match");
    for _ in 0..5 {
        stdout(&target, &["--json", "bio", "enroll", "--pin", "1234"]);
    }
    let error = target.fails(&["bio", "enroll", "--pin", "1234"], 1);
    assert!(error.contains("FP_DATABASE_FULL"), "{error}");
    assert!(error.contains("ctap bio delete"), "{error}");
}

#[test]
fn a_key_without_a_sensor_says_so() {
    let target = Target::udp(&["--pin", "1234"]);
    for args in [
        &["bio", "list", "--pin", "1234"][..],
        &["bio", "info"],
        &["bio", "enroll", "--pin", "1234"],
    ] {
        let error = target.fails(args, 1);
        assert!(error.contains("no fingerprint sensor"), "{args:?}: {error}");
        assert!(error.contains("bioEnroll"), "{args:?}: {error}");
    }
    let output = target.command(&["--json", "bio", "info"]).output().unwrap();
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        document["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no fingerprint sensor"),
        "{document}"
    );
}

#[test]
fn info_describes_the_sensor_without_a_pin() {
    let target = sensor("match");
    let info = target.json(&["bio", "info"]);
    assert_eq!(info["fingerprint_kind"], "touch");
    assert_eq!(info["samples_per_enrollment"], 4);
    assert_eq!(info["enrolled"], false);
}

/// Ctrl-C while the key waits for a finger ends the enrollment (cancelCurrentEnrollment
/// after the CTAPHID cancel) with status 130, and nothing is enrolled.
#[cfg(unix)]
#[test]
fn ctrl_c_cancels_an_enrollment() {
    let target = Target::udp(&[
        "--pin",
        "1234",
        "--fingerprint",
        "match",
        "--touch-delay",
        "60000",
    ]);
    let mut enroll = Process::new(assert_cmd::cargo::cargo_bin("ctap"))
        .args(["--device", &target.device, "bio", "enroll", "--pin", "1234"])
        .env_remove("CTAP_PIN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(enroll.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("touch the fingerprint sensor"), "{first:?}");
    // The line comes just before enrollBegin is sent: let it reach the key.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let status = Process::new("kill")
        .args(["-INT", &enroll.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = loop {
        if let Some(status) = enroll.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "bio enroll did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(rest.contains("cancelCurrentEnrollment"), "{rest:?}");
    assert!(fingerprints(&target).is_empty());
}

/// `pin status` shows built-in UV's retries (getUVRetries, CTAP 2.1 §6.5.5.3), as
/// fido2-token -I and `ykman fido info` do, on a key with a sensor; a key without one
/// has none (null in --json, no line in the text).
#[test]
fn pin_status_shows_the_uv_retries_of_a_sensor() {
    let target = sensor("match");
    let status = target.json(&["pin", "status"]);
    assert_eq!(
        status["uv_retries"],
        u64::from(ctap::virtual_device::MAX_UV_RETRIES),
        "{status}"
    );
    let text = stdout(&target, &["pin", "status"]);
    assert!(
        text.contains(&format!(
            "UV retries left   {} (built-in user verification)",
            ctap::virtual_device::MAX_UV_RETRIES
        )),
        "{text}"
    );
    let plain = Target::udp(&["--pin", "1234"]);
    let status = plain.json(&["pin", "status"]);
    assert!(status["uv_retries"].is_null(), "{status}");
    assert!(!stdout(&plain, &["pin", "status"]).contains("UV retries"));
}
