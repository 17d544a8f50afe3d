//! Serves a virtual authenticator over UDP until killed.
//!
//! ```text
//! cargo run -p ctap-virtual --example serve_udp -- [ADDRESS] [--touch-delay-ms N] [--deny]
//!     [--never-touch] [--report-size S]
//! ```
//!
//! ADDRESS defaults to `127.0.0.1:0` (a free port). The first line on stdout is the
//! bound address, so scripts can start it on port 0 and read where it listens.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use ctap_virtual::{Config, TouchPolicy, UdpServer};
use ctaphid_frame::ReportSize;

const USAGE: &str =
    "usage: serve_udp [ADDRESS] [--touch-delay-ms N] [--deny] [--never-touch] [--report-size S]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("serve_udp: {message}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut address = String::from("127.0.0.1:0");
    let mut delay = Duration::ZERO;
    let mut deny = false;
    let mut never = false;
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--touch-delay-ms" => {
                let ms = value(&arg)?;
                let ms: u64 = ms
                    .parse()
                    .map_err(|e| format!("--touch-delay-ms {ms}: {e}"))?;
                delay = Duration::from_millis(ms);
            }
            "--report-size" => {
                let size = value(&arg)?;
                let size: usize = size
                    .parse()
                    .map_err(|e| format!("--report-size {size}: {e}"))?;
                config.report_size = ReportSize::new(size).map_err(|e| e.to_string())?;
            }
            "--deny" => deny = true,
            "--never-touch" => never = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ => address = arg,
        }
    }
    config.touch = match (never, deny) {
        (true, _) => TouchPolicy::Never,
        (false, true) => TouchPolicy::Deny { after: delay },
        (false, false) => TouchPolicy::Approve { after: delay },
    };
    let server =
        UdpServer::bind(&address, config).map_err(|e| format!("cannot bind {address}: {e}"))?;
    let local = server.local_addr().map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{local}").map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    eprintln!(
        "serve_udp: virtual authenticator on udp {local}, {} byte reports, touch {:?}",
        config.report_size.get(),
        config.touch
    );
    server.serve().map_err(|e| e.to_string())?;
    Ok(())
}
