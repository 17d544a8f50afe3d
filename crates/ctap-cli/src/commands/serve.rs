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
    /// Milliseconds before a request that needs a touch is approved.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub(crate) touch_delay: u64,
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
    let after = Duration::from_millis(args.touch_delay);
    let touch = if args.deny {
        vdev::TouchPolicy::Deny { after }
    } else {
        vdev::TouchPolicy::Approve { after }
    };
    let config = vdev::Config::default()
        .with_touch(touch)
        .with_reset_window(args.reset_window.0);
    let mut device = vdev::Authenticator::new(config);
    // Starting the server is plugging the key in: the reset window starts now.
    device.power_up(std::time::Instant::now());
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
    if let Some(vpcd) = &args.vpcd {
        return serve_vpcd(global, vpcd, device);
    }
    let addr = device::resolve(args.udp.as_deref().unwrap_or_default())?;
    let socket = std::net::UdpSocket::bind(addr)
        .map_err(|e| Failure::new(format!("cannot listen on {addr}: {e}")))?;
    let server = vdev::UdpServer::with_authenticator(socket, device);
    let local = server
        .local_addr()
        .map_err(|e| Failure::new(e.to_string()))?;
    // The handlers go in before the announcement: a supervisor (or a test) that sends
    // SIGTERM as soon as it reads "listening" must get a clean stop, not a kill.
    let stop = server.stop_handle();
    ctrlc::set_handler(move || stop.stop())
        .map_err(|e| Failure::new(format!("cannot handle signals: {e}")))?;
    if global.json {
        println!("{}", json!({ "listening": local.to_string() }));
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
fn serve_vpcd(global: &Global, address: &str, device: vdev::Authenticator) -> Outcome {
    let authenticator = vdev::VirtualAuthenticator::with_authenticator(device);
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
