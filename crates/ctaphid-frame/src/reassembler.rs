//! Reassembling reports into messages.

use core::fmt;

use ctap_types::{ChannelId, Command, HidErrorCode, KeepaliveStatus};

#[cfg(feature = "fast-path")]
use crate::MAX_REPORT_SIZE;
use crate::{CONT_HEADER_LEN, FrameError, INIT_HEADER_LEN, MessageBuffer, ReportSize};

/// What to do with an init packet on a channel whose message is still incomplete.
///
/// An INIT *command* always restarts the channel, whatever this says: CTAP 2.1
/// §11.2.9.1.3 makes INIT on an allocated channel a resynchronisation that aborts any
/// pending transaction.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InitOnBusy {
    /// Drop the incomplete message and start the new one (the newest message wins).
    #[default]
    Restart,
    /// Drop both and report [`FrameError::UnexpectedInit`] (a device answers
    /// `ERR_INVALID_SEQ`).
    Reject,
}

/// Configuration of a [`Reassembler`]. A plain struct with `Default`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReassemblerConfig {
    /// The size of the reports fed (each report must be at least this long).
    pub report_size: ReportSize,
    /// Only accept this channel; reports of every other channel are answered with
    /// [`Feed::OtherChannel`]. A host sets its own channel (or broadcast while it waits
    /// for an INIT answer); a device leaves it `None` and takes the first init packet.
    pub channel: Option<ChannelId>,
    /// What an init packet on a busy channel does.
    pub init_on_busy: InitOnBusy,
}

impl ReassemblerConfig {
    /// The default configuration for `report_size`.
    #[must_use]
    pub fn new(report_size: ReportSize) -> Self {
        Self {
            report_size,
            ..Self::default()
        }
    }

    /// Accept only `channel` (see [`channel`](Self::channel)).
    #[must_use]
    pub const fn with_channel(mut self, channel: ChannelId) -> Self {
        self.channel = Some(channel);
        self
    }

    /// Sets [`init_on_busy`](Self::init_on_busy).
    #[must_use]
    pub const fn with_init_on_busy(mut self, init_on_busy: InitOnBusy) -> Self {
        self.init_on_busy = init_on_busy;
        self
    }
}

/// A message being received.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pending {
    /// Its channel.
    pub cid: ChannelId,
    /// Its command.
    pub command: Command,
    /// Payload bytes received so far.
    pub received: usize,
    /// Payload bytes declared by the init packet.
    pub len: usize,
    /// `true` if the report just fed started this message: the moment a caller's
    /// message time-out starts (CTAPHID devices answer MSG_TIMEOUT when the rest does
    /// not follow in time).
    pub started: bool,
}

/// A complete message, borrowed from the reassembler's buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Message<'b> {
    /// Its channel.
    pub cid: ChannelId,
    /// Its command.
    pub command: Command,
    /// Its payload, exactly as long as the init packet declared.
    pub payload: &'b [u8],
}

impl Message<'_> {
    /// The status of a KEEPALIVE message (its first byte), `None` for any other message
    /// or an empty KEEPALIVE.
    #[must_use]
    pub fn keepalive_status(&self) -> Option<KeepaliveStatus> {
        keepalive_status(self.command, self.payload)
    }

    /// The code of an ERROR message (its first byte), `None` for any other message or an
    /// empty ERROR.
    #[must_use]
    pub fn error_code(&self) -> Option<HidErrorCode> {
        error_code(self.command, self.payload)
    }
}

pub(crate) fn keepalive_status(command: Command, payload: &[u8]) -> Option<KeepaliveStatus> {
    (command == Command::KEEPALIVE)
        .then(|| payload.first().copied().map(KeepaliveStatus::new))
        .flatten()
}

pub(crate) fn error_code(command: Command, payload: &[u8]) -> Option<HidErrorCode> {
    (command == Command::ERROR)
        .then(|| payload.first().copied().map(HidErrorCode::new))
        .flatten()
}

/// What one fed report did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use]
pub enum Feed<'b> {
    /// The report was taken; the message needs more reports.
    NeedMore(Pending),
    /// The report completed a message.
    Complete(Message<'b>),
    /// The report belongs to another channel and was not taken: a host skips it (another
    /// program's traffic); a device busy with a message answers `ERR_CHANNEL_BUSY` on that
    /// channel.
    OtherChannel {
        /// Its channel.
        cid: ChannelId,
        /// Its command if it was an init packet, `None` for a continuation packet.
        command: Option<Command>,
    },
}

/// The message in progress, laid out for the hot path: a continuation packet is
/// recognised with one 8-byte load, a shift and one compare against `expect()`.
///
/// Laid out for RAM too (firmware keeps one per authenticator): the key is kept as
/// bytes, so the state has the alignment of a `usize` instead of the 8 of a `u64`
/// (which cost a 32-bit firmware 8 bytes of padding in the `Reassembler` and after
/// it). The lengths stay `usize`: as `u16` (enough for 7609) they made reassembling
/// 7609 bytes 1.7x slower on x86-64 (measured); the compact build (no `fast-path`)
/// keeps them as `u16` (see [`Len`]).
#[derive(Clone, Copy, PartialEq, Eq)]
struct State {
    /// The [`header_key`] of the next continuation packet (CID | SEQ), plus
    /// [`SMALL_REPORTS`] unless reports are 64 bytes; [`IDLE`] when no message is in
    /// progress. SEQ <= 0x7F here, so no init packet matches. Native-endian bytes of
    /// the `u64` (see [`expect`](Self::expect)).
    expect: [u8; 8],
    /// Payload bytes declared by its init packet.
    len: Len,
    /// Payload bytes received so far (< `len` while receiving).
    received: Len,
    /// Its command.
    command: Command,
}

/// A length in [`State`]: with `fast-path` a `usize` (as `u16`, reassembling 7609 bytes
/// was 1.7x slower on x86-64), without it a `u16` (enough for 7609; 80 bytes less code
/// and 4 bytes less RAM on a Cortex-M).
#[cfg(feature = "fast-path")]
type Len = usize;
#[cfg(not(feature = "fast-path"))]
type Len = u16;

/// A length as a [`Len`]. Only lengths within the maximum message (7609) are stored.
#[inline(always)]
#[allow(clippy::cast_possible_truncation)]
const fn to_len(len: usize) -> Len {
    len as Len
}

/// A [`Len`] as a `usize` (a no-op with `fast-path`).
#[inline(always)]
#[allow(clippy::useless_conversion)]
fn from_len(len: Len) -> usize {
    usize::from(len)
}

/// `State::expect` when no message is in progress: no key has its low bits set so.
const IDLE: u64 = 2;
/// Added to `State::expect` when reports are not 64 bytes, so that the 64-byte hot
/// path never matches them (and needs no separate check of the report size).
const SMALL_REPORTS: u64 = 1;
/// Added to a key for the next SEQ.
const NEXT_SEQ: u64 = 1 << 56;

/// The key of the first 8 bytes of a report: its CID | SEQ (the first five bytes) in
/// the top 40 bits, zeros below.
#[inline(always)]
const fn report_key(head: [u8; 8]) -> u64 {
    u64::from_le_bytes(head) << 24
}

/// The key of a continuation header `CID | SEQ`.
#[inline(always)]
const fn header_key(cid: ChannelId, seq: u8) -> u64 {
    let [c0, c1, c2, c3] = cid.to_be_bytes();
    report_key([c0, c1, c2, c3, seq, 0, 0, 0])
}

impl State {
    const IDLE: Self = Self {
        expect: IDLE.to_ne_bytes(),
        len: 0,
        received: 0,
        command: Command::PING,
    };

    /// The key the next report must have (an unaligned load where it matters).
    #[inline(always)]
    const fn expect(&self) -> u64 {
        u64::from_ne_bytes(self.expect)
    }

    #[inline(always)]
    const fn set_expect(&mut self, key: u64) {
        self.expect = key.to_ne_bytes();
    }

    /// The channel and SEQ due next, while receiving.
    #[inline(always)]
    const fn receiving(&self) -> Option<(ChannelId, u8)> {
        if self.expect() == IDLE {
            return None;
        }
        let [c0, c1, c2, c3, seq, ..] = (self.expect() >> 24).to_le_bytes();
        Some((ChannelId::from_be_bytes([c0, c1, c2, c3]), seq))
    }

    /// The message in progress, known not to be idle (the key of the report just taken
    /// matched): no check, so the hot path has no branch for it.
    #[inline(always)]
    fn receiving_pending(&self) -> Pending {
        let [c0, c1, c2, c3, ..] = (self.expect() >> 24).to_le_bytes();
        Pending {
            cid: ChannelId::from_be_bytes([c0, c1, c2, c3]),
            command: self.command,
            received: from_len(self.received),
            len: from_len(self.len),
            started: false,
        }
    }

    #[inline(always)]
    fn pending(&self, started: bool) -> Option<Pending> {
        self.receiving().map(|(cid, _)| Pending {
            cid,
            command: self.command,
            received: from_len(self.received),
            len: from_len(self.len),
            started,
        })
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.receiving() {
            None => f.write_str("Idle"),
            Some((cid, next_seq)) => f
                .debug_struct("Receiving")
                .field("cid", &cid)
                .field("command", &self.command)
                .field("len", &self.len)
                .field("received", &self.received)
                .field("next_seq", &next_seq)
                .finish(),
        }
    }
}

/// Reassembles reports into messages in a buffer the caller chooses.
///
/// Sans-IO: it is fed one report at a time and says what happened ([`Feed`]); it never
/// reads a clock (see [`Pending::started`]) and never allocates. Each payload byte is
/// copied once, from the report into the buffer. After any error it is idle and takes
/// the next message.
///
/// ```
/// use ctap_types::{ChannelId, Command};
/// use ctaphid_frame::{Feed, Packetizer, Reassembler, ReassemblerConfig, ReportSize};
///
/// let cid = ChannelId::new(0x01020304);
/// let payload: Vec<u8> = (0..200).map(|i| i as u8).collect();
/// let mut reassembler = Reassembler::new([0u8; 1024], ReassemblerConfig::new(ReportSize::FULL_SPEED));
/// for report in Packetizer::new(cid, Command::PING, &payload, ReportSize::FULL_SPEED)? {
///     match reassembler.feed(&report)? {
///         Feed::NeedMore(_) => {}
///         Feed::Complete(message) => assert_eq!(message.payload, &payload[..]),
///         Feed::OtherChannel { .. } => unreachable!(),
///     }
/// }
/// # Ok::<(), ctaphid_frame::FrameError>(())
/// ```
pub struct Reassembler<B> {
    buffer: B,
    config: ReassemblerConfig,
    state: State,
    /// The longest message taken: the buffer's `max_len` when it was handed over (a
    /// `BytesMut` keeps the capacity its caller chose, however `feed_bytes` regrows it)
    /// and the report size's maximum.
    max_len: usize,
}

impl<B: MessageBuffer> Reassembler<B> {
    /// A reassembler over `buffer`.
    pub fn new(buffer: B, config: ReassemblerConfig) -> Self {
        let max_len = buffer.max_len().min(config.report_size.max_message_len());
        Self {
            buffer,
            config,
            state: State::IDLE,
            max_len,
        }
    }

    /// Feeds one report (at least [`ReportSize`] bytes; a longer report's tail is
    /// ignored).
    ///
    /// # Errors
    /// A [`FrameError`] naming what was wrong with the report; the reassembler is then
    /// idle (an incomplete message of the report's channel is dropped; another channel's
    /// incomplete message is kept).
    #[inline(always)]
    pub fn feed(&mut self, report: &[u8]) -> Result<Feed<'_>, FrameError> {
        #[cfg(feature = "fast-path")]
        let step = {
            if let Some(pending) = self.continue_due(report) {
                return Ok(Feed::NeedMore(pending));
            }
            // A message in one init packet (most CTAPHID traffic: INIT, PING, WINK,
            // short CBOR): one check of the header, one copy, complete; the `Feed`
            // made here, not from a `Step` (measured: 75 instructions for 57 bytes,
            // against 122 through `step`).
            if let Some((cid, command, len)) = self.whole_message(report) {
                return Ok(Feed::Complete(Message {
                    cid,
                    command,
                    payload: self.buffer.filled(len),
                }));
            }
            self.step(report)?
        };
        #[cfg(not(feature = "fast-path"))]
        let step = self.advance(report)?;
        Ok(match step {
            Step::NeedMore(pending) => Feed::NeedMore(pending),
            Step::OtherChannel { cid, command } => Feed::OtherChannel { cid, command },
            Step::Complete { cid, command, len } => Feed::Complete(Message {
                cid,
                command,
                payload: self.buffer.filled(len),
            }),
        })
    }

    /// Feeds `reports`, back to back ([`ReportSize`] bytes each; a shorter tail is one
    /// short report), until one does more than continue the message in progress.
    ///
    /// Every due continuation that does not complete the message is taken in one tight
    /// loop with the state in registers; then the next report is fed as
    /// [`feed`](Self::feed) feeds it, `reports` is advanced past it and its outcome
    /// returned. `None` when the reports ran out first (all were taken;
    /// [`pending`](Self::pending) says how far the message got).
    ///
    /// The outcomes are those of `feed` on each report, less the `NeedMore` of the
    /// continuations taken in between (none of which has [`Pending::started`]). For
    /// callers that read several reports at once (a buffer of reports, a datagram
    /// stream): the fastest way through a long message.
    ///
    /// ```
    /// use ctap_types::{ChannelId, Command};
    /// use ctaphid_frame::{Feed, Packetizer, Reassembler, ReassemblerConfig, ReportSize};
    ///
    /// let size = ReportSize::FULL_SPEED;
    /// let payload = [7u8; 1000];
    /// let mut wire = [0u8; 18 * 64];
    /// let mut packetizer = Packetizer::new(ChannelId::new(1), Command::MSG, &payload, size)?;
    /// let written = packetizer.write_all(&mut wire)?;
    ///
    /// let mut reassembler = Reassembler::new([0u8; 7609], ReassemblerConfig::new(size));
    /// let mut reports = &wire[..written];
    /// let mut complete = false;
    /// while let Some(outcome) = reassembler.feed_reports(&mut reports) {
    ///     match outcome? {
    ///         Feed::NeedMore(pending) => assert!(pending.started),
    ///         Feed::Complete(message) => complete = message.payload == &payload[..],
    ///         Feed::OtherChannel { .. } => unreachable!(),
    ///     }
    /// }
    /// assert!(complete && reports.is_empty());
    /// # Ok::<(), ctaphid_frame::FrameError>(())
    /// ```
    ///
    /// # Errors
    /// As [`feed`](Self::feed), for the report that caused it (`reports` is advanced
    /// past it).
    #[inline(always)]
    pub fn feed_reports(&mut self, reports: &mut &[u8]) -> Option<Result<Feed<'_>, FrameError>> {
        let size = self.config.report_size.get();
        #[cfg(feature = "fast-path")]
        if size == MAX_REPORT_SIZE {
            self.take_due(reports, MAX_REPORT_SIZE);
        } else {
            self.take_due(reports, size);
        }
        #[cfg(not(feature = "fast-path"))]
        self.take_due(reports, size);
        if reports.is_empty() {
            return None;
        }
        let (report, rest) = reports.split_at_checked(size).unwrap_or((reports, &[]));
        *reports = rest;
        Some(self.feed(report))
    }

    /// Takes the due continuations at the front of `reports` (`size`-byte reports)
    /// that do not complete the message, and advances `reports` past them.
    #[inline(always)]
    fn take_due(&mut self, reports: &mut &[u8], size: usize) {
        let mut expect = self.state.expect();
        if expect == IDLE {
            return;
        }
        let mut received = from_len(self.state.received);
        let len = from_len(self.state.len);
        let capacity = size.saturating_sub(CONT_HEADER_LEN);
        let mut rest = *reports;
        // `key | SMALL_REPORTS == expect | SMALL_REPORTS`: `expect` has the flag unless
        // reports are 64 bytes, a key never has it (its low 24 bits are zero).
        while let Some((report, tail)) = rest.split_at_checked(size) {
            let Some((&head, _)) = report.split_first_chunk::<8>() else {
                break;
            };
            if report_key(head) | SMALL_REPORTS != expect | SMALL_REPORTS
                || received + capacity >= len
            {
                break;
            }
            self.buffer
                .append(received, report.get(CONT_HEADER_LEN..).unwrap_or_default());
            received += capacity;
            // SEQ stays <= 0x7F: the length is within the maximum.
            expect += NEXT_SEQ;
            rest = tail;
        }
        self.state.received = to_len(received);
        self.state.set_expect(expect);
        *reports = rest;
    }

    /// What `report` does, for `feed_bytes` and the compact `feed` (as the fast-path
    /// `feed` judges it; they differ only in how they hand out a complete message):
    /// the due continuation first, inline; then the rest.
    #[cfg(any(feature = "bytes", not(feature = "fast-path")))]
    #[inline(always)]
    fn advance(&mut self, report: &[u8]) -> Result<Step, FrameError> {
        if let Some(pending) = self.continue_due(report) {
            return Ok(Step::NeedMore(pending));
        }
        #[cfg(feature = "fast-path")]
        if let Some((cid, command, len)) = self.whole_message(report) {
            return Ok(Step::Complete { cid, command, len });
        }
        self.step(report)
    }

    /// Drops the incomplete message, if any (e.g. when the caller's message time-out
    /// expires), and returns what it was.
    pub fn abort(&mut self) -> Option<Pending> {
        let pending = self.pending();
        self.state = State::IDLE;
        self.buffer.clear();
        pending
    }

    /// Accept only `channel` from now on (`None`: any). Drops an incomplete message of
    /// another channel.
    pub fn set_channel(&mut self, channel: Option<ChannelId>) {
        if let (Some(want), Some(pending)) = (channel, self.pending()) {
            if pending.cid != want {
                self.abort();
            }
        }
        self.config.channel = channel;
    }

    /// The incomplete message, if one is being received.
    #[must_use]
    pub fn pending(&self) -> Option<Pending> {
        self.state.pending(false)
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &ReassemblerConfig {
        &self.config
    }

    /// The longest message this reassembler takes: the smaller of the buffer (as it
    /// was handed to [`new`](Self::new)) and the report size's maximum.
    #[must_use]
    pub const fn max_message_len(&self) -> usize {
        self.max_len
    }

    /// The buffer.
    #[must_use]
    pub const fn buffer(&self) -> &B {
        &self.buffer
    }

    /// Gives the buffer back.
    pub fn into_buffer(self) -> B {
        self.buffer
    }

    /// The hottest path: a continuation packet that is due and does not complete the
    /// message (127 of the 129 reports of the largest message).
    #[cfg(feature = "fast-path")]
    #[inline(always)]
    fn continue_due(&mut self, report: &[u8]) -> Option<Pending> {
        let key = report_key(*report.first_chunk::<8>()?);
        // `expect` is IDLE (never equal) unless a message is in progress; its channel
        // passed the filter with the init packet (`set_channel` drops a message of
        // another channel).
        let expect = self.state.expect();
        if key == expect {
            // 64-byte reports (no SMALL_REPORTS flag). Nearly every device has them:
            // with the size a constant, the data is copied with a few fixed-size moves
            // instead of a `memcpy` call.
            self.continue_sized(report, MAX_REPORT_SIZE)
        } else if key | SMALL_REPORTS == expect {
            self.continue_sized(report, self.config.report_size.get())
        } else {
            None
        }
    }

    /// An init packet that carries a whole message, fed while idle: its data copied,
    /// its channel, command and length returned; `None` for any other report (which
    /// [`step`](Self::step) then judges, as it would have judged this one).
    #[cfg(feature = "fast-path")]
    #[inline(always)]
    fn whole_message(&mut self, report: &[u8]) -> Option<(ChannelId, Command, usize)> {
        if self.state.expect() != IDLE {
            return None;
        }
        let report = report.get(..self.config.report_size.get())?;
        let (&[c0, c1, c2, c3, marker, len_hi, len_lo], data) =
            report.split_first_chunk::<INIT_HEADER_LEN>()?;
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        let cid = ChannelId::from_be_bytes([c0, c1, c2, c3]);
        if marker & 0x80 == 0
            || len > data.len()
            || len > self.max_len
            || self.config.channel.is_some_and(|mine| mine != cid)
        {
            return None;
        }
        self.buffer.clear();
        self.buffer.append(0, data.get(..len)?);
        Some((cid, Command::from_init_byte(marker), len))
    }

    /// The compact path's [`continue_due`](Self::continue_due): one check of the key
    /// against both forms of `expect` (with and without [`SMALL_REPORTS`]), then a copy
    /// of run-time length. Small enough for firmware, and no call per report but the
    /// copy's.
    #[cfg(not(feature = "fast-path"))]
    #[inline(always)]
    fn continue_due(&mut self, report: &[u8]) -> Option<Pending> {
        let key = report_key(*report.first_chunk::<8>()?);
        if key | SMALL_REPORTS != self.state.expect() | SMALL_REPORTS {
            return None;
        }
        self.continue_sized(report, self.config.report_size.get())
    }

    /// [`continue_due`](Self::continue_due) for `size`-byte reports, the header
    /// checked.
    #[inline(always)]
    fn continue_sized(&mut self, report: &[u8], size: usize) -> Option<Pending> {
        let data = report.get(CONT_HEADER_LEN..size)?;
        let state = &mut self.state;
        let received = from_len(state.received) + data.len();
        if received >= from_len(state.len) {
            return None;
        }
        self.buffer.append(from_len(state.received), data);
        state.received = to_len(received);
        // The next SEQ; it stays <= 0x7F: the length is within the maximum, so SEQ 0x7F
        // completes any message.
        state.set_expect(state.expect() + NEXT_SEQ);
        Some(state.receiving_pending())
    }

    /// What `report` does: the happy path inline, everything else out of line. Without
    /// `fast-path`, every report takes [`step_general`](Self::step_general) (inlined
    /// there: one copy of the code, the smallest for firmware).
    #[inline(always)]
    fn step(&mut self, report: &[u8]) -> Result<Step, FrameError> {
        #[cfg(feature = "fast-path")]
        {
            // Nearly every device has 64-byte reports: with the size a constant, a
            // packet's data is copied with a few fixed-size moves instead of a `memcpy`
            // call.
            let fast = if self.config.report_size == ReportSize::FULL_SPEED {
                self.step_fast(report, MAX_REPORT_SIZE)
            } else {
                self.step_fast(report, self.config.report_size.get())
            };
            if let Some(step) = fast {
                return Ok(step);
            }
        }
        self.step_general(report)
    }

    /// The hot path, small enough to inline into the caller's loop: the next
    /// continuation of the message in progress, or an init packet on an accepted
    /// channel while idle, of `size`-byte reports (`size` is the report size, a
    /// constant where the caller knows it). `None` for every other report (other
    /// channels, errors, restarts), which [`step_general`](Self::step_general) judges
    /// the same way it would have judged these (the property tests check both against
    /// a model).
    #[cfg(feature = "fast-path")]
    #[inline(always)]
    fn step_fast(&mut self, report: &[u8], size: usize) -> Option<Step> {
        let report = report.get(..size)?;
        let (&head, _) = report.split_first_chunk::<8>()?;
        let key = report_key(head);
        let expect = self.state.expect();
        if key == expect || key | SMALL_REPORTS == expect {
            // The channel passed the filter with the init packet (`set_channel` drops
            // a message of another channel).
            return self.next_continuation(report.get(CONT_HEADER_LEN..)?);
        }
        if expect != IDLE {
            return None;
        }
        let [c0, c1, c2, c3, marker, len_hi, len_lo, _] = head;
        let cid = ChannelId::from_be_bytes([c0, c1, c2, c3]);
        if marker & 0x80 == 0 || self.config.channel.is_some_and(|mine| mine != cid) {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        if len > self.max_message_len() {
            return None;
        }
        let command = Command::from_init_byte(marker);
        self.start(cid, command, len, report.get(INIT_HEADER_LEN..)?)
    }

    /// Takes the data of the init packet of a message of `len` bytes (`len` checked
    /// against the maximum); `data` is exactly the init capacity long.
    #[inline(always)]
    fn start(&mut self, cid: ChannelId, command: Command, len: usize, data: &[u8]) -> Option<Step> {
        self.buffer.clear();
        if len <= data.len() {
            self.buffer.append(0, data.get(..len)?);
            self.state = State::IDLE;
            return Some(Step::Complete { cid, command, len });
        }
        self.buffer.append(0, data);
        let small = if self.config.report_size == ReportSize::FULL_SPEED {
            0
        } else {
            SMALL_REPORTS
        };
        self.state = State {
            expect: (header_key(cid, 0) | small).to_ne_bytes(),
            len: to_len(len),
            received: to_len(data.len()),
            command,
        };
        Some(Step::NeedMore(Pending {
            cid,
            command,
            received: data.len(),
            len,
            started: true,
        }))
    }

    /// Takes the data of the continuation packet that was due; `data` is exactly the
    /// continuation capacity long.
    #[inline(always)]
    fn next_continuation(&mut self, data: &[u8]) -> Option<Step> {
        let state = &mut self.state;
        let received = from_len(state.received);
        let remaining = from_len(state.len) - received;
        if data.len() < remaining {
            self.buffer.append(received, data);
            state.received = to_len(received + data.len());
            // The next SEQ; it stays <= 0x7F: the length is within the maximum, so
            // SEQ 0x7F completes any message.
            state.set_expect(state.expect() + NEXT_SEQ);
            return Some(Step::NeedMore(state.receiving_pending()));
        }
        self.buffer.append(received, data.get(..remaining)?);
        let (cid, _) = state.receiving()?;
        let done = Step::Complete {
            cid,
            command: state.command,
            len: from_len(state.len),
        };
        *state = State::IDLE;
        Some(done)
    }

    /// Every report: the errors, other channels, restarts, and the reports
    /// [`step_fast`](Self::step_fast) also takes.
    ///
    /// The error contract (README, "Outcomes"): an error drops the message in progress
    /// when the report is on its channel; a report of another channel never touches it
    /// (five bytes or more are [`Feed::OtherChannel`]; a four-byte one is a
    /// `ShortReport` naming its channel), nor does a report too short to name a
    /// channel at all.
    ///
    /// Out of line with `fast-path` (the hot paths above take nearly every report);
    /// inlined always in the compact build, where it is the only path: left to the
    /// compiler, it was inlined with one call site of `feed` and not with five, and
    /// the two builds differed by 14% (`cargo xtask icount`); inlined, the firmware
    /// build is also 76 bytes smaller (1456 B, `cargo xtask size`).
    #[cfg_attr(feature = "fast-path", inline(never))]
    #[cfg_attr(not(feature = "fast-path"), inline(always))]
    fn step_general(&mut self, report: &[u8]) -> Result<Step, FrameError> {
        let size = self.config.report_size.get();
        let short = |cid| FrameError::ShortReport {
            cid,
            expected: size,
            got: report.len(),
        };
        let Some((&cid, rest)) = report.split_first_chunk::<4>() else {
            return Err(short(None));
        };
        let cid = ChannelId::from_be_bytes(cid);
        let marker = rest.first().copied();
        let command = marker
            .filter(|marker| marker & 0x80 != 0)
            .map(Command::from_init_byte);
        let receiving = self.state.receiving();
        if self.config.channel.is_some_and(|mine| mine != cid)
            || receiving.is_some_and(|(busy, _)| busy != cid)
        {
            return match marker {
                Some(_) => Ok(Step::OtherChannel { cid, command }),
                None => Err(short(Some(cid))),
            };
        }
        // From here on the report is on the channel of the message in progress, if any:
        // every error drops that message.
        let Some(report) = report.get(..size) else {
            self.state = State::IDLE;
            return Err(short(Some(cid)));
        };
        let Some((&[_, _, _, _, marker, len_hi, len_lo], data)) =
            report.split_first_chunk::<INIT_HEADER_LEN>()
        else {
            // Report sizes are at least 8 bytes.
            self.state = State::IDLE;
            return Err(short(Some(cid)));
        };
        let Some(command) = command else {
            let Some((_, next_seq)) = receiving else {
                return Err(FrameError::UnexpectedContinuation { cid, seq: marker });
            };
            if marker != next_seq {
                self.state = State::IDLE;
                return Err(FrameError::SequenceMismatch {
                    cid,
                    expected: next_seq,
                    got: marker,
                });
            }
            let data = report.get(CONT_HEADER_LEN..).unwrap_or_default();
            return self.next_continuation(data).ok_or(short(Some(cid)));
        };
        // CTAP 2.1 §11.2.9.1.3: INIT on a busy channel resynchronises it.
        if receiving.is_some()
            && command != Command::INIT
            && self.config.init_on_busy == InitOnBusy::Reject
        {
            self.state = State::IDLE;
            return Err(FrameError::UnexpectedInit { cid, command });
        }
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        let max = self.max_message_len();
        if len > max {
            self.state = State::IDLE;
            self.buffer.clear();
            return Err(FrameError::LengthTooLarge {
                cid,
                declared: len,
                max,
            });
        }
        self.start(cid, command, len, data).ok_or(short(Some(cid)))
    }
}

#[derive(Clone, Copy)]
enum Step {
    NeedMore(Pending),
    Complete {
        cid: ChannelId,
        command: Command,
        len: usize,
    },
    OtherChannel {
        cid: ChannelId,
        command: Option<Command>,
    },
}

impl<B> fmt::Debug for Reassembler<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reassembler")
            .field("config", &self.config)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A complete message whose payload was split off a `BytesMut` without a copy.
#[cfg(feature = "bytes")]
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OwnedMessage {
    /// Its channel.
    pub cid: ChannelId,
    /// Its command.
    pub command: Command,
    /// Its payload.
    pub payload: bytes::Bytes,
}

#[cfg(feature = "bytes")]
impl OwnedMessage {
    /// See [`Message::keepalive_status`].
    #[must_use]
    pub fn keepalive_status(&self) -> Option<KeepaliveStatus> {
        keepalive_status(self.command, &self.payload)
    }

    /// See [`Message::error_code`].
    #[must_use]
    pub fn error_code(&self) -> Option<HidErrorCode> {
        error_code(self.command, &self.payload)
    }
}

/// What one fed report did, with an owned payload (see [`Reassembler::feed_bytes`]).
#[cfg(feature = "bytes")]
#[derive(Clone, PartialEq, Eq, Debug)]
#[must_use]
pub enum FeedBytes {
    /// See [`Feed::NeedMore`].
    NeedMore(Pending),
    /// See [`Feed::Complete`].
    Complete(OwnedMessage),
    /// See [`Feed::OtherChannel`].
    OtherChannel {
        /// Its channel.
        cid: ChannelId,
        /// Its command if it was an init packet.
        command: Option<Command>,
    },
}

#[cfg(feature = "bytes")]
impl Reassembler<bytes::BytesMut> {
    /// A reassembler over a fresh `BytesMut` of the report size's maximum message.
    #[must_use]
    pub fn with_bytes(config: ReassemblerConfig) -> Self {
        Self::new(
            bytes::BytesMut::with_capacity(config.report_size.max_message_len()),
            config,
        )
    }

    /// Like [`feed`](Self::feed), but a complete payload is split off the buffer as
    /// `Bytes`, without a copy. The buffer then reserves room for the next message (up
    /// to [`max_message_len`](Self::max_message_len), the capacity it was created
    /// with): it takes its memory back if the caller has dropped the `Bytes`, else it
    /// allocates once (at most one allocation per message, none per report).
    ///
    /// # Errors
    /// As [`feed`](Self::feed).
    pub fn feed_bytes(&mut self, report: &[u8]) -> Result<FeedBytes, FrameError> {
        match self.advance(report)? {
            Step::NeedMore(pending) => Ok(FeedBytes::NeedMore(pending)),
            Step::OtherChannel { cid, command } => Ok(FeedBytes::OtherChannel { cid, command }),
            Step::Complete { cid, command, len } => {
                let want = self.max_len;
                let payload = self.buffer.split_to(len.min(self.buffer.len())).freeze();
                self.buffer.clear();
                self.buffer.reserve(want);
                Ok(FeedBytes::Complete(OwnedMessage {
                    cid,
                    command,
                    payload,
                }))
            }
        }
    }
}
