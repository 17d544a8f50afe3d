//! The in-process runtime: one shared authenticator, any number of connections.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ctap_device::{CtapHidDevice, DeviceConfig, Error, HidConnection};
use ctap_types::ChannelId;
use ctaphid_frame::{Report, ReportSize};

use crate::{Authenticator, Config, Stats, TouchPolicy};

/// A virtual authenticator shared by any number of in-process connections, from any
/// number of threads: a handle (cheap to clone) to one [`Authenticator`] behind a
/// mutex.
///
/// **Every connection sees every report the device sends**, as every opener of a
/// Linux hidraw node sees every input report: a host must skip other channels'
/// packets (and other hosts' INIT answers, by their nonce). This is more faithful than
/// routing by channel and exercises the host's skipping. Each connection's inbox holds
/// at most [`Authenticator`]'s output bound; when a connection does not keep up, its
/// oldest reports *of other connections' channels* are dropped first (a slow reader
/// loses others' traffic before its own answers, and never slows the others down).
/// A real hidraw node drops the oldest report whatever its channel; the difference
/// only shows when a host falls behind by a whole inbox, and losing the host's own
/// answer there would make tests of many busy channels fail by scheduling luck.
///
/// There is no background thread: time advances whenever a connection reads or writes
/// (a reader waits on a condition variable until its deadline or the device's next
/// timer, whichever is first, and then runs the timers). Keep-alives therefore flow
/// while a host waits for an answer, which is the only time anyone can see them.
///
/// ```
/// use std::time::Duration;
/// use ctap_device::HidConnection;
/// use ctap_virtual::{Config, VirtualAuthenticator};
///
/// let authenticator = VirtualAuthenticator::new(Config::default());
/// let mut connection = authenticator.connect();
/// // INIT on the broadcast channel, nonce 1..=8, zero padded to 64 bytes.
/// let mut report = [0u8; 64];
/// report[..7].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x86, 0x00, 0x08]);
/// report[7..15].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
/// connection.write_report(&report)?;
/// let mut answer = [0u8; 64];
/// assert_eq!(connection.read_report(&mut answer, Duration::from_secs(1))?, Some(64));
/// assert_eq!(answer[..7], [0xFF, 0xFF, 0xFF, 0xFF, 0x86, 0x00, 17]);
/// assert_eq!(answer[7..15], [1, 2, 3, 4, 5, 6, 7, 8]);
/// # Ok::<(), ctap_device::Error>(())
/// ```
#[derive(Clone)]
pub struct VirtualAuthenticator {
    shared: Arc<Shared>,
}

/// One connection to a [`VirtualAuthenticator`], as one opener of a HID device.
/// Dropping it closes it.
pub struct VirtualConnection {
    shared: Arc<Shared>,
    id: u64,
    report_size: ReportSize,
    /// Set by [`HidConnection::close`]: every call fails with `Disconnected`.
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled whenever the device sent reports or was unplugged.
    changed: Condvar,
}

/// One connection's unread reports.
struct Inbox {
    id: u64,
    reports: VecDeque<Report>,
    /// The channels this connection has sent on, most recent last (bounded): when the
    /// inbox is full, other channels' reports are dropped before these, so a connection
    /// that falls behind while others are busy loses their traffic, not its own answers.
    own_channels: Vec<ChannelId>,
}

/// How many channels an inbox remembers as its own (a host uses one or two at a time).
const OWN_CHANNELS: usize = 8;

impl Inbox {
    fn push(&mut self, report: Report, capacity: usize) {
        if self.reports.len() >= capacity {
            let foreign = self
                .reports
                .iter()
                .position(|queued| !self.own_channels.contains(&report_channel(queued)));
            match foreign {
                Some(index) => {
                    self.reports.remove(index);
                }
                None => {
                    self.reports.pop_front();
                }
            }
        }
        self.reports.push_back(report);
    }

    fn note_own_channel(&mut self, cid: ChannelId) {
        if self.own_channels.last() == Some(&cid) {
            return;
        }
        self.own_channels.retain(|known| *known != cid);
        if self.own_channels.len() >= OWN_CHANNELS {
            self.own_channels.remove(0);
        }
        self.own_channels.push(cid);
    }
}

/// The channel a report is on (its first four bytes).
fn report_channel(report: &[u8]) -> ChannelId {
    report
        .first_chunk::<4>()
        .map_or(ChannelId::RESERVED, |cid| ChannelId::from_be_bytes(*cid))
}

struct State {
    device: Authenticator,
    /// Each open connection's unread reports.
    inboxes: Vec<Inbox>,
    inbox_capacity: usize,
    next_id: u64,
    unplugged: bool,
}

impl VirtualAuthenticator {
    /// A fresh authenticator with no connection.
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self::with_authenticator(Authenticator::new(config))
    }

    /// Serves `device` as it is (e.g. with a state file already loaded or a PIN set),
    /// with no connection yet.
    #[must_use]
    pub fn with_authenticator(device: Authenticator) -> Self {
        let inbox_capacity = device.output_capacity();
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    device,
                    inboxes: Vec::new(),
                    inbox_capacity,
                    next_id: 0,
                    unplugged: false,
                }),
                changed: Condvar::new(),
            }),
        }
    }

    /// Opens a new connection. It sees the reports the device sends from now on.
    /// After [`unplug`](Self::unplug) the connection fails with
    /// [`Error::Disconnected`].
    #[must_use]
    pub fn connect(&self) -> VirtualConnection {
        let mut state = self.shared.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.inboxes.push(Inbox {
            id,
            reports: VecDeque::new(),
            own_channels: Vec::new(),
        });
        VirtualConnection {
            shared: Arc::clone(&self.shared),
            id,
            report_size: state.device.config().report_size,
            closed: false,
        }
    }

    /// Opens a new connection and a [`CtapHidDevice`] on it (INIT: a channel of its
    /// own), with the default [`DeviceConfig`].
    ///
    /// # Errors
    /// As [`CtapHidDevice::new`] (only if the device was unplugged or misbehaves).
    pub fn open_device(&self) -> Result<CtapHidDevice<VirtualConnection>, Error> {
        self.open_device_with(DeviceConfig::default())
    }

    /// As [`open_device`](Self::open_device), with the host's time limits.
    ///
    /// # Errors
    /// As [`CtapHidDevice::with_config`].
    pub fn open_device_with(
        &self,
        config: DeviceConfig,
    ) -> Result<CtapHidDevice<VirtualConnection>, Error> {
        CtapHidDevice::with_config(self.connect(), config)
    }

    /// The simulated user touches the key now. Returns `false` if nothing was waiting
    /// for a touch.
    pub fn touch(&self) -> bool {
        let mut state = self.shared.lock();
        let touched = state.device.touch(Instant::now());
        state.distribute();
        drop(state);
        self.shared.changed.notify_all();
        touched
    }

    /// Changes what the simulated user does from the next touch-wait on.
    pub fn set_touch_policy(&self, touch: TouchPolicy) {
        self.shared.lock().device.set_touch_policy(touch);
    }

    /// Unplugs the device: every connection's calls fail with
    /// [`Error::Disconnected`] from now on (a reader waiting now wakes up).
    pub fn unplug(&self) {
        self.shared.lock().unplugged = true;
        self.shared.changed.notify_all();
    }

    /// Unplugs the key and plugs it back in (also after [`unplug`](Self::unplug)):
    /// every open connection fails with [`Error::Disconnected`] from now on, as an
    /// opened hidraw node does when its device goes away, and new connections
    /// ([`connect`](Self::connect), [`open_device`](Self::open_device)) reach the same
    /// key after its power cycle ([`Authenticator::power_cycle`]: tokens, key agreement
    /// key, channels and the three-wrong-PINs block gone; credentials, PIN and counters
    /// kept; the reset window starts again).
    pub fn power_cycle(&self) {
        let mut state = self.shared.lock();
        state.inboxes.clear();
        state.unplugged = false;
        state.device.power_cycle(Instant::now());
        drop(state);
        self.shared.changed.notify_all();
    }

    /// Runs `f` on the authenticator (to inspect it, or drive it directly), with every
    /// connection held off meanwhile.
    pub fn with_device<R>(&self, f: impl FnOnce(&mut Authenticator) -> R) -> R {
        let mut state = self.shared.lock();
        let result = f(&mut state.device);
        state.distribute();
        drop(state);
        self.shared.changed.notify_all();
        result
    }

    /// What the authenticator has done so far.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.shared.lock().device.stats()
    }

    /// WINK requests answered so far.
    #[must_use]
    pub fn winks(&self) -> u64 {
        self.stats().winks
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> Config {
        *self.shared.lock().device.config()
    }

    /// Connections open now.
    #[must_use]
    pub fn connection_count(&self) -> usize {
        self.shared.lock().inboxes.len()
    }
}

impl Shared {
    /// The state, also after a panic of another thread holding it (the state machine
    /// keeps its invariants between calls, so it stays usable).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Runs the device's timers and hands what it sent to every connection.
    fn run(&mut self, now: Instant) {
        self.device.handle_timeout(now);
        self.distribute();
    }

    /// Moves the device's output into every inbox.
    fn distribute(&mut self) {
        while let Some(report) = self.device.poll_report() {
            for inbox in &mut self.inboxes {
                inbox.push(report, self.inbox_capacity);
            }
        }
    }

    fn inbox(&mut self, id: u64) -> Option<&mut Inbox> {
        self.inboxes.iter_mut().find(|inbox| inbox.id == id)
    }
}

impl HidConnection for VirtualConnection {
    fn write_report(&mut self, report: &[u8]) -> Result<(), Error> {
        let mut state = self.shared.lock();
        let gone = state.unplugged || self.closed;
        let Some(inbox) = state.inbox(self.id).filter(|_| !gone) else {
            // Closed, unplugged, or opened before a power cycle (its inbox is gone).
            return Err(Error::Disconnected);
        };
        inbox.note_own_channel(report_channel(report));
        state.device.handle_report(Instant::now(), report);
        state.distribute();
        drop(state);
        self.shared.changed.notify_all();
        Ok(())
    }

    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, Error> {
        let size = self.report_size.get();
        let Some(out) = buf.get_mut(..size) else {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "read buffer of {} bytes cannot hold a {size}-byte report",
                    buf.len()
                ),
            )));
        };
        // A deadline past the end of time means "wait forever".
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.shared.lock();
        loop {
            if state.unplugged || self.closed || state.inbox(self.id).is_none() {
                return Err(Error::Disconnected);
            }
            let now = Instant::now();
            state.run(now);
            if let Some(report) = state
                .inbox(self.id)
                .and_then(|inbox| inbox.reports.pop_front())
            {
                out.copy_from_slice(report.as_bytes());
                return Ok(Some(size));
            }
            if deadline.is_some_and(|deadline| deadline <= now) {
                return Ok(None);
            }
            // Wake at the read's deadline or the device's next timer, whichever is
            // first; or earlier, when another connection makes the device send.
            let wake = [deadline, state.device.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            state = match wake {
                Some(wake) => {
                    self.shared
                        .changed
                        .wait_timeout(state, wake.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    fn input_report_size(&self) -> ReportSize {
        self.report_size
    }

    fn output_report_size(&self) -> ReportSize {
        self.report_size
    }

    fn close(&mut self) {
        self.closed = true;
        self.detach();
    }
}

impl VirtualConnection {
    /// Stops taking a copy of what the device sends.
    fn detach(&self) {
        let id = self.id;
        self.shared.lock().inboxes.retain(|inbox| inbox.id != id);
    }
}

impl Drop for VirtualConnection {
    fn drop(&mut self) {
        self.detach();
    }
}

impl fmt::Debug for VirtualAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("VirtualAuthenticator")
            .field("device", &state.device)
            .field("connections", &state.inboxes.len())
            .field("unplugged", &state.unplugged)
            .finish()
    }
}

impl fmt::Debug for VirtualConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualConnection")
            .field("id", &self.id)
            .field("report_size", &self.report_size)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(cid: u32, tag: u8) -> Report {
        ctaphid_frame::Packetizer::new(
            ChannelId::new(cid),
            ctap_types::Command::PING,
            &[tag],
            ReportSize::FULL_SPEED,
        )
        .unwrap()
        .next()
        .unwrap()
    }

    #[test]
    fn a_full_inbox_drops_other_channels_before_its_own() {
        let mut inbox = Inbox {
            id: 0,
            reports: VecDeque::new(),
            own_channels: Vec::new(),
        };
        inbox.note_own_channel(ChannelId::new(7));
        inbox.push(report(7, 1), 3);
        inbox.push(report(9, 2), 3);
        inbox.push(report(9, 3), 3);
        inbox.push(report(7, 4), 3); // full: the oldest foreign report (tag 2) goes
        let kept: Vec<(ChannelId, u8)> = inbox
            .reports
            .iter()
            .map(|r| (report_channel(r), r[7]))
            .collect();
        assert_eq!(
            kept,
            [
                (ChannelId::new(7), 1),
                (ChannelId::new(9), 3),
                (ChannelId::new(7), 4)
            ]
        );
        inbox.push(report(7, 5), 3); // then the other foreign one
        inbox.push(report(7, 6), 3); // only own reports left: the oldest goes
        let kept: Vec<u8> = inbox.reports.iter().map(|r| r[7]).collect();
        assert_eq!(kept, [4, 5, 6]);
        assert_eq!(inbox.reports.len(), 3);
    }

    #[test]
    fn own_channels_are_bounded_and_most_recent_last() {
        let mut inbox = Inbox {
            id: 0,
            reports: VecDeque::new(),
            own_channels: Vec::new(),
        };
        for cid in 1..=20 {
            inbox.note_own_channel(ChannelId::new(cid));
            inbox.note_own_channel(ChannelId::new(cid));
        }
        assert_eq!(inbox.own_channels.len(), OWN_CHANNELS);
        assert_eq!(inbox.own_channels.last(), Some(&ChannelId::new(20)));
        assert!(!inbox.own_channels.contains(&ChannelId::new(12)));
    }
}
