//! Hostile hosts against `UdpServer`: another local program that sends stray
//! continuations, CANCELs, INITs and junk on a victim's channel, or tries to keep the
//! device busy without a channel. The victim keeps every answer; nothing the other host
//! sends changes what the victim receives.
#![allow(clippy::cast_possible_truncation)] // test payloads are built from small counters

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ctap_device::udp;
use ctap_device::{CallOptions, CtapDevice};
use ctap_types::{ChannelId, Command, HidErrorCode, KeepaliveStatus, StatusCode};
use ctap_virtual::{Authenticator, Config, TouchPolicy, UdpServer};
use ctaphid_frame::{Feed, Packetizer, Reassembler, ReassemblerConfig, ReportSize};

/// xorshift64: the attacker's junk, reproducible.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn init_report(cid: ChannelId, command: Command, declared: u16, data: &[u8]) -> Vec<u8> {
    let mut report = vec![0u8; 64];
    report[..4].copy_from_slice(&cid.to_be_bytes());
    report[4] = 0x80 | command.to_u8();
    report[5..7].copy_from_slice(&declared.to_be_bytes());
    report[7..7 + data.len()].copy_from_slice(data);
    report
}

fn continuation(cid: ChannelId, seq: u8) -> Vec<u8> {
    let mut report = vec![0xEE; 64];
    report[..4].copy_from_slice(&cid.to_be_bytes());
    report[4] = seq;
    report
}

/// Another host on the same machine: sends every kind of datagram on `victim`'s
/// channel and junk besides, until stopped; counts the reports it received on the
/// victim's channel (there must be none).
struct Attacker {
    stop: Arc<AtomicBool>,
    stolen: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Attacker {
    fn start(server: SocketAddr, victim: Arc<AtomicU64>, seed: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stolen = Arc::new(AtomicU64::new(0));
        let sent = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, stolen, sent) = (stop.clone(), stolen.clone(), sent.clone());
            thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket.set_nonblocking(true).unwrap();
                let mut rng = seed;
                let mut buf = [0u8; 128];
                let mut round = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let victim = ChannelId::new(victim.load(Ordering::Relaxed) as u32);
                    round += 1;
                    let mut junk = vec![0u8; 1 + (next(&mut rng) % 64) as usize];
                    for byte in &mut junk {
                        *byte = next(&mut rng) as u8;
                    }
                    let datagrams = [
                        continuation(victim, (round % 128) as u8),
                        init_report(victim, Command::CANCEL, 0, &[]),
                        init_report(victim, Command::INIT, 8, &[1, 2, 3, 4, 5, 6, 7, 8]),
                        init_report(victim, Command::PING, 7609, &[0xAA; 57]),
                        init_report(ChannelId::BROADCAST, Command::INIT, 7609, &[0; 57]),
                        init_report(victim, Command::PING, 1, &[1])[..(round % 7) as usize]
                            .to_vec(),
                        junk,
                    ];
                    for datagram in &datagrams {
                        let _ = socket.send_to(datagram, server);
                    }
                    sent.fetch_add(datagrams.len() as u64, Ordering::Relaxed);
                    while let Ok((len, _)) = socket.recv_from(&mut buf) {
                        if len >= 4 && buf[..4] == victim.to_be_bytes() {
                            stolen.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    thread::sleep(Duration::from_micros(500));
                }
            })
        };
        Self {
            stop,
            stolen,
            sent,
            thread: Some(thread),
        }
    }

    /// Stops; returns (datagrams sent, reports of the victim's channel received).
    fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        (
            self.sent.load(Ordering::Relaxed),
            self.stolen.load(Ordering::Relaxed),
        )
    }
}

#[test]
fn a_victim_keeps_every_answer_while_another_host_sends_stray_cancel_and_junk() {
    let config = Config::default().with_touch(TouchPolicy::Approve {
        after: Duration::from_millis(300),
    });
    let server = UdpServer::bind("127.0.0.1:0", config)
        .unwrap()
        .spawn()
        .unwrap();
    let mut device = udp::open(server.local_addr()).unwrap();
    let victim = Arc::new(AtomicU64::new(u64::from(device.channel_id().to_u32())));
    let attacker = Attacker::start(server.local_addr(), victim.clone(), 0x1234_5678_9ABC);
    for round in 0..6_u32 {
        for len in [57_usize, 1024, 7609] {
            let payload: Vec<u8> = (0..len).map(|i| (i as u32 ^ round) as u8).collect();
            assert_eq!(device.ping(&payload).unwrap(), payload, "{len} bytes");
        }
        // A touch-wait: the attacker's CANCELs on our channel must not end it, and its
        // keep-alives must still reach us.
        let mut seen = Vec::new();
        let mut on_keepalive = |status| seen.push(status);
        let answer = device
            .call_with(
                Command::CBOR,
                &[0x0B],
                CallOptions::default().with_on_keepalive(&mut on_keepalive),
            )
            .unwrap();
        assert_eq!(answer, [StatusCode::SUCCESS.to_u8()], "selection approved");
        assert_eq!(seen, [KeepaliveStatus::UPNEEDED]);
        victim.store(u64::from(device.channel_id().to_u32()), Ordering::Relaxed);
    }
    let (sent, stolen) = attacker.stop();
    let authenticator = server.stop().unwrap();
    assert!(sent > 1000, "the attacker sent only {sent} datagrams");
    assert_eq!(
        stolen, 0,
        "reports of the victim's channel reached the attacker"
    );
    assert_eq!(authenticator.stats().selections, 6);
}

#[test]
fn junk_with_random_channel_ids_does_not_cost_the_victim_its_channel() {
    let config = Config::default().with_touch(TouchPolicy::Approve {
        after: Duration::from_millis(200),
    });
    let server = UdpServer::bind("127.0.0.1:0", config)
        .unwrap()
        .spawn()
        .unwrap();
    let mut device = udp::open(server.local_addr()).unwrap();
    let cid = device.channel_id();
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = 99_u64;
    for _ in 0..1000 {
        let mut datagram = [0u8; 64];
        for byte in &mut datagram {
            *byte = next(&mut rng) as u8;
        }
        junk.send_to(&datagram, server.local_addr()).unwrap();
    }
    assert_eq!(device.ping(b"still mine").unwrap(), b"still mine");
    assert_eq!(device.channel_id(), cid, "no re-INIT was needed");
    // The end of a touch-wait is sent on the server's own time: it must still be routed
    // to us after all that junk.
    assert_eq!(device.cbor(&[0x0B]).unwrap(), Vec::<u8>::new());
    drop(server);
}

#[test]
fn channel_ids_are_not_a_fixed_sequence() {
    let first_channel = || {
        let mut device = Authenticator::new(Config::default());
        let now = Instant::now();
        for report in Packetizer::new(
            ChannelId::BROADCAST,
            Command::INIT,
            &[7; 8],
            ReportSize::FULL_SPEED,
        )
        .unwrap()
        {
            device.handle_report(now, &report);
        }
        device.channels().next().unwrap()
    };
    let ids: Vec<ChannelId> = (0..4).map(|_| first_channel()).collect();
    assert!(
        ids.windows(2).any(|pair| pair[0] != pair[1]),
        "four fresh authenticators gave the same first channel: {ids:?}"
    );
    // A seed (tests) makes them reproducible.
    let seeded = |seed| {
        let mut device = Authenticator::new(Config::default().with_channel_seed(seed));
        let report = init_report(ChannelId::BROADCAST, Command::INIT, 8, &[1; 8]);
        device.handle_report(Instant::now(), &report);
        device.channels().next().unwrap()
    };
    assert_eq!(seeded(5), seeded(5));
}

/// The reports the authenticator sent, as (channel, command, payload) messages.
fn drain(device: &mut Authenticator, size: ReportSize) -> Vec<(ChannelId, Command, Vec<u8>)> {
    let mut host = Reassembler::new(vec![0; 7609], ReassemblerConfig::new(size));
    let mut messages = Vec::new();
    while let Some(report) = device.poll_report() {
        if let Ok(Feed::Complete(message)) = host.feed(&report) {
            messages.push((message.cid, message.command, message.payload.to_vec()));
        }
    }
    messages
}

/// Allocates a channel on `device` at `now`.
fn allocate(device: &mut Authenticator, now: Instant, size: ReportSize) -> ChannelId {
    for report in Packetizer::new(ChannelId::BROADCAST, Command::INIT, &[3; 8], size).unwrap() {
        device.handle_report(now, &report);
    }
    let messages = drain(device, size);
    let (_, command, payload) = &messages[0];
    assert_eq!(*command, Command::INIT);
    ChannelId::from_be_bytes(payload[8..12].try_into().unwrap())
}

#[test]
fn an_init_declaring_another_length_than_8_is_refused_at_its_first_report() {
    let size = ReportSize::FULL_SPEED;
    let mut device = Authenticator::new(Config::default().with_channel_seed(1));
    let now = Instant::now();
    let victim = allocate(&mut device, now, size);
    for declared in [0_u16, 7, 9, 64, 7609] {
        device.handle_report(
            now,
            &init_report(ChannelId::BROADCAST, Command::INIT, declared, &[0; 57]),
        );
        assert_eq!(
            drain(&mut device, size),
            [(
                ChannelId::BROADCAST,
                Command::ERROR,
                vec![HidErrorCode::INVALID_LEN.to_u8()]
            )],
            "declared {declared}"
        );
        // The device is not busy: the victim's PING goes through at once.
        device.handle_report(now, &init_report(victim, Command::PING, 2, b"ok"));
        assert_eq!(
            drain(&mut device, size),
            [(victim, Command::PING, b"ok".to_vec())]
        );
    }
}

#[test]
fn re_sent_init_packets_cannot_hold_the_device_past_one_message_time_out() {
    // At 8-byte reports an INIT takes two reports, so a host without a channel can
    // start one and never finish it. Re-sending its first report must not extend the
    // message time-out.
    let size = ReportSize::new(8).unwrap();
    let config = Config::default()
        .with_report_size(size)
        .with_channel_seed(2);
    let timeout = config.message_timeout;
    let mut device = Authenticator::new(config);
    let start = Instant::now();
    let victim = allocate(&mut device, start, size);
    let first = init_report(ChannelId::BROADCAST, Command::INIT, 8, &[9])[..8].to_vec();
    let step = timeout / 4;
    let mut at = start;
    while at < start + timeout {
        device.handle_report(at, &first);
        at += step;
    }
    // One message time-out after the first report the half INIT is gone.
    let after = start + timeout + Duration::from_millis(1);
    device.handle_timeout(after);
    let messages = drain(&mut device, size);
    assert!(
        messages.contains(&(
            ChannelId::BROADCAST,
            Command::ERROR,
            vec![HidErrorCode::MSG_TIMEOUT.to_u8()]
        )),
        "{messages:?}"
    );
    let ping = Packetizer::new(victim, Command::PING, b"hi", size).unwrap();
    for report in ping {
        device.handle_report(after, &report);
    }
    assert_eq!(
        drain(&mut device, size),
        [(victim, Command::PING, b"hi".to_vec())]
    );
}
