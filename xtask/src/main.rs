//! Project tasks, run as `cargo xtask <task>` (the alias is in `.cargo/config.toml`).
//!
//! Plain Rust with no dependencies, in the manner of rust-analyzer's xtask:
//!
//! | task | what it does |
//! |---|---|
//! | `ci` | everything CI checks: runs `.ci/run`, the one source of truth |
//! | `no-std` | builds the no_std crates for `thumbv7em-none-eabihf` |
//! | `bench [--quick] [--ctap2]` | criterion benches, then a table of ratios into `benches/RESULTS.md` (`--ctap2`: only the CTAP2 operations and their section) |
//! | `fuzz [--seconds N] [--build-only \| --check-only]` | a short smoke run (10 s) of every cargo-fuzz target, or a longer one, or only the build |
//! | `size` | flash and RAM a firmware pays for framing + types |
//! | `icount [--check] [--write]` | instructions per message of every framing path (callgrind) |
//! | `bench-paths [--quick]` | every framing path on the wall clock, as ratios to `memcpy` |
//! | `bench-serve [--quick]` | CTAP2 over UDP against `ctap serve`: 1 vs 2 instances, client CPU vs python-fido2 |
//! | `cortex-m-icount` | instructions per message of the compact (firmware) path on a Cortex-M4 under QEMU |
//! | `miri [--install]` | the core crates' tests under Miri on the pinned nightly (`util::NIGHTLY`; `--install`: install it with Miri first when missing) |
//! | `stress [--runs N] [--hogs H]` | `cargo test --workspace` N times next to H busy threads; reports the passes (not in CI) |

mod bench;
mod bench_ctap2;
mod cortex_m;
mod fuzz;
mod no_std;
mod paths;
mod serve;
mod size;
mod stress;
mod util;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <ci | no-std | bench [--quick] [--ctap2] | fuzz [--seconds N] [--target NAME] [--build-only | --check-only] | size | miri [--install] | icount [--check] [--write] | bench-paths [--quick] | bench-serve [--quick] | cortex-m-icount | stress [--runs N] [--hogs H]>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match task.as_str() {
        "ci" => util::run(util::cmd("bash", &[".ci/run"])),
        "no-std" => no_std::run(rest),
        "bench" => bench::run(rest),
        "fuzz" => fuzz::run(rest),
        "size" => size::run(rest),
        "miri" => no_std::miri(rest),
        "icount" => paths::icount(rest),
        "bench-paths" => paths::bench_paths(rest),
        "bench-serve" => serve::run(rest),
        "cortex-m-icount" => cortex_m::run(rest),
        "stress" => stress::run(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown task `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {task}: {message}");
            ExitCode::FAILURE
        }
    }
}
