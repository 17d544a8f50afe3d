//! The UDP transport against a `std::net::UdpSocket` acting as the device.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use ctap_device::udp::UdpConnection;
use ctap_device::{CtapDevice, CtapHidDevice, DeviceConfig, Error, HidConnection, ProtocolError};
use ctap_types::{ChannelId, Command};
use ctaphid_frame::{FrameError, Packetizer, ReportSize};

const CID: ChannelId = ChannelId::new(0x1122_3344);

fn config() -> DeviceConfig {
    DeviceConfig::default()
        .with_silence_timeout(Duration::from_millis(500))
        .with_init_timeout(Duration::from_millis(500))
}

fn reports(cid: ChannelId, command: Command, payload: &[u8]) -> Vec<Vec<u8>> {
    Packetizer::new(cid, command, payload, ReportSize::FULL_SPEED)
        .unwrap()
        .map(|r| r.to_vec())
        .collect()
}

/// Receives one datagram, returns it and its sender.
fn recv(device: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 128];
    let (len, from) = device.recv_from(&mut buf).unwrap();
    (buf[..len].to_vec(), from)
}

/// Answers the INIT request that comes next.
fn answer_init(device: &UdpSocket) -> SocketAddr {
    let (init, host) = recv(device);
    assert_eq!(init.len(), 64, "one report per datagram");
    assert_eq!(&init[..7], &[0xFF, 0xFF, 0xFF, 0xFF, 0x86, 0, 8]);
    let mut answer = init[7..15].to_vec();
    answer.extend_from_slice(&CID.to_be_bytes());
    answer.extend_from_slice(&[2, 1, 0, 0, 0x0D]);
    for r in reports(ChannelId::BROADCAST, Command::INIT, &answer) {
        device.send_to(&r, host).unwrap();
    }
    host
}

#[test]
fn calls_over_udp_with_foreign_datagrams_ignored_and_short_datagrams_refused() {
    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    device
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let address = device.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let host = answer_init(&device);
        // PING of 100 bytes: two datagrams in, echoed out. A stranger sends junk to the
        // host first: the connected socket never shows it.
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (first, _) = recv(&device);
        let (second, _) = recv(&device);
        assert_eq!(&first[..7], &[0x11, 0x22, 0x33, 0x44, 0x81, 0, 100]);
        let mut payload = first[7..].to_vec();
        payload.extend_from_slice(&second[5..5 + 100 - 57]);
        stranger
            .send_to(&reports(CID, Command::PING, &[0xEE; 3])[0], host)
            .unwrap();
        for r in reports(CID, Command::PING, &payload) {
            device.send_to(&r, host).unwrap();
        }
        // Next request: answered with a short datagram.
        let _ = recv(&device);
        device
            .send_to(&[0x11, 0x22, 0x33, 0x44, 0x81, 0, 1, 7], host)
            .unwrap();
        // The resync's INIT on our channel, then a WINK.
        let (init, _) = recv(&device);
        assert_eq!(&init[..5], &[0x11, 0x22, 0x33, 0x44, 0x86]);
        let mut answer = init[7..15].to_vec();
        answer.extend_from_slice(&CID.to_be_bytes());
        answer.extend_from_slice(&[2, 1, 0, 0, 0x0D]);
        device
            .send_to(&reports(CID, Command::INIT, &answer)[0], host)
            .unwrap();
        let (wink, _) = recv(&device);
        assert_eq!(wink[4], 0x88);
        device
            .send_to(&reports(CID, Command::WINK, &[])[0], host)
            .unwrap();
    });

    let connection = UdpConnection::connect(address).unwrap();
    assert_eq!(connection.remote_addr(), address);
    assert!(connection.local_addr().unwrap().ip().is_loopback());
    assert_eq!(connection.input_report_size(), ReportSize::FULL_SPEED);
    let mut host = CtapHidDevice::with_config(connection, config()).unwrap();
    assert_eq!(host.channel_id(), CID);
    let payload: Vec<u8> = (0..100).collect();
    assert_eq!(host.call(Command::PING, &payload).unwrap(), payload);
    let error = host.call(Command::PING, &[1]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Protocol(ProtocolError::Framing(FrameError::ShortReport {
                expected: 64,
                got: 8,
                ..
            }))
        ),
        "{error:?}"
    );
    host.wink().unwrap();
    server.join().unwrap();
    host.close();
    assert!(matches!(
        host.call(Command::PING, &[]),
        Err(Error::Disconnected)
    ));
}

#[test]
fn connect_from_binds_the_chosen_local_address() {
    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut connection = UdpConnection::connect_from(device.local_addr().unwrap(), local)
        .unwrap()
        .with_report_size(ReportSize::new(32).unwrap());
    assert_eq!(connection.output_report_size().get(), 32);
    connection.write_report(&[7; 32]).unwrap();
    let (datagram, from) = recv(&device);
    assert_eq!(datagram, [7; 32]);
    assert_eq!(from, connection.local_addr().unwrap());
    // Nothing sent back: a read times out with "no report".
    let mut buf = [0u8; 64];
    assert_eq!(
        connection
            .read_report(&mut buf, Duration::from_millis(20))
            .unwrap(),
        None
    );
}

#[test]
fn nothing_listening_is_a_clear_error() {
    // A port that was just free: nothing listens there.
    let address = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let error =
        CtapHidDevice::with_config(UdpConnection::connect(address).unwrap(), config()).unwrap_err();
    match &error {
        Error::Io(io) => {
            assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
            assert!(error.to_string().contains(&address.to_string()), "{error}");
        }
        // Some systems drop the ICMP answer: then it is a time-out.
        Error::Timeout(_) => {}
        other => panic!("unexpected {other:?}"),
    }
}
