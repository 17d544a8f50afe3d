//! Regression tests for bugs found by the fault matrix (`ctap`'s tests/fault_matrix.rs)
//! and the fuzz targets (`fuzz/`), each with the input that found it.

mod support;

use std::time::Duration;

use ctap_device::{CtapHidDevice, DeviceConfig};
use ctap_types::Command;
use ctaphid_frame::ReportSize;
use support::{CID, Scripted, echo_device, report};

fn fast() -> DeviceConfig {
    DeviceConfig::default()
        .with_silence_timeout(Duration::from_millis(200))
        .with_init_timeout(Duration::from_millis(300))
        .with_poll_interval(Duration::from_millis(10))
}

/// Fault matrix, kind `duplicate`: a duplicated answer (or a request the device saw
/// twice and answered twice) stayed pending and became the answer of the next call,
/// and every later call was off by one. Reports already waiting when a request goes out
/// cannot be its answer: they are dropped first.
#[test]
fn a_duplicated_answer_is_not_the_next_calls_answer() {
    let conn = Scripted::new();
    let mut device = CtapHidDevice::with_config(conn.clone(), fast()).unwrap();
    conn.react(echo_device(ReportSize::FULL_SPEED));
    assert_eq!(device.ping(b"first").unwrap(), b"first");
    // The device (or the transport) sends the first answer again.
    conn.push_reports([report(CID, Command::PING, b"first")]);
    assert_eq!(device.ping(b"second").unwrap(), b"second");
    assert_eq!(device.ping(b"third").unwrap(), b"third");
}
