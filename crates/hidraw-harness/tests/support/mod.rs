//! Running commands under the `hidraw-harness` runner, and skipping where it cannot run.

#![allow(dead_code, unreachable_pub)] // each test file uses a part

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The runner built by cargo for this package's tests.
pub const RUNNER: &str = env!("CARGO_BIN_EXE_hidraw-harness");
/// The runner's exit status for "cannot run here".
pub const SKIPPED: i32 = 77;
/// Set (to anything) to make a skip a failure: CI, which runs as root, sets it so the
/// tests cannot pass by not running.
pub const REQUIRED_VAR: &str = "HIDRAW_HARNESS_REQUIRED";

/// The runner with `devices` (its `--key`/`--mouse` arguments) and, after `--`,
/// `command`.
pub fn harness<S: AsRef<OsStr>>(devices: &[&str], command: &[S]) -> Command {
    let mut runner = Command::new(RUNNER);
    runner.args(devices).arg("--").args(command);
    runner
}

/// Runs `runner` to the end. `None` (after saying why on stderr) when the harness
/// cannot run here.
pub fn run(mut runner: Command) -> Option<Output> {
    let output = runner
        .stdin(Stdio::null())
        .output()
        .expect("the hidraw-harness runner starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    if skipped(output.status.code(), &stderr) {
        return None;
    }
    Some(output)
}

/// `true` (and the reason printed) if the runner said it cannot run here; panics
/// instead when [`REQUIRED_VAR`] is set.
pub fn skipped(code: Option<i32>, stderr: &str) -> bool {
    if code != Some(SKIPPED) {
        return false;
    }
    let why = stderr
        .lines()
        .find(|line| line.contains("SKIPPED"))
        .unwrap_or("hidraw-harness: SKIPPED (no reason given)");
    assert!(
        std::env::var_os(REQUIRED_VAR).is_none(),
        "{REQUIRED_VAR} is set but the harness skipped: {why}"
    );
    say(why);
    true
}

/// Prints a line on stderr past libtest's output capture, so a skip is seen even when
/// the test passes (`eprintln!` would only show for failures).
pub fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `true` if the harness can run here (checked once by running `true` under it);
/// `false` after saying why (or a panic when [`REQUIRED_VAR`] is set).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| run(harness(&[], &["true"])).is_some())
}

/// The `ctap` binary, built (or brought up to date) once per test process: it belongs
/// to another package, so cargo does not build it for these tests.
pub fn ctap_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ctap-cli/Cargo.toml");
        // The profile these tests were built with (target/<dir>/): "debug" is `dev`.
        let profile = Path::new(RUNNER)
            .parent()
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
            .map_or("dev", |name| if name == "debug" { "dev" } else { name });
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--bin", "ctap", "--profile", profile])
            .arg("--manifest-path")
            .arg(&manifest)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --bin ctap failed");
        // Next to the runner: target/<profile>/.
        let bin = Path::new(RUNNER).with_file_name("ctap");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
}

/// The output's stdout as UTF-8 text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The output's stderr as UTF-8 text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses the stdout of a `--json` command.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}):\nstdout: {}\nstderr: {}",
            stdout(output),
            stderr(output)
        )
    })
}

/// The `devices` of a `ctap list --json`, sorted by path.
pub fn listed(value: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut devices = value["devices"]
        .as_array()
        .unwrap_or_else(|| panic!("no devices array in {value}"))
        .clone();
    devices.sort_by_key(|d| d["path"].as_str().unwrap_or_default().to_owned());
    devices
}

/// Asserts a command's success, showing its output when it failed.
#[track_caller]
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}
