//! Full-stack tests: `ctap-device`'s `CtapHidDevice` against the virtual authenticator
//! in-process, on real time (bounds are generous: the machine may be busy).
#![allow(clippy::cast_possible_truncation)] // test payloads are built from small counters

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use ctap_device::{CallOptions, CancelToken, CtapDevice, DeviceConfig, Error, HidConnection};
use ctap_types::{Capabilities, ChannelId, Command, HidErrorCode, KeepaliveStatus, StatusCode};
use ctap_virtual::{Config, TouchPolicy, VirtualAuthenticator, testing};
use ctaphid_frame::{Feed, Packetizer, Reassembler, ReassemblerConfig, ReportSize};

const GET_INFO: u8 = 0x04;
const RESET: u8 = 0x07;
const SELECTION: u8 = 0x0B;

fn hid_error(result: Result<Vec<u8>, Error>) -> HidErrorCode {
    match result {
        Err(Error::Hid(code)) => code,
        other => panic!("expected an ERROR packet, got {other:?}"),
    }
}

fn ctap_status(result: Result<Vec<u8>, Error>) -> StatusCode {
    match result {
        Err(Error::Ctap(error)) => error.code,
        other => panic!("expected a CTAP2 status, got {other:?}"),
    }
}

fn slow(touch_ms: u64) -> Config {
    Config::default().with_touch(TouchPolicy::Approve {
        after: Duration::from_millis(touch_ms),
    })
}

#[test]
fn init_gives_a_channel_version_and_capabilities() {
    let (authenticator, device) = testing::connect().unwrap();
    assert!(device.channel_id().is_allocatable());
    assert_eq!(device.protocol_version(), 2);
    assert_eq!(
        device.capabilities(),
        Capabilities::WINK | Capabilities::LOCK | Capabilities::CBOR
    );
    assert_eq!(
        device.device_version(),
        authenticator.config().device_version
    );
    let other = authenticator.open_device().unwrap();
    assert_ne!(other.channel_id(), device.channel_id());
    assert_eq!(authenticator.stats().channels_allocated, 2);
}

#[test]
fn ping_echoes_every_length_at_64_and_62_bytes() {
    for (size, max) in [(64, 7609), (62, 7351)] {
        let config = Config::default().with_report_size(ReportSize::new(size).unwrap());
        let (_authenticator, mut device) = testing::connect_with(config).unwrap();
        for len in [0, 1, size - 7, size - 6, 1024, max] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            assert_eq!(
                device.ping(&payload).unwrap(),
                payload,
                "{len} bytes at {size}"
            );
        }
        assert!(matches!(
            device.ping(&vec![0; max + 1]),
            Err(Error::InvalidRequest(_))
        ));
    }
}

#[test]
fn wink_is_answered_and_recorded() {
    let (authenticator, mut device) = testing::connect().unwrap();
    device.wink().unwrap();
    device.wink().unwrap();
    assert_eq!(authenticator.winks(), 2);
    assert_eq!(
        hid_error(device.call(Command::WINK, &[1])),
        HidErrorCode::INVALID_LEN
    );
}

#[test]
fn get_info_over_cbor() {
    let (authenticator, mut device) = testing::connect().unwrap();
    let info = device.cbor(&[GET_INFO]).unwrap();
    let info = <ctap2_proto::Info as ctap2_proto::CborMessage>::from_cbor(&info).unwrap();
    assert_eq!(info.versions, ["U2F_V2", "FIDO_2_0", "FIDO_2_1"]);
    assert_eq!(info.aaguid, authenticator.config().aaguid);
    // `call` returns the status byte first, python-fido2's contract.
    assert_eq!(device.call(Command::CBOR, &[GET_INFO]).unwrap()[0], 0x00);
}

#[test]
fn selection_sends_upneeded_until_the_touch() {
    let (authenticator, mut device) = testing::connect_with(slow(350)).unwrap();
    let mut seen = Vec::new();
    let mut on_keepalive = |status| seen.push(status);
    let started = Instant::now();
    let answer = device
        .cbor_with(
            &[SELECTION],
            CallOptions::default().with_on_keepalive(&mut on_keepalive),
        )
        .unwrap();
    let elapsed = started.elapsed();
    assert!(answer.is_empty());
    assert_eq!(seen, [KeepaliveStatus::UPNEEDED], "called on change only");
    assert!(elapsed >= Duration::from_millis(340), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let stats = authenticator.stats();
    assert_eq!(stats.selections, 1);
    assert!((3..=6).contains(&stats.keepalives), "{stats:?}");
}

#[test]
fn reset_is_approved_or_denied() {
    let (authenticator, mut device) = testing::connect_with(slow(120)).unwrap();
    assert_eq!(device.cbor(&[RESET]).unwrap(), b"");
    assert_eq!(authenticator.stats().resets, 1);
    authenticator.set_touch_policy(TouchPolicy::Deny {
        after: Duration::from_millis(50),
    });
    assert_eq!(
        ctap_status(device.cbor(&[RESET])),
        StatusCode::OPERATION_DENIED
    );
    assert_eq!(
        ctap_status(device.cbor(&[SELECTION])),
        StatusCode::OPERATION_DENIED
    );
}

#[test]
fn cancel_from_another_thread_ends_the_wait_with_keepalive_cancel() {
    let config = Config::default().with_touch(TouchPolicy::Never);
    let (authenticator, mut device) = testing::connect_with(config).unwrap();
    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(250));
            token.cancel();
            Instant::now()
        })
    };
    let started = Instant::now();
    let result = device.cbor_with(&[SELECTION], CallOptions::default().with_cancel(token));
    let ended = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    let error = result.unwrap_err();
    assert!(error.is_cancelled(), "{error:?}");
    assert_eq!(
        error.ctap_error().map(|e| e.code),
        Some(StatusCode::KEEPALIVE_CANCEL),
        "the device answered the CANCEL"
    );
    assert!(ended - started >= Duration::from_millis(240));
    assert!(
        ended - cancelled_at < Duration::from_secs(1),
        "ended within a keep-alive period or so"
    );
    assert_eq!(authenticator.stats().selections, 0);
    // The device is usable again.
    assert_eq!(device.ping(b"after").unwrap(), b"after");
}

#[test]
fn touch_from_the_test_approves_a_waiting_selection() {
    let config = Config::default().with_touch(TouchPolicy::Never);
    let (authenticator, mut device) = testing::connect_with(config).unwrap();
    let toucher = {
        let authenticator = authenticator.clone();
        thread::spawn(move || {
            for _ in 0..200 {
                thread::sleep(Duration::from_millis(10));
                if authenticator.touch() {
                    return true;
                }
            }
            false
        })
    };
    assert_eq!(device.cbor(&[SELECTION]).unwrap(), b"");
    assert!(toucher.join().unwrap());
}

#[test]
fn unknown_commands_and_malformed_cbor() {
    let (_authenticator, mut device) = testing::connect().unwrap();
    // makeCredential with an empty map misses its parameters; a truncated map is not
    // CBOR; largeBlobs without its offset is INVALID_PARAMETER (CTAP 2.1 §6.10.2 step
    // 1); bioEnrollment without a sensor configured is not a command here.
    assert_eq!(
        ctap_status(device.cbor(&[0x01, 0xA0])),
        StatusCode::MISSING_PARAMETER
    );
    assert_eq!(
        ctap_status(device.cbor(&[0x01, 0xA1])),
        StatusCode::INVALID_CBOR
    );
    assert_eq!(
        ctap_status(device.cbor(&[0x0C, 0xA0])),
        StatusCode::INVALID_PARAMETER
    );
    assert_eq!(
        ctap_status(device.cbor(&[0x09, 0xA0])),
        StatusCode::INVALID_COMMAND
    );
    assert_eq!(
        ctap_status(device.cbor(&[0x42])),
        StatusCode::INVALID_COMMAND
    );
    assert_eq!(
        hid_error(device.call(Command::CBOR, &[])),
        HidErrorCode::INVALID_LEN
    );
    for code in [0x22, 0x41, 0x7F] {
        let command = Command::new(code).unwrap();
        assert_eq!(
            hid_error(device.call(command, b"x")),
            HidErrorCode::INVALID_CMD
        );
    }
    assert_eq!(device.ping(b"still fine").unwrap(), b"still fine");
}

#[test]
fn msg_answers_u2f_version() {
    let (_authenticator, mut device) = testing::connect().unwrap();
    assert_eq!(device.msg(&[0, 3, 0, 0]).unwrap(), b"U2F_V2\x90\x00");
    assert_eq!(device.msg(&[0, 3, 0, 0, 0]).unwrap(), b"U2F_V2\x90\x00");
    assert_eq!(
        device.msg(&[0, 3, 0, 0, 0, 0, 0]).unwrap(),
        b"U2F_V2\x90\x00"
    );
    // REGISTER without its 64 bytes; an unknown instruction.
    assert_eq!(device.msg(&[0, 1, 0, 0, 0]).unwrap(), [0x67, 0x00]);
    assert_eq!(device.msg(&[0, 4, 0, 0]).unwrap(), [0x6D, 0x00]);
    assert_eq!(device.msg(&[0, 3]).unwrap(), [0x67, 0x00]);
}

#[test]
fn lock_holds_other_channels_off_until_unlocked_or_expired() {
    let authenticator = VirtualAuthenticator::new(Config::default());
    let mut owner = authenticator.open_device().unwrap();
    let impatient = DeviceConfig::default().with_busy_retry_limit(Duration::from_millis(250));
    let mut other = authenticator.open_device_with(impatient).unwrap();

    owner.lock(10).unwrap();
    assert_eq!(hid_error(other.ping(b"x")), HidErrorCode::CHANNEL_BUSY);
    assert_eq!(owner.ping(b"mine").unwrap(), b"mine");
    owner.lock(0).unwrap();
    assert_eq!(other.ping(b"free").unwrap(), b"free");

    // Expiry by time: a patient host (the default retries CHANNEL_BUSY for 10 s)
    // gets through once the 1 s lock has run out.
    let mut patient = authenticator.open_device().unwrap();
    owner.lock(1).unwrap();
    let started = Instant::now();
    assert_eq!(patient.ping(b"later").unwrap(), b"later");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(800), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");

    assert_eq!(
        hid_error(owner.call(Command::LOCK, &[11])),
        HidErrorCode::INVALID_PAR
    );
    assert_eq!(
        hid_error(owner.call(Command::LOCK, &[])),
        HidErrorCode::INVALID_LEN
    );
}

#[test]
fn opening_while_locked_waits_for_the_lock_to_expire() {
    let authenticator = VirtualAuthenticator::new(Config::default());
    let mut owner = authenticator.open_device().unwrap();
    owner.lock(1).unwrap();
    let started = Instant::now();
    // INIT on broadcast is refused with CHANNEL_BUSY while locked; the host retries.
    let mut late = authenticator.open_device().unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(800), "{waited:?}");
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    assert_eq!(late.ping(b"in").unwrap(), b"in");
}

#[test]
fn a_second_channel_during_a_touch_wait_is_busy() {
    let config = Config::default().with_touch(TouchPolicy::Never);
    let authenticator = VirtualAuthenticator::new(config);
    let mut waiting = authenticator.open_device().unwrap();
    let impatient = DeviceConfig::default().with_busy_retry_limit(Duration::from_millis(250));
    let mut other = authenticator.open_device_with(impatient).unwrap();
    let selection = thread::spawn(move || waiting.cbor(&[SELECTION]));
    while authenticator
        .with_device(|device| device.waiting_for_touch())
        .is_none()
    {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(hid_error(other.ping(b"x")), HidErrorCode::CHANNEL_BUSY);
    assert!(authenticator.touch());
    assert_eq!(selection.join().unwrap().unwrap(), b"");
    assert_eq!(other.ping(b"now").unwrap(), b"now");
}

#[test]
fn a_forgotten_channel_is_invalid_and_the_host_reallocates() {
    let authenticator = VirtualAuthenticator::new(Config::default().with_max_channels(2));
    let mut first = authenticator.open_device().unwrap();
    let old = first.channel_id();
    let _second = authenticator.open_device().unwrap();
    let _third = authenticator.open_device().unwrap();
    assert!(!authenticator.with_device(|device| device.channels().any(|cid| cid == old)));
    // The device answers INVALID_CHANNEL; CtapHidDevice allocates a new channel and
    // retries once.
    assert_eq!(first.ping(b"again").unwrap(), b"again");
    assert_ne!(first.channel_id(), old);
    assert_eq!(authenticator.stats().channels_allocated, 4);
}

#[test]
fn many_threads_on_many_channels_each_get_their_own_answers() {
    const THREADS: usize = 8;
    const CALLS: usize = 25;
    let authenticator = VirtualAuthenticator::new(Config::default());
    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let authenticator = authenticator.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                let mut device = authenticator.open_device().unwrap();
                let mut ok = 0;
                for call in 0..CALLS {
                    // Lengths from one report to many, each payload unique to its sender.
                    let len = 1 + (t * 131 + call * 97) % 700;
                    let payload: Vec<u8> =
                        (0..len).map(|i| (t * 31 + call * 7 + i) as u8).collect();
                    assert_eq!(device.ping(&payload).unwrap(), payload);
                    ok += 1;
                }
                device.wink().unwrap();
                (device.channel_id(), ok)
            })
        })
        .collect();
    let mut channels = Vec::new();
    for worker in workers {
        let (cid, ok) = worker.join().unwrap();
        assert_eq!(ok, CALLS);
        channels.push(cid);
    }
    channels.sort();
    channels.dedup();
    assert_eq!(channels.len(), THREADS, "one channel per thread");
    assert_eq!(authenticator.winks(), THREADS as u64);
}

#[test]
fn every_connection_sees_every_report() {
    let authenticator = VirtualAuthenticator::new(Config::default());
    let mut device = authenticator.open_device().unwrap();
    let mut bystander = authenticator.connect();
    device.ping(b"seen by all").unwrap();
    let mut report = [0u8; 64];
    let len = bystander
        .read_report(&mut report, Duration::from_millis(200))
        .unwrap();
    assert_eq!(len, Some(64));
    assert_eq!(report[..4], device.channel_id().to_be_bytes());
    assert_eq!(report[4], Command::PING.to_init_byte());
    assert_eq!(&report[7..18], b"seen by all");
    // Nothing else: the bystander connected after the INIT answer.
    assert_eq!(
        bystander
            .read_report(&mut report, Duration::from_millis(20))
            .unwrap(),
        None
    );
}

#[test]
fn unplugging_disconnects_every_connection() {
    let (authenticator, mut device) = testing::connect().unwrap();
    let mut raw = authenticator.connect();
    let reader = thread::spawn(move || raw.read_report(&mut [0; 64], Duration::from_secs(10)));
    thread::sleep(Duration::from_millis(50));
    authenticator.unplug();
    assert!(matches!(reader.join().unwrap(), Err(Error::Disconnected)));
    assert!(matches!(device.ping(b"x"), Err(Error::Disconnected)));
}

#[test]
fn a_closed_connection_is_disconnected_and_small_buffers_are_refused() {
    let authenticator = VirtualAuthenticator::new(Config::default());
    let mut connection = authenticator.connect();
    let mut other = authenticator.connect();
    assert_eq!(authenticator.connection_count(), 2);
    assert!(matches!(
        connection.read_report(&mut [0; 63], Duration::ZERO),
        Err(Error::Io(_))
    ));
    connection.close();
    assert_eq!(authenticator.connection_count(), 1);
    assert!(matches!(
        connection.write_report(&[0; 64]),
        Err(Error::Disconnected)
    ));
    assert_eq!(
        other.read_report(&mut [0; 64], Duration::ZERO).unwrap(),
        None
    );
    drop(other);
    assert_eq!(authenticator.connection_count(), 0);
}

/// A raw host on a `VirtualConnection`, for the errors `CtapHidDevice` never provokes
/// (it frames correctly).
struct Raw {
    connection: ctap_virtual::VirtualConnection,
    reassembler: Reassembler<Vec<u8>>,
}

impl Raw {
    fn new(authenticator: &VirtualAuthenticator) -> Self {
        Self {
            connection: authenticator.connect(),
            reassembler: Reassembler::new(
                vec![0; 7609],
                ReassemblerConfig::new(ReportSize::FULL_SPEED),
            ),
        }
    }

    fn write(&mut self, report: &[u8]) {
        self.connection.write_report(report).unwrap();
    }

    fn send(&mut self, cid: ChannelId, command: Command, payload: &[u8]) {
        for report in Packetizer::new(cid, command, payload, ReportSize::FULL_SPEED).unwrap() {
            self.write(&report);
        }
    }

    /// The next complete message within `timeout`, if any.
    fn next(&mut self, timeout: Duration) -> Option<(ChannelId, Command, Vec<u8>)> {
        let end = Instant::now() + timeout;
        let mut buf = [0u8; 64];
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let len = self.connection.read_report(&mut buf, left).unwrap()?;
            if let Feed::Complete(m) = self.reassembler.feed(&buf[..len]).unwrap() {
                return Some((m.cid, m.command, m.payload.to_vec()));
            }
        }
    }

    fn open(&mut self) -> ChannelId {
        self.send(ChannelId::BROADCAST, Command::INIT, b"rawhost!");
        let (_, command, payload) = self.next(Duration::from_secs(1)).unwrap();
        assert_eq!(command, Command::INIT);
        ctap_types::InitResponse::parse(&payload).unwrap().cid
    }
}

#[test]
fn framing_errors_on_real_time() {
    let config = Config::default().with_message_timeout(Duration::from_millis(150));
    let authenticator = VirtualAuthenticator::new(config);
    let mut raw = Raw::new(&authenticator);
    let cid = raw.open();
    let error = |code: HidErrorCode| Some((cid, Command::ERROR, vec![code.to_u8()]));
    let second = Duration::from_secs(1);

    // Wrong SEQ.
    let reports: Vec<_> = Packetizer::new(cid, Command::PING, &[1; 200], ReportSize::FULL_SPEED)
        .unwrap()
        .collect();
    raw.write(&reports[0]);
    raw.write(&reports[2]);
    assert_eq!(raw.next(second), error(HidErrorCode::INVALID_SEQ));

    // Declared length over the maximum.
    let mut over = [0u8; 64];
    over[..4].copy_from_slice(&cid.to_be_bytes());
    over[4..7].copy_from_slice(&[0x81, 0x1D, 0xBA]); // 7610
    raw.write(&over);
    assert_eq!(raw.next(second), error(HidErrorCode::INVALID_LEN));

    // A message left incomplete: MSG_TIMEOUT after the configured 150 ms.
    let started = Instant::now();
    raw.write(&reports[0]);
    assert_eq!(raw.next(second), error(HidErrorCode::MSG_TIMEOUT));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(140) && waited < second,
        "{waited:?}"
    );

    // Non-INIT on broadcast, CID 0, an unallocated channel.
    raw.send(ChannelId::BROADCAST, Command::PING, b"x");
    assert_eq!(
        raw.next(second),
        Some((
            ChannelId::BROADCAST,
            Command::ERROR,
            vec![HidErrorCode::INVALID_CHANNEL.to_u8()]
        ))
    );
    for bad in [ChannelId::RESERVED, ChannelId::new(0x0BAD_CAFE)] {
        raw.send(bad, Command::PING, b"x");
        assert_eq!(
            raw.next(second),
            Some((
                bad,
                Command::ERROR,
                vec![HidErrorCode::INVALID_CHANNEL.to_u8()]
            ))
        );
    }

    // A second channel mid-message.
    let other = raw.open();
    raw.write(&reports[0]);
    raw.send(other, Command::PING, b"me too");
    assert_eq!(
        raw.next(second),
        Some((
            other,
            Command::ERROR,
            vec![HidErrorCode::CHANNEL_BUSY.to_u8()]
        ))
    );
    for report in &reports[1..] {
        raw.write(report);
    }
    assert_eq!(raw.next(second), Some((cid, Command::PING, vec![1; 200])));

    // CANCEL with nothing pending: no answer at all.
    raw.send(cid, Command::CANCEL, &[]);
    assert_eq!(raw.next(Duration::from_millis(300)), None);
}
