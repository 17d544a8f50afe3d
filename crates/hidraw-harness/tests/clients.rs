//! Clients nobody here wrote, unmodified, against the software authenticator as
//! `/dev/hidrawN`: python-fido2's Linux backend and libfido2's `fido2-token`. Each
//! skips with a message when its client is not installed.
#![cfg(target_os = "linux")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{assert_success, harness, run, stderr, stdout};

/// Two keys of different report sizes and a mouse, which every client must skip.
const DEVICES: [&str; 6] = [
    "--key",
    "0",
    "--key",
    "1,report=8,serial=EIGHT",
    "--mouse",
    "2",
];

/// The python-fido2 2.2.1 venv `crates/ctap-virtual/interop/run.sh` makes.
fn python_fido2() -> Option<PathBuf> {
    let target = Path::new(support::RUNNER).parent()?.parent()?;
    let python = target.join("interop-venv/bin/python");
    let version = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('fido2'))",
        ])
        .output()
        .ok()?;
    (String::from_utf8_lossy(&version.stdout).trim() == "2.2.1").then_some(python)
}

const PYTHON_SCRIPT: &str = r#"
import json
from fido2.hid import CtapHidDevice
from fido2.ctap2 import Ctap2
found = []
for dev in sorted(CtapHidDevice.list_devices(), key=lambda d: d.descriptor.path):
    d = dev.descriptor
    info = Ctap2(dev).get_info()
    found.append({
        "path": d.path, "vid": d.vid, "pid": d.pid,
        "in": d.report_size_in, "out": d.report_size_out,
        "product": d.product_name, "serial": d.serial_number,
        "versions": info.versions, "max_msg_size": info.max_msg_size,
        "aaguid": str(info.aaguid), "ping": dev.ping(b"py" * 100) == b"py" * 100,
    })
    dev.close()
print(json.dumps(found))
"#;

#[test]
fn python_fido2_lists_the_keys_and_gets_their_info() {
    let Some(python) = python_fido2() else {
        support::skip(
            "SKIPPED: no python-fido2 2.2.1 venv at target/interop-venv (bash crates/ctap-virtual/interop/venv.sh makes it)",
        );
        return;
    };
    let Some(output) = run(harness(
        &DEVICES,
        &[python.as_os_str(), "-c".as_ref(), PYTHON_SCRIPT.as_ref()],
    )) else {
        return;
    };
    assert_success(&output);
    let found: serde_json::Value = serde_json::from_str(stdout(&output).trim())
        .unwrap_or_else(|e| panic!("{e}: {}", stdout(&output)));
    let expected = serde_json::json!([
        {"path": "/dev/hidraw0", "vid": 0x1209, "pid": 0xf1d0, "in": 64, "out": 64,
         "product": "ctap-rs virtual key", "serial": "HARNESS0000",
         "versions": ["U2F_V2", "FIDO_2_0", "FIDO_2_1"], "max_msg_size": 7609,
         "aaguid": "63746170-2d72-732d-7669-727475616c21", "ping": true},
        {"path": "/dev/hidraw1", "vid": 0x1209, "pid": 0xf1d1, "in": 8, "out": 8,
         "product": "ctap-rs virtual key", "serial": "EIGHT",
         "versions": ["U2F_V2", "FIDO_2_0", "FIDO_2_1"], "max_msg_size": 385,
         "aaguid": "63746170-2d72-732d-7669-727475616c21", "ping": true},
    ]);
    assert_eq!(found, expected, "stderr: {}", stderr(&output));
}

fn fido2_token() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join("fido2-token"))
        .find(|path| path.is_file())
}

#[test]
fn libfido2_fido2_token_lists_the_keys_and_reads_their_info() {
    let Some(tool) = fido2_token() else {
        support::skip(
            "SKIPPED: no fido2-token on PATH (libfido2's tools: apt-get install fido2-tools)",
        );
        return;
    };
    let script = r#"set -e
"$TOOL" -L
echo "--- hidraw0"
"$TOOL" -I /dev/hidraw0
echo "--- hidraw1"
"$TOOL" -I /dev/hidraw1"#;
    let mut runner = harness(&DEVICES, &["sh", "-c", script]);
    runner.env("TOOL", tool);
    let Some(output) = run(runner) else {
        return;
    };
    assert_success(&output);
    let text = stdout(&output);
    let (list, rest) = text
        .split_once("--- hidraw0")
        .unwrap_or_else(|| panic!("{text}"));
    let (info0, info1) = rest
        .split_once("--- hidraw1")
        .unwrap_or_else(|| panic!("{text}"));
    // libudev enumeration over the fake sysfs, then libfido2's own descriptor check.
    let mut listed: Vec<_> = list.lines().filter(|l| !l.is_empty()).collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        [
            "/dev/hidraw0: vendor=0x1209, product=0xf1d0 (ctap-rs virtual key)",
            "/dev/hidraw1: vendor=0x1209, product=0xf1d1 (ctap-rs virtual key)",
        ],
        "{text}"
    );
    for (info, max) in [(info0, "7609"), (info1, "385")] {
        assert!(info.contains("proto: 0x02"), "{info}");
        let versions = info
            .lines()
            .find_map(|l| l.strip_prefix("version strings: "))
            .unwrap_or_else(|| panic!("{info}"));
        let mut versions: Vec<_> = versions.split(", ").collect();
        versions.sort_unstable();
        assert_eq!(versions, ["FIDO_2_0", "FIDO_2_1", "U2F_V2"], "{info}");
        assert!(
            info.contains("aaguid: 637461702d72732d7669727475616c21"),
            "{info}"
        );
        assert!(info.contains(&format!("maxmsgsiz: {max}\n")), "{info}");
    }
}
