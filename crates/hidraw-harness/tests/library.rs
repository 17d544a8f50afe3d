//! The library's hidapi layer (`ctap_device::hid`: `list_devices`, `open`, `call_with`)
//! against the software authenticator as `/dev/hidrawN`.
//!
//! Each test runs twice: outside, it starts the harness with its devices and this very
//! test binary filtered to itself; inside (the harness sets `HIDRAW_HARNESS_INSIDE`), it
//! runs its body with the shim preloaded, in the namespace with the fake nodes.
#![cfg(target_os = "linux")]

mod support;

use std::time::{Duration, Instant};

use ctap_device::hid::{self, HidDeviceInfo};
use ctap_device::{CallOptions, CancelToken, CtapDevice, Error, TimeoutKind};
use ctap_types::{Command, Ctap2Command, KeepaliveStatus};
use ctaphid_frame::ReportSize;
use support::{assert_success, harness, run, stdout};

/// `true` inside the harness (run the body); outside, runs `test` inside the harness
/// with `devices`, checks it passed, and returns `false`.
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
        // The body really ran (a filter that matched nothing would also succeed).
        assert!(stdout(&output).contains("1 passed"), "{}", stdout(&output));
    }
    false
}

fn usable(entries: Vec<hid::DeviceEntry>) -> Vec<HidDeviceInfo> {
    entries
        .into_iter()
        .map(|entry| entry.unwrap_or_else(|unusable| panic!("unusable: {unusable}")))
        .collect()
}

fn sorted_paths(infos: &[HidDeviceInfo]) -> Vec<String> {
    let mut paths: Vec<_> = infos.iter().map(|i| i.path.clone()).collect();
    paths.sort();
    paths
}

#[test]
fn list_devices_finds_the_keys_with_their_report_sizes_and_not_the_mouse() {
    if !inside_harness(
        "list_devices_finds_the_keys_with_their_report_sizes_and_not_the_mouse",
        &[
            "--key",
            "0",
            "--key",
            "1,report=8,serial=EIGHT",
            "--mouse",
            "2",
        ],
    ) {
        return;
    }
    // hidapi itself enumerates the mouse (so "not listed" below is a decision, not a
    // blind spot): usage page 1 (Generic Desktop), usage 2 (Mouse).
    let api = hidapi::HidApi::new().expect("hidapi starts");
    let mouse: Vec<_> = api
        .device_list()
        .filter(|d| d.path().to_bytes() == b"/dev/hidraw2")
        .map(|d| (d.usage_page(), d.usage(), d.vendor_id()))
        .collect();
    assert!(mouse.contains(&(1, 2, 0x046d)), "{mouse:?}");

    let mut devices = usable(hid::list_devices().expect("listing works"));
    devices.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(sorted_paths(&devices), ["/dev/hidraw0", "/dev/hidraw1"]);
    let full = ReportSize::FULL_SPEED;
    let eight = ReportSize::new(8).expect("8 is a report size");
    assert_eq!(devices[0].report_sizes, Some((full, full)));
    assert_eq!(devices[1].report_sizes, Some((eight, eight)));
    assert_eq!(devices[1].serial_number.as_deref(), Some("EIGHT"));
    assert_eq!(devices[1].manufacturer.as_deref(), Some("ctap-rs"));
    assert_eq!(devices[1].product.as_deref(), Some("virtual key"));
    assert_eq!(
        (devices[1].vendor_id, devices[1].product_id),
        (0x1209, 0xf1d1)
    );
}

#[test]
fn open_and_call_with_through_the_node() {
    if !inside_harness(
        "open_and_call_with_through_the_node",
        &["--key", "0,touch=never", "--key", "1,report=8"],
    ) {
        return;
    }
    let mut device = hid::open("/dev/hidraw0").expect("opens");
    assert_eq!(device.connection().path(), "/dev/hidraw0");
    let data: Vec<u8> = (0..7609u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(device.ping(&data).expect("ping"), data);
    device.wink().expect("wink");
    let info = device
        .call_with(
            Command::CBOR,
            &[Ctap2Command::GET_INFO.to_u8()],
            CallOptions::default().with_timeout(Duration::from_secs(10)),
        )
        .expect("getInfo");
    assert_eq!(info.first(), Some(&0), "status SUCCESS");

    // Nobody touches the key: cancel from the keep-alive callback, i.e. while the
    // call is blocked on the node.
    let token = CancelToken::new();
    let mut statuses = Vec::new();
    let cancel = token.clone();
    let mut on_keepalive = |status: KeepaliveStatus| {
        statuses.push(status);
        cancel.cancel();
    };
    let answer = device
        .call_with(
            Command::CBOR,
            &[Ctap2Command::SELECTION.to_u8()],
            CallOptions::default()
                .with_cancel(token)
                .with_on_keepalive(&mut on_keepalive)
                .with_timeout(Duration::from_secs(20)),
        )
        .expect("the key answers the CANCEL");
    // call_with gives the CBOR answer as is (python-fido2's call): the status byte
    // KEEPALIVE_CANCEL (0x2D), the key's answer to the CTAPHID_CANCEL we sent.
    assert_eq!(answer, [0x2D]);
    assert_eq!(statuses, [KeepaliveStatus::UPNEEDED]);
    // The channel is usable again after the cancel.
    assert_eq!(device.ping(b"after").expect("ping"), b"after");

    let mut small = hid::open("/dev/hidraw1").expect("opens");
    let data = vec![0x5A; 385];
    assert_eq!(
        small.ping(&data).expect("ping of the largest message"),
        data
    );
}

#[test]
fn unplug_during_a_call_is_disconnected_and_the_key_leaves_the_list() {
    if !inside_harness(
        "unplug_during_a_call_is_disconnected_and_the_key_leaves_the_list",
        &["--key", "0,touch=never,unplug-on-keepalive", "--key", "1"],
    ) {
        return;
    }
    let before = usable(hid::list_devices().expect("listing works"));
    assert_eq!(sorted_paths(&before), ["/dev/hidraw0", "/dev/hidraw1"]);
    let mut device = hid::open("/dev/hidraw0").expect("opens");
    let started = Instant::now();
    let error = device
        .call_with(
            Command::CBOR,
            &[Ctap2Command::SELECTION.to_u8()],
            CallOptions::default().with_timeout(Duration::from_secs(20)),
        )
        .expect_err("the key was pulled out");
    assert!(matches!(error, Error::Disconnected), "{error:?}");
    // Ended by the unplug, well before the deadline.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let error = device.ping(b"x").expect_err("still gone");
    assert!(matches!(error, Error::Disconnected), "{error:?}");

    let after = usable(hid::list_devices().expect("listing works"));
    assert_eq!(sorted_paths(&after), ["/dev/hidraw1"]);
    let error = hid::open("/dev/hidraw0").expect_err("nothing there");
    assert!(matches!(error, Error::NotFound(_)), "{error:?}");
}

#[test]
fn a_key_that_stops_answering_times_out() {
    if !inside_harness(
        "a_key_that_stops_answering_times_out",
        &["--key", "0,mute-after-init"],
    ) {
        return;
    }
    // INIT is answered, so opening works; then the key hangs.
    let mut device = hid::open("/dev/hidraw0").expect("opens");
    let started = Instant::now();
    let error = device
        .call_with(
            Command::PING,
            b"hello",
            CallOptions::default()
                .with_timeout(Duration::from_secs(5))
                .with_silence_timeout(Duration::from_millis(800)),
        )
        .expect_err("no answer");
    let elapsed = started.elapsed();
    assert!(
        matches!(error, Error::Timeout(TimeoutKind::Silence(limit)) if limit == Duration::from_millis(800)),
        "{error:?}"
    );
    // The silence limit is the subject: not before it, and well before the deadline.
    assert!(elapsed >= Duration::from_millis(800), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}
