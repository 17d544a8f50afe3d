//! `cargo xtask stress [--runs N] [--hogs H]`: runs `cargo test --workspace` N times
//! (default 10) while H threads (default 4) keep every core busy, and reports how many
//! runs passed. Tests that lean on timing fail here first; CI does not run this (it
//! takes N times the test suite), people do before claiming the suite is not flaky.
//!
//! The tests are built once before the hogs start, so each run measures the tests, not
//! the compiler. The output of a failing run is kept in `target/stress/run-K.log`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::util;

#[derive(Debug, PartialEq, Eq)]
struct Options {
    runs: u32,
    hogs: u32,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    util::run(util::cmd("cargo", &["test", "--workspace", "--no-run"]))?;
    let logs = util::root().join("target").join("stress");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;

    let stop = Arc::new(AtomicBool::new(false));
    let hogs: Vec<_> = (0..options.hogs)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(
                        x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1),
                    );
                }
            })
        })
        .collect();

    let mut passed = 0;
    let mut failed = Vec::new();
    for k in 1..=options.runs {
        let started = Instant::now();
        let output = util::cmd("cargo", &["test", "--workspace"])
            .output()
            .map_err(|e| format!("cannot start cargo test: {e}"));
        let seconds = started.elapsed().as_secs_f64();
        let ok = match output {
            Ok(output) => {
                let ok = output.status.success();
                if !ok {
                    let log = logs.join(format!("run-{k}.log"));
                    let mut text = output.stdout;
                    text.extend_from_slice(&output.stderr);
                    let _ = std::fs::write(&log, text);
                    eprintln!("  run {k}: output kept in {}", log.display());
                }
                ok
            }
            Err(message) => {
                eprintln!("  run {k}: {message}");
                false
            }
        };
        eprintln!(
            "run {k}/{}: {} in {seconds:.0} s",
            options.runs,
            if ok { "passed" } else { "FAILED" }
        );
        if ok {
            passed += 1;
        } else {
            failed.push(k);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for hog in hogs {
        let _ = hog.join();
    }
    println!(
        "stress: {passed} of {} runs of `cargo test --workspace` passed with {} CPU hogs{}",
        options.runs,
        options.hogs,
        if failed.is_empty() {
            String::new()
        } else {
            format!("; failed: runs {failed:?}")
        }
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} run(s) failed", failed.len()))
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options { runs: 10, hogs: 4 };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--runs" => &mut options.runs,
            "--hogs" => &mut options.hogs,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected --runs N or --hogs H"
                ));
            }
        };
        let value = args.next().ok_or_else(|| format!("{arg} needs a number"))?;
        *slot = value
            .parse()
            .map_err(|_| format!("{arg} wants a whole number, got `{value}`"))?;
    }
    if options.runs == 0 {
        return Err("--runs must be at least 1".to_owned());
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(parse(&[]).unwrap(), Options { runs: 10, hogs: 4 });
        assert_eq!(
            parse(&args(&["--runs", "3", "--hogs", "0"])).unwrap(),
            Options { runs: 3, hogs: 0 }
        );
        assert!(
            parse(&args(&["--runs", "0"]))
                .unwrap_err()
                .contains("at least 1")
        );
        assert!(parse(&args(&["--runs", "x"])).unwrap_err().contains("`x`"));
        assert!(
            parse(&args(&["--hogs"]))
                .unwrap_err()
                .contains("needs a number")
        );
        assert!(parse(&args(&["--fast"])).unwrap_err().contains("--fast"));
    }
}
