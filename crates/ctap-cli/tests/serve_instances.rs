//! `ctap serve` with several authenticators in one process (`--instances N`, repeated
//! `--udp`): each is its own key (own PIN, credentials and state file), on its own
//! port, served by its own thread, and the process announces every one of them.

use std::io::{BufRead, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A `ctap serve` process, killed when dropped.
struct Serve {
    child: Child,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ctap --json serve ARGS` and returns it with its announcement (one JSON
/// document on the first line).
fn serve_json(args: &[&str]) -> (Serve, Value) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("ctap"))
        .args(["--json", "serve", "--touch-delay", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let announced = serde_json::from_str(&first)
        .unwrap_or_else(|e| panic!("first line {first:?} is not JSON: {e}"));
    (Serve { child }, announced)
}

/// The `udp:HOST:PORT` of every instance, in order.
fn devices(announced: &Value) -> Vec<String> {
    announced["instances"]
        .as_array()
        .unwrap_or_else(|| panic!("no instances in {announced}"))
        .iter()
        .map(|instance| instance["device"].as_str().unwrap().to_owned())
        .collect()
}

/// `ctap --json --device DEVICE ARGS`, expected to succeed.
fn ctap_json(device: &str, args: &[&str]) -> Value {
    let output = assert_cmd::Command::cargo_bin("ctap")
        .unwrap()
        .env_remove("CTAP_PIN")
        .args(["--json", "--device", device])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ctap {args:?} on {device}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn client_pin(device: &str) -> Value {
    ctap_json(device, &["info"])["get_info"]["options"]["clientPin"].clone()
}

/// A fresh folder under the temporary directory, removed when dropped.
struct Folder(PathBuf);

impl Folder {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("ctap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn instances_are_independent_keys_each_with_its_own_state_file() {
    let folder = Folder::new("serve-instances-state");
    let state = folder.0.to_str().unwrap();
    let expected_files: Vec<String> = (1..=3)
        .map(|n| {
            folder
                .0
                .join(format!("instance-{n}.state"))
                .display()
                .to_string()
        })
        .collect();
    {
        let (_serve, announced) =
            serve_json(&["--udp", "127.0.0.1:0", "--instances", "3", "--state", state]);
        let devices = devices(&announced);
        assert_eq!(devices.len(), 3, "{announced}");
        let mut distinct = devices.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "three ports: {devices:?}");
        assert_eq!(
            announced["listening"]
                .as_str()
                .map(|a| format!("udp:{a}"))
                .as_deref(),
            devices.first().map(String::as_str),
            "`listening` stays the first instance's address"
        );
        let states: Vec<&str> = announced["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|instance| instance["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, expected_files);
        // A PIN set on the second key is the second key's only.
        ctap_json(&devices[1], &["pin", "set", "--new", "4321"]);
        let pins: Vec<Value> = devices.iter().map(|d| client_pin(d)).collect();
        assert_eq!(
            pins,
            [Value::Bool(false), Value::Bool(true), Value::Bool(false)]
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&folder.0).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the state folder holds private keys");
    }
    // Restarted on the same folder, every instance finds its own state again.
    let (_serve, announced) =
        serve_json(&["--udp", "127.0.0.1:0", "--instances", "3", "--state", state]);
    let pins: Vec<Value> = devices(&announced).iter().map(|d| client_pin(d)).collect();
    assert_eq!(
        pins,
        [Value::Bool(false), Value::Bool(true), Value::Bool(false)]
    );
}

#[test]
fn a_state_pattern_names_each_instance_file() {
    let folder = Folder::new("serve-instances-pattern");
    std::fs::create_dir_all(&folder.0).unwrap();
    let pattern = folder.0.join("shard-{N}.cbor");
    let (_serve, announced) = serve_json(&[
        "--udp",
        "127.0.0.1:0",
        "--instances",
        "2",
        "--state",
        pattern.to_str().unwrap(),
        "--pin",
        "1234",
    ]);
    for (n, device) in devices(&announced).iter().enumerate() {
        // --pin presets the PIN of every instance.
        assert_eq!(client_pin(device), Value::Bool(true));
        let file = folder.0.join(format!("shard-{}.cbor", n + 1));
        assert!(
            Path::new(&file).is_file(),
            "{} was not written",
            file.display()
        );
    }
}

#[test]
fn repeated_udp_serves_one_instance_per_address_and_says_so_in_text() {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("ctap"))
        .args(["serve", "--touch-delay", "0"])
        .args(["--udp", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        lines.push(line);
    }
    let serve = Serve { child };
    let devices: Vec<&str> = lines
        .iter()
        .map(|line| {
            line.trim()
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("line {line:?}"))
        })
        .collect();
    assert_ne!(devices[0], devices[1]);
    for device in devices {
        assert_eq!(ctap_json(device, &["wink"])["winked"], Value::Bool(true));
    }
    drop(serve);
}

/// Each instance has a serving thread of its own (`serve-N`): the process can use as
/// many cores as it has instances.
#[cfg(target_os = "linux")]
#[test]
fn each_instance_is_served_by_a_thread_of_its_own() {
    let (serve, announced) = serve_json(&["--udp", "127.0.0.1:0", "--instances", "3"]);
    assert_eq!(devices(&announced).len(), 3);
    let tasks = format!("/proc/{}/task", serve.child.id());
    let mut names: Vec<String> = std::fs::read_dir(&tasks)
        .unwrap()
        .map(|task| {
            let comm = task.unwrap().path().join("comm");
            std::fs::read_to_string(comm).unwrap().trim().to_owned()
        })
        .filter(|name| name.starts_with("serve-"))
        .collect();
    names.sort();
    assert_eq!(names, ["serve-1", "serve-2", "serve-3"]);
}

#[cfg(unix)]
#[test]
fn sigterm_stops_every_instance_cleanly() {
    let (mut serve, _) = serve_json(&["--udp", "127.0.0.1:0", "--instances", "4"]);
    let status = Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // A bound for a hung process, not a timing the test measures.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = serve.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn several_instances_refuse_one_state_file() {
    let folder = Folder::new("serve-instances-file");
    std::fs::create_dir_all(&folder.0).unwrap();
    let file = folder.0.join("one.state");
    std::fs::write(&file, b"").unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("ctap"))
        .args([
            "serve",
            "--udp",
            "127.0.0.1:0",
            "--instances",
            "2",
            "--state",
        ])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("need a folder or a pattern with {N}"),
        "{stderr}"
    );
}

#[test]
fn instances_refuse_ports_past_65535() {
    let output = assert_cmd::Command::cargo_bin("ctap")
        .unwrap()
        .args(["serve", "--udp", "127.0.0.1:65535", "--instances", "2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("past port 65535"), "{stderr}");
}

/// Every port is had before any state is touched: an instance whose port is taken
/// leaves no state folder (and no file of the instances before it) behind.
#[test]
fn a_taken_port_leaves_no_state_behind() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let folder = Folder::new("serve-instances-taken");
    let output = assert_cmd::Command::cargo_bin("ctap")
        .unwrap()
        .args([
            "serve",
            "--udp",
            "127.0.0.1:0",
            "--udp",
            &taken_addr,
            "--state",
        ])
        .arg(&folder.0)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("instance 2: cannot listen on {taken_addr}")),
        "{stderr}"
    );
    assert!(!folder.0.exists(), "{} was created", folder.0.display());
}

/// The help shows the pattern's placeholder as it is typed (clap would turn a `{n}` in
/// help text into a line break).
#[test]
fn the_help_shows_the_state_pattern_placeholder() {
    let output = assert_cmd::Command::cargo_bin("ctap")
        .unwrap()
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("a pattern where `{N}` is the instance number"),
        "{help}"
    );
}
