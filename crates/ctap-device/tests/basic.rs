//! Normal calls through a scripted connection.

mod support;

use ctap_device::{CtapDevice, CtapHidDevice, DeviceConfig};
use ctap_types::{Capabilities, Command};
use ctaphid_frame::ReportSize;
use support::{CID, Scripted, echo_device};

#[test]
fn init_allocates_the_channel_and_calls_echo_every_size() {
    let conn = Scripted::new();
    conn.react(echo_device(ReportSize::FULL_SPEED));
    let mut device = CtapHidDevice::with_config(conn.clone(), DeviceConfig::default()).unwrap();
    assert_eq!(device.channel_id(), CID);
    assert_eq!(device.protocol_version(), 2);
    assert_eq!(device.capabilities(), Capabilities::from_bits(0x05));
    for len in [0usize, 1, 57, 58, 1024, 7609] {
        let payload: Vec<u8> = (0..len)
            .map(|i| u8::try_from(i * 7 % 251).unwrap())
            .collect();
        conn.clear_writes();
        let answer = device.call(Command::PING, &payload).unwrap();
        assert_eq!(answer, payload, "echo of {len} bytes");
        assert_eq!(
            conn.writes().len(),
            ReportSize::FULL_SPEED.report_count(len),
            "reports written for {len} bytes"
        );
    }
}
