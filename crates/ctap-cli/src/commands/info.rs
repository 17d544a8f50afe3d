//! `ctap info`: the INIT result and the decoded authenticatorGetInfo.

use ctap::types::Ctap2Command;
use serde_json::{Value as Json, json};

use crate::device::{self, Opened};
use crate::error::{Failure, Outcome, explain};
use crate::get_info;
use crate::globals::Global;
use crate::output::print_json;

pub(crate) fn run(global: &Global) -> Outcome {
    let Opened {
        description,
        mut device,
        ..
    } = device::open(global)?;
    let init = *device.init_response();
    let get_info = if init.capabilities.contains(ctap::types::Capabilities::CBOR) {
        let mut last = None;
        let mut note = |status| last = Some(status);
        let answer = device
            .cbor_with(
                &[Ctap2Command::GET_INFO.to_u8()],
                device::options(global)?.with_on_keepalive(&mut note),
            )
            .map_err(|e| explain(global, e, "authenticatorGetInfo", last))?;
        Some(get_info::decode(&answer).map_err(Failure::new)?)
    } else {
        None
    };
    if global.json {
        print_json(&json!({
            "device": description,
            "channel": init.cid.to_string(),
            "protocol_version": init.protocol_version,
            "device_version": init.device_version.to_string(),
            "capabilities": capability_names(init.capabilities),
            "get_info": get_info,
        }));
        return Ok(());
    }
    println!("device            {description}");
    println!("channel           {}", init.cid);
    println!("protocol version  {}", init.protocol_version);
    println!("device version    {}", init.device_version);
    println!("capabilities      {}", init.capabilities);
    match get_info {
        Some(members) => get_info::print_members(&members),
        None => println!("authenticatorGetInfo  (not a CTAP2 device: no CBOR capability)"),
    }
    Ok(())
}

fn capability_names(capabilities: ctap::types::Capabilities) -> Json {
    use ctap::types::Capabilities as C;
    let names: Vec<&str> = [
        (C::WINK, "WINK"),
        (C::LOCK, "LOCK"),
        (C::CBOR, "CBOR"),
        (C::NMSG, "NMSG"),
    ]
    .into_iter()
    .filter(|(flag, _)| capabilities.contains(*flag))
    .map(|(_, name)| name)
    .collect();
    json!({ "bits": capabilities.bits(), "names": names })
}
