//! `ctap frame encode | decode`: a CTAPHID packet builder and dissector for captures.
//!
//! Decoding follows every channel on its own (a capture interleaves programs, and holds
//! both directions), so a malformed report of one channel never hides another's
//! messages.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, Read as _};

use ctap::frame::{
    Feed, FrameError, Packet, Packetizer, Reassembler, ReassemblerConfig, ReportSize,
};
use ctap::types::{ChannelId, Command};

/// One thing the dissector found, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A complete message.
    Message {
        /// Line of its first report (1-based).
        first_line: usize,
        /// Line of its last report.
        last_line: usize,
        /// Channel.
        cid: ChannelId,
        /// Command.
        command: Command,
        /// Payload.
        payload: Vec<u8>,
    },
    /// A report that could not be used, and why.
    Malformed {
        /// Its line (1-based).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A message in progress given up on to bound memory: more than [`MAX_CHANNELS`]
    /// channels had one at once, and this channel was idle longest.
    Abandoned {
        /// Line of its first report.
        first_line: usize,
        /// Channel.
        cid: ChannelId,
        /// Command.
        command: Command,
        /// Bytes received.
        received: usize,
        /// Bytes declared.
        declared: usize,
    },
    /// A message whose reports stopped before its declared length.
    Incomplete {
        /// Line of its first report.
        first_line: usize,
        /// Channel.
        cid: ChannelId,
        /// Command.
        command: Command,
        /// Bytes received.
        received: usize,
        /// Bytes declared.
        declared: usize,
    },
}

impl Event {
    /// `true` for events that make `frame decode` exit with status 1.
    pub(crate) fn is_problem(&self) -> bool {
        !matches!(self, Self::Message { .. })
    }
}

/// Splits a payload into reports, each as lower-case hex (no report-ID byte).
pub(crate) fn encode(
    cid: ChannelId,
    command: Command,
    payload: &[u8],
    report_size: ReportSize,
) -> Result<Vec<String>, FrameError> {
    Ok(Packetizer::new(cid, command, payload, report_size)?
        .map(|report| hex(&report))
        .collect())
}

struct Channel {
    reassembler: Reassembler<Box<[u8]>>,
    first_line: usize,
    /// The line of its latest report: the channel idle longest is dropped first.
    last_line: usize,
}

/// The most channels followed at once with a message in progress. A channel is dropped
/// as soon as its message is complete, so only interleaved, unfinished messages count;
/// when one more starts, the channel idle longest is dropped (reported as
/// [`Event::Abandoned`]). Each costs one maximum message (7609 bytes), so memory stays
/// under 2 MB whatever the capture holds.
pub(crate) const MAX_CHANNELS: usize = 256;

/// The longest input line read (a 64-byte report is 128 hex digits; separators and a
/// comment fit easily); the rest of a longer line is skipped and the line reported.
pub(crate) const MAX_LINE: usize = 4096;

/// Reads reports (hex, one per line; blank lines and `#` comments skipped) and says what
/// they hold: each event goes to `sink` as soon as it is known, so memory does not grow
/// with the capture.
///
/// # Errors
/// A read error of `input` or an error of `sink`.
pub(crate) fn decode_stream(
    mut input: impl BufRead,
    report_size: ReportSize,
    mut sink: impl FnMut(Event) -> io::Result<()>,
) -> io::Result<()> {
    let mut channels: BTreeMap<ChannelId, Channel> = BTreeMap::new();
    let mut events = Vec::new();
    let mut raw = Vec::with_capacity(256);
    let mut line = 0;
    while let Some(complete) = read_line(&mut input, &mut raw)? {
        line += 1;
        if !complete {
            sink(Event::Malformed {
                line,
                reason: format!("line longer than {MAX_LINE} bytes"),
            })?;
            continue;
        }
        decode_line(&mut channels, &mut events, &raw, line, report_size);
        for event in events.drain(..) {
            sink(event)?;
        }
    }
    for (cid, channel) in channels {
        if let Some(pending) = channel.reassembler.pending() {
            sink(Event::Incomplete {
                first_line: channel.first_line,
                cid,
                command: pending.command,
                received: pending.received,
                declared: pending.len,
            })?;
        }
    }
    Ok(())
}

/// As [`decode_stream`], collecting the events (for tests and small inputs).
#[cfg(test)]
pub(crate) fn decode(input: &str, report_size: ReportSize) -> Vec<Event> {
    let mut events = Vec::new();
    decode_stream(input.as_bytes(), report_size, |event| {
        events.push(event);
        Ok(())
    })
    .expect("reading a string and pushing to a Vec cannot fail");
    events
}

/// The next line into `buf` (without its newline): `Some(true)` for a line,
/// `Some(false)` for one longer than [`MAX_LINE`] (the rest is skipped), `None` at the
/// end.
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Option<bool>> {
    buf.clear();
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
    let read = input.by_ref().take(limit + 1).read_until(b'\n', buf)?;
    if read == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return Ok(Some(true));
    }
    if buf.len() <= MAX_LINE {
        return Ok(Some(true)); // the last line, without a newline
    }
    // Too long: skip to the end of the line without keeping it.
    loop {
        buf.clear();
        let read = input.by_ref().take(limit).read_until(b'\n', buf)?;
        if read == 0 || buf.last() == Some(&b'\n') {
            break;
        }
    }
    buf.clear();
    Ok(Some(false))
}

fn decode_line(
    channels: &mut BTreeMap<ChannelId, Channel>,
    events: &mut Vec<Event>,
    raw: &[u8],
    line: usize,
    report_size: ReportSize,
) {
    let raw = String::from_utf8_lossy(raw);
    let text = raw.split('#').next().unwrap_or_default();
    let text: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if text.is_empty() {
        return;
    }
    let report = match parse_hex(&text) {
        Ok(bytes) => bytes,
        Err(reason) => {
            events.push(Event::Malformed { line, reason });
            return;
        }
    };
    if report.len() != report_size.get() {
        events.push(Event::Malformed {
            line,
            reason: format!(
                "report is {} bytes, expected {} (the report size; see --report-size)",
                report.len(),
                report_size.get()
            ),
        });
        return;
    }
    let cid = match Packet::parse(&report) {
        Ok(packet) => packet.cid(),
        Err(error) => {
            events.push(Event::Malformed {
                line,
                reason: error.to_string(),
            });
            return;
        }
    };
    if !channels.contains_key(&cid) && channels.len() >= MAX_CHANNELS {
        let idle = channels
            .iter()
            .min_by_key(|(_, channel)| channel.last_line)
            .map(|(cid, _)| *cid);
        if let Some(channel) = idle.and_then(|idle| channels.remove(&idle)) {
            if let Some(p) = channel.reassembler.pending() {
                events.push(Event::Abandoned {
                    first_line: channel.first_line,
                    cid: p.cid,
                    command: p.command,
                    received: p.received,
                    declared: p.len,
                });
            }
        }
    }
    let channel = channels.entry(cid).or_insert_with(|| Channel {
        reassembler: Reassembler::new(
            vec![0u8; report_size.max_message_len()].into_boxed_slice(),
            ReassemblerConfig::new(report_size).with_channel(cid),
        ),
        first_line: line,
        last_line: line,
    });
    channel.last_line = line;
    // An init packet cutting into an incomplete message: report what was lost.
    let interrupted = channel.reassembler.pending();
    let first_line = channel.first_line;
    match channel.reassembler.feed(&report) {
        Ok(Feed::NeedMore(pending)) => {
            if pending.started {
                push_interrupted(events, interrupted, first_line);
                channel.first_line = line;
            }
        }
        Ok(Feed::Complete(message)) => {
            let started_here =
                interrupted.is_none() || Packet::parse(&report).is_ok_and(|p| p.is_init());
            if started_here {
                push_interrupted(events, interrupted, first_line);
            }
            events.push(Event::Message {
                first_line: if started_here { line } else { first_line },
                last_line: line,
                cid: message.cid,
                command: message.command,
                payload: message.payload.to_vec(),
            });
        }
        Ok(Feed::OtherChannel { .. }) => {
            events.push(Event::Malformed {
                line,
                reason: "internal: report routed to the wrong channel".into(),
            });
        }
        Err(error) => {
            if let Some(pending) = interrupted {
                if !matches!(error, FrameError::SequenceMismatch { .. }) {
                    push_interrupted(events, Some(pending), first_line);
                }
            }
            let mut reason = error.to_string();
            if let FrameError::SequenceMismatch { .. } = error {
                if let Some(p) = interrupted {
                    let _ = write!(
                        reason,
                        "; the {} message from line {first_line} ({} of {} bytes) is dropped",
                        p.command, p.received, p.len
                    );
                }
            }
            events.push(Event::Malformed { line, reason });
        }
    }
    // A channel with nothing in progress costs nothing: drop it (a new init packet
    // starts it again).
    if channel.reassembler.pending().is_none() {
        channels.remove(&cid);
    }
}

fn push_interrupted(
    events: &mut Vec<Event>,
    interrupted: Option<ctap::frame::Pending>,
    first_line: usize,
) {
    if let Some(p) = interrupted {
        events.push(Event::Incomplete {
            first_line,
            cid: p.cid,
            command: p.command,
            received: p.received,
            declared: p.len,
        });
    }
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    ctap::types::Hex(bytes).to_string()
}

/// Bytes of a hex string (no separators; upper or lower case).
pub(crate) fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    if !text.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", text.len()));
    }
    text.as_bytes()
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            let digits = std::str::from_utf8(pair).unwrap_or("??");
            u8::from_str_radix(digits, 16)
                .map_err(|_| format!("not a hex byte at position {}: {digits:?}", i * 2 + 1))
        })
        .collect()
}

/// A CTAPHID command by name (`ping`, `CBOR`) or number (`0x10`, `16`).
pub(crate) fn parse_command(text: &str) -> Result<Command, String> {
    let named = [
        ("ping", Command::PING),
        ("msg", Command::MSG),
        ("lock", Command::LOCK),
        ("init", Command::INIT),
        ("wink", Command::WINK),
        ("cbor", Command::CBOR),
        ("cancel", Command::CANCEL),
        ("keepalive", Command::KEEPALIVE),
        ("error", Command::ERROR),
    ];
    let lower = text.trim().to_ascii_lowercase();
    if let Some((_, command)) = named.iter().find(|(name, _)| *name == lower) {
        return Ok(*command);
    }
    let number = if let Some(hex) = lower.strip_prefix("0x") {
        u8::from_str_radix(hex, 16)
    } else {
        lower.parse::<u8>()
    }
    .map_err(|_| format!("unknown command {text:?}: use a name (ping, msg, lock, init, wink, cbor, cancel) or a number 0x00..=0x7f"))?;
    Command::try_from(number).map_err(|e| e.to_string())
}

/// A channel id as 8 hex digits (`01020304`, `0xffffffff`).
pub(crate) fn parse_cid(text: &str) -> Result<ChannelId, String> {
    let digits = text.trim().trim_start_matches("0x");
    if digits.is_empty() || digits.len() > 8 {
        return Err(format!("channel id {text:?} must be 1 to 8 hex digits"));
    }
    u32::from_str_radix(digits, 16)
        .map(ChannelId::new)
        .map_err(|_| format!("channel id {text:?} is not hex"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: ChannelId = ChannelId::new(0x0102_0304);

    #[test]
    fn encode_matches_the_golden_vectors() {
        let reports = encode(CID, Command::CBOR, &[0x04], ReportSize::FULL_SPEED).unwrap();
        assert_eq!(
            reports,
            vec![format!("0102030490000104{}", "00".repeat(56))]
        );
        let payload: Vec<u8> = (1..=58).collect();
        let reports = encode(CID, Command::PING, &payload, ReportSize::FULL_SPEED).unwrap();
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[1], format!("01020304003a{}", "00".repeat(58)));
        let reports = encode(CID, Command::PING, &vec![7; 7609], ReportSize::FULL_SPEED).unwrap();
        assert_eq!(reports.len(), 129);
        assert!(reports[128].starts_with("010203047f"));
        assert!(encode(CID, Command::PING, &vec![7; 7610], ReportSize::FULL_SPEED).is_err());
    }

    #[test]
    fn decode_reassembles_interleaved_channels() {
        let a = encode(CID, Command::PING, &[0xAA; 100], ReportSize::FULL_SPEED).unwrap();
        let b = encode(
            ChannelId::new(9),
            Command::CBOR,
            &[0x04],
            ReportSize::FULL_SPEED,
        )
        .unwrap();
        let input = format!("# capture\n{}\n\n{}\n{}\n", a[0], b[0], a[1]);
        let events = decode(&input, ReportSize::FULL_SPEED);
        assert_eq!(
            events,
            vec![
                Event::Message {
                    first_line: 4,
                    last_line: 4,
                    cid: ChannelId::new(9),
                    command: Command::CBOR,
                    payload: vec![4]
                },
                Event::Message {
                    first_line: 2,
                    last_line: 5,
                    cid: CID,
                    command: Command::PING,
                    payload: vec![0xAA; 100]
                },
            ]
        );
    }

    #[test]
    fn decode_names_malformed_lines() {
        let a = encode(CID, Command::PING, &[0xAA; 200], ReportSize::FULL_SPEED).unwrap();
        let mut wrong_seq = a[2].clone();
        wrong_seq.replace_range(8..10, "05");
        let input = format!(
            "{}\nzz\n{}\n{}\nabc\n0102\n",
            a[0],
            wrong_seq,
            "00".repeat(63)
        );
        let events = decode(&input, ReportSize::FULL_SPEED);
        let problems: Vec<(usize, String)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Malformed { line, reason } => Some((*line, reason.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(problems.len(), 5, "{events:?}");
        assert_eq!(problems[0].0, 2);
        assert!(problems[0].1.contains("not a hex byte"));
        assert_eq!(problems[1].0, 3);
        assert!(
            problems[1]
                .1
                .contains("wrong SEQ on channel 01020304: expected 0, got 5"),
            "{}",
            problems[1].1
        );
        assert_eq!(problems[2].0, 4);
        assert!(problems[2].1.contains("63 bytes, expected 64"));
        assert_eq!(problems[3].0, 5);
        assert!(problems[3].1.contains("odd number"));
        assert_eq!(problems[4].0, 6);
        assert!(events.iter().all(|e| e.is_problem()));
    }

    #[test]
    fn decode_reports_incomplete_messages() {
        let a = encode(CID, Command::PING, &[1; 100], ReportSize::FULL_SPEED).unwrap();
        let events = decode(&a[0], ReportSize::FULL_SPEED);
        assert_eq!(
            events,
            vec![Event::Incomplete {
                first_line: 1,
                cid: CID,
                command: Command::PING,
                received: 57,
                declared: 100
            }]
        );
    }

    #[test]
    fn finished_channels_are_dropped_and_unfinished_ones_capped() {
        // Many channels each start a long message and never finish it: the oldest are
        // abandoned (and said so), never more than MAX_CHANNELS are kept.
        let mut input = String::new();
        let extra = 10;
        for n in 0..MAX_CHANNELS + extra {
            let cid = ChannelId::new(u32::try_from(n).unwrap() + 1);
            let reports = encode(cid, Command::PING, &[1; 100], ReportSize::FULL_SPEED).unwrap();
            input.push_str(&reports[0]);
            input.push('\n');
        }
        let events = decode(&input, ReportSize::FULL_SPEED);
        let abandoned: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Abandoned { cid, .. } => Some(*cid),
                _ => None,
            })
            .collect();
        assert_eq!(abandoned.len(), extra);
        // The idle-longest go first: channels 1..=extra.
        assert_eq!(abandoned.first(), Some(&ChannelId::new(1)));
        let incomplete = events
            .iter()
            .filter(|e| matches!(e, Event::Incomplete { .. }))
            .count();
        assert_eq!(incomplete, MAX_CHANNELS);

        // Complete messages on ever new channels: nothing is abandoned.
        let mut input = String::new();
        for n in 0..MAX_CHANNELS * 2 {
            let cid = ChannelId::new(u32::try_from(n).unwrap() + 1);
            for report in encode(cid, Command::PING, &[2; 60], ReportSize::FULL_SPEED).unwrap() {
                input.push_str(&report);
                input.push('\n');
            }
        }
        let events = decode(&input, ReportSize::FULL_SPEED);
        assert_eq!(events.len(), MAX_CHANNELS * 2);
        assert!(events.iter().all(|e| !e.is_problem()));
    }

    #[test]
    fn overlong_lines_are_skipped_and_named() {
        let report = encode(CID, Command::CBOR, &[4], ReportSize::FULL_SPEED).unwrap();
        let input = format!("{}\n{}\n", "0".repeat(MAX_LINE * 3), report[0]);
        let events = decode(&input, ReportSize::FULL_SPEED);
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(
            matches!(&events[0], Event::Malformed { line: 1, reason } if reason.contains("longer than")),
            "{events:?}"
        );
        assert!(matches!(&events[1], Event::Message { first_line: 2, .. }));
    }

    #[test]
    fn commands_and_channels_parse_by_name_and_number() {
        assert_eq!(parse_command("ping"), Ok(Command::PING));
        assert_eq!(parse_command("CBOR"), Ok(Command::CBOR));
        assert_eq!(parse_command("0x41").map(Command::to_u8), Ok(0x41));
        assert_eq!(parse_command("16"), Ok(Command::CBOR));
        assert!(parse_command("0x80").unwrap_err().contains("0x80"));
        assert!(
            parse_command("jump")
                .unwrap_err()
                .contains("unknown command")
        );
        assert_eq!(parse_cid("01020304"), Ok(CID));
        assert_eq!(parse_cid("0xffffffff"), Ok(ChannelId::BROADCAST));
        assert!(parse_cid("123456789").is_err());
        assert!(parse_cid("xyz").is_err());
    }
}
