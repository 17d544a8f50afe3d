//! The UDP runtime: one report per datagram, as the authenticator simulators of the
//! field (and python-fido2 test set-ups) do.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ctap_types::ChannelId;

use crate::{Authenticator, Config};

/// How often a serving loop looks at its stop flag when nothing happens.
const STOP_POLL: Duration = Duration::from_millis(50);
/// Datagrams longer than this are cut (a report is at most 64 bytes; the tail past the
/// report size is ignored anyway).
const MAX_DATAGRAM: usize = 2048;
/// Peers remembered for routing timer-driven answers.
const MAX_PEERS: usize = 64;

/// Tells a serving loop to stop: clonable, `Send + Sync`; the loop ends within about
/// 50 ms of [`stop`](Self::stop).
#[derive(Clone, Debug, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// A handle that has not been stopped.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the loop to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// `true` once [`stop`](Self::stop) was called.
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A virtual authenticator served over UDP: each datagram received is one output
/// report; each report the device sends is one datagram.
///
/// Answers go to the address of the datagram they answer. Reports the device sends on
/// its own later (keep-alives, the end of a touch-wait, MSG_TIMEOUT) go to the address
/// that last sent a report on their channel. So several hosts can share the server,
/// each seeing only its own channels' traffic (a UDP peer is not a hidraw opener:
/// there is no bus to broadcast on).
///
/// ```
/// use ctap_virtual::{Config, UdpServer};
///
/// let server = UdpServer::bind("127.0.0.1:0", Config::default())?;
/// let running = server.spawn()?;
/// println!("serving on {}", running.local_addr());
/// let device = running.stop()?;
/// assert_eq!(device.winks(), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpServer {
    socket: UdpSocket,
    device: Authenticator,
    stop: StopHandle,
    /// Channel -> the address that last sent on it, least recently used first.
    peers: VecDeque<(ChannelId, SocketAddr)>,
}

/// A [`UdpServer`] serving on its own thread. Dropping it stops the server and waits
/// for the thread.
pub struct RunningServer {
    local_addr: SocketAddr,
    stop: StopHandle,
    thread: Option<JoinHandle<io::Result<Authenticator>>>,
}

impl UdpServer {
    /// Binds a UDP socket at `addr` (port 0 picks a free port: see
    /// [`local_addr`](Self::local_addr)) for a fresh authenticator.
    ///
    /// # Errors
    /// The socket could not be bound.
    pub fn bind(addr: impl ToSocketAddrs, config: Config) -> io::Result<Self> {
        Ok(Self::with_authenticator(
            UdpSocket::bind(addr)?,
            Authenticator::new(config),
        ))
    }

    /// Serves `device` on an already bound socket.
    #[must_use]
    pub fn with_authenticator(socket: UdpSocket, device: Authenticator) -> Self {
        Self {
            socket,
            device,
            stop: StopHandle::new(),
            peers: VecDeque::new(),
        }
    }

    /// Serves until the [`stop_handle`](Self::stop_handle) is stopped, then gives the
    /// authenticator back (to inspect what it did).
    ///
    /// # Errors
    /// The socket failed (errors about a single unreachable peer are ignored).
    pub fn serve(mut self) -> io::Result<Authenticator> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while !self.stop.is_stopped() {
            let now = Instant::now();
            self.device.handle_timeout(now);
            self.send_routed();
            let wait = self
                .device
                .poll_timeout()
                .map_or(STOP_POLL, |at| at.saturating_duration_since(now))
                .clamp(Duration::from_millis(1), STOP_POLL);
            self.socket.set_read_timeout(Some(wait))?;
            match self.socket.recv_from(&mut buf) {
                Ok((len, peer)) => {
                    let report = buf.get(..len).unwrap_or_default();
                    let now = Instant::now();
                    // Timers first, so that what they send is routed by channel and
                    // only this datagram's answers go to its sender.
                    self.device.handle_timeout(now);
                    self.send_routed();
                    if let Some(cid) = report.first_chunk::<4>() {
                        self.remember(ChannelId::from_be_bytes(*cid), peer);
                    }
                    self.device.handle_report(now, report);
                    while let Some(report) = self.device.poll_report() {
                        // A peer that went away is not the server's failure.
                        let _ = self.socket.send_to(&report, peer);
                    }
                }
                Err(error) if is_transient(&error) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(self.device)
    }

    /// Serves on a new thread.
    ///
    /// # Errors
    /// The socket's address could not be read, or the thread could not be started.
    pub fn spawn(self) -> io::Result<RunningServer> {
        let local_addr = self.local_addr()?;
        let stop = self.stop_handle();
        let thread = std::thread::Builder::new()
            .name(format!("ctap-virtual udp {local_addr}"))
            .spawn(move || self.serve())?;
        Ok(RunningServer {
            local_addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    ///
    /// # Errors
    /// As [`UdpSocket::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// A handle that stops [`serve`](Self::serve).
    #[must_use]
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// The authenticator (before serving).
    #[must_use]
    pub const fn authenticator(&self) -> &Authenticator {
        &self.device
    }

    fn remember(&mut self, cid: ChannelId, peer: SocketAddr) {
        self.peers.retain(|&(known, _)| known != cid);
        if self.peers.len() >= MAX_PEERS {
            self.peers.pop_front();
        }
        self.peers.push_back((cid, peer));
    }

    /// Sends what the device sent on its own to the peer of each report's channel.
    fn send_routed(&mut self) {
        while let Some(report) = self.device.poll_report() {
            let peer = report.first_chunk::<4>().and_then(|cid| {
                let cid = ChannelId::from_be_bytes(*cid);
                self.peers
                    .iter()
                    .find(|&&(known, _)| known == cid)
                    .map(|&(_, peer)| peer)
            });
            if let Some(peer) = peer {
                let _ = self.socket.send_to(&report, peer);
            }
        }
    }
}

/// Errors that end one `recv_from`, not the server: time-outs, signals, and the ICMP
/// "port unreachable" some systems report on the next receive after a send to a peer
/// that has gone.
fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
    )
}

impl RunningServer {
    /// The address the server listens on.
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops the server (e.g. from a Ctrl-C handler).
    #[must_use]
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Stops the server, waits for its thread and gives the authenticator back.
    ///
    /// # Errors
    /// The serving loop's error, or [`io::ErrorKind::Other`] if its thread panicked.
    pub fn stop(mut self) -> io::Result<Authenticator> {
        self.stop.stop();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the UDP server thread panicked")),
            None => Err(io::Error::other("the UDP server was already stopped")),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for UdpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpServer")
            .field("local_addr", &self.socket.local_addr().ok())
            .field("device", &self.device)
            .field("peers", &self.peers.len())
            .finish()
    }
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("local_addr", &self.local_addr)
            .field("stopped", &self.stop.is_stopped())
            .finish_non_exhaustive()
    }
}
