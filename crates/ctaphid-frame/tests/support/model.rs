//! A reference reassembler written straight from the spec (CTAP 2.1 §11.2.4 and the
//! crate's documented choices), with a `Vec` and no fast paths. The property tests and
//! the fuzz target feed it and the real `Reassembler` the same reports and demand the
//! same outcome, report by report.
//!
//! Shared by `tests/properties.rs` and `fuzz/fuzz_targets/reassemble.rs` (`#[path]`).

#![allow(dead_code, unreachable_pub, clippy::indexing_slicing)]

use ctap_types::{ChannelId, Command};
use ctaphid_frame::{
    Feed, FrameError, InitOnBusy, Pending, ReassemblerConfig, ReportSize, max_message_len,
};

/// One outcome, owned, so the model's and the real reassembler's can be compared.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    NeedMore(Pending),
    Complete {
        cid: ChannelId,
        command: Command,
        payload: Vec<u8>,
    },
    OtherChannel {
        cid: ChannelId,
        command: Option<Command>,
    },
    Error(FrameError),
}

impl Outcome {
    /// The real reassembler's answer, owned.
    pub fn of(result: Result<Feed<'_>, FrameError>) -> Self {
        match result {
            Ok(Feed::NeedMore(pending)) => Self::NeedMore(pending),
            Ok(Feed::Complete(message)) => Self::Complete {
                cid: message.cid,
                command: message.command,
                payload: message.payload.to_vec(),
            },
            Ok(Feed::OtherChannel { cid, command }) => Self::OtherChannel { cid, command },
            Err(e) => Self::Error(e),
        }
    }
}

struct InProgress {
    cid: ChannelId,
    command: Command,
    len: usize,
    data: Vec<u8>,
    next_seq: u8,
}

/// The reference reassembler.
pub struct Model {
    size: usize,
    channel: Option<ChannelId>,
    init_on_busy: InitOnBusy,
    max: usize,
    state: Option<InProgress>,
}

impl Model {
    /// A model of `Reassembler::new(buffer of buffer_len bytes, config)`.
    pub fn new(config: ReassemblerConfig, buffer_len: usize) -> Self {
        let size = config.report_size.get();
        Self {
            size,
            channel: config.channel,
            init_on_busy: config.init_on_busy,
            max: buffer_len.min(max_message_len(size)),
            state: None,
        }
    }

    /// The model's answer to one report.
    pub fn feed(&mut self, report: &[u8]) -> Outcome {
        let short = |cid| {
            Outcome::Error(FrameError::ShortReport {
                cid,
                expected: self.size,
                got: report.len(),
            })
        };
        // The documented contract, written plainly: a report that cannot name a channel
        // changes nothing; one of another channel never touches the message in
        // progress (five bytes say whether it is an init packet: `OtherChannel`); any
        // other error leaves no message in progress.
        if report.len() < 4 {
            return short(None);
        }
        let cid = ChannelId::from_be_bytes([report[0], report[1], report[2], report[3]]);
        let other = self.channel.is_some_and(|mine| mine != cid)
            || self.state.as_ref().is_some_and(|busy| busy.cid != cid);
        if report.len() == 4 {
            if !other {
                self.state = None;
            }
            return short(Some(cid));
        }
        let marker = report[4];
        let is_init = marker & 0x80 != 0;
        let command = is_init.then(|| Command::from_init_byte(marker));
        if other {
            return Outcome::OtherChannel { cid, command };
        }
        if report.len() < self.size {
            self.state = None;
            return short(Some(cid));
        }
        let report = &report[..self.size];
        match command {
            Some(command) => {
                if self.state.is_some()
                    && command != Command::INIT
                    && self.init_on_busy == InitOnBusy::Reject
                {
                    self.state = None;
                    return Outcome::Error(FrameError::UnexpectedInit { cid, command });
                }
                let len = usize::from(u16::from_be_bytes([report[5], report[6]]));
                if len > self.max {
                    self.state = None;
                    return Outcome::Error(FrameError::LengthTooLarge {
                        cid,
                        declared: len,
                        max: self.max,
                    });
                }
                let data = &report[7..];
                let take = len.min(data.len());
                self.state = Some(InProgress {
                    cid,
                    command,
                    len,
                    data: data[..take].to_vec(),
                    next_seq: 0,
                });
                self.progress(true)
            }
            None => {
                let Some(state) = self.state.as_mut() else {
                    return Outcome::Error(FrameError::UnexpectedContinuation { cid, seq: marker });
                };
                if marker != state.next_seq {
                    let expected = state.next_seq;
                    self.state = None;
                    return Outcome::Error(FrameError::SequenceMismatch {
                        cid,
                        expected,
                        got: marker,
                    });
                }
                let data = &report[5..];
                let take = (state.len - state.data.len()).min(data.len());
                state.data.extend_from_slice(&data[..take]);
                state.next_seq += 1;
                self.progress(false)
            }
        }
    }

    fn progress(&mut self, started: bool) -> Outcome {
        let Some(state) = self.state.take() else {
            unreachable!("progress is called while receiving");
        };
        if state.data.len() == state.len {
            return Outcome::Complete {
                cid: state.cid,
                command: state.command,
                payload: state.data,
            };
        }
        let pending = Pending {
            cid: state.cid,
            command: state.command,
            received: state.data.len(),
            len: state.len,
            started,
        };
        self.state = Some(state);
        Outcome::NeedMore(pending)
    }

    /// The message in progress, as `Reassembler::pending` says it.
    pub fn pending(&self) -> Option<Pending> {
        self.state.as_ref().map(|state| Pending {
            cid: state.cid,
            command: state.command,
            received: state.data.len(),
            len: state.len,
            started: false,
        })
    }
}

/// A report size from a byte: 8..=64, 64 half of the time (the hot path).
pub fn report_size(byte: u8) -> ReportSize {
    let size = if byte & 1 == 0 {
        64
    } else {
        8 + usize::from(byte >> 1) % 57
    };
    ReportSize::new(size).unwrap_or(ReportSize::FULL_SPEED)
}
