//! The UDP transport against a `std::net::UdpSocket` acting as the device.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use ctap_device::udp::{ReportSender, UdpConnection};
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

/// A connection that records how the device hands it reports.
struct Recording {
    inner: UdpConnection,
    single: usize,
    batches: Vec<usize>,
}

impl HidConnection for Recording {
    fn write_report(&mut self, report: &[u8]) -> Result<(), Error> {
        self.single += 1;
        self.inner.write_report(report)
    }
    fn write_reports(&mut self, reports: &[u8]) -> Result<(), Error> {
        self.batches.push(reports.len());
        self.inner.write_reports(reports)
    }
    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, Error> {
        self.inner.read_report(buf, timeout)
    }
    fn input_report_size(&self) -> ReportSize {
        self.inner.input_report_size()
    }
    fn output_report_size(&self) -> ReportSize {
        self.inner.output_report_size()
    }
}

/// Issue 27: a request goes to the connection whole (one `write_reports` of all its
/// reports), so the UDP transport can hand it to the OS in one system call and the
/// device wakes once for it; the datagrams arrive one report each, in order.
#[test]
fn a_request_is_handed_to_the_transport_whole_and_arrives_in_order() {
    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    device
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let address = device.local_addr().unwrap();
    let payload: Vec<u8> = (0..=255).collect();
    let expected = reports(CID, Command::PING, &payload);
    assert_eq!(expected.len(), 5, "57 + 4 x 59 bytes");
    let echo = payload.clone();
    let server = std::thread::spawn(move || {
        let host = answer_init(&device);
        let got: Vec<Vec<u8>> = (0..5).map(|_| recv(&device).0).collect();
        for r in reports(CID, Command::PING, &echo) {
            device.send_to(&r, host).unwrap();
        }
        got
    });
    let connection = Recording {
        inner: UdpConnection::connect(address).unwrap(),
        single: 0,
        batches: Vec::new(),
    };
    let mut host = CtapHidDevice::with_config(connection, config()).unwrap();
    assert_eq!(host.call(Command::PING, &payload).unwrap(), payload);
    assert_eq!(server.join().unwrap(), expected);
    let connection = host.connection();
    assert_eq!(connection.single, 0, "no report written on its own");
    assert_eq!(
        connection.batches,
        [64, 5 * 64],
        "INIT, then the PING's five reports"
    );
}

/// `write_reports` takes whole reports only.
#[test]
fn write_reports_refuses_a_partial_report() {
    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut connection = UdpConnection::connect(device.local_addr().unwrap()).unwrap();
    let error = connection.write_reports(&[0; 100]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("100 bytes are not whole 64-byte reports"),
        "{error}"
    );
}

/// Issue 27: `ReportSender` sends a message's reports as one datagram each, in order,
/// to the address given; on Linux in one segmented send (the kernel took it: the
/// sender still segments afterwards), elsewhere one by one.
#[test]
fn a_report_sender_sends_one_datagram_per_report_in_order() {
    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    device
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let address = device.local_addr().unwrap();
    let host = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sender = ReportSender::new();
    let message: Vec<u8> = (0..70u8).flat_map(|i| [i; 64]).collect();
    sender.send(&host, &message, 64, Some(address)).unwrap();
    for i in 0..70u8 {
        let (datagram, from) = recv(&device);
        assert_eq!(from, host.local_addr().unwrap());
        assert_eq!(datagram, [i; 64], "report {i}");
    }
    assert_eq!(sender.segmentation(), cfg!(target_os = "linux"));
    // Short reports (a 32-byte report size) too.
    sender
        .send(&host, &[[1u8; 32], [2; 32]].concat(), 32, Some(address))
        .unwrap();
    assert_eq!(recv(&device).0, [1; 32]);
    assert_eq!(recv(&device).0, [2; 32]);
}

/// What cannot be sent says how many reports went before it; what is not whole reports
/// is refused with nothing sent.
#[test]
fn a_report_sender_says_what_failed() {
    let host = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sender = ReportSender::new();
    let failure = sender
        .send(&host, &[0; 100], 64, Some(host.local_addr().unwrap()))
        .unwrap_err();
    assert_eq!(failure.sent, 0);
    assert!(
        failure
            .to_string()
            .contains("100 bytes are not whole 64-byte reports"),
        "{failure}"
    );
    // An IPv6 destination from an IPv4 socket: refused by the OS, nothing sent.
    let v6: SocketAddr = "[::1]:9".parse().unwrap();
    let failure = sender.send(&host, &[0; 128], 64, Some(v6)).unwrap_err();
    assert_eq!(failure.sent, 0, "{failure}");
    // A bad destination is not the kernel refusing segmentation: it is kept.
    assert_eq!(sender.segmentation(), cfg!(target_os = "linux"));
}

/// A zero time-out read takes a report already there, says `None` at once when there is
/// none, and leaves the socket blocking: the next read with a time-out waits for the
/// report that comes later.
#[test]
fn a_zero_time_out_read_does_not_leave_the_socket_non_blocking() {
    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut connection = UdpConnection::connect(device.local_addr().unwrap()).unwrap();
    let host = connection.local_addr().unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        connection.read_report(&mut buf, Duration::ZERO).unwrap(),
        None
    );
    device.send_to(&[1; 64], host).unwrap();
    // Loopback delivery is done when `send_to` returns.
    assert_eq!(
        connection.read_report(&mut buf, Duration::ZERO).unwrap(),
        Some(64)
    );
    assert_eq!(
        connection.read_report(&mut buf, Duration::ZERO).unwrap(),
        None
    );
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        device.send_to(&[2; 64], host).unwrap();
    });
    assert_eq!(
        connection
            .read_report(&mut buf, Duration::from_secs(5))
            .unwrap(),
        Some(64),
        "a blocking read after zero time-out reads waits for the report"
    );
    assert_eq!(buf, [2; 64]);
    sender.join().unwrap();
}
