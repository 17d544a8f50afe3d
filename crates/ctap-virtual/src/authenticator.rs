//! The sans-IO device state machine: reports in, reports out, time passed in.

use std::collections::VecDeque;
use std::time::Instant;

use ctap_types::{
    CTAPHID_PROTOCOL_VERSION, Capabilities, ChannelId, Command, Ctap2Command, HidErrorCode,
    INIT_NONCE_LEN, InitResponse, KeepaliveStatus, StatusCode,
};
use ctaphid_frame::{
    Feed, FrameError, InitOnBusy, Packet, Packetizer, Reassembler, ReassemblerConfig, Report,
};

use crate::channels::ChannelTable;
use crate::config::Generation;
use crate::ctap2::{Ctap2, Outcome};
use crate::{Config, TouchPolicy, apdu, ctap2};

/// The capabilities of the INIT answer: WINK, LOCK and CBOR; MSG is implemented (U2F
/// VERSION), so NMSG is clear.
pub const CAPABILITIES: Capabilities = Capabilities::from_bits(
    Capabilities::WINK.bits() | Capabilities::LOCK.bits() | Capabilities::CBOR.bits(),
);

/// The longest lock CTAPHID_LOCK takes, in seconds (CTAP 2.1 §11.2.9.2.2).
pub const MAX_LOCK_SECONDS: u8 = 10;

/// Reports kept in the output queue beyond one maximum message, whatever the
/// configuration says (room for a few ERROR and KEEPALIVE packets).
const OUTPUT_SLACK: usize = 16;

/// Counters of what the authenticator did, for tests and for the CLI.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct Stats {
    /// CTAPHID_WINK requests answered.
    pub winks: u64,
    /// authenticatorSelection requests approved by a (simulated) touch.
    pub selections: u64,
    /// authenticatorReset requests approved by a (simulated) touch.
    pub resets: u64,
    /// Channels allocated by INIT on the broadcast channel.
    pub channels_allocated: u64,
    /// KEEPALIVE packets sent.
    pub keepalives: u64,
    /// ERROR packets sent.
    pub errors: u64,
    /// Answers dropped whole because the output queue was full (nobody read).
    pub dropped_messages: u64,
    /// Reports ignored: too short for a header, continuation packets without a message,
    /// packets of other channels while busy that need no answer, CANCEL with nothing to
    /// cancel.
    pub ignored_reports: u64,
}

/// A software CTAPHID authenticator with no I/O and no clock (the quinn-proto pattern):
/// feed it reports with [`handle_report`](Self::handle_report), drive its timers with
/// [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout),
/// and take the reports it sends with [`poll_report`](Self::poll_report). Time is
/// whatever `Instant` the caller passes, so tests run on simulated time.
///
/// Every input is bounded: one message buffer (the report size's maximum message), a
/// channel table of [`Config::max_channels`], an output queue of
/// [`Config::max_output_reports`]. No input from a host can make it panic or grow.
///
/// ```
/// use std::time::Instant;
/// use ctap_types::{ChannelId, Command, InitResponse};
/// use ctap_virtual::{Authenticator, Config};
/// use ctaphid_frame::{Feed, Packetizer, Reassembler, ReassemblerConfig, ReportSize};
///
/// let mut device = Authenticator::new(Config::default());
/// let now = Instant::now();
/// let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
/// for report in Packetizer::new(ChannelId::BROADCAST, Command::INIT, &nonce, ReportSize::FULL_SPEED)? {
///     device.handle_report(now, &report);
/// }
/// let mut host = Reassembler::new(vec![0; 7609], ReassemblerConfig::new(ReportSize::FULL_SPEED));
/// let report = device.poll_report().expect("an INIT answer");
/// let Feed::Complete(message) = host.feed(&report)? else { panic!("one report") };
/// let init = InitResponse::parse(message.payload).expect("17 bytes");
/// assert_eq!(init.nonce, nonce);
/// assert!(init.cid.is_allocatable());
/// assert!(device.poll_report().is_none());
/// # Ok::<(), ctaphid_frame::FrameError>(())
/// ```
pub struct Authenticator {
    /// The one message buffer: messages are received one at a time (a second channel
    /// is answered CHANNEL_BUSY meanwhile).
    reassembler: Reassembler<Vec<u8>>,
    /// When the incomplete message times out (ERROR MSG_TIMEOUT).
    message_deadline: Option<Instant>,
    core: Core,
}

/// Everything but the reassembler, so a complete message (which borrows the
/// reassembler's buffer) can be dispatched without copying it.
struct Core {
    config: Config,
    channels: ChannelTable,
    lock: Option<Lock>,
    transaction: Option<TouchWait>,
    output: VecDeque<Report>,
    max_output: usize,
    stats: Stats,
    /// The CTAP2 authenticator behind CTAPHID_CBOR (and U2F behind CTAPHID_MSG).
    ctap2: Ctap2,
}

/// A CTAPHID_LOCK in force.
#[derive(Clone, Copy, Debug)]
struct Lock {
    cid: ChannelId,
    until: Instant,
}

/// A CBOR command waiting for the user's touch.
#[derive(Clone, Copy, Debug)]
struct TouchWait {
    cid: ChannelId,
    command: Ctap2Command,
    next_keepalive: Option<Instant>,
    /// When the simulated user decides, and what (`true`: touch).
    decision: Option<(Instant, bool)>,
    /// When the wait ends with USER_ACTION_TIMEOUT.
    give_up: Option<Instant>,
}

/// The operating system's random number generator failed, so the authenticator
/// refused to start: every secret it makes (master secret, key agreement keys, PIN
/// tokens) comes from that generator, and there is no clock-seeded fallback (issue 22).
#[derive(Debug, thiserror::Error)]
#[error(
    "the operating system's random number generator failed ({0}): the virtual \
     authenticator does not start without it (set Config::rng_seed only for tests)"
)]
pub struct EntropyError(getrandom::Error);

impl Authenticator {
    /// A fresh authenticator: no channels allocated, nothing pending. Its secrets come
    /// from [`Config::rng_seed`] or, without one, the OS random number generator.
    ///
    /// # Panics
    /// If the OS random number generator fails (a sandbox without `getrandom(2)` or
    /// `/dev/urandom`, say): the authenticator never makes secrets from anything else.
    /// [`try_new`](Self::try_new) returns that failure as an error instead.
    #[must_use]
    pub fn new(config: Config) -> Self {
        match Self::try_new(config) {
            Ok(device) => device,
            Err(error) => panic!("{error}"),
        }
    }

    /// A fresh authenticator, or [`EntropyError`] when [`Config::rng_seed`] is `None` and
    /// the OS random number generator fails (randomness fails closed).
    ///
    /// # Errors
    /// [`EntropyError`] as said.
    pub fn try_new(config: Config) -> Result<Self, EntropyError> {
        Self::with_entropy(config, ctap2::keys::os_seed)
    }

    /// As [`try_new`](Self::try_new) with `os_seed` standing in for the OS generator
    /// (tests make it fail).
    pub(crate) fn with_entropy(
        config: Config,
        os_seed: impl FnOnce() -> Result<zeroize::Zeroizing<[u8; 32]>, getrandom::Error>,
    ) -> Result<Self, EntropyError> {
        let seed = match config.rng_seed {
            Some(seed) => zeroize::Zeroizing::new(seed),
            None => os_seed().map_err(EntropyError)?,
        };
        let size = config.report_size;
        let max_message = size.max_message_len();
        let max_output = config
            .max_output_reports
            .max(size.report_count(max_message) + OUTPUT_SLACK);
        // An init packet (other than INIT) in the middle of a message on the same
        // channel is a sequence error: both are dropped and INVALID_SEQ answered.
        let reassembler_config = ReassemblerConfig::new(size).with_init_on_busy(InitOnBusy::Reject);
        let mut ctap2 = Ctap2::new(*seed);
        ctap2.set_sign_count_block(config.sign_count_block);
        Ok(Self {
            reassembler: Reassembler::new(vec![0; max_message], reassembler_config),
            message_deadline: None,
            core: Core {
                channels: ChannelTable::new(config.max_channels, config.channel_seed),
                config,
                lock: None,
                transaction: None,
                output: VecDeque::with_capacity(max_output.min(4096)),
                max_output,
                stats: Stats::default(),
                ctap2,
            },
        })
    }

    /// The CTAP2 authenticator and the configuration (for `ctap2::api`).
    pub(crate) fn ctap2_parts(&mut self) -> (&mut Ctap2, &Config) {
        (&mut self.core.ctap2, &self.core.config)
    }

    /// The CTAP2 authenticator and the configuration, read only.
    pub(crate) const fn ctap2_ref(&self) -> (&Ctap2, &Config) {
        (&self.core.ctap2, &self.core.config)
    }

    /// Takes one report the host wrote (an output report: a CTAPHID packet, no report
    /// id). Timers due at `now` run first. Answers go to the output queue.
    ///
    /// Reports longer than the report size have their tail ignored; shorter ones are
    /// answered ERROR INVALID_LEN (when they carry a channel id).
    pub fn handle_report(&mut self, now: Instant, report: &[u8]) {
        self.handle_timeout(now);
        let Ok(packet) = Packet::parse(report) else {
            // Not even a channel id and a command: nobody to answer.
            self.core.stats.ignored_reports += 1;
            return;
        };
        let cid = packet.cid();
        let (command, declared) = match packet {
            Packet::Init { command, len, .. } => (Some(command), usize::from(len)),
            Packet::Continuation { .. } => (None, 0),
        };
        // §11.2.9.1.5: CANCEL with nothing being processed, or on a channel other than
        // the active one, is ignored. It never enters the message buffer, so it cannot
        // disturb a message being received.
        if command == Some(Command::CANCEL) {
            self.core.cancel(cid);
            return;
        }
        // §11.2.4: 0 is reserved, broadcast is for INIT only, other ids must have been
        // allocated. A continuation on broadcast may belong to an INIT at small report
        // sizes: the reassembler decides.
        let channel_ok = if cid.is_broadcast() {
            command.is_none_or(|command| command == Command::INIT)
        } else {
            self.core.channels.contains(cid)
        };
        if !channel_ok {
            self.core
                .refuse(cid, command, HidErrorCode::INVALID_CHANNEL);
            return;
        }
        // §11.2.9.1.3: INIT carries exactly an 8-byte nonce. Any other length is refused
        // at its first report, before it can occupy the message buffer: otherwise a host
        // without a channel could keep the device busy for everyone by re-sending an
        // INIT that declares 7609 bytes.
        if command == Some(Command::INIT) && declared != INIT_NONCE_LEN {
            self.core.send_error(cid, HidErrorCode::INVALID_LEN);
            return;
        }
        // §11.2.9.2.2: while a lock holds, every other channel is busy.
        if self.core.lock.is_some_and(|lock| lock.cid != cid) {
            self.core.refuse(cid, command, HidErrorCode::CHANNEL_BUSY);
            return;
        }
        // One transaction at a time: while a touch-wait is pending other channels are
        // busy; on its own channel only INIT (resynchronise) gets through.
        if let Some(wait) = self.core.transaction {
            let resync = command.is_none_or(|command| command == Command::INIT);
            if wait.cid != cid || !resync {
                self.core.refuse(cid, command, HidErrorCode::CHANNEL_BUSY);
                return;
            }
        }
        let was_pending = self.reassembler.pending();
        match self.reassembler.feed(report) {
            Ok(Feed::NeedMore(pending)) => {
                self.core.channels.touch(cid);
                // An INIT restarting the message of its own channel keeps the first
                // deadline: re-sent INIT init packets (on broadcast, at small report
                // sizes) must not hold the device busy past one message time-out.
                let restart = pending.command == Command::INIT
                    && was_pending.is_some_and(|was| was.cid == pending.cid);
                if pending.started && !restart {
                    self.message_deadline = now.checked_add(self.core.config.message_timeout);
                }
            }
            Ok(Feed::Complete(message)) => {
                self.message_deadline = None;
                self.core.channels.touch(cid);
                self.core
                    .dispatch(now, message.cid, message.command, message.payload);
            }
            // A second channel while a message is being received (§11.2.4).
            Ok(Feed::OtherChannel { cid, command }) => {
                self.core.refuse(cid, command, HidErrorCode::CHANNEL_BUSY);
            }
            // A stray continuation (the rest of a message already refused, timed out or
            // answered BUSY): answering it would only queue stale errors for a host
            // that has already been told.
            Err(FrameError::UnexpectedContinuation { .. }) => {
                self.core.stats.ignored_reports += 1;
            }
            Err(error) => {
                if self.reassembler.pending().is_none() {
                    self.message_deadline = None;
                }
                if let Some(cid) = error.cid() {
                    self.core.send_error(cid, error.hid_error_code());
                }
            }
        }
    }

    /// Runs the timers due at `now`: the lock's expiry, the incomplete message's
    /// MSG_TIMEOUT, the touch-wait's keep-alives and end. Calling it early or twice is
    /// harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.core.lock.is_some_and(|lock| lock.until <= now) {
            self.core.lock = None;
        }
        if self
            .message_deadline
            .is_some_and(|deadline| deadline <= now)
        {
            self.message_deadline = None;
            if let Some(pending) = self.reassembler.abort() {
                self.core.send_error(pending.cid, HidErrorCode::MSG_TIMEOUT);
            }
        }
        self.core.poll_touch(now);
    }

    /// The next report the device sends (an input report), oldest first.
    pub fn poll_report(&mut self) -> Option<Report> {
        self.core.output.pop_front()
    }

    /// The simulated user touches the key: a pending touch-wait is approved at `now`.
    /// Returns `false` if nothing was waiting.
    pub fn touch(&mut self, now: Instant) -> bool {
        let Some(wait) = self.core.transaction.as_mut() else {
            return false;
        };
        wait.decision = Some((now, true));
        self.core.poll_touch(now);
        true
    }

    /// The key is unplugged and plugged back in (or, over NFC, leaves the field and
    /// comes back) at `now`: everything volatile is lost, the persistent state (and
    /// [`stats`](Self::stats)) stays. On the CTAPHID side: every channel (hosts must
    /// INIT again and get INVALID_CHANNEL on their old ids), a LOCK, a touch-wait, a
    /// message being received and the reports not yet read. On the CTAP2 side, as
    /// [`power_up`](Self::power_up): pinUvAuthTokens, the key agreement key, the
    /// three-wrong-PINs block (PIN_AUTH_BLOCKED, CTAP 2.1 §6.5.5.5: "until the
    /// authenticator is power cycled"), pending getNextAssertion and enumerations;
    /// and the authenticatorReset window starts again (§6.6: "within 10 seconds of
    /// powering up").
    pub fn power_cycle(&mut self, now: Instant) {
        log::debug!("power cycle: volatile state lost");
        let _ = self.reassembler.abort();
        self.message_deadline = None;
        let core = &mut self.core;
        core.channels = ChannelTable::new(core.config.max_channels, core.config.channel_seed);
        core.lock = None;
        if core.transaction.take().is_some() {
            core.ctap2.abandon();
        }
        core.output.clear();
        core.ctap2.power_up(now);
    }

    /// Changes what the simulated user does from the next touch-wait on.
    pub fn set_touch_policy(&mut self, touch: TouchPolicy) {
        self.core.config.touch = touch;
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if any timer
    /// is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let lock = self.core.lock.map(|lock| lock.until);
        let wait = self.core.transaction.map_or([None; 3], |wait| {
            [
                wait.next_keepalive,
                wait.decision.map(|(at, _)| at),
                wait.give_up,
            ]
        });
        [self.message_deadline, lock]
            .into_iter()
            .chain(wait)
            .flatten()
            .min()
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &Config {
        &self.core.config
    }

    /// What the authenticator has done so far.
    #[must_use]
    pub const fn stats(&self) -> Stats {
        self.core.stats
    }

    /// WINK requests answered (a shortcut for `stats().winks`).
    #[must_use]
    pub const fn winks(&self) -> u64 {
        self.core.stats.winks
    }

    /// The allocated channels, least recently used first.
    pub fn channels(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.core.channels.iter()
    }

    /// The channel holding a CTAPHID_LOCK, as of the last call (expiry is seen by
    /// [`handle_timeout`](Self::handle_timeout)).
    #[must_use]
    pub fn lock_owner(&self) -> Option<ChannelId> {
        self.core.lock.map(|lock| lock.cid)
    }

    /// The channel of the touch-wait in progress, if any.
    #[must_use]
    pub fn waiting_for_touch(&self) -> Option<ChannelId> {
        self.core.transaction.map(|wait| wait.cid)
    }

    /// The most reports the output queue holds (see [`Config::max_output_reports`]).
    #[must_use]
    pub const fn output_capacity(&self) -> usize {
        self.core.max_output
    }

    /// Reports waiting in the output queue.
    #[must_use]
    pub fn queued_reports(&self) -> usize {
        self.core.output.len()
    }
}

impl Core {
    /// Runs one complete message.
    fn dispatch(&mut self, now: Instant, cid: ChannelId, command: Command, payload: &[u8]) {
        log::debug!("request {command} on {cid}, {} bytes", payload.len());
        if cid.is_broadcast() && command != Command::INIT {
            self.send_error(cid, HidErrorCode::INVALID_CHANNEL);
            return;
        }
        match command {
            Command::INIT => self.init(cid, payload),
            // §11.2.9.1.4: echo.
            Command::PING => self.send(cid, Command::PING, payload),
            // §11.2.9.2.1: no data either way.
            Command::WINK if payload.is_empty() => {
                self.stats.winks += 1;
                self.send(cid, Command::WINK, &[]);
            }
            Command::WINK => self.send_error(cid, HidErrorCode::INVALID_LEN),
            Command::LOCK => self.lock(now, cid, payload),
            // §11.2.9.1.1: a U2F APDU in, its response APDU out.
            Command::MSG => {
                // U2F cannot wait for a touch: presence is what the policy would do.
                let present = matches!(self.config.touch, TouchPolicy::Approve { .. });
                let (state, config) = (&mut self.ctap2, &self.config);
                let answer = apdu::respond(payload, |ins, p1, data| {
                    ctap2::u2f_respond(state, config, present, ins, p1, data)
                });
                self.send(cid, Command::MSG, &answer);
            }
            // A U2F-only key (Config::generation) has no CTAPHID_CBOR (§11.2.9.1.6).
            Command::CBOR if self.config.generation == Generation::U2fOnly => {
                self.send_error(cid, HidErrorCode::INVALID_CMD);
            }
            Command::CBOR => self.cbor(now, cid, payload),
            // KEEPALIVE and ERROR go device to host only; everything else (vendor
            // commands included) is unknown here (§11.2.9.1.6 ERR_INVALID_CMD).
            _ => self.send_error(cid, HidErrorCode::INVALID_CMD),
        }
    }

    /// CTAPHID_INIT (§11.2.9.1.3).
    fn init(&mut self, cid: ChannelId, payload: &[u8]) {
        let Some(nonce) = payload
            .first_chunk::<INIT_NONCE_LEN>()
            .filter(|_| payload.len() == INIT_NONCE_LEN)
        else {
            self.send_error(cid, HidErrorCode::INVALID_LEN);
            return;
        };
        let granted = if cid.is_broadcast() {
            let (lock, wait) = (self.lock, self.transaction);
            let in_use = move |id| {
                lock.is_some_and(|lock| lock.cid == id) || wait.is_some_and(|wait| wait.cid == id)
            };
            self.stats.channels_allocated += 1;
            self.channels.allocate(in_use)
        } else {
            // Resynchronisation: the channel's transaction is aborted without an answer
            // (its message, if incomplete, was already dropped by the reassembler).
            if self.transaction.is_some_and(|wait| wait.cid == cid) {
                self.transaction = None;
            }
            cid
        };
        log::debug!("INIT on {cid}: channel {granted}");
        let answer = InitResponse {
            nonce: *nonce,
            cid: granted,
            protocol_version: CTAPHID_PROTOCOL_VERSION,
            device_version: self.config.device_version,
            capabilities: if self.config.generation == Generation::U2fOnly {
                Capabilities::from_bits(CAPABILITIES.bits() & !Capabilities::CBOR.bits())
            } else {
                CAPABILITIES
            },
        };
        self.send(cid, Command::INIT, &answer.to_bytes());
    }

    /// CTAPHID_LOCK (§11.2.9.2.2). Other channels were refused before getting here.
    fn lock(&mut self, now: Instant, cid: ChannelId, payload: &[u8]) {
        let &[seconds] = payload else {
            self.send_error(cid, HidErrorCode::INVALID_LEN);
            return;
        };
        if seconds > MAX_LOCK_SECONDS {
            self.send_error(cid, HidErrorCode::INVALID_PAR);
            return;
        }
        self.lock = if seconds == 0 {
            None
        } else {
            now.checked_add(std::time::Duration::from_secs(u64::from(seconds)))
                .map(|until| Lock { cid, until })
        };
        log::debug!("LOCK: channel {cid} holds the device for {seconds} s");
        self.send(cid, Command::LOCK, &[]);
    }

    /// CTAPHID_CBOR (§11.2.9.1.2): a CTAP2 command byte and its CBOR parameters.
    fn cbor(&mut self, now: Instant, cid: ChannelId, payload: &[u8]) {
        // The request is "CTAP command byte + CBOR data": BCNT 0 breaks the CTAPHID
        // framing of the command, so it is a transport error, not a CTAP2 status.
        let Some((&command, _parameters)) = payload.split_first() else {
            self.send_error(cid, HidErrorCode::INVALID_LEN);
            return;
        };
        match Ctap2Command::new(command) {
            // authenticatorSelection is new in CTAP 2.1: a 2.0 key does not know it.
            Ctap2Command::SELECTION if self.config.generation == Generation::Ctap20 => {
                self.send(cid, Command::CBOR, &[StatusCode::INVALID_COMMAND.to_u8()]);
            }
            command @ Ctap2Command::SELECTION => self.start_touch_wait(now, cid, command),
            // Everything else (unknown commands too) is the CTAP2 authenticator's.
            command => match self
                .ctap2
                .handle(now, &self.config, cid, command, _parameters)
            {
                Outcome::Answer(answer) => self.send(cid, Command::CBOR, &answer),
                Outcome::Touch => self.start_touch_wait(now, cid, command),
            },
        }
    }

    /// Starts waiting for the user's touch: a KEEPALIVE UPNEEDED at once, then every
    /// keep-alive interval until the policy (or [`Authenticator::touch`]) decides.
    fn start_touch_wait(&mut self, now: Instant, cid: ChannelId, command: Ctap2Command) {
        log::debug!(
            "{command} on {cid}: waiting for a touch (policy {:?})",
            self.config.touch
        );
        let decision = match self.config.touch {
            TouchPolicy::Approve { after } => now.checked_add(after).map(|at| (at, true)),
            TouchPolicy::Deny { after } => now.checked_add(after).map(|at| (at, false)),
            TouchPolicy::Never => None,
        };
        self.transaction = Some(TouchWait {
            cid,
            command,
            next_keepalive: Some(now),
            decision,
            give_up: self
                .config
                .user_presence_timeout
                .and_then(|timeout| now.checked_add(timeout)),
        });
        self.poll_touch(now);
    }

    /// Ends the wait if the user decided or the user-presence time-out passed, else
    /// sends the due keep-alive.
    ///
    /// A keep-alive says the answer is not ready yet (CTAP 2.1 §11.2.9.1.7: sent
    /// "while processing"), so none goes out when the wait ends at the same instant:
    /// an answer that is ready at once (the default [`TouchPolicy::IMMEDIATE`]) comes
    /// without a KEEPALIVE in front of it (issue 27).
    fn poll_touch(&mut self, now: Instant) {
        let Some(mut wait) = self.transaction else {
            return;
        };
        let status = match wait.decision {
            Some((at, true)) if at <= now => Some(StatusCode::SUCCESS),
            // §6.9 / §6.6: the user declined.
            Some((at, false)) if at <= now => Some(StatusCode::OPERATION_DENIED),
            _ if wait.give_up.is_some_and(|at| at <= now) => Some(StatusCode::USER_ACTION_TIMEOUT),
            _ => None,
        };
        match status {
            None => {
                if wait.next_keepalive.is_some_and(|at| at <= now) {
                    self.stats.keepalives += 1;
                    self.send(
                        wait.cid,
                        Command::KEEPALIVE,
                        &[KeepaliveStatus::UPNEEDED.to_u8()],
                    );
                    wait.next_keepalive = now.checked_add(self.config.keepalive_interval);
                }
                self.transaction = Some(wait);
            }
            Some(status) => {
                self.transaction = None;
                log::debug!("touch-wait on {} ends: {status}", wait.cid);
                if status != StatusCode::SUCCESS {
                    let status = self.ctap2.touch_refused(wait.command, status);
                    self.send_status(wait.cid, status);
                } else if wait.command == Ctap2Command::SELECTION {
                    self.stats.selections += 1;
                    self.send_status(wait.cid, status);
                } else {
                    if wait.command == Ctap2Command::RESET {
                        self.stats.resets += 1;
                    }
                    let answer = self.ctap2.touched(now, &self.config, wait.cid);
                    self.send(wait.cid, Command::CBOR, &answer);
                }
            }
        }
    }

    /// CTAPHID_CANCEL (§11.2.9.1.5): ends the touch-wait of `cid` with status
    /// KEEPALIVE_CANCEL; ignored otherwise.
    fn cancel(&mut self, cid: ChannelId) {
        match self.transaction {
            Some(wait) if wait.cid == cid => {
                self.transaction = None;
                log::debug!("CANCEL on {cid}: touch-wait ended with KEEPALIVE_CANCEL");
                self.send_status(cid, StatusCode::KEEPALIVE_CANCEL);
            }
            _ => self.stats.ignored_reports += 1,
        }
    }

    /// Answers a refused packet with ERROR `code`, but only an init packet: the
    /// continuations of a refused message would each queue another stale error for a
    /// host that has already been told (and python-fido2 would read them as answers to
    /// its retry).
    fn refuse(&mut self, cid: ChannelId, command: Option<Command>, code: HidErrorCode) {
        if command.is_some() {
            self.send_error(cid, code);
        } else {
            self.stats.ignored_reports += 1;
        }
    }

    fn send_error(&mut self, cid: ChannelId, code: HidErrorCode) {
        log::debug!("answer on {cid}: ERROR {code}");
        self.stats.errors += 1;
        self.send(cid, Command::ERROR, &[code.to_u8()]);
    }

    fn send_status(&mut self, cid: ChannelId, status: StatusCode) {
        self.send(cid, Command::CBOR, &[status.to_u8()]);
    }

    /// Queues a whole message, or drops it whole if the queue cannot take it.
    fn send(&mut self, cid: ChannelId, command: Command, payload: &[u8]) {
        match Packetizer::new(cid, command, payload, self.config.report_size) {
            Ok(packets) if self.output.len() + packets.report_count() <= self.max_output => {
                self.output.extend(packets);
            }
            // Full queue, or (never for these answers) a payload over the maximum.
            _ => {
                log::debug!("output queue full: {command} answer on {cid} dropped");
                self.stats.dropped_messages += 1;
            }
        }
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.core.config)
            .field("channels", &self.core.channels)
            .field("pending_message", &self.reassembler.pending())
            .field("lock", &self.core.lock)
            .field("transaction", &self.core.transaction)
            .field("queued_reports", &self.core.output.len())
            .field("stats", &self.core.stats)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Config;

    /// Sends one message and returns every message the device answered.
    fn exchange(
        device: &mut Authenticator,
        now: Instant,
        cid: ChannelId,
        command: Command,
        payload: &[u8],
    ) -> Vec<(ChannelId, Command, Vec<u8>)> {
        let size = device.config().report_size;
        for report in Packetizer::new(cid, command, payload, size).unwrap() {
            device.handle_report(now, &report);
        }
        let mut host = Reassembler::new(vec![0; 7609], ReassemblerConfig::new(size));
        let mut out = Vec::new();
        while let Some(report) = device.poll_report() {
            if let Ok(Feed::Complete(m)) = host.feed(&report) {
                out.push((m.cid, m.command, m.payload.to_vec()));
            }
        }
        out
    }

    fn open(device: &mut Authenticator, now: Instant) -> ChannelId {
        let answers = exchange(
            device,
            now,
            ChannelId::BROADCAST,
            Command::INIT,
            b"12345678",
        );
        InitResponse::parse(&answers[0].2).unwrap().cid
    }

    /// Issue 22 "Power cycles": unplug and replug loses every channel (INVALID_CHANNEL,
    /// CTAP 2.1 §11.2.4) and a LOCK, and starts the authenticatorReset window again
    /// (§6.6: reset only "within 10 seconds of powering up"), on simulated time.
    #[test]
    fn a_power_cycle_drops_channels_and_locks_and_restarts_the_reset_window() {
        let mut device = Authenticator::new(Config::default().with_rng_seed(Some([3; 32])));
        let start = Instant::now();
        device.power_cycle(start);
        let old = open(&mut device, start);
        assert_eq!(
            exchange(&mut device, start, old, Command::LOCK, &[10]),
            [(old, Command::LOCK, vec![])]
        );
        let later = start + Duration::from_secs(11);
        assert_eq!(
            exchange(&mut device, later, old, Command::CBOR, &[0x07]),
            [(old, Command::CBOR, vec![StatusCode::NOT_ALLOWED.to_u8()])],
            "11 s after power-up"
        );
        device.power_cycle(later);
        assert_eq!(device.lock_owner(), None);
        assert_eq!(
            exchange(&mut device, later, old, Command::PING, b"hi"),
            [(
                old,
                Command::ERROR,
                vec![HidErrorCode::INVALID_CHANNEL.to_u8()]
            )]
        );
        let new = open(&mut device, later);
        assert_eq!(
            exchange(&mut device, later, new, Command::CBOR, &[0x07]),
            [(new, Command::CBOR, vec![StatusCode::SUCCESS.to_u8()])],
            "right after the power cycle"
        );
    }

    /// Issue 22 "Randomness fails closed": when the OS generator fails there is no
    /// authenticator (and so no master secret or PIN token from a clock), and the error
    /// says what failed.
    #[test]
    fn a_failing_os_generator_refuses_to_start() {
        let error =
            Authenticator::with_entropy(Config::default(), || Err(getrandom::Error::UNSUPPORTED))
                .expect_err("no authenticator without OS randomness");
        let text = error.to_string();
        assert!(text.contains("random number generator failed"), "{text}");
        // A seeded configuration (tests) never asks the OS.
        let seeded = Config::default().with_rng_seed(Some([1; 32]));
        assert!(Authenticator::with_entropy(seeded, || Err(getrandom::Error::UNSUPPORTED)).is_ok());
        // Two unseeded authenticators get different secrets from the OS generator.
        let a = Authenticator::try_new(Config::default()).expect("the OS generator works here");
        let b = Authenticator::try_new(Config::default()).expect("the OS generator works here");
        assert_ne!(a.ctap2_ref().0.state.master, b.ctap2_ref().0.state.master);
    }
}
