//! CTAP2 operations over UDP against `ctap serve` (issue 27), two measurements in one
//! run, written as a section of `benches/RESULTS.md` by `cargo xtask bench-serve` (and
//! at the end of `cargo xtask bench`):
//!
//! 1. Throughput with cores: one `ctap serve --instances 1` and one
//!    `ctap serve --instances 2` process (release build, `--touch-delay 0`), driven by
//!    1..N client threads of this process (each its own socket, channel and
//!    `ctap2_client::Ctap2`; thread `i` on instance `i mod instances`), each doing
//!    makeCredential (ES256, not discoverable) then getAssertion of that credential in
//!    a loop for a fixed window. The two configurations alternate window by window,
//!    round after round, so both see the same machine; the ratio is taken within each
//!    round and its median reported, with the load average of the windows.
//! 2. Client CPU per operation: our `ctap2-client` (in this process, one thread) and
//!    python-fido2 2.2.1's `Ctap2`/`ClientPin` (`benches/interop/python_fido2_client_cpu.py`
//!    in the interop venv) against the same `ctap serve --pin`, alternating round by
//!    round. CPU is user + system time of the client process only (`getrusage`
//!    `RUSAGE_SELF` around each loop, in both), so the authenticator's CPU, in the
//!    server process, is not counted; set-up (imports, INIT, getInfo) is outside the
//!    loops. Operations: makeCredential, getAssertion, and a PIN token
//!    (getKeyAgreement, ECDH, the encrypted PIN hash, the token decrypted).
//!
//! Nothing here asserts a time: it prints figures and ratios for a person (and the
//! issue's targets next to them) to read.
//!
//! Usage: `serve_scale --ctap PATH [--python PATH] [--quick] [--write RESULTS.md]`
//!
//! For profiling by hand (`perf record -p` on a server started apart):
//! `serve_scale --drive ADDR[,ADDR...] --clients N --seconds S` runs N client threads
//! (thread `i` on address `i mod count`) for S seconds against running `ctap serve`
//! instances and prints the pairs per second and the clients' CPU.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use ctap_device::CallOptions;
use ctap_device::udp::UdpConnection;
use ctap2_client::proto::{Algorithm, Permissions, RpEntity, UserEntity};
use ctap2_client::{ClientPin, Ctap2, get_assertion_request, make_credential_request};
use nix::sys::resource::{UsageWho, getrusage};

type Client = Ctap2<ctap_device::CtapHidDevice<UdpConnection>>;

const RP_ID: &str = "example.com";
/// The PIN of the client-CPU server.
const PIN: &str = "123456";
/// The section of `benches/RESULTS.md` this writes (kept by `cargo xtask bench`).
const SECTION: &str = "serve";

/// How long and how often.
#[derive(Debug, Clone)]
struct Plan {
    /// One throughput measurement window.
    window: Duration,
    /// Rounds: each round measures every configuration once.
    rounds: usize,
    /// Client thread counts of the throughput table.
    clients: Vec<usize>,
    /// Operations of each kind per client-CPU loop.
    cpu_ops: usize,
}

impl Plan {
    fn full() -> Self {
        Self {
            window: Duration::from_secs(1),
            rounds: 7,
            clients: vec![1, 2, 4, 8],
            cpu_ops: 300,
        }
    }

    fn quick() -> Self {
        Self {
            window: Duration::from_millis(500),
            rounds: 3,
            clients: vec![1, 2, 4],
            cpu_ops: 60,
        }
    }
}

/// `--drive`: client threads against servers started apart.
#[derive(Debug)]
struct Drive {
    devices: Vec<SocketAddr>,
    clients: usize,
    window: Duration,
}

#[derive(Debug)]
struct Options {
    ctap: PathBuf,
    python: Option<PathBuf>,
    quick: bool,
    write: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = if args.first().is_some_and(|arg| arg == "--drive") {
        drive_options(&args).and_then(|drive| drive_only(&drive))
    } else {
        options().and_then(|options| run(&options))
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("serve_scale: {message}");
            ExitCode::FAILURE
        }
    }
}

fn options() -> Result<Options, String> {
    let mut ctap = None;
    let mut python = None;
    let mut quick = false;
    let mut write = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--ctap" => ctap = Some(value("--ctap")?),
            "--python" => python = Some(value("--python")?),
            "--write" => write = Some(value("--write")?),
            "--quick" => quick = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: serve_scale --ctap PATH [--python PATH] [--quick] [--write RESULTS.md]"
                ));
            }
        }
    }
    Ok(Options {
        ctap: ctap.ok_or("--ctap PATH (a release build of the ctap CLI) is required")?,
        python,
        quick,
        write,
    })
}

fn drive_options(args: &[String]) -> Result<Drive, String> {
    let usage = "usage: serve_scale --drive ADDR[,ADDR...] --clients N --seconds S";
    let mut drive = Drive {
        devices: Vec::new(),
        clients: 1,
        window: Duration::from_secs(5),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{arg} needs a value; {usage}"))?;
        match arg.as_str() {
            "--drive" => {
                drive.devices = value
                    .split(',')
                    .map(|addr| addr.trim_start_matches("udp:").parse())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--drive {value}: {e}"))?;
            }
            "--clients" => {
                drive.clients = value
                    .parse()
                    .map_err(|e| format!("--clients {value}: {e}"))?;
            }
            "--seconds" => {
                drive.window = value
                    .parse()
                    .ok()
                    .and_then(|s: f64| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| format!("--seconds {value}: not a number of seconds"))?;
            }
            other => return Err(format!("unknown argument `{other}`; {usage}")),
        }
    }
    Ok(drive)
}

/// `--drive`: one window against servers started apart (for `perf` on them).
fn drive_only(drive: &Drive) -> Result<(), String> {
    let load = load_average();
    let (pairs_per_second, client_cores) =
        drive_window(&drive.devices, drive.clients, drive.window, || ())?;
    println!(
        "{} clients on {} instances: {pairs_per_second:.0} pairs/s, client {client_cores:.2} cores, {:.1} µs client CPU a pair (load {load:.2})",
        drive.clients,
        drive.devices.len(),
        client_cores / pairs_per_second.max(f64::MIN_POSITIVE) * 1e6
    );
    Ok(())
}

fn run(options: &Options) -> Result<(), String> {
    let plan = if options.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    let started = Instant::now();
    let load_before = load_average();
    let throughput = throughput(&options.ctap, &plan)?;
    let cpu = client_cpu(&options.ctap, options.python.as_deref(), &plan)?;
    let load_after = load_average();
    let section = report(&plan, options, &throughput, &cpu, load_before, load_after);
    println!("{section}");
    if let Some(path) = &options.write {
        let previous = std::fs::read_to_string(path).unwrap_or_default();
        std::fs::write(path, with_section(&previous, SECTION, &section))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote the {SECTION} section of {}", path.display());
    }
    eprintln!("{:.0} s in all", started.elapsed().as_secs_f64());
    Ok(())
}

/// A `ctap serve` process, stopped when dropped.
struct Serve {
    child: Child,
    devices: Vec<SocketAddr>,
}

impl Serve {
    /// `ctap serve --udp 127.0.0.1:0 --instances N --touch-delay 0 EXTRA...`, once it
    /// has announced every instance.
    fn start(ctap: &Path, instances: usize, extra: &[&str]) -> Result<Self, String> {
        let count = instances.to_string();
        let mut child = Command::new(ctap)
            .args(["serve", "--udp", "127.0.0.1:0", "--touch-delay", "0"])
            .args(["--instances", &count])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", ctap.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or("the server's stdout is not piped")?;
        let mut serve = Self {
            child,
            devices: Vec::new(),
        };
        let mut lines = BufReader::new(stdout).lines();
        while serve.devices.len() < instances {
            let line = lines
                .next()
                .ok_or("ctap serve ended before announcing its instances")?
                .map_err(|e| format!("reading ctap serve's stdout: {e}"))?;
            let addr = line
                .strip_prefix("listening on udp:")
                .and_then(|addr| addr.parse().ok())
                .ok_or_else(|| format!("unexpected line from ctap serve: {line:?}"))?;
            serve.devices.push(addr);
        }
        Ok(serve)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn open(addr: SocketAddr) -> Result<Client, String> {
    let device = ctap_device::udp::open(addr).map_err(|e| format!("open udp:{addr}: {e}"))?;
    Ctap2::new(device).map_err(|e| format!("getInfo from udp:{addr}: {e}"))
}

fn rp() -> RpEntity {
    RpEntity {
        icon: None,
        id: RP_ID.into(),
        name: Some("Example".into()),
    }
}

fn user() -> UserEntity {
    UserEntity {
        icon: None,
        id: b"user-1".to_vec(),
        name: Some("alice".into()),
        display_name: None,
    }
}

/// makeCredential (ES256, not discoverable): the new credential's id.
fn make_credential(ctap: &mut Client) -> Result<Vec<u8>, String> {
    let request = make_credential_request([0; 32], rp(), user(), &[Algorithm::ES256]);
    let attestation = ctap
        .make_credential(&request, CallOptions::default())
        .map_err(|e| format!("makeCredential: {e}"))?;
    attestation
        .credential()
        .map(|credential| credential.credential_id.clone())
        .ok_or_else(|| "makeCredential returned no credential".to_owned())
}

fn get_assertion(ctap: &mut Client, credential: &[u8]) -> Result<(), String> {
    let request = get_assertion_request(RP_ID, [0; 32], &[credential.to_vec()]);
    ctap.get_assertion(&request, CallOptions::default())
        .map(drop)
        .map_err(|e| format!("getAssertion: {e}"))
}

/// One throughput figure: pairs (makeCredential + getAssertion) per second, with the
/// CPU the server process used meanwhile.
#[derive(Debug, Clone, Copy)]
struct Rate {
    pairs_per_second: f64,
    /// Server CPU seconds per second of the window: how many cores it kept busy.
    server_cores: f64,
    /// The client threads' CPU seconds (this process, `getrusage`) per second of the
    /// window: with `server_cores`, how much of the machine the measurement used.
    client_cores: f64,
    load: f64,
}

/// `rates[clients][instances - 1]`: one `Rate` per round.
#[derive(Debug)]
struct Throughput {
    clients: Vec<usize>,
    rates: Vec<[Vec<Rate>; 2]>,
}

fn throughput(ctap: &Path, plan: &Plan) -> Result<Throughput, String> {
    let servers = [Serve::start(ctap, 1, &[])?, Serve::start(ctap, 2, &[])?];
    let mut rates: Vec<[Vec<Rate>; 2]> = plan.clients.iter().map(|_| [vec![], vec![]]).collect();
    for round in 0..plan.rounds {
        for (row, &clients) in plan.clients.iter().enumerate() {
            // Alternate which configuration goes first, round by round.
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let Some(server) = servers.get(which) else {
                    continue;
                };
                let load = load_average();
                let rate = measure_rate(server, clients, plan.window, load)?;
                eprintln!(
                    "round {} clients {clients} instances {}: {:.0} pairs/s, server {:.2} cores, client {:.2} cores (load {load:.2})",
                    round + 1,
                    which + 1,
                    rate.pairs_per_second,
                    rate.server_cores,
                    rate.client_cores
                );
                if let Some(slot) = rates.get_mut(row).and_then(|r| r.get_mut(which)) {
                    slot.push(rate);
                }
            }
        }
    }
    Ok(Throughput {
        clients: plan.clients.clone(),
        rates,
    })
}

/// `clients` threads (thread `i` on instance `i mod instances`), each doing pairs for
/// `window` once all are ready: the sum of their rates, and the server's CPU meanwhile.
fn measure_rate(
    server: &Serve,
    clients: usize,
    window: Duration,
    load: f64,
) -> Result<Rate, String> {
    let pid = server.child.id();
    let mut cpu_before = None;
    let mut started = Instant::now();
    let (pairs_per_second, client_cores) = drive_window(&server.devices, clients, window, || {
        cpu_before = process_cpu_seconds(pid);
        started = Instant::now();
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let server_cores = match (cpu_before, process_cpu_seconds(pid)) {
        (Some(before), Some(after)) if elapsed > 0.0 => (after - before) / elapsed,
        _ => f64::NAN,
    };
    Ok(Rate {
        pairs_per_second,
        server_cores,
        client_cores,
        load,
    })
}

/// `clients` threads (thread `i` on `devices[i mod len]`), each doing pairs for `window`
/// once all are ready (`at_start` runs then): the sum of their rates, and the CPU the
/// client threads used per second of the window (`getrusage` of this process).
fn drive_window(
    devices: &[SocketAddr],
    clients: usize,
    window: Duration,
    at_start: impl FnOnce(),
) -> Result<(f64, f64), String> {
    // The clients and this thread, which reads the CPU clocks when they start.
    let ready = Barrier::new(clients.saturating_add(1));
    let mut client_before = None;
    let mut started = Instant::now();
    let results: Vec<Result<f64, String>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..clients)
            .map(|index| {
                let device = devices.get(index % devices.len().max(1)).copied();
                let ready = &ready;
                scope.spawn(move || {
                    // Set-up and one warm pair before the window; every thread reaches
                    // the barrier, even after an error, so none waits for ever.
                    let prepared = device
                        .ok_or_else(|| "no device to drive".to_owned())
                        .and_then(open)
                        .and_then(|mut ctap| {
                            let credential = make_credential(&mut ctap)?;
                            get_assertion(&mut ctap, &credential)?;
                            Ok(ctap)
                        });
                    ready.wait();
                    let mut ctap = prepared?;
                    let started = Instant::now();
                    let mut pairs = 0u32;
                    while started.elapsed() < window {
                        let credential = make_credential(&mut ctap)?;
                        get_assertion(&mut ctap, &credential)?;
                        pairs = pairs.saturating_add(1);
                    }
                    Ok(f64::from(pairs) / started.elapsed().as_secs_f64())
                })
            })
            .collect();
        ready.wait();
        at_start();
        client_before = cpu_us().ok();
        started = Instant::now();
        threads
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err("a client thread panicked".to_owned()))
            })
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    // The client threads have ended: this process's CPU since the barrier is theirs
    // (the main thread only waited for them).
    let client_cores = match (client_before, cpu_us().ok()) {
        (Some(before), Some(after)) if elapsed > 0.0 => (after - before) / 1e6 / elapsed,
        _ => f64::NAN,
    };
    Ok((
        results.into_iter().sum::<Result<f64, String>>()?,
        client_cores,
    ))
}

/// The CPU time, in seconds, the threads of process `pid` have run so far (the sum of
/// the first field of `/proc/PID/task/*/schedstat`, in ns); `None` without it.
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut nanos = 0u64;
    for task in tasks {
        let text = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        let ran: u64 = text.split_whitespace().next()?.parse().ok()?;
        nanos = nanos.saturating_add(ran);
    }
    // Nanoseconds of CPU: exact in f64 for 104 days.
    #[allow(clippy::cast_precision_loss)]
    Some(nanos as f64 / 1e9)
}

/// Client CPU and wall time per operation, µs.
#[derive(Debug, Clone, Copy, Default)]
struct PerOp {
    cpu_us: f64,
    wall_us: f64,
}

/// One client's figures of one round: makeCredential, getAssertion, PIN token.
#[derive(Debug, Clone, Copy, Default)]
struct ClientRound {
    make_credential: PerOp,
    get_assertion: PerOp,
    pin_token: PerOp,
}

#[derive(Debug)]
struct ClientCpu {
    ours: Vec<ClientRound>,
    python: Vec<ClientRound>,
    /// Why python-fido2 was not measured, when it was not.
    python_missing: Option<String>,
    python_protocol: Option<String>,
    our_protocol: String,
}

fn client_cpu(ctap: &Path, python: Option<&Path>, plan: &Plan) -> Result<ClientCpu, String> {
    let server = Serve::start(ctap, 1, &["--pin", PIN])?;
    let device = *server
        .devices
        .first()
        .ok_or("ctap serve announced no instance")?;
    let mut ours = Vec::new();
    let mut from_python = Vec::new();
    let mut python_protocol = None;
    let mut python_missing = match python {
        None => Some(
            "no python given (`--python`; `cargo xtask bench-serve` uses target/interop-venv, \
             which `bash crates/ctap-virtual/interop/run.sh` creates)"
                .to_owned(),
        ),
        Some(path) if !path.exists() => Some(format!("{} does not exist", path.display())),
        Some(_) => None,
    };
    let mut our_protocol = String::new();
    for round in 0..plan.rounds {
        let (figures, protocol) = our_client_round(device, plan.cpu_ops)?;
        our_protocol = protocol;
        eprintln!("round {} ctap2-client: {figures:?}", round + 1);
        ours.push(figures);
        if let (Some(python), None) = (python, &python_missing) {
            match python_round(python, device, plan.cpu_ops) {
                Ok((figures, protocol)) => {
                    eprintln!("round {} python-fido2: {figures:?}", round + 1);
                    from_python.push(figures);
                    python_protocol = Some(protocol);
                }
                Err(error) => python_missing = Some(error),
            }
        }
    }
    Ok(ClientCpu {
        ours,
        python: from_python,
        python_missing,
        python_protocol,
        our_protocol,
    })
}

/// CPU (user + system) of this whole process, µs. Only the calling thread runs while
/// it is used (the throughput threads have ended), so this is the client's alone.
fn cpu_us() -> Result<f64, String> {
    let usage = getrusage(UsageWho::RUSAGE_SELF).map_err(|e| format!("getrusage: {e}"))?;
    let micros = |time: nix::sys::time::TimeVal| {
        // Whole seconds and microseconds of a process's CPU time: far inside f64.
        #[allow(clippy::cast_precision_loss)]
        let value = time.tv_sec() as f64 * 1e6 + time.tv_usec() as f64;
        value
    };
    Ok(micros(usage.user_time()) + micros(usage.system_time()))
}

/// Runs `operation` once untimed, then `count` times between two CPU readings.
fn per_op(
    count: usize,
    mut operation: impl FnMut() -> Result<(), String>,
) -> Result<PerOp, String> {
    operation()?;
    let (cpu, wall) = (cpu_us()?, Instant::now());
    for _ in 0..count {
        operation()?;
    }
    let cpu = cpu_us()? - cpu;
    let wall = wall.elapsed().as_secs_f64() * 1e6;
    let count = f64::from(u32::try_from(count).unwrap_or(u32::MAX).max(1));
    Ok(PerOp {
        cpu_us: cpu / count,
        wall_us: wall / count,
    })
}

fn our_client_round(device: SocketAddr, count: usize) -> Result<(ClientRound, String), String> {
    let mut ctap = open(device)?;
    let mut credential = Vec::new();
    let make_credential = per_op(count, || {
        credential = make_credential(&mut ctap)?;
        Ok(())
    })?;
    let get_assertion = per_op(count, || get_assertion(&mut ctap, &credential))?;
    let mut pin = ClientPin::new(&mut ctap).map_err(|e| format!("ClientPin: {e}"))?;
    let protocol = format!("{:?}", pin.protocol());
    let pin_token = per_op(count, || {
        pin.get_pin_token(PIN, Permissions::GET_ASSERTION, Some(RP_ID))
            .map(drop)
            .map_err(|e| format!("getPinToken: {e}"))
    })?;
    Ok((
        ClientRound {
            make_credential,
            get_assertion,
            pin_token,
        },
        protocol,
    ))
}

/// One run of `python_fido2_client_cpu.py`: its three lines of figures and its PIN
/// protocol.
fn python_round(
    python: &Path,
    device: SocketAddr,
    count: usize,
) -> Result<(ClientRound, String), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join("python_fido2_client_cpu.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(device.to_string())
        .args(["--count", &count.to_string(), "--pin", PIN])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{} {} failed ({}): {}",
            python.display(),
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    parse_python(&stdout)
}

/// The figures `python_fido2_client_cpu.py` prints: `<name> <cpu us> <wall us>` for
/// each operation, then `pin_protocol <n>`.
fn parse_python(stdout: &str) -> Result<(ClientRound, String), String> {
    let figure = |name: &str| -> Result<PerOp, String> {
        stdout
            .lines()
            .find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next()? == name).then_some(())?;
                let cpu_us = words.next()?.parse().ok()?;
                let wall_us = words.next()?.parse().ok()?;
                Some(PerOp { cpu_us, wall_us })
            })
            .ok_or_else(|| format!("no `{name} CPU WALL` line in the python output: {stdout:?}"))
    };
    let protocol = stdout
        .lines()
        .find_map(|line| line.strip_prefix("pin_protocol "))
        .map_or_else(|| "?".to_owned(), |p| p.trim().to_owned());
    Ok((
        ClientRound {
            make_credential: figure("make_credential")?,
            get_assertion: figure("get_assertion")?,
            pin_token: figure("pin_token")?,
        },
        protocol,
    ))
}

/// The median of `values` (0 when empty).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match (
        values.len() % 2,
        values.get(middle),
        middle.checked_sub(1).and_then(|i| values.get(i)),
    ) {
        (1, Some(value), _) => *value,
        (0, Some(high), Some(low)) => (high + low) / 2.0,
        _ => 0.0,
    }
}

fn range(values: impl Iterator<Item = f64>) -> String {
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
        (low.min(value), high.max(value))
    });
    if low.is_finite() {
        format!("{low:.1}-{high:.1}")
    } else {
        "?".to_owned()
    }
}

fn report(
    plan: &Plan,
    options: &Options,
    throughput: &Throughput,
    cpu: &ClientCpu,
    load_before: f64,
    load_after: f64,
) -> String {
    let mut text = String::new();
    let mode = if options.quick { "`--quick`" } else { "full" };
    let _ = writeln!(
        text,
        "## CTAP2 over UDP: `ctap serve` instances and client CPU\n\n\
         Written by `cargo xtask bench-serve` ({mode} run: windows of {:.1} s, {} rounds, \
         {} operations per client-CPU loop); regenerate rather than edit. Method: \
         `benches/src/bin/serve_scale.rs`.\n\n\
         Machine: {}; load average (1 min) {load_before:.2} before, {load_after:.2} after. \
         A load average above the number of cores means other work shared them: the \
         figures are then lower and noisier than a quiet machine's, and the `2 / 1` ratio \
         is skewed as well (the scheduler shares a busy machine by thread, and the \
         two-instance server has two); only a run on a quiet machine answers the 1.7x \
         target.\n",
        plan.window.as_secs_f64(),
        plan.rounds,
        plan.cpu_ops,
        machine()
    );
    let _ = writeln!(
        text,
        "### Throughput: one `ctap serve` with 1 and with 2 instances\n\n\
         Pairs per second (a pair: makeCredential ES256 then getAssertion of that \
         credential), summed over the client threads; client thread `i` drives instance \
         `i mod instances`. Median of the rounds; `2 / 1` is the median of the per-round \
         ratios (the two configurations alternate within each round). Target (issue 27): \
         two instances on 2 cores >= 1.7x one instance. The client threads run on the same \
         cores as the server. Server cores: the CPU time of the `ctap serve` process \
         (all its threads, `/proc/PID/task/*/schedstat`) per second of the window: how \
         many cores it got. With one client thread both configurations drive one \
         instance (a control row: its ratio should be 1). Client threads on one instance \
         can collide (one's request arrives while another's is half sent): the later one \
         gets CHANNEL_BUSY and retries after `ctap-device`'s `busy_retry_interval` \
         (100 ms), as a host of a real key would; an instance kept busy shows about one \
         server core per instance on a quiet machine, one that is not shows less.\n\n\
         Client cores: the same for the client threads (`getrusage` of the benchmark \
         process): server + client near the number of cores means the machine was kept \
         busy and a pair's CPU is what limits it; well under it, the rest went to other \
         work on the machine (see the load) or to idle waits.\n\n\
         | client threads | 1 instance, pairs/s | 2 instances, pairs/s | 2 / 1 | server + client cores, 1 instance | server + client cores, 2 instances | load average during |\n\
         |---|---|---|---|---|---|---|"
    );
    let mut best = [0.0f64; 2];
    for (clients, [one, two]) in throughput.clients.iter().zip(&throughput.rates) {
        let one_rate = median(one.iter().map(|r| r.pairs_per_second).collect());
        let two_rate = median(two.iter().map(|r| r.pairs_per_second).collect());
        best = [best[0].max(one_rate), best[1].max(two_rate)];
        let ratio = median(
            one.iter()
                .zip(two)
                .filter(|(one, _)| one.pairs_per_second > 0.0)
                .map(|(one, two)| two.pairs_per_second / one.pairs_per_second)
                .collect(),
        );
        let loads = range(one.iter().chain(two).map(|r| r.load));
        let one_cores = median(one.iter().map(|r| r.server_cores).collect());
        let two_cores = median(two.iter().map(|r| r.server_cores).collect());
        let one_client = median(one.iter().map(|r| r.client_cores).collect());
        let two_client = median(two.iter().map(|r| r.client_cores).collect());
        let _ = writeln!(
            text,
            "| {clients} | {one_rate:.0} | {two_rate:.0} | {ratio:.2}x | {one_cores:.2} + {one_client:.2} | {two_cores:.2} + {two_client:.2} | {loads} |"
        );
    }
    let best_ratio = if best[0] > 0.0 {
        best[1] / best[0]
    } else {
        0.0
    };
    let windows = |which: usize| {
        throughput
            .rates
            .iter()
            .filter_map(move |r| r.get(which))
            .flatten()
    };
    let most_cores = |which: usize| windows(which).map(|r| r.server_cores).fold(0.0, f64::max);
    let per_cpu_second = |which: usize| {
        median(
            windows(which)
                .filter(|r| r.server_cores > 0.0)
                .map(|r| r.pairs_per_second / r.server_cores)
                .collect(),
        )
    };
    let _ = writeln!(
        text,
        "\nBest of each column: {:.0} pairs/s with 1 instance, {:.0} with 2: {best_ratio:.2}x. \
         Most server cores in any window: {:.2} with 1 instance, {:.2} with 2. Pairs per \
         server CPU-second (median of the windows): {:.0} with 1 instance, {:.0} with 2 (a \
         pair costs the same either way: what a second instance adds is a second core).\n",
        best[0],
        best[1],
        most_cores(0),
        most_cores(1),
        per_cpu_second(0),
        per_cpu_second(1)
    );
    // What the CPU costs alone allow on an idle machine with `cores` cores: one
    // instance is one thread (at most one core, the clients on another), two instances
    // share the cores with the clients.
    let server_per_pair = 1.0 / per_cpu_second(0).max(f64::MIN_POSITIVE);
    let client_per_pair = median(
        cpu.ours
            .iter()
            .map(|r| (r.make_credential.cpu_us + r.get_assertion.cpu_us) / 1e6)
            .collect(),
    );
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if per_cpu_second(0) > 0.0 && cores >= 2 {
        let one = 1.0 / server_per_pair;
        let two = 2.0 / (server_per_pair + client_per_pair);
        let _ = writeln!(
            text,
            "An estimate from the CPU costs, not a measurement: a pair costs the server \
             {:.0} µs and our client {:.0} µs of CPU, so an idle {cores}-core machine allows \
             at most {one:.0} pairs/s with 1 instance (one thread: one core) and {two:.0} \
             with 2 (both cores, shared with the clients): {:.2}x.\n",
            server_per_pair * 1e6,
            client_per_pair * 1e6,
            two / one
        );
    }
    let _ = writeln!(
        text,
        "### Client CPU per operation: ctap2-client and python-fido2 2.2.1\n\n\
         Both against the same `ctap serve --pin` (one instance), alternating round by \
         round; CPU = user + system time of the client process alone (`getrusage`), per \
         operation, median of the rounds (range in brackets); wall = the whole round \
         trip, server included. PIN protocol: ours {}, python-fido2 {}. Targets (issue \
         27): PIN token CPU <= 0.5x python-fido2's; makeCredential and getAssertion client \
         CPU >= 10x lower.\n",
        cpu.our_protocol,
        cpu.python_protocol.as_deref().unwrap_or("not measured")
    );
    if let Some(missing) = &cpu.python_missing {
        let _ = writeln!(text, "python-fido2 was not measured: {missing}.\n");
    }
    let _ = writeln!(
        text,
        "| operation | ctap2-client CPU µs | python-fido2 CPU µs | ours / python | ctap2-client wall µs | python-fido2 wall µs |\n\
         |---|---|---|---|---|---|"
    );
    type Pick = fn(&ClientRound) -> PerOp;
    let rows: [(&str, Pick); 3] = [
        ("makeCredential", |r| r.make_credential),
        ("getAssertion", |r| r.get_assertion),
        ("PIN token", |r| r.pin_token),
    ];
    for (name, pick) in rows {
        let column = |rounds: &[ClientRound], field: fn(PerOp) -> f64| {
            let values: Vec<f64> = rounds.iter().map(|r| field(pick(r))).collect();
            (median(values.clone()), range(values.into_iter()))
        };
        let (our_cpu, our_range) = column(&cpu.ours, |p| p.cpu_us);
        let (our_wall, _) = column(&cpu.ours, |p| p.wall_us);
        let (python_text, ratio, python_wall) = if cpu.python.is_empty() {
            ("-".to_owned(), "-".to_owned(), "-".to_owned())
        } else {
            let (python_cpu, python_range) = column(&cpu.python, |p| p.cpu_us);
            let (python_wall, _) = column(&cpu.python, |p| p.wall_us);
            let ratio = if python_cpu > 0.0 {
                format!(
                    "{:.3}x (python {:.1}x ours)",
                    our_cpu / python_cpu,
                    python_cpu / our_cpu.max(f64::MIN_POSITIVE)
                )
            } else {
                "-".to_owned()
            };
            (
                format!("{python_cpu:.1} [{python_range}]"),
                ratio,
                format!("{python_wall:.0}"),
            )
        };
        let _ = writeln!(
            text,
            "| {name} | {our_cpu:.1} [{our_range}] | {python_text} | {ratio} | {our_wall:.0} | {python_wall} |"
        );
    }
    let _ = writeln!(
        text,
        "\nRerun: `cargo xtask bench-serve` (or `--quick`); by hand: `cargo build --release \
         -p ctap-cli -p ctap-benches --bin ctap --bin serve_scale && \
         target/release/serve_scale --ctap target/release/ctap --python \
         target/interop-venv/bin/python`."
    );
    text
}

/// The 1-minute load average (`/proc/loadavg`), NaN where there is none.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// CPU model name, family and model, cores (as `cargo xtask bench` writes it).
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
    };
    let cpu = field("model name").unwrap_or_else(|| "unknown CPU".to_owned());
    let generation = match (field("cpu family"), field("model")) {
        (Some(family), Some(model)) => format!(" (family {family}, model {model})"),
        _ => String::new(),
    };
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{cpu}{generation}, {cores} cores")
}

/// `text` with its section `name` replaced by `body`, or with the section appended (the
/// markers `cargo xtask bench` keeps when it rewrites the file).
fn with_section(text: &str, name: &str, body: &str) -> String {
    let (open, close) = (format!("<!-- {name} -->"), format!("<!-- /{name} -->"));
    let block = format!("{open}\n{}\n{close}", body.trim_end());
    let start = text.find(&open);
    let end = text.find(&close);
    match (start, end) {
        (Some(start), Some(end)) if end > start => {
            let before = text.get(..start).unwrap_or_default();
            let after = text.get(end + close.len()..).unwrap_or_default();
            format!("{before}{block}{after}")
        }
        _ => format!("{}\n\n{block}\n", text.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }

    #[test]
    fn python_figures_are_read_by_name() {
        let (round, protocol) = parse_python(
            "make_credential 480.5 1900.0\nget_assertion 410.0 750.5\npin_token 270.0 590.0\npin_protocol 2\n",
        )
        .unwrap();
        assert_eq!(round.make_credential.cpu_us, 480.5);
        assert_eq!(round.get_assertion.wall_us, 750.5);
        assert_eq!(round.pin_token.cpu_us, 270.0);
        assert_eq!(protocol, "2");
        let error = parse_python("make_credential 1 2\n").unwrap_err();
        assert!(error.contains("get_assertion"), "{error}");
    }

    fn rate(pairs_per_second: f64, server_cores: f64) -> Rate {
        Rate {
            pairs_per_second,
            server_cores,
            client_cores: server_cores / 5.0,
            load: 0.5,
        }
    }

    fn per_op(cpu_us: f64) -> PerOp {
        PerOp {
            cpu_us,
            wall_us: 1000.0,
        }
    }

    #[test]
    fn the_report_divides_two_instances_by_one_and_ours_by_python() {
        let throughput = Throughput {
            clients: vec![2],
            // Two rounds: ratios 1.8 and 2.0, median 1.9.
            rates: vec![[
                vec![rate(1000.0, 0.7), rate(1000.0, 0.7)],
                vec![rate(1800.0, 1.26), rate(2000.0, 1.4)],
            ]],
        };
        let round = |mc, pin| ClientRound {
            make_credential: per_op(mc),
            get_assertion: per_op(mc),
            pin_token: per_op(pin),
        };
        let cpu = ClientCpu {
            ours: vec![round(30.0, 100.0)],
            python: vec![round(450.0, 300.0)],
            python_missing: None,
            python_protocol: Some("2".into()),
            our_protocol: "Two".into(),
        };
        let options = Options {
            ctap: "ctap".into(),
            python: None,
            quick: true,
            write: None,
        };
        let text = report(&Plan::quick(), &options, &throughput, &cpu, 0.5, 0.6);
        assert!(
            text.contains("| 2 | 1000 | 1900 | 1.90x | 0.70 + 0.14 | 1.33 + 0.27 | 0.5-0.5 |"),
            "{text}"
        );
        assert!(
            text.contains("Most server cores in any window: 0.70 with 1 instance, 1.40 with 2"),
            "{text}"
        );
        // 1000 pairs per 0.7 core-s: 700 µs of server CPU a pair; 60 µs of client CPU.
        if std::thread::available_parallelism().map_or(1, usize::from) >= 2 {
            assert!(
                text.contains("a pair costs the server 700 µs and our client 60 µs of CPU"),
                "{text}"
            );
            assert!(text.contains("1429 pairs/s with 1 instance"), "{text}");
            assert!(text.contains("and 2632 with 2"), "{text}");
        }
        assert!(
            text.contains("| makeCredential | 30.0 [30.0-30.0] | 450.0 [450.0-450.0] | 0.067x (python 15.0x ours)"),
            "{text}"
        );
        assert!(
            text.contains("| PIN token | 100.0 [100.0-100.0] | 300.0 [300.0-300.0] | 0.333x"),
            "{text}"
        );
    }

    #[test]
    fn the_servers_cpu_time_is_read_from_proc() {
        let before = process_cpu_seconds(std::process::id());
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let after = process_cpu_seconds(std::process::id());
        let (Some(before), Some(after)) = (before, after) else {
            // No schedstat (a kernel without CONFIG_SCHED_INFO): the column says NaN.
            return;
        };
        assert!(after > before, "{before} -> {after}");
    }

    #[test]
    fn the_section_is_replaced_in_place_or_appended() {
        let once = with_section("# Results\n", "serve", "first");
        assert_eq!(
            once,
            "# Results\n\n<!-- serve -->\nfirst\n<!-- /serve -->\n"
        );
        let twice = with_section(&(once.clone() + "tail\n"), "serve", "second");
        assert_eq!(twice, once.replace("first", "second") + "tail\n");
    }
}
