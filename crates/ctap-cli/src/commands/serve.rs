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
    /// The UDP address to listen on (port 0: any free port).
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
    /// replaced atomically after every change; a corrupt file is refused).
    #[arg(long, value_name = "FILE")]
    pub(crate) state: Option<std::path::PathBuf>,
    /// Start with this PIN set (if the state has none yet).
    #[arg(long, value_name = "PIN")]
    pub(crate) pin: Option<String>,
    /// How long after start (power-up) authenticatorReset is allowed, in seconds, or
    /// `none` for any time (CTAP 2.1 section 6.6 asks for 10 s after power-up).
    #[arg(long, value_name = "SECS|none", default_value = "10", value_parser = parse_reset_window)]
    pub(crate) reset_window: ResetWindow,
    /// The credential algorithms offered, most preferred first (getInfo `algorithms`;
    /// makeCredential takes the RP's first one that is here): a comma-separated list of
    /// es256, eddsa, es384, es512, es256k, rs256, ml-dsa-44, ml-dsa-65, ml-dsa-87 (or
    /// COSE numbers). Default: all nine, in that order.
    #[arg(long, value_name = "LIST", value_parser = parse_algorithms)]
    pub(crate) algorithms: Option<vdev::Algorithms>,
}

/// `serve --algorithms`.
fn parse_algorithms(text: &str) -> Result<vdev::Algorithms, String> {
    vdev::Algorithms::parse(text).map_err(|e| e.to_string())
}

/// `serve --reset-window`: a number of seconds, or `none` (reset allowed any time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResetWindow(pub(crate) Option<std::time::Duration>);

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
        .with_algorithms(args.algorithms.unwrap_or_default());
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
    let mut device = powered_up(config);
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

/// `ctap serve --vpcd HOST:PORT`: puts the software authenticator into the vpcd reader
/// and answers it until the reader goes away or the process is interrupted.
/// The authenticator to serve, powered up now: starting the server is plugging the key
/// in, so the reset window starts here.
fn powered_up(config: vdev::Config) -> vdev::Authenticator {
    let mut device = vdev::Authenticator::new(config);
    device.power_up(std::time::Instant::now());
    device
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
                .set_pin(pin)
                .map_err(|e| Failure::new(format!("--pin: {e}")))?;
        }
    }
    Ok(())
}

fn serve_vpcd(global: &Global, address: &str, config: vdev::Config, args: &ServeArgs) -> Outcome {
    let authenticator = vdev::VirtualAuthenticator::with_authenticator(powered_up(config));
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
