//! `cargo xtask fuzz [--seconds N] [--target NAME] [--build-only | --check-only]`: builds
//! or runs (or, with `--check-only`, only type-checks: what CI does) every
//! cargo-fuzz target of the workspace on the nightly toolchain, then prints how many
//! inputs each target executed. Without `--seconds` it is a smoke run of 10 s per
//! target (enough to start from the seeds and reach the code behind them; CI only
//! type-checks the targets); give `--seconds 600` or more for a real campaign.
//!
//! Each run starts from the target's working corpus (`<fuzz dir>/corpus/<target>`,
//! ignored by git) plus its committed seeds (`<fuzz dir>/seeds/<target>`, read only).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::util;

/// Fuzz crates (cargo-fuzz layout, each its own workspace), relative to the workspace
/// root. Directories that do not exist yet are skipped, so later layers can be listed
/// before they have fuzz targets.
const FUZZ_DIRS: &[&str] = &[
    "crates/ctaphid-frame/fuzz",
    "crates/ctap-device/fuzz",
    "crates/ctap-virtual/fuzz",
    "crates/ctap-webauthn/fuzz",
];

/// Seconds per target when `--seconds` is not given: a smoke run.
const DEFAULT_SECONDS: u64 = 10;

/// Variables the outer `cargo run` sets that would pin the inner cargo to the stable
/// toolchain or to this workspace.
const CARGO_ENV: &[&str] = &[
    "CARGO",
    "RUSTUP_TOOLCHAIN",
    "RUSTC",
    "RUSTDOC",
    "RUSTC_WRAPPER",
    "CARGO_MANIFEST_DIR",
    "CARGO_TARGET_DIR",
];

#[derive(Debug)]
struct Options {
    seconds: u64,
    target: Option<String>,
    build_only: bool,
    /// Type-check only, with plain `cargo check` on the current toolchain and one target
    /// directory for all fuzz crates: no nightly, no cargo-fuzz, no sanitizer build of
    /// libFuzzer per crate, so CI can afford it (~40 s instead of ~5 min here; less
    /// without the C++ build of libFuzzer, see [`check_all`]).
    check_only: bool,
}

/// One target's outcome.
struct Run {
    dir: &'static str,
    target: String,
    executions: Option<u64>,
    seconds: f64,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    if options.check_only {
        return check_all();
    }
    if !util::succeeds(util::cmd("cargo", &[&util::nightly_arg(), "--version"])) {
        return Err(format!(
            "the pinned nightly toolchain is needed (cargo-fuzz uses sanitizers): rustup toolchain install {}",
            util::NIGHTLY
        ));
    }
    ensure_cargo_fuzz()?;
    let root = util::root();
    let dirs: Vec<&'static str> = FUZZ_DIRS
        .iter()
        .copied()
        .filter(|dir| root.join(dir).join("Cargo.toml").is_file())
        .collect();
    if dirs.is_empty() {
        return Err(format!(
            "no fuzz crate found; looked in {}",
            FUZZ_DIRS.join(", ")
        ));
    }
    let mut runs = Vec::new();
    let mut found = false;
    for dir in dirs {
        let path = root.join(dir);
        if options.build_only && options.target.is_none() {
            // One build of every target of the crate.
            util::run(fuzz(&path, &["build"]))?;
            continue;
        }
        let targets: Vec<String> = list_targets(&path)?
            .into_iter()
            .filter(|name| options.target.as_ref().is_none_or(|want| want == name))
            .collect();
        for target in targets {
            found = true;
            if options.build_only {
                util::run(fuzz(&path, &["build", &target]))?;
            } else {
                runs.push(run_target(dir, &path, &target, options.seconds)?);
            }
        }
    }
    if let Some(want) = &options.target {
        if !found {
            return Err(format!("no fuzz target named `{want}`"));
        }
    }
    if !options.build_only {
        print_summary(&runs);
    }
    Ok(())
}

/// `cargo check` of every fuzz crate's targets, all in `target/fuzz-check`.
///
/// libfuzzer-sys's build script compiles libFuzzer's C++ sources (about 40 files) for
/// a static library that only a link uses, and a check never links: with
/// `CUSTOM_LIBFUZZER_PATH` (its documented way to bring a prebuilt libFuzzer) it only
/// names the library instead. The Rust of every target is checked as before.
fn check_all() -> Result<(), String> {
    let root = util::root();
    let target_dir = root.join("target").join("fuzz-check");
    let no_library = target_dir.join("libfuzzer-not-built-by-a-check.a");
    let mut checked = 0;
    for dir in FUZZ_DIRS {
        let manifest = root.join(dir).join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let mut command = Command::new("cargo");
        command
            .arg("check")
            .arg("--bins")
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir)
            .env("CUSTOM_LIBFUZZER_PATH", &no_library)
            .current_dir(&root);
        strip_cargo_env(&mut command);
        util::run(command)?;
        checked += 1;
    }
    if checked == 0 {
        return Err(format!(
            "no fuzz crate found; looked in {}",
            FUZZ_DIRS.join(", ")
        ));
    }
    Ok(())
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seconds: DEFAULT_SECONDS,
        target: None,
        build_only: false,
        check_only: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().ok_or("--seconds needs a number")?;
                options.seconds =
                    value.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        format!("--seconds wants a whole number > 0, got `{value}`")
                    })?;
            }
            "--target" => {
                let value = args.next().ok_or("--target needs a fuzz target name")?;
                options.target = Some(value.clone());
            }
            "--build-only" => options.build_only = true,
            "--check-only" => options.check_only = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected --seconds N, --target NAME, --build-only or --check-only"
                ));
            }
        }
    }
    Ok(options)
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let mut probe = util::cmd("cargo", &[&util::nightly_arg(), "fuzz", "--version"]);
    strip_cargo_env(&mut probe);
    if util::succeeds(probe) {
        return Ok(());
    }
    eprintln!("cargo-fuzz is missing: installing it");
    let mut install = util::cmd("cargo", &["install", "cargo-fuzz", "--locked"]);
    strip_cargo_env(&mut install);
    util::run(install)
}

/// `cargo +<pinned nightly> fuzz <args>` in a fuzz crate.
fn fuzz(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command
        .arg(util::nightly_arg())
        .arg("fuzz")
        .args(args)
        .current_dir(dir);
    strip_cargo_env(&mut command);
    command
}

fn strip_cargo_env(command: &mut Command) {
    for name in CARGO_ENV {
        command.env_remove(name);
    }
}

fn list_targets(dir: &Path) -> Result<Vec<String>, String> {
    let listing = util::output(fuzz(dir, &["list"])).ok_or_else(|| {
        format!(
            "`cargo {} fuzz list` failed in {}",
            util::nightly_arg(),
            dir.display()
        )
    })?;
    Ok(listing
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

fn run_target(dir: &'static str, path: &Path, target: &str, seconds: u64) -> Result<Run, String> {
    let corpus = path.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)
        .map_err(|e| format!("cannot create the corpus {}: {e}", corpus.display()))?;
    let seeds: PathBuf = path.join("seeds").join(target);
    let mut args = vec![
        "run".to_owned(),
        target.to_owned(),
        corpus.display().to_string(),
    ];
    if seeds.is_dir() {
        args.push(seeds.display().to_string());
    }
    args.extend([
        "--".to_owned(),
        format!("-max_total_time={seconds}"),
        "-print_final_stats=1".to_owned(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = fuzz(path, &args);
    eprintln!(
        "$ (in {dir}) cargo {} fuzz {}",
        util::nightly_arg(),
        args.join(" ")
    );
    let started = Instant::now();
    let mut child = command
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start cargo fuzz for `{target}`: {e}"))?;
    // libFuzzer reports on stderr: pass it through and keep the execution count.
    let mut executions = None;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if let Some(n) = executions_in(&line) {
                executions = Some(n);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("cargo fuzz for `{target}` did not finish: {e}"))?;
    if !status.success() {
        return Err(format!(
            "fuzz target `{target}` failed ({status}); the crashing input is under {}/artifacts/{target}/",
            dir
        ));
    }
    Ok(Run {
        dir,
        target: target.to_owned(),
        executions,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The execution count in a libFuzzer line: `stat::number_of_executed_units: N` (with
/// `-print_final_stats=1`) or `Done N runs in S second(s)`.
fn executions_in(line: &str) -> Option<u64> {
    if let Some(rest) = line.strip_prefix("stat::number_of_executed_units:") {
        return rest.trim().parse().ok();
    }
    let rest = line.strip_prefix("Done ")?;
    let (count, tail) = rest.split_once(' ')?;
    tail.starts_with("runs")
        .then(|| count.parse().ok())
        .flatten()
}

fn print_summary(runs: &[Run]) {
    println!();
    println!("| fuzz crate | target | executions | seconds | executions/s |");
    println!("|---|---|---:|---:|---:|");
    for run in runs {
        let (count, rate) = match run.executions {
            Some(n) => {
                // Counts stay far below 2^52, where f64 is exact.
                #[allow(clippy::cast_precision_loss)]
                let rate = n as f64 / run.seconds.max(1e-9);
                (n.to_string(), format!("{rate:.0}"))
            }
            None => ("?".to_owned(), "?".to_owned()),
        };
        println!(
            "| {} | {} | {count} | {:.0} | {rate} |",
            run.dir, run.target, run.seconds
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executions_are_read_from_both_libfuzzer_forms() {
        assert_eq!(
            executions_in("stat::number_of_executed_units: 12345"),
            Some(12345)
        );
        assert_eq!(executions_in("Done 987 runs in 2 second(s)"), Some(987));
        assert_eq!(executions_in("#1024 pulse cov: 10 ft: 20"), None);
        assert_eq!(executions_in("Done soon"), None);
    }

    #[test]
    fn arguments_are_checked() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let options = parse(&args(&["--seconds", "5", "--target", "reassemble"])).unwrap();
        assert_eq!(
            (options.seconds, options.target.as_deref()),
            (5, Some("reassemble"))
        );
        assert!(parse(&args(&["--build-only"])).unwrap().build_only);
        assert!(parse(&args(&["--check-only"])).unwrap().check_only);
        assert!(
            parse(&args(&["--seconds", "0"]))
                .unwrap_err()
                .contains("got `0`")
        );
        assert!(
            parse(&args(&["--frobnicate"]))
                .unwrap_err()
                .contains("--frobnicate")
        );
    }
}
