//! What `ctap serve` and `--device virtual` tell the user (issue 25): serve warns when
//! it listens beyond loopback, announces its `udp:` device string in `--json`, and
//! writes its state file only once its socket is bound; `--device virtual` says when
//! a change is thrown away at exit and how to keep it.

use std::io::{BufRead, BufReader, Read as _};
use std::process::{Command, Stdio};

use assert_cmd::cargo::cargo_bin;

/// Starts `ctap serve ARGS`, reads its first stdout line, stops it; returns that line
/// and all of stderr.
fn first_line_and_stderr(args: &[&str]) -> (String, String) {
    let mut child = Command::new(cargo_bin("ctap"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (first, stderr)
}

#[test]
fn serve_warns_beyond_loopback_only() {
    let (first, stderr) = first_line_and_stderr(&["--udp", "0.0.0.0:0"]);
    assert!(first.starts_with("listening on udp:0.0.0.0:"), "{first}");
    assert!(
        stderr.contains("warning: listening on 0.0.0.0:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--udp 127.0.0.1:PORT keeps it local"),
        "{stderr}"
    );
    let (_, stderr) = first_line_and_stderr(&["--udp", "127.0.0.1:0"]);
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn serve_json_names_the_device_string() {
    let (first, _) = first_line_and_stderr(&["--json", "--udp", "127.0.0.1:0"]);
    let line: serde_json::Value = serde_json::from_str(&first).unwrap();
    let listening = line["listening"].as_str().unwrap();
    assert_eq!(line["device"], format!("udp:{listening}"));
}

#[test]
fn serve_writes_no_state_file_when_it_cannot_bind() {
    let state = std::env::temp_dir().join(format!("ctap-cli-unbound-{}.state", std::process::id()));
    let _ = std::fs::remove_file(&state);
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): no local interface has it, so bind fails.
    let output = Command::new(cargo_bin("ctap"))
        .args([
            "serve",
            "--udp",
            "192.0.2.1:0",
            "--state",
            state.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot listen on 192.0.2.1:0"), "{stderr}");
    assert!(
        !state.exists(),
        "a state file was written before the bind failed"
    );
}

/// The same for `serve --vpcd`: a reader that cannot be reached (nothing listens on the
/// port; serve gives up after its 10 s of patience) leaves no state file.
#[test]
fn serve_vpcd_writes_no_state_file_when_the_reader_is_not_there() {
    let state =
        std::env::temp_dir().join(format!("ctap-cli-noreader-{}.state", std::process::id()));
    let _ = std::fs::remove_file(&state);
    // A port just freed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(cargo_bin("ctap"))
        .args([
            "serve",
            "--vpcd",
            &format!("127.0.0.1:{port}"),
            "--state",
            state.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot reach the vpcd reader"), "{stderr}");
    assert!(
        !state.exists(),
        "a state file was written before the reader was reached"
    );
}

#[test]
fn virtual_says_its_changes_are_thrown_away() {
    let run = |args: &[&str], state: Option<&std::path::Path>| {
        let mut command = Command::new(cargo_bin("ctap"));
        command
            .args(["--device", "virtual"])
            .args(args)
            .env_remove("CTAP_PIN");
        match state {
            Some(path) => command.env("CTAP_VIRTUAL_STATE", path),
            None => command.env_remove("CTAP_VIRTUAL_STATE"),
        };
        let output = command.output().unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = run(&["cred", "make", "--rp", "a.com"], None);
    assert!(stderr.contains("forgets this one's changes"), "{stderr}");
    assert!(stderr.contains("set CTAP_VIRTUAL_STATE=FILE"), "{stderr}");
    // Nothing to lose, nothing said; with a state file, nothing either.
    assert!(!run(&["info"], None).contains("note"));
    let state = std::env::temp_dir().join(format!("ctap-cli-kept-{}.state", std::process::id()));
    let stderr = run(&["cred", "make", "--rp", "a.com"], Some(&state));
    let _ = std::fs::remove_file(&state);
    assert!(!stderr.contains("note"), "{stderr}");
}

/// An empty `CTAP_VIRTUAL_STATE` (as `CTAP_VIRTUAL_STATE= ctap ...` leaves it) is no state
/// file: nothing is written under an empty name (it was: `.tmp` in the current
/// directory), and the note says the change is thrown away.
#[test]
fn an_empty_virtual_state_variable_is_no_file() {
    let dir = std::env::temp_dir().join(format!("ctap-cli-empty-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new(cargo_bin("ctap"))
        .current_dir(&dir)
        .args(["--device", "virtual", "cred", "make", "--rp", "a.com"])
        .env("CTAP_VIRTUAL_STATE", "")
        .env_remove("CTAP_PIN")
        .output()
        .unwrap();
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(output.status.success(), "{output:?}");
    assert!(left.is_empty(), "files written: {left:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("forgets this one's changes"));
}
