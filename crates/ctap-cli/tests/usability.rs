//! The `ctap` binary as a new user meets it (issue 13): bounded work for any number,
//! bounded memory for any capture, device strings that cannot reach the terminal raw,
//! one naming rule for codes, honest time-outs, Ctrl-C figures, options refused where
//! they mean nothing, exit statuses per the README, completions and a man page.

mod support;

use std::io::{BufRead, BufReader, Read as _};
use std::net::UdpSocket;
use std::process::{Command as Process, Output, Stdio};
use std::time::{Duration, Instant};
use support::Server;

use assert_cmd::Command;

fn ctap() -> Command {
    let mut command = Command::cargo_bin("ctap").unwrap();
    command.env_remove("RUST_LOG");
    command
}

fn run(args: &[&str]) -> Output {
    ctap().args(args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn workspace_file(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn any_ping_count_is_bounded_work() {
    // 4294967295 used to reserve 64 GiB up front and abort.
    let output = run(&["-d", "virtual", "ping", "--count", "4294967295"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("1..=1000000"),
        "{}",
        stderr(&output)
    );
    let output = run(&["-d", "virtual", "ping", "--count", "1", "--size", "0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("1 ping of 0 bytes"),
        "{}",
        stdout(&output)
    );
}

#[cfg(unix)]
#[test]
fn an_endless_payload_file_is_refused_not_read() {
    let output = run(&[
        "frame",
        "encode",
        "--cid",
        "01020304",
        "--cmd",
        "ping",
        "--payload-file",
        "/dev/zero",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("over the maximum message of 7609 bytes"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn frame_decode_follows_a_bounded_number_of_channels() {
    // Every line starts a 100-byte PING on a new channel and none finishes: the decoder
    // used to keep a 7.6 KB buffer for each channel ever seen.
    let channels = 2000;
    let mut capture = String::new();
    for n in 1..=channels {
        capture.push_str(&format!("{n:08x}810064{}\n", "ab".repeat(57)));
    }
    let output = ctap()
        .args(["frame", "decode"])
        .write_stdin(capture)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let abandoned = text.lines().filter(|l| l.contains(": abandoned: ")).count();
    let incomplete = text
        .lines()
        .filter(|l| l.contains(": incomplete: "))
        .count();
    assert_eq!(abandoned + incomplete, channels, "{text}");
    assert_eq!(incomplete, 256, "at most 256 channels are followed at once");
    assert!(text.contains("idle longest"), "the output says why");
    // JSON stays one valid document when streamed.
    let output = ctap()
        .args(["--json", "frame", "decode"])
        .write_stdin("00000001810001aa".to_owned() + &"00".repeat(56) + "\n")
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["events"][0]["kind"], "message");
    assert_eq!(json["malformed"], 0);
}

/// A one-shot fake authenticator over UDP whose getInfo answer is `get_info` (status
/// byte and CBOR, at most 57 bytes): answers INIT and one CBOR request, then ends.
fn evil_authenticator(get_info: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = format!("udp:{}", socket.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let cid = [1, 2, 3, 4];
        let mut report = [0u8; 64];
        for _ in 0..2 {
            let (_, peer) = socket.recv_from(&mut report).unwrap();
            let mut answer = [0u8; 64];
            if report[4] == 0x86 {
                // INIT: nonce back, our channel, protocol 2, version 1.0.0, CBOR.
                answer[..4].copy_from_slice(&report[..4]);
                answer[4..7].copy_from_slice(&[0x86, 0, 17]);
                answer[7..15].copy_from_slice(&report[7..15]);
                answer[15..19].copy_from_slice(&cid);
                answer[19..24].copy_from_slice(&[2, 1, 0, 0, 0x04]);
            } else {
                let body = get_info.as_slice();
                answer[..4].copy_from_slice(&cid);
                answer[4] = 0x90;
                answer[5..7].copy_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
                answer[7..7 + body.len()].copy_from_slice(body);
            }
            socket.send_to(&answer, peer).unwrap();
        }
    });
    (address, thread)
}

/// A valid getInfo whose strings carry terminal escape sequences: a version, and a
/// member the library does not know (0x40), which must still show.
fn evil_get_info() -> Vec<u8> {
    use ctap::ctap2::proto::{Info, cbor::CborMessage as _, cbor::Value};
    let info = Info {
        versions: vec!["FIDO\u{1b}[2J".to_owned()],
        aaguid: *b"evil authenticat",
        unknown: vec![(0x40, Value::text("\u{1b}]0;pwnd\u{7}"))],
        ..Info::default()
    };
    let mut body = vec![0x00];
    body.extend(info.to_cbor());
    body
}

#[test]
fn device_strings_never_reach_the_terminal_raw() {
    for json in [false, true] {
        let (address, server) = evil_authenticator(evil_get_info());
        let mut args = vec!["-d", address.as_str(), "info"];
        if json {
            args.insert(0, "--json");
        }
        let output = run(&args);
        server.join().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stdout(&output);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
        // Shown, escaped, not dropped.
        let escaped = if json { r"\\u{1b}[2J" } else { r"\u{1b}[2J" };
        assert!(text.contains(escaped), "{text}");
        let unknown = if json {
            r#""0x40": "\\u{1b}]0;pwnd\\u{7}""#
        } else {
            r"  0x40                             \u{1b}]0;pwnd\u{7}"
        };
        assert!(text.contains(unknown), "{text}");
    }
}

/// An answer readable but not canonical (keys out of order, a long length form) is
/// shown all the same, as python-fido2 would show it.
#[test]
fn a_non_canonical_get_info_is_still_shown() {
    // {3: aaguid (8-bit length form), 1: ["FIDO_2_0"], 4: {"up": true, "rk": false}}.
    let body = [
        "00a3",
        "035810000102030405060708090a0b0c0d0e0f",
        "0181684649444f5f325f30",
        "04a2627570f562726bf4",
    ]
    .concat();
    let body: Vec<u8> = (0..body.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&body[i..i + 2], 16).unwrap())
        .collect();
    let (address, server) = evil_authenticator(body);
    let output = run(&["--json", "-d", address.as_str(), "info"]);
    server.join().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        json["get_info"]["versions"],
        serde_json::json!(["FIDO_2_0"])
    );
    assert_eq!(
        json["get_info"]["options"],
        serde_json::json!({"up": true, "rk": false})
    );
    assert_eq!(
        json["get_info"]["aaguid"],
        "00010203-0405-0607-0809-0a0b0c0d0e0f"
    );
}

/// An answer that is not a getInfo (no aaguid, firmwareVersion as text) is an error
/// that says which member is wrong, not a panic and not half a listing.
#[test]
fn a_malformed_get_info_is_a_clear_error() {
    // {1: ["FIDO"], 14: "x"} after status 0.
    let body = vec![
        0x00, 0xA2, 0x01, 0x81, 0x64, b'F', b'I', b'D', b'O', 0x0E, 0x61, b'x',
    ];
    let (address, server) = evil_authenticator(body);
    let output = run(&["-d", address.as_str(), "info"]);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    assert!(
        stderr(&output).starts_with(
            "ctap: the authenticatorGetInfo answer does not decode: missing parameter: aaguid"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn hid_errors_and_ctap_statuses_follow_the_readme_rule() {
    // An ERROR packet: the CTAPHID name under the CTAPHID prefix.
    let output = run(&["-d", "virtual", "raw", "--cmd", "0x41"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim(),
        "ctap: CTAPHID error: 0x01 - INVALID_CMD"
    );
    // A CTAP2 status: python-fido2's text.
    let server = Server::start(&["--deny", "--touch-delay", "0"]);
    let output = run(&["-d", &server.address, "select"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).ends_with("ctap: CTAP error: 0x27 - OPERATION_DENIED\n"),
        "{}",
        stderr(&output)
    );
    let readme = workspace_file("crates/ctap-cli/README.md");
    assert!(readme.contains("`CTAPHID error: 0x01 - INVALID_CMD`"));
    assert!(readme.contains("`CTAP error: 0x01 - INVALID_COMMAND`"));
}

#[test]
fn a_time_out_says_what_the_device_was_doing() {
    // The key asks for a touch for a minute; the call gives up first.
    let server = Server::start(&["--touch-delay", "60000"]);
    let output = run(&["-d", &server.address, "--timeout", "0.5", "select"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("waiting for a touch"), "{text}");
    assert!(text.contains("--timeout"), "{text}");
    assert!(!text.contains("no answer from the device"), "{text}");

    // Nothing answers at all (a socket that never replies): silence, not a touch.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = format!("udp:{}", silent.local_addr().unwrap());
    let output = run(&["-d", &address, "wink"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("INIT") && text.contains("sent nothing"),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_ping_prints_the_figures_so_far() {
    let mut ping = Process::new(assert_cmd::cargo::cargo_bin("ctap"))
        .args([
            "-v", "-d", "virtual", "ping", "--count", "1000000", "--size", "0",
        ])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The frame trace shows pings going back and forth: the handler is installed
    // (before the first ping) and some have been answered.
    let mut trace = BufReader::new(ping.stderr.take().unwrap());
    let mut answers = 0;
    let mut line = String::new();
    while answers < 5 {
        line.clear();
        assert!(trace.read_line(&mut line).unwrap() > 0, "trace ended early");
        if line.contains("recv") {
            answers += 1;
        }
    }
    let status = Process::new("kill")
        .args(["-INT", &ping.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Keep draining the trace so the program never blocks on a full pipe.
    let drain = std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = trace.read_to_end(&mut rest);
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = ping.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "ping did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    drain.join().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut out = String::new();
    ping.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.starts_with("interrupted after "), "{out:?}");
    assert!(
        out.contains("of 1000000: ") && out.contains("median"),
        "{out:?}"
    );
}

#[test]
fn options_that_mean_nothing_are_refused() {
    for args in [
        &["list", "--device", "virtual"][..],
        &["--timeout", "5", "frame", "decode", "-"],
        &["serve", "--udp", "127.0.0.1:0", "--device", "virtual"],
        &["--bind", "127.0.0.1:0", "-d", "virtual", "wink"],
        &["man", "--timeout", "3"],
    ] {
        let output = run(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("does not apply") || stderr(&output).contains("applies to")
        );
    }
}

#[test]
fn malformed_device_names_are_usage_errors() {
    let output = run(&["-d", "udp:foo", "info"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("udp:HOST:PORT"),
        "{}",
        stderr(&output)
    );
    let output = run(&["-d", "", "info"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("empty device name"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("no FIDO device at"));
}

#[test]
fn very_verbose_shows_the_authenticators_decisions_with_times() {
    // -vvv: the authenticator's trace (-vv is the decoded CTAP2 level, see ctap2.rs).
    let output = run(&["-vvv", "-d", "virtual", "wink"]);
    assert!(output.status.success());
    let text = stderr(&output);
    let decision = text
        .lines()
        .find(|line| line.contains("ctap_virtual") && line.contains("request WINK"))
        .unwrap_or_else(|| panic!("no authenticator line in {text}"));
    // `[    12.345 ms DEBUG target] ...`
    let stamp = decision
        .trim_start_matches('[')
        .split(" ms ")
        .next()
        .unwrap();
    assert!(stamp.trim().parse::<f64>().is_ok(), "{decision}");
    // -v and -vv: not the authenticator's side.
    for flag in ["-v", "-vv"] {
        let output = run(&[flag, "-d", "virtual", "wink"]);
        assert!(!stderr(&output).contains("ctap_virtual"), "{flag}");
    }
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let output = run(&["completions", "bash"]);
    assert!(output.status.success());
    let script = stdout(&output);
    assert!(
        script.contains("_ctap()") && script.contains("ping"),
        "{script}"
    );
    let output = run(&["completions", "zsh"]);
    assert!(stdout(&output).contains("#compdef ctap"));
    let output = run(&["man"]);
    let page = stdout(&output);
    assert!(page.contains(".TH ctap 1"), "{page}");
    assert!(page.contains("completions"), "{page}");
}

#[test]
fn the_permission_hint_gives_the_readme_rule() {
    let readme = workspace_file("README.md");
    assert!(
        readme.contains(ctap::device::hid::UDEV_RULE),
        "the README's udev rule and the hint's differ"
    );
}

#[test]
fn release_builds_carry_no_debug_info_and_benches_do() {
    let manifest = workspace_file("Cargo.toml");
    let section = |name: &str| {
        let start = manifest.find(&format!("[profile.{name}]")).unwrap();
        let rest = &manifest[start + 1..];
        rest[..rest.find("\n[").unwrap_or(rest.len())].to_owned()
    };
    assert!(
        section("release").contains("debug = false"),
        "{}",
        section("release")
    );
    // What keeps the `ctap` binary small (the README's figure): no symbols, fat LTO,
    // one codegen unit, no unwinding.
    for setting in [
        "strip = \"symbols\"",
        "lto = \"fat\"",
        "codegen-units = 1",
        "panic = \"abort\"",
    ] {
        assert!(
            section("release").contains(setting),
            "{setting}: {}",
            section("release")
        );
    }
    // A package override for the binary's own package drops the profile's `strip`
    // (the binary then keeps a 0.5 MB symbol table): it must say it again.
    let overrides = section("release.package");
    if overrides.contains("\nctap-cli.") {
        assert!(
            overrides.contains("\nctap-cli.strip = \"symbols\""),
            "{overrides}"
        );
    }
    assert!(
        section("bench").contains("debug = 1"),
        "{}",
        section("bench")
    );
}
