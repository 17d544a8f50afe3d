//! Reassembling reports into messages.

use core::fmt;

use ctap_types::{ChannelId, Command, HidErrorCode, KeepaliveStatus};

use crate::{FrameError, MessageBuffer, Packet, ReportSize};

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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Idle,
    Receiving {
        cid: ChannelId,
        command: Command,
        len: usize,
        received: usize,
        next_seq: u8,
    },
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
}

impl<B: MessageBuffer> Reassembler<B> {
    /// A reassembler over `buffer`.
    pub fn new(buffer: B, config: ReassemblerConfig) -> Self {
        Self {
            buffer,
            config,
            state: State::Idle,
        }
    }

    /// Feeds one report (at least [`ReportSize`] bytes; a longer report's tail is
    /// ignored).
    ///
    /// # Errors
    /// A [`FrameError`] naming what was wrong with the report; the reassembler is then
    /// idle (an incomplete message of the report's channel is dropped; another channel's
    /// incomplete message is kept).
    pub fn feed(&mut self, report: &[u8]) -> Result<Feed<'_>, FrameError> {
        match self.step(report)? {
            Step::NeedMore(pending) => Ok(Feed::NeedMore(pending)),
            Step::OtherChannel { cid, command } => Ok(Feed::OtherChannel { cid, command }),
            Step::Complete { cid, command, len } => Ok(Feed::Complete(Message {
                cid,
                command,
                payload: self.buffer.filled(len),
            })),
        }
    }

    /// Drops the incomplete message, if any (e.g. when the caller's message time-out
    /// expires), and returns what it was.
    pub fn abort(&mut self) -> Option<Pending> {
        let pending = self.pending();
        self.state = State::Idle;
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
        match self.state {
            State::Idle => None,
            State::Receiving {
                cid,
                command,
                len,
                received,
                ..
            } => Some(Pending {
                cid,
                command,
                received,
                len,
                started: false,
            }),
        }
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &ReassemblerConfig {
        &self.config
    }

    /// The longest message this reassembler takes: the smaller of the buffer and the
    /// report size's maximum.
    #[must_use]
    pub fn max_message_len(&self) -> usize {
        self.buffer
            .max_len()
            .min(self.config.report_size.max_message_len())
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

    fn step(&mut self, report: &[u8]) -> Result<Step, FrameError> {
        let packet = Packet::parse(report)?;
        let cid = packet.cid();
        let other_channel = Step::OtherChannel {
            cid,
            command: match packet {
                Packet::Init { command, .. } => Some(command),
                Packet::Continuation { .. } => None,
            },
        };
        if self.config.channel.is_some_and(|mine| mine != cid) {
            return Ok(other_channel);
        }
        if let State::Receiving { cid: busy, .. } = self.state {
            if busy != cid {
                return Ok(other_channel);
            }
        }
        let size = self.config.report_size.get();
        if report.len() < size {
            self.state = State::Idle;
            return Err(FrameError::ShortReport {
                cid: Some(cid),
                expected: size,
                got: report.len(),
            });
        }
        match (self.state, packet) {
            (
                State::Idle,
                Packet::Init {
                    command, len, data, ..
                },
            ) => self.start(cid, command, len, data),
            (State::Idle, Packet::Continuation { seq, .. }) => {
                Err(FrameError::UnexpectedContinuation { cid, seq })
            }
            (
                State::Receiving { .. },
                Packet::Init {
                    command, len, data, ..
                },
            ) => {
                if command == Command::INIT || self.config.init_on_busy == InitOnBusy::Restart {
                    self.start(cid, command, len, data)
                } else {
                    self.state = State::Idle;
                    Err(FrameError::UnexpectedInit { cid, command })
                }
            }
            (
                State::Receiving {
                    command,
                    len,
                    received,
                    next_seq,
                    ..
                },
                Packet::Continuation { seq, data, .. },
            ) => {
                if seq != next_seq {
                    self.state = State::Idle;
                    return Err(FrameError::SequenceMismatch {
                        cid,
                        expected: next_seq,
                        got: seq,
                    });
                }
                let take = (len - received).min(self.config.report_size.cont_capacity());
                self.take(
                    cid,
                    command,
                    len,
                    received,
                    next_seq.wrapping_add(1),
                    data,
                    take,
                    false,
                )
            }
        }
    }

    fn start(
        &mut self,
        cid: ChannelId,
        command: Command,
        len: u16,
        data: &[u8],
    ) -> Result<Step, FrameError> {
        let len = usize::from(len);
        let max = self.max_message_len();
        self.buffer.clear();
        if len > max {
            self.state = State::Idle;
            return Err(FrameError::LengthTooLarge {
                cid,
                declared: len,
                max,
            });
        }
        let take = len.min(self.config.report_size.init_capacity());
        self.take(cid, command, len, 0, 0, data, take, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        cid: ChannelId,
        command: Command,
        len: usize,
        received: usize,
        next_seq: u8,
        data: &[u8],
        take: usize,
        started: bool,
    ) -> Result<Step, FrameError> {
        // The report is at least `report_size` long, so its data holds `take` bytes.
        let Some(chunk) = data.get(..take) else {
            self.state = State::Idle;
            return Err(FrameError::ShortReport {
                cid: Some(cid),
                expected: self.config.report_size.get(),
                got: data.len(),
            });
        };
        self.buffer.append(received, chunk);
        let received = received + take;
        if received == len {
            self.state = State::Idle;
            Ok(Step::Complete { cid, command, len })
        } else {
            self.state = State::Receiving {
                cid,
                command,
                len,
                received,
                next_seq,
            };
            Ok(Step::NeedMore(Pending {
                cid,
                command,
                received,
                len,
                started,
            }))
        }
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
    /// `Bytes`, without a copy. The buffer then reserves room for the next message: it
    /// takes its memory back if the caller has dropped the `Bytes`, else it allocates
    /// once (at most one allocation per message, none per report).
    ///
    /// # Errors
    /// As [`feed`](Self::feed).
    pub fn feed_bytes(&mut self, report: &[u8]) -> Result<FeedBytes, FrameError> {
        match self.step(report)? {
            Step::NeedMore(pending) => Ok(FeedBytes::NeedMore(pending)),
            Step::OtherChannel { cid, command } => Ok(FeedBytes::OtherChannel { cid, command }),
            Step::Complete { cid, command, len } => {
                let want = self.config.report_size.max_message_len();
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
