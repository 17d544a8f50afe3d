//! `cargo xtask bench-serve [--quick]`: CTAP2 over UDP against `ctap serve` (issue 27):
//! makeCredential+getAssertion throughput with 1 and 2 instances in one `ctap serve`,
//! and client CPU per operation of ctap2-client beside python-fido2 2.2.1, in one run.
//! Builds the release `ctap` and `serve_scale` (benches/src/bin/serve_scale.rs, which
//! measures and writes the `serve` section of `benches/RESULTS.md`) and runs them;
//! python-fido2 comes from the interop venv (`target/interop-venv`, made by
//! `crates/ctap-virtual/interop/run.sh`). `cargo xtask bench` runs it last.

use std::path::PathBuf;

use crate::util;

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other => return Err(format!("unknown argument `{other}`; expected --quick")),
        }
    }
    util::run(util::cmd(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "ctap-cli",
            "-p",
            "ctap-benches",
            "--bin",
            "ctap",
            "--bin",
            "serve_scale",
        ],
    ))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| util::root().join("target"));
    let release = target.join("release");
    let results = util::root().join("benches").join("RESULTS.md");
    let mut command = std::process::Command::new(release.join("serve_scale"));
    command
        .current_dir(util::root())
        .arg("--ctap")
        .arg(release.join("ctap"))
        .arg("--write")
        .arg(&results);
    let python = target.join("interop-venv").join("bin").join("python");
    if python.exists() {
        command.arg("--python").arg(&python);
    } else if std::env::var_os("CI").is_some() {
        return Err(format!(
            "no python-fido2 venv at {} (CI: a skip is an error); run \
             `bash crates/ctap-virtual/interop/run.sh` first",
            python.display()
        ));
    } else {
        eprintln!(
            "bench-serve: SKIPPED python-fido2 (no venv at {}; \
             `bash crates/ctap-virtual/interop/run.sh` makes it)",
            python.display()
        );
    }
    if quick {
        command.arg("--quick");
    }
    util::run(command)
}
