//! Shared by the CLI's test files (each includes it with `mod support;`; not every
//! file uses every helper).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// Starts `ctap serve --udp 127.0.0.1:0 EXTRA...` (stderr discarded) and returns the
/// process with the `udp:HOST:PORT` its first line announces, in text or `--json`.
pub(crate) fn serve_udp(extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("ctap"))
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
    let address = if extra.contains(&"--json") {
        let line: serde_json::Value = serde_json::from_str(&first).unwrap();
        format!("udp:{}", line["listening"].as_str().unwrap())
    } else {
        first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or("")
            .to_owned()
    };
    assert!(
        address.starts_with("udp:127.0.0.1:"),
        "first line: {first:?}"
    );
    (child, address)
}

/// A `ctap serve --udp 127.0.0.1:0` authenticator, killed when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    /// Its `udp:HOST:PORT`.
    pub(crate) address: String,
}

impl Server {
    /// Starts one with `extra` arguments (see [`serve_udp`]).
    pub(crate) fn start(extra: &[&str]) -> Self {
        let (child, address) = serve_udp(extra);
        Self { child, address }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a test's authenticator lives: `virtual` with a state file of its own, or a
/// `ctap serve` process.
pub(crate) struct Target {
    pub(crate) device: String,
    pub(crate) state: Option<PathBuf>,
    pub(crate) server: Option<Child>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(child) = &mut self.server {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(path) = &self.state {
            let _ = std::fs::remove_file(path);
        }
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Target {
    pub(crate) fn virtual_device() -> Self {
        let path = std::env::temp_dir().join(format!(
            "ctap-cli-ctap2-{}-{}.state",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_file(&path);
        Self {
            device: "virtual".into(),
            state: Some(path),
            server: None,
        }
    }

    pub(crate) fn udp(extra: &[&str]) -> Self {
        let delay: &[&str] = if extra.contains(&"--touch-delay") {
            &[]
        } else {
            &["--touch-delay", "0"]
        };
        let (child, device) = serve_udp(&[delay, extra].concat());
        Self {
            device,
            state: None,
            server: Some(child),
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> assert_cmd::Command {
        let mut command = assert_cmd::Command::cargo_bin("ctap").unwrap();
        command
            .env_remove("RUST_LOG")
            .env_remove("CTAP_PIN")
            .env_remove("CTAP_NEW_PIN")
            .args(["--device", &self.device])
            .args(args);
        match &self.state {
            Some(path) => command.env("CTAP_VIRTUAL_STATE", path),
            None => command.env_remove("CTAP_VIRTUAL_STATE"),
        };
        command
    }

    /// Runs `ctap --json ARGS`, expects success, returns the JSON.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = self.command(&all).output().unwrap();
        assert!(
            output.status.success(),
            "ctap {all:?} failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Runs `ctap ARGS`, expects failure with `status`, returns stderr.
    pub(crate) fn fails(&self, args: &[&str], status: i32) -> String {
        let output = self.command(args).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(status),
            "ctap {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stderr).unwrap()
    }
}

/// Says a test is skipped and why (past libtest's capture, so it shows when the test
/// passes); a failure instead under CI (`CI` set to anything but `0`/`false`) or with
/// `HIDRAW_HARNESS_REQUIRED` set, as the hidraw harness's tests do: CI must not pass by
/// not running.
pub(crate) fn skip(why: &str) {
    use std::io::Write as _;
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    assert!(
        !ci && std::env::var_os("HIDRAW_HARNESS_REQUIRED").is_none(),
        "skipped under CI: {why}"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// The program `name` on PATH, if there is one.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(name))
        .find(|path| path.is_file())
}
