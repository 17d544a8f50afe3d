//! `ctap raw`: any CTAPHID command, the answer's payload as hex.

use clap::Args;
use ctap::device::CtapDevice as _;
use serde_json::json;

use crate::device::{self, Opened};
use crate::dissect;
use crate::error::{Failure, Outcome, explain};
use crate::globals::Global;
use crate::output::print_json;

#[derive(Debug, Args)]
pub(crate) struct RawArgs {
    /// The command: a name (ping, msg, lock, init, wink, cbor, cancel) or a number
    /// (0x40..=0x7f for vendor commands).
    #[arg(long)]
    pub(crate) cmd: String,
    /// The payload as hex (may be empty).
    #[arg(long, default_value = "")]
    pub(crate) data: String,
}

pub(crate) fn run(global: &Global, args: &RawArgs) -> Outcome {
    let command = dissect::parse_command(&args.cmd).map_err(|e| Failure::with_status(e, 2))?;
    let data = dissect::parse_hex(&args.data.replace([' ', ':'], ""))
        .map_err(|e| Failure::with_status(format!("--data: {e}"), 2))?;
    let Opened { mut device, .. } = device::open(global)?;
    let mut last = None;
    let mut note = |status| last = Some(status);
    let answer = device
        .call_with(
            command,
            &data,
            device::options(global)?.with_on_keepalive(&mut note),
        )
        .map_err(|e| explain(global, e, &command.to_string(), last))?;
    if global.json {
        print_json(&json!({ "command": command.to_string(), "response": dissect::hex(&answer) }));
    } else {
        println!("{}", dissect::hex(&answer));
    }
    Ok(())
}
