//! The `ctap` binary end to end: every command against the software authenticator, in
//! process (`--device virtual`) and over UDP (`ctap serve`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

fn ctap() -> Command {
    let mut command = Command::cargo_bin("ctap").unwrap();
    command.env_remove("RUST_LOG");
    command
}

fn run_ok(args: &[&str]) -> String {
    let output = ctap().args(args).output().unwrap();
    assert!(
        output.status.success(),
        "ctap {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn run_json(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&run_ok(&all)).unwrap()
}

/// `ctap serve --udp 127.0.0.1:0`, killed on drop.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let mut child = Process::new(assert_cmd::cargo::cargo_bin("ctap"))
            .args(["serve", "--udp", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let address = first.trim().rsplit(' ').next().unwrap().to_owned();
        assert!(
            address.starts_with("udp:127.0.0.1:"),
            "first line: {first:?}"
        );
        Self { child, address }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn info_shows_init_and_get_info() {
    let text = run_ok(&["--device", "virtual", "info"]);
    assert!(text.contains("protocol version  2"), "{text}");
    assert!(
        text.contains("capabilities      WINK | LOCK | CBOR"),
        "{text}"
    );
    assert!(text.contains("FIDO_2_1"), "{text}");
    let json = run_json(&["--device", "virtual", "info"]);
    assert_eq!(json["device"], "virtual");
    assert_eq!(json["protocol_version"], 2);
    assert_eq!(
        json["capabilities"]["names"],
        serde_json::json!(["WINK", "LOCK", "CBOR"])
    );
    assert_eq!(json["channel"].as_str().unwrap().len(), 8);
    // The same values the library's typed getInfo gives for a fresh software
    // authenticator, under their CTAP names.
    let info = ctap::ctap2::Ctap2::new(ctap::open("virtual").unwrap())
        .unwrap()
        .get_info()
        .unwrap();
    let get_info = &json["get_info"];
    assert_eq!(get_info["versions"], serde_json::json!(info.versions));
    assert_eq!(get_info["maxMsgSize"], info.max_msg_size.unwrap());
    assert_eq!(get_info["maxMsgSize"], 7609);
    assert_eq!(
        get_info["pinUvAuthProtocols"],
        serde_json::json!(info.pin_uv_auth_protocols)
    );
    let aaguid: String = info.aaguid.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        get_info["aaguid"].as_str().unwrap().replace('-', ""),
        aaguid
    );
    assert_eq!(get_info["aaguid"].as_str().unwrap().len(), 36);
    for (name, value) in &info.options {
        assert_eq!(get_info["options"][name], *value, "option {name}");
    }
    assert_eq!(
        get_info["algorithms"],
        serde_json::json!([{"alg": -7, "type": "public-key"}, {"alg": -8, "type": "public-key"}])
    );
    assert_eq!(
        get_info["remainingDiscoverableCredentials"],
        info.remaining_discoverable_credentials.unwrap()
    );
    // Text: one aligned line per member, even for the longest name.
    assert!(
        text.contains("  maxMsgSize                       7609\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  remainingDiscoverableCredentials {}\n",
            info.remaining_discoverable_credentials.unwrap()
        )),
        "{text}"
    );
}

#[test]
fn ping_reports_latency_and_throughput() {
    let text = run_ok(&[
        "--device", "virtual", "ping", "--size", "1024", "--count", "5",
    ]);
    assert!(text.starts_with("5 pings of 1024 bytes: min "), "{text}");
    let json = run_json(&[
        "--device", "virtual", "ping", "--size", "7609", "--count", "3",
    ]);
    assert_eq!(json["size"], 7609);
    assert_eq!(json["count"], 3);
    let (min, median, max) = (
        json["min_ms"].as_f64().unwrap(),
        json["median_ms"].as_f64().unwrap(),
        json["max_ms"].as_f64().unwrap(),
    );
    assert!(min > 0.0 && min <= median && median <= max, "{json}");
    assert!(json["bytes_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn ping_over_the_maximum_is_a_usage_error() {
    let output = ctap()
        .args(["--device", "virtual", "ping", "--size", "7610"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("over the maximum message of 7609"));
}

#[test]
fn wink_lock_and_raw() {
    assert_eq!(run_ok(&["--device", "virtual", "wink"]).trim(), "winked");
    assert!(
        run_ok(&["--device", "virtual", "lock", "--seconds", "2"])
            .starts_with("locked to channel ")
    );
    assert_eq!(
        run_ok(&["--device", "virtual", "lock", "--seconds", "0"]).trim(),
        "unlocked"
    );
    assert_eq!(
        run_ok(&[
            "--device", "virtual", "raw", "--cmd", "ping", "--data", "0102ff"
        ])
        .trim(),
        "0102ff"
    );
    let json = run_json(&[
        "--device", "virtual", "raw", "--cmd", "0x10", "--data", "04",
    ]);
    assert_eq!(json["command"], "CBOR");
    assert!(
        json["response"].as_str().unwrap().starts_with("00"),
        "status SUCCESS first: {json}"
    );
}

#[test]
fn device_errors_are_one_line_with_the_python_text() {
    // authenticatorClientPIN is not implemented by the software authenticator.
    let output = ctap()
        .args(["--device", "virtual", "raw", "--cmd", "0x7e"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "ctap: CTAPHID error: 0x01 - INVALID_CMD",
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}

#[test]
fn select_waits_for_the_touch_and_shows_keepalives() {
    let output = ctap()
        .args(["--device", "virtual", "select"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "selected");
    assert!(String::from_utf8_lossy(&output.stderr).contains("UPNEEDED"));
}

#[test]
fn frame_encode_prints_the_golden_vectors() {
    let text = run_ok(&[
        "frame",
        "encode",
        "--cid",
        "01020304",
        "--cmd",
        "cbor",
        "--payload",
        "04",
    ]);
    assert_eq!(text, format!("0102030490000104{}\n", "00".repeat(56)));
    let payload: String = (1..=58u8).map(|b| format!("{b:02x}")).collect();
    let text = run_ok(&[
        "frame",
        "encode",
        "--cid",
        "01020304",
        "--cmd",
        "ping",
        "--payload",
        &payload,
    ]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1], format!("01020304003a{}", "00".repeat(58)));
    let dir = std::env::temp_dir().join(format!("ctap-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("payload.bin");
    std::fs::write(&file, vec![0x55; 7609]).unwrap();
    let text = run_ok(&[
        "frame",
        "encode",
        "--cid",
        "01020304",
        "--cmd",
        "msg",
        "--payload-file",
        file.to_str().unwrap(),
    ]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 129);
    assert!(lines[128].starts_with("010203047f"));
}

#[test]
fn frame_decode_round_trips_and_names_malformed_lines() {
    let encoded = run_ok(&[
        "frame",
        "encode",
        "--cid",
        "01020304",
        "--cmd",
        "ping",
        "--payload",
        &"ab".repeat(100),
    ]);
    let output = ctap()
        .args(["frame", "decode", "-"])
        .write_stdin(encoded.clone())
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!(
            "lines 1-2: cid 01020304 PING len 100 payload {}",
            "ab".repeat(100)
        )
    );
    let broken = format!("{encoded}nothex\n{}\n", "00".repeat(10));
    let output = ctap()
        .args(["frame", "decode"])
        .write_stdin(broken)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("line 3: malformed: "), "{stdout}");
    assert!(
        stdout.contains("line 4: malformed: report is 10 bytes, expected 64"),
        "{stdout}"
    );
    let json: Value = serde_json::from_slice(
        &ctap()
            .args(["--json", "frame", "decode"])
            .write_stdin(encoded)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["malformed"], 0);
    assert_eq!(json["events"][0]["kind"], "message");
    assert_eq!(json["events"][0]["length"], 100);
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        vec![
            "frame",
            "encode",
            "--cid",
            "zz",
            "--cmd",
            "ping",
            "--payload",
            "",
        ],
        vec![
            "frame",
            "encode",
            "--cid",
            "01",
            "--cmd",
            "0x80",
            "--payload",
            "",
        ],
        vec![
            "frame",
            "encode",
            "--cid",
            "01",
            "--cmd",
            "ping",
            "--payload",
            "abc",
        ],
        vec!["frame", "decode", "--report-size", "7"],
        vec!["lock", "--seconds", "11"],
        vec!["ping", "--count", "0"],
        vec!["no-such-command"],
    ] {
        let output = ctap().args(&args).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "ctap {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    }
}

#[test]
fn list_runs_without_keys() {
    let text = run_ok(&["list"]);
    assert!(text.contains("no FIDO security keys found") || !text.is_empty());
    let json = run_json(&["list"]);
    assert!(json["devices"].is_array());
}

#[test]
fn serve_over_udp_answers_every_command() {
    let server = Server::start(&["--touch-delay", "200"]);
    let device = server.address.as_str();
    let json = run_json(&["--device", device, "info"]);
    assert_eq!(json["protocol_version"], 2);
    assert_eq!(json["device"], device);
    assert!(
        run_ok(&["--device", device, "ping", "--size", "7609", "--count", "2"])
            .starts_with("2 pings")
    );
    assert_eq!(run_ok(&["--device", device, "wink"]).trim(), "winked");
    assert_eq!(
        run_ok(&[
            "--device",
            device,
            "--bind",
            "127.0.0.1:0",
            "raw",
            "--cmd",
            "ping",
            "--data",
            "00"
        ])
        .trim(),
        "00"
    );
    let started = Instant::now();
    assert_eq!(run_ok(&["--device", device, "select"]).trim(), "selected");
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[test]
fn serve_with_deny_refuses_touches() {
    let server = Server::start(&["--deny", "--touch-delay", "0"]);
    let output = ctap()
        .args(["--device", &server.address, "select"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("UPNEEDED"), "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some("ctap: CTAP error: 0x27 - OPERATION_DENIED")
    );
}

#[test]
fn a_silent_udp_device_times_out_with_a_clear_error() {
    // Nothing listens on this socket's port once it is dropped... so bind one and never answer.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = format!("udp:{}", socket.local_addr().unwrap());
    let started = Instant::now();
    let output = ctap()
        .args(["--device", &address, "info"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("ctap: "), "{stderr}");
    assert!(
        stderr.contains("no answer") || stderr.contains("time"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// Sends a signal to a child process (`kill` is in every POSIX base system).
#[cfg(unix)]
fn signal(child: &Child, name: &str) {
    let status = Process::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a child to exit, at most `limit`.
#[cfg(unix)]
fn wait_at_most(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "the process did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
#[test]
fn serve_stops_cleanly_on_sigterm() {
    let mut server = Server::start(&[]);
    signal(&server.child, "-TERM");
    let status = wait_at_most(&mut server.child, Duration::from_secs(5));
    assert!(status.success(), "{status}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_a_select_cleanly() {
    // Nobody touches within the minute: only the interrupt ends the wait.
    let server = Server::start(&["--touch-delay", "60000"]);
    let mut select = Process::new(assert_cmd::cargo::cargo_bin("ctap"))
        .args(["--device", &server.address, "select"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it is waiting for the touch.
    let mut stderr = BufReader::new(select.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("UPNEEDED"), "{first:?}");
    let started = Instant::now();
    signal(&select, "-INT");
    let status = wait_at_most(&mut select, Duration::from_secs(5));
    assert_eq!(status.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "CANCEL was answered within a keep-alive period or two"
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(rest.trim(), "cancelled", "{rest:?}");
}

#[test]
fn serve_keeps_its_state_file_and_presets_a_pin() {
    let dir = std::env::temp_dir().join(format!("ctap-cli-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state");
    let state_arg = state.to_str().unwrap();
    let client_pin = |server: &Server| {
        run_json(&["--device", &server.address, "info"])["get_info"]["options"]["clientPin"].clone()
    };
    {
        let server = Server::start(&["--state", state_arg, "--pin", "1234"]);
        assert_eq!(client_pin(&server), Value::Bool(true));
    }
    assert!(state.exists());
    {
        // Restarted without --pin: the PIN came from the file.
        let server = Server::start(&["--state", state_arg]);
        assert_eq!(client_pin(&server), Value::Bool(true));
    }
    // A corrupt file is refused, with a message, and left alone.
    std::fs::write(&state, b"garbage").unwrap();
    let output = ctap()
        .args(["serve", "--udp", "127.0.0.1:0", "--state", state_arg])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("corrupt"), "{stderr}");
    assert_eq!(std::fs::read(&state).unwrap(), b"garbage");
    // A PIN the policy refuses.
    let output = ctap()
        .args(["serve", "--udp", "127.0.0.1:0", "--pin", "12"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("PIN_POLICY_VIOLATION"));
    std::fs::remove_dir_all(&dir).unwrap();
}
