//! A scripted `HidConnection` for tests: it records every report written, answers reads
//! from a queue, and can react to each write (a tiny device model).
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ctap_device::{Error, HidConnection};
use ctap_types::{ChannelId, Command, InitResponse};
use ctaphid_frame::{Packetizer, ReportSize};

/// The channel the scripted device allocates.
pub const CID: ChannelId = ChannelId::new(0x0102_0304);

/// One scripted answer to a read.
#[derive(Debug)]
pub enum Step {
    /// A report (any length: short reports too).
    Report(Vec<u8>),
    /// The read times out (returns at once, without sleeping).
    Timeout,
    /// The read waits this long, then returns no report (time passes for real).
    Sleep(Duration),
    /// The read fails: the device is gone.
    Disconnect,
    /// The read fails with an I/O error.
    Io,
    /// This report, and once it is handed over, the hook runs (on the reading thread):
    /// an event at an exact point of the transaction (e.g. a cancel between a
    /// CHANNEL_BUSY answer and the retry), with no timing involved.
    ReportThen(Vec<u8>, Hook),
}

/// Code a [`Step::ReportThen`] runs.
pub struct Hook(pub Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

/// What the device does when the queue is empty.
#[derive(Clone, Copy, Debug)]
pub enum Idle {
    /// Nothing: the read waits its whole time-out and returns `None`.
    Silent,
    /// A KEEPALIVE with this status on our channel every `period`.
    Keepalive(u8, Duration),
}

/// Reacts to a written report: push answers onto the queue.
pub type Reaction = Box<dyn FnMut(&[u8], &mut VecDeque<Step>) + Send>;

pub struct State {
    pub queue: VecDeque<Step>,
    pub writes: Vec<Vec<u8>>,
    pub idle: Idle,
    pub reaction: Option<Reaction>,
    pub closed: bool,
    /// When the idle device last sent a KEEPALIVE.
    pub last_idle: Instant,
}

/// The connection; clones share the state, so a test keeps one to inspect and script it.
#[derive(Clone)]
pub struct Scripted {
    pub state: Arc<Mutex<State>>,
    pub size: ReportSize,
}

impl Scripted {
    /// A device that answers INIT (our nonce, channel [`CID`]) and nothing else.
    pub fn new() -> Self {
        Self::with_size(ReportSize::FULL_SPEED)
    }

    pub fn with_size(size: ReportSize) -> Self {
        let scripted = Self {
            state: Arc::new(Mutex::new(State {
                queue: VecDeque::new(),
                writes: Vec::new(),
                idle: Idle::Silent,
                reaction: None,
                closed: false,
                last_idle: Instant::now(),
            })),
            size,
        };
        scripted.react(init_responder(size));
        scripted
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Replaces the reaction to writes.
    pub fn react(&self, reaction: impl FnMut(&[u8], &mut VecDeque<Step>) + Send + 'static) {
        self.lock().reaction = Some(Box::new(reaction));
    }

    /// Queues reports for the next reads.
    pub fn push(&self, steps: impl IntoIterator<Item = Step>) {
        self.lock().queue.extend(steps);
    }

    pub fn push_reports(&self, reports: impl IntoIterator<Item = Vec<u8>>) {
        self.push(reports.into_iter().map(Step::Report));
    }

    pub fn set_idle(&self, idle: Idle) {
        self.lock().idle = idle;
    }

    pub fn writes(&self) -> Vec<Vec<u8>> {
        self.lock().writes.clone()
    }

    pub fn clear_writes(&self) {
        self.lock().writes.clear();
    }
}

impl HidConnection for Scripted {
    fn write_report(&mut self, report: &[u8]) -> Result<(), Error> {
        let mut state = self.lock();
        if state.closed {
            return Err(Error::Disconnected);
        }
        assert_eq!(report.len(), self.size.get(), "reports are written whole");
        state.writes.push(report.to_vec());
        if let Some(mut reaction) = state.reaction.take() {
            reaction(report, &mut state.queue);
            if state.reaction.is_none() {
                state.reaction = Some(reaction);
            }
        }
        Ok(())
    }

    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, Error> {
        let mut state = self.lock();
        if state.closed {
            return Err(Error::Disconnected);
        }
        match state.queue.pop_front() {
            Some(Step::Report(report)) => {
                let len = report.len().min(buf.len());
                buf[..len].copy_from_slice(&report[..len]);
                Ok(Some(len))
            }
            Some(Step::ReportThen(report, Hook(hook))) => {
                drop(state);
                let len = report.len().min(buf.len());
                buf[..len].copy_from_slice(&report[..len]);
                hook();
                Ok(Some(len))
            }
            Some(Step::Timeout) => Ok(None),
            Some(Step::Sleep(duration)) => {
                drop(state);
                std::thread::sleep(duration);
                Ok(None)
            }
            Some(Step::Disconnect) => Err(Error::Disconnected),
            Some(Step::Io) => Err(Error::Io(std::io::Error::other("scripted I/O failure"))),
            None => match state.idle {
                Idle::Silent => {
                    drop(state);
                    std::thread::sleep(timeout);
                    Ok(None)
                }
                Idle::Keepalive(status, period) => {
                    // A KEEPALIVE every `period`, whatever the reads' time-outs.
                    let due = state.last_idle + period;
                    let now = Instant::now();
                    if due > now {
                        drop(state);
                        let wait = due - now;
                        if timeout < wait {
                            std::thread::sleep(timeout);
                            return Ok(None);
                        }
                        std::thread::sleep(wait);
                        state = self.lock();
                    }
                    state.last_idle = Instant::now();
                    let report = packets(CID, Command::KEEPALIVE, &[status], self.size).remove(0);
                    buf[..report.len()].copy_from_slice(&report);
                    Ok(Some(report.len()))
                }
            },
        }
    }

    fn input_report_size(&self) -> ReportSize {
        self.size
    }

    fn output_report_size(&self) -> ReportSize {
        self.size
    }

    fn close(&mut self) {
        self.lock().closed = true;
    }
}

/// The reports of one message.
pub fn packets(cid: ChannelId, command: Command, payload: &[u8], size: ReportSize) -> Vec<Vec<u8>> {
    Packetizer::new(cid, command, payload, size)
        .unwrap()
        .map(|r| r.to_vec())
        .collect()
}

/// The one report of a short message at 64 bytes.
pub fn report(cid: ChannelId, command: Command, payload: &[u8]) -> Vec<u8> {
    let mut all = packets(cid, command, payload, ReportSize::FULL_SPEED);
    assert_eq!(all.len(), 1);
    all.remove(0)
}

/// INIT answer bytes for `nonce` granting `cid`.
pub fn init_answer(nonce: [u8; 8], cid: ChannelId) -> Vec<u8> {
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&cid.to_be_bytes());
    bytes.extend_from_slice(&[2, 5, 4, 3, 0x05]);
    bytes
}

/// The nonce of an INIT request report.
pub fn nonce_of(report: &[u8]) -> Option<[u8; 8]> {
    if report.get(4) == Some(&Command::INIT.to_init_byte()) {
        report.get(7..15).map(|n| n.try_into().unwrap())
    } else {
        None
    }
}

/// The command of an init packet.
pub fn command_of(report: &[u8]) -> Option<Command> {
    let marker = *report.get(4)?;
    (marker & 0x80 != 0).then(|| Command::from_init_byte(marker))
}

pub fn cid_of(report: &[u8]) -> ChannelId {
    ChannelId::from_be_bytes(report[..4].try_into().unwrap())
}

/// Answers every INIT (on any channel) with our nonce and channel [`CID`]; the request
/// is reassembled, so any report size works.
pub fn init_responder(size: ReportSize) -> impl FnMut(&[u8], &mut VecDeque<Step>) + Send {
    let mut echo = responder(size, false);
    move |report, queue| echo(report, queue)
}

/// A device that answers INIT, echoes every other request (reassembled) with the same
/// command, and ignores CANCEL.
pub fn echo_device(size: ReportSize) -> impl FnMut(&[u8], &mut VecDeque<Step>) + Send {
    responder(size, true)
}

fn responder(size: ReportSize, echo: bool) -> impl FnMut(&[u8], &mut VecDeque<Step>) + Send {
    let buffer = vec![0u8; size.max_message_len()].into_boxed_slice();
    let mut reassembler =
        ctaphid_frame::Reassembler::new(buffer, ctaphid_frame::ReassemblerConfig::new(size));
    move |report, queue| {
        let Ok(ctaphid_frame::Feed::Complete(message)) = reassembler.feed(report) else {
            return;
        };
        let answer = if message.command == Command::INIT {
            let nonce: [u8; 8] = message.payload.try_into().unwrap();
            init_answer(nonce, CID)
        } else if echo && message.command != Command::CANCEL {
            message.payload.to_vec()
        } else {
            return;
        };
        for r in packets(message.cid, message.command, &answer, size) {
            queue.push_back(Step::Report(r));
        }
    }
}

/// A parsed INIT answer for assertions.
pub fn parse_init(bytes: &[u8]) -> InitResponse {
    InitResponse::parse(bytes).unwrap()
}
