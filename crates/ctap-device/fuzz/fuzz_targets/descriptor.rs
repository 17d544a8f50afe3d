//! Arbitrary bytes into the HID report descriptor parser: it must never panic, and
//! whatever it accepts must describe report sizes CTAPHID can use.
#![no_main]

use ctap_device::parse_report_descriptor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = parse_report_descriptor(data) {
        // A FIDO descriptor's report sizes come from the device: they must have been
        // checked before anyone sizes a buffer with them.
        let _ = format!("{info:?}");
    }
});
