//! Running commands from the workspace root.

use std::path::PathBuf;
use std::process::Command;

/// The workspace root (xtask lives one level below it).
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// A command that runs in the workspace root.
pub(crate) fn cmd(program: &str, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command.args(args).current_dir(root());
    command
}

/// Runs a command, echoing it; an error names the command and its exit status.
pub(crate) fn run(mut command: Command) -> Result<(), String> {
    eprintln!("$ {}", describe(&command));
    let status = command
        .status()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(&command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed with {status}", describe(&command)))
    }
}

/// Runs a command quietly and returns whether it succeeded (for probes).
pub(crate) fn succeeds(mut command: Command) -> bool {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command and returns its standard output, or `None` if it failed.
pub(crate) fn output(mut command: Command) -> Option<String> {
    let out = command.stderr(std::process::Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// The one nightly toolchain every nightly-only task uses (Miri, cargo-fuzz, the
/// firmware's `-Z emit-stack-sizes`), pinned so that a new nightly cannot turn CI red
/// without a change of ours: nightly 2026-05-19 (rustc e50aa6fba), the first with which
/// `ctaphid-frame/tests/no_alloc.rs` ran under Miri here. Move it forward on purpose,
/// in its own commit, after running `cargo xtask miri --install` with the new one.
pub(crate) const NIGHTLY: &str = "nightly-2026-05-20";

/// `+<NIGHTLY>`, the toolchain argument of `cargo` and `rustup`.
pub(crate) fn nightly_arg() -> String {
    format!("+{NIGHTLY}")
}

/// `true` when running under CI: the `CI` variable set (CI services set `CI=true`;
/// `.ci/run` does too) to anything but empty, `0` or `false`.
pub(crate) fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !matches!(value.trim(), "" | "0" | "false"))
}

/// Says that `what` was SKIPPED because of `why`. Outside CI that is all (a developer
/// without valgrind still gets the other checks); under CI (see [`under_ci`]) a skip is
/// not a pass, so it is an error that names what did not run.
pub(crate) fn skip(what: &str, why: &str) -> Result<(), String> {
    println!("{what}: SKIPPED: {why}");
    if under_ci() {
        Err(format!(
            "{what} did not run under CI (CI is set, so a skip fails the run): {why}"
        ))
    } else {
        Ok(())
    }
}
