//! The UDP transport: one HID report per datagram, as the software authenticators and
//! simulators of the field (and `ctap serve`) speak it.

use std::fmt;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use ctaphid_frame::ReportSize;

use crate::{CtapHidDevice, DeviceConfig, Error, HidConnection};

/// Opens the device served at `remote` over UDP (see [`UdpConnection::connect`]) and
/// allocates a channel (INIT), with the default [`DeviceConfig`].
///
/// # Errors
/// As [`UdpConnection::connect`], then as [`CtapHidDevice::new`] (a server that is not
/// running gives an [`Error::Io`] "nothing listens" or a time-out).
pub fn open(remote: SocketAddr) -> Result<CtapHidDevice<UdpConnection>, Error> {
    CtapHidDevice::with_config(UdpConnection::connect(remote)?, DeviceConfig::default())
}

/// A [`HidConnection`] that sends each report as one UDP datagram to a remote address
/// and takes each datagram from it as one report.
///
/// - The socket is *connected*: datagrams from any other address are dropped by the OS.
/// - A datagram shorter than the report size is passed on as a short report: the
///   reassembler rejects it with a framing error naming the sizes. A longer one is cut
///   to the buffer (the tail of a report is ignored anyway).
/// - The report size is the same in both directions, 64 unless set with
///   [`with_report_size`](Self::with_report_size).
/// - An ICMP "port unreachable" (nothing listens at the remote address) surfaces as
///   [`Error::Io`] with kind `ConnectionRefused` and a message naming the address.
/// - A read with a zero time-out never waits (the socket is switched to non-blocking
///   for it); other reads wait in the kernel (`SO_RCVTIMEO`), never by sleeping.
/// - The socket's buffers hold [`SOCKET_BUFFER_SIZE`] bytes where the OS allows, room
///   for several longest messages (129 datagrams each) in both directions.
pub struct UdpConnection {
    socket: Option<UdpSocket>,
    remote: SocketAddr,
    report_size: ReportSize,
    /// The read time-out last set on the socket, to avoid a system call per read.
    read_timeout: Option<Duration>,
    /// Whether the socket is in non-blocking mode (for zero time-out reads).
    nonblocking: bool,
}

/// The receive and send buffer size asked of the OS for every UDP socket of this crate
/// and of `ctap serve`: 1 MiB. A longest message is 129 datagrams of 64 bytes, but the
/// kernel counts each datagram's whole buffer (about 1-2 KiB on Linux), so the common
/// 208 KiB default holds barely one such burst. Linux grants at most
/// `net.core.rmem_max`/`wmem_max` (then doubles it); less is used if that is lower.
pub const SOCKET_BUFFER_SIZE: usize = 1 << 20;

/// Asks the OS for [`SOCKET_BUFFER_SIZE`]-byte receive and send buffers on `socket`.
/// Best effort: a system that refuses keeps its defaults (logged at `debug`).
pub fn enlarge_buffers(socket: &UdpSocket) {
    let socket = socket2::SockRef::from(socket);
    if let Err(error) = socket.set_recv_buffer_size(SOCKET_BUFFER_SIZE) {
        log::debug!("UDP receive buffer stays at the OS default: {error}");
    }
    if let Err(error) = socket.set_send_buffer_size(SOCKET_BUFFER_SIZE) {
        log::debug!("UDP send buffer stays at the OS default: {error}");
    }
}

impl UdpConnection {
    /// Connects to `remote` from an ephemeral port: on the loopback address of the same
    /// family if `remote` is a loopback address (a local simulator), else on the
    /// unspecified address (so the OS picks the route).
    ///
    /// # Errors
    /// [`Error::Io`] if the socket cannot be bound or connected.
    pub fn connect(remote: SocketAddr) -> Result<Self, Error> {
        let ip = match (remote.ip(), remote.ip().is_loopback()) {
            (IpAddr::V4(_), true) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            (IpAddr::V4(_), false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (IpAddr::V6(_), true) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            (IpAddr::V6(_), false) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        Self::connect_from(remote, SocketAddr::new(ip, 0))
    }

    /// Connects to `remote` from `local` (port 0: an ephemeral port).
    ///
    /// # Errors
    /// [`Error::Io`] if the socket cannot be bound or connected.
    pub fn connect_from(remote: SocketAddr, local: SocketAddr) -> Result<Self, Error> {
        let context = |what: &str, error: std::io::Error| {
            Error::Io(std::io::Error::new(
                error.kind(),
                format!("UDP {what} (local {local}, remote {remote}): {error}"),
            ))
        };
        let socket = UdpSocket::bind(local).map_err(|e| context("bind", e))?;
        socket.connect(remote).map_err(|e| context("connect", e))?;
        enlarge_buffers(&socket);
        Ok(Self {
            socket: Some(socket),
            remote,
            report_size: ReportSize::FULL_SPEED,
            read_timeout: None,
            nonblocking: false,
        })
    }

    /// Sets the report size of both directions (default 64).
    #[must_use]
    pub fn with_report_size(mut self, report_size: ReportSize) -> Self {
        self.report_size = report_size;
        self
    }

    /// The remote address.
    #[must_use]
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }

    /// The local address the socket is bound to.
    ///
    /// # Errors
    /// [`Error::Disconnected`] after [`close`](HidConnection::close), else [`Error::Io`].
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.socket()?.local_addr()?)
    }

    fn socket(&self) -> Result<&UdpSocket, Error> {
        self.socket.as_ref().ok_or(Error::Disconnected)
    }

    fn io_error(&self, error: std::io::Error) -> Error {
        if error.kind() == ErrorKind::ConnectionRefused {
            Error::Io(std::io::Error::new(
                ErrorKind::ConnectionRefused,
                format!(
                    "nothing listens at udp {} (ICMP port unreachable): is the authenticator running?",
                    self.remote
                ),
            ))
        } else {
            Error::Io(std::io::Error::new(
                error.kind(),
                format!("UDP to {}: {error}", self.remote),
            ))
        }
    }
}

impl HidConnection for UdpConnection {
    fn write_report(&mut self, report: &[u8]) -> Result<(), Error> {
        // A signal (e.g. Ctrl-C, whose handler cancels the call) interrupts the send
        // before anything is sent: try again, a bounded number of times.
        let mut attempts = 0;
        let sent = loop {
            match self.socket()?.send(report) {
                Err(error) if error.kind() == ErrorKind::Interrupted && attempts < 8 => {
                    attempts += 1;
                }
                result => break result.map_err(|error| self.io_error(error))?,
            }
        };
        if sent != report.len() {
            return Err(Error::Io(std::io::Error::other(format!(
                "UDP to {}: sent {sent} of {} bytes",
                self.remote,
                report.len()
            ))));
        }
        Ok(())
    }

    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, Error> {
        // A zero `SO_RCVTIMEO` means "block forever" to the OS, and a short one is
        // rounded up to scheduler ticks (a 1 ms wait cost ~8 ms per call): a zero
        // time-out reads in non-blocking mode instead.
        let nonblocking = timeout.is_zero();
        if self.nonblocking != nonblocking {
            self.socket()?
                .set_nonblocking(nonblocking)
                .map_err(|error| self.io_error(error))?;
            self.nonblocking = nonblocking;
        }
        if !nonblocking && self.read_timeout != Some(timeout) {
            self.socket()?
                .set_read_timeout(Some(timeout))
                .map_err(|error| self.io_error(error))?;
            self.read_timeout = Some(timeout);
        }
        match self.socket()?.recv(buf) {
            Ok(len) => Ok(Some(len)),
            // A signal interrupted the wait (e.g. Ctrl-C, whose handler cancels the
            // call): no report yet; the caller's loop looks at its cancel token and
            // limits and reads again.
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(self.io_error(error)),
        }
    }

    fn input_report_size(&self) -> ReportSize {
        self.report_size
    }

    fn output_report_size(&self) -> ReportSize {
        self.report_size
    }

    fn close(&mut self) {
        self.socket = None;
    }
}

impl fmt::Debug for UdpConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpConnection")
            .field("remote", &self.remote)
            .field(
                "local",
                &self.socket.as_ref().and_then(|s| s.local_addr().ok()),
            )
            .field("report_size", &self.report_size)
            .finish()
    }
}
