//! The UDP server, driven by `ctap-device`'s UDP transport.
#![allow(clippy::cast_possible_truncation)] // test payloads are built from small counters

use std::net::UdpSocket;
use std::thread;
use std::time::{Duration, Instant};

use ctap_device::udp::{self, UdpConnection};
use ctap_device::{CallOptions, CancelToken, CtapHidDevice, Error};
use ctap_types::{ChannelId, Command, KeepaliveStatus, StatusCode};
use ctap_virtual::{Config, TouchPolicy, UdpServer};
use ctaphid_frame::{Packetizer, ReportSize};

#[test]
fn udp_serves_every_command() {
    let config = Config::default().with_touch(TouchPolicy::Approve {
        after: Duration::from_millis(250),
    });
    let server = UdpServer::bind("127.0.0.1:0", config)
        .unwrap()
        .spawn()
        .unwrap();
    let mut device = udp::open(server.local_addr()).unwrap();
    for len in [0_usize, 1, 57, 58, 1024, 7609] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 249) as u8).collect();
        assert_eq!(device.ping(&payload).unwrap(), payload, "{len} bytes");
    }
    device.wink().unwrap();
    assert_eq!(device.msg(&[0, 3, 0, 0]).unwrap(), b"U2F_V2\x90\x00");
    let info = device.cbor(&[0x04]).unwrap();
    let info = <ctap2_proto::Info as ctap2_proto::CborMessage>::from_cbor(&info).unwrap();
    assert!(info.versions.iter().any(|v| v == "FIDO_2_1"));

    // Keep-alives are sent on the server's own time, to the channel's peer.
    let mut seen = Vec::new();
    let mut on_keepalive = |status| seen.push(status);
    let started = Instant::now();
    device
        .cbor_with(
            &[0x0B],
            CallOptions::default().with_on_keepalive(&mut on_keepalive),
        )
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(240));
    assert_eq!(seen, [KeepaliveStatus::UPNEEDED]);

    let authenticator = server.stop().unwrap();
    assert_eq!(authenticator.winks(), 1);
    assert_eq!(authenticator.stats().selections, 1);
    // At least the one the client saw. How many go out in 250 ms of real time depends
    // on how often the loaded machine runs the server's thread: the 100 ms cadence is
    // checked in simulated time (sans_io.rs, `selection_sends_upneeded_every_100_ms_until_the_touch`).
    assert!(authenticator.stats().keepalives >= 1);
}

#[test]
fn udp_cancel_and_62_byte_reports() {
    let config = Config::default()
        .with_touch(TouchPolicy::Never)
        .with_report_size(ReportSize::new(62).unwrap());
    let server = UdpServer::bind("127.0.0.1:0", config)
        .unwrap()
        .spawn()
        .unwrap();
    let connection = UdpConnection::connect(server.local_addr())
        .unwrap()
        .with_report_size(ReportSize::new(62).unwrap());
    let mut device = CtapHidDevice::new(connection).unwrap();
    let payload = vec![0x5A; 7351];
    assert_eq!(device.ping(&payload).unwrap(), payload);

    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            token.cancel();
        })
    };
    let error = device
        .cbor_with(&[0x0B], CallOptions::default().with_cancel(token))
        .unwrap_err();
    canceller.join().unwrap();
    assert_eq!(
        error.ctap_error().map(|e| e.code),
        Some(StatusCode::KEEPALIVE_CANCEL),
        "{error:?}"
    );
}

#[test]
fn udp_peers_get_only_their_own_answers() {
    let server = UdpServer::bind("127.0.0.1:0", Config::default())
        .unwrap()
        .spawn()
        .unwrap();
    let addr = server.local_addr();
    let workers: Vec<_> = (0..4)
        .map(|t: u8| {
            thread::spawn(move || {
                let mut device = udp::open(addr).unwrap();
                for call in 0..20_u8 {
                    let payload = vec![t ^ call; 1 + usize::from(call) * 37];
                    assert_eq!(device.ping(&payload).unwrap(), payload);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(server.stop().unwrap().stats().channels_allocated, 4);
}

#[test]
fn udp_answers_errors_to_the_sender() {
    let server = UdpServer::bind("127.0.0.1:0", Config::default())
        .unwrap()
        .spawn()
        .unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server.local_addr()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let report = Packetizer::new(
        ChannelId::BROADCAST,
        Command::PING,
        b"x",
        ReportSize::FULL_SPEED,
    )
    .unwrap()
    .next()
    .unwrap();
    socket.send(&report).unwrap();
    let mut answer = [0u8; 64];
    assert_eq!(socket.recv(&mut answer).unwrap(), 64);
    assert_eq!(
        answer[..8],
        [0xFF, 0xFF, 0xFF, 0xFF, 0xBF, 0x00, 0x01, 0x0B]
    );
    // A short datagram gets INVALID_LEN; one without a header gets nothing.
    let init = Packetizer::new(
        ChannelId::BROADCAST,
        Command::INIT,
        &[7; 8],
        ReportSize::FULL_SPEED,
    )
    .unwrap()
    .next()
    .unwrap();
    socket.send(&init[..20]).unwrap();
    assert_eq!(socket.recv(&mut answer).unwrap(), 64);
    assert_eq!(answer[4..8], [0xBF, 0x00, 0x01, 0x03]);
    socket.send(&[1, 2]).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(socket.recv(&mut answer).is_err());
    drop(server);
    // Dropping the handle stopped the server: nothing answers any more.
    let unanswered = udp::open(socket.peer_addr().unwrap());
    assert!(
        matches!(unanswered, Err(Error::Io(_) | Error::Timeout(_))),
        "{unanswered:?}"
    );
}
