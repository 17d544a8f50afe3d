//! Smart cards: `--device pcsc[:READER]` and the PC/SC part of `ctap list` (feature
//! `pcsc`, which links libpcsclite). (`ctap serve --vpcd` needs no feature: it is in
//! `commands/serve.rs`.)

use serde_json::Value as Json;
#[cfg(feature = "pcsc")]
use serde_json::json;

use crate::error::{Failure, Outcome};
use crate::globals::Global;

/// What a command asks of a PC/SC card: a card carries CTAP2 and U2F messages only, so
/// `info`, `select` and `raw` are all that run on one.
#[derive(Debug)]
#[cfg_attr(not(feature = "pcsc"), allow(dead_code))] // read by the PC/SC build only
pub(crate) enum Request<'a> {
    /// `ctap info`.
    Info,
    /// `ctap select`.
    Select,
    /// `ctap raw --cmd CMD --data HEX`.
    Raw {
        /// `--cmd`.
        cmd: &'a str,
        /// `--data`.
        data: &'a str,
    },
    /// Any other command, by name (refused).
    Other(&'static str),
}

/// `true` if `--device` names a PC/SC reader: `pcsc` (the first reader with a FIDO
/// card) or `pcsc:READER` (a reader's name, or a part of it).
pub(crate) fn is_pcsc(device: Option<&str>) -> bool {
    device.is_some_and(|d| d == "pcsc" || d.starts_with("pcsc:"))
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
pub(crate) fn run(global: &Global, request: &Request<'_>) -> Outcome {
    #[cfg(feature = "pcsc")]
    {
        with_pcsc::run(global, request)
    }
    #[cfg(not(feature = "pcsc"))]
    {
        let _ = (global, request);
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
    crate::output::hex(bytes)
}

#[cfg(feature = "pcsc")]
mod with_pcsc {
    use std::sync::atomic::Ordering;

    use ctap::device::pcsc::{self, CtapPcscDevice};
    use ctap::device::{ApduConfig, CallOptions, CtapDevice};
    use ctap::types::{Command, Ctap2Command, KeepaliveStatus};
    use serde_json::json;

    use super::{Failure, Global, Outcome, Request, applet_name};
    use crate::output::print_json;
    use crate::{dissect, get_info};

    pub(super) fn run(global: &Global, request: &Request<'_>) -> Outcome {
        match request {
            Request::Info => info(global),
            Request::Select => select(global),
            Request::Raw { cmd, data } => {
                let command =
                    dissect::parse_command(cmd).map_err(|e| Failure::with_status(e, 2))?;
                let data = dissect::parse_hex(&data.replace([' ', ':'], ""))
                    .map_err(|e| Failure::with_status(format!("--data: {e}"), 2))?;
                let (_, mut device) = open(global)?;
                let answer = device
                    .call_with(command, &data, options(global)?)
                    .map_err(|e| crate::error::explain(global, e, &command.to_string(), None))?;
                if global.json {
                    print_json(
                        &json!({ "command": command.to_string(), "response": dissect::hex(&answer) }),
                    );
                } else {
                    println!("{}", dissect::hex(&answer));
                }
                Ok(())
            }
            Request::Other(name) => Err(Failure::new(format!(
                "{name} is not supported over PC/SC (a card carries CTAP2 and U2F messages only; try info, select or raw --cmd cbor|msg)"
            ))),
        }
    }

    /// Opens the card; what is left of `--timeout` bounds the SELECT's getInfo probe
    /// (one deadline for the whole command, as over HID).
    fn open(global: &Global) -> Result<(String, CtapPcscDevice), Failure> {
        let config =
            ApduConfig::default().with_call_timeout(Some(crate::device::time_left(global)?));
        let device = match global
            .device
            .as_deref()
            .and_then(|d| d.strip_prefix("pcsc:"))
        {
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
    fn options<'a>(global: &Global) -> Result<CallOptions<'a>, Failure> {
        Ok(CallOptions::default().with_timeout(crate::device::time_left(global)?))
    }

    /// A CTAP2 call whose status byte is checked.
    fn cbor(
        global: &Global,
        device: &mut CtapPcscDevice,
        request: &[u8],
        options: CallOptions<'_>,
    ) -> Result<Vec<u8>, Failure> {
        let mut answer = device
            .call_with(Command::CBOR, request, options)
            .map_err(|e| crate::error::explain(global, e, "the CTAP2 request", None))?;
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

    fn info(global: &Global) -> Outcome {
        let (description, mut device) = open(global)?;
        let capabilities = device.capabilities();
        let applet = applet_name(device.applet_version());
        let atr = device
            .connection()
            .and_then(ctap::device::ApduConnection::atr)
            .map(dissect::hex)
            .unwrap_or_default();
        let members = if capabilities.contains(ctap::types::Capabilities::CBOR) {
            let answer = cbor(
                global,
                &mut device,
                &[Ctap2Command::GET_INFO.to_u8()],
                options(global)?,
            )?;
            Some(get_info::decode(&answer).map_err(Failure::new)?)
        } else {
            None
        };
        if global.json {
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

    fn select(global: &Global) -> Outcome {
        let (_, mut device) = open(global)?;
        let (interrupted, token) = crate::device::on_interrupt()?;
        let json = global.json;
        let mut seen = Vec::new();
        let mut on_keepalive = |status: KeepaliveStatus| {
            if !json {
                eprintln!("keep-alive {status}");
            }
            seen.push(status.to_string());
        };
        let options = options(global)?
            .with_cancel(token)
            .with_on_keepalive(&mut on_keepalive);
        let result = cbor(
            global,
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
