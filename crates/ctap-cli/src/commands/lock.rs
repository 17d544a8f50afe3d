//! `ctap lock`: CTAPHID_LOCK.

use clap::Args;
use ctap::device::CtapDevice as _;
use ctap::types::Command;
use serde_json::json;

use crate::device::{self, Opened};
use crate::error::{Outcome, explain};
use crate::globals::Global;
use crate::output::print_json;

#[derive(Debug, Args)]
pub(crate) struct LockArgs {
    /// Seconds to hold the lock, 0..=10; 0 releases it.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=10))]
    pub(crate) seconds: u8,
}

pub(crate) fn run(global: &Global, args: &LockArgs) -> Outcome {
    let seconds = args.seconds;
    let Opened { mut device, .. } = device::open(global)?;
    // `--seconds` is 0..=10 (clap checks), what `lock` takes; the call gets what is left
    // of `--timeout`.
    device
        .call_with(Command::LOCK, &[seconds], device::options(global)?)
        .map_err(|e| explain(global, e, "LOCK", None))?;
    if global.json {
        print_json(
            &json!({ "locked_seconds": seconds, "channel": device.channel_id().to_string() }),
        );
    } else if seconds == 0 {
        println!("unlocked");
    } else {
        println!("locked to channel {} for {seconds} s", device.channel_id());
    }
    Ok(())
}
