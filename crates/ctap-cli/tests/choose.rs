//! Choosing one key among several: `--device serial:SERIAL` and `--device touch`, end
//! to end. The device listing is injected through `CTAP_CLI_FAKE_DEVICES`, whose paths
//! may be `udp:HOST:PORT` names (crates/ctap-cli/src/device/listing.rs), so the chosen key is
//! a real `ctap serve --udp` authenticator.

mod support;

use std::time::{Duration, Instant};
use support::Server;

use assert_cmd::Command;
use serde_json::{Value, json};

const FAKE_DEVICES: &str = "CTAP_CLI_FAKE_DEVICES";

/// One listing entry for `path` with serial number `serial`.
fn entry(path: &str, serial: Option<&str>) -> Value {
    json!({
        "path": path, "vendor_id": 0x1050, "product_id": 0x0407,
        "manufacturer": "Yubico", "product": "YubiKey", "serial_number": serial,
        "input_report_size": 64, "output_report_size": 64,
    })
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?} after {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }
}

fn run_listing(devices: &Value, args: &[&str]) -> Ran {
    let start = Instant::now();
    let output = Command::cargo_bin("ctap")
        .unwrap()
        .env_remove("RUST_LOG")
        .env(FAKE_DEVICES, devices.to_string())
        .args(args)
        .output()
        .unwrap();
    let ran = Ran {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
        took: start.elapsed(),
    };
    assert!(!ran.stderr.contains("panicked"), "{ran:?}");
    ran
}

fn device_of(ran: &Ran) -> String {
    let json: Value = serde_json::from_str(&ran.stdout).unwrap_or_else(|_| panic!("{ran:?}"));
    json["device"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn serial_chooses_the_one_key_with_that_serial_number() {
    let (first, second) = (Server::start(&[]), Server::start(&[]));
    let keys = json!([
        entry(&first.address, Some("AAA")),
        entry(&second.address, Some("BBB")),
        entry("/dev/hidraw4", None),
    ]);
    let ran = run_listing(&keys, &["--device", "serial:BBB", "--json", "info"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(device_of(&ran), second.address, "{ran:?}");
    let ran = run_listing(&keys, &["--device", "serial:AAA", "--json", "info"]);
    assert_eq!(device_of(&ran), first.address, "{ran:?}");
}

#[test]
fn serial_refuses_ambiguity_and_lists_the_candidates() {
    let keys = json!([
        entry("/dev/hidraw1", Some("AAA")),
        entry("/dev/hidraw2", Some("SAME")),
        entry("/dev/hidraw3", Some("SAME")),
    ]);
    let ran = run_listing(&keys, &["--device", "serial:SAME", "wink"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert!(
        lines[0].starts_with("ctap: 2 FIDO security keys have serial number SAME")
            && lines[0].contains("--device PATH"),
        "{ran:?}"
    );
    assert!(
        lines[1].contains("/dev/hidraw2") && lines[1].contains("serial SAME"),
        "{ran:?}"
    );
    assert!(lines[2].contains("/dev/hidraw3"), "{ran:?}");
    assert_eq!(lines.len(), 3, "{ran:?}");
}

#[test]
fn serial_not_found_lists_the_keys_and_an_empty_serial_is_a_usage_error() {
    let keys = json!([
        entry("/dev/hidraw1", Some("AAA")),
        entry("/dev/hidraw2", None)
    ]);
    let ran = run_listing(&keys, &["--device", "serial:ZZZ", "wink"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr.starts_with(
            "ctap: --device serial:ZZZ: found no FIDO security key with serial number ZZZ; the keys found:"
        ),
        "{ran:?}"
    );
    assert!(
        ran.stderr
            .contains("/dev/hidraw1 (1050:0407 Yubico YubiKey) serial AAA"),
        "{ran:?}"
    );
    assert!(
        ran.stderr
            .contains("/dev/hidraw2 (1050:0407 Yubico YubiKey) (no serial number)"),
        "{ran:?}"
    );
    let ran = run_listing(&keys, &["--device", "serial:", "wink"]);
    assert_eq!(ran.code, Some(2), "{ran:?}");
    assert!(ran.stderr.contains("ctap list"), "{ran:?}");
}

#[test]
fn several_keys_without_device_point_at_the_ways_to_choose() {
    let keys = json!([
        entry("/dev/hidraw1", Some("AAA")),
        entry("/dev/hidraw2", None)
    ]);
    let ran = run_listing(&keys, &["wink"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    let first = ran.stderr.lines().next().unwrap_or_default();
    for way in ["--device PATH", "--device serial:SERIAL", "--device touch"] {
        assert!(first.contains(way), "{ran:?}");
    }
}

#[test]
fn touch_uses_the_key_touched_first_and_cancels_the_others() {
    // Nobody touches the first and third key within the test; the second is touched
    // after 300 ms.
    let servers = [
        Server::start(&["--touch-delay", "600000"]),
        Server::start(&["--touch-delay", "300"]),
        Server::start(&["--touch-delay", "600000"]),
    ];
    let keys = Value::Array(
        servers
            .iter()
            .enumerate()
            .map(|(n, s)| entry(&s.address, Some(&format!("S{n}"))))
            .collect(),
    );
    let ran = run_listing(
        &keys,
        &["--device", "touch", "--timeout", "20", "--json", "info"],
    );
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(device_of(&ran), servers[1].address, "{ran:?}");
    assert!(
        ran.stderr
            .contains("touch the key you mean (3 keys are waiting"),
        "{ran:?}"
    );
    assert!(
        ran.stderr
            .contains(&format!("chosen by touch: {}", servers[1].address)),
        "{ran:?}"
    );
    // The others were cancelled, not left waiting for a touch: each answers at once.
    for other in [&servers[0], &servers[2]] {
        let ran = run_listing(
            &json!([]),
            &["--device", &other.address, "--timeout", "5", "wink"],
        );
        assert_eq!(ran.code, Some(0), "{ran:?}");
    }
}

#[test]
fn touch_ends_at_the_timeout_when_nobody_touches() {
    let servers = [
        Server::start(&["--touch-delay", "600000"]),
        Server::start(&["--touch-delay", "600000"]),
    ];
    let keys = json!([
        entry(&servers[0].address, None),
        entry(&servers[1].address, None)
    ]);
    let ran = run_listing(&keys, &["--device", "touch", "--timeout", "1", "info"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr
            .contains("--device touch (2 keys): gave up after 1 s (--timeout)")
            && ran.stderr.contains("nobody touched it"),
        "{ran:?}"
    );
    // Within --timeout, plus a margin for process start-up and the CANCEL grace on a
    // loaded machine.
    assert!(ran.took <= Duration::from_millis(2500), "{ran:?}");
}

#[test]
fn touch_without_keys_says_so() {
    let ran = run_listing(&json!([]), &["--device", "touch", "info"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr
            .starts_with("ctap: --device touch: no usable FIDO security key found"),
        "{ran:?}"
    );
    assert!(ran.stderr.contains("--device virtual"), "{ran:?}");
    let ran = run_listing(
        &json!([]),
        &["--device", "touch", "--bind", "127.0.0.1:0", "info"],
    );
    assert_eq!(ran.code, Some(2), "{ran:?}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_the_touch_wait_on_every_key() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command as Process, Stdio};
    let servers = [
        Server::start(&["--touch-delay", "600000"]),
        Server::start(&["--touch-delay", "600000"]),
    ];
    let keys = json!([
        entry(&servers[0].address, None),
        entry(&servers[1].address, None)
    ]);
    let mut choosing = Process::new(assert_cmd::cargo::cargo_bin("ctap"))
        .args(["--device", "touch", "--timeout", "60", "info"])
        .env_remove("RUST_LOG")
        .env(FAKE_DEVICES, keys.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(choosing.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.starts_with("touch the key you mean"), "{first:?}");
    let started = Instant::now();
    let status = Process::new("kill")
        .args(["-INT", &choosing.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = loop {
        if let Some(status) = choosing.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "--device touch did not end on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(rest.trim(), "ctap: cancelled", "{rest:?}");
    // Both keys got CTAPHID_CANCEL: neither is still busy with the selection.
    for server in &servers {
        let ran = run_listing(
            &json!([]),
            &["--device", &server.address, "--timeout", "5", "wink"],
        );
        assert_eq!(ran.code, Some(0), "{ran:?}");
    }
}
