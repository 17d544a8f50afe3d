//! `ctap serve`: the software authenticator over UDP (`--udp`) or as a card in pcscd's
//! virtual reader (`--vpcd`, plain TCP: no PC/SC feature needed), until interrupted.

use std::io::Write as _;
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
    /// The UDP address to listen on (port 0: any free port). To power-cycle the key
    /// (as unplugging it: PIN tokens and the three-wrong-PINs block end, the reset
    /// window restarts), send the datagram `ctap-virtual power-cycle` to it from this
    /// machine; it answers `ctap-virtual power-cycled`.
    #[arg(long, value_name = "ADDR", required_unless_present = "vpcd")]
    pub(crate) udp: Option<String>,
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
    /// or write is refused).
    #[arg(long, value_name = "FILE")]
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
        });
    if let Some(vpcd) = &args.vpcd {
        return serve_vpcd(global, vpcd, config, args);
    }
    // The socket first: a port that cannot be had must not leave a new state file
    // behind (issue 25), so the state is loaded (and first written) after binding.
    let addr = device::resolve(args.udp.as_deref().unwrap_or_default())?;
    let socket = std::net::UdpSocket::bind(addr)
        .map_err(|e| Failure::new(format!("cannot listen on {addr}: {e}")))?;
    let local = socket
        .local_addr()
        .map_err(|e| Failure::new(e.to_string()))?;
    if !local.ip().is_loopback() {
        eprintln!(
            "ctap: warning: listening on {local}, beyond this machine's loopback: anyone who \
             can reach it can use this authenticator (and spend its PIN tries); \
             --udp 127.0.0.1:PORT keeps it local"
        );
    }
    let mut device = powered_up(config, args)?;
    load_state(&mut device, args)?;
    let server = vdev::UdpServer::with_authenticator(socket, device);
    // The handlers go in before the announcement: a supervisor (or a test) that sends
    // SIGTERM as soon as it reads "listening" must get a clean stop, not a kill.
    let stop = server.stop_handle();
    ctrlc::set_handler(move || stop.stop())
        .map_err(|e| Failure::new(format!("cannot handle signals: {e}")))?;
    if global.json {
        println!(
            "{}",
            json!({ "listening": local.to_string(), "device": format!("udp:{local}") })
        );
    } else {
        println!("listening on udp:{local}");
    }
    std::io::stdout().flush()?;
    server
        .serve()
        .map_err(|e| Failure::new(format!("server failed: {e}")))?;
    if !global.json {
        eprintln!("stopped");
    }
    Ok(())
}

/// How long `serve --vpcd` keeps trying to reach the reader (pcscd may be starting).
const VPCD_CONNECT_PATIENCE: Duration = Duration::from_secs(10);

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

/// `--state` (loaded if the file exists, else written from now on) and `--pin`: called
/// once the socket is bound or the reader reached, so a server that cannot start leaves
/// no new state file behind.
fn load_state(device: &mut vdev::Authenticator, args: &ServeArgs) -> Outcome {
    if let Some(path) = &args.state {
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
    authenticator.with_device(|device| load_state(device, args))?;
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
