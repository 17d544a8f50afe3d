//! What each command does.

use std::io::{IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    }
}

fn call_timeout(cli: &Cli) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(cli.timeout)
        .ok()
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

fn open(cli: &Cli) -> Result<Opened, Failure> {
    call_timeout(cli)?;
    target::open(
        cli.device.as_deref(),
        cli.bind.as_deref(),
        DeviceConfig::default(),
    )
}

fn options<'a>(cli: &Cli) -> Result<CallOptions<'a>, Failure> {
    Ok(CallOptions::default().with_timeout(call_timeout(cli)?))
}

fn print_json(value: &Json) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

fn list(cli: &Cli) -> Outcome {
    let entries = crate::listing::list_devices()?;
    if cli.json {
        let devices: Vec<Json> = entries
            .iter()
            .map(|entry| match entry {
                Ok(info) => device_json(info, None),
                Err(unusable) => device_json(&unusable.info, Some(&unusable.error)),
            })
            .collect();
        print_json(&json!({ "devices": devices }));
        return Ok(());
    }
    if entries.is_empty() {
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
                unusable.error
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
        line.push_str(part);
    }
    if let Some(serial) = &info.serial_number {
        line.push_str(&format!("  serial {serial}"));
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

fn device_json(info: &hid::HidDeviceInfo, error: Option<&ctap::device::Error>) -> Json {
    json!({
        "path": info.path,
        "vendor_id": info.vendor_id,
        "product_id": info.product_id,
        "manufacturer": info.manufacturer,
        "product": info.product,
        "serial_number": info.serial_number,
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
        let answer = device.cbor_with(&[Ctap2Command::GET_INFO.to_u8()], options(cli)?)?;
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
        Some(members) => {
            println!("authenticatorGetInfo");
            for (name, text) in get_info::human_lines(&members) {
                println!("  {name:<32}{text}");
            }
        }
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
    let payload: Vec<u8> = (0..=250u8).cycle().take(args.size).collect();
    let progress = (std::io::stdout().is_terminal() && !cli.json && args.count >= 100)
        .then(|| indicatif::ProgressBar::new(u64::from(args.count)));
    let mut rtts = Vec::with_capacity(args.count as usize);
    let started = Instant::now();
    for _ in 0..args.count {
        let sent = Instant::now();
        let echo = device.call_with(Command::PING, &payload, options(cli)?)?;
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
    rtts.sort();
    // Milliseconds, to the microsecond.
    let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    let (min, median, max) = (rtts[0], rtts[rtts.len() / 2], rtts[rtts.len() - 1]);
    // Payload bytes moved each way per second.
    let throughput =
        (args.size as f64 * f64::from(args.count)) / total.as_secs_f64().max(f64::EPSILON);
    if cli.json {
        print_json(&json!({
            "size": args.size,
            "count": args.count,
            "min_ms": ms(min),
            "median_ms": ms(median),
            "max_ms": ms(max),
            "bytes_per_second": throughput.round(),
        }));
    } else {
        println!(
            "{} pings of {} bytes: min {:.3} ms, median {:.3} ms, max {:.3} ms; {:.1} KiB/s",
            args.count,
            args.size,
            ms(min),
            ms(median),
            ms(max),
            throughput / 1024.0
        );
    }
    Ok(())
}

fn wink(cli: &Cli) -> Outcome {
    let Opened { mut device, .. } = open(cli)?;
    device.call_with(Command::WINK, &[], options(cli)?)?;
    if cli.json {
        print_json(&json!({ "winked": true }));
    } else {
        println!("winked");
    }
    Ok(())
}

fn lock(cli: &Cli, seconds: u8) -> Outcome {
    let Opened { mut device, .. } = open(cli)?;
    device.lock(seconds)?;
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
        Err(error) => Err(error.into()),
    }
}

fn raw(cli: &Cli, args: &RawArgs) -> Outcome {
    let command = dissect::parse_command(&args.cmd).map_err(|e| Failure::with_status(e, 2))?;
    let data = dissect::parse_hex(&args.data.replace([' ', ':'], ""))
        .map_err(|e| Failure::with_status(format!("--data: {e}"), 2))?;
    let Opened { mut device, .. } = open(cli)?;
    let answer = device.call_with(command, &data, options(cli)?)?;
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
        (None, Some(path)) => std::fs::read(path)
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?,
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

fn decode(cli: &Cli, args: &DecodeArgs) -> Outcome {
    let size = report_size(args.report_size)?;
    let mut input = String::new();
    if args.file == "-" {
        std::io::stdin().read_to_string(&mut input)?;
    } else {
        input = std::fs::read_to_string(&args.file)
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", args.file)))?;
    }
    let events = dissect::decode(&input, size);
    let problems = events.iter().filter(|e| e.is_problem()).count();
    if cli.json {
        let items: Vec<Json> = events.iter().map(event_json).collect();
        print_json(&json!({ "events": items, "malformed": problems }));
    } else {
        let mut out = std::io::stdout().lock();
        for event in &events {
            writeln!(out, "{}", event_text(event))?;
        }
    }
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
    let addr = target::resolve(&args.udp)?;
    let after = Duration::from_millis(args.touch_delay);
    let touch = if args.deny {
        vdev::TouchPolicy::Deny { after }
    } else {
        vdev::TouchPolicy::Approve { after }
    };
    let server = vdev::UdpServer::bind(addr, vdev::Config::default().with_touch(touch))
        .map_err(|e| Failure::new(format!("cannot listen on {addr}: {e}")))?;
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
