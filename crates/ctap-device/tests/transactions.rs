//! Every path of a CTAPHID transaction, driven by a scripted connection: keep-alives,
//! cancel, ERROR packets, CHANNEL_BUSY, foreign traffic, framing errors, silence,
//! disconnects, and that the next call works after each failure.

mod support;

use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ctap_device::{
    CallOptions, CancelToken, CtapDevice, CtapHidDevice, DeviceConfig, Error, ProtocolError,
    TimeoutKind,
};
use ctap_types::{
    ChannelId, Command, CtapError, HidErrorCode, InitResponseError, KeepaliveStatus, StatusCode,
};
use ctaphid_frame::{FrameError, ReportSize};
use support::{
    CID, Hook, Idle, Scripted, Step, command_of, echo_device, init_answer, init_responder,
    nonce_of, packets, report,
};

const SIZE: ReportSize = ReportSize::FULL_SPEED;
const OTHER: ChannelId = ChannelId::new(0x0A0B_0C0D);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Small limits so failing paths end fast.
fn fast() -> DeviceConfig {
    DeviceConfig::default()
        .with_silence_timeout(ms(200))
        .with_init_timeout(ms(300))
        .with_poll_interval(ms(10))
        .with_cancel_grace(ms(100))
        .with_busy_retry_interval(ms(5))
        .with_busy_retry_limit(ms(100))
}

fn open(conn: &Scripted) -> CtapHidDevice<Scripted> {
    CtapHidDevice::with_config(conn.clone(), fast()).unwrap()
}

/// A device that answers INIT as usual and hands the command of every other init
/// packet it receives to `answer`.
fn on_requests(
    mut answer: impl FnMut(Command, &mut VecDeque<Step>) + Send + 'static,
) -> impl FnMut(&[u8], &mut VecDeque<Step>) + Send + 'static {
    let mut init = init_responder(SIZE);
    move |report, queue| {
        if nonce_of(report).is_some() {
            init(report, queue);
        } else if let Some(command) = command_of(report) {
            answer(command, queue);
        }
    }
}

/// Reacts to requests with `command` (not INIT, which is answered as usual).
fn on_request(
    command: Command,
    mut answer: impl FnMut(&mut VecDeque<Step>) + Send + 'static,
) -> impl FnMut(&[u8], &mut VecDeque<Step>) + Send + 'static {
    on_requests(move |got, queue| {
        if got == command {
            answer(queue);
        }
    })
}

/// A cancel token and another thread that cancels it when told to (by the scripted
/// device, at the moment the test means); the thread returns when it cancelled.
fn canceller() -> (CancelToken, mpsc::Sender<()>, JoinHandle<Instant>) {
    let token = CancelToken::new();
    let remote = token.clone();
    let (go, wait) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        wait.recv().unwrap();
        remote.cancel();
        Instant::now()
    });
    (token, go, thread)
}

fn push_message(queue: &mut VecDeque<Step>, cid: ChannelId, command: Command, payload: &[u8]) {
    queue.extend(
        packets(cid, command, payload, SIZE)
            .into_iter()
            .map(Step::Report),
    );
}

/// The next call works: the device is an echo device again.
fn assert_recovers(device: &mut CtapHidDevice<Scripted>, conn: &Scripted) {
    conn.set_idle(Idle::Silent);
    conn.react(echo_device(SIZE));
    let payload: Vec<u8> = (0u8..100).collect();
    assert_eq!(device.call(Command::PING, &payload).unwrap(), payload);
    assert!(!device.needs_resync());
    assert_eq!(device.channel_id(), CID);
}

fn assert_is_cancel_packet(report: &[u8]) {
    let mut expected = vec![0u8; SIZE.get()];
    expected[..4].copy_from_slice(&CID.to_be_bytes());
    expected[4] = 0x91;
    assert_eq!(report, &expected[..], "CID | 0x91 | 0x0000, zero padded");
}

#[test]
fn device_is_send() {
    fn send<T: Send>() {}
    send::<CtapHidDevice<Scripted>>();
    send::<CancelToken>();
}

#[test]
fn keepalive_callback_fires_on_status_changes_only() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    conn.react(on_request(Command::CBOR, |queue| {
        for status in [1, 1, 2, 2, 1, 0x42, 0x42] {
            push_message(queue, CID, Command::KEEPALIVE, &[status]);
        }
        push_message(queue, CID, Command::CBOR, &[0x00, 0xA0]);
    }));
    let mut seen = Vec::new();
    let mut callback = |status: KeepaliveStatus| seen.push(status);
    let answer = device
        .call_with(
            Command::CBOR,
            &[0x04],
            CallOptions::default().with_on_keepalive(&mut callback),
        )
        .unwrap();
    assert_eq!(answer, [0x00, 0xA0], "call returns the status byte too");
    // 1,1,2,2,1 -> three calls; an unknown status is passed on like a known one.
    assert_eq!(
        seen,
        [
            KeepaliveStatus::PROCESSING,
            KeepaliveStatus::UPNEEDED,
            KeepaliveStatus::PROCESSING,
            KeepaliveStatus::new(0x42)
        ]
    );
}

#[test]
fn keepalives_extend_the_silence_limit_and_the_deadline_still_ends_the_call() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    // KEEPALIVEs every 50 ms for twice the 200 ms silence limit, then the answer.
    conn.react(on_request(Command::CBOR, |queue| {
        for _ in 0..8 {
            queue.push_back(Step::Report(report(CID, Command::KEEPALIVE, &[2])));
            queue.push_back(Step::Sleep(ms(50)));
        }
        push_message(queue, CID, Command::CBOR, &[0x00]);
    }));
    let started = Instant::now();
    assert_eq!(device.call(Command::CBOR, &[0x04]).unwrap(), [0x00]);
    assert!(started.elapsed() >= ms(400), "{:?}", started.elapsed());

    // A device that keeps sending KEEPALIVEs forever: the overall deadline ends it.
    conn.react(init_responder(SIZE));
    conn.set_idle(Idle::Keepalive(2, ms(20)));
    let started = Instant::now();
    let error = device
        .call_with(
            Command::CBOR,
            &[0x04],
            CallOptions::default().with_timeout(ms(300)),
        )
        .unwrap_err();
    assert!(
        matches!(error, Error::Timeout(TimeoutKind::Deadline(d)) if d == ms(300)),
        "{error:?}"
    );
    assert!(started.elapsed() >= ms(300));
    assert!(started.elapsed() < ms(3000), "{:?}", started.elapsed());
    // The device was told to stop waiting.
    assert_is_cancel_packet(conn.writes().last().unwrap());
    assert_recovers(&mut device, &conn);
}

#[test]
fn cancel_from_another_thread_sends_cancel_and_returns_the_devices_answer() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    conn.set_idle(Idle::Keepalive(2, ms(20)));
    let (token, go, canceller) = canceller();
    // The device waits for a touch (the user cancels as soon as it asks for one) until
    // it gets CANCEL, then answers 0x2D.
    conn.react(on_requests(move |command, queue| {
        if command == Command::CBOR {
            queue.push_back(Step::ReportThen(
                report(CID, Command::KEEPALIVE, &[2]),
                Hook(Box::new({
                    let go = go.clone();
                    move || go.send(()).unwrap()
                })),
            ));
        } else if command == Command::CANCEL {
            push_message(queue, CID, Command::CBOR, &[0x2D]);
        }
    }));
    conn.clear_writes();
    let mut statuses = 0;
    let mut callback = |_: KeepaliveStatus| statuses += 1;
    let answer = device.cbor_with(
        &[0x01],
        CallOptions::default()
            .with_cancel(token)
            .with_on_keepalive(&mut callback),
    );
    let returned = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    let error = answer.unwrap_err();
    assert!(
        matches!(error, Error::Ctap(e) if e.code == StatusCode::KEEPALIVE_CANCEL),
        "{error:?}"
    );
    assert!(error.is_cancelled());
    assert_eq!(statuses, 1, "UPNEEDED reported once");
    let lag = returned.duration_since(cancelled_at);
    assert!(lag < ms(1000), "returned {lag:?} after the cancel");
    let writes = conn.writes();
    assert_eq!(command_of(&writes[0]), Some(Command::CBOR));
    assert_eq!(writes.len(), 2, "request then CANCEL: {writes:?}");
    assert_is_cancel_packet(&writes[1]);
    // A clean end: no resync needed, and the next call works.
    assert!(!device.needs_resync());
    assert_recovers(&mut device, &conn);
}

#[test]
fn raw_call_returns_the_cancel_status_bytes_like_python_fido2() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    conn.set_idle(Idle::Keepalive(1, ms(20)));
    let (token, go, _) = canceller();
    conn.react(on_requests(move |command, queue| {
        if command == Command::CBOR {
            go.send(()).unwrap();
        } else if command == Command::CANCEL {
            push_message(queue, CID, Command::ERROR, &[0x7F]);
        }
    }));
    // Here the device answers CANCEL with an ERROR packet.
    let error = device
        .call_with(
            Command::CBOR,
            &[0x02],
            CallOptions::default().with_cancel(token),
        )
        .unwrap_err();
    assert!(
        matches!(error, Error::Hid(HidErrorCode::OTHER)),
        "{error:?}"
    );
    assert_recovers(&mut device, &conn);
}

#[test]
fn a_device_that_ignores_cancel_ends_with_cancelled_after_the_grace_period() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    conn.set_idle(Idle::Keepalive(2, ms(20)));
    let (token, go, _) = canceller();
    conn.react(on_request(Command::CBOR, move |_| go.send(()).unwrap()));
    let started = Instant::now();
    let error = device
        .call_with(
            Command::CBOR,
            &[0x02],
            CallOptions::default().with_cancel(token),
        )
        .unwrap_err();
    assert!(matches!(error, Error::Cancelled), "{error:?}");
    assert!(error.is_cancelled());
    assert!(started.elapsed() < ms(2000), "{:?}", started.elapsed());
    assert!(device.needs_resync());
    assert_recovers(&mut device, &conn);
}

#[test]
fn a_token_cancelled_before_the_call_sends_nothing() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    conn.clear_writes();
    let token = CancelToken::new();
    token.cancel();
    let error = device
        .call_with(
            Command::PING,
            &[1],
            CallOptions::default().with_cancel(token.clone()),
        )
        .unwrap_err();
    assert!(matches!(error, Error::Cancelled));
    assert!(conn.writes().is_empty());
    token.reset();
    assert!(!token.is_cancelled());
}

#[test]
fn error_packets_are_hid_errors_and_the_next_call_works() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    conn.react(on_request(Command::PING, |queue| {
        push_message(queue, CID, Command::ERROR, &[0x03]);
    }));
    let error = device.call(Command::PING, &[1, 2]).unwrap_err();
    assert!(
        matches!(error, Error::Hid(HidErrorCode::INVALID_LEN)),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "CTAPHID error: 0x03 - INVALID_LEN");
    assert_eq!(
        error.ctap_error(),
        Some(CtapError::new(StatusCode::INVALID_LENGTH))
    );
    assert!(
        !device.needs_resync(),
        "an ERROR ends the transaction cleanly"
    );
    // An ERROR without its code is a protocol violation.
    conn.react(on_request(Command::PING, |queue| {
        push_message(queue, CID, Command::ERROR, &[]);
    }));
    let error = device.call(Command::PING, &[1]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Protocol(ProtocolError::EmptyStatus(Command::ERROR))
        ),
        "{error:?}"
    );
    assert_recovers(&mut device, &conn);
}

#[test]
fn channel_busy_is_retried_by_resending_the_whole_request() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    let payload: Vec<u8> = (0u8..=99).collect();
    let echo = payload.clone();
    let mut busy_left = 2;
    conn.react(on_request(Command::PING, move |queue| {
        if busy_left > 0 {
            busy_left -= 1;
            push_message(queue, CID, Command::ERROR, &[0x06]);
        } else {
            push_message(queue, CID, Command::PING, &echo);
        }
    }));
    conn.clear_writes();
    assert_eq!(device.call(Command::PING, &payload).unwrap(), payload);
    let requests = conn
        .writes()
        .iter()
        .filter(|r| command_of(r) == Some(Command::PING))
        .count();
    assert_eq!(requests, 3, "sent three times (two busy answers)");
    // 100 bytes = 2 reports per attempt, all re-sent.
    assert_eq!(conn.writes().len(), 6);

    // Busy forever: gives up after the limit with CHANNEL_BUSY.
    conn.react(on_request(Command::PING, |queue| {
        push_message(queue, CID, Command::ERROR, &[0x06]);
    }));
    let started = Instant::now();
    let error = device.call(Command::PING, &[1]).unwrap_err();
    assert!(
        matches!(error, Error::Hid(HidErrorCode::CHANNEL_BUSY)),
        "{error:?}"
    );
    assert!(started.elapsed() >= ms(100));
    assert!(started.elapsed() < ms(3000));

    assert_recovers(&mut device, &conn);
}

/// A cancel while the device says CHANNEL_BUSY ends the call at once, whichever side of
/// the BUSY answer it lands on (the retry pause is ten seconds here, so "at once" is
/// plain); each order is made to happen exactly, not by timing.
#[test]
fn a_cancel_during_channel_busy_stops_the_retries() {
    let conn = Scripted::new();
    let mut device = CtapHidDevice::with_config(
        conn.clone(),
        fast()
            .with_busy_retry_interval(Duration::from_secs(10))
            .with_busy_retry_limit(Duration::from_secs(60)),
    )
    .unwrap();

    // Cancelled after the BUSY answer was read, before the retry: nothing is pending
    // on the device, so no CANCEL is sent and the call is simply cancelled.
    let token = CancelToken::new();
    let remote = token.clone();
    conn.react(on_request(Command::PING, move |queue| {
        let remote = remote.clone();
        queue.push_back(Step::ReportThen(
            report(CID, Command::ERROR, &[0x06]),
            Hook(Box::new(move || remote.cancel())),
        ));
    }));
    conn.clear_writes();
    let started = Instant::now();
    let error = device
        .call_with(
            Command::PING,
            &[1],
            CallOptions::default().with_cancel(token),
        )
        .unwrap_err();
    assert!(matches!(error, Error::Cancelled), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "no retry pause");
    let commands: Vec<_> = conn.writes().iter().map(|r| command_of(r)).collect();
    assert_eq!(commands, [Some(Command::PING)], "sent once, no CANCEL");
    assert_recovers(&mut device, &conn);

    // Cancelled while the request is with the device (before its BUSY is read): CANCEL
    // goes out, and the BUSY that follows is the final answer, not a reason to retry.
    let token = CancelToken::new();
    let remote = token.clone();
    conn.react(on_request(Command::PING, move |queue| {
        remote.cancel();
        push_message(queue, CID, Command::ERROR, &[0x06]);
    }));
    conn.clear_writes();
    let started = Instant::now();
    let error = device
        .call_with(
            Command::PING,
            &[1],
            CallOptions::default().with_cancel(token),
        )
        .unwrap_err();
    assert!(
        matches!(error, Error::Hid(HidErrorCode::CHANNEL_BUSY)),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "no retry pause");
    let writes = conn.writes();
    assert_eq!(writes.len(), 2, "the request, then CANCEL: {writes:?}");
    assert_eq!(command_of(&writes[0]), Some(Command::PING));
    assert_is_cancel_packet(&writes[1]);
    assert_recovers(&mut device, &conn);
}

#[test]
fn init_skips_foreign_nonces_and_other_channels() {
    let conn = Scripted::new();
    conn.react(|report, queue| {
        if let Some(nonce) = nonce_of(report) {
            let mut foreign = nonce;
            foreign[0] ^= 0xFF;
            // Another program's INIT answer on broadcast, another channel's traffic,
            // a KEEPALIVE on broadcast, then ours.
            push_message(
                queue,
                ChannelId::BROADCAST,
                Command::INIT,
                &init_answer(foreign, OTHER),
            );
            push_message(queue, OTHER, Command::PING, &[9; 100]);
            push_message(queue, ChannelId::BROADCAST, Command::KEEPALIVE, &[1]);
            push_message(
                queue,
                ChannelId::BROADCAST,
                Command::INIT,
                &init_answer(nonce, CID),
            );
        }
    });
    let device = open(&conn);
    assert_eq!(device.channel_id(), CID);
    assert_eq!(device.init_response().cid, CID);
    assert_eq!(device.device_version().major, 5);
    // The INIT request: broadcast, 8-byte nonce.
    let init = &conn.writes()[0];
    assert_eq!(&init[..7], &[0xFF, 0xFF, 0xFF, 0xFF, 0x86, 0x00, 0x08]);
}

#[test]
fn init_rejects_a_reserved_or_broadcast_channel_and_times_out_without_answer() {
    for granted in [ChannelId::RESERVED, ChannelId::BROADCAST] {
        let conn = Scripted::new();
        conn.react(move |report, queue| {
            if let Some(nonce) = nonce_of(report) {
                push_message(
                    queue,
                    ChannelId::BROADCAST,
                    Command::INIT,
                    &init_answer(nonce, granted),
                );
            }
        });
        let error = CtapHidDevice::with_config(conn, fast()).unwrap_err();
        assert!(
            matches!(
                error,
                Error::Protocol(ProtocolError::InitResponse(
                    InitResponseError::InvalidChannel(c)
                )) if c == granted
            ),
            "{error:?}"
        );
    }
    let conn = Scripted::new();
    conn.react(|_, _| {});
    let started = Instant::now();
    let error = CtapHidDevice::with_config(conn, fast()).unwrap_err();
    assert!(matches!(error, Error::Timeout(_)), "{error:?}");
    assert!(started.elapsed() < ms(3000));
}

#[test]
fn other_channel_packets_are_skipped_before_and_between_our_continuations() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    let payload: Vec<u8> = (0..200u8).collect();
    let echo = payload.clone();
    conn.react(on_request(Command::PING, move |queue| {
        let ours = packets(CID, Command::PING, &echo, SIZE);
        let theirs = packets(OTHER, Command::CBOR, &[7; 150], SIZE);
        queue.push_back(Step::Report(theirs[0].clone()));
        for (i, report) in ours.into_iter().enumerate() {
            queue.push_back(Step::Report(report));
            if let Some(other) = theirs.get(i + 1) {
                queue.push_back(Step::Report(other.clone()));
            }
        }
    }));
    assert_eq!(device.call(Command::PING, &payload).unwrap(), payload);
    assert!(!device.needs_resync());
}

#[test]
fn framing_errors_are_protocol_errors_and_the_next_call_works() {
    type Case = (&'static str, fn(&mut VecDeque<Step>), fn(&Error) -> bool);
    let cases: [Case; 5] = [
        (
            "wrong SEQ",
            |queue| {
                let mut ours = packets(CID, Command::PING, &[1; 100], SIZE);
                ours[1][4] = 1;
                queue.extend(ours.into_iter().map(Step::Report));
            },
            |e| {
                matches!(
                    e,
                    Error::Protocol(ProtocolError::Framing(FrameError::SequenceMismatch {
                        expected: 0,
                        got: 1,
                        ..
                    }))
                )
            },
        ),
        (
            "oversize length",
            |queue| {
                let mut first = report(CID, Command::PING, &[1]);
                first[5..7].copy_from_slice(&8000u16.to_be_bytes());
                queue.push_back(Step::Report(first));
            },
            |e| {
                matches!(
                    e,
                    Error::Protocol(ProtocolError::Framing(FrameError::LengthTooLarge {
                        declared: 8000,
                        max: 7609,
                        ..
                    }))
                )
            },
        ),
        (
            "short report",
            |queue| {
                let first = report(CID, Command::PING, &[1]);
                queue.push_back(Step::Report(first[..10].to_vec()));
            },
            |e| {
                matches!(
                    e,
                    Error::Protocol(ProtocolError::Framing(FrameError::ShortReport {
                        expected: 64,
                        got: 10,
                        ..
                    }))
                )
            },
        ),
        (
            "unexpected command",
            |queue| push_message(queue, CID, Command::WINK, &[]),
            |e| {
                matches!(
                    e,
                    Error::Protocol(ProtocolError::UnexpectedCommand {
                        expected: Command::PING,
                        got: Command::WINK
                    })
                )
            },
        ),
        (
            "disconnect mid-message",
            |queue| {
                let ours = packets(CID, Command::PING, &[1; 100], SIZE);
                queue.push_back(Step::Report(ours[0].clone()));
                queue.push_back(Step::Disconnect);
            },
            |e| matches!(e, Error::Disconnected),
        ),
    ];
    for (name, script, expected) in cases {
        let conn = Scripted::new();
        let mut device = open(&conn);
        conn.react(on_request(Command::PING, script));
        let error = device.call(Command::PING, &[1; 100]).unwrap_err();
        assert!(expected(&error), "{name}: {error:?}");
        assert!(device.needs_resync(), "{name}");
        assert_recovers(&mut device, &conn);
    }
}

#[test]
fn a_silent_device_times_out_and_the_next_call_works() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    conn.react(init_responder(SIZE));
    conn.clear_writes();
    let started = Instant::now();
    let error = device.call(Command::CBOR, &[0x04]).unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(error, Error::Timeout(TimeoutKind::Silence(d)) if d == ms(200)),
        "{error:?}"
    );
    assert!(elapsed >= ms(200) && elapsed < ms(3000), "{elapsed:?}");
    assert_is_cancel_packet(conn.writes().last().unwrap());
    // A per-call silence limit overrides the device's.
    let started = Instant::now();
    let error = device
        .call_with(
            Command::CBOR,
            &[0x04],
            CallOptions::default().with_silence_timeout(ms(50)),
        )
        .unwrap_err();
    assert!(matches!(error, Error::Timeout(TimeoutKind::Silence(d)) if d == ms(50)));
    assert!(started.elapsed() < ms(2000));
    assert_recovers(&mut device, &conn);
}

#[test]
fn stale_reports_of_a_failed_call_are_dropped_by_the_resync() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    conn.react(init_responder(SIZE));
    let error = device.call(Command::CBOR, &[0x04]).unwrap_err();
    assert!(matches!(error, Error::Timeout(_)));
    // The old answer arrives late, around the re-INIT: before it (drained or skipped)
    // and as a stray continuation.
    let stale = packets(CID, Command::CBOR, &[0; 100], SIZE);
    conn.push_reports(stale.clone());
    conn.react({
        let mut echo = echo_device(SIZE);
        let mut first = true;
        move |report, queue| {
            if first && nonce_of(report).is_some() {
                first = false;
                queue.extend(stale.iter().cloned().map(Step::Report));
                queue.push_back(Step::Report(stale[1].clone()));
            }
            echo(report, queue);
        }
    });
    conn.clear_writes();
    assert_eq!(device.call(Command::PING, &[5, 6]).unwrap(), [5, 6]);
    // The resync re-INITs our own channel.
    let init = &conn.writes()[0];
    assert_eq!(&init[..5], &[0x01, 0x02, 0x03, 0x04, 0x86]);
}

#[test]
fn invalid_channel_allocates_a_new_channel_and_retries_once() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    let mut forgot = true;
    let mut echo = echo_device(SIZE);
    conn.react(move |report, queue| {
        if forgot && command_of(report) == Some(Command::PING) {
            forgot = false;
            push_message(queue, CID, Command::ERROR, &[0x0B]);
        } else {
            echo(report, queue);
        }
    });
    conn.clear_writes();
    assert_eq!(device.call(Command::PING, &[1, 2, 3]).unwrap(), [1, 2, 3]);
    let commands: Vec<_> = conn.writes().iter().map(|r| command_of(r)).collect();
    assert_eq!(
        commands,
        [
            Some(Command::PING),
            Some(Command::INIT),
            Some(Command::PING)
        ]
    );
    assert_eq!(
        &conn.writes()[1][..4],
        &[0xFF; 4],
        "a new channel on broadcast"
    );
}

#[test]
fn helpers_check_their_arguments_and_cbor_status() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    conn.clear_writes();
    let error = device.lock(11).unwrap_err();
    assert!(matches!(error, Error::InvalidArgument(_)), "{error:?}");
    assert!(error.to_string().contains("11"), "{error}");
    let error = device.call(Command::PING, &[0; 7610]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidRequest(FrameError::PayloadTooLong {
                len: 7610,
                max: 7609
            })
        ),
        "{error:?}"
    );
    assert!(conn.writes().is_empty(), "nothing sent");

    conn.react(echo_device(SIZE));
    device.lock(10).unwrap();
    device.wink().unwrap();
    assert_eq!(device.msg(&[0, 3, 0, 0]).unwrap(), [0, 3, 0, 0]);
    assert_eq!(device.ping(b"hi").unwrap(), b"hi");
    // The echo device returns the request: status byte 0x00 then the CBOR.
    assert_eq!(device.cbor(&[0x00, 0xA0]).unwrap(), [0xA0]);
    let error = device.cbor(&[0x31]).unwrap_err();
    assert!(
        matches!(error, Error::Ctap(e) if e.code == StatusCode::PIN_INVALID),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "CTAP error: 0x31 - PIN_INVALID");
    let error = device.cbor(&[]).unwrap_err();
    assert!(matches!(
        error,
        Error::Protocol(ProtocolError::EmptyStatus(_))
    ));
    // CANCEL has no answer: sent, nothing read.
    assert_eq!(device.call(Command::CANCEL, &[]).unwrap(), Vec::<u8>::new());
}

#[test]
fn close_releases_the_connection() {
    let conn = Scripted::new();
    let mut device = open(&conn);
    device.close();
    assert!(conn.lock().closed);
    assert!(matches!(
        device.call(Command::PING, &[1]),
        Err(Error::Disconnected)
    ));
    device.close();
}

#[test]
fn other_report_sizes_work() {
    for size in [8usize, 62] {
        let size = ReportSize::new(size).unwrap();
        let conn = Scripted::with_size(size);
        conn.react(echo_device(size));
        let mut device = open(&conn);
        let max = size.max_message_len();
        for len in [0, 1, size.init_capacity(), size.init_capacity() + 1, max] {
            let payload: Vec<u8> = (0..len).map(|i| u8::try_from(i % 256).unwrap()).collect();
            assert_eq!(
                device.call(Command::PING, &payload).unwrap(),
                payload,
                "{size} {len}"
            );
        }
    }
}
