//! What each command does.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ctap::device::{CallOptions, CancelToken, CtapDevice, DeviceConfig, hid};
use ctap::frame::ReportSize;
use ctap::types::{Command, Ctap2Command, KeepaliveStatus};
use ctap::virtual_device as vdev;
use serde_json::{Value as Json, json};

use crate::cli::{
    Cli, Command as Cmd, DecodeArgs, EncodeArgs, FrameCommand, PingArgs, RawArgs, ServeArgs,
};
use crate::dissect::{self, Event};
use crate::target::{self, Opened};
use crate::{Failure, Outcome, get_info};

pub(crate) fn run(cli: &Cli) -> Outcome {
    if crate::smartcard::is_pcsc(cli.device.as_deref()) && !matches!(cli.command, Cmd::List) {
        return crate::smartcard::run(cli);
    }
    match &cli.command {
        Cmd::List => list(cli),
        Cmd::Info => info(cli),
        Cmd::Ping(args) => ping(cli, args),
        Cmd::Wink => wink(cli),
        Cmd::Lock(args) => lock(cli, args.seconds),
        Cmd::Select => select(cli),
        Cmd::Raw(args) => raw(cli, args),
        Cmd::Frame(FrameCommand::Encode(args)) => encode(cli, args),
        Cmd::Frame(FrameCommand::Decode(args)) => decode(cli, args),
        Cmd::Serve(args) => serve(cli, args),
        Cmd::Pin(command) => crate::ctap2_commands::pin_command(cli, command),
        Cmd::Reset(args) => crate::ctap2_commands::reset_command(cli, args),
        Cmd::Cred(command) => crate::ctap2_commands::cred_command(cli, command),
        Cmd::Config(command) => crate::ctap2_commands::config_command(cli, command),
        Cmd::Completions(args) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            // Into memory first: clap_complete panics on a write error (a closed stdout).
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut command, "ctap", &mut script);
            std::io::stdout().write_all(&script)?;
            Ok(())
        }
        Cmd::Man => {
            let page = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
            page.render(&mut std::io::stdout())?;
            Ok(())
        }
    }
}

/// A failed call, for people: a time-out says what the device was doing when the time
/// ran out (from its last keep-alive status) and names `--timeout`; other errors as
/// they are. `doing` names the request (`PING`, `authenticatorSelection`).
pub(crate) fn explain(
    cli: &Cli,
    error: ctap::device::Error,
    doing: &str,
    last: Option<KeepaliveStatus>,
) -> Failure {
    use ctap::device::{Error, TimeoutKind};
    let Error::Timeout(kind) = &error else {
        return error.into();
    };
    let message = match kind {
        TimeoutKind::Deadline(limit) => {
            let state = match last {
                Some(KeepaliveStatus::UPNEEDED) => {
                    "the key was waiting for a touch (keep-alive UPNEEDED) and nobody touched it"
                        .to_owned()
                }
                Some(KeepaliveStatus::PROCESSING) => {
                    "the key was still working on it (keep-alive PROCESSING)".to_owned()
                }
                Some(other) => format!("the key kept sending keep-alives (status {other})"),
                None => "the key had not answered".to_owned(),
            };
            // The device saw what was left of the command's deadline; people set
            // (and should be told) the whole of it.
            let total = call_timeout(cli).unwrap_or(*limit);
            format!(
                "{doing}: gave up after {} s (--timeout): {state}; raise --timeout to wait longer",
                total.as_secs_f64()
            )
        }
        TimeoutKind::Silence(limit) => {
            let after = match last {
                Some(status) => format!(" after keep-alive {status}"),
                None => String::new(),
            };
            format!(
                "{doing}: the device sent nothing for {} s{after} (not even a keep-alive): \
                 it may be unplugged or hung. (--timeout bounds a call that keeps \
                 sending keep-alives; a silent device is given up on sooner.)",
                limit.as_secs_f64()
            )
        }
        _ => format!("{doing}: {error}; --timeout sets how long a command may take"),
    };
    Failure::new(message)
}

/// Ctrl-C for a command that can stop early: sets the flag and cancels the call in
/// progress (the device gets CTAPHID_CANCEL). A process has one handler: the first call
/// installs it, later ones (e.g. `--device touch`, then the command's own call) share
/// its flag and token.
pub(crate) fn on_interrupt() -> Result<(Arc<AtomicBool>, CancelToken), Failure> {
    static INSTALLED: OnceLock<(Arc<AtomicBool>, CancelToken)> = OnceLock::new();
    if let Some((interrupted, token)) = INSTALLED.get() {
        return Ok((Arc::clone(interrupted), token.clone()));
    }
    let token = CancelToken::new();
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let (token, interrupted) = (token.clone(), Arc::clone(&interrupted));
        ctrlc::set_handler(move || {
            interrupted.store(true, Ordering::SeqCst);
            token.cancel();
        })
        .map_err(|e| Failure::new(format!("cannot handle Ctrl-C: {e}")))?;
    }
    let _ = INSTALLED.set((Arc::clone(&interrupted), token.clone()));
    Ok((interrupted, token))
}

/// `--timeout` as a `Duration`; a value too large for one (up to infinity) means no
/// deadline (`Duration::MAX`, which the device treats as such).
pub(crate) fn call_timeout(cli: &Cli) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(cli.timeout)
        .ok()
        .or((cli.timeout > 0.0).then_some(Duration::MAX))
        .filter(|t| !t.is_zero())
        .ok_or_else(|| {
            Failure::with_status(
                format!(
                    "--timeout must be a positive number of seconds, got {}",
                    cli.timeout
                ),
                2,
            )
        })
}

/// What is left of `--timeout` now: the command has one deadline, counted from when
/// its command line was read, that opening the device and every call share (`inf`:
/// `Duration::MAX`, no deadline). Zero once it has passed (a call then ends at once
/// with the deadline error).
pub(crate) fn time_left(cli: &Cli) -> Result<Duration, Failure> {
    let total = call_timeout(cli)?;
    Ok(match cli.started.checked_add(total) {
        Some(end) => end.saturating_duration_since(Instant::now()),
        None => total,
    })
}

/// The instant `--timeout` ends (`None`: too far ahead to represent, no deadline).
pub(crate) fn deadline(cli: &Cli) -> Result<Option<Instant>, Failure> {
    Ok(cli.started.checked_add(call_timeout(cli)?))
}

/// Opens the device; what is left of `--timeout` bounds the INIT (with its
/// CHANNEL_BUSY retries).
fn open(cli: &Cli) -> Result<Opened, Failure> {
    target::open(
        cli,
        DeviceConfig::default().with_call_timeout(Some(time_left(cli)?)),
        target::VIRTUAL_TOUCH_DELAY,
    )
}

/// The options of one call: its deadline is what is left of `--timeout`.
fn options<'a>(cli: &Cli) -> Result<CallOptions<'a>, Failure> {
    Ok(CallOptions::default().with_timeout(time_left(cli)?))
}

fn print_json(value: &Json) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

fn list(cli: &Cli) -> Outcome {
    let entries = crate::listing::list_devices()?;
    let smartcards = crate::smartcard::list_entries();
    if cli.json {
        let devices: Vec<Json> = entries
            .iter()
            .map(|entry| match entry {
                Ok(info) => device_json(info, None),
                Err(unusable) => device_json(&unusable.info, Some(&unusable.error)),
            })
            .chain(smartcards.into_iter().map(|(_, entry)| entry))
            .collect();
        print_json(&json!({ "devices": devices }));
        return Ok(());
    }
    for (line, _) in &smartcards {
        println!("{line}");
    }
    if entries.is_empty() && smartcards.is_empty() {
        println!(
            "no FIDO security keys found (try `ctap --device virtual info` for the built-in software authenticator)"
        );
        return Ok(());
    }
    for entry in &entries {
        match entry {
            Ok(info) => println!("{}", describe_device(info)),
            Err(unusable) => println!(
                "{}\n    cannot be used: {}",
                describe_device(&unusable.info),
                unusable.error.to_string().replace('\n', "\n    ")
            ),
        }
    }
    Ok(())
}

fn describe_device(info: &hid::HidDeviceInfo) -> String {
    let mut line = format!(
        "{}  {:04x}:{:04x}",
        info.path, info.vendor_id, info.product_id
    );
    for part in [&info.manufacturer, &info.product].into_iter().flatten() {
        line.push_str("  ");
        line.push_str(&escape(part));
    }
    if let Some(serial) = &info.serial_number {
        line.push_str(&format!("  serial {}", escape(serial)));
    }
    if let Some((input, output)) = info.report_sizes {
        line.push_str(&format!(
            "  reports {}/{} bytes in/out",
            input.get(),
            output.get()
        ));
    }
    line
}

/// A string from a device, safe for the terminal (control characters escaped).
fn escape(text: &str) -> String {
    ctap::device::hid::escape_device_string(text)
}

fn device_json(info: &hid::HidDeviceInfo, error: Option<&ctap::device::Error>) -> Json {
    json!({
        "path": info.path,
        "vendor_id": info.vendor_id,
        "product_id": info.product_id,
        "manufacturer": info.manufacturer.as_deref().map(escape),
        "product": info.product.as_deref().map(escape),
        "serial_number": info.serial_number.as_deref().map(escape),
        "input_report_size": info.report_sizes.map(|(input, _)| input.get()),
        "output_report_size": info.report_sizes.map(|(_, output)| output.get()),
        "usable": error.is_none(),
        "error": error.map(ToString::to_string),
    })
}

fn info(cli: &Cli) -> Outcome {
    let Opened {
        description,
        mut device,
        ..
    } = open(cli)?;
    let init = *device.init_response();
    let get_info = if init.capabilities.contains(ctap::types::Capabilities::CBOR) {
        let mut last = None;
        let mut note = |status| last = Some(status);
        let answer = device
            .cbor_with(
                &[Ctap2Command::GET_INFO.to_u8()],
                options(cli)?.with_on_keepalive(&mut note),
            )
            .map_err(|e| explain(cli, e, "authenticatorGetInfo", last))?;
        Some(get_info::decode(&answer).map_err(Failure::new)?)
    } else {
        None
    };
    if cli.json {
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

fn ping(cli: &Cli, args: &PingArgs) -> Outcome {
    let Opened { mut device, .. } = open(cli)?;
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
    let progress = (std::io::stdout().is_terminal() && !cli.json && args.count >= 100)
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
            options(cli)?.with_cancel(token.clone()),
        );
        let echo = match result {
            Ok(echo) => echo,
            Err(_) if interrupted.load(Ordering::SeqCst) => break,
            Err(error) => {
                if let Some(bar) = &progress {
                    bar.finish_and_clear();
                }
                return Err(explain(cli, error, "PING", None));
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
    if cli.json {
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

fn wink(cli: &Cli) -> Outcome {
    let Opened { mut device, .. } = open(cli)?;
    device
        .call_with(Command::WINK, &[], options(cli)?)
        .map_err(|e| explain(cli, e, "WINK", None))?;
    if cli.json {
        print_json(&json!({ "winked": true }));
    } else {
        println!("winked");
    }
    Ok(())
}

fn lock(cli: &Cli, seconds: u8) -> Outcome {
    let Opened { mut device, .. } = open(cli)?;
    // `--seconds` is 0..=10 (clap checks), what `lock` takes; the call gets what is left
    // of `--timeout`.
    device
        .call_with(Command::LOCK, &[seconds], options(cli)?)
        .map_err(|e| explain(cli, e, "LOCK", None))?;
    if cli.json {
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

fn select(cli: &Cli) -> Outcome {
    let Opened { mut device, .. } = open(cli)?;
    let (interrupted, token) = on_interrupt()?;
    let statuses = Mutex::new(Vec::<KeepaliveStatus>::new());
    let json = cli.json;
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
    let options = options(cli)?
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
            Err(explain(cli, error, "authenticatorSelection", last))
        }
    }
}

fn raw(cli: &Cli, args: &RawArgs) -> Outcome {
    let command = dissect::parse_command(&args.cmd).map_err(|e| Failure::with_status(e, 2))?;
    let data = dissect::parse_hex(&args.data.replace([' ', ':'], ""))
        .map_err(|e| Failure::with_status(format!("--data: {e}"), 2))?;
    let Opened { mut device, .. } = open(cli)?;
    let mut last = None;
    let mut note = |status| last = Some(status);
    let answer = device
        .call_with(command, &data, options(cli)?.with_on_keepalive(&mut note))
        .map_err(|e| explain(cli, e, &command.to_string(), last))?;
    if cli.json {
        print_json(&json!({ "command": command.to_string(), "response": dissect::hex(&answer) }));
    } else {
        println!("{}", dissect::hex(&answer));
    }
    Ok(())
}

fn report_size(bytes: usize) -> Result<ReportSize, Failure> {
    ReportSize::new(bytes).map_err(|e| Failure::with_status(format!("--report-size: {e}"), 2))
}

fn encode(cli: &Cli, args: &EncodeArgs) -> Outcome {
    let cid = dissect::parse_cid(&args.cid)
        .map_err(|e| Failure::with_status(format!("--cid: {e}"), 2))?;
    let command = dissect::parse_command(&args.cmd)
        .map_err(|e| Failure::with_status(format!("--cmd: {e}"), 2))?;
    let payload = match (&args.payload, &args.payload_file) {
        (Some(hex), _) => dissect::parse_hex(&hex.replace([' ', ':'], ""))
            .map_err(|e| Failure::with_status(format!("--payload: {e}"), 2))?,
        (None, Some(path)) => read_bounded(path, report_size(args.report_size)?)?,
        (None, None) => Vec::new(),
    };
    let reports = dissect::encode(cid, command, &payload, report_size(args.report_size)?)
        .map_err(|e| Failure::new(e.to_string()))?;
    if cli.json {
        print_json(&json!({ "reports": reports }));
    } else {
        let mut out = std::io::stdout().lock();
        for report in reports {
            writeln!(out, "{report}")?;
        }
    }
    Ok(())
}

/// A payload file, read no further than one byte past the longest message (so
/// `/dev/zero` or a huge file costs nothing and is refused with its size limit).
fn read_bounded(path: &std::path::Path, size: ReportSize) -> Result<Vec<u8>, Failure> {
    use std::io::Read as _;
    let max = size.max_message_len();
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
    let mut payload = Vec::new();
    file.take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut payload)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
    if payload.len() > max {
        return Err(Failure::new(format!(
            "{} is over the maximum message of {max} bytes (report size {})",
            path.display(),
            size.get()
        )));
    }
    Ok(payload)
}

fn decode(cli: &Cli, args: &DecodeArgs) -> Outcome {
    let size = report_size(args.report_size)?;
    // Streamed: one line in, its events out, so memory does not grow with the capture
    // (see dissect::MAX_CHANNELS).
    let input: Box<dyn std::io::BufRead> = if args.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.file)
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", args.file)))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut problems = 0usize;
    let mut first = true;
    if cli.json {
        write!(out, "{{\n  \"events\": [")?;
    }
    let mut write_failed = false;
    let decoded = dissect::decode_stream(input, size, |event| {
        if event.is_problem() {
            problems += 1;
        }
        let written = if cli.json {
            let separator = if first { "" } else { "," };
            first = false;
            write!(out, "{separator}\n    {}", event_json(&event))
        } else {
            writeln!(out, "{}", event_text(&event))
        };
        written.inspect_err(|_| write_failed = true)
    });
    decoded.map_err(|e| {
        if write_failed {
            Failure::stdout(e)
        } else {
            Failure::new(format!("cannot read {}: {e}", args.file))
        }
    })?;
    if cli.json {
        let close = if first { "" } else { "\n  " };
        writeln!(out, "{close}],\n  \"malformed\": {problems}\n}}")?;
    }
    out.flush()?;
    if problems > 0 {
        return Err(Failure::new(format!(
            "{problems} malformed or incomplete report(s)"
        )));
    }
    Ok(())
}

fn event_text(event: &Event) -> String {
    match event {
        Event::Message {
            first_line,
            last_line,
            cid,
            command,
            payload,
        } => {
            let lines = if first_line == last_line {
                format!("line {first_line}")
            } else {
                format!("lines {first_line}-{last_line}")
            };
            format!(
                "{lines}: cid {cid} {command} len {} payload {}",
                payload.len(),
                dissect::hex(payload)
            )
        }
        Event::Malformed { line, reason } => format!("line {line}: malformed: {reason}"),
        Event::Abandoned {
            first_line,
            cid,
            command,
            received,
            declared,
        } => format!(
            "line {first_line}: abandoned: cid {cid} {command} got {received} of {declared} bytes; \
             over {} channels had a message in progress, this one was idle longest",
            dissect::MAX_CHANNELS
        ),
        Event::Incomplete {
            first_line,
            cid,
            command,
            received,
            declared,
        } => format!(
            "line {first_line}: incomplete: cid {cid} {command} got {received} of {declared} bytes"
        ),
    }
}

fn event_json(event: &Event) -> Json {
    match event {
        Event::Message {
            first_line,
            last_line,
            cid,
            command,
            payload,
        } => json!({
            "kind": "message", "first_line": first_line, "last_line": last_line,
            "cid": cid.to_string(), "command": command.to_string(), "command_code": command.to_u8(),
            "length": payload.len(), "payload": dissect::hex(payload),
        }),
        Event::Malformed { line, reason } => {
            json!({ "kind": "malformed", "line": line, "reason": reason })
        }
        Event::Abandoned {
            first_line,
            cid,
            command,
            received,
            declared,
        } => json!({
            "kind": "abandoned", "first_line": first_line, "cid": cid.to_string(),
            "command": command.to_string(), "received": received, "declared": declared,
            "reason": format!("over {} channels had a message in progress", dissect::MAX_CHANNELS),
        }),
        Event::Incomplete {
            first_line,
            cid,
            command,
            received,
            declared,
        } => json!({
            "kind": "incomplete", "first_line": first_line, "cid": cid.to_string(),
            "command": command.to_string(), "received": received, "declared": declared,
        }),
    }
}

fn serve(cli: &Cli, args: &ServeArgs) -> Outcome {
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
        return crate::smartcard::serve_vpcd(cli, vpcd, device);
    }
    let addr = target::resolve(args.udp.as_deref().unwrap_or_default())?;
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
    if cli.json {
        println!("{}", json!({ "listening": local.to_string() }));
    } else {
        println!("listening on udp:{local}");
    }
    std::io::stdout().flush()?;
    server
        .serve()
        .map_err(|e| Failure::new(format!("server failed: {e}")))?;
    if !cli.json {
        eprintln!("stopped");
    }
    Ok(())
}
