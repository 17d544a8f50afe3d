//! `ctap serve`: the software authenticator over UDP (`--udp`) or as a card in pcscd's
//! virtual reader (`--vpcd`, plain TCP: no PC/SC feature needed), until interrupted.
//! Over UDP one process can serve several independent authenticators, one thread each
//! (`--instances N`, or `--udp` more than once: see [`instances`]).

mod instances;

use std::io::Write as _;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use ctap::virtual_device as vdev;
use serde_json::json;

use crate::device;
use crate::error::{Failure, Outcome};
use crate::globals::Global;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The UDP address to listen on (port 0: any free port). Given more than once, one
    /// independent authenticator on each address, each on its own thread. To
    /// power-cycle a key (as unplugging it: PIN tokens and the three-wrong-PINs block
    /// end, the reset window restarts), send the datagram `ctap-virtual power-cycle` to
    /// its address from this machine; it answers `ctap-virtual power-cycled`.
    #[arg(long, value_name = "ADDR", required_unless_present = "vpcd")]
    pub(crate) udp: Vec<String>,
    /// Serve N independent authenticators (each its own state, socket and thread) on N
    /// consecutive ports from the --udp port (port 0: N free ports), e.g. for parallel
    /// test shards.
    #[arg(long, value_name = "N", conflicts_with = "vpcd")]
    pub(crate) instances: Option<u16>,
    /// Instead of UDP: be a card in pcscd's virtual reader (vsmartcard-vpcd) at
    /// HOST:PORT (its first reader: 127.0.0.1:35963).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "udp")]
    pub(crate) vpcd: Option<String>,
    /// Refuse every request that needs a touch (OPERATION_DENIED).
    #[arg(long)]
    pub(crate) deny: bool,
    /// Keep credentials, PIN and counters in FILE across restarts (loaded if it exists,
    /// replaced atomically after every change, always mode 0600: it holds the master
    /// secret; a corrupt file, a symbolic link, or one that group or others can read
    /// or write is refused). With several instances: a pattern where `{N}` is the
    /// instance number (from 1), or a folder (created if missing, mode 0700) holding
    /// `instance-N.state` files.
    #[arg(long, value_name = "FILE|FOLDER|PATTERN")]
    pub(crate) state: Option<std::path::PathBuf>,
    /// Start with this PIN set (if the state has none yet).
    #[arg(long, value_name = "PIN")]
    pub(crate) pin: Option<crate::auth::SecretArg>,
    /// How long after start (power-up) authenticatorReset is allowed, in seconds, or
    /// `none` for any time (CTAP 2.1 section 6.6 asks for 10 s after power-up).
    #[arg(long, value_name = "SECS|none", default_value = "10", value_parser = parse_reset_window)]
    pub(crate) reset_window: ResetWindow,
    /// The optional CTAP 2.1/2.2 features (`serve_features.rs`).
    #[command(flatten)]
    pub(crate) features: super::serve_features::FeatureArgs,
    /// Channels kept at once (CTAP 2.1 section 11.2.4): enough for a farm of concurrent
    /// hosts; only when all are allocated does a new host's INIT take the least
    /// recently used idle channel. At most 65536.
    #[arg(long, value_name = "N", default_value_t = vdev::DEFAULT_CHANNELS, value_parser = parse_channels)]
    pub(crate) channels: usize,
    /// The attestation makeCredential returns: packed self attestation, packed batch
    /// attestation (with a certificate), or none.
    #[arg(long, value_enum, value_name = "KIND", default_value_t = AttestationKind::SelfSigned)]
    pub(crate) attestation: AttestationKind,
    /// The credential algorithms offered, most preferred first (getInfo `algorithms`;
    /// makeCredential takes the RP's first one that is here): a comma-separated list of
    /// es256, eddsa, es384, es512, es256k, rs256, ml-dsa-44, ml-dsa-65, ml-dsa-87 (or
    /// COSE numbers). Default: all nine, in that order.
    #[arg(long, value_name = "LIST", value_parser = parse_algorithms)]
    pub(crate) algorithms: Option<vdev::Algorithms>,
}

/// `serve --attestation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AttestationKind {
    /// "packed", signed by the credential's own key.
    #[value(name = "self")]
    SelfSigned,
    /// "packed", signed by a batch key with its certificate.
    Batch,
    /// "none": nothing signed.
    None,
}

/// `serve --algorithms`.
fn parse_algorithms(text: &str) -> Result<vdev::Algorithms, String> {
    vdev::Algorithms::parse(text).map_err(|e| e.to_string())
}

/// `serve --reset-window`: a number of seconds, or `none` (reset allowed any time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResetWindow(pub(crate) Option<std::time::Duration>);

fn parse_channels(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (2..=vdev::MAX_CHANNELS).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number of channels from 2 to {}, got {text:?}",
            vdev::MAX_CHANNELS
        )),
    }
}

fn parse_reset_window(text: &str) -> Result<ResetWindow, String> {
    if text == "none" {
        return Ok(ResetWindow(None));
    }
    text.parse::<u32>()
        .map(|secs| ResetWindow(Some(std::time::Duration::from_secs(u64::from(secs)))))
        .map_err(|_| format!("expected whole seconds (0..=4294967295) or `none`, got {text:?}"))
}

pub(crate) fn run(global: &Global, args: &ServeArgs) -> Outcome {
    // The global --touch-delay; a served authenticator stands for a key on a desk, so
    // its default is a second (--device virtual's is shorter).
    let after = Duration::from_millis(global.touch_delay.unwrap_or(1000));
    let touch = if args.deny {
        vdev::TouchPolicy::Deny { after }
    } else {
        vdev::TouchPolicy::Approve { after }
    };
    let config = vdev::Config::default()
        .with_touch(touch)
        .with_reset_window(args.reset_window.0)
        .with_max_channels(args.channels)
        .with_attestation(match args.attestation {
            AttestationKind::SelfSigned => vdev::Attestation::SelfAttestation,
            AttestationKind::Batch => vdev::Attestation::Batch,
            AttestationKind::None => vdev::Attestation::None,
        })
        .with_algorithms(args.algorithms.unwrap_or_default());
    if let Some(vpcd) = &args.vpcd {
        return serve_vpcd(global, vpcd, config, args);
    }
    let udp = args
        .udp
        .iter()
        .map(|text| device::resolve(text))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = instances::plan(&udp, args.instances, args.state.as_deref())
        .map_err(crate::error::usage)?;
    let several = plan.len() > 1;
    let name = |instance: &instances::Instance, mut error: Failure| {
        if several {
            error.message = format!("instance {}: {}", instance.number, error.message);
        }
        error
    };
    // The sockets first: a port that cannot be had must not leave a new state file
    // (or folder) behind (issue 25), so every state is loaded (and first written) only
    // once every instance has its port.
    let mut sockets = Vec::with_capacity(plan.len());
    for instance in &plan {
        let socket = std::net::UdpSocket::bind(instance.addr).map_err(|e| {
            name(
                instance,
                Failure::new(format!("cannot listen on {}: {e}", instance.addr)),
            )
        })?;
        let local = socket
            .local_addr()
            .map_err(|e| name(instance, Failure::new(e.to_string())))?;
        if !local.ip().is_loopback() {
            eprintln!(
                "ctap: warning: listening on {local}, beyond this machine's loopback: anyone who \
                 can reach it can use this authenticator (and spend its PIN tries); \
                 --udp 127.0.0.1:PORT keeps it local"
            );
        }
        sockets.push((socket, local));
    }
    let mut servers = Vec::with_capacity(plan.len());
    let mut locals = Vec::with_capacity(plan.len());
    for (instance, (socket, local)) in plan.iter().zip(sockets) {
        if let Some(folder) = instance.state.as_deref().and_then(Path::parent) {
            if several && !folder.as_os_str().is_empty() {
                instances::create_state_folder(folder).map_err(|e| {
                    name(
                        instance,
                        Failure::new(format!(
                            "cannot create the state folder {}: {e}",
                            folder.display()
                        )),
                    )
                })?;
            }
        }
        let device = authenticator(config, args, instance.state.as_deref())
            .map_err(|error| name(instance, error))?;
        servers.push(vdev::UdpServer::with_authenticator(socket, device));
        locals.push(local);
    }
    // The handlers go in before the announcement: a supervisor (or a test) that sends
    // SIGTERM as soon as it reads "listening" must get a clean stop, not a kill.
    let stops: Vec<vdev::StopHandle> = servers.iter().map(vdev::UdpServer::stop_handle).collect();
    let stop_all = stops.clone();
    ctrlc::set_handler(move || stop_all.iter().for_each(vdev::StopHandle::stop))
        .map_err(|e| Failure::new(format!("cannot handle signals: {e}")))?;
    // Serving starts before the announcement: what reads "listening" finds every
    // instance's thread running.
    let serving = Serving::start(servers, stops, several)?;
    if let Err(error) = announce(global, &plan, &locals) {
        serving.stop_all();
        let _ = serving.wait();
        return Err(error);
    }
    serving.wait()?;
    if !global.json {
        eprintln!("stopped");
    }
    Ok(())
}

/// The first lines of `serve`: every instance's address (text: one line each; JSON: one
/// document listing them).
fn announce(
    global: &Global,
    plan: &[instances::Instance],
    locals: &[std::net::SocketAddr],
) -> Outcome {
    if global.json {
        // `listening` is the first instance's address, as with one instance.
        let each: Vec<_> = plan
            .iter()
            .zip(locals)
            .map(|(instance, local)| {
                json!({
                    "instance": instance.number,
                    "device": format!("udp:{local}"),
                    "state": instance.state.as_ref().map(|path| path.display().to_string()),
                })
            })
            .collect();
        let first = locals.first();
        println!(
            "{}",
            json!({
                "listening": first.map(ToString::to_string),
                "device": first.map(|local| format!("udp:{local}")),
                "instances": each,
            })
        );
    } else {
        for local in locals {
            println!("listening on udp:{local}");
        }
    }
    std::io::stdout().flush()?;
    Ok(())
}

/// The authenticator to serve, powered up now: starting the server is plugging the key
/// in, so the reset window starts here. Randomness fails closed: no authenticator when
/// the OS generator fails.
fn powered_up(config: vdev::Config, args: &ServeArgs) -> Result<vdev::Authenticator, Failure> {
    let mut device =
        vdev::Authenticator::try_new(config).map_err(|e| Failure::new(e.to_string()))?;
    device.set_features(super::serve_features::features(&args.features)?);
    device.power_up(std::time::Instant::now());
    Ok(device)
}

/// A UDP instance's authenticator: powered up, with its state file `state` and the
/// preset PIN (called once every socket is bound).
fn authenticator(
    config: vdev::Config,
    args: &ServeArgs,
    state: Option<&Path>,
) -> Result<vdev::Authenticator, Failure> {
    let mut device = powered_up(config, args)?;
    load_state(&mut device, args, state)?;
    Ok(device)
}

/// `state` (loaded if the file exists, else written from now on) and `--pin`: called
/// once the socket is bound or the reader reached, so a server that cannot start leaves
/// no new state file behind.
fn load_state(device: &mut vdev::Authenticator, args: &ServeArgs, state: Option<&Path>) -> Outcome {
    if let Some(path) = state {
        device
            .use_state_file(vdev::StateFile::new(path))
            .map_err(|e| Failure::new(e.to_string()))?;
    }
    if let Some(pin) = &args.pin {
        if device.info().option("clientPin") != Some(true) {
            device
                .set_pin(pin.expose())
                .map_err(|e| Failure::new(format!("--pin: {e}")))?;
        }
    }
    Ok(())
}

/// The UDP servers of a `serve`, each on a thread of its own (`serve-N`).
struct Serving {
    threads: Vec<thread::JoinHandle<()>>,
    finished: mpsc::Receiver<(usize, std::io::Result<()>)>,
    stops: Vec<vdev::StopHandle>,
    several: bool,
}

impl Serving {
    /// Starts a thread for each server (all stopped again if one cannot start).
    fn start(
        servers: Vec<vdev::UdpServer>,
        stops: Vec<vdev::StopHandle>,
        several: bool,
    ) -> Result<Self, Failure> {
        let (done, finished) = mpsc::channel();
        let (running, started) = mpsc::channel::<()>();
        let mut serving = Self {
            threads: Vec::with_capacity(servers.len()),
            finished,
            stops,
            several,
        };
        for (index, server) in servers.into_iter().enumerate() {
            let number = index.saturating_add(1);
            let sender = done.clone();
            let running = running.clone();
            let spawned = thread::Builder::new()
                .name(format!("serve-{number}"))
                .spawn(move || {
                    let _ = running.send(());
                    drop(running);
                    let result = server.serve().map(drop);
                    let _ = sender.send((number, result));
                });
            match spawned {
                Ok(thread) => serving.threads.push(thread),
                Err(error) => {
                    serving.stop_all();
                    drop(done);
                    let _ = serving.wait();
                    return Err(Failure::new(format!(
                        "cannot start the thread of instance {number}: {error}"
                    )));
                }
            }
        }
        // Each thread says it runs (named, serving next) before `serve` announces it.
        drop(running);
        for _ in 0..serving.threads.len() {
            if started.recv().is_err() {
                serving.stop_all();
                drop(done);
                let _ = serving.wait();
                return Err(Failure::new("a serving thread ended before it started"));
            }
        }
        Ok(serving)
    }

    fn stop_all(&self) {
        self.stops.iter().for_each(vdev::StopHandle::stop);
    }

    /// Waits until every server has stopped. One that fails stops the others; its
    /// error, naming the instance when there are several, is the outcome.
    fn wait(self) -> Outcome {
        let mut failure = None;
        // Every thread sends once; the channel ends when they all have (their senders
        // are all they hold of it).
        for (number, result) in &self.finished {
            if let Err(error) = result {
                self.stop_all();
                let text = if self.several {
                    format!("instance {number}: server failed: {error}")
                } else {
                    format!("server failed: {error}")
                };
                failure.get_or_insert(Failure::new(text));
            }
        }
        for thread in self.threads {
            if thread.join().is_err() && failure.is_none() {
                failure = Some(Failure::new("a serving thread panicked"));
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

/// How long `serve --vpcd` keeps trying to reach the reader (pcscd may be starting).
const VPCD_CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// `ctap serve --vpcd HOST:PORT`: puts the software authenticator into the vpcd reader
/// and answers it until the reader goes away or the process is interrupted.
fn serve_vpcd(global: &Global, address: &str, config: vdev::Config, args: &ServeArgs) -> Outcome {
    let authenticator = vdev::VirtualAuthenticator::with_authenticator(powered_up(config, args)?);
    let started = Instant::now();
    let card = loop {
        let applet = vdev::NfcApplet::new(authenticator.clone());
        match vdev::VpcdCard::connect(address, applet) {
            Ok(card) => break card,
            Err(error) if started.elapsed() < VPCD_CONNECT_PATIENCE => {
                log::debug!("vpcd at {address}: {error}; retrying");
                thread::sleep(Duration::from_millis(200));
            }
            Err(error) => {
                return Err(Failure::new(format!(
                    "cannot reach the vpcd reader at {address}: {error} (is pcscd running with vsmartcard-vpcd?)"
                )));
            }
        }
    };
    // The reader is reached: now the state file (see `load_state`), before anything is
    // announced and before a host can have selected the applet.
    authenticator.with_device(|device| load_state(device, args, args.state.as_deref()))?;
    // Handlers first: a supervisor that signals as soon as it reads the first line must
    // get a clean stop, not a kill.
    let stop = card.stop_handle()?;
    ctrlc::set_handler(move || stop.stop())
        .map_err(|e| Failure::new(format!("cannot handle signals: {e}")))?;
    if global.json {
        println!("{}", json!({ "vpcd": address }));
    } else {
        println!("card inserted in the vpcd reader at {address}");
    }
    std::io::stdout().flush()?;
    card.serve()
        .map_err(|e| Failure::new(format!("vpcd card failed: {e}")))?;
    if !global.json {
        eprintln!("card removed");
    }
    Ok(())
}
