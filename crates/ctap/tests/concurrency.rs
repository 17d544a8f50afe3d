//! Several threads on one device, several devices (channels) on one authenticator, and a
//! cancel from another thread while other channels keep working: every response must
//! match its request, byte for byte.

use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use ctap::device::{CallOptions, CancelToken, DeviceConfig, Error, SplitMix64};
use ctap::types::StatusCode;
use ctap::virtual_device::{Config, TouchPolicy, VirtualAuthenticator};

const THREADS: usize = 8;
const CALLS: usize = 50;
/// Generous: the stress tests take well under a second each on an idle machine.
const BOUND: Duration = Duration::from_secs(60);

/// Host limits for devices that share an authenticator: CHANNEL_BUSY is retried quickly
/// and for long, as other channels hold the device for a message at a time.
fn host_config() -> DeviceConfig {
    DeviceConfig::default()
        .with_busy_retry_interval(Duration::from_millis(2))
        .with_busy_retry_limit(Duration::from_secs(20))
}

/// A payload no other call sends: thread id and counter first, then a pattern of a
/// random length (0..=1024 bytes in all; short ones are just the tag's prefix).
fn payload(thread: usize, call: usize, rng: &mut SplitMix64) -> Vec<u8> {
    let len = rng.below(1025);
    let mut tag = Vec::new();
    tag.extend_from_slice(&(thread as u64).to_be_bytes());
    tag.extend_from_slice(&(call as u64).to_be_bytes());
    let salt = rng.next_u64().to_be_bytes();
    (0..len)
        .map(|i| {
            tag.get(i).copied().unwrap_or_else(|| {
                salt.get(i % 8).copied().unwrap_or(0) ^ u8::try_from(i % 256).unwrap_or(0)
            })
        })
        .collect()
}

/// Pings `CALLS` times with unique payloads through `call`, checking every echo.
fn ping_loop(thread: usize, mut call: impl FnMut(&[u8]) -> Result<Vec<u8>, Error>) -> usize {
    // Seeded, so each thread's payload lengths are random but reproducible.
    let mut rng = SplitMix64::new(0x1234_5678 ^ thread as u64);
    for counter in 0..CALLS {
        let data = payload(thread, counter, &mut rng);
        let echo = call(&data).unwrap_or_else(|error| {
            panic!("thread {thread} call {counter}: {error}");
        });
        assert!(
            echo == data,
            "thread {thread} call {counter}: echo of {} bytes differs from the {} sent",
            echo.len(),
            data.len()
        );
    }
    CALLS
}

#[test]
fn threads_share_one_device_behind_a_mutex() {
    let started = Instant::now();
    let authenticator = VirtualAuthenticator::new(Config::default());
    let device = Arc::new(Mutex::new(
        authenticator.open_device_with(host_config()).unwrap(),
    ));
    let calls: usize = thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let device = Arc::clone(&device);
                scope.spawn(move || {
                    ping_loop(t, |data| {
                        // One transaction at a time: the lock is held for the whole call.
                        let mut device = device.lock().unwrap_or_else(PoisonError::into_inner);
                        device.ping(data)
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(calls, THREADS * CALLS);
    let elapsed = started.elapsed();
    println!("one device, {THREADS} threads: {calls} calls in {elapsed:?}");
    assert!(elapsed < BOUND, "took {elapsed:?}");
    // One channel: one INIT, no CHANNEL_BUSY, nothing dropped.
    let stats = authenticator.stats();
    assert_eq!(stats.channels_allocated, 1);
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.dropped_messages, 0);
}

#[test]
fn threads_each_on_their_own_channel_of_one_authenticator() {
    let started = Instant::now();
    // Every connection sees every report (as every opener of a hidraw node does), and a
    // reader that falls behind loses its oldest reports: with 8 threads on a loaded
    // machine a thread may be descheduled while the others exchange hundreds of reports,
    // so the inboxes are made large enough not to lose the answer it is waiting for.
    let authenticator = VirtualAuthenticator::new(Config {
        max_output_reports: 16 * 1024,
        ..Config::default()
    });
    // Every thread opens its device, then all start pinging together, so their
    // multi-report requests interleave at the device (which answers CHANNEL_BUSY to all
    // but one, and the others retry).
    let start = Barrier::new(THREADS);
    let calls: usize = thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let authenticator = authenticator.clone();
                let start = &start;
                scope.spawn(move || {
                    let mut device = authenticator.open_device_with(host_config()).unwrap();
                    start.wait();
                    ping_loop(t, |data| device.ping(data))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(calls, THREADS * CALLS);
    let elapsed = started.elapsed();
    let stats = authenticator.stats();
    println!(
        "{THREADS} channels: {calls} calls in {elapsed:?}, {} CHANNEL_BUSY/other errors answered",
        stats.errors
    );
    assert!(elapsed < BOUND, "took {elapsed:?}");
    assert_eq!(stats.channels_allocated, THREADS as u64);
    assert_eq!(stats.dropped_messages, 0);
}

#[test]
fn a_cancelled_selection_while_other_channels_keep_pinging() {
    let started = Instant::now();
    let authenticator = VirtualAuthenticator::new(
        Config::default()
            .with_touch(TouchPolicy::Never)
            .with_user_presence_timeout(None),
    );
    let token = CancelToken::new();
    let mut selector = authenticator.open_device_with(host_config()).unwrap();
    let pingers: Vec<_> = (0..3)
        .map(|_| authenticator.open_device_with(host_config()).unwrap())
        .collect();

    let (select_result, select_elapsed, pings) = thread::scope(|scope| {
        let select_token = token.clone();
        let select = scope.spawn(move || {
            let call_started = Instant::now();
            let result =
                selector.cbor_with(&[0x0B], CallOptions::default().with_cancel(select_token));
            // The next call on the same device works.
            let after = selector
                .ping(b"after the cancel")
                .map_err(|e| e.to_string());
            (result, call_started.elapsed(), after)
        });
        // Wait until the authenticator is waiting for the touch, then start the pingers:
        // they are answered CHANNEL_BUSY until the selection ends, and retry.
        let wait_started = Instant::now();
        while authenticator
            .with_device(|device| device.waiting_for_touch())
            .is_none()
        {
            assert!(
                wait_started.elapsed() < BOUND,
                "the selection never started"
            );
            thread::sleep(Duration::from_millis(5));
        }
        let handles: Vec<_> = pingers
            .into_iter()
            .enumerate()
            .map(|(t, mut device)| {
                scope.spawn(move || {
                    let mut rng = SplitMix64::new(99 + t as u64);
                    (0..10)
                        .map(|counter| {
                            let data = payload(100 + t, counter, &mut rng);
                            let echo = device.ping(&data).expect("a ping on its own channel");
                            assert!(echo == data, "pinger {t} call {counter}: wrong echo");
                        })
                        .count()
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(300));
        token.cancel();
        let pings: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let (result, elapsed, after) = select.join().unwrap();
        assert_eq!(after.as_deref(), Ok(&b"after the cancel"[..]));
        (result, elapsed, pings)
    });

    // The selection ends with the device's KEEPALIVE_CANCEL status, soon after the cancel.
    let error = select_result.expect_err("a cancelled selection");
    assert!(error.is_cancelled(), "{error:?}");
    assert_eq!(
        error.ctap_error().map(|e| e.code),
        Some(StatusCode::KEEPALIVE_CANCEL)
    );
    assert!(
        select_elapsed < Duration::from_secs(5),
        "{select_elapsed:?}"
    );
    assert_eq!(pings, 30);
    let stats = authenticator.stats();
    // The pingers met the selection: CHANNEL_BUSY was answered and retried through.
    assert!(
        stats.errors > 0,
        "no CHANNEL_BUSY: the pingers never overlapped"
    );
    assert_eq!(stats.selections, 0);
    let elapsed = started.elapsed();
    println!(
        "cancelled selection with 3 pingers: {elapsed:?}, {} errors answered",
        stats.errors
    );
    assert!(elapsed < BOUND);
}
