//! `ctap frame encode|decode`: CTAPHID reports from a payload, and a dissector for
//! captures (see `crate::dissect`).

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use ctap::frame::ReportSize;
use serde_json::{Value as Json, json};

use crate::dissect::{self, Event};
use crate::error::{Failure, Outcome};
use crate::globals::Global;
use crate::output::print_json;

#[derive(Debug, Subcommand)]
pub(crate) enum FrameCommand {
    /// Split a payload into reports, one per line, lower-case hex (no report-ID byte).
    Encode(EncodeArgs),
    /// Read reports (hex, one per line) and print each complete message and each
    /// malformed report with its line number; exit status 1 if any was malformed.
    Decode(DecodeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct EncodeArgs {
    /// Channel id, hex (e.g. 01020304, ffffffff for broadcast).
    #[arg(long)]
    pub(crate) cid: String,
    /// The command (name or number).
    #[arg(long)]
    pub(crate) cmd: String,
    /// The payload as hex.
    #[arg(
        long,
        conflicts_with = "payload_file",
        required_unless_present = "payload_file"
    )]
    pub(crate) payload: Option<String>,
    /// Read the payload (raw bytes) from a file.
    #[arg(long, value_name = "FILE")]
    pub(crate) payload_file: Option<PathBuf>,
    /// Report size in bytes, 8..=64.
    #[arg(long, default_value_t = 64)]
    pub(crate) report_size: usize,
}

#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// The file to read, or `-` for standard input.
    #[arg(default_value = "-")]
    pub(crate) file: String,
    /// Report size in bytes, 8..=64.
    #[arg(long, default_value_t = 64)]
    pub(crate) report_size: usize,
}

/// Runs `ctap frame ...`.
pub(crate) fn run(global: &Global, command: &FrameCommand) -> Outcome {
    match command {
        FrameCommand::Encode(args) => encode(global, args),
        FrameCommand::Decode(args) => decode(global, args),
    }
}

fn report_size(bytes: usize) -> Result<ReportSize, Failure> {
    ReportSize::new(bytes).map_err(|e| Failure::with_status(format!("--report-size: {e}"), 2))
}

fn encode(global: &Global, args: &EncodeArgs) -> Outcome {
    let cid = dissect::parse_cid(&args.cid)
        .map_err(|e| Failure::with_status(format!("--cid: {e}"), 2))?;
    let command = dissect::parse_command(&args.cmd)
        .map_err(|e| Failure::with_status(format!("--cmd: {e}"), 2))?;
    let payload = match (&args.payload, &args.payload_file) {
        (Some(hex), _) => dissect::parse_hex(&hex.replace([' ', ':'], ""))
            .map_err(|e| Failure::with_status(format!("--payload: {e}"), 2))?,
        (None, Some(path)) => read_bounded(path, report_size(args.report_size)?)?,
        (None, None) => Vec::new(),
    };
    let reports = dissect::encode(cid, command, &payload, report_size(args.report_size)?)
        .map_err(|e| Failure::new(e.to_string()))?;
    if global.json {
        print_json(&json!({ "reports": reports }));
    } else {
        let mut out = std::io::stdout().lock();
        for report in reports {
            writeln!(out, "{report}")?;
        }
    }
    Ok(())
}

/// A payload file, read no further than one byte past the longest message (so
/// `/dev/zero` or a huge file costs nothing and is refused with its size limit).
fn read_bounded(path: &std::path::Path, size: ReportSize) -> Result<Vec<u8>, Failure> {
    use std::io::Read as _;
    let max = size.max_message_len();
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
    let mut payload = Vec::new();
    file.take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut payload)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
    if payload.len() > max {
        return Err(Failure::new(format!(
            "{} is over the maximum message of {max} bytes (report size {})",
            path.display(),
            size.get()
        )));
    }
    Ok(payload)
}

fn decode(global: &Global, args: &DecodeArgs) -> Outcome {
    let size = report_size(args.report_size)?;
    // Streamed: one line in, its events out, so memory does not grow with the capture
    // (see dissect::MAX_CHANNELS).
    let input: Box<dyn std::io::BufRead> = if args.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.file)
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", args.file)))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut problems = 0usize;
    let mut first = true;
    if global.json {
        crate::output::json_printed();
        write!(out, "{{\n  \"events\": [")?;
    }
    let mut write_failed = false;
    let decoded = dissect::decode_stream(input, size, |event| {
        if event.is_problem() {
            problems += 1;
        }
        let written = if global.json {
            let separator = if first { "" } else { "," };
            first = false;
            write!(out, "{separator}\n    {}", event_json(&event))
        } else {
            writeln!(out, "{}", event_text(&event))
        };
        written.inspect_err(|_| write_failed = true)
    });
    decoded.map_err(|e| {
        if write_failed {
            Failure::stdout(e)
        } else {
            Failure::new(format!("cannot read {}: {e}", args.file))
        }
    })?;
    if global.json {
        let close = if first { "" } else { "\n  " };
        writeln!(out, "{close}],\n  \"malformed\": {problems}\n}}")?;
    }
    out.flush()?;
    if problems > 0 {
        return Err(Failure::new(format!(
            "{problems} malformed or incomplete report(s)"
        )));
    }
    Ok(())
}

fn event_text(event: &Event) -> String {
    match event {
        Event::Message {
            first_line,
            last_line,
            cid,
            command,
            payload,
        } => {
            let lines = if first_line == last_line {
                format!("line {first_line}")
            } else {
                format!("lines {first_line}-{last_line}")
            };
            format!(
                "{lines}: cid {cid} {command} len {} payload {}",
                payload.len(),
                dissect::hex(payload)
            )
        }
        Event::Malformed { line, reason } => format!("line {line}: malformed: {reason}"),
        Event::Abandoned {
            first_line,
            cid,
            command,
            received,
            declared,
        } => format!(
            "line {first_line}: abandoned: cid {cid} {command} got {received} of {declared} bytes; \
             over {} channels had a message in progress, this one was idle longest",
            dissect::MAX_CHANNELS
        ),
        Event::Incomplete {
            first_line,
            cid,
            command,
            received,
            declared,
        } => format!(
            "line {first_line}: incomplete: cid {cid} {command} got {received} of {declared} bytes"
        ),
    }
}

fn event_json(event: &Event) -> Json {
    match event {
        Event::Message {
            first_line,
            last_line,
            cid,
            command,
            payload,
        } => json!({
            "kind": "message", "first_line": first_line, "last_line": last_line,
            "cid": cid.to_string(), "command": command.to_string(), "command_code": command.to_u8(),
            "length": payload.len(), "payload": dissect::hex(payload),
        }),
        Event::Malformed { line, reason } => {
            json!({ "kind": "malformed", "line": line, "reason": reason })
        }
        Event::Abandoned {
            first_line,
            cid,
            command,
            received,
            declared,
        } => json!({
            "kind": "abandoned", "first_line": first_line, "cid": cid.to_string(),
            "command": command.to_string(), "received": received, "declared": declared,
            "reason": format!("over {} channels had a message in progress", dissect::MAX_CHANNELS),
        }),
        Event::Incomplete {
            first_line,
            cid,
            command,
            received,
            declared,
        } => json!({
            "kind": "incomplete", "first_line": first_line, "cid": cid.to_string(),
            "command": command.to_string(), "received": received, "declared": declared,
        }),
    }
}
