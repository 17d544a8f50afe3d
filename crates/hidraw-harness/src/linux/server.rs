//! One device's server: a `SOCK_SEQPACKET` listener; every connection is one opener of
//! the hidraw node (the shim connects on `open`). Each packet received is one output
//! report (the shim has stripped the report-ID byte); each report the device sends goes
//! to every opener, as the kernel copies each input report to every open hidraw file.
//!
//! A FIDO key can also be unplugged and plugged back in while COMMAND runs (issue 22,
//! so a client's reconnect logic can be tested over USB): connecting to
//! `/dev/.hidraw-harness/hidrawN.replug` (a Unix stream socket) removes the node and
//! its sysfs entries and closes every opener (reads then fail with `EIO`, writes with
//! `ENODEV`, `poll` says `POLLHUP`), power-cycles the authenticator
//! (`Authenticator::power_cycle`: same credentials, PIN and counters; channels, tokens
//! and the three-wrong-PINs block gone), creates the node and sysfs entries again and
//! answers `replugged\n` on the control connection once new opens work.

use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ctap_virtual::{Authenticator, Config};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, Backlog, MsgFlags, SockFlag, SockType, UnixAddr, accept4, bind, listen, recv,
    send, setsockopt, socket, sockopt,
};

use super::spec::{Behaviour, Device, Kind};
use super::sysfs::{self, Plugged, SOCKET_DIR};

/// How often the loop looks at its stop flag when nothing happens.
const STOP_POLL: Duration = Duration::from_millis(50);
/// Send buffer per opener: a whole maximum message (129 reports) with room to spare.
const SEND_BUFFER: usize = 1 << 20;
/// CTAPHID_INIT and CTAPHID_KEEPALIVE as they appear in an init packet (bit 7 set).
const INIT_PACKET: u8 = 0x86;
const KEEPALIVE_PACKET: u8 = 0xBB;

/// A running server; dropping it stops it.
#[derive(Debug)]
pub(crate) struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens at the device's socket path and serves on a new thread.
    pub(crate) fn start(device: &Device, plugged: Plugged) -> std::io::Result<Self> {
        let listener = listen_at(&plugged.socket)?;
        let replug = match device.kind {
            Kind::Fido { .. } => Some(replug_control(device.index)?),
            Kind::Mouse => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let mut state = State {
            authenticator: match device.kind {
                Kind::Fido {
                    report_size, touch, ..
                } => Some(Authenticator::new(
                    Config::default()
                        .with_report_size(report_size)
                        .with_touch(touch),
                )),
                Kind::Mouse => None,
            },
            behaviour: match device.kind {
                Kind::Fido { behaviour, .. } => behaviour,
                Kind::Mouse => Behaviour::Normal,
            },
            name: format!("hidraw{}", device.index),
            device: device.clone(),
            replug,
            listener,
            clients: Vec::new(),
            plugged,
            answered_init: false,
            muted: false,
            unplugged: false,
        };
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(state.name.clone())
            .spawn(move || state.serve(&flag))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn listen_at(path: &Path) -> std::io::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    bind(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    // Any user may connect: the node's permissions are the access check (the shim
    // opens the node first), as for a real hidraw node.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
    listen(&fd, Backlog::new(64)?)?;
    Ok(fd)
}

/// `/dev/.hidraw-harness/hidrawN.replug`: where COMMAND asks for an unplug-and-replug.
fn replug_path(index: u32) -> PathBuf {
    Path::new(SOCKET_DIR).join(format!("hidraw{index}.replug"))
}

fn replug_control(index: u32) -> std::io::Result<UnixListener> {
    let path = replug_path(index);
    let listener = UnixListener::bind(&path)?;
    listener.set_nonblocking(true)?;
    // COMMAND may run as another user (--user).
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
    Ok(listener)
}

struct State {
    authenticator: Option<Authenticator>,
    behaviour: Behaviour,
    name: String,
    /// The device's description, to plug it in again.
    device: Device,
    /// The unplug-and-replug control socket (FIDO keys only).
    replug: Option<UnixListener>,
    listener: OwnedFd,
    clients: Vec<OwnedFd>,
    plugged: Plugged,
    answered_init: bool,
    muted: bool,
    unplugged: bool,
}

impl State {
    fn serve(&mut self, stop: &AtomicBool) {
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Acquire) && !self.unplugged {
            let now = Instant::now();
            if let Some(authenticator) = &mut self.authenticator {
                authenticator.handle_timeout(now);
            }
            self.flush();
            if self.unplugged {
                break;
            }
            let wait = self
                .authenticator
                .as_ref()
                .and_then(Authenticator::poll_timeout)
                .map_or(STOP_POLL, |at| at.saturating_duration_since(now))
                .clamp(Duration::from_millis(1), STOP_POLL);
            let ready = {
                let mut fds: Vec<PollFd<'_>> = std::iter::once(&self.listener)
                    .chain(&self.clients)
                    .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                    .chain(
                        self.replug
                            .iter()
                            .map(|control| PollFd::new(control.as_fd(), PollFlags::POLLIN)),
                    )
                    .collect();
                let millis = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
                match poll(&mut fds, PollTimeout::from(millis)) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(error) => {
                        eprintln!("hidraw-harness: {}: poll failed: {error}", self.name);
                        return;
                    }
                }
                fds.iter()
                    .map(|fd| fd.revents().unwrap_or(PollFlags::empty()))
                    .collect::<Vec<_>>()
            };
            let clients = self.clients.len();
            if ready.first().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
                self.accept();
            }
            if ready
                .get(clients + 1)
                .is_some_and(|r| r.contains(PollFlags::POLLIN))
            {
                self.replug_requests();
                continue;
            }
            // Clients in reverse, so that removing one keeps the others' indices.
            for index in (0..self.clients.len()).rev() {
                let revents = ready.get(index + 1).copied().unwrap_or(PollFlags::empty());
                if revents.is_empty() {
                    continue;
                }
                let Some(client) = self.clients.get(index) else {
                    continue;
                };
                match recv(client.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                    Ok(0) => {
                        self.clients.remove(index);
                    }
                    Ok(len) => {
                        if let Some(authenticator) = &mut self.authenticator {
                            authenticator
                                .handle_report(Instant::now(), buf.get(..len).unwrap_or_default());
                        }
                        self.flush();
                        if self.unplugged {
                            return;
                        }
                    }
                    Err(Errno::EAGAIN | Errno::EINTR) => {}
                    Err(_) => {
                        self.clients.remove(index);
                    }
                }
            }
        }
    }

    fn accept(&mut self) {
        loop {
            match accept4(
                self.listener.as_raw_fd(),
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            ) {
                Ok(raw) => {
                    // SAFETY: accept4 just returned `raw`, a new descriptor nothing else
                    // owns; OwnedFd takes sole ownership and closes it once. (nix 0.30
                    // returns a RawFd here, std has no SOCK_SEQPACKET.)
                    #[allow(unsafe_code)]
                    let client = unsafe { OwnedFd::from_raw_fd(raw) };
                    // A failed resize leaves the default buffer: fewer reports in flight.
                    let _ = setsockopt(&client, sockopt::SndBuf, &SEND_BUFFER);
                    self.clients.push(client);
                }
                Err(Errno::EINTR | Errno::ECONNABORTED) => {}
                Err(_) => return,
            }
        }
    }

    /// Serves every waiting replug request: unplug, power cycle, plug in again, then
    /// `replugged` to the requester.
    fn replug_requests(&mut self) {
        loop {
            let Some(control) = &self.replug else {
                return;
            };
            let mut requester = match control.accept() {
                Ok((requester, _)) => requester,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let answer = match self.replug_once() {
                Ok(()) => "replugged\n".to_owned(),
                Err(error) => {
                    eprintln!("hidraw-harness: {}: replug failed: {error}", self.name);
                    format!("replug failed: {error}\n")
                }
            };
            let _ = requester.set_nonblocking(false);
            let _ = requester.write_all(answer.as_bytes());
        }
    }

    /// The key is pulled out and put back: same authenticator, power cycled.
    fn replug_once(&mut self) -> std::io::Result<()> {
        self.plugged.unplug()?;
        self.clients.clear();
        eprintln!("hidraw-harness: {} unplugged (replug)", self.name);
        if let Some(authenticator) = &mut self.authenticator {
            authenticator.power_cycle(Instant::now());
        }
        let plugged = sysfs::plug(Path::new("/sys"), Path::new("/dev"), &self.device)?;
        self.listener = listen_at(&plugged.socket)?;
        self.plugged = plugged;
        eprintln!("hidraw-harness: {} plugged in again", self.name);
        Ok(())
    }

    /// Sends what the device has to send to every opener, applying the behaviour.
    fn flush(&mut self) {
        let Some(authenticator) = &mut self.authenticator else {
            return;
        };
        while let Some(report) = authenticator.poll_report() {
            let command = report.get(4).copied().unwrap_or(0);
            if self.behaviour == Behaviour::MuteAfterInit {
                let init_packet = command & 0x80 != 0;
                if self.answered_init && init_packet && command != INIT_PACKET {
                    self.muted = true;
                }
                if command == INIT_PACKET {
                    self.answered_init = true;
                }
                if self.muted {
                    continue;
                }
            }
            for client in &self.clients {
                // An opener that does not read loses reports, as a hidraw reader whose
                // buffer is full does; one that went away is dropped on its next poll.
                let _ = send(
                    client.as_raw_fd(),
                    &report,
                    MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                );
            }
            if self.behaviour == Behaviour::UnplugOnKeepalive && command == KEEPALIVE_PACKET {
                self.unplug();
                return;
            }
        }
    }

    /// The key is pulled out: its node and sysfs entries vanish, every opener sees the
    /// end of the stream (POLLHUP), new opens find nothing.
    fn unplug(&mut self) {
        if let Err(error) = self.plugged.unplug() {
            eprintln!("hidraw-harness: {}: unplug: {error}", self.name);
        }
        self.clients.clear();
        self.unplugged = true;
        eprintln!("hidraw-harness: {} unplugged", self.name);
    }
}
