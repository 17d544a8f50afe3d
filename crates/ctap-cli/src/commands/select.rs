//! `ctap select`: authenticatorSelection, waiting for a touch; Ctrl-C cancels.

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use ctap::types::{Ctap2Command, KeepaliveStatus};
use serde_json::json;

use crate::device::{self, Opened, on_interrupt};
use crate::error::{Failure, Outcome, explain};
use crate::globals::Global;
use crate::output::print_json;

pub(crate) fn run(global: &Global) -> Outcome {
    let Opened { mut device, .. } = device::open(global)?;
    let (interrupted, token) = on_interrupt()?;
    let statuses = Mutex::new(Vec::<KeepaliveStatus>::new());
    let json = global.json;
    let mut on_keepalive = |status: KeepaliveStatus| {
        if let Ok(mut seen) = statuses.lock() {
            seen.push(status);
        }
        if !json {
            let text = match status {
                KeepaliveStatus::UPNEEDED => "touch the key (UPNEEDED)",
                KeepaliveStatus::PROCESSING => "processing (PROCESSING)",
                _ => "unknown keep-alive status",
            };
            eprintln!("{text}");
        }
    };
    let options = device::options(global)?
        .with_cancel(token)
        .with_on_keepalive(&mut on_keepalive);
    let result = device.cbor_with(&[Ctap2Command::SELECTION.to_u8()], options);
    let seen: Vec<String> = statuses
        .lock()
        .map(|s| s.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    match result {
        Ok(_) => {
            if json {
                print_json(&json!({ "selected": true, "keepalive": seen }));
            } else {
                println!("selected");
            }
            Ok(())
        }
        Err(error) if interrupted.load(Ordering::SeqCst) && error.is_cancelled() => {
            if json {
                print_json(&json!({ "selected": false, "cancelled": true, "keepalive": seen }));
            } else {
                eprintln!("cancelled");
            }
            Err(Failure::with_status("", 130))
        }
        Err(error) => {
            let last = statuses.lock().ok().and_then(|seen| seen.last().copied());
            Err(explain(global, error, "authenticatorSelection", last))
        }
    }
}
