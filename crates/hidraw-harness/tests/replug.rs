//! Unplug-and-replug of a key under the harness (issue 22: a client's reconnect logic
//! tested over USB): `/dev/.hidraw-harness/hidrawN.replug` pulls the key out and puts
//! it back, power cycled, with the same persistent state.
//!
//! As in `library.rs`, the test runs twice: outside it starts the harness with this
//! test binary filtered to itself; inside it runs its body against `/dev/hidraw0`.
#![cfg(target_os = "linux")]

mod support;

use std::io::Read as _;
use std::os::unix::net::UnixStream;

use ctap_device::hid;
use ctap_device::{CtapDevice, Error};
use ctap_types::Command;
use support::{assert_success, harness, run, stdout};

fn inside_harness(test: &str, devices: &[&str]) -> bool {
    if std::env::var_os("HIDRAW_HARNESS_INSIDE").is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("this test binary");
    let runner = harness(
        devices,
        &[
            exe.as_os_str(),
            "--exact".as_ref(),
            test.as_ref(),
            "--nocapture".as_ref(),
            "--test-threads=1".as_ref(),
        ],
    );
    if let Some(output) = run(runner) {
        assert_success(&output);
        assert!(stdout(&output).contains("1 passed"), "{}", stdout(&output));
    }
    false
}

/// Whether authenticatorGetInfo says `alwaysUv` is on (read from the raw answer).
fn always_uv(device: &mut impl CtapDevice) -> bool {
    let info = device.call(Command::CBOR, &[0x04]).expect("getInfo");
    assert_eq!(info.first(), Some(&0x00), "getInfo status");
    // "alwaysUv" (text(8)) followed by a CBOR true (F5) or false (F4).
    let key = b"\x68alwaysUv";
    let at = info
        .windows(key.len())
        .position(|w| w == key)
        .expect("alwaysUv in getInfo's options");
    info.get(at + key.len()) == Some(&0xF5)
}

#[test]
fn replug_disconnects_openers_and_keeps_the_persistent_state() {
    if !inside_harness(
        "replug_disconnects_openers_and_keeps_the_persistent_state",
        &["--key", "0"],
    ) {
        return;
    }
    let mut device = hid::open("/dev/hidraw0").expect("opens");
    assert!(!always_uv(&mut device));
    // authenticatorConfig toggleAlwaysUv (CTAP 2.1 §6.11.2): allowed without a
    // pinUvAuthParam while no PIN is set; persistent state.
    let answer = device
        .call(Command::CBOR, &[0x0D, 0xA1, 0x01, 0x02])
        .expect("toggleAlwaysUv");
    assert_eq!(answer, [0x00]);
    assert!(always_uv(&mut device));

    let mut control = UnixStream::connect("/dev/.hidraw-harness/hidraw0.replug")
        .expect("the replug control socket");
    let mut said = String::new();
    control.read_to_string(&mut said).expect("an answer");
    assert_eq!(said, "replugged\n");

    // The opener from before the replug is gone, as on a real unplug.
    let error = device.ping(b"x").expect_err("the old descriptor is dead");
    assert!(matches!(error, Error::Disconnected), "{error:?}");
    // The key is back, with the same persistent state.
    let mut device = hid::open("/dev/hidraw0").expect("opens after the replug");
    assert_eq!(device.ping(b"hello").expect("ping"), b"hello");
    assert!(always_uv(&mut device), "the persistent state survives");
    // Listing finds it again.
    let listed = hid::list_devices().expect("listing works");
    assert_eq!(listed.len(), 1);
}
