//! The fault matrix: the host stack (`CtapHidDevice`) against the virtual authenticator
//! through a fault-injecting connection, for every fault kind and a range of seeds (at
//! 64- and 62-byte reports).
//!
//! For every call it checks that:
//! - it ends in the right answer or a specific error, within a bound derived from the
//!   time limits of the configuration;
//! - a wrong answer is returned as `Ok` only where the CTAPHID framing cannot notice
//!   (CTAPHID has no checksum and no message id), and each such call is excused only
//!   when the fault that can cause it hit this very call:
//!   - `corrupt-payload`: a flipped bit inside the data bytes of the request or of the
//!     answer (not in the zero padding after them, which nobody reads);
//!   - `corrupt-header` in the BCNT of an init packet, where the new length can be
//!     served by the packets already sent: a flip in the low byte (a smaller length, or
//!     a larger one that the zero padding of the last packet fills, as 0 -> 1), or in
//!     the high byte of a message of 256 bytes or more (it can only shrink it); a flip
//!     that sets a high bit asks for 256 bytes more than were sent, and that ends in
//!     a time-out;
//!   - `reorder` of a written continuation packet in this call or the one before: held
//!     back past the end of its request, it is sent at the next write and can be taken
//!     as a continuation of the next request on the channel, with a SEQ that fits.
//!
//!   Every other kind (drop, duplicate, truncate, the rest of the header, foreign
//!   traffic, stalls, disconnects) must end in the right answer or an error. The
//!   excused calls are counted and reported, not failed on (see SECURITY.md);
//! - once the faults stop, the next call on the same device gets the right answer.
//!
//! Run with `--nocapture` to see the totals.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use ctap::device::fault::{Direction, FaultEvent, FaultKind, FaultPlan, FaultyConnection};
use ctap::device::{CtapDevice, CtapHidDevice, DeviceConfig, Error, HidConnection};
use ctap::frame::ReportSize;
use ctap::types::Command;
use ctap::virtual_device::{Config, VirtualAuthenticator, VirtualConnection};

/// Seeds per fault kind.
const SEEDS: u64 = 24;
/// Per mille of reports hit by a rate-based fault, per direction.
const RATE: u16 = 80;
/// How long a stall lasts: longer than the silence limit, so some calls time out.
const STALL: Duration = Duration::from_millis(80);

type Device = CtapHidDevice<FaultyConnection<VirtualConnection>>;

/// Short limits so the matrix runs in seconds. The virtual device answers within the
/// write that carries the request, so a fault-free call never waits.
fn host_config() -> DeviceConfig {
    DeviceConfig::default()
        .with_silence_timeout(Duration::from_millis(60))
        .with_init_timeout(Duration::from_millis(60))
        .with_poll_interval(Duration::from_millis(5))
        .with_cancel_grace(Duration::from_millis(30))
        .with_busy_retry_interval(Duration::from_millis(5))
        .with_busy_retry_limit(Duration::from_millis(100))
}

/// Every third seed uses 62-byte reports (devices with them exist), the others 64.
fn device_config(seed: u64) -> Config {
    let size = if seed % 3 == 2 { 62 } else { 64 };
    Config::default()
        .with_report_size(ReportSize::new(size).expect("8..=64"))
        .with_message_timeout(Duration::from_millis(50))
        .with_channel_seed(seed)
}

/// The right getInfo answer of `config`'s device, from a fault-free call.
fn reference_get_info(config: Config) -> Vec<u8> {
    let authenticator = VirtualAuthenticator::new(config);
    let mut device = authenticator
        .open_device_with(host_config())
        .expect("a fault-free open");
    let answer = device.call(Command::CBOR, &[0x04]).expect("getInfo");
    assert_eq!(answer.first(), Some(&0x00), "getInfo succeeds");
    answer
}

/// The longest a call may take, from the configuration: a resync (drain of at most
/// 100 ms, re-INIT, then INIT on broadcast, each with its busy retries), the
/// transaction (silence limit, busy retries, a stall) and an INVALID_CHANNEL recovery
/// (INIT and the transaction again); plus a second of slack for a loaded machine.
fn call_bound(config: &DeviceConfig) -> Duration {
    let init = config.init_timeout + config.busy_retry_limit + STALL;
    let transaction = config.silence_timeout + config.busy_retry_limit + STALL;
    Duration::from_millis(100) + 3 * init + 2 * transaction + Duration::from_secs(1)
}

/// How one call ended.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Outcome {
    /// The right answer.
    Ok,
    /// A wrong answer, with an undetectable corruption (payload or BCNT flip) in the call.
    OkUndetectable,
    /// A wrong answer after a stale continuation of an earlier request was spliced into
    /// this one (see [`spliced`]).
    OkSpliced,
    /// A wrong answer the protocol should have caught: a failure of the matrix.
    OkWrong,
    Timeout,
    Protocol,
    Hid,
    Ctap,
    Disconnected,
    Cancelled,
    Io,
    /// Anything else (InvalidRequest, ...): a failure of the matrix.
    Unexpected,
}

impl Outcome {
    fn of_error(error: &Error) -> Self {
        match error {
            Error::Timeout(_) => Self::Timeout,
            Error::Protocol(_) => Self::Protocol,
            Error::Hid(_) => Self::Hid,
            Error::Ctap(_) => Self::Ctap,
            Error::Disconnected => Self::Disconnected,
            Error::Cancelled => Self::Cancelled,
            Error::Io(_) => Self::Io,
            _ => Self::Unexpected,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Ok => "ok",
            Self::OkUndetectable => "ok-undetectable-corruption",
            Self::OkSpliced => "ok-spliced-stale-continuation",
            Self::OkWrong => "OK-WRONG",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol-error",
            Self::Hid => "hid-error",
            Self::Ctap => "ctap-error",
            Self::Disconnected => "disconnected",
            Self::Cancelled => "cancelled",
            Self::Io => "io-error",
            Self::Unexpected => "UNEXPECTED",
        };
        f.write_str(name)
    }
}

/// One request of the matrix and the answer it must get.
struct Request {
    command: Command,
    data: Vec<u8>,
    expected: Vec<u8>,
}

/// What one fault kind's run found.
#[derive(Default)]
struct KindReport {
    calls: u64,
    outcomes: BTreeMap<Outcome, u64>,
    faults_read: u64,
    faults_write: u64,
    opens_failed: u64,
    recoveries: u64,
    max_elapsed: Duration,
    failures: Vec<String>,
}

/// A PING payload no other call of the matrix sends: kind, seed and call index, then a
/// counting pattern up to `len`.
fn ping_payload(kind: FaultKind, seed: u64, call: usize, len: usize) -> Vec<u8> {
    let mut tag = Vec::new();
    tag.extend_from_slice(kind.name().as_bytes());
    tag.extend_from_slice(&seed.to_be_bytes());
    tag.extend_from_slice(&call.to_be_bytes());
    (0..len)
        .map(|i| {
            tag.get(i)
                .copied()
                .unwrap_or_else(|| u8::try_from(i % 251).unwrap_or(0))
        })
        .collect()
}

fn requests(kind: FaultKind, seed: u64, get_info: &[u8], round: usize) -> Vec<Request> {
    let mut requests = Vec::new();
    // Sizes around the packet boundaries of 64-byte reports: 57 fits the init packet,
    // 58 needs a continuation; 1000 needs 17 reports.
    for (i, len) in [0usize, 1, 57, 58, 200, 1000].into_iter().enumerate() {
        let data = ping_payload(kind, seed, round * 100 + i, len);
        requests.push(Request {
            command: Command::PING,
            expected: data.clone(),
            data,
        });
    }
    requests.push(Request {
        command: Command::CBOR,
        data: vec![0x04],
        expected: get_info.to_vec(),
    });
    requests.push(Request {
        command: Command::WINK,
        data: Vec::new(),
        expected: Vec::new(),
    });
    requests
}

fn plan(kind: FaultKind, seed: u64) -> FaultPlan {
    let plan =
        FaultPlan::new(seed.wrapping_mul(0x0123_4567_89AB_CDEF) ^ kind as u64).with_stall(STALL);
    match kind {
        // After 1..=40 reports: during the open, or one of the calls.
        FaultKind::Disconnect => plan.with_disconnect_after(seed % 40 + 1),
        _ => plan
            .with_rate(kind, Direction::Read, RATE)
            .with_rate(kind, Direction::Write, RATE),
    }
}

/// `true` if byte `offset` of a packet of a `len`-byte message carries message data
/// (rather than header or padding), for `size`-byte reports: an init packet holds
/// `size - 7` data bytes after its 7-byte header, a continuation `size - 5` after 5.
fn carries_data(offset: usize, init_packet: bool, len: usize, size: usize) -> bool {
    let (init_data, cont_data) = (size - 7, size - 5);
    if init_packet {
        (7..7 + len.min(init_data)).contains(&offset)
    } else {
        len > init_data && (5..5 + (len - init_data).min(cont_data)).contains(&offset)
    }
}

/// A wrong answer is excusable if this call saw a corruption the framing cannot
/// detect: a bit flip in the data of the request or of its answer, or in the BCNT where
/// the packets already sent can serve the new length (any low-byte flip; a high-byte
/// flip only of a length that has a high bit to clear).
fn undetectable(events: &[FaultEvent], request: &Request, size: usize) -> bool {
    events.iter().any(|event| {
        let len = match event.direction {
            Direction::Write => request.data.len(),
            Direction::Read => request.expected.len(),
        };
        match event.kind {
            FaultKind::CorruptPayload => event
                .byte
                .is_some_and(|offset| carries_data(offset, event.init_packet, len, size)),
            FaultKind::CorruptHeader => event.hit_length() && (event.byte == Some(6) || len >= 256),
            _ => false,
        }
    })
}

/// A wrong answer is also excusable right after a written continuation packet was held
/// back (reorder) past the end of its request: it goes out at the next write, the
/// first of the next call, and may be taken as a continuation of that call's request
/// (same channel, a SEQ that fits; CTAPHID has no message id to tell it apart). Later
/// calls cannot be hit: the held report is gone by then.
fn spliced(events: &[FaultEvent]) -> bool {
    events.iter().any(|event| {
        event.kind == FaultKind::Reorder
            && event.direction == Direction::Write
            && !event.init_packet
    })
}

/// Runs one call, classifies it and checks its time.
///
/// `previous` holds the faults of the call before (a written continuation held back by
/// a reorder there goes out during this call); it is replaced by this call's.
fn run_call(
    device: &mut Device,
    request: &Request,
    report: &mut KindReport,
    what: &str,
    previous: &mut Vec<FaultEvent>,
) -> Outcome {
    let events_before = device.connection().stats().events.len();
    let bound = call_bound(device.config());
    let started = Instant::now();
    let result = device.call(request.command, &request.data);
    let elapsed = started.elapsed();
    report.calls += 1;
    report.max_elapsed = report.max_elapsed.max(elapsed);
    if elapsed > bound {
        report.failures.push(format!(
            "{what}: {} took {elapsed:?}, over the bound of {bound:?}",
            request.command
        ));
    }
    let size = device.connection().output_report_size().get();
    let stats = device.connection().stats();
    let events: Vec<FaultEvent> = stats.events.iter().skip(events_before).copied().collect();
    let this_or_previous: Vec<FaultEvent> = previous.iter().chain(&events).copied().collect();
    *previous = events.clone();
    let outcome = match &result {
        Ok(answer) if *answer == request.expected => Outcome::Ok,
        Ok(_) if undetectable(&events, request, size) => Outcome::OkUndetectable,
        Ok(_) if spliced(&this_or_previous) => Outcome::OkSpliced,
        Ok(answer) => {
            report.failures.push(format!(
                "{what}: {} returned a wrong answer as valid ({} bytes, expected {}); faults: {events:?}",
                request.command,
                answer.len(),
                request.expected.len()
            ));
            Outcome::OkWrong
        }
        Err(error) => {
            let outcome = Outcome::of_error(error);
            if outcome == Outcome::Unexpected {
                report
                    .failures
                    .push(format!("{what}: {} ended with {error:?}", request.command));
            }
            outcome
        }
    };
    *report.outcomes.entry(outcome).or_default() += 1;
    outcome
}

/// Opens a device through the faulty connection; if the open itself fails under the
/// faults (which it may, within its time limit), opens it again with the faults off.
fn open(authenticator: &VirtualAuthenticator, plan: FaultPlan, report: &mut KindReport) -> Device {
    let config = host_config();
    let started = Instant::now();
    match CtapHidDevice::with_config(
        FaultyConnection::new(authenticator.connect(), plan.clone()),
        config,
    ) {
        Ok(device) => return device,
        Err(error) => {
            report.opens_failed += 1;
            let elapsed = started.elapsed();
            assert!(
                elapsed <= call_bound(&config),
                "open took {elapsed:?} and ended with {error}"
            );
            assert_ne!(Outcome::of_error(&error), Outcome::Unexpected, "{error:?}");
        }
    }
    let mut connection = FaultyConnection::new(authenticator.connect(), plan);
    connection.set_enabled(false);
    let mut device = CtapHidDevice::with_config(connection, config).expect("a fault-free open");
    device.connection_mut().set_enabled(true);
    device
}

fn run_kind(kind: FaultKind) -> KindReport {
    let mut report = KindReport::default();
    for seed in 0..SEEDS {
        let config = device_config(seed);
        // (Its maxMsgSize depends on the report size.)
        let get_info = &reference_get_info(config);
        let authenticator = VirtualAuthenticator::new(config);
        let mut device = open(&authenticator, plan(kind, seed), &mut report);
        let mut previous = Vec::new();
        for (round, request) in requests(kind, seed, get_info, 0).iter().enumerate() {
            let what = format!("{kind} seed {seed} call {round}");
            run_call(&mut device, request, &mut report, &what, &mut previous);
        }
        let stats = device.connection().stats();
        report.faults_read += stats.count(kind, Direction::Read);
        report.faults_write += stats.count(kind, Direction::Write);

        // The faults stop: the very next call must get the right answer, and so must
        // the one after it (a stale report left behind would show up there).
        device.connection_mut().set_enabled(false);
        for (round, request) in requests(kind, seed, get_info, 1)
            .iter()
            .enumerate()
            .filter(|(i, _)| [3, 6].contains(i))
        {
            let what = format!("{kind} seed {seed} recovery call {round}");
            let outcome = run_call(&mut device, request, &mut report, &what, &mut previous);
            if outcome == Outcome::Ok {
                report.recoveries += 1;
            } else {
                report.failures.push(format!(
                    "{what}: {} after the faults stopped ended {outcome}",
                    request.command
                ));
            }
        }
    }
    report
}

#[test]
fn fault_matrix() {
    let started = Instant::now();
    // One thread per kind: the calls mostly wait (time-outs, stalls), so this divides
    // the wall time without needing the cores.
    let reports: Vec<(FaultKind, KindReport)> = std::thread::scope(|scope| {
        let handles: Vec<_> = FaultKind::ALL
            .iter()
            .map(|&kind| scope.spawn(move || (kind, run_kind(kind))))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a matrix thread panicked"))
            .collect()
    });

    let mut totals: BTreeMap<Outcome, u64> = BTreeMap::new();
    let (mut calls, mut faults, mut recoveries) = (0u64, 0u64, 0u64);
    let mut failures = Vec::new();
    println!(
        "fault matrix: {} kinds x {SEEDS} seeds, rate {RATE}/1000 per direction, stall {STALL:?}, call bound {:?}",
        FaultKind::ALL.len(),
        call_bound(&host_config())
    );
    println!(
        "{:<16} {:>6} {:>8} {:>8} {:>6} {:>10} {:>9}  outcomes",
        "kind", "calls", "f-read", "f-write", "opens!", "recovered", "max-ms"
    );
    for (kind, report) in &reports {
        let outcomes: Vec<String> = report
            .outcomes
            .iter()
            .map(|(outcome, n)| format!("{outcome}={n}"))
            .collect();
        println!(
            "{:<16} {:>6} {:>8} {:>8} {:>6} {:>10} {:>9}  {}",
            kind.name(),
            report.calls,
            report.faults_read,
            report.faults_write,
            report.opens_failed,
            report.recoveries,
            report.max_elapsed.as_millis(),
            outcomes.join(" ")
        );
        calls += report.calls;
        faults += report.faults_read + report.faults_write;
        recoveries += report.recoveries;
        for (outcome, n) in &report.outcomes {
            *totals.entry(*outcome).or_default() += n;
        }
        failures.extend(report.failures.iter().cloned());
    }
    let outcomes: Vec<String> = totals.iter().map(|(o, n)| format!("{o}={n}")).collect();
    println!(
        "total: {calls} calls, {faults} faults injected, {recoveries} recovery calls ok; {}; {:?}",
        outcomes.join(" "),
        started.elapsed()
    );
    for failure in failures.iter().take(20) {
        println!("FAILURE {failure}");
    }

    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        failures.first()
    );
    // Every kind injected faults (or the matrix tests nothing).
    for (kind, report) in &reports {
        assert!(
            report.faults_read + report.faults_write > 0,
            "no {kind} fault was injected"
        );
        assert_eq!(
            report.recoveries,
            2 * SEEDS,
            "{kind}: every device recovered"
        );
    }
    // Most calls still succeed at this fault rate, so the host is not giving up early.
    let ok = totals.get(&Outcome::Ok).copied().unwrap_or(0);
    assert!(ok * 2 > calls, "only {ok} of {calls} calls succeeded");
}
