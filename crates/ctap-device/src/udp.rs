//! The UDP transport: one HID report per datagram, as the software authenticators and
//! simulators of the field (and `ctap serve`) speak it.

use std::fmt;
use std::io::{self, ErrorKind};
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
/// - A read with a zero time-out never waits (on Linux a `MSG_DONTWAIT` receive: one
///   system call; elsewhere the socket is switched to non-blocking for it); other reads
///   wait in the kernel (`SO_RCVTIMEO`), never by sleeping.
/// - A whole request goes out with [`send_datagrams`]
///   ([`write_reports`](HidConnection::write_reports)): on Linux one system call, so
///   the device has the whole message when it wakes.
/// - The socket's buffers hold [`SOCKET_BUFFER_SIZE`] bytes where the OS allows, room
///   for several longest messages (129 datagrams each) in both directions.
pub struct UdpConnection {
    socket: Option<UdpSocket>,
    remote: SocketAddr,
    report_size: ReportSize,
    /// The read time-out last set on the socket, to avoid a system call per read.
    read_timeout: Option<Duration>,
    /// Whether the socket is in non-blocking mode (for zero time-out reads where there
    /// is no `MSG_DONTWAIT`).
    nonblocking: bool,
}

/// The most datagrams [`send_datagrams`] hands the OS in one system call: more than a
/// longest message (129 reports), well under Linux's limit (`UIO_MAXIOV`, 1024).
const SEND_BATCH: usize = 256;

/// [`send_datagrams`] stopped: `sent` datagrams went out (the first ones, in order),
/// then the next one failed with `error`; none after it was sent.
#[derive(Debug, thiserror::Error)]
#[error("{sent} datagrams sent, then the next failed: {error}")]
pub struct SendFailure {
    /// How many datagrams were sent before the failure.
    pub sent: usize,
    /// Why the next one was not.
    pub error: io::Error,
}

/// Sends `datagrams`, in order, on `socket`: to `to`, or with `None` to the address the
/// socket is connected to.
///
/// On Linux they go out in one `sendmmsg(2)` system call (per [`SEND_BATCH`]), so a
/// receiver blocked on the socket wakes once with the whole message queued instead of
/// once per report, and the sender makes one system call instead of one per report.
/// Elsewhere one `send`/`send_to` each. A signal that interrupts the call before
/// anything is sent is retried (a bounded number of times).
///
/// # Errors
/// [`SendFailure`]: how many were sent, and the error of the next one.
pub fn send_datagrams(
    socket: &UdpSocket,
    datagrams: &[&[u8]],
    to: Option<SocketAddr>,
) -> Result<(), SendFailure> {
    let mut sent = 0;
    let mut interrupted = 0;
    while let Some(rest) = datagrams.get(sent..).filter(|rest| !rest.is_empty()) {
        let batch = rest.get(..SEND_BATCH).unwrap_or(rest);
        match send_batch(socket, batch, to) {
            Ok(0) => {
                let error = io::Error::new(ErrorKind::WriteZero, "the OS sent no datagram");
                return Err(SendFailure { sent, error });
            }
            Ok(count) => sent += count,
            Err(error) if error.kind() == ErrorKind::Interrupted && interrupted < 8 => {
                interrupted += 1;
            }
            Err(error) => return Err(SendFailure { sent, error }),
        }
    }
    Ok(())
}

/// Sends the first of `batch` (at least one), as many as the OS takes at once: how many.
#[cfg(target_os = "linux")]
fn send_batch(socket: &UdpSocket, batch: &[&[u8]], to: Option<SocketAddr>) -> io::Result<usize> {
    use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, sendmmsg};
    let to = to.map(SocketAddrAny::from);
    let iovs: Vec<[io::IoSlice<'_>; 1]> = batch.iter().map(|d| [io::IoSlice::new(d)]).collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = batch
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut messages: Vec<MMsgHdr<'_>> = iovs
        .iter()
        .zip(controls.iter_mut())
        .map(|(iov, control)| match &to {
            Some(addr) => MMsgHdr::new_with_addr(addr, iov, control),
            None => MMsgHdr::new(iov, control),
        })
        .collect();
    Ok(sendmmsg(socket, &mut messages, SendFlags::empty())?)
}

/// Sends the first of `batch`: 1 (there is no `sendmmsg` here).
#[cfg(not(target_os = "linux"))]
fn send_batch(socket: &UdpSocket, batch: &[&[u8]], to: Option<SocketAddr>) -> io::Result<usize> {
    let Some(datagram) = batch.first() else {
        return Ok(0);
    };
    let len = match to {
        Some(to) => socket.send_to(datagram, to)?,
        None => socket.send(datagram)?,
    };
    if len != datagram.len() {
        return Err(io::Error::other(format!(
            "sent {len} of a {}-byte datagram",
            datagram.len()
        )));
    }
    Ok(1)
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

    fn write_reports(&mut self, reports: &[u8]) -> Result<(), Error> {
        let size = self.report_size.get();
        if !reports.len().is_multiple_of(size) {
            return Err(Error::InvalidArgument(format!(
                "{} bytes are not whole {size}-byte reports",
                reports.len()
            )));
        }
        let datagrams: Vec<&[u8]> = reports.chunks(size).collect();
        send_datagrams(self.socket()?, &datagrams, None).map_err(|failure| {
            log::debug!("UDP to {}: {failure}", self.remote);
            self.io_error(failure.error)
        })
    }

    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, Error> {
        // A zero `SO_RCVTIMEO` means "block forever" to the OS, and a short one is
        // rounded up to scheduler ticks (a 1 ms wait cost ~8 ms per call): a zero
        // time-out reads without waiting instead.
        let nonblocking = timeout.is_zero();
        #[cfg(target_os = "linux")]
        if nonblocking {
            // One system call (`MSG_DONTWAIT`), not three (non-blocking on, receive,
            // non-blocking off): this read runs before every request.
            return match rustix::net::recv(self.socket()?, buf, rustix::net::RecvFlags::DONTWAIT) {
                Ok((len, _)) => Ok(Some(len)),
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => Ok(None),
                Err(error) => Err(self.io_error(error.into())),
            };
        }
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
