//! `cargo xtask no-std` and `cargo xtask miri`.

use crate::util::{NIGHTLY, cmd, nightly_arg, output, run as run_command, skip, succeeds};

/// The firmware target the no_std crates must build for.
pub(crate) const TARGET: &str = "thumbv7em-none-eabihf";
/// The crates that must stay `#![no_std]` without an allocator.
const NO_STD_CRATES: &[&str] = &["ctap-wire", "ctaphid-frame"];
/// The crates that are `#![no_std]` with `alloc` (the CTAP2 message types).
const NO_STD_ALLOC_CRATES: &[&str] = &["ctap2-proto"];

/// Makes sure the firmware target is installed; `false` (with a message) if it cannot be.
pub(crate) fn ensure_target() -> bool {
    let installed = output(cmd("rustup", &["target", "list", "--installed"]))
        .is_some_and(|list| list.lines().any(|line| line.trim() == TARGET));
    if installed {
        return true;
    }
    eprintln!("xtask: target {TARGET} is not installed; trying `rustup target add {TARGET}`");
    if succeeds(cmd("rustup", &["target", "add", TARGET])) {
        return true;
    }
    eprintln!("xtask: the target {TARGET} cannot be installed here (no rustup, or no network)");
    false
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("no-std takes no arguments, got `{extra}`"));
    }
    let mut packages = Vec::new();
    for name in NO_STD_CRATES {
        packages.extend(["-p", name]);
    }
    if ensure_target() {
        let mut base = vec!["build", "--target", TARGET];
        base.extend(&packages);
        run_command(cmd("cargo", &base))?;
        let mut with_defmt = base.clone();
        with_defmt.extend(["--features", "ctap-wire/defmt,ctaphid-frame/defmt"]);
        run_command(cmd("cargo", &with_defmt))?;
        println!(
            "no-std: {} build for {TARGET} (default features and defmt)",
            NO_STD_CRATES.join(", ")
        );
        // Without default features: ctap2-proto's default `fast` (host speed: p256's
        // precomputed tables, which need std for their once-cell) is what firmware
        // leaves off.
        let unoptimised = unoptimised_packages()?;
        for name in NO_STD_ALLOC_CRATES {
            let mut build = cmd(
                "cargo",
                &[
                    "build",
                    "--target",
                    TARGET,
                    "-p",
                    name,
                    "--no-default-features",
                ],
            );
            build.args(&unoptimised);
            run_command(build)?;
        }
        println!(
            "no-std: {} build for {TARGET} (with alloc, without the host-speed `fast` feature)",
            NO_STD_ALLOC_CRATES.join(", ")
        );
    } else {
        skip(
            "no-std",
            &format!("no {TARGET} target; building the no_std crates for the host instead"),
        )?;
        // Still proves the crates compile as `#![no_std]` (the attribute is unconditional).
        let mut base = vec!["build"];
        base.extend(&packages);
        run_command(cmd("cargo", &base))?;
        println!(
            "no-std: {} build as #![no_std] for the host ({TARGET} unavailable)",
            NO_STD_CRATES.join(", ")
        );
    }
    Ok(())
}

/// `--config profile.dev.package.NAME.opt-level=0` for every package the root manifest
/// optimises in dev builds (`[profile.dev.package.NAME]`: the RustCrypto crates, so
/// that host tests run fast). This build is never run, so optimising it only costs
/// time: about half of its CPU time (89 s against 49 s of CPU, measured back to back
/// at load 12). Every crate is still compiled for the target, code generation
/// included, so it fails for the same defects.
fn unoptimised_packages() -> Result<Vec<String>, String> {
    let manifest = crate::util::root().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("[profile.dev.package.")?
                .strip_suffix(']')
        })
        .flat_map(|name| {
            [
                "--config".to_owned(),
                format!("profile.dev.package.{name}.opt-level=0"),
            ]
        })
        .collect())
}

/// Runs the core crates' tests under Miri on the pinned nightly ([`NIGHTLY`]); with
/// `--install`, first installs that toolchain with Miri and the standard library source
/// it builds against when they are missing (whatever other nightly is installed is
/// never used: a new nightly must not change what CI checks). When Miri still cannot
/// run it says exactly why; outside CI that is a skip, under CI an error
/// ([`util::skip`](crate::util::skip)).
pub(crate) fn miri(args: &[String]) -> Result<(), String> {
    let install = match args {
        [] => false,
        [flag] if flag == "--install" => true,
        [extra, ..] => return Err(format!("miri takes only --install, got `{extra}`")),
    };
    let toolchain = nightly_arg();
    if !succeeds(cmd("cargo", &[&toolchain, "miri", "--version"])) {
        if !install {
            return skip(
                "xtask miri",
                &format!(
                    "the pinned toolchain {NIGHTLY} with Miri is not installed \
                     (`rustup toolchain install {NIGHTLY} --profile minimal --component miri,rust-src`, \
                     or `cargo xtask miri --install`)"
                ),
            );
        }
        eprintln!("xtask miri: installing {NIGHTLY} with Miri (the pinned nightly)");
        let added = cmd(
            "rustup",
            &[
                "toolchain",
                "install",
                NIGHTLY,
                "--profile",
                "minimal",
                "--component",
                "miri,rust-src",
            ],
        )
        .output();
        match added {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return skip(
                    "xtask miri",
                    &format!(
                        "`rustup toolchain install {NIGHTLY} --component miri,rust-src` failed ({}): {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                );
            }
            Err(error) => return skip("xtask miri", &format!("cannot run rustup: {error}")),
        }
    }
    let mut command = cmd("cargo", &[&toolchain, "miri", "test"]);
    for name in NO_STD_CRATES {
        command.args(["-p", name]);
    }
    // Property tests run few cases under Miri: it is ~1000x slower than native code.
    command.env("PROPTEST_CASES", "4");
    // proptest looks up its failure-persistence file (getcwd, file reads), which Miri's
    // isolation refuses; the tests themselves do no I/O.
    let flags = std::env::var("MIRIFLAGS").unwrap_or_default();
    command.env(
        "MIRIFLAGS",
        format!("{flags} -Zmiri-disable-isolation").trim_start(),
    );
    run_command(command)
}
