//! Every call ends on time against a hostile device: one that sends KEEPALIVE forever,
//! restarts its answer forever, answers CHANNEL_BUSY forever (to INIT or to the
//! request), never answers INIT, or forgets our channel and then stays busy. Each
//! scenario ends at its deadline (plus a margin for a loaded machine) with a specific
//! error, and the next call against a device that behaves again works.
//!
//! The device is a scripted [`HidConnection`] whose time passes for real: the deadline
//! is the subject, so these tests measure it on the wall clock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use ctap_device::{
    CallOptions, CancelToken, CtapDevice, CtapHidDevice, DEFAULT_CALL_TIMEOUT, DeviceConfig, Error,
    HidConnection, ProtocolError, TimeoutKind,
};
use ctap_types::{ChannelId, Command};
use ctaphid_frame::{Packetizer, ReportSize};

const CID: ChannelId = ChannelId::from_be_bytes([0x11, 0x22, 0x33, 0x44]);
/// How often the hostile device sends its endless reports.
const PERIOD: Duration = Duration::from_millis(10);
/// The deadline of every scenario.
const DEADLINE: Duration = Duration::from_millis(800);
/// How late after its deadline a call may end on a loaded machine (the issue asks for
/// about 0.5 s).
const MARGIN: Duration = Duration::from_millis(500);

/// What the device does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Answers everything as a good device does (PING echoes).
    Good,
    /// Never answers INIT.
    SilentInit,
    /// Answers INIT with ERROR CHANNEL_BUSY, forever.
    BusyInit,
    /// Answers a PING with KEEPALIVE PROCESSING every period, forever.
    KeepaliveForever,
    /// Answers a PING with the first packet of a two-packet answer, again every period.
    RestartForever,
    /// Answers a PING with ERROR CHANNEL_BUSY, forever.
    BusyForever,
    /// Answers a PING with INVALID_CHANNEL, then every INIT with CHANNEL_BUSY.
    ForgetThenBusy,
}

#[derive(Default)]
struct Shared {
    mode: Option<Mode>,
    cancels: usize,
    /// Reports the device sends before its next answer (to test skipping).
    inject: Vec<Vec<u8>>,
}

/// The hostile device.
struct Hostile {
    shared: Arc<Mutex<Shared>>,
    queue: VecDeque<Vec<u8>>,
    /// An endless stream in progress: the report sent every period.
    stream: Option<Vec<u8>>,
}

impl Hostile {
    fn new(mode: Mode) -> (Self, Arc<Mutex<Shared>>) {
        let shared = Arc::new(Mutex::new(Shared {
            mode: Some(mode),
            ..Shared::default()
        }));
        let device = Self {
            shared: Arc::clone(&shared),
            queue: VecDeque::new(),
            stream: None,
        };
        (device, shared)
    }

    fn mode(&self) -> Mode {
        lock(&self.shared).mode.unwrap_or(Mode::Good)
    }

    fn push(&mut self, cid: ChannelId, command: Command, payload: &[u8]) {
        self.queue.extend(reports(cid, command, payload));
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

fn set_mode(shared: &Mutex<Shared>, mode: Mode) {
    lock(shared).mode = Some(mode);
}

fn reports(cid: ChannelId, command: Command, payload: &[u8]) -> Vec<Vec<u8>> {
    Packetizer::new(cid, command, payload, ReportSize::FULL_SPEED)
        .unwrap()
        .map(|report| report.as_bytes().to_vec())
        .collect()
}

fn init_answer(nonce: &[u8]) -> Vec<u8> {
    let mut answer = nonce.to_vec();
    answer.extend_from_slice(&CID.to_be_bytes());
    answer.extend_from_slice(&[2, 1, 0, 0, 0x0D]);
    answer
}

impl HidConnection for Hostile {
    fn write_report(&mut self, report: &[u8]) -> Result<(), Error> {
        let cid = ChannelId::from_be_bytes(report[..4].try_into().unwrap());
        if report[4] & 0x80 == 0 {
            return Ok(()); // a continuation: the requests here fit one report
        }
        let command = Command::from_init_byte(report[4]);
        let len = usize::from(u16::from_be_bytes([report[5], report[6]]));
        let data = &report[7..7 + len.min(57)];
        let mode = self.mode();
        self.stream = None;
        match command {
            Command::INIT => match mode {
                Mode::SilentInit => {}
                Mode::BusyInit => self.push(cid, Command::ERROR, &[0x06]),
                _ => self.push(cid, Command::INIT, &init_answer(data)),
            },
            Command::CANCEL => lock(&self.shared).cancels += 1,
            command => {
                let injected = std::mem::take(&mut lock(&self.shared).inject);
                self.queue.extend(injected);
                match mode {
                    Mode::KeepaliveForever => {
                        self.stream = Some(reports(cid, Command::KEEPALIVE, &[1]).remove(0));
                    }
                    Mode::RestartForever => {
                        self.stream = Some(reports(cid, command, &[7; 100]).remove(0));
                    }
                    Mode::BusyForever => self.push(cid, Command::ERROR, &[0x06]),
                    Mode::ForgetThenBusy => {
                        self.push(cid, Command::ERROR, &[0x0B]);
                        set_mode(&self.shared, Mode::BusyInit);
                    }
                    _ => self.push(cid, command, data),
                }
            }
        }
        Ok(())
    }

    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, Error> {
        if let Some(report) = self.queue.pop_front() {
            buf[..report.len()].copy_from_slice(&report);
            return Ok(Some(report.len()));
        }
        // The device's own clock: the next endless report is due one period from now.
        match &self.stream {
            Some(report) if timeout >= PERIOD => {
                thread::sleep(PERIOD);
                buf[..report.len()].copy_from_slice(report);
                Ok(Some(report.len()))
            }
            _ => {
                thread::sleep(timeout);
                Ok(None)
            }
        }
    }

    fn input_report_size(&self) -> ReportSize {
        ReportSize::FULL_SPEED
    }

    fn output_report_size(&self) -> ReportSize {
        ReportSize::FULL_SPEED
    }
}

/// A configuration whose own limits are all far longer than [`DEADLINE`], so only the
/// deadline can end the scenario on time.
fn patient() -> DeviceConfig {
    DeviceConfig::default()
        .with_init_timeout(Duration::from_secs(10))
        .with_silence_timeout(Duration::from_secs(10))
        .with_busy_retry_limit(Duration::from_secs(30))
        .with_cancel_grace(Duration::from_secs(10))
}

fn open_good() -> (CtapHidDevice<Hostile>, Arc<Mutex<Shared>>) {
    let (connection, shared) = Hostile::new(Mode::Good);
    let device = CtapHidDevice::with_config(connection, patient()).unwrap();
    (device, shared)
}

/// Asserts that `took` is the deadline, give or take the margin.
fn assert_on_time(took: Duration, what: &str) {
    assert!(
        took >= DEADLINE.saturating_sub(Duration::from_millis(20)),
        "{what}: ended after {took:?}, before its deadline of {DEADLINE:?}"
    );
    assert!(
        took <= DEADLINE + MARGIN,
        "{what}: ended after {took:?}, deadline {DEADLINE:?}"
    );
}

fn assert_deadline(result: Result<Vec<u8>, Error>, took: Duration, what: &str) {
    assert!(
        matches!(result, Err(Error::Timeout(TimeoutKind::Deadline(d))) if d == DEADLINE),
        "{what}: {result:?}"
    );
    assert_on_time(took, what);
}

/// One call under a hostile `mode` with a `DEADLINE` time-out, then the device behaves
/// and the next call must work.
fn scenario(mode: Mode, what: &str) -> Arc<Mutex<Shared>> {
    let (mut device, shared) = open_good();
    set_mode(&shared, mode);
    let start = Instant::now();
    let result = device.call_with(
        Command::PING,
        b"hello",
        CallOptions::default().with_timeout(DEADLINE),
    );
    assert_deadline(result, start.elapsed(), what);
    set_mode(&shared, Mode::Good);
    assert_eq!(device.ping(b"next").unwrap(), b"next", "{what}: next call");
    shared
}

#[test]
fn keepalive_forever_ends_at_the_deadline_with_a_cancel() {
    let shared = scenario(Mode::KeepaliveForever, "keep-alive forever");
    assert_eq!(lock(&shared).cancels, 1, "the time-out sends one CANCEL");
}

#[test]
fn an_answer_restarted_forever_ends_at_the_deadline() {
    scenario(Mode::RestartForever, "restarted answer");
}

#[test]
fn channel_busy_forever_ends_at_the_deadline_not_the_retry_limit() {
    scenario(Mode::BusyForever, "CHANNEL_BUSY forever");
}

#[test]
fn the_invalid_channel_re_init_is_bounded_by_the_same_deadline() {
    scenario(Mode::ForgetThenBusy, "INVALID_CHANNEL, then INIT busy");
}

#[test]
fn the_default_call_has_the_configured_deadline() {
    assert_eq!(
        DeviceConfig::default().call_timeout,
        Some(DEFAULT_CALL_TIMEOUT)
    );
    assert_eq!(DEFAULT_CALL_TIMEOUT, Duration::from_secs(120));
    let (connection, shared) = Hostile::new(Mode::Good);
    let config = patient().with_call_timeout(Some(DEADLINE));
    let mut device = CtapHidDevice::with_config(connection, config).unwrap();
    set_mode(&shared, Mode::KeepaliveForever);
    let start = Instant::now();
    let result = device.call(Command::PING, b"plain call");
    assert_deadline(result, start.elapsed(), "call() with default options");
    set_mode(&shared, Mode::Good);
    assert_eq!(device.ping(b"next").unwrap(), b"next");
}

#[test]
fn opening_a_device_whose_init_is_never_answered_ends_at_the_deadline() {
    let (connection, _shared) = Hostile::new(Mode::SilentInit);
    let start = Instant::now();
    let result =
        CtapHidDevice::with_config(connection, patient().with_call_timeout(Some(DEADLINE)));
    let took = start.elapsed();
    assert!(
        matches!(result, Err(Error::Timeout(TimeoutKind::Deadline(d))) if d == DEADLINE),
        "{result:?}"
    );
    assert_on_time(took, "silent INIT on open");
}

#[test]
fn opening_a_device_busy_forever_ends_at_the_deadline() {
    let (connection, _shared) = Hostile::new(Mode::BusyInit);
    let start = Instant::now();
    let result =
        CtapHidDevice::with_config(connection, patient().with_call_timeout(Some(DEADLINE)));
    let took = start.elapsed();
    assert!(
        matches!(result, Err(Error::Timeout(TimeoutKind::Deadline(d))) if d == DEADLINE),
        "{result:?}"
    );
    assert_on_time(took, "INIT busy forever on open");
}

#[test]
fn the_resync_after_a_failure_is_bounded_by_the_next_calls_deadline() {
    let (mut device, shared) = open_good();
    // A failed call leaves the channel to be resynchronised by the next call.
    set_mode(&shared, Mode::KeepaliveForever);
    let short = CallOptions::default().with_timeout(Duration::from_millis(50));
    assert!(device.call_with(Command::PING, b"x", short).is_err());
    assert!(device.needs_resync());
    for mode in [Mode::SilentInit, Mode::BusyInit] {
        set_mode(&shared, mode);
        let start = Instant::now();
        let result = device.call_with(
            Command::PING,
            b"y",
            CallOptions::default().with_timeout(DEADLINE),
        );
        assert_deadline(result, start.elapsed(), &format!("resync under {mode:?}"));
        assert!(device.needs_resync());
    }
    set_mode(&shared, Mode::Good);
    assert_eq!(device.ping(b"next").unwrap(), b"next");
    assert!(!device.needs_resync());
}

#[test]
fn the_cancel_grace_is_bounded_by_the_deadline() {
    let (mut device, shared) = open_good();
    set_mode(&shared, Mode::KeepaliveForever);
    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            token.cancel();
        })
    };
    let start = Instant::now();
    // The device ignores the CANCEL and keeps sending keep-alives; the 10 s grace
    // would hold the call, the deadline does not.
    let result = device.call_with(
        Command::PING,
        b"z",
        CallOptions::default()
            .with_timeout(DEADLINE)
            .with_cancel(token),
    );
    assert_deadline(result, start.elapsed(), "cancel ignored");
    canceller.join().unwrap();
    assert_eq!(lock(&shared).cancels, 1);
    set_mode(&shared, Mode::Good);
    assert_eq!(device.ping(b"next").unwrap(), b"next");
}

#[test]
fn no_deadline_is_an_explicit_opt_in_that_a_cancel_still_ends() {
    let (connection, shared) = Hostile::new(Mode::Good);
    let config = patient().with_cancel_grace(Duration::from_millis(100));
    let mut device = CtapHidDevice::with_config(connection, config).unwrap();
    set_mode(&shared, Mode::KeepaliveForever);
    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        thread::spawn(move || {
            thread::sleep(DEADLINE);
            token.cancel();
        })
    };
    assert!(device.config().call_timeout.is_some());
    let start = Instant::now();
    let result = device.call_with(
        Command::PING,
        b"z",
        CallOptions::default().without_deadline().with_cancel(token),
    );
    let took = start.elapsed();
    canceller.join().unwrap();
    // The device ignores the CANCEL: the grace ends the call.
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert!(
        took >= DEADLINE && took <= DEADLINE + MARGIN,
        "took {took:?}"
    );
    set_mode(&shared, Mode::Good);
    assert_eq!(device.ping(b"next").unwrap(), b"next");
}

#[test]
fn huge_time_outs_mean_no_deadline_and_never_overflow() {
    let (connection, _shared) = Hostile::new(Mode::Good);
    let config = patient().with_call_timeout(Some(Duration::MAX));
    let mut device = CtapHidDevice::with_config(connection, config).unwrap();
    for timeout in [
        Duration::MAX,
        Duration::from_secs(u64::MAX),
        Duration::from_secs_f64(1e19),
    ] {
        let options = CallOptions::default().with_timeout(timeout);
        assert_eq!(
            device.call_with(Command::PING, b"big", options).unwrap(),
            b"big"
        );
    }
    assert_eq!(device.call(Command::PING, b"max").unwrap(), b"max");
}

#[test]
fn short_reports_of_other_channels_are_skipped() {
    let (mut device, shared) = open_good();
    let other = ChannelId::from_be_bytes([9, 9, 9, 9]);
    let mut six = other.to_be_bytes().to_vec();
    six.extend_from_slice(&[0x81, 0x00]);
    lock(&shared).inject = vec![six, vec![0x11], vec![0x11, 0x22, 0x33]];
    assert_eq!(device.ping(b"through").unwrap(), b"through");
    // On our own channel a short report is a framing error.
    let mut ours = CID.to_be_bytes().to_vec();
    ours.extend_from_slice(&[0x81, 0x00]);
    lock(&shared).inject = vec![ours];
    let error = device.ping(b"x").unwrap_err();
    assert!(
        matches!(error, Error::Protocol(ProtocolError::Framing(_))),
        "{error:?}"
    );
    assert_eq!(device.ping(b"next").unwrap(), b"next");
}

#[test]
fn a_keepalive_without_its_status_byte_is_a_protocol_error() {
    let (mut device, shared) = open_good();
    lock(&shared).inject = reports(CID, Command::KEEPALIVE, &[]);
    let error = device.ping(b"x").unwrap_err();
    assert!(
        matches!(
            error,
            Error::Protocol(ProtocolError::EmptyStatus(Command::KEEPALIVE))
        ),
        "{error:?}"
    );
    assert_eq!(device.ping(b"next").unwrap(), b"next");
}

#[test]
fn a_zero_time_out_read_does_not_wait() {
    // Every call first drops stale input with zero time-out reads: against a device
    // that answers at once, 200 calls take far less than one 1 ms wait each would.
    let (mut device, _shared) = open_good();
    let start = Instant::now();
    for _ in 0..200 {
        assert_eq!(device.ping(b"quick").unwrap(), b"quick");
    }
    let took = start.elapsed();
    assert!(took < Duration::from_millis(200), "200 calls took {took:?}");
}

mod udp_transport {
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};

    use ctap_device::HidConnection;
    use ctap_device::udp::UdpConnection;

    /// A UDP peer that never answers, and a connection to it.
    fn silent_pair() -> (UdpSocket, UdpConnection) {
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let connection = UdpConnection::connect(peer.local_addr().unwrap()).unwrap();
        peer.connect(connection.local_addr().unwrap()).unwrap();
        (peer, connection)
    }

    #[test]
    fn zero_time_out_reads_do_not_wait() {
        let (_peer, mut connection) = silent_pair();
        let mut buf = [0u8; 64];
        // A real wait first, so the socket has a read time-out set.
        assert_eq!(
            connection
                .read_report(&mut buf, Duration::from_millis(5))
                .unwrap(),
            None
        );
        let start = Instant::now();
        for _ in 0..1000 {
            assert_eq!(
                connection.read_report(&mut buf, Duration::ZERO).unwrap(),
                None
            );
        }
        // A 1 ms kernel wait per read (the old behaviour) would take over a second.
        let took = start.elapsed();
        assert!(
            took < Duration::from_millis(300),
            "1000 empty reads took {took:?}"
        );
    }

    #[test]
    fn a_burst_of_three_longest_messages_is_not_lost() {
        // 129 datagrams is one 7609-byte message at 64-byte reports.
        let (peer, mut connection) = silent_pair();
        let burst = 3 * 129;
        for i in 0..burst {
            let mut report = [0u8; 64];
            report[..4].copy_from_slice(&u32::try_from(i).unwrap().to_be_bytes());
            peer.send(&report).unwrap();
        }
        let mut buf = [0u8; 64];
        let mut received = 0;
        while let Some(len) = connection.read_report(&mut buf, Duration::ZERO).unwrap() {
            assert_eq!(len, 64);
            assert_eq!(buf[..4], u32::try_from(received).unwrap().to_be_bytes());
            received += 1;
        }
        assert_eq!(received, burst);
    }
}
