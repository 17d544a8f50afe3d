//! `--timeout` bounds every command, opening the device included, against a hostile
//! device over UDP: one that sends KEEPALIVE forever, answers INIT with CHANNEL_BUSY
//! forever, never answers INIT, or answers INIT late and then sends KEEPALIVE forever
//! (`--timeout` is one deadline for the whole command, not one per step). No value of
//! `--timeout` panics.
//!
//! The deadline is the subject, so the time is measured on the wall clock, around the
//! whole process (its start-up included).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::Command;

const CID: [u8; 4] = [0x0A, 0x0B, 0x0C, 0x0D];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    KeepaliveForever,
    BusyInit,
    SilentInit,
    /// INIT answered after this long, then KEEPALIVE forever.
    SlowInitThenKeepalive(Duration),
}

/// The hostile device, serving on its own thread until dropped.
struct Hostile {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

fn report(cid: [u8; 4], command: u8, payload: &[u8]) -> [u8; 64] {
    let mut report = [0u8; 64];
    report[..4].copy_from_slice(&cid);
    report[4] = 0x80 | command;
    report[5..7].copy_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    report[7..7 + payload.len()].copy_from_slice(payload);
    report
}

impl Hostile {
    fn start(mode: Mode) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let address = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            thread::spawn(move || serve(&socket, mode, &stop))
        };
        Self {
            address,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(socket: &UdpSocket, mode: Mode, stop: &AtomicBool) {
    // Hosts whose request is answered with keep-alives, forever.
    let mut streams: HashMap<SocketAddr, [u8; 4]> = HashMap::new();
    // INIT answers held back until their time: (due, peer, report).
    let mut late: Vec<(Instant, SocketAddr, [u8; 64])> = Vec::new();
    let mut buf = [0u8; 128];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        late.retain(|(due, peer, report)| {
            let keep = *due > now;
            if !keep {
                let _ = socket.send_to(report, peer);
            }
            keep
        });
        if let Ok((len, peer)) = socket.recv_from(&mut buf) {
            if len < 64 || buf[4] & 0x80 == 0 {
                continue;
            }
            let cid: [u8; 4] = buf[..4].try_into().unwrap();
            match (buf[4] & 0x7F, mode) {
                (0x06, Mode::SilentInit) | (0x11, _) => {} // INIT unanswered; CANCEL ignored
                (0x06, Mode::BusyInit) => {
                    let _ = socket.send_to(&report(cid, 0x3F, &[0x06]), peer);
                }
                (0x06, Mode::KeepaliveForever | Mode::SlowInitThenKeepalive(_)) => {
                    let mut answer = buf[7..15].to_vec();
                    answer.extend_from_slice(&CID);
                    answer.extend_from_slice(&[2, 1, 0, 0, 0x0D]);
                    let init = report(cid, 0x06, &answer);
                    match mode {
                        Mode::SlowInitThenKeepalive(delay) => {
                            late.push((Instant::now() + delay, peer, init));
                        }
                        _ => {
                            let _ = socket.send_to(&init, peer);
                        }
                    }
                }
                _ => {
                    streams.insert(peer, cid);
                }
            }
        }
        for (peer, cid) in &streams {
            let _ = socket.send_to(&report(*cid, 0x3B, &[0x01]), peer);
        }
    }
}

fn ctap(args: &[&str]) -> (std::process::Output, Duration) {
    let start = Instant::now();
    let output = Command::cargo_bin("ctap")
        .unwrap()
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .unwrap();
    (output, start.elapsed())
}

/// Runs each of `commands` as `ctap --device TARGET --timeout TIMEOUT COMMAND...`, all
/// at once, and returns each one's arguments, output and duration, in order.
fn in_parallel(
    target: &str,
    timeout: &str,
    commands: &[&[&str]],
) -> Vec<(Vec<String>, (std::process::Output, Duration))> {
    let runs: Vec<_> = commands
        .iter()
        .map(|command| {
            let mut args = vec!["--device", target, "--timeout", timeout];
            args.extend_from_slice(command);
            let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
            thread::spawn(move || {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                (args.clone(), ctap(&refs))
            })
        })
        .collect();
    runs.into_iter().map(|run| run.join().unwrap()).collect()
}

/// Runs every device command with `--timeout 1` against `mode`, in parallel; each must
/// fail, without a panic, within the deadline plus a margin for process start-up on a
/// loaded machine.
fn every_command_ends_on_time(mode: Mode) {
    let device = Hostile::start(mode);
    let target = format!("udp:{}", device.address);
    let commands: [&[&str]; 6] = [
        &["info"],
        &["ping"],
        &["wink"],
        &["lock", "--seconds", "1"],
        &["select"],
        &["raw", "--cmd", "ping", "--data", "0102"],
    ];
    for (args, (output, took)) in in_parallel(&target, "1", &commands) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{mode:?} {args:?} succeeded");
        assert!(!stderr.contains("panicked"), "{mode:?} {args:?}: {stderr}");
        assert!(
            took >= Duration::from_millis(950) && took <= Duration::from_millis(1900),
            "{mode:?} {args:?} took {took:?}: {stderr}"
        );
    }
}

#[test]
fn every_command_ends_at_its_deadline_against_keepalive_forever() {
    every_command_ends_on_time(Mode::KeepaliveForever);
}

#[test]
fn every_command_ends_at_its_deadline_against_init_busy_forever() {
    every_command_ends_on_time(Mode::BusyInit);
}

#[test]
fn every_command_ends_at_its_deadline_against_init_never_answered() {
    every_command_ends_on_time(Mode::SilentInit);
}

#[test]
fn timeout_is_one_deadline_for_opening_and_the_calls_together() {
    // INIT is answered after 60% of --timeout, then the call gets keep-alives forever:
    // with a deadline per step the command would take about 1.6 times --timeout.
    let timeout = Duration::from_secs(2);
    let device = Hostile::start(Mode::SlowInitThenKeepalive(timeout * 6 / 10));
    let target = format!("udp:{}", device.address);
    let commands: [&[&str]; 8] = [
        &["info"],
        &["ping"],
        &["wink"],
        &["lock", "--seconds", "1"],
        &["select"],
        &["raw", "--cmd", "cbor", "--data", "04"],
        &["pin", "status"],
        &["cred", "list"],
    ];
    for (args, (output, took)) in in_parallel(&target, "2", &commands) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.contains("--timeout"), "{args:?}: {stderr}");
        // The whole command within --timeout, plus a margin for process start-up on a
        // loaded machine (well under the 1.2 s a second full deadline would add).
        assert!(
            took >= timeout - Duration::from_millis(50)
                && took <= timeout + Duration::from_millis(900),
            "{args:?} took {took:?}: {stderr}"
        );
    }
}

#[test]
fn no_timeout_value_panics() {
    // Too large for a duration, or infinite: no deadline.
    for value in ["1e19", "1e30", "inf", "1e400", "18446744073709551616"] {
        let (output, _) = ctap(&["--device", "virtual", "--timeout", value, "ping"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "--timeout {value}: {stderr}");
    }
    // Not a positive number of seconds: a usage error.
    for value in ["0", "-1", "nan", "-inf", "1e-12"] {
        let (output, _) = ctap(&["--device", "virtual", "--timeout", value, "ping"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "--timeout {value}: {stderr}");
        assert!(!stderr.contains("panicked"), "--timeout {value}: {stderr}");
    }
}
