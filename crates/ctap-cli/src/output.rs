//! Output, in one place: stdout lines that never panic, a command's result as text or
//! as one JSON document (`--json`), and the byte encodings shown to people (hex).
//!
//! This module is declared first with `#[macro_use]`, so its `println!` and `eprintln!`
//! shadow std's in every module of the crate.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value as Json;

use crate::error::{Failure, usage};
use crate::globals::Global;

/// `println!` for this crate (it shadows std's in every module): the same, except that
/// a write that fails does not panic. The command unwinds with [`StdoutFailed`] instead
/// (running destructors: a `select` still sends CANCEL) and `main` ends it: a closed
/// stdout quietly with status 0, another write error with a message and status 1.
macro_rules! println {
    () => {
        $crate::output::print_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::print_line(format_args!($($arg)*))
    };
}

/// `eprintln!` for this crate: the same, except that a closed stderr is ignored rather
/// than a panic (there is nowhere left to report it).
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Why a [`println!`] unwound: writing to stdout failed.
#[derive(Debug)]
pub(crate) struct StdoutFailed(pub(crate) std::io::Error);

/// What [`println!`] does: one line to stdout, or an unwind with [`StdoutFailed`] (not a
/// panic: no panic message is printed).
pub(crate) fn print_line(args: fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        drop(out);
        if cfg!(panic = "abort") {
            // No unwinding to `main` in such a build: end here, with the same outcome.
            let failure = Failure::stdout(error);
            if !failure.message.is_empty() {
                eprintln!("ctap: {failure}");
            }
            std::process::exit(i32::from(failure.status));
        }
        std::panic::resume_unwind(Box::new(StdoutFailed(error)));
    }
}

/// Whether this run printed its `--json` document already (then a failure after it, such
/// as a signature that did not verify, adds no error document: stdout stays one
/// document).
static PRINTED_JSON: AtomicBool = AtomicBool::new(false);

/// Notes that the command's JSON document is on stdout (for output written without
/// [`print_json`]).
pub(crate) fn json_printed() {
    PRINTED_JSON.store(true, Ordering::SeqCst);
}

/// Prints a failure: its text on stderr (`ctap: ...`), and with `--json` also its error
/// document on stdout, unless the command printed its document already. Nothing for a
/// failure without a message (a closed stdout, an interrupt already reported).
pub(crate) fn print_failure(failure: &Failure, json: bool) {
    use std::io::Write as _;
    if failure.message.is_empty() {
        return;
    }
    eprintln!("ctap: {}", failure.text());
    if json && !PRINTED_JSON.load(Ordering::SeqCst) {
        let document =
            serde_json::to_string_pretty(&failure.json()).unwrap_or_else(|_| String::new());
        // Not println!: stdout may be what failed; then there is nowhere to write.
        let _ = writeln!(std::io::stdout(), "{document}");
    }
}

/// One JSON document on stdout, pretty-printed.
pub(crate) fn print_json(value: &Json) {
    json_printed();
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// A command's result: `value` with `--json`, else the line `text`.
pub(crate) fn done(global: &Global, text: &str, value: &Json) {
    if global.json {
        print_json(value);
    } else {
        println!("{text}");
    }
}

/// Asks `question` on stderr and reads the answer from the terminal: `y` or `yes`.
pub(crate) fn confirmed(question: &str) -> Result<bool, Failure> {
    use std::io::Write as _;
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{question}");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Failure::new(format!("cannot read the answer: {e}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Lower-case hex of bytes (the workspace's one hex helper, `ctap_types::Hex`).
pub(crate) fn hex(bytes: &[u8]) -> String {
    ctap::types::Hex(bytes).to_string()
}

/// The bytes of hex text (the workspace's one parser, `ctap_types::decode_hex`: upper
/// or lower case, an optional `0x`, spaces and colons between bytes allowed).
///
/// # Errors
/// What is wrong with the text (a character that is not hex, an odd digit count).
pub(crate) fn decode_hex(text: &str) -> Result<Vec<u8>, ctap::types::HexError> {
    ctap::types::decode_hex(text).collect()
}

/// The bytes of the hex the user gave for option `what` ([`decode_hex`]); anything
/// else is a usage error naming the option and what is wrong.
pub(crate) fn parse_hex(what: &str, text: &str) -> Result<Vec<u8>, Failure> {
    decode_hex(text).map_err(|error| usage(format!("{what}: {error}")))
}

/// A string from a device, safe for the terminal (control characters escaped).
pub(crate) fn escape(text: &str) -> String {
    ctap::device::hid::escape_device_string(text)
}

/// The base64 alphabet (RFC 4648 section 4, with padding), as libfido2's tools write it.
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 of bytes (RFC 4648 section 4, padded).
pub(crate) fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                let index = usize::try_from((n >> shift) & 0x3f).unwrap_or(0);
                out.push(char::from(BASE64.get(index).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes of base64 `text` (RFC 4648 section 4; padding optional, no other
/// characters); what went wrong names `what`.
pub(crate) fn parse_base64(what: &str, text: &str) -> Result<Vec<u8>, Failure> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let mut bits = 0u32;
    let mut count = 0u32;
    for (at, c) in text.bytes().enumerate() {
        let value = BASE64
            .iter()
            .position(|&b| b == c)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| {
                Failure::new(format!(
                    "{what}: not base64 (byte {at}: {:?})",
                    char::from(c)
                ))
            })?;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xff).unwrap_or(0));
        }
    }
    if count >= 6 {
        return Err(Failure::new(format!(
            "{what}: not base64 (a stray last character)"
        )));
    }
    Ok(out)
}
