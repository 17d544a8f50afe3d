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
/// - A whole request goes out at once ([`write_reports`](HidConnection::write_reports),
///   [`ReportSender`]): on Linux one segmented send, so the device has the whole
///   message when it wakes.
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
    /// How requests go out.
    sender: ReportSender,
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

/// The most reports [`ReportSender`] hands the kernel in one segmented send: Linux
/// took 64 segments at first (`UDP_MAX_SEGMENTS`, 4.18), 128 since; a longest message
/// (129 reports) is three sends.
const MAX_SEGMENTS: usize = 64;

/// [`ReportSender::send`] stopped: `sent` reports went out (the first ones, in order),
/// then the next one failed with `error`; none after it was sent.
#[derive(Debug, thiserror::Error)]
#[error("{sent} reports sent, then the next failed: {error}")]
pub struct SendFailure {
    /// How many reports were sent before the failure.
    pub sent: usize,
    /// Why the next one was not.
    pub error: io::Error,
}

/// Sends a message's reports, one datagram each, as few system calls and wake-ups as
/// the OS allows (for [`UdpConnection`] and `ctap serve`'s answers).
///
/// On Linux the reports go to the kernel together with UDP segmentation
/// (`UDP_SEGMENT`, Linux 4.18+): one `sendmsg` for up to 64 reports, cut by the kernel
/// into one datagram per report, all queued at a local receiver before it can run. Sent
/// one by one, each report wakes a receiver blocked on its socket, which reads it,
/// finds the socket empty and blocks again: measured against `ctap serve`, about 9
/// context switches per makeCredential + getAssertion pair on each side instead of 2
/// (issue 27). The datagrams on the wire are the same either way. Where the kernel
/// refuses segmentation (older kernels, a route that cannot do it) the sender falls
/// back to one `send` per report, for good; elsewhere it always does.
#[derive(Clone, Copy, Debug)]
pub struct ReportSender {
    segmentation: bool,
}

impl Default for ReportSender {
    fn default() -> Self {
        Self::new()
    }
}

impl ReportSender {
    /// A sender that tries segmentation where the OS has it.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            segmentation: cfg!(target_os = "linux"),
        }
    }

    /// `false` once segmentation was refused (or where there is none): reports then go
    /// one `send` each.
    #[must_use]
    pub const fn segmentation(&self) -> bool {
        self.segmentation
    }

    /// Sends `reports` (whole `size`-byte reports, back to back) as one datagram each,
    /// in order, to `to`, or with `None` to the address `socket` is connected to. A
    /// signal that interrupts a send before anything went out is retried (a bounded
    /// number of times).
    ///
    /// # Errors
    /// [`SendFailure`]: how many reports were sent, and the error of the next one. A
    /// `size` of 0 or a length that is not whole reports is
    /// [`InvalidInput`](ErrorKind::InvalidInput), with nothing sent.
    pub fn send(
        &mut self,
        socket: &UdpSocket,
        reports: &[u8],
        size: usize,
        to: Option<SocketAddr>,
    ) -> Result<(), SendFailure> {
        if size == 0 || !reports.len().is_multiple_of(size) {
            let error = io::Error::new(
                ErrorKind::InvalidInput,
                format!("{} bytes are not whole {size}-byte reports", reports.len()),
            );
            return Err(SendFailure { sent: 0, error });
        }
        let mut sent = 0;
        for chunk in reports.chunks(size.saturating_mul(MAX_SEGMENTS)) {
            let count = chunk.len() / size;
            // Set when segmentation was refused: given up for good only once a plain
            // send works (a bad destination fails both ways, and says so).
            let mut refused = None;
            if count > 1 && self.segmentation {
                match retry_interrupted(|| send_segmented(socket, chunk, size, to)) {
                    Ok(()) => {
                        sent += count;
                        continue;
                    }
                    Err(error) if refuses_segmentation(&error) => refused = Some(error),
                    Err(error) => return Err(SendFailure { sent, error }),
                }
            }
            for report in chunk.chunks(size) {
                retry_interrupted(|| send_one(socket, report, to))
                    .map_err(|error| SendFailure { sent, error })?;
                sent += 1;
                if let Some(error) = refused.take() {
                    log::debug!("UDP segmentation refused ({error}): one send per report");
                    self.segmentation = false;
                }
            }
        }
        Ok(())
    }
}

/// Runs `send` again while a signal interrupts it (at most 8 times).
fn retry_interrupted(mut send: impl FnMut() -> io::Result<()>) -> io::Result<()> {
    let mut attempts = 0;
    loop {
        match send() {
            Err(error) if error.kind() == ErrorKind::Interrupted && attempts < 8 => attempts += 1,
            result => return result,
        }
    }
}

/// One datagram.
fn send_one(socket: &UdpSocket, datagram: &[u8], to: Option<SocketAddr>) -> io::Result<()> {
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
    Ok(())
}

/// Several reports in one `sendmsg` with `UDP_SEGMENT` = `size`.
#[cfg(target_os = "linux")]
fn send_segmented(
    socket: &UdpSocket,
    reports: &[u8],
    size: usize,
    to: Option<SocketAddr>,
) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;

    use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrStorage, sendmsg};
    let segment = u16::try_from(size).map_err(|_| io::Error::from(ErrorKind::InvalidInput))?;
    let cmsgs = [ControlMessage::UdpGsoSegments(&segment)];
    let iov = [io::IoSlice::new(reports)];
    let to = to.map(SockaddrStorage::from);
    let len = sendmsg(
        socket.as_raw_fd(),
        &iov,
        &cmsgs,
        MsgFlags::empty(),
        to.as_ref(),
    )
    .map_err(io::Error::from)?;
    if len != reports.len() {
        return Err(io::Error::other(format!(
            "sent {len} of {} bytes of reports",
            reports.len()
        )));
    }
    Ok(())
}

/// No segmentation here: [`ReportSender::new`] never tries it.
#[cfg(not(target_os = "linux"))]
fn send_segmented(
    _socket: &UdpSocket,
    _reports: &[u8],
    _size: usize,
    _to: Option<SocketAddr>,
) -> io::Result<()> {
    Err(io::Error::from(ErrorKind::Unsupported))
}

/// Errors that say the kernel or route cannot segment (so one send per report will do),
/// not that the peer or socket failed.
fn refuses_segmentation(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::InvalidInput | ErrorKind::Unsupported
    ) || matches!(
        error.raw_os_error(),
        // EIO: no checksum offload on the route; ENOPROTOOPT/EOPNOTSUPP: no UDP_SEGMENT.
        Some(5 | 92 | 95)
    )
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
            sender: ReportSender::new(),
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
        let socket = self.socket.as_ref().ok_or(Error::Disconnected)?;
        self.sender
            .send(socket, reports, size, None)
            .map_err(|failure| {
                log::debug!("UDP to {}: {failure}", self.remote);
                failure.error
            })
            .map_err(|error| self.io_error(error))
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
            use std::os::fd::AsRawFd as _;

            use nix::sys::socket::{MsgFlags, recv};
            let fd = self.socket()?.as_raw_fd();
            return match recv(fd, buf, MsgFlags::MSG_DONTWAIT) {
                Ok(len) => Ok(Some(len)),
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => Ok(None),
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
