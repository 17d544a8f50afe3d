//! The CTAP2 operation rows of `cargo xtask bench` (issues 23 and 27): the `ctap2`
//! criterion group of `benches/benches/ctap2.rs` as a table of times, operations per
//! second and ratios to ES256, plus the client's CPU per PIN token next to
//! python-fido2's, measured in the same run when the interop venv
//! (`target/interop-venv`, made by `crates/ctap-virtual/interop/run.sh`) is there.
//! Written into benches/RESULTS.md as the `ctap2` section.
//!
//! `cargo xtask bench --ctap2` runs only this bench and rewrites only this section.

use std::fmt::Write as _;
use std::path::Path;

use crate::util;

/// The section of benches/RESULTS.md this writes.
pub(crate) const SECTION: &str = "ctap2";

/// The algorithms, as the bench names them (`Algorithms::name`), ES256 first.
const ALGORITHMS: [&str; 9] = [
    "es256",
    "eddsa",
    "es384",
    "es512",
    "es256k",
    "rs256",
    "ml-dsa-44",
    "ml-dsa-65",
    "ml-dsa-87",
];

/// Runs the `ctap2` bench alone (criterion arguments `extra`), then writes the section.
pub(crate) fn run_alone(extra: &[&str]) -> Result<(), String> {
    let load_before = crate::bench::load_average();
    let mut command = util::cmd(
        "cargo",
        &["bench", "-p", "ctap-benches", "--bench", "ctap2", "--"],
    );
    command.args(extra);
    util::run(command)?;
    let load_after = crate::bench::load_average();
    let mut section = section(&crate::bench::criterion_dir(), &load_before, &load_after)?;
    section.push_str(&software_peer());
    println!("\n{section}");
    write_section(&section)
}

/// Replaces (or appends) the section in benches/RESULTS.md.
pub(crate) fn write_section(section: &str) -> Result<(), String> {
    let path = util::root().join("benches").join("RESULTS.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let text = crate::paths::with_section(&text, SECTION, section);
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The section's text from criterion's estimates.
pub(crate) fn section(
    criterion: &Path,
    load_before: &str,
    load_after: &str,
) -> Result<String, String> {
    let median = |bench: &str| crate::bench::median(criterion, "ctap2", bench);
    let make_es256 = median("make_credential/es256")?;
    let get_es256 = median("get_assertion/es256")?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## CTAP2 operations (in process)\n\n\
         Machine: {}; load average {load_before} before, {load_after} after.\n\n\
         `ctap2_client::Ctap2` over `CtapHidDevice` over the in-process `VirtualConnection`\n\
         (`benches/benches/ctap2.rs`), touches approved at once, non-discoverable\n\
         credentials, packed self attestation; client and authenticator on one thread, so\n\
         a row is the CPU of both plus the in-process transport. Median of criterion\n\
         (0.5 s warm-up, 2 s of samples; RS256 makeCredential 10 samples, since each one\n\
         generates an RSA-2048 key). Ratios are to ES256 in the same run.\n",
        crate::bench::machine()
    );
    out.push_str(
        "| alg | makeCredential | per s | / ES256 | getAssertion | per s | / ES256 |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for alg in ALGORITHMS {
        let make = median(&format!("make_credential/{alg}"))?;
        let get = median(&format!("get_assertion/{alg}"))?;
        let _ = writeln!(
            out,
            "| {alg} | {} | {:.0} | {:.2} | {} | {:.0} | {:.2} |",
            time(make),
            1e9 / make,
            make / make_es256,
            time(get),
            1e9 / get,
            get / get_es256
        );
    }
    out.push('\n');
    for alg in ["es256", "eddsa"] {
        if let Ok(both) = median(&format!("register_authenticate/{alg}")) {
            let _ = writeln!(
                out,
                "register + authenticate ({alg}): {} ({:.0} per s)  ",
                time(both),
                1e9 / both
            );
        }
    }
    let in_process = median("pin_token/in_process")?;
    let client = median("pin_token/client_crypto")?;
    let _ = writeln!(
        out,
        "\n### PIN/UV auth token (protocol two)\n\n\
         | row | time |\n|---|---:|\n\
         | `ClientPin::get_pin_token`, in process (client + authenticator) | {} |\n\
         | our client's CPU per token (`pin_token/client_crypto`, ring) | {} |",
        time(in_process),
        time(client)
    );
    if let Ok(p256) = median("pin_token/client_crypto_p256") {
        let _ = writeln!(
            out,
            "| the same through p256 (`pin_token/client_crypto_p256`: without the `ring` feature) | {} ({:.2}x ring's) |",
            time(p256),
            p256 / client
        );
    }
    out.push_str(
        "\nThe ratio to python-fido2's client CPU per token is measured below, alternating\n\
         the two processes.\n",
    );
    Ok(out)
}

/// Issue 27's software-peer comparison: our ES256 register+authenticate and
/// getAssertion (`ctap-benches`' `ctap2_ops`) against webauthn-authenticator-rs 0.6.2's
/// SoftToken (`benches/softtoken-peer`), alternating the two processes, one second each,
/// `ROUNDS` times per operation; the medians divide. Separate processes because the two
/// cannot share a build (SoftToken needs an rsa release candidate).
pub(crate) fn software_peer() -> String {
    const ROUNDS: usize = 5;
    let root = util::root();
    let manifest = root
        .join("benches")
        .join("softtoken-peer")
        .join("Cargo.toml");
    if let Err(why) = util::run(util::cmd(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "ctap-benches",
            "--bin",
            "ctap2_ops",
        ],
    )) {
        return format!("\n### Against a Rust software peer and python-fido2\n\nSKIPPED: {why}.\n");
    }
    let ours = crate::bench::criterion_dir()
        .parent()
        .map(|target| target.join("release").join("ctap2_ops"))
        .unwrap_or_default();
    let peer_built = util::run(util::cmd(
        "cargo",
        &[
            "build",
            "--release",
            "--manifest-path",
            &manifest.to_string_lossy(),
        ],
    ));
    if let Err(why) = peer_built {
        return format!(
            "\n### Against a Rust software peer\n\nSKIPPED: {why} (SoftToken needs OpenSSL's development files: apt-get install libssl-dev).\n{}",
            pin_token_against_python(&ours, ROUNDS)
        );
    }
    let theirs = root
        .join("benches")
        .join("softtoken-peer")
        .join("target")
        .join("release")
        .join("softtoken-peer");
    let rate = |program: &Path, op: &str| -> Option<f64> {
        let text = util::output(util::cmd(&program.to_string_lossy(), &[op, "1"]))?;
        text.split_whitespace().last()?.parse().ok()
    };
    let mut out = String::from(
        "\n### Against a Rust software peer\n\n\
         ES256, in process: ours through `ctap2_client` (CBOR, CTAPHID framing, the\n\
         in-process transport, the authenticator), webauthn-authenticator-rs 0.6.2's\n\
         `SoftToken` through its `perform_register` / `perform_auth` (no CBOR, no CTAPHID;\n\
         OpenSSL). Two processes alternating, 1 s each, 5 rounds per operation; medians.\n\n\
         | operation | ctap-virtual per s | SoftToken per s | ours / SoftToken |\n\
         |---|---:|---:|---:|\n",
    );
    for op in ["register-authenticate", "get-assertion"] {
        let mut ours_rates = Vec::new();
        let mut theirs_rates = Vec::new();
        for _ in 0..ROUNDS {
            ours_rates.extend(rate(&ours, op));
            theirs_rates.extend(rate(&theirs, op));
        }
        match (middle(&mut ours_rates), middle(&mut theirs_rates)) {
            (Some(a), Some(b)) => {
                let _ = writeln!(out, "| {op} | {a:.0} | {b:.0} | **{:.2}x** |", a / b);
            }
            _ => {
                let _ = writeln!(out, "| {op} | failed to run | | |");
            }
        }
    }
    out.push_str(&pin_token_against_python(&ours, ROUNDS));
    out
}

/// The median of `values` (sorted in place), `None` when empty.
fn middle(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// The interop venv's python, if `crates/ctap-virtual/interop/run.sh` made it.
fn venv_python() -> Option<std::path::PathBuf> {
    crate::bench::criterion_dir()
        .parent()
        .map(|target| target.join("interop-venv").join("bin").join("python"))
        .filter(|path| path.exists())
}

/// Our client's CPU per PIN token against python-fido2's: `ctap2_ops pin-token-crypto`
/// and `python_fido2_pin_token.py --seconds`, alternating, one second each, `rounds`
/// times; the ratio of the medians (time per token: theirs per second over ours).
fn pin_token_against_python(ours: &Path, rounds: usize) -> String {
    let Some(python) = venv_python() else {
        return "\n### Client CPU per PIN token against python-fido2\n\nSKIPPED: no interop venv at target/interop-venv (run crates/ctap-virtual/interop/run.sh once).\n".to_owned();
    };
    let script = util::root()
        .join("benches")
        .join("interop")
        .join("python_fido2_pin_token.py");
    let rate = |program: &Path, args: &[&str]| -> Option<f64> {
        let text = util::output(util::cmd(&program.to_string_lossy(), args))?;
        text.split_whitespace().last()?.parse().ok()
    };
    let mut ours_rates = Vec::new();
    let mut p256_rates = Vec::new();
    let mut python_rates = Vec::new();
    for _ in 0..rounds {
        ours_rates.extend(rate(ours, &["pin-token-crypto", "1"]));
        python_rates.extend(rate(
            &python,
            &[&script.to_string_lossy(), "--seconds", "1"],
        ));
        p256_rates.extend(rate(ours, &["pin-token-crypto-p256", "1"]));
    }
    let mut out = String::from(
        "\n### Client CPU per PIN token against python-fido2\n\n\
         Protocol two, the client's own work for one token (a P-256 key pair, ECDH with the\n\
         authenticator's key, the KDF, encrypting the PIN hash, decrypting the token; no\n\
         messages): `ctap2_ops pin-token-crypto` (ring, the default) and\n\
         `pin-token-crypto-p256` (without the `ring` feature) against python-fido2 2.2.1's\n\
         `PinProtocolV2` (`benches/interop/python_fido2_pin_token.py --seconds`, OpenSSL\n\
         through `cryptography`), alternating, 1 s each, 5 rounds; medians. Both count\n\
         tokens per second of their own process's CPU time (user + system), so other\n\
         work on the machine does not count against them.\n\n\
         | client | tokens per CPU-second | CPU per token |\n|---|---:|---:|\n",
    );
    match (middle(&mut ours_rates), middle(&mut python_rates)) {
        (Some(a), Some(b)) => {
            let _ = writeln!(out, "| ctap2-client (ring) | {a:.0} | {} |", time(1e9 / a));
            if let Some(c) = middle(&mut p256_rates) {
                let _ = writeln!(out, "| ctap2-client (p256) | {c:.0} | {} |", time(1e9 / c));
            }
            let _ = writeln!(
                out,
                "| python-fido2 | {b:.0} | {} |\n\n\
                 Our client's CPU per PIN token is **{:.2}x** python-fido2's (issue 27's target: at most 0.5x).",
                time(1e9 / b),
                b / a
            );
        }
        _ => out.push_str("| failed to run | | |\n"),
    }
    out
}

/// A time in ns as µs or ms.
fn time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}
