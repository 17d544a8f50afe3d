//! `cargo xtask bench [--quick]`: runs the criterion benches of `ctap-benches`, then
//! reads criterion's estimates and prints a table of medians and their ratios to a
//! baseline in the same group (a `memcpy` of the same bytes), also written to
//! `benches/RESULTS.md` with a description of the machine.
//!
//! Ratios, not absolute times, are what to compare across machines and runs: the
//! baseline is measured in the same process minutes apart, so most noise cancels.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::util;

/// One row of the table: a bench and the baseline it is divided by, as criterion ids
/// within a group (`<function>/<parameter>`).
struct Row {
    group: &'static str,
    bench: &'static str,
    baseline: &'static str,
}

const fn row(group: &'static str, bench: &'static str, baseline: &'static str) -> Row {
    Row {
        group,
        bench,
        baseline,
    }
}

/// The table. An empty message is compared against a `memcpy` of one 64-byte report
/// (a `memcpy` of nothing measures only the timer); every other size against a `memcpy`
/// of its own bytes.
const ROWS: &[Row] = &[
    row("packetize", "frame/0", "memcpy/64"),
    row("packetize", "frame/57", "memcpy/57"),
    row("packetize", "frame/58", "memcpy/58"),
    row("packetize", "frame/1024", "memcpy/1024"),
    row("packetize", "frame/7609", "memcpy/7609"),
    row("reassemble", "frame/0", "memcpy/64"),
    row("reassemble", "frame/57", "memcpy/57"),
    row("reassemble", "frame/58", "memcpy/58"),
    row("reassemble", "frame/1024", "memcpy/1024"),
    row("reassemble", "frame/7609", "memcpy/7609"),
];

/// criterion arguments of `--quick`: the whole run well under a minute.
const QUICK: &[&str] = &["--warm-up-time", "0.5", "--measurement-time", "1.5"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other => return Err(format!("unknown argument `{other}`; expected --quick")),
        }
    }
    let mut command = util::cmd("cargo", &["bench", "-p", "ctap-benches", "--"]);
    if quick {
        command.args(QUICK);
    }
    util::run(command)?;

    let criterion = target_dir().join("criterion");
    let mut table = String::from(
        "| group | bench | bytes | median ns/message | baseline | baseline ns | ratio |\n\
         |---|---|---:|---:|---|---:|---:|\n",
    );
    for row in ROWS {
        let bench = median(&criterion, row.group, row.bench)?;
        let baseline = median(&criterion, row.group, row.baseline)?;
        let bytes = row.bench.rsplit('/').next().unwrap_or(row.bench);
        let ratio = if baseline > 0.0 {
            bench / baseline
        } else {
            f64::NAN
        };
        let _ = writeln!(
            table,
            "| {} | {} | {bytes} | {bench:.1} | {} | {baseline:.1} | {ratio:.2}x |",
            row.group, row.bench, row.baseline
        );
    }
    println!("\n{table}");

    let machine = machine();
    let mode = if quick { "quick" } else { "full" };
    let results = format!(
        "# Benchmark results\n\n\
         Written by `cargo xtask bench` ({mode} run); regenerate rather than edit.\n\n\
         Machine: {machine}\n\n\
         Median time per message (criterion's median estimate) and its ratio to the\n\
         baseline in the same group: a `memcpy` of the same bytes, and of one 64-byte\n\
         report for the empty message (a `memcpy` of nothing measures only the timer).\n\
         The machine is shared and noisy: read the ratios.\n\n{table}"
    );
    let path = util::root().join("benches").join("RESULTS.md");
    std::fs::write(&path, results).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| util::root().join("target"))
}

/// The median point estimate, in ns, of criterion's `<group>/<bench>/new/estimates.json`.
fn median(criterion: &Path, group: &str, bench: &str) -> Result<f64, String> {
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
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let rustc = util::output(util::cmd("rustc", &["--version"])).map_or_else(
        || "rustc (version unknown)".to_owned(),
        |v| v.trim().to_owned(),
    );
    format!("{cpu}, {cores} cores; {rustc}")
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
