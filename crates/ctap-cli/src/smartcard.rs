//! Smart cards: `--device pcsc[:READER]` and the PC/SC part of `ctap list` (feature
//! `pcsc`, which links libpcsclite), and `ctap serve --vpcd` (the software
//! authenticator as a card in pcscd's virtual reader; plain TCP, no feature needed).

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use ctap::virtual_device as vdev;
use serde_json::{Value as Json, json};

use crate::cli::Cli;
use crate::{Failure, Outcome};

/// `true` if `--device` names a PC/SC reader: `pcsc` (the first reader with a FIDO
/// card) or `pcsc:READER` (a reader's name, or a part of it).
pub(crate) fn is_pcsc(device: Option<&str>) -> bool {
    device.is_some_and(|d| d == "pcsc" || d.starts_with("pcsc:"))
}

/// How long `serve --vpcd` keeps trying to reach the reader (pcscd may be starting).
const VPCD_CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// `ctap serve --vpcd HOST:PORT`: puts the software authenticator into the vpcd reader
/// and answers it until the reader goes away or the process is interrupted.
pub(crate) fn serve_vpcd(cli: &Cli, address: &str, device: vdev::Authenticator) -> Outcome {
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
    if cli.json {
        println!("{}", json!({ "vpcd": address }));
    } else {
        println!("card inserted in the vpcd reader at {address}");
    }
    std::io::stdout().flush()?;
    card.serve()
        .map_err(|e| Failure::new(format!("vpcd card failed: {e}")))?;
    if !cli.json {
        eprintln!("card removed");
    }
    Ok(())
}

/// The PC/SC keys for `ctap list`: human lines printed, JSON entries returned. A PC/SC
/// failure (no pcscd) is a note on stderr, never the end of the listing.
pub(crate) fn list_entries() -> Vec<(String, Json)> {
    #[cfg(feature = "pcsc")]
    {
        match ctap::device::pcsc::list_devices() {
            Ok(devices) => devices
                .iter()
                .map(|info| {
                    let entry = json!({
                        "path": format!("pcsc:{}", info.reader),
                        "reader": info.reader,
                        "atr": hex(&info.atr),
                        "applet": applet_name(&info.applet),
                        "capabilities": info.capabilities.bits(),
                        "usable": true,
                    });
                    (info.to_string(), entry)
                })
                .collect(),
            Err(error) => {
                eprintln!("ctap: PC/SC readers not listed: {error}");
                Vec::new()
            }
        }
    }
    #[cfg(not(feature = "pcsc"))]
    Vec::new()
}

/// Runs a command on `--device pcsc[:READER]`.
pub(crate) fn run(cli: &Cli) -> Outcome {
    #[cfg(feature = "pcsc")]
    {
        with_pcsc::run(cli)
    }
    #[cfg(not(feature = "pcsc"))]
    {
        let _ = &cli.command;
        Err(Failure::new(
            "this ctap was built without PC/SC support (build it with `--features pcsc`; needs libpcsclite-dev)",
        ))
    }
}

#[cfg(feature = "pcsc")]
fn applet_name(applet: &ctap::device::apdu::AppletVersion) -> String {
    use ctap::device::apdu::AppletVersion;
    match applet {
        AppletVersion::U2fV2 => "U2F_V2".to_owned(),
        AppletVersion::Fido2 => "FIDO_2_0".to_owned(),
        AppletVersion::Other(bytes) => hex(bytes),
    }
}

#[cfg(feature = "pcsc")]
fn hex(bytes: &[u8]) -> String {
    crate::dissect::hex(bytes)
}

#[cfg(feature = "pcsc")]
mod with_pcsc {
    use std::sync::atomic::Ordering;

    use ctap::device::pcsc::{self, CtapPcscDevice};
    use ctap::device::{ApduConfig, CallOptions, CtapDevice};
    use ctap::types::{Command, Ctap2Command, KeepaliveStatus};
    use serde_json::json;

    use super::{Cli, Failure, Outcome, applet_name};
    use crate::cli::Command as Cmd;
    use crate::{dissect, get_info};

    pub(super) fn run(cli: &Cli) -> Outcome {
        match &cli.command {
            Cmd::Info => info(cli),
            Cmd::Select => select(cli),
            Cmd::Raw(args) => {
                let command =
                    dissect::parse_command(&args.cmd).map_err(|e| Failure::with_status(e, 2))?;
                let data = dissect::parse_hex(&args.data.replace([' ', ':'], ""))
                    .map_err(|e| Failure::with_status(format!("--data: {e}"), 2))?;
                let (_, mut device) = open(cli)?;
                let answer = device
                    .call_with(command, &data, options(cli)?)
                    .map_err(|e| crate::commands::explain(cli, e, &command.to_string(), None))?;
                if cli.json {
                    print_json(
                        &json!({ "command": command.to_string(), "response": dissect::hex(&answer) }),
                    );
                } else {
                    println!("{}", dissect::hex(&answer));
                }
                Ok(())
            }
            other => Err(Failure::new(format!(
                "{} is not supported over PC/SC (a card carries CTAP2 and U2F messages only; try info, select or raw --cmd cbor|msg)",
                command_name(other)
            ))),
        }
    }

    fn command_name(command: &Cmd) -> &'static str {
        match command {
            Cmd::List => "list",
            Cmd::Ping(_) => "ping",
            Cmd::Wink => "wink",
            Cmd::Lock(_) => "lock",
            Cmd::Frame(_) => "frame",
            Cmd::Serve(_) => "serve",
            _ => "this command",
        }
    }

    /// Opens the card; what is left of `--timeout` bounds the SELECT's getInfo probe
    /// (one deadline for the whole command, as over HID).
    fn open(cli: &Cli) -> Result<(String, CtapPcscDevice), Failure> {
        let config =
            ApduConfig::default().with_call_timeout(Some(crate::commands::time_left(cli)?));
        let device = match cli.device.as_deref().and_then(|d| d.strip_prefix("pcsc:")) {
            Some(reader) => pcsc::open_with(reader, config)?,
            None => pcsc::open_first_with(config)?,
        };
        let reader = device
            .connection()
            .map(|c| c.reader().to_owned())
            .unwrap_or_default();
        Ok((format!("pcsc:{reader}"), device))
    }

    /// The options of one call: its deadline is what is left of `--timeout`.
    fn options<'a>(cli: &Cli) -> Result<CallOptions<'a>, Failure> {
        Ok(CallOptions::default().with_timeout(crate::commands::time_left(cli)?))
    }

    fn print_json(value: &serde_json::Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        );
    }

    /// A CTAP2 call whose status byte is checked.
    fn cbor(
        cli: &Cli,
        device: &mut CtapPcscDevice,
        request: &[u8],
        options: CallOptions<'_>,
    ) -> Result<Vec<u8>, Failure> {
        let mut answer = device
            .call_with(Command::CBOR, request, options)
            .map_err(|e| crate::commands::explain(cli, e, "the CTAP2 request", None))?;
        match answer.first().copied() {
            Some(0) => {
                answer.remove(0);
                Ok(answer)
            }
            Some(status) => Err(ctap::device::Error::from(ctap::types::CtapError::new(
                ctap::types::StatusCode::new(status),
            ))
            .into()),
            None => Err(Failure::new("the card answered nothing")),
        }
    }

    fn info(cli: &Cli) -> Outcome {
        let (description, mut device) = open(cli)?;
        let capabilities = device.capabilities();
        let applet = applet_name(device.applet_version());
        let atr = device
            .connection()
            .and_then(ctap::device::ApduConnection::atr)
            .map(dissect::hex)
            .unwrap_or_default();
        let members = if capabilities.contains(ctap::types::Capabilities::CBOR) {
            let answer = cbor(
                cli,
                &mut device,
                &[Ctap2Command::GET_INFO.to_u8()],
                options(cli)?,
            )?;
            Some(get_info::decode(&answer).map_err(Failure::new)?)
        } else {
            None
        };
        if cli.json {
            print_json(&json!({
                "device": description,
                "atr": atr,
                "applet": applet,
                "capabilities": { "bits": capabilities.bits(), "text": capabilities.to_string() },
                "get_info": members,
            }));
            return Ok(());
        }
        println!("device            {description}");
        println!("atr               {atr}");
        println!("applet            {applet}");
        println!("capabilities      {capabilities}");
        match members {
            Some(members) => get_info::print_members(&members),
            None => println!("authenticatorGetInfo  (a U2F-only card)"),
        }
        Ok(())
    }

    fn select(cli: &Cli) -> Outcome {
        let (_, mut device) = open(cli)?;
        let (interrupted, token) = crate::commands::on_interrupt()?;
        let json = cli.json;
        let mut seen = Vec::new();
        let mut on_keepalive = |status: KeepaliveStatus| {
            if !json {
                eprintln!("keep-alive {status}");
            }
            seen.push(status.to_string());
        };
        let options = options(cli)?
            .with_cancel(token)
            .with_on_keepalive(&mut on_keepalive);
        let result = cbor(
            cli,
            &mut device,
            &[Ctap2Command::SELECTION.to_u8()],
            options,
        );
        match result {
            Ok(_) => {
                if json {
                    print_json(&json!({ "selected": true, "keepalive": seen }));
                } else {
                    println!("selected");
                }
                Ok(())
            }
            Err(_) if interrupted.load(Ordering::SeqCst) => {
                if json {
                    print_json(&json!({ "selected": false, "cancelled": true, "keepalive": seen }));
                } else {
                    eprintln!("cancelled");
                }
                Err(Failure::with_status("", 130))
            }
            Err(error) => Err(error),
        }
    }
}
