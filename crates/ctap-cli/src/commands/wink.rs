//! `ctap wink`: CTAPHID_WINK.

use ctap::device::CtapDevice as _;
use ctap::types::Command;
use serde_json::json;

use crate::device::{self, Opened};
use crate::error::{Outcome, explain};
use crate::globals::Global;
use crate::output::print_json;

pub(crate) fn run(global: &Global) -> Outcome {
    let Opened { mut device, .. } = device::open(global)?;
    device
        .call_with(Command::WINK, &[], device::options(global)?)
        .map_err(|e| explain(global, e, "WINK", None))?;
    if global.json {
        print_json(&json!({ "winked": true }));
    } else {
        println!("winked");
    }
    Ok(())
}
