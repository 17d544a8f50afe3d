//! `ctap ping`: round-trip latency and throughput of CTAPHID_PING.

use std::io::IsTerminal as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;
use ctap::device::CtapDevice as _;
use ctap::types::Command;
use serde_json::json;

use crate::device::{self, Opened, on_interrupt};
use crate::error::{Failure, Outcome, explain};
use crate::globals::Global;
use crate::output::print_json;

/// The most pings one `ctap ping` sends: bounds the run time (about a minute at the
/// fastest) and the memory of the figures whatever the user types.
pub(crate) const MAX_PING_COUNT: u32 = 1_000_000;

#[derive(Debug, Args)]
pub(crate) struct PingArgs {
    /// Payload bytes per ping (0..=7609 for 64-byte reports).
    #[arg(long, default_value_t = 57)]
    pub(crate) size: usize,
    /// Number of pings, 1..=1000000. Ctrl-C stops early and prints the figures so far.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PING_COUNT)))]
    pub(crate) count: u32,
}

pub(crate) fn run(global: &Global, args: &PingArgs) -> Outcome {
    let Opened { mut device, .. } = device::open(global)?;
    let max = device.connection().output_report_size().max_message_len();
    if args.size > max {
        return Err(Failure::with_status(
            format!(
                "--size {} is over the maximum message of {max} bytes",
                args.size
            ),
            2,
        ));
    }
    let (interrupted, token) = on_interrupt()?;
    let payload: Vec<u8> = (0..=250u8).cycle().take(args.size).collect();
    let progress = (std::io::stdout().is_terminal() && !global.json && args.count >= 100)
        .then(|| indicatif::ProgressBar::new(u64::from(args.count)));
    // `--count` is at most MAX_PING_COUNT (clap checks), and the vector grows with the
    // answers, never by what was asked up front.
    let mut rtts = Vec::with_capacity(args.count.min(4096) as usize);
    let started = Instant::now();
    for _ in 0..args.count {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        let sent = Instant::now();
        let result = device.call_with(
            Command::PING,
            &payload,
            device::options(global)?.with_cancel(token.clone()),
        );
        let echo = match result {
            Ok(echo) => echo,
            Err(_) if interrupted.load(Ordering::SeqCst) => break,
            Err(error) => {
                if let Some(bar) = &progress {
                    bar.finish_and_clear();
                }
                return Err(explain(global, error, "PING", None));
            }
        };
        rtts.push(sent.elapsed());
        if echo != payload {
            return Err(Failure::new(format!(
                "PING echo differs from what was sent ({} bytes back, {} sent)",
                echo.len(),
                payload.len()
            )));
        }
        if let Some(bar) = &progress {
            bar.inc(1);
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let total = started.elapsed();
    let stopped = interrupted.load(Ordering::SeqCst);
    let figures = ping_figures(&mut rtts, args.size, total);
    if global.json {
        let mut document = json!({ "size": args.size, "count": rtts.len() });
        if let Some(figures) = &figures {
            document["min_ms"] = json!(figures.min_ms);
            document["median_ms"] = json!(figures.median_ms);
            document["max_ms"] = json!(figures.max_ms);
            document["bytes_per_second"] = json!(figures.bytes_per_second.round());
        }
        if stopped {
            document["interrupted"] = json!(true);
            document["requested"] = json!(args.count);
        }
        print_json(&document);
    } else {
        let done = rtts.len();
        let pings = if done == 1 { "ping" } else { "pings" };
        let mut line = match &figures {
            Some(f) => format!(
                "{done} {pings} of {} bytes: min {:.3} ms, median {:.3} ms, max {:.3} ms; {:.1} KiB/s",
                args.size,
                f.min_ms,
                f.median_ms,
                f.max_ms,
                f.bytes_per_second / 1024.0
            ),
            None => format!("no answer before the interrupt (0 of {} pings)", args.count),
        };
        if stopped && figures.is_some() {
            line = format!("interrupted after {done} of {}: {line}", args.count);
        }
        println!("{line}");
    }
    if stopped {
        return Err(Failure::with_status("", 130));
    }
    Ok(())
}

/// The figures of a ping run (`None` if no ping was answered).
struct PingFigures {
    min_ms: f64,
    median_ms: f64,
    max_ms: f64,
    bytes_per_second: f64,
}

fn ping_figures(rtts: &mut [Duration], size: usize, total: Duration) -> Option<PingFigures> {
    rtts.sort();
    // Milliseconds, to the microsecond.
    let ms = |d: &Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    let (min, max) = (rtts.first()?, rtts.last()?);
    let median = rtts.get(rtts.len() / 2)?;
    // Payload bytes moved each way per second.
    let moved = size as f64 * rtts.len() as f64;
    Some(PingFigures {
        min_ms: ms(min),
        median_ms: ms(median),
        max_ms: ms(max),
        bytes_per_second: moved / total.as_secs_f64().max(f64::EPSILON),
    })
}
