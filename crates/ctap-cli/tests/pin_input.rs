//! A PIN never has to go through argv (issue 25): a file (`--pin-file`), a line of
//! stdin (`--pin-stdin`), `CTAP_PIN`; the new PIN likewise (`--new-pin-file`,
//! `--new-pin-stdin`, `CTAP_NEW_PIN`). `--pin` says it is for tests; `pin set` has no
//! `--pin`.

mod support;

use std::io::Write as _;

use support::Target;

/// A file holding `text`, readable by its owner only; removed when dropped.
struct PinFile(std::path::PathBuf);

impl PinFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("ctap-cli-{}-{name}", std::process::id()));
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for PinFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn every_pin_can_come_from_stdin_a_file_or_the_environment() {
    let target = Target::virtual_device();
    // The new PIN from stdin.
    let output = target
        .command(&["--json", "pin", "set", "--new-pin-stdin"])
        .write_stdin("123456\n")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    // The current PIN from a file (CRLF line end, as an editor may leave it).
    let file = PinFile::new("current", "123456\r\n");
    let listed = target.json(&["cred", "list", "--pin-file", file.path()]);
    assert_eq!(listed["existing"], 0);
    // Both from stdin: the current PIN's line first.
    let output = target
        .command(&["--json", "pin", "change", "--pin-stdin", "--new-pin-stdin"])
        .write_stdin("123456\n654321\n")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    // The environment, for both.
    let output = target
        .command(&["--json", "pin", "change"])
        .env("CTAP_PIN", "654321")
        .env("CTAP_NEW_PIN", "111111")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let output = target
        .command(&["--json", "cred", "list", "--pin-stdin"])
        .write_stdin("111111")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn a_bad_pin_source_is_a_usage_error() {
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "123456"]);
    let empty = PinFile::new("empty", "\n");
    let error = target.fails(&["cred", "list", "--pin-file", empty.path()], 2);
    assert!(error.contains("its first line is empty"), "{error}");
    let error = target.fails(&["cred", "list", "--pin-file", "/nonexistent/pin"], 2);
    assert!(
        error.contains("cannot read the PIN from /nonexistent/pin"),
        "{error}"
    );
    let long = PinFile::new("long", &"1".repeat(300));
    let error = target.fails(&["cred", "list", "--pin-file", long.path()], 2);
    assert!(error.contains("over 256 bytes"), "{error}");
    // Two sources at once.
    let error = target.fails(&["cred", "list", "--pin", "1", "--pin-stdin"], 2);
    assert!(error.contains("cannot be used with"), "{error}");
}

#[cfg(unix)]
#[test]
fn a_pin_file_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt as _;
    let target = Target::virtual_device();
    target.json(&["pin", "set", "--new", "123456"]);
    let file = PinFile::new("open", "123456\n");
    std::fs::set_permissions(&file.0, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = target
        .command(&["cred", "list", "--pin-file", file.path()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("can be read by other users"), "{stderr}");
}

#[test]
fn the_help_says_pin_is_for_tests_and_pin_set_has_no_pin() {
    let target = Target::virtual_device();
    let help = target
        .command(&["cred", "list", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("FOR TESTS ONLY"), "{help}");
    assert!(help.contains("--pin-file"), "{help}");
    assert!(help.contains("--pin-stdin"), "{help}");
    let help = target.command(&["pin", "set", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(!help.contains("--pin <PIN>"), "{help}");
    assert!(!help.contains("--pin-file"), "{help}");
    let error = target.fails(&["pin", "set", "--pin", "1234", "--new", "123456"], 2);
    assert!(error.contains("unexpected argument '--pin'"), "{error}");
}
