//! Resource bounds against a hostile peer: the host never sizes anything by a length the
//! device sent before checking it, and the virtual authenticator's channel table, output
//! queue and per-connection inboxes stay bounded whatever hosts do.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ctap::device::{CtapHidDevice, DeviceConfig, Error, HidConnection, ProtocolError};
use ctap::frame::{FrameError, ReportSize};
use ctap::virtual_device::{Config, VirtualAuthenticator};

const CID: [u8; 4] = [0x01, 0x02, 0x03, 0x04];

/// A device that answers INIT properly (our nonce, channel 01020304), then answers every
/// other request with the reports `answer` makes.
struct Hostile {
    size: ReportSize,
    queue: VecDeque<Vec<u8>>,
    answer: Vec<Vec<u8>>,
    reads: usize,
}

impl HidConnection for Hostile {
    fn write_report(&mut self, report: &[u8]) -> Result<(), Error> {
        if report.get(4) == Some(&0x86) {
            let mut answer = vec![0u8; self.size.get()];
            answer[..7].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x86, 0x00, 17]);
            let nonce_and_cid: Vec<u8> = report[7..15].iter().chain(&CID).copied().collect();
            // At 8-byte reports the answer needs continuations: only 64 is used here.
            answer[7..19].copy_from_slice(&nonce_and_cid);
            answer[19..24].copy_from_slice(&[2, 1, 0, 0, 0x05]);
            self.queue.push_back(answer);
        } else if report.get(4).is_some_and(|b| b & 0x80 != 0) {
            self.queue.extend(self.answer.iter().cloned());
        }
        Ok(())
    }

    fn read_report(&mut self, buf: &mut [u8], _timeout: Duration) -> Result<Option<usize>, Error> {
        self.reads += 1;
        Ok(self.queue.pop_front().map(|report| {
            buf[..report.len()].copy_from_slice(&report);
            report.len()
        }))
    }

    fn input_report_size(&self) -> ReportSize {
        self.size
    }

    fn output_report_size(&self) -> ReportSize {
        self.size
    }
}

fn fast() -> DeviceConfig {
    DeviceConfig::default()
        .with_silence_timeout(Duration::from_millis(100))
        .with_init_timeout(Duration::from_millis(100))
        .with_poll_interval(Duration::from_millis(5))
}

/// An init packet on our channel declaring `bcnt` bytes, followed by a flood of
/// continuation packets (which the host must never wait for or buffer).
fn flood(size: ReportSize, bcnt: u16) -> Vec<Vec<u8>> {
    let mut first = vec![0xAA; size.get()];
    first[..4].copy_from_slice(&CID);
    first[4] = 0x81;
    first[5..7].copy_from_slice(&bcnt.to_be_bytes());
    let mut reports = vec![first];
    for seq in 0..0x80u8 {
        let mut cont = vec![0xBB; size.get()];
        cont[..4].copy_from_slice(&CID);
        cont[4] = seq;
        reports.push(cont);
    }
    reports
}

#[test]
fn a_declared_length_over_the_maximum_is_refused_at_the_first_report() {
    for bcnt in [7610u16, 0xFFFF] {
        let connection = Hostile {
            size: ReportSize::FULL_SPEED,
            queue: VecDeque::new(),
            answer: flood(ReportSize::FULL_SPEED, bcnt),
            reads: 0,
        };
        let mut device = CtapHidDevice::with_config(connection, fast()).unwrap();
        let reads_before = device.connection().reads;
        let error = device.ping(b"hello").unwrap_err();
        assert!(
            matches!(
                error,
                Error::Protocol(ProtocolError::Framing(FrameError::LengthTooLarge { .. }))
            ),
            "BCNT {bcnt}: {error:?}"
        );
        // The pre-request check of pending input reads once (nothing there), then the
        // init packet is refused: not one continuation was read, nothing was buffered.
        assert_eq!(device.connection().reads - reads_before, 2, "BCNT {bcnt}");
    }
}

#[test]
fn the_host_buffer_is_sized_by_the_report_size_not_by_the_device() {
    // The largest message at 8-byte reports is 385 bytes: a device announcing more is a
    // framing error, even though 64-byte devices may send up to 7609.
    let size = ReportSize::MIN;
    assert_eq!(size.max_message_len(), 385);
    let authenticator = VirtualAuthenticator::new(Config::default().with_report_size(size));
    let mut device = authenticator.open_device_with(fast()).unwrap();
    let longest = vec![0x5A; 385];
    assert_eq!(device.ping(&longest).unwrap(), longest);
    assert!(matches!(
        device.ping(&[0u8; 386]),
        Err(Error::InvalidRequest(FrameError::PayloadTooLong { .. }))
    ));
}

#[test]
fn the_channel_table_stays_bounded_however_many_hosts_open_the_device() {
    let authenticator = VirtualAuthenticator::new(Config::default().with_max_channels(4));
    let mut newest = None;
    for _ in 0..50 {
        newest = Some(authenticator.open_device_with(fast()).unwrap());
    }
    let channels = authenticator.with_device(|device| device.channels().count());
    assert_eq!(channels, 4);
    assert_eq!(authenticator.stats().channels_allocated, 50);
    // The newest host still works.
    assert_eq!(newest.unwrap().ping(b"still here").unwrap(), b"still here");
}

#[test]
fn a_connection_that_never_reads_holds_a_bounded_inbox() {
    let authenticator = VirtualAuthenticator::new(Config::default());
    let capacity = authenticator.with_device(|device| device.output_capacity());
    // Opened and never read: it sees every report the device sends.
    let mut idle = authenticator.connect();
    let mut device = authenticator.open_device_with(fast()).unwrap();
    let payload = vec![7u8; 1000];
    let started = Instant::now();
    // 17 reports per answer: well over the capacity in all.
    let calls = capacity / 17 * 3;
    for _ in 0..calls {
        assert_eq!(device.ping(&payload).unwrap(), payload);
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    let mut buf = [0u8; 64];
    let mut held = 0;
    while idle
        .read_report(&mut buf, Duration::ZERO)
        .unwrap()
        .is_some()
    {
        held += 1;
        assert!(held <= capacity, "the inbox grew past {capacity}");
    }
    assert_eq!(
        held, capacity,
        "a full inbox keeps exactly its capacity (the newest)"
    );
    // The last report the idle connection holds is the end of the newest answer.
    assert_eq!(buf[..4], device.channel_id().to_be_bytes());
}
