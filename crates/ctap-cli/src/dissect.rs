//! `ctap frame encode | decode`: a CTAPHID packet builder and dissector for captures.
//!
//! Decoding follows every channel on its own (a capture interleaves programs, and holds
//! both directions), so a malformed report of one channel never hides another's
//! messages.

use std::collections::BTreeMap;
use std::fmt::Write as _;

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
}

/// Reads reports (hex, one per line; blank lines and `#` comments skipped) and says what
/// they hold.
pub(crate) fn decode(input: &str, report_size: ReportSize) -> Vec<Event> {
    let mut channels: BTreeMap<ChannelId, Channel> = BTreeMap::new();
    let mut events = Vec::new();
    for (index, raw) in input.lines().enumerate() {
        let line = index + 1;
        let text = raw.split('#').next().unwrap_or_default();
        let text: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        if text.is_empty() {
            continue;
        }
        let report = match parse_hex(&text) {
            Ok(bytes) => bytes,
            Err(reason) => {
                events.push(Event::Malformed { line, reason });
                continue;
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
            continue;
        }
        let cid = match Packet::parse(&report) {
            Ok(packet) => packet.cid(),
            Err(error) => {
                events.push(Event::Malformed {
                    line,
                    reason: error.to_string(),
                });
                continue;
            }
        };
        let channel = channels.entry(cid).or_insert_with(|| Channel {
            reassembler: Reassembler::new(
                vec![0u8; report_size.max_message_len()].into_boxed_slice(),
                ReassemblerConfig::new(report_size).with_channel(cid),
            ),
            first_line: line,
        });
        // An init packet cutting into an incomplete message: report what was lost.
        let interrupted = channel.reassembler.pending();
        let first_line = channel.first_line;
        match channel.reassembler.feed(&report) {
            Ok(Feed::NeedMore(pending)) => {
                if pending.started {
                    push_interrupted(&mut events, interrupted, first_line);
                    channel.first_line = line;
                }
            }
            Ok(Feed::Complete(message)) => {
                let started_here =
                    interrupted.is_none() || Packet::parse(&report).is_ok_and(|p| p.is_init());
                if started_here {
                    push_interrupted(&mut events, interrupted, first_line);
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
                        push_interrupted(&mut events, Some(pending), first_line);
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
    }
    for (cid, channel) in channels {
        if let Some(pending) = channel.reassembler.pending() {
            events.push(Event::Incomplete {
                first_line: channel.first_line,
                cid,
                command: pending.command,
                received: pending.received,
                declared: pending.len,
            });
        }
    }
    events
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
    if text.len() % 2 != 0 {
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
