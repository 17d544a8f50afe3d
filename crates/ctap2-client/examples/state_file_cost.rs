//! What `--state` costs getAssertion (issue 27: "--state costs under 10% of getAssertion
//! throughput"): the in-process software authenticator, one ES256 credential, rounds of
//! getAssertion alternating between an authenticator without a state file and one
//! with a state file on disk (in the folder given, by default `target/`, so a real
//! file system with real fsyncs rather than a tmpfs), each round timed.
//!
//! ```text
//! cargo run --release -p ctap2-client --example state_file_cost [-- ROUNDS OPS DIR BLOCK]
//! ```
//!
//! BLOCK is `Config::sign_count_block` for the contender with a state file (default
//! 1024; 1 saves on every assertion, as before issue 27).
//!
//! Prints each contender's assertions per second (median of the rounds), their ratio,
//! and the CPU.

use std::time::{Duration, Instant};

use ctap_device::CallOptions;
use ctap_virtual::{Config, StateFile, VirtualAuthenticator, VirtualConnection};
use ctap2_client::proto::{Algorithm, RpEntity, UserEntity};
use ctap2_client::{Ctap2, get_assertion_request, make_credential_request};

type Device = ctap_device::CtapHidDevice<VirtualConnection>;

struct Contender {
    name: &'static str,
    ctap: Ctap2<Device>,
    credential: Vec<u8>,
    rates: Vec<f64>,
    _authenticator: VirtualAuthenticator,
}

fn contender(name: &'static str, state: Option<&std::path::Path>, block: u32) -> Contender {
    let authenticator = VirtualAuthenticator::new(Config::default().with_sign_count_block(block));
    if let Some(path) = state {
        authenticator
            .with_device(|device| device.use_state_file(StateFile::new(path)))
            .expect("the state file");
    }
    let mut ctap = Ctap2::new(authenticator.open_device().expect("opens")).expect("getInfo");
    let rp = RpEntity {
        icon: None,
        id: "example.com".into(),
        name: None,
    };
    let user = UserEntity {
        icon: None,
        id: vec![1; 16],
        name: Some("user".into()),
        display_name: None,
    };
    let request = make_credential_request([7; 32], rp, user, &[Algorithm::ES256]);
    let attestation = ctap
        .make_credential(&request, CallOptions::default())
        .expect("makeCredential");
    let credential = attestation
        .credential()
        .expect("attested credential")
        .credential_id
        .clone();
    Contender {
        name,
        ctap,
        credential,
        rates: Vec::new(),
        _authenticator: authenticator,
    }
}

fn round(contender: &mut Contender, ops: u32) {
    let request = get_assertion_request(
        "example.com",
        [9; 32],
        std::slice::from_ref(&contender.credential),
    );
    let start = Instant::now();
    for _ in 0..ops {
        contender
            .ctap
            .get_assertion(&request, CallOptions::default())
            .expect("getAssertion");
    }
    let elapsed = start.elapsed().max(Duration::from_nanos(1));
    contender.rates.push(f64::from(ops) / elapsed.as_secs_f64());
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|line| line.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|line| line.split(':').nth(1))
            .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned())
    };
    format!(
        "{} (family {}, model {}), {} logical CPUs",
        field("model name"),
        field("cpu family"),
        field("model"),
        std::thread::available_parallelism().map_or(0, usize::from)
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(9);
    let ops: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = args.next().map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        std::path::PathBuf::from,
    );
    let block: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let path = dir.join(format!("state-file-cost-{}.state", std::process::id()));
    let mut without = contender("without --state", None, block);
    let mut with = contender("with --state", Some(&path), block);
    // Warm-up, then alternate so that both see the same machine load.
    round(&mut without, ops / 10);
    round(&mut with, ops / 10);
    without.rates.clear();
    with.rates.clear();
    for _ in 0..rounds {
        round(&mut without, ops);
        round(&mut with, ops);
    }
    let _ = std::fs::remove_file(&path);
    println!("CPU: {}", cpu());
    println!(
        "getAssertion in process, ES256, {rounds} rounds of {ops}, alternating; state file in {}, {block} counter values per save:",
        dir.display()
    );
    for contender in [&without, &with] {
        println!(
            "  {:<16} {:>8.0} /s (median; min {:.0}, max {:.0})",
            contender.name,
            median(&contender.rates),
            contender
                .rates
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min),
            contender.rates.iter().copied().fold(0.0, f64::max),
        );
    }
    // Each round's pair ran back to back: the median of the pairs' ratios is less
    // sensitive to load that drifts over the run than the ratio of the medians.
    let pairs: Vec<f64> = with
        .rates
        .iter()
        .zip(&without.rates)
        .map(|(with, without)| with / without)
        .collect();
    let ratio = median(&pairs);
    println!(
        "  with/without: {ratio:.3}, median of the {rounds} paired rounds (--state costs {:.1}%); ratio of the medians {:.3}",
        (1.0 - ratio) * 100.0,
        median(&with.rates) / median(&without.rates)
    );
}
