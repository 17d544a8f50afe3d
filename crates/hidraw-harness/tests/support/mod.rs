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
/// Set (to anything) to make a skip a failure: `.ci/run`'s hidraw step sets it so the
/// tests cannot pass by not running. `CI` does the same (see [`required`]).
pub const REQUIRED_VAR: &str = "HIDRAW_HARNESS_REQUIRED";

/// `true` when a skip must fail the test: [`REQUIRED_VAR`] is set, or `CI` is (to
/// anything but empty, `0` or `false`; CI services set `CI=true`), the same rule as
/// `.ci/skip.sh` and the xtasks: under CI a skipped part is not a pass.
pub fn required() -> bool {
    std::env::var_os(REQUIRED_VAR).is_some()
        || std::env::var("CI").is_ok_and(|value| !matches!(value.trim(), "" | "0" | "false"))
}

/// Says that a test SKIPPED because of `why` (a part it needs is missing here); panics
/// instead when [`required`].
pub fn skip(why: &str) {
    assert!(
        !required(),
        "{REQUIRED_VAR} or CI is set but a test skipped: {why}"
    );
    say(why);
}

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
/// instead when [`required`].
pub fn skipped(code: Option<i32>, stderr: &str) -> bool {
    if code != Some(SKIPPED) {
        return false;
    }
    let why = stderr
        .lines()
        .find(|line| line.contains("SKIPPED"))
        .unwrap_or("hidraw-harness: SKIPPED (no reason given)");
    skip(why);
    true
}

/// Prints a line on stderr past libtest's output capture, so a skip is seen even when
/// the test passes (`eprintln!` would only show for failures).
pub fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `true` if the harness can run here (checked once by running `true` under it);
/// `false` after saying why (or a panic when [`required`]).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| run(harness(&[], &["true"])).is_some())
}

/// The `ctap` binary, built (or brought up to date) once per test process: it belongs
/// to another package, so cargo does not build it for these tests.
///
/// Built with `--workspace --examples`: the features `cargo test --workspace` (the
/// README's test command, and CI's) resolves for it (the workspace's dev-dependencies
/// count only when a test, example or bench is built), so under that command the build
/// is fresh and takes no time. `-p ctap-cli` alone resolved other features for the
/// crates below it, and so built the tree (the optimised RustCrypto crates too) a
/// second time.
pub fn ctap_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
        // The profile these tests were built with (target/<dir>/): "debug" is `dev`.
        let profile = Path::new(RUNNER)
            .parent()
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
            .map_or("dev", |name| if name == "debug" { "dev" } else { name });
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--workspace", "--examples"])
            .args(["--bin", "ctap", "--profile", profile])
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

/// Copies of the runner and of the `ctap` binary in a fresh folder that every user may
/// enter and read, for commands run as another user (`--user nobody`): the checkout
/// (and so `target/`) may lie in a folder only its owner can enter (a clone under a
/// 0700 home, a `mktemp -d` folder), where `nobody` could not exec `target/debug/ctap`
/// nor load the shim the runner builds next to itself. The folder goes when the value
/// is dropped.
#[derive(Debug)]
pub struct PublicCopies {
    dir: PathBuf,
    /// The runner's copy (it builds its shim in `<dir>/hidraw-harness-shim/`, 0755).
    pub runner: PathBuf,
    /// The `ctap` binary's copy.
    pub ctap: PathBuf,
}

impl PublicCopies {
    /// Makes the folder (0755) in the first temporary folder whose every ancestor others
    /// may enter, and copies the two binaries there (0755).
    pub fn new() -> Self {
        use std::os::unix::fs::PermissionsExt as _;
        let ctap = ctap_bin();
        let base = [std::env::temp_dir(), "/tmp".into(), "/var/tmp".into()]
            .into_iter()
            .find(|dir| enterable_by_others(dir))
            .expect("a temporary folder that others may enter (/tmp is 1777 on Linux)");
        let dir = base.join(format!("hidraw-harness-public-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("create the public folder");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .expect("chmod 755 the public folder");
        let copy = |from: &Path, name: &str| {
            let to = dir.join(name);
            std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755))
                .expect("chmod 755 the copy");
            to
        };
        let runner = copy(Path::new(RUNNER), "hidraw-harness");
        let ctap = copy(ctap, "ctap");
        Self { dir, runner, ctap }
    }

    /// As [`harness`], with the runner's copy.
    pub fn harness<S: AsRef<OsStr>>(&self, devices: &[&str], command: &[S]) -> Command {
        let mut runner = Command::new(&self.runner);
        runner.args(devices).arg("--").args(command);
        runner
    }
}

impl Drop for PublicCopies {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `true` if `dir` and every folder above it have the execute bit for others.
fn enterable_by_others(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    dir.is_absolute()
        && dir.ancestors().all(|folder| {
            std::fs::metadata(folder)
                .is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o001 != 0)
        })
}
