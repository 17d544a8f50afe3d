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

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    ctap::types::Hex(bytes).to_string()
}

/// The bytes of the hex the user gave for option `what` (spaces and colons between
/// the digits are allowed); anything else is a usage error naming the option.
pub(crate) fn parse_hex(what: &str, text: &str) -> Result<Vec<u8>, Failure> {
    let text: String = text.chars().filter(|c| !matches!(c, ' ' | ':')).collect();
    if text.len() % 2 != 0 {
        return Err(usage(format!("{what}: odd number of hex digits")));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| usage(format!("{what}: not hex: {text:?}")))
        })
        .collect()
}

/// A string from a device, safe for the terminal (control characters escaped).
pub(crate) fn escape(text: &str) -> String {
    ctap::device::hid::escape_device_string(text)
}
