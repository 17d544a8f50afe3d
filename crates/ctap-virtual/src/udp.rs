//! The UDP runtime: one report per datagram, as the authenticator simulators of the
//! field (and python-fido2 test set-ups) do.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ctap_device::udp::ReportSender;
use ctap_types::ChannelId;
use ctaphid_frame::Report;

use crate::{Authenticator, Config};

/// How often a serving loop looks at its stop flag when nothing happens.
const STOP_POLL: Duration = Duration::from_millis(50);
/// Datagrams longer than this are cut (a report is at most 64 bytes; the tail past the
/// report size is ignored anyway).
const MAX_DATAGRAM: usize = 2048;

/// The control datagram that power-cycles a [`UdpServer`]'s authenticator (for
/// `ctap serve`, from another process): these exact 24 bytes, from a loopback address.
/// It is not a report a host sends: reports are the configured report size (64 bytes
/// by default), and even at a 24-byte report size it would be continuation packet 45
/// of channel `0x63746170` with exactly this text.
pub const POWER_CYCLE_REQUEST: &[u8; 24] = b"ctap-virtual power-cycle";
/// The server's answer to [`POWER_CYCLE_REQUEST`], sent back to its sender once the
/// power cycle is done.
pub const POWER_CYCLE_DONE: &[u8; 25] = b"ctap-virtual power-cycled";

/// Asks a running server to power-cycle its authenticator (see
/// [`RunningServer::power_cycle`]): clonable, `Send + Sync`.
#[derive(Clone, Debug, Default)]
pub struct PowerSwitch(Arc<(Mutex<PowerCycles>, Condvar)>);

/// Power cycles asked for and done.
#[derive(Debug, Default)]
struct PowerCycles {
    requested: u64,
    done: u64,
}

impl PowerSwitch {
    /// Asks for a power cycle and waits until the serving loop has done it (at most
    /// `timeout`; the loop looks at least every 50 ms).
    ///
    /// # Errors
    /// [`io::ErrorKind::TimedOut`] when the loop did not do it in time (it is stopped,
    /// or busy).
    pub fn power_cycle(&self, timeout: Duration) -> io::Result<()> {
        let (cycles, done) = &*self.0;
        let mut cycles = cycles.lock().unwrap_or_else(PoisonError::into_inner);
        cycles.requested += 1;
        let ticket = cycles.requested;
        let (cycles, result) = done
            .wait_timeout_while(cycles, timeout, |cycles| cycles.done < ticket)
            .unwrap_or_else(PoisonError::into_inner);
        if result.timed_out() && cycles.done < ticket {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the UDP server did not power-cycle in time (stopped?)",
            ));
        }
        Ok(())
    }

    /// Whether a power cycle was asked for and not done yet.
    fn pending(&self) -> bool {
        let cycles = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        cycles.done < cycles.requested
    }

    /// Marks every power cycle asked for so far as done.
    fn done(&self) {
        let (cycles, done) = &*self.0;
        let mut cycles = cycles.lock().unwrap_or_else(PoisonError::into_inner);
        cycles.done = cycles.requested;
        done.notify_all();
    }
}

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
/// Several hosts can share the server, each seeing only its own channels' traffic (a
/// UDP peer is not a hidraw opener: there is no bus to broadcast on):
/// - a channel belongs to the address its INIT answer went to (the host that allocated
///   it). Datagrams on that channel from any other address are dropped before the
///   authenticator sees them, so another local program cannot cancel, interrupt or
///   take over a host's transaction, nor move where its answers go;
/// - every report on an owned channel (answers, keep-alives, the end of a touch-wait,
///   MSG_TIMEOUT) goes to its owner; other reports (INIT answers on broadcast, errors
///   for unknown channels) go to the address of the datagram they answer;
/// - the owner table only changes when the authenticator allocates a channel, after it
///   validated the INIT; it holds only channels the authenticator still has, so it is
///   bounded by [`Config::max_channels`](crate::Config::max_channels);
/// - channel ids come from the OS random number generator unless
///   [`Config::channel_seed`](crate::Config::channel_seed) is set (tests).
///
/// Power cycles (unplugging the key and plugging it back in:
/// [`Authenticator::power_cycle`]): [`RunningServer::power_cycle`] in the same process;
/// from another process (`ctap serve`), the datagram [`POWER_CYCLE_REQUEST`] from a
/// loopback address, answered [`POWER_CYCLE_DONE`] once done. Every channel is gone
/// after it (hosts INIT again), with its owner. The request is refused (dropped, and
/// logged) from any other address: the three-wrong-PINs block lasts until a power
/// cycle, and a host on the network must not lift it.
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
    power: PowerSwitch,
    /// Channel -> the address its INIT answer went to.
    owners: HashMap<ChannelId, SocketAddr>,
    /// The sender of the last datagram on the broadcast channel: where a timer-driven
    /// answer on broadcast (MSG_TIMEOUT of a multi-report INIT) goes.
    broadcast_peer: Option<SocketAddr>,
    /// Datagrams dropped because they came from another address than their channel's
    /// owner.
    foreign_dropped: u64,
    /// The reports being sent and where each goes (kept between sends: no allocation
    /// per report).
    outgoing: Vec<(SocketAddr, Report)>,
    /// One host's run of reports, back to back, for [`ReportSender::send`].
    batch: Vec<u8>,
    sender: ReportSender,
}

/// A [`UdpServer`] serving on its own thread. Dropping it stops the server and waits
/// for the thread.
pub struct RunningServer {
    local_addr: SocketAddr,
    stop: StopHandle,
    power: PowerSwitch,
    thread: Option<JoinHandle<io::Result<Authenticator>>>,
}

impl UdpServer {
    /// Binds a UDP socket at `addr` (port 0 picks a free port: see
    /// [`local_addr`](Self::local_addr)) for a fresh authenticator.
    ///
    /// # Errors
    /// The OS random number generator failed (the authenticator does not start without
    /// it: [`EntropyError`](crate::EntropyError)), or the socket could not be bound.
    pub fn bind(addr: impl ToSocketAddrs, config: Config) -> io::Result<Self> {
        let device = Authenticator::try_new(config).map_err(io::Error::other)?;
        Ok(Self::with_authenticator(UdpSocket::bind(addr)?, device))
    }

    /// Serves `device` on an already bound socket (whose buffers are enlarged to
    /// [`SOCKET_BUFFER_SIZE`](ctap_device::udp::SOCKET_BUFFER_SIZE) where the OS
    /// allows). Channels `device` had already allocated have no owner: any address may
    /// use them.
    #[must_use]
    pub fn with_authenticator(socket: UdpSocket, device: Authenticator) -> Self {
        ctap_device::udp::enlarge_buffers(&socket);
        Self {
            socket,
            device,
            stop: StopHandle::new(),
            power: PowerSwitch::default(),
            owners: HashMap::new(),
            broadcast_peer: None,
            foreign_dropped: 0,
            outgoing: Vec::new(),
            batch: Vec::new(),
            sender: ReportSender::new(),
        }
    }

    /// Serves until the [`stop_handle`](Self::stop_handle) is stopped, then gives the
    /// authenticator back (to inspect what it did).
    ///
    /// # Errors
    /// The socket failed (errors about a single unreachable peer are ignored).
    pub fn serve(mut self) -> io::Result<Authenticator> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut read_timeout = None;
        while !self.stop.is_stopped() {
            let now = Instant::now();
            if self.power.pending() {
                self.power_cycle(now);
                self.power.done();
            }
            self.device.handle_timeout(now);
            self.send_routed(None);
            let wait = self
                .device
                .poll_timeout()
                .map_or(STOP_POLL, |at| at.saturating_duration_since(now))
                .clamp(Duration::from_millis(1), STOP_POLL);
            if read_timeout != Some(wait) {
                self.socket.set_read_timeout(Some(wait))?;
                read_timeout = Some(wait);
            }
            match self.socket.recv_from(&mut buf) {
                Ok((len, peer)) => {
                    let report = buf.get(..len).unwrap_or_default();
                    self.handle_datagram(Instant::now(), report, peer);
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
        let power = self.power.clone();
        let thread = std::thread::Builder::new()
            .name(format!("ctap-virtual udp {local_addr}"))
            .spawn(move || self.serve())?;
        Ok(RunningServer {
            local_addr,
            stop,
            power,
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

    /// A handle that power-cycles the authenticator while [`serve`](Self::serve) runs.
    #[must_use]
    pub fn power_switch(&self) -> PowerSwitch {
        self.power.clone()
    }

    /// The authenticator (before serving).
    #[must_use]
    pub const fn authenticator(&self) -> &Authenticator {
        &self.device
    }

    /// Datagrams dropped so far because they came from another address than the owner
    /// of their channel.
    #[must_use]
    pub const fn foreign_dropped(&self) -> u64 {
        self.foreign_dropped
    }

    /// One datagram from `peer`: dropped if its channel belongs to another address,
    /// else handed to the authenticator; its answers are sent, and a channel its INIT
    /// allocated is given to `peer`.
    fn handle_datagram(&mut self, now: Instant, report: &[u8], peer: SocketAddr) {
        if report == POWER_CYCLE_REQUEST {
            if peer.ip().is_loopback() {
                self.power_cycle(now);
                let _ = self.socket.send_to(POWER_CYCLE_DONE, peer);
            } else {
                log::warn!("power-cycle request from {peer} refused: loopback only");
            }
            return;
        }
        // Timers first, so that what they send is routed by channel and only this
        // datagram's answers go to its sender.
        self.device.handle_timeout(now);
        self.send_routed(None);
        let cid = report
            .first_chunk::<4>()
            .map(|cid| ChannelId::from_be_bytes(*cid));
        if let Some(owner) = cid.and_then(|cid| self.owners.get(&cid)) {
            if *owner != peer {
                self.foreign_dropped = self.foreign_dropped.saturating_add(1);
                return;
            }
        }
        let broadcast = cid.is_some_and(ChannelId::is_broadcast);
        let before: Option<HashSet<ChannelId>> =
            broadcast.then(|| self.device.channels().collect());
        if broadcast {
            self.broadcast_peer = Some(peer);
        }
        self.device.handle_report(now, report);
        if let Some(before) = before {
            let channels: HashSet<ChannelId> = self.device.channels().collect();
            for &granted in channels.difference(&before) {
                self.owners.insert(granted, peer);
            }
            // Channels the authenticator forgot (least recently used, reused by INIT)
            // lose their owner: the table never outgrows the authenticator's.
            self.owners.retain(|cid, _| channels.contains(cid));
        }
        self.send_routed(Some(peer));
    }

    /// Unplug and replug: the authenticator's power cycle, and its channels' owners
    /// forgotten with the channels.
    fn power_cycle(&mut self, now: Instant) {
        self.device.power_cycle(now);
        self.owners.clear();
        self.broadcast_peer = None;
    }

    /// Sends what the device queued: reports on an owned channel to its owner, others
    /// to `sender` (the datagram they answer) or, with no sender (timers), reports on
    /// broadcast to the last host that sent on broadcast.
    ///
    /// Consecutive reports to one address go out together ([`ReportSender`]: one
    /// segmented send on Linux), so a host blocked on its socket wakes once for a whole
    /// answer, not once per report.
    fn send_routed(&mut self, sender: Option<SocketAddr>) {
        self.outgoing.clear();
        while let Some(report) = self.device.poll_report() {
            let cid = report
                .first_chunk::<4>()
                .map(|cid| ChannelId::from_be_bytes(*cid));
            let owner = cid.and_then(|cid| self.owners.get(&cid).copied());
            let peer = owner.or(sender).or_else(|| {
                cid.is_some_and(ChannelId::is_broadcast)
                    .then_some(self.broadcast_peer)
                    .flatten()
            });
            if let Some(peer) = peer {
                self.outgoing.push((peer, report));
            }
        }
        let size = self.device.config().report_size.get();
        for run in self.outgoing.chunk_by(|(a, _), (b, _)| a == b) {
            let Some(&(peer, _)) = run.first() else {
                continue;
            };
            self.batch.clear();
            for (_, report) in run {
                // Reports are the configured size; a shorter one (never made) would
                // break the run into wrong datagrams, so it is padded.
                self.batch.extend_from_slice(report);
                self.batch
                    .resize(self.batch.len().next_multiple_of(size), 0);
            }
            // A peer that went away is not the server's failure: a report that cannot
            // be sent is skipped, the rest still go.
            let mut start = 0;
            while let Some(rest) = self.batch.get(start..).filter(|rest| !rest.is_empty()) {
                match self.sender.send(&self.socket, rest, size, Some(peer)) {
                    Ok(()) => break,
                    Err(failure) => {
                        log::debug!("UDP to {peer}: {failure}");
                        let skip = failure.sent.saturating_add(1).saturating_mul(size);
                        start = start.saturating_add(skip);
                    }
                }
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

    /// Unplugs the key and plugs it back in ([`Authenticator::power_cycle`]), and
    /// returns once it is done: every host must INIT again; PIN tokens, the key
    /// agreement key and the three-wrong-PINs block are gone; the reset window starts
    /// again.
    ///
    /// # Errors
    /// [`io::ErrorKind::TimedOut`] if the serving loop did not do it within 5 s.
    pub fn power_cycle(&self) -> io::Result<()> {
        self.power.power_cycle(Duration::from_secs(5))
    }

    /// A handle that power-cycles the authenticator from another thread.
    #[must_use]
    pub fn power_switch(&self) -> PowerSwitch {
        self.power.clone()
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
            .field("owners", &self.owners.len())
            .field("foreign_dropped", &self.foreign_dropped)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The power-cycle datagram works from loopback only: from another address it is
    /// dropped (the three-wrong-PINs block must not be lifted from the network) and the
    /// channels stay.
    #[test]
    fn power_cycle_datagram_only_from_loopback() {
        let mut server = UdpServer::bind("127.0.0.1:0", Config::default()).unwrap();
        let now = Instant::now();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut init = [0u8; 64];
        init[..7].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x86, 0x00, 0x08]);
        server.handle_datagram(now, &init, peer);
        assert_eq!(server.device.channels().count(), 1);
        let remote: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        server.handle_datagram(now, POWER_CYCLE_REQUEST, remote);
        assert_eq!(server.device.channels().count(), 1, "refused from {remote}");
        server.handle_datagram(now, POWER_CYCLE_REQUEST, peer);
        assert_eq!(server.device.channels().count(), 0, "done from {peer}");
        assert!(server.owners.is_empty());
    }
}
