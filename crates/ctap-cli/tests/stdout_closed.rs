//! A reader that goes away early (`ctap info --json | head -1`): the command stops
//! quietly with exit status 0, no "Broken pipe" panic (see the README's exit-status
//! table).

#![cfg(unix)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Command, Output, Stdio};

fn ctap() -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("ctap"));
    command.env_remove("RUST_LOG");
    command
}

/// Runs `ctap args` with a stdout whose reader is already gone, so its first write
/// fails with EPIPE every time (a socket whose peer is closed; a pipe would depend on
/// who comes first).
fn run_with_closed_stdout(args: &[&str]) -> Output {
    let (writer, reader) = UnixStream::pair().unwrap();
    drop(reader);
    ctap()
        .args(args)
        .stdout(Stdio::from(OwnedFd::from(writer)))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    for args in [
        &["--device", "virtual", "--json", "info"][..],
        &["--device", "virtual", "info"],
        &["--device", "virtual", "pin", "status"],
        &["--device", "virtual", "wink"],
        &[
            "frame",
            "encode",
            "--cid",
            "01020304",
            "--cmd",
            "cbor",
            "--payload",
            "04",
        ],
        &["completions", "bash"],
        &["man"],
    ] {
        let output = run_with_closed_stdout(args);
        assert_eq!(
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).as_ref()
            ),
            (Some(0), ""),
            "ctap {args:?}"
        );
    }
}

/// The same through a real pipe whose reader takes one line and closes it: the output
/// (megabytes) is far over any pipe's buffer, so the writer must meet the closed end.
#[test]
fn a_reader_that_stops_after_one_line_ends_frame_decode_quietly() {
    let mut child = ctap()
        .args(["frame", "decode", "--report-size", "8", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        // One complete CBOR message per line: cid 01020304, command 0x90, length 1.
        let lines = "0102030490000104\n".repeat(100_000);
        // The program may stop reading once its stdout is closed.
        let _ = stdin.write_all(lines.as_bytes());
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("line 1"), "{first:?}");
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).as_ref()
        ),
        (Some(0), "")
    );
}
