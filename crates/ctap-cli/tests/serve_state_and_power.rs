//! `ctap serve` and the state file's permissions and power cycles (issue 22): the file
//! it writes is never readable by others, a file others can read is refused with the
//! chmod that fixes it, and the loopback control datagram power-cycles the key.

#![cfg(unix)]

mod support;

use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use support::Server;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ctap-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Issue 22 "Done when: `ctap serve --state FILE` never writes a file others can read;
/// a world-readable file is refused with a fix-it message".
#[test]
fn serve_writes_its_state_file_0600_and_refuses_one_others_can_read() {
    let dir = temp_dir("state-mode");
    let state = dir.join("state");
    let arg = state.to_str().unwrap();
    {
        let _server = Server::start(&["--state", arg, "--pin", "1234"]);
    }
    let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::read(&state).unwrap();
    let output = assert_cmd::Command::cargo_bin("ctap")
        .unwrap()
        .args(["serve", "--udp", "127.0.0.1:0", "--state", arg])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("chmod 600 {arg}")), "{stderr}");
    assert!(stderr.contains("644"), "{stderr}");
    assert_eq!(std::fs::read(&state).unwrap(), before, "left untouched");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The power-cycle datagram `ctap serve --help` documents: answered once done, and the
/// key still serves afterwards (what a power cycle clears is tested in
/// ctap2-client/tests/power_cycle.rs against the same UdpServer).
#[test]
fn serve_power_cycles_on_the_loopback_control_datagram() {
    let server = Server::start(&[]);
    let address = server.address.strip_prefix("udp:").unwrap();
    let control = UdpSocket::bind("127.0.0.1:0").unwrap();
    control
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    control
        .send_to(b"ctap-virtual power-cycle", address)
        .unwrap();
    let mut answer = [0u8; 64];
    let len = control.recv(&mut answer).unwrap();
    assert_eq!(&answer[..len], b"ctap-virtual power-cycled");
    assert_cmd::Command::cargo_bin("ctap")
        .unwrap()
        .args(["--device", &server.address, "ping"])
        .timeout(Duration::from_secs(30))
        .assert()
        .success();
}
