//! Shared by the CLI's test files (each includes it with `mod support;`; not every
//! file uses every helper).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

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
