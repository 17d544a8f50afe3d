//! `cargo xtask icount [--check] [--write]` and `cargo xtask bench-paths [--quick]`:
//! every public framing path of `benches/frame-paths`, built with ctaphid-frame's
//! default features (the host's `fast-path`) and without them (the firmware's compact
//! path).
//!
//! `icount` counts the instructions each path executes per message under Valgrind's
//! callgrind: deterministic, so independent of the machine's load, and comparable
//! across runs. Each path runs 16 and then 32 messages inside `frame_paths::measure`,
//! the only function callgrind counts (`--toggle-collect`), which dumps after each
//! call (`--dump-after`); the difference of the two dumps is 16 messages exactly,
//! without set-up. The figures go into `benches/RESULTS.md` (its instruction-count
//! section) unless `--check` is given: that fails when any path is more than 5% over
//! its budget in `benches/frame-paths/budgets.txt` (and writes nothing); `--write`
//! makes the measured counts the budgets.
//! Without Valgrind it says SKIPPED and succeeds (under CI, where `CI` is set, a skip
//! is an error).
//!
//! `bench-paths` times the same paths on the wall clock next to a `memcpy` of the same
//! bytes, in alternating batches of about 0.3 ms (the fastest of 201; `--quick`: of
//! 21), three runs of each binary (the median run and the spread: figures move between
//! runs of one binary), and writes the ratios into `benches/RESULTS.md` (its wall-clock
//! paths section).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::util::{cmd, output, root, run as run_command};

/// The harness crate, relative to the workspace root.
const CRATE_DIR: &str = "benches/frame-paths";
/// The committed budgets, relative to the workspace root.
const BUDGETS: &str = "benches/frame-paths/budgets.txt";
/// How far over its budget a path may be before `--check` fails.
const TOLERANCE: f64 = 0.05;

/// The builds measured: a label, whether ctaphid-frame has `fast-path`, the binaries.
const BUILDS: [(&str, bool); 2] = [("default", true), ("compact", false)];
/// Runs of each `frame-paths time` by `bench-paths`: the median and the spread.
const RUNS: usize = 3;
/// The binaries of each build: the many-call-site one and the one-site one.
const BINARIES: [(&str, &str); 2] = [("frame-paths", ""), ("one-site", "/one-site")];

pub(crate) fn icount(args: &[String]) -> Result<(), String> {
    let (mut check, mut write) = (false, false);
    for arg in args {
        match arg.as_str() {
            "--check" => check = true,
            "--write" => write = true,
            other => return Err(format!("unknown argument `{other}` (--check, --write)")),
        }
    }
    let Some(valgrind) = output(cmd("valgrind", &["--version"])) else {
        return crate::util::skip(
            "icount",
            "valgrind is not installed, so instruction counts cannot be taken \
             (apt-get install valgrind)",
        );
    };
    let mut counts = Vec::new();
    for (build, fast) in BUILDS {
        let dir = build_harness(build, fast)?;
        for (binary, suffix) in BINARIES {
            let label = format!("{build}{suffix}");
            for (path, bytes, per_message) in callgrind(&dir.join(binary))? {
                counts.push(Count {
                    build: label.clone(),
                    path,
                    bytes,
                    per_message,
                });
            }
        }
    }
    let budgets_path = root().join(BUDGETS);
    if write {
        write_budgets(&budgets_path, &counts)?;
    }
    let budgets = read_budgets(&budgets_path)?;
    let rustc = output(cmd("rustc", &["--version"])).unwrap_or_default();
    let table = icount_table(&counts, &budgets);
    println!("{table}");
    let section = format!(
        "## Instructions per message\n\n\
         Written by `cargo xtask icount`; {}, {}, x86-64 (baseline target features).\n\
         Instructions each path executes per message, counted by callgrind (the same on\n\
         any machine and under any load, unlike the wall-clock figures). `default` is\n\
         ctaphid-frame with `fast-path` (the host), `compact` without it (firmware);\n\
         `frame-paths` calls `write_next` and `feed` from at least five places,\n\
         `one-site` from one. Paths: `benches/frame-paths/src/main.rs`. CI fails when a\n\
         count is more than 5% over its budget (`benches/frame-paths/budgets.txt`).\n\n\
         {table}",
        valgrind.trim(),
        rustc.trim()
    );
    // A check (CI) only reads; a run to look at the figures records them.
    if !check {
        write_section(SECTION_ICOUNT, &section)?;
    }
    if check {
        check_budgets(&counts, &budgets)?;
        println!("icount: every path within 5% of its budget");
    }
    Ok(())
}

pub(crate) fn bench_paths(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other => return Err(format!("unknown argument `{other}` (--quick)")),
        }
    }
    let load_before = crate::bench::load_average();
    let mut rows = String::from(
        "| build | path | bytes | ns/message (median run) | memcpy ns (same bytes) | vs memcpy: median | min | max |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (build, fast) in BUILDS {
        let dir = build_harness(build, fast)?;
        // (path, bytes, memcpy bytes) -> (ns, memcpy ns) of each run, in first-seen order.
        let mut runs: Vec<(RowKey, Vec<(f64, f64)>)> = Vec::new();
        for run in 1..=RUNS {
            let mut command = cmd(&dir.join("frame-paths").to_string_lossy(), &["time"]);
            if quick {
                command.arg("--quick");
            }
            eprintln!("$ {build}: frame-paths time (run {run} of {RUNS})");
            let text = output(command).ok_or("frame-paths time failed")?;
            for line in text.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                let ["time", path, bytes, ns, copy, copy_bytes] = words.as_slice() else {
                    continue;
                };
                let (Ok(ns), Ok(copy)) = (ns.parse::<f64>(), copy.parse::<f64>()) else {
                    continue;
                };
                let key = (
                    (*path).to_owned(),
                    (*bytes).to_owned(),
                    (*copy_bytes).to_owned(),
                );
                match runs.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, times)) => times.push((ns, copy)),
                    None => runs.push((key, vec![(ns, copy)])),
                }
            }
        }
        for ((path, bytes, copy_bytes), mut times) in runs {
            // Each run's ratio is taken within the run (path and memcpy side by side);
            // the row shows the run with the median ratio, and the spread over runs.
            times.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
            let (Some(&(min_ns, min_copy)), Some(&(max_ns, max_copy))) =
                (times.first(), times.last())
            else {
                continue;
            };
            let (ns, copy) = times[times.len() / 2];
            let bytes = if bytes == copy_bytes {
                bytes
            } else {
                format!("{bytes} (memcpy of {copy_bytes})")
            };
            let _ = writeln!(
                rows,
                "| {build} | {path} | {bytes} | {ns:.1} | {copy:.1} | {:.2}x | {:.2}x | {:.2}x |",
                ns / copy,
                min_ns / min_copy,
                max_ns / max_copy,
            );
        }
    }
    let load_after = crate::bench::load_average();
    println!("{rows}");
    let section = format!(
        "## Every framing path on the wall clock\n\n\
         Written by `cargo xtask bench-paths`{}; {}; load average {load_before} before, \
         {load_after} after. The paths of `benches/frame-paths` (a separate crate, through\n\
         the public API, five call sites of `write_next` and `feed`), each timed in\n\
         alternating batches of about 0.3 ms with a `memcpy` of the same bytes; the\n\
         fastest of 201 batches of each (the least disturbed: the machine is shared).\n\
         Each binary runs {RUNS} times (figures move between runs of one binary, with where\n\
         the memory lands): the row is the run with the median ratio, min and max are\n\
         the other runs'. Report sizes are run-time values, as from a HID descriptor.\n\n\
         {rows}",
        if quick { " --quick" } else { "" },
        crate::bench::machine(),
    );
    write_section(SECTION_WALL_CLOCK, &section)
}

/// A row of the wall-clock table: path, payload bytes, bytes of its `memcpy` baseline.
type RowKey = (String, String, String);

/// Builds the harness (release) with or without `fast-path` into its own target
/// directory and returns the directory of its binaries.
fn build_harness(build: &str, fast: bool) -> Result<PathBuf, String> {
    let target_dir = root().join("target").join("frame-paths").join(build);
    let mut command = cmd("cargo", &["build", "--release", "--quiet"]);
    command
        .arg("--manifest-path")
        .arg(root().join(CRATE_DIR).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // Flags from the caller's environment would change what is measured.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    if !fast {
        command.arg("--no-default-features");
    }
    run_command(command)?;
    Ok(target_dir.join("release"))
}

/// `(path, payload bytes, instructions per message)` of every path of `binary`.
fn callgrind(binary: &Path) -> Result<Vec<(String, usize, u64)>, String> {
    let out_dir = binary.with_file_name("callgrind");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let out_file = out_dir.join("out");
    let mut command = cmd(
        "valgrind",
        &[
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=frame_paths::measure",
            "--dump-after=frame_paths::measure",
        ],
    );
    command
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(binary)
        .arg("icount");
    eprintln!(
        "$ valgrind --tool=callgrind ... {} icount",
        binary.display()
    );
    let text = output(command).ok_or_else(|| format!("{} icount failed", binary.display()))?;
    let mut results = Vec::new();
    let mut dump = 0;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let ["icount", path, bytes, messages] = words.as_slice() else {
            continue;
        };
        let bytes = bytes.parse().map_err(|_| format!("bad line `{line}`"))?;
        let messages: u64 = messages.parse().map_err(|_| format!("bad line `{line}`"))?;
        let first = totals(&out_dir, dump + 1)?;
        let second = totals(&out_dir, dump + 2)?;
        dump += 2;
        let per_message = second.saturating_sub(first) / messages.max(1);
        results.push(((*path).to_owned(), bytes, per_message));
    }
    if results.is_empty() {
        return Err(format!("{} measured nothing", binary.display()));
    }
    Ok(results)
}

/// The `totals:` line of callgrind's dump number `n`.
fn totals(dir: &Path, n: usize) -> Result<u64, String> {
    let path = dir.join(format!("out.{n}"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("no callgrind dump {}: {e}", path.display()))?;
    text.lines()
        .find_map(|line| line.strip_prefix("totals:"))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| format!("{}: no totals line", path.display()))
}

#[derive(Debug)]
struct Count {
    /// `default`, `default/one-site`, `compact`, `compact/one-site`.
    build: String,
    path: String,
    bytes: usize,
    per_message: u64,
}

type Budgets = BTreeMap<(String, String, usize), u64>;

fn read_budgets(path: &Path) -> Result<Budgets, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut budgets = Budgets::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let [build, path_name, bytes, budget] = words.as_slice() else {
            return Err(format!("{}: bad line `{line}`", path.display()));
        };
        let (Ok(bytes), Ok(budget)) = (bytes.parse(), budget.parse()) else {
            return Err(format!("{}: bad line `{line}`", path.display()));
        };
        budgets.insert(
            ((*build).to_owned(), (*path_name).to_owned(), bytes),
            budget,
        );
    }
    Ok(budgets)
}

fn write_budgets(path: &Path, counts: &[Count]) -> Result<(), String> {
    let mut text = String::from(
        "# Instructions per message of every framing path (callgrind, x86-64), written by\n\
         # `cargo xtask icount --write`. CI (`cargo xtask icount --check`) fails when a\n\
         # path executes more than 5% more. Lower a budget whenever a change earns it.\n\
         # Counts depend on the compiler (and glibc's memcpy for the baseline rows): after\n\
         # a toolchain update, check the change and rewrite them with `--write`.\n\
         # build path payload-bytes instructions\n",
    );
    for count in counts {
        let _ = writeln!(
            text,
            "{} {} {} {}",
            count.build, count.path, count.bytes, count.per_message
        );
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn check_budgets(counts: &[Count], budgets: &Budgets) -> Result<(), String> {
    let mut failures = Vec::new();
    for count in counts {
        let key = (count.build.clone(), count.path.clone(), count.bytes);
        match budgets.get(&key) {
            None => failures.push(format!(
                "{} {} {}: no budget (cargo xtask icount --write)",
                count.build, count.path, count.bytes
            )),
            Some(&budget) => {
                // Counts are far below 2^52: exact as f64.
                #[allow(clippy::cast_precision_loss)]
                let limit = budget as f64 * (1.0 + TOLERANCE);
                #[allow(clippy::cast_precision_loss)]
                if count.per_message as f64 > limit {
                    failures.push(format!(
                        "{} {} {} B: {} instructions per message, budget {budget} (+5%: {limit:.0})",
                        count.build, count.path, count.bytes, count.per_message
                    ));
                }
            }
        }
    }
    for key in budgets.keys() {
        if !counts
            .iter()
            .any(|c| (&c.build, &c.path, c.bytes) == (&key.0, &key.1, key.2))
        {
            failures.push(format!(
                "{} {} {}: budgeted but not measured",
                key.0, key.1, key.2
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "instruction counts over budget:\n  {}",
            failures.join("\n  ")
        ))
    }
}

/// One row per path and size: the count of each build, per byte, and its ratio to the
/// `memcpy` of the same bytes in the same build.
fn icount_table(counts: &[Count], budgets: &Budgets) -> String {
    let mut table = String::from(
        "| path | bytes | default | default, one call site | compact | compact, one call site | default per byte | default vs memcpy | compact vs memcpy | budget (default / compact) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let get = |build: &str, path: &str, bytes: usize| {
        counts
            .iter()
            .find(|c| c.build == build && c.path == path && c.bytes == bytes)
            .map(|c| c.per_message)
    };
    let show = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    #[allow(clippy::cast_precision_loss)]
    let ratio = |n: Option<u64>, base: Option<u64>| match (n, base) {
        (Some(n), Some(base)) if base > 0 => format!("{:.1}x", n as f64 / base as f64),
        _ => "-".to_owned(),
    };
    for count in counts.iter().filter(|c| c.build == "default") {
        let (path, bytes) = (count.path.as_str(), count.bytes);
        let default = Some(count.per_message);
        let compact = get("compact", path, bytes);
        let memcpy_bytes = if bytes == 0 { 64 } else { bytes };
        // The memcpy rows are measured at the 64-byte sizes; other sizes have none.
        let memcpy = get("default", "memcpy", memcpy_bytes).or(get("default", "memcpy", bytes));
        let memcpy_compact = get("compact", "memcpy", bytes);
        #[allow(clippy::cast_precision_loss)]
        let per_byte = if bytes == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}", count.per_message as f64 / bytes as f64)
        };
        let budget = |build: &str| {
            budgets
                .get(&(build.to_owned(), path.to_owned(), bytes))
                .map_or_else(|| "-".to_owned(), u64::to_string)
        };
        let _ = writeln!(
            table,
            "| {path} | {bytes} | {} | {} | {} | {} | {per_byte} | {} | {} | {} / {} |",
            show(default),
            show(get("default/one-site", path, bytes)),
            show(compact),
            show(get("compact/one-site", path, bytes)),
            if path == "memcpy" {
                "-".to_owned()
            } else {
                ratio(default, memcpy)
            },
            if path == "memcpy" {
                "-".to_owned()
            } else {
                ratio(compact, memcpy_compact)
            },
            budget("default"),
            budget("compact"),
        );
    }
    table
}

/// The instruction-count section of `benches/RESULTS.md`.
pub(crate) const SECTION_ICOUNT: &str = "icount";
/// The wall-clock paths section of `benches/RESULTS.md`.
pub(crate) const SECTION_WALL_CLOCK: &str = "paths";

/// Replaces (or appends) the section `name` of `benches/RESULTS.md`: the text between
/// `<!-- name -->` and `<!-- /name -->`, which `cargo xtask bench` keeps.
fn write_section(name: &str, body: &str) -> Result<(), String> {
    let path = root().join("benches").join("RESULTS.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let text = with_section(&text, name, body);
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("wrote the {name} section of {}", path.display());
    Ok(())
}

/// `text` with its section `name` replaced by `body`, or with the section appended.
pub(crate) fn with_section(text: &str, name: &str, body: &str) -> String {
    let (open, close) = (format!("<!-- {name} -->"), format!("<!-- /{name} -->"));
    let block = format!("{open}\n{}\n{close}", body.trim_end());
    match (text.find(&open), text.find(&close)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{block}{}", &text[..start], &text[end + close.len()..])
        }
        _ => format!("{}\n\n{block}\n", text.trim_end()),
    }
}

/// The sections of `text` (as [`with_section`] writes them), to carry over into a
/// rewritten file.
pub(crate) fn sections(text: &str) -> Vec<(String, String)> {
    // `serve`: written by `cargo xtask bench-serve` (benches/src/bin/serve_scale.rs).
    [SECTION_ICOUNT, SECTION_WALL_CLOCK, "serve"]
        .iter()
        .filter_map(|name| {
            let (open, close) = (format!("<!-- {name} -->"), format!("<!-- /{name} -->"));
            let start = text.find(&open)? + open.len();
            let end = text.find(&close)?;
            (end > start).then(|| ((*name).to_owned(), text[start..end].trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_in_place_or_appended() {
        let text = "# Results\n\ntable\n";
        let once = with_section(text, "icount", "first");
        assert_eq!(
            once,
            "# Results\n\ntable\n\n<!-- icount -->\nfirst\n<!-- /icount -->\n"
        );
        let twice = with_section(&once, "icount", "second\n");
        assert_eq!(twice, once.replace("first", "second"));
        assert_eq!(
            sections(&twice),
            vec![("icount".to_owned(), "second".to_owned())]
        );
    }

    #[test]
    fn the_serve_section_survives_a_rewrite_of_the_results() {
        let text = with_section("# Results\n", "serve", "## CTAP2 over UDP");
        assert_eq!(
            sections(&text),
            vec![("serve".to_owned(), "## CTAP2 over UDP".to_owned())]
        );
    }

    #[test]
    fn a_path_over_its_budget_fails_the_check() {
        let count = |n| Count {
            build: "default".to_owned(),
            path: "reassemble".to_owned(),
            bytes: 7609,
            per_message: n,
        };
        let mut budgets = Budgets::new();
        budgets.insert(("default".to_owned(), "reassemble".to_owned(), 7609), 1000);
        assert!(check_budgets(&[count(1050)], &budgets).is_ok());
        assert!(check_budgets(&[count(900)], &budgets).is_ok());
        let error = check_budgets(&[count(1051)], &budgets).unwrap_err();
        assert!(error.contains("reassemble 7609 B: 1051"), "{error}");
        assert!(
            check_budgets(&[], &budgets).is_err(),
            "a budget without a count"
        );
        assert!(
            check_budgets(&[count(1)], &Budgets::new()).is_err(),
            "no budget"
        );
    }
}
