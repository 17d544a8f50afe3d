//! A `CtapHidDevice` whose device is the fuzzer: every report it reads comes from the
//! input. The host must never panic, and every call must end after a bounded number of
//! reads (no loop that spins without consuming input or time).
//!
//! Input: byte 0 picks the report sizes (bits 0-1 input, 2-3 output); byte 1 the length
//! of the PING payload; then chunks, one per read:
//!
//! | `op & 3` | the read                                                         |
//! |----------|------------------------------------------------------------------|
//! | 0        | a report: next byte is its length (mod 72, cut to the buffer),   |
//! |          | then its bytes; bit 2 writes the host's current channel into the |
//! |          | CID, bit 3 the nonce of the host's last INIT into an INIT answer |
//! | 1        | no report (`Ok(None)`)                                           |
//! | 2        | cancels the call's token (another thread would), no report       |
//! | 3        | bit 2: a length over the buffer (a broken transport), else I/O   |
//!
//! When the input is used up, reads fail with `Disconnected` (the device is gone).
#![no_main]

use std::time::Duration;

use ctap_device::{
    CallOptions, CancelToken, CtapDevice, CtapHidDevice, DeviceConfig, Error, HidConnection,
};
use ctap_types::Command;
use ctaphid_frame::ReportSize;
use libfuzzer_sys::fuzz_target;

/// Reads the host may make after the input is used up, per call (each ends the call with
/// `Disconnected`; a resync or re-INIT may add one or two).
const READS_PER_CALL_AFTER_END: usize = 4;

struct FuzzConnection<'a> {
    input: &'a [u8],
    input_size: ReportSize,
    output_size: ReportSize,
    /// The channel of the host's last report (the channel it uses now).
    last_cid: [u8; 4],
    /// The nonce of the host's last INIT.
    last_nonce: [u8; 8],
    token: CancelToken,
    reads_after_end: usize,
}

impl HidConnection for FuzzConnection<'_> {
    fn write_report(&mut self, report: &[u8]) -> Result<(), Error> {
        assert_eq!(
            report.len(),
            self.output_size.get(),
            "the host writes whole reports"
        );
        if let Some(cid) = report.first_chunk::<4>() {
            self.last_cid = *cid;
        }
        if report.get(4) == Some(&0x86) {
            if let Some(nonce) = report.get(7..15).and_then(|n| n.first_chunk::<8>()) {
                self.last_nonce = *nonce;
            }
        }
        Ok(())
    }

    fn read_report(&mut self, buf: &mut [u8], _timeout: Duration) -> Result<Option<usize>, Error> {
        let Some((&op, rest)) = self.input.split_first() else {
            self.reads_after_end += 1;
            return Err(Error::Disconnected);
        };
        self.input = rest;
        match op & 3 {
            0 => {
                let Some((&len, rest)) = self.input.split_first() else {
                    self.input = &[];
                    return Ok(None);
                };
                let len = usize::from(len % 72).min(rest.len()).min(buf.len());
                let (report, rest) = rest.split_at(len);
                self.input = rest;
                let out = &mut buf[..len];
                out.copy_from_slice(report);
                if op & 4 != 0 && len >= 4 {
                    out[..4].copy_from_slice(&self.last_cid);
                }
                if op & 8 != 0 && len >= 15 && out[4] == 0x86 {
                    out[7..15].copy_from_slice(&self.last_nonce);
                }
                Ok(Some(len))
            }
            1 => Ok(None),
            2 => {
                self.token.cancel();
                Ok(None)
            }
            _ if op & 4 != 0 => Ok(Some(buf.len() + 1)),
            _ => Err(Error::Io(std::io::Error::other("fuzzed I/O error"))),
        }
    }

    fn input_report_size(&self) -> ReportSize {
        self.input_size
    }

    fn output_report_size(&self) -> ReportSize {
        self.output_size
    }
}

fn size(bits: u8) -> ReportSize {
    let bytes = match bits & 3 {
        0 => 64,
        1 => 62,
        2 => 8,
        _ => 17,
    };
    ReportSize::new(bytes).expect("8..=64")
}

fuzz_target!(|data: &[u8]| {
    let [sizes, ping_len, rest @ ..] = data else {
        return;
    };
    let token = CancelToken::new();
    let connection = FuzzConnection {
        input: rest,
        input_size: size(*sizes),
        output_size: size(*sizes >> 2),
        last_cid: [0xFF; 4],
        last_nonce: [0; 8],
        token: token.clone(),
        reads_after_end: 0,
    };
    // Short limits: the fuzzer's reads return at once, so these only bound the wall time
    // of an input that keeps the host waiting (e.g. endless KEEPALIVEs).
    let config = DeviceConfig::default()
        .with_silence_timeout(Duration::from_millis(20))
        .with_init_timeout(Duration::from_millis(20))
        .with_poll_interval(Duration::from_millis(1))
        .with_cancel_grace(Duration::from_millis(2))
        .with_busy_retry_interval(Duration::ZERO)
        .with_busy_retry_limit(Duration::from_millis(1));
    let Ok(mut device) = CtapHidDevice::with_config(connection, config) else {
        return;
    };
    let max_len = device.connection().input_report_size().max_message_len();
    let ping: Vec<u8> = (0..usize::from(*ping_len) * 3).map(|i| i as u8).collect();
    let mut calls = 0usize;
    let mut check = |answer: Result<Vec<u8>, Error>| {
        calls += 1;
        if let Ok(answer) = answer {
            assert!(
                answer.len() <= max_len,
                "an answer longer than the longest message"
            );
        }
    };
    check(device.ping(&ping));
    check(device.cbor(&[0x04]));
    token.reset();
    check(
        device.cbor_with(
            &[0x0B],
            CallOptions::default()
                .with_cancel(token.clone())
                .with_timeout(Duration::from_millis(30)),
        ),
    );
    check(device.wink().map(|()| Vec::new()));
    check(device.call(Command::CANCEL, &[]));
    check(device.lock(3).map(|()| Vec::new()));
    check(device.msg(&[0x00, 0x03, 0x00, 0x00, 0x00]));
    check(device.ping(b"last"));
    let after_end = device.connection().reads_after_end;
    assert!(
        after_end <= READS_PER_CALL_AFTER_END * calls,
        "{after_end} reads after the input ended in {calls} calls: a loop that does not stop"
    );
});
