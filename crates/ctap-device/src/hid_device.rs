//! `CtapHidDevice`: the CTAPHID transaction rules over any [`HidConnection`].

use std::fmt;
use std::time::{Duration, Instant};

use ctap_types::{
    Capabilities, ChannelId, Command, CtapError, DeviceVersion, Hex, HidErrorCode, INIT_NONCE_LEN,
    InitResponse, KeepaliveStatus, StatusCode,
};
use ctaphid_frame::{
    Feed, FrameError, MAX_REPORT_SIZE, Packetizer, Reassembler, ReassemblerConfig,
};

use crate::deadline::Deadline;
use crate::{
    CallOptions, CancelToken, CtapDevice, Error, HidConnection, ProtocolError, TimeoutKind,
};

/// How long a resynchronisation drains input at most before its re-INIT.
const DRAIN_LIMIT: Duration = Duration::from_millis(100);
/// The quiet time that ends the drain: a report in flight arrives within it.
const DRAIN_QUIET: Duration = Duration::from_millis(1);
/// The most reports one drain drops (a device may keep talking).
const MAX_DRAINED: usize = 1024;

/// The default [`DeviceConfig::call_timeout`]: 2 minutes.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The time limits of a [`CtapHidDevice`]: a plain struct with `Default` and chainable
/// setters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct DeviceConfig {
    /// How long the device may send nothing at all on our channel (not even a KEEPALIVE)
    /// before a call ends with [`TimeoutKind::Silence`]. Every report of the answer and
    /// every KEEPALIVE starts it again. Default 3 s: a working device sends a KEEPALIVE
    /// every ~100 ms, and some slow devices take over a second before the first one.
    pub silence_timeout: Duration,
    /// How long to wait for the answer to INIT (which has no KEEPALIVEs). Default 2 s.
    pub init_timeout: Duration,
    /// The longest single read: how quickly a [`CancelToken`](crate::CancelToken) is
    /// noticed. Default 50 ms.
    pub poll_interval: Duration,
    /// How long to wait for the device's answer after sending CANCEL before the call
    /// ends with [`Error::Cancelled`]. Default 300 ms (a device answers within one
    /// keep-alive period, ~100 ms).
    pub cancel_grace: Duration,
    /// The pause before re-sending a request the device answered with CHANNEL_BUSY.
    /// Default 100 ms (PROTOCOL.md section 4).
    pub busy_retry_interval: Duration,
    /// How long a call keeps re-sending after CHANNEL_BUSY before it gives up with
    /// [`Error::Hid`]`(CHANNEL_BUSY)`. Default 10 s, the longest LOCK another program can
    /// hold.
    pub busy_retry_limit: Duration,
    /// The overall deadline of every operation that has no time-out of its own: opening
    /// the device (INIT, with its CHANNEL_BUSY retries) and each call whose
    /// [`CallOptions::timeout`] is `None`. It bounds everything the operation does:
    /// resynchronising, re-INIT after INVALID_CHANNEL, CHANNEL_BUSY retries, the CANCEL
    /// grace. Default 2 minutes (room for any touch-wait; real keys give up after
    /// ~30 s). `None` is the explicit opt-in for "no deadline": a device that keeps
    /// sending KEEPALIVEs then holds a call until it is cancelled. A deadline too far
    /// ahead to represent as an `Instant` also means "no deadline".
    pub call_timeout: Option<Duration>,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            silence_timeout: Duration::from_secs(3),
            init_timeout: Duration::from_secs(2),
            poll_interval: Duration::from_millis(50),
            cancel_grace: Duration::from_millis(300),
            busy_retry_interval: Duration::from_millis(100),
            busy_retry_limit: Duration::from_secs(10),
            call_timeout: Some(DEFAULT_CALL_TIMEOUT),
        }
    }
}

impl DeviceConfig {
    /// Sets [`silence_timeout`](Self::silence_timeout).
    #[must_use]
    pub const fn with_silence_timeout(mut self, value: Duration) -> Self {
        self.silence_timeout = value;
        self
    }

    /// Sets [`init_timeout`](Self::init_timeout).
    #[must_use]
    pub const fn with_init_timeout(mut self, value: Duration) -> Self {
        self.init_timeout = value;
        self
    }

    /// Sets [`poll_interval`](Self::poll_interval).
    #[must_use]
    pub const fn with_poll_interval(mut self, value: Duration) -> Self {
        self.poll_interval = value;
        self
    }

    /// Sets [`cancel_grace`](Self::cancel_grace).
    #[must_use]
    pub const fn with_cancel_grace(mut self, value: Duration) -> Self {
        self.cancel_grace = value;
        self
    }

    /// Sets [`busy_retry_interval`](Self::busy_retry_interval).
    #[must_use]
    pub const fn with_busy_retry_interval(mut self, value: Duration) -> Self {
        self.busy_retry_interval = value;
        self
    }

    /// Sets [`busy_retry_limit`](Self::busy_retry_limit).
    #[must_use]
    pub const fn with_busy_retry_limit(mut self, value: Duration) -> Self {
        self.busy_retry_limit = value;
        self
    }

    /// Sets [`call_timeout`](Self::call_timeout) (`None`: no deadline).
    #[must_use]
    pub const fn with_call_timeout(mut self, value: Option<Duration>) -> Self {
        self.call_timeout = value;
        self
    }
}

/// A CTAPHID device over a [`HidConnection`]: python-fido2's `CtapHidDevice`.
///
/// [`new`](Self::new) allocates a channel with INIT; every call then follows the CTAPHID
/// transaction rules (PROTOCOL.md sections 3, 4, 6 and 8):
/// - reports already waiting when a request goes out are dropped first: sent before the
///   request, they cannot be its answer (a duplicated or late answer of an earlier call);
/// - the request goes out back to back; the answer is reassembled from reports on our
///   channel only. Other channels' reports (other programs' traffic) are skipped with a
///   trace line, also between our own continuation packets;
/// - KEEPALIVE is never an answer: it resets the silence limit and reaches the
///   keep-alive callback when its status changes (unknown statuses are passed on too);
/// - an ERROR packet ends the call with [`Error::Hid`]; CHANNEL_BUSY is retried every
///   [`busy_retry_interval`](DeviceConfig::busy_retry_interval) (re-sending the whole
///   request) up to [`busy_retry_limit`](DeviceConfig::busy_retry_limit), while not
///   cancelled; INVALID_CHANNEL (the device forgot our channel, e.g. after it was reset)
///   allocates a new channel and retries once;
/// - a silent device ends the call with [`TimeoutKind::Silence`], never a hang; one
///   that keeps talking (KEEPALIVEs, restarted answers, CHANNEL_BUSY) ends it at its
///   overall deadline ([`TimeoutKind::Deadline`]): [`CallOptions::timeout`], else
///   [`call_timeout`](DeviceConfig::call_timeout). That one deadline bounds everything
///   the call does, the resync and re-INIT included;
/// - other channels' reports too short to be packets are skipped like the rest of their
///   channel's traffic; a short report on our channel is a framing error;
/// - `call(Command::CANCEL, ..)` sends the CANCEL and returns an empty answer at once
///   (CANCEL has no answer of its own);
/// - after a call that failed mid-transaction (time-out, cancel without answer, framing
///   error, unexpected answer, transport error) the next call first drains pending
///   input and re-INITs our channel (falling back to a new channel), which drops every
///   stale report of the old transaction.
///
/// Every report sent and received is logged at `trace` level (target `ctap_device`), in
/// hex.
///
/// # Threads
/// `CtapHidDevice<C>` is `Send` (every [`HidConnection`] is), not shared: one
/// transaction at a time is the CTAPHID rule. To use a device from several threads,
/// put it behind a `Mutex`; to cancel a call another thread is blocked in, give that
/// call a [`CancelToken`](crate::CancelToken) and cancel the token (no lock needed).
pub struct CtapHidDevice<C> {
    connection: C,
    config: DeviceConfig,
    init: InitResponse,
    reassembler: Reassembler<Box<[u8]>>,
    rx: [u8; MAX_REPORT_SIZE],
    /// The reports of the message being sent, back to back (kept between calls: no
    /// allocation per request once it has held the longest one).
    tx: Vec<u8>,
    needs_resync: bool,
    closed: bool,
}

/// How the answer phase of one attempt ended without an error.
enum Answer {
    Payload(Vec<u8>),
    Busy,
}

impl<C: HidConnection> CtapHidDevice<C> {
    /// Opens a CTAPHID device on `connection` with the default [`DeviceConfig`]:
    /// allocates a channel with INIT (a random 8-byte nonce on the broadcast channel),
    /// within [`call_timeout`](DeviceConfig::call_timeout).
    ///
    /// # Errors
    /// [`Error::Timeout`] if no INIT answer with our nonce came in
    /// [`init_timeout`](DeviceConfig::init_timeout) ([`TimeoutKind::Silence`]) or by the
    /// call time-out ([`TimeoutKind::Deadline`]), [`Error::Protocol`] if the answer
    /// is malformed or grants channel 0 or broadcast, [`Error::Hid`] for an ERROR
    /// packet, transport errors.
    pub fn new(connection: C) -> Result<Self, Error> {
        Self::with_config(connection, DeviceConfig::default())
    }

    /// As [`new`](Self::new), with `config`.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_config(connection: C, config: DeviceConfig) -> Result<Self, Error> {
        let input = connection.input_report_size();
        let buffer = vec![0u8; input.max_message_len()].into_boxed_slice();
        let reassembler = Reassembler::new(
            buffer,
            ReassemblerConfig::new(input).with_channel(ChannelId::BROADCAST),
        );
        let mut device = Self {
            connection,
            config,
            init: InitResponse {
                nonce: [0; INIT_NONCE_LEN],
                cid: ChannelId::BROADCAST,
                protocol_version: 0,
                device_version: DeviceVersion {
                    major: 0,
                    minor: 0,
                    build: 0,
                },
                capabilities: Capabilities::NONE,
            },
            reassembler,
            rx: [0; MAX_REPORT_SIZE],
            tx: Vec::new(),
            needs_resync: false,
            closed: false,
        };
        let deadline = Deadline::after(config.call_timeout, Instant::now());
        device.init = device.init_channel(ChannelId::BROADCAST, &deadline)?;
        Ok(device)
    }

    /// Sends a PING with `data` and returns the echo.
    ///
    /// # Errors
    /// As [`CtapDevice::call_with`].
    pub fn ping(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.call(Command::PING, data)
    }

    /// Makes the device blink (WINK). Devices without [`Capabilities::WINK`] answer
    /// INVALID_CMD.
    ///
    /// # Errors
    /// As [`CtapDevice::call_with`].
    pub fn wink(&mut self) -> Result<(), Error> {
        self.call(Command::WINK, &[]).map(drop)
    }

    /// Locks the device to our channel for `seconds` (1..=10); 0 releases the lock.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for more than 10 seconds (nothing is sent), else as
    /// [`CtapDevice::call_with`].
    pub fn lock(&mut self, seconds: u8) -> Result<(), Error> {
        if seconds > 10 {
            return Err(Error::InvalidArgument(format!(
                "lock time must be 0..=10 seconds, got {seconds}"
            )));
        }
        self.call(Command::LOCK, &[seconds]).map(drop)
    }

    /// Sends a CTAP2 request (`command byte | CBOR`) with CTAPHID_CBOR, checks the
    /// status byte of the answer and returns the CBOR after it.
    ///
    /// Unlike [`call`](CtapDevice::call), which returns the status byte as the first
    /// byte (python-fido2's contract), a non-zero status becomes [`Error::Ctap`] (e.g.
    /// `KEEPALIVE_CANCEL` after a cancel).
    ///
    /// # Errors
    /// [`Error::Ctap`] for a non-zero status, [`Error::Protocol`] for an empty answer,
    /// else as [`CtapDevice::call_with`].
    pub fn cbor(&mut self, request: &[u8]) -> Result<Vec<u8>, Error> {
        self.cbor_with(request, CallOptions::default())
    }

    /// As [`cbor`](Self::cbor), with call options (cancel token, keep-alive callback,
    /// time-outs).
    ///
    /// # Errors
    /// As [`cbor`](Self::cbor).
    pub fn cbor_with(
        &mut self,
        request: &[u8],
        options: CallOptions<'_>,
    ) -> Result<Vec<u8>, Error> {
        let mut answer = self.call_with(Command::CBOR, request, options)?;
        let Some(&status) = answer.first() else {
            return Err(ProtocolError::EmptyStatus(Command::CBOR).into());
        };
        CtapError::check(StatusCode::new(status))?;
        answer.remove(0);
        Ok(answer)
    }

    /// Sends a CTAP1/U2F APDU with CTAPHID_MSG and returns the raw response APDU (data
    /// and status word, unchecked).
    ///
    /// # Errors
    /// As [`CtapDevice::call_with`].
    pub fn msg(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        self.call(Command::MSG, apdu)
    }

    /// The connection, e.g. to inspect a test double.
    pub fn connection_mut(&mut self) -> &mut C {
        &mut self.connection
    }

    /// Gives the connection back (without closing it).
    pub fn into_connection(self) -> C {
        self.connection
    }

    /// The channel the device allocated to us.
    #[must_use]
    pub fn channel_id(&self) -> ChannelId {
        self.init.cid
    }

    /// The device's answer to our (latest) INIT.
    #[must_use]
    pub fn init_response(&self) -> &InitResponse {
        &self.init
    }

    /// The device version from the INIT answer (major, minor, build).
    #[must_use]
    pub fn device_version(&self) -> DeviceVersion {
        self.init.device_version
    }

    /// The CTAPHID protocol version from the INIT answer (2 for CTAP 2.x devices).
    #[must_use]
    pub fn protocol_version(&self) -> u8 {
        self.init.protocol_version
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// The connection.
    #[must_use]
    pub fn connection(&self) -> &C {
        &self.connection
    }

    /// `true` if the next call will first resynchronise the channel (the last call
    /// failed mid-transaction).
    #[must_use]
    pub fn needs_resync(&self) -> bool {
        self.needs_resync
    }

    /// One call, with the INVALID_CHANNEL recovery and the resync bookkeeping, all
    /// within one deadline (the call's time-out, else the device's call time-out).
    fn call_checked(
        &mut self,
        command: Command,
        data: &[u8],
        options: &mut CallOptions<'_>,
    ) -> Result<Vec<u8>, Error> {
        if self.closed {
            return Err(Error::Disconnected);
        }
        // Refuse an oversized request before touching the device.
        Packetizer::new(
            self.init.cid,
            command,
            data,
            self.connection.output_report_size(),
        )
        .map_err(Error::InvalidRequest)?;
        if options
            .cancel
            .as_ref()
            .is_some_and(CancelToken::is_cancelled)
        {
            return Err(Error::Cancelled);
        }
        let deadline =
            Deadline::after(options.timeout.or(self.config.call_timeout), Instant::now());
        let mut result = self
            .prepare(&deadline)
            .and_then(|()| self.transact(command, data, options, &deadline));
        if matches!(result, Err(Error::Hid(HidErrorCode::INVALID_CHANNEL))) {
            // The device no longer knows our channel (it was reset or re-plugged behind
            // the same connection): allocate a new one and try once more.
            log::debug!(
                "device answered INVALID_CHANNEL on {}: allocating a new channel",
                self.init.cid
            );
            match self.init_channel(ChannelId::BROADCAST, &deadline) {
                Ok(init) => {
                    self.init = init;
                    result = self.transact(command, data, options, &deadline);
                }
                Err(error) => result = Err(error),
            }
        }
        if let Err(error) = &result {
            if leaves_stale_state(error) {
                self.needs_resync = true;
            }
        }
        result
    }

    /// Gets the channel ready for a request: resynchronises it after a failed call,
    /// else drops what is already waiting.
    fn prepare(&mut self, deadline: &Deadline) -> Result<(), Error> {
        if self.needs_resync {
            self.resync(deadline)
        } else {
            // Whatever is already waiting was sent before our request, so it cannot be
            // its answer: a duplicated or late answer of the previous call would
            // otherwise become this call's answer, and every later call would be off
            // by one (found by the fault matrix, tests/fault_matrix.rs of `ctap`).
            self.discard_pending()
        }
    }

    /// Sends the request (again after CHANNEL_BUSY) and reads its answer.
    fn transact(
        &mut self,
        command: Command,
        data: &[u8],
        options: &mut CallOptions<'_>,
        deadline: &Deadline,
    ) -> Result<Vec<u8>, Error> {
        let cid = self.init.cid;
        let mut busy_since: Option<Instant> = None;
        let mut last_status: Option<KeepaliveStatus> = None;
        loop {
            self.send(cid, command, data)?;
            if command == Command::CANCEL {
                // CANCEL has no answer of its own (CTAP 2.1 §11.2.9.1.5).
                return Ok(Vec::new());
            }
            match self.receive(command, options, deadline, &mut last_status)? {
                Answer::Payload(payload) => return Ok(payload),
                Answer::Busy => {
                    let since = *busy_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.config.busy_retry_limit {
                        return Err(Error::Hid(HidErrorCode::CHANNEL_BUSY));
                    }
                    log::debug!(
                        "{cid}: CHANNEL_BUSY, re-sending in {:?}",
                        self.config.busy_retry_interval
                    );
                    self.pause(
                        self.config.busy_retry_interval,
                        options.cancel.as_ref(),
                        deadline,
                    )?;
                }
            }
        }
    }

    /// Waits `duration` in poll-sized steps, ending early if the call is cancelled or its
    /// deadline passes.
    fn pause(
        &self,
        duration: Duration,
        cancel: Option<&CancelToken>,
        deadline: &Deadline,
    ) -> Result<(), Error> {
        let until = Instant::now().checked_add(duration);
        loop {
            if cancel.is_some_and(CancelToken::is_cancelled) {
                return Err(Error::Cancelled);
            }
            let now = Instant::now();
            deadline.check(now)?;
            let left = until.map_or(Duration::MAX, |until| until.saturating_duration_since(now));
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(deadline.cap(now, left.min(self.config.poll_interval)));
        }
    }

    /// Reads the answer to `command` on our channel.
    fn receive(
        &mut self,
        command: Command,
        options: &mut CallOptions<'_>,
        deadline: &Deadline,
        last_status: &mut Option<KeepaliveStatus>,
    ) -> Result<Answer, Error> {
        let cid = self.init.cid;
        let silence = options
            .silence_timeout
            .unwrap_or(self.config.silence_timeout);
        let mut last_report = Instant::now();
        let mut cancel_sent: Option<Instant> = None;
        self.reassembler.abort();
        self.reassembler.set_channel(Some(cid));
        loop {
            let now = Instant::now();
            if cancel_sent.is_none()
                && options
                    .cancel
                    .as_ref()
                    .is_some_and(CancelToken::is_cancelled)
            {
                log::debug!("{cid}: cancelled, sending CANCEL");
                self.send(cid, Command::CANCEL, &[])?;
                cancel_sent = Some(now);
            }
            let mut wait = self.config.poll_interval;
            if let Some(sent) = cancel_sent {
                let waited = now.saturating_duration_since(sent);
                if waited >= self.config.cancel_grace {
                    log::debug!("{cid}: no answer to CANCEL in {waited:?}");
                    return Err(Error::Cancelled);
                }
                wait = wait.min(self.config.cancel_grace - waited);
            }
            let quiet = now.saturating_duration_since(last_report);
            if quiet >= silence {
                self.cancel_quietly(cid, cancel_sent);
                return Err(Error::Timeout(TimeoutKind::Silence(silence)));
            }
            wait = wait.min(silence - quiet);
            if let Err(error) = deadline.check(now) {
                self.cancel_quietly(cid, cancel_sent);
                return Err(error);
            }
            let Some(len) = self.read(deadline.cap(now, wait))? else {
                continue;
            };
            let report = self.rx.get(..len).unwrap_or_default();
            match self.reassembler.feed(report) {
                Ok(Feed::OtherChannel {
                    cid: other,
                    command: other_command,
                }) => {
                    log::trace!("skipped a report of channel {other} ({other_command:?})");
                }
                Ok(Feed::NeedMore(_)) => last_report = Instant::now(),
                Ok(Feed::Complete(message)) => {
                    last_report = Instant::now();
                    match message.command {
                        Command::KEEPALIVE => {
                            // A KEEPALIVE must say what the device is doing (CTAP 2.1
                            // §11.2.9.1.7): one without its status byte is a framing
                            // violation, like an ERROR without its code.
                            let Some(status) = message.keepalive_status() else {
                                return Err(ProtocolError::EmptyStatus(Command::KEEPALIVE).into());
                            };
                            if *last_status != Some(status) {
                                *last_status = Some(status);
                                if let Some(callback) = options.on_keepalive.as_mut() {
                                    callback(status);
                                }
                            }
                        }
                        Command::ERROR => {
                            let Some(code) = message.error_code() else {
                                return Err(ProtocolError::EmptyStatus(Command::ERROR).into());
                            };
                            if code == HidErrorCode::CHANNEL_BUSY && cancel_sent.is_none() {
                                return Ok(Answer::Busy);
                            }
                            return Err(Error::Hid(code));
                        }
                        got if got == command => {
                            return Ok(Answer::Payload(message.payload.to_vec()));
                        }
                        got => {
                            return Err(ProtocolError::UnexpectedCommand {
                                expected: command,
                                got,
                            }
                            .into());
                        }
                    }
                }
                Err(FrameError::UnexpectedContinuation { cid: stale, seq }) => {
                    // A continuation with no init packet before it cannot belong to our
                    // answer: the tail of an old transaction (PROTOCOL.md section 8).
                    log::trace!("{stale}: dropped a stale continuation packet (SEQ {seq})");
                }
                Err(FrameError::ShortReport {
                    cid: other,
                    expected,
                    got,
                }) if other != Some(cid) => {
                    // Too short to be judged as a packet, and not on our channel (or
                    // too short to say whose it is): someone else's, skipped like any
                    // other channel's report. The reassembler keeps our message.
                    log::trace!("skipped a {got}-byte report (reports are {expected} bytes)");
                }
                Err(error) => return Err(ProtocolError::Framing(error).into()),
            }
        }
    }

    /// Sends CANCEL after a time-out so a device waiting for a touch stops; a failure
    /// does not matter (the time-out is what the caller hears about).
    fn cancel_quietly(&mut self, cid: ChannelId, cancel_sent: Option<Instant>) {
        if cancel_sent.is_none() {
            if let Err(error) = self.send(cid, Command::CANCEL, &[]) {
                log::debug!("{cid}: CANCEL after a time-out failed: {error}");
            }
        }
    }

    /// Drops pending input, then re-INITs our channel (CTAP 2.1 §11.2.9.1.3: INIT on an
    /// allocated channel aborts its transaction), falling back to a new channel.
    fn resync(&mut self, deadline: &Deadline) -> Result<(), Error> {
        log::debug!("{}: resynchronising after a failed call", self.init.cid);
        self.drain(deadline)?;
        let init = match self.init_channel(self.init.cid, deadline) {
            Ok(init) => init,
            Err(error @ (Error::Disconnected | Error::Io(_))) => return Err(error),
            Err(error @ Error::Timeout(TimeoutKind::Deadline(_))) => return Err(error),
            Err(error) => {
                log::debug!(
                    "{}: re-INIT failed ({error}), allocating a new channel",
                    self.init.cid
                );
                self.init_channel(ChannelId::BROADCAST, deadline)?
            }
        };
        self.init = init;
        self.needs_resync = false;
        Ok(())
    }

    /// Reads and drops whatever input is pending or arrives within a millisecond of the
    /// last report (bounded: a device may keep talking).
    fn drain(&mut self, deadline: &Deadline) -> Result<(), Error> {
        let start = Instant::now();
        let mut dropped = 0usize;
        loop {
            let now = Instant::now();
            if now.saturating_duration_since(start) >= DRAIN_LIMIT || dropped >= MAX_DRAINED {
                break;
            }
            if self.read(deadline.cap(now, DRAIN_QUIET))?.is_none() {
                break;
            }
            dropped += 1;
        }
        if dropped > 0 {
            log::debug!("dropped {dropped} pending reports");
        }
        Ok(())
    }

    /// Drops the reports already waiting, without waiting for more (bounded: a device
    /// may keep talking).
    fn discard_pending(&mut self) -> Result<(), Error> {
        let mut dropped = 0usize;
        while dropped < MAX_DRAINED && self.read(Duration::ZERO)?.is_some() {
            dropped += 1;
        }
        if dropped > 0 {
            log::debug!(
                "{}: dropped {dropped} stale reports before a request",
                self.init.cid
            );
        }
        Ok(())
    }

    /// Sends INIT on `cid` and waits for the answer carrying our nonce: each attempt at
    /// most [`init_timeout`](DeviceConfig::init_timeout), CHANNEL_BUSY retried up to
    /// [`busy_retry_limit`](DeviceConfig::busy_retry_limit), all within `deadline`.
    fn init_channel(&mut self, cid: ChannelId, deadline: &Deadline) -> Result<InitResponse, Error> {
        let mut nonce = [0u8; INIT_NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|error| {
            Error::Io(std::io::Error::other(format!(
                "no random numbers for the INIT nonce: {error}"
            )))
        })?;
        let mut busy_since: Option<Instant> = None;
        'send: loop {
            deadline.check(Instant::now())?;
            self.send(cid, Command::INIT, &nonce)?;
            let timeout = self.config.init_timeout;
            let end = Instant::now().checked_add(timeout);
            self.reassembler.abort();
            self.reassembler.set_channel(Some(cid));
            loop {
                let now = Instant::now();
                deadline.check(now)?;
                let left = end.map_or(Duration::MAX, |end| end.saturating_duration_since(now));
                if left.is_zero() {
                    return Err(Error::Timeout(TimeoutKind::Silence(timeout)));
                }
                let wait = deadline.cap(now, left.min(self.config.poll_interval));
                let Some(len) = self.read(wait)? else {
                    continue;
                };
                let report = self.rx.get(..len).unwrap_or_default();
                let message = match self.reassembler.feed(report) {
                    Ok(Feed::Complete(message)) => message,
                    Ok(Feed::NeedMore(_)) => continue,
                    Ok(Feed::OtherChannel {
                        cid: other,
                        command,
                    }) => {
                        log::trace!("INIT: skipped a report of channel {other} ({command:?})");
                        continue;
                    }
                    Err(error) => {
                        // Stale or foreign traffic: we wait for one specific answer.
                        log::trace!("INIT: dropped a report: {error}");
                        continue;
                    }
                };
                match message.command {
                    Command::INIT => {
                        if message.payload.get(..INIT_NONCE_LEN) != Some(&nonce[..]) {
                            log::trace!(
                                "INIT: skipped an answer with another program's nonce {}",
                                Hex(message.payload.get(..INIT_NONCE_LEN).unwrap_or_default())
                            );
                            continue;
                        }
                        let init = InitResponse::parse(message.payload)
                            .map_err(ProtocolError::InitResponse)?;
                        log::debug!(
                            "INIT: channel {}, CTAPHID version {}, device {}.{}.{}, capabilities {:?}",
                            init.cid,
                            init.protocol_version,
                            init.device_version.major,
                            init.device_version.minor,
                            init.device_version.build,
                            init.capabilities
                        );
                        self.reassembler.set_channel(Some(init.cid));
                        return Ok(init);
                    }
                    Command::ERROR => {
                        let Some(code) = message.error_code() else {
                            return Err(ProtocolError::EmptyStatus(Command::ERROR).into());
                        };
                        if code != HidErrorCode::CHANNEL_BUSY {
                            return Err(Error::Hid(code));
                        }
                        let since = *busy_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= self.config.busy_retry_limit {
                            return Err(Error::Hid(code));
                        }
                        self.pause(self.config.busy_retry_interval, None, deadline)?;
                        continue 'send;
                    }
                    other => {
                        log::trace!("INIT: skipped a stale {other} message on {cid}");
                    }
                }
            }
        }
    }

    /// Sends one message, all reports back to back: handed to the connection at once
    /// ([`HidConnection::write_reports`]), so a transport that can sends them in one go.
    fn send(&mut self, cid: ChannelId, command: Command, data: &[u8]) -> Result<(), Error> {
        let size = self.connection.output_report_size();
        let mut packetizer =
            Packetizer::new(cid, command, data, size).map_err(Error::InvalidRequest)?;
        let mut buffer = [0u8; MAX_REPORT_SIZE];
        self.tx.clear();
        while let Some(len) = packetizer
            .write_next(&mut buffer)
            .map_err(Error::InvalidRequest)?
        {
            let report = buffer.get(..len).unwrap_or_default();
            if log::log_enabled!(log::Level::Trace) {
                log::trace!("send {}", Hex(report));
            }
            self.tx.extend_from_slice(report);
        }
        self.connection.write_reports(&self.tx)
    }

    /// Reads one report into `self.rx`, `None` if none came in `wait`.
    fn read(&mut self, wait: Duration) -> Result<Option<usize>, Error> {
        match self.connection.read_report(&mut self.rx, wait)? {
            // The contract says `None`; a transport that returns 0 bytes means the same.
            None | Some(0) => Ok(None),
            Some(len) if len > self.rx.len() => Err(ProtocolError::ReportLength {
                expected: self.connection.input_report_size().get(),
                got: len,
            }
            .into()),
            Some(len) => {
                if log::log_enabled!(log::Level::Trace) {
                    log::trace!("recv {}", Hex(self.rx.get(..len).unwrap_or_default()));
                }
                Ok(Some(len))
            }
        }
    }
}

impl<C: HidConnection> CtapDevice for CtapHidDevice<C> {
    fn capabilities(&self) -> Capabilities {
        self.init.capabilities
    }

    fn call_with(
        &mut self,
        command: Command,
        data: &[u8],
        mut options: CallOptions<'_>,
    ) -> Result<Vec<u8>, Error> {
        self.call_checked(command, data, &mut options)
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.connection.close();
        }
    }
}

impl<C> fmt::Debug for CtapHidDevice<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtapHidDevice")
            .field("channel", &self.init.cid)
            .field("init", &self.init)
            .field("config", &self.config)
            .field("needs_resync", &self.needs_resync)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// `true` if the failed call may have left reports of its transaction in flight.
fn leaves_stale_state(error: &Error) -> bool {
    matches!(
        error,
        Error::Timeout(_)
            | Error::Cancelled
            | Error::Protocol(_)
            | Error::Disconnected
            | Error::Io(_)
    )
}
