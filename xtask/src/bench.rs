//! `cargo xtask bench [--quick]`: runs the criterion benches of `ctap-benches` and its
//! allocation counter, then prints one table of medians with their ratios to the
//! baselines measured in the same group (a `memcpy` of the same bytes, zero-copy framing
//! alone, the allocating reference framing) and the allocations per message, also
//! written to `benches/RESULTS.md` with a description of the machine.
//!
//! Ratios, not absolute times, are what to compare across machines and runs: the
//! baselines are measured in the same process minutes apart, so most noise cancels.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::util;

/// One row of the table: a bench and what it is divided by, as criterion ids within
/// its group (`<function>/<parameter>`).
struct Row {
    group: &'static str,
    bench: &'static str,
    /// The payload bytes, as shown.
    bytes: &'static str,
    /// A `memcpy` of the same bytes (of one 64-byte report for an empty message: a
    /// `memcpy` of nothing measures only the timer).
    memcpy: Option<&'static str>,
    /// Zero-copy framing alone (end-to-end rows): what the device layer and the
    /// transport add on top of it.
    framing: Option<&'static str>,
    /// The allocating reference framing.
    alloc_ref: Option<&'static str>,
}

/// A framing row (`packetize` or `reassemble`): zero-copy, then the allocating
/// reference, each against a `memcpy`.
macro_rules! frame_rows {
    ($group:literal, $($n:literal as $label:expr => $memcpy:literal),*) => {[$(
        Row {
            group: $group,
            bench: concat!("frame/", $n),
            bytes: $label,
            memcpy: Some(concat!("memcpy/", $memcpy)),
            framing: None,
            alloc_ref: Some(concat!("alloc_ref/", $n)),
        },
        Row {
            group: $group,
            bench: concat!("alloc_ref/", $n),
            bytes: $label,
            memcpy: Some(concat!("memcpy/", $memcpy)),
            framing: None,
            alloc_ref: None,
        },
    )*]};
}

/// End-to-end rows: the call against framing both ways, the allocating reference both
/// ways and a `memcpy` of request and answer (none for the empty PING).
macro_rules! end_to_end_rows {
    ($($id:literal, $bytes:literal, $memcpy:expr);*) => {[$(
        Row {
            group: "end_to_end",
            bench: concat!("call/", $id),
            bytes: $bytes,
            memcpy: $memcpy,
            framing: Some(concat!("frame/", $id)),
            alloc_ref: Some(concat!("alloc_ref/", $id)),
        },
        Row {
            group: "end_to_end",
            bench: concat!("frame/", $id),
            bytes: $bytes,
            memcpy: $memcpy,
            framing: None,
            alloc_ref: Some(concat!("alloc_ref/", $id)),
        },
        Row {
            group: "end_to_end",
            bench: concat!("alloc_ref/", $id),
            bytes: $bytes,
            memcpy: $memcpy,
            framing: None,
            alloc_ref: None,
        },
    )*]};
}

/// The empty message is one report on the wire: its rows are named for the baseline
/// they are divided by, a `memcpy` of that report's 64 bytes (one of 0 bytes would
/// measure only the timer).
const EMPTY_VS_ONE_REPORT: &str = "0 (vs memcpy of its one 64-byte report)";
const PACKETIZE: [Row; 10] = frame_rows!("packetize", "0" as EMPTY_VS_ONE_REPORT => "64", "57" as "57" => "57", "58" as "58" => "58", "1024" as "1024" => "1024", "7609" as "7609" => "7609");
const REASSEMBLE: [Row; 10] = frame_rows!("reassemble", "0" as EMPTY_VS_ONE_REPORT => "64", "57" as "57" => "57", "58" as "58" => "58", "1024" as "1024" => "1024", "7609" as "7609" => "7609");
const END_TO_END: [Row; 15] = end_to_end_rows!(
    "0", "0 (no memcpy: nothing to copy)", None;
    "57", "57", Some("memcpy/57");
    "1024", "1024", Some("memcpy/1024");
    "7609", "7609", Some("memcpy/7609");
    "getinfo", "1 (answer: getInfo)", Some("memcpy/getinfo")
);
/// The multi-channel rows: threads, each on its own channel, PING of this many bytes.
const THREADS: [usize; 3] = [1, 2, 4];
const THROUGHPUT_PING: usize = 1024;

/// criterion arguments of `--quick`: the whole run (55 benches) under a minute.
const QUICK: &[&str] = &[
    "--warm-up-time",
    "0.2",
    "--measurement-time",
    "0.4",
    "--sample-size",
    "10",
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut ctap2_only = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            "--ctap2" => ctap2_only = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected --quick or --ctap2"
                ));
            }
        }
    }
    if ctap2_only {
        return crate::bench_ctap2::run_alone(if quick { QUICK } else { &[] });
    }
    let started = Instant::now();
    let load_before = load_average();
    let mut command = util::cmd("cargo", &["bench", "-p", "ctap-benches", "--"]);
    if quick {
        command.args(QUICK);
    }
    util::run(command)?;
    let load_after = load_average();
    let allocations = allocation_counts()?;

    let criterion = criterion_dir();
    let table = table(&criterion, &allocations)?;
    let mut ctap2 = crate::bench_ctap2::section(&criterion, &load_before, &load_after)?;
    ctap2.push_str(&crate::bench_ctap2::software_peer());
    let throughput = throughput_table(&criterion)?;
    println!("\n{table}\n{throughput}");

    let machine = machine();
    let mode = if quick {
        "quick run: `--quick`, 10 samples of 0.4 s"
    } else {
        "full run: criterion's defaults; 3 s per end-to-end bench"
    };
    let results = format!(
        "# Benchmark results\n\n\
         Written by `cargo xtask bench` ({mode}); regenerate rather than edit.\n\n\
         Machine: {machine}; load average {load_before} before the run, {load_after} \
         after.\n\n\
         Median time per message (criterion's median estimate) and its ratio to the\n\
         baselines measured in the same group: `memcpy` (of the same bytes, and of request\n\
         and answer for end-to-end rows; the empty message's framing rows are divided by\n\
         a `memcpy` of its one 64-byte report, as their name says, since a `memcpy` of\n\
         nothing measures only the timer; the empty PING has no `memcpy` ratio),\n\
         `framing` (zero-copy `ctaphid-frame` alone, request out and answer back over\n\
         fixed buffers, its loops written out in the bench as the call path has them:\n\
         what the device layer and the in-process transport add on top) and `alloc_ref` (the\n\
         allocating reference framing of `benches/src/lib.rs`: a `Vec` per report, a\n\
         growing `Vec` per message). Allocations per message (`alloc` + `realloc` calls)\n\
         are counted by a global allocator in `benches/src/bin/alloc_count.rs`, not timed.\n\
         `end_to_end` rows are `CtapHidDevice::call` against the in-process virtual\n\
         authenticator (`ctap-virtual`); PING echoes its bytes, getInfo is\n\
         `Command::CBOR` with `[0x04]`. The machine is shared and noisy: read the ratios.\n\n\
         {table}\n\
         ## Multi-channel throughput\n\n\
         N threads, each with its own channel (`VirtualAuthenticator::open_device`) on one\n\
         authenticator, each doing PING {THROUGHPUT_PING} in a loop; one round is one PING\n\
         on every thread, timed as a whole batch (`iter_custom`). A CTAPHID device runs one\n\
         transaction at a time (others get CHANNEL_BUSY and retry, here after 20 µs), and\n\
         every connection sees every report, so more channels cannot add throughput; the\n\
         table shows what contention costs.\n\n\
         {throughput}"
    );
    let path = util::root().join("benches").join("RESULTS.md");
    // The sections other tasks write (`icount`, `bench-paths`) are kept.
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    let results = crate::paths::sections(&previous)
        .iter()
        .fold(results, |text, (name, body)| {
            crate::paths::with_section(&text, name, body)
        });
    std::fs::write(&path, results).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    crate::bench_ctap2::write_section(&ctap2)?;
    eprintln!(
        "wrote {} ({:.0} s in all)",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    // CTAP2 over UDP against `ctap serve` (its own section of the same file).
    // `args` is at most `--quick` (checked above), which bench-serve takes too.
    crate::serve::run(args)
}

/// `<group> <bench>` -> allocations per message, from the `alloc_count` binary.
fn allocation_counts() -> Result<Vec<(String, String, f64)>, String> {
    let command = util::cmd(
        "cargo",
        &[
            "run",
            "--quiet",
            "--release",
            "-p",
            "ctap-benches",
            "--bin",
            "alloc_count",
        ],
    );
    eprintln!("$ cargo run --release -p ctap-benches --bin alloc_count");
    let text = util::output(command).ok_or("the alloc_count binary failed")?;
    Ok(parse_allocations(&text))
}

/// The `alloc <group> <bench> <count>` lines of `text`.
fn parse_allocations(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "alloc" {
                return None;
            }
            let group = words.next()?.to_owned();
            let bench = words.next()?.to_owned();
            let count = words.next()?.parse().ok()?;
            words.next().is_none().then_some((group, bench, count))
        })
        .collect()
}

fn table(criterion: &Path, allocations: &[(String, String, f64)]) -> Result<String, String> {
    let mut table = String::from(
        "| group | bench | bytes | median ns/message | vs memcpy | vs framing | vs alloc_ref | allocations/message |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let ratio = |row: &Row, bench: f64, baseline: Option<&str>| -> Result<String, String> {
        baseline.map_or_else(
            || Ok("".to_owned()),
            |baseline| {
                let baseline = median(criterion, row.group, baseline)?;
                Ok(if baseline > 0.0 {
                    format!("{:.2}x", bench / baseline)
                } else {
                    "n/a".to_owned()
                })
            },
        )
    };
    for row in PACKETIZE.iter().chain(&REASSEMBLE).chain(&END_TO_END) {
        let bench = median(criterion, row.group, row.bench)?;
        let allocs = allocations
            .iter()
            .find(|(g, b, _)| g == row.group && b == row.bench)
            .map_or_else(|| "?".to_owned(), |(_, _, n)| format!("{n}"));
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {} | {allocs} |",
            row.group,
            row.bench,
            row.bytes,
            nanos(bench),
            ratio(row, bench, row.memcpy)?,
            ratio(row, bench, row.framing)?,
            ratio(row, bench, row.alloc_ref)?,
        );
    }
    Ok(table)
}

/// The throughput rows: ns per round, PINGs/s and echoed MB/s in all, and the speed-up
/// over one thread.
fn throughput_table(criterion: &Path) -> Result<String, String> {
    let mut table = String::from(
        "| threads (channels) | median ns/round | PINGs/s | echo MB/s (all threads) | vs 1 thread |\n\
         |---:|---:|---:|---:|---:|\n",
    );
    let one = median(criterion, "throughput", "threads/1")?;
    for n in THREADS {
        let round = median(criterion, "throughput", &format!("threads/{n}"))?;
        // Small integers: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        let (pings, bytes) = (n as f64, (n * THROUGHPUT_PING) as f64);
        let _ = writeln!(
            table,
            "| {n} | {} | {:.0} | {:.1} | {:.2}x |",
            nanos(round),
            pings * 1e9 / round,
            bytes * 1e3 / round,
            one * pings / round,
        );
    }
    Ok(table)
}

/// ns with one decimal below 1000, whole ns above (microsecond calls).
fn nanos(ns: f64) -> String {
    if ns < 1000.0 {
        format!("{ns:.1}")
    } else {
        format!("{ns:.0}")
    }
}

/// The 1-minute load average, as `/proc/loadavg` says (`?` elsewhere).
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Where criterion writes its estimates.
pub(crate) fn criterion_dir() -> PathBuf {
    target_dir().join("criterion")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| util::root().join("target"))
}

/// The median point estimate, in ns, of criterion's `<group>/<bench>/new/estimates.json`.
pub(crate) fn median(criterion: &Path, group: &str, bench: &str) -> Result<f64, String> {
    let mut path = criterion.join(group);
    path.extend(bench.split('/'));
    let path = path.join("new").join("estimates.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "no criterion estimate for {group}/{bench} ({}): {e}",
            path.display()
        )
    })?;
    median_in(&text).ok_or_else(|| {
        format!(
            "{}: expected a JSON object with median.point_estimate, got something else",
            path.display()
        )
    })
}

fn median_in(text: &str) -> Option<f64> {
    let json = Json::parse(text)?;
    match json.get("median")?.get("point_estimate")? {
        Json::Number(n) => Some(*n),
        _ => None,
    }
}

/// `CPU model, N cores, rustc version`.
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
    };
    let cpu = field("model name").unwrap_or_else(|| "unknown CPU".to_owned());
    // The model name alone can hide the generation ("AMD EPYC" under KVM): family and
    // model say which core the figures come from.
    let generation = match (field("cpu family"), field("model")) {
        (Some(family), Some(model)) => format!(" (family {family}, model {model})"),
        _ => String::new(),
    };
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let rustc = util::output(util::cmd("rustc", &["--version"])).map_or_else(
        || "rustc (version unknown)".to_owned(),
        |v| v.trim().to_owned(),
    );
    format!(
        "{cpu}{generation}, {cores} cores, {} baseline target features (no `-C target-cpu`); {rustc}",
        std::env::consts::ARCH
    )
}

/// Just enough JSON for criterion's estimates files (no dependency in xtask).
#[derive(Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The whole text as one value, or `None` if it is not JSON.
    fn parse(text: &str) -> Option<Self> {
        let mut parser = Parser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let value = parser.value(0)?;
        parser.skip_space();
        (parser.at == parser.bytes.len()).then_some(value)
    }

    fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Self::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    /// Nesting beyond this is not an estimates file.
    const MAX_DEPTH: usize = 64;

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn literal(&mut self, word: &str, value: Json) -> Option<Json> {
        let end = self.at.checked_add(word.len())?;
        (self.bytes.get(self.at..end)? == word.as_bytes()).then(|| {
            self.at = end;
            value
        })
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth > Self::MAX_DEPTH {
            return None;
        }
        self.skip_space();
        match self.peek()? {
            b'{' => {
                self.at += 1;
                let mut fields = Vec::new();
                if self.eat(b'}').is_some() {
                    return Some(Json::Object(fields));
                }
                loop {
                    self.skip_space();
                    let key = self.string()?;
                    self.eat(b':')?;
                    fields.push((key, self.value(depth + 1)?));
                    if self.eat(b',').is_none() {
                        self.eat(b'}')?;
                        return Some(Json::Object(fields));
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']').is_some() {
                    return Some(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',').is_none() {
                        self.eat(b']')?;
                        return Some(Json::Array(items));
                    }
                }
            }
            b'"' => self.string().map(Json::String),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            _ => self.number(),
        }
    }

    fn string(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        self.at += 1;
        let mut out = String::new();
        loop {
            let byte = self.peek()?;
            self.at += 1;
            match byte {
                b'"' => return Some(out),
                b'\\' => {
                    let escaped = self.peek()?;
                    self.at += 1;
                    match escaped {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex = self.bytes.get(self.at..self.at + 4)?;
                            let code =
                                u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                            // Surrogate pairs do not occur in criterion's files.
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                            self.at += 4;
                        }
                        other => out.push(char::from(other)),
                    }
                }
                _ => {
                    // Copy a run of plain bytes at once (keeps UTF-8 intact).
                    let start = self.at - 1;
                    while self.peek().is_some_and(|b| b != b'"' && b != b'\\') {
                        self.at += 1;
                    }
                    out.push_str(std::str::from_utf8(self.bytes.get(start..self.at)?).ok()?);
                }
            }
        }
    }

    fn number(&mut self) -> Option<Json> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.at += 1;
        }
        let text = std::str::from_utf8(self.bytes.get(start..self.at)?).ok()?;
        text.parse().ok().map(Json::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESTIMATES: &str = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":134.2,"upper_bound":136.1},"point_estimate":135.04,"standard_error":0.48},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":134.0,"upper_bound":135.5},"point_estimate":134.87,"standard_error":0.4},"median_abs_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5,"standard_error":0.1},"slope":null,"std_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":3.0,"upper_bound":4.0},"point_estimate":3.5,"standard_error":0.2}}"#;

    #[test]
    fn the_median_is_read_from_criterions_estimates() {
        assert_eq!(median_in(ESTIMATES), Some(134.87));
        assert_eq!(median_in(&ESTIMATES.replace(',', " ,\n ")), Some(134.87));
        assert_eq!(
            median_in(r#"{"median":{"point_estimate":1.5e3}}"#),
            Some(1500.0)
        );
    }

    #[test]
    fn allocation_lines_are_read_and_the_rest_skipped() {
        let text = "alloc packetize frame/0 0\nnoise\nalloc throughput threads/2 2.18\nalloc a b\nalloc a b 1 extra\n";
        assert_eq!(
            parse_allocations(text),
            vec![
                ("packetize".to_owned(), "frame/0".to_owned(), 0.0),
                ("throughput".to_owned(), "threads/2".to_owned(), 2.18),
            ]
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "{",
            r#"{"median":{"point_estimate":"fast"}}"#,
            r#"{"mean":{"point_estimate":1}}"#,
            r#"{"median":{"point_estimate":1}} trailing"#,
            &"[".repeat(1000),
        ] {
            assert_eq!(median_in(bad), None, "{bad:.40}");
        }
        assert_eq!(
            Json::parse(r#"["a\"b\u0041", true, null, -2]"#),
            Some(Json::Array(vec![
                Json::String("a\"bA".to_owned()),
                Json::Bool(true),
                Json::Null,
                Json::Number(-2.0)
            ]))
        );
    }
}
