//! The command line, declared with clap's derive API.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, Subcommand};

/// Talk to FIDO security keys over CTAPHID (USB HID), or to the built-in software
/// authenticator.
#[derive(Debug, Parser)]
#[command(name = "ctap", version, propagate_version = true)]
pub(crate) struct Cli {
    /// The device: a hidapi path (see `ctap list`), `serial:SERIAL` (the one attached
    /// key with that serial number), `touch` (every attached key waits for a touch; the
    /// one touched first is used, within --timeout), `virtual` (the built-in software
    /// authenticator), or `udp:HOST:PORT` (a simulator, e.g. `ctap serve`). Default: the
    /// one attached key. With PC/SC support: `pcsc` (the first reader with a FIDO card)
    /// or `pcsc:READER`.
    #[arg(long, short = 'd', global = true, value_name = "DEVICE")]
    pub(crate) device: Option<String>,

    /// Local address for `--device udp:...` (default: an ephemeral port on loopback).
    #[arg(long, global = true, value_name = "ADDR")]
    pub(crate) bind: Option<String>,

    /// Give up after this many seconds, even if the device keeps sending keep-alives:
    /// one deadline for the whole command (opening the device and every call it makes
    /// share it). `inf` waits for ever.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30.0)]
    pub(crate) timeout: f64,

    /// When the command line was read: the `--timeout` deadline counts from here.
    #[arg(skip = std::time::Instant::now())]
    pub(crate) started: std::time::Instant,

    /// One JSON document per command on stdout (field names are stable; see the README).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Show the frame trace on stderr (-v: every report sent and received; -vv: also the
    /// software authenticator's side).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List FIDO devices (path, ids, product, serial, report sizes), and those that cannot
    /// be opened with the reason.
    List,
    /// Show the INIT result and the decoded authenticatorGetInfo.
    Info,
    /// Round-trip latency and throughput of CTAPHID_PING.
    Ping(PingArgs),
    /// Ask the device to identify itself (blink).
    Wink,
    /// Lock the device to this program's channel for a few seconds (0 unlocks).
    Lock(LockArgs),
    /// Wait for a touch (authenticatorSelection); Ctrl-C cancels.
    Select,
    /// Send any CTAPHID command and print the answer's payload as hex.
    Raw(RawArgs),
    /// Encode or decode CTAPHID reports (a packet dissector for captures).
    #[command(subcommand)]
    Frame(FrameCommand),
    /// Run the software authenticator over UDP until interrupted.
    Serve(ServeArgs),
    /// PIN status, set, change.
    #[command(subcommand)]
    Pin(crate::ctap2_commands::PinCommand),
    /// Delete every credential and the PIN (needs --yes and a touch).
    Reset(crate::ctap2_commands::ResetArgs),
    /// Register, sign in, list and delete credentials.
    #[command(subcommand)]
    Cred(crate::ctap2_commands::CredCommand),
    /// authenticatorConfig: alwaysUv, minimum PIN length.
    #[command(subcommand)]
    Config(crate::ctap2_commands::ConfigCommand),
    /// Print a shell completion script (e.g. `ctap completions bash >
    /// ~/.local/share/bash-completion/completions/ctap`).
    Completions(CompletionsArgs),
    /// Print the man page (roff), e.g. `ctap man > ~/.local/share/man/man1/ctap.1`.
    Man,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// The most pings one `ctap ping` sends: bounds the run time (about a minute at the
/// fastest) and the memory of the figures whatever the user types.
pub(crate) const MAX_PING_COUNT: u32 = 1_000_000;

/// Refuses global options a command has no use for (exit status 2), rather than
/// ignoring them silently: `--device`, `--bind` and `--timeout` mean nothing to a
/// command that talks to no device.
pub(crate) fn check_applicable(cli: &Cli, matches: &ArgMatches) -> Result<(), String> {
    let (name, why) = match &cli.command {
        Command::List => ("list", "it lists every key"),
        Command::Frame(_) => ("frame", "it talks to no device"),
        Command::Serve(_) => ("serve", "it is the device; see --udp"),
        Command::Completions(_) => ("completions", "it talks to no device"),
        Command::Man => ("man", "it talks to no device"),
        _ => return Ok(()),
    };
    for (id, flag) in [
        ("device", "--device"),
        ("bind", "--bind"),
        ("timeout", "--timeout"),
    ] {
        if given(matches, id) {
            return Err(format!("{flag} does not apply to `ctap {name}`: {why}"));
        }
    }
    Ok(())
}

/// `true` if the user typed the (global) option `id`, before or after the subcommand.
fn given(matches: &ArgMatches, id: &str) -> bool {
    let here = matches.try_get_raw(id).is_ok_and(|value| value.is_some())
        && matches.value_source(id) == Some(ValueSource::CommandLine);
    here || matches.subcommand().is_some_and(|(_, sub)| given(sub, id))
}

#[derive(Debug, Args)]
pub(crate) struct PingArgs {
    /// Payload bytes per ping (0..=7609 for 64-byte reports).
    #[arg(long, default_value_t = 57)]
    pub(crate) size: usize,
    /// Number of pings, 1..=1000000. Ctrl-C stops early and prints the figures so far.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PING_COUNT)))]
    pub(crate) count: u32,
}

#[derive(Debug, Args)]
pub(crate) struct LockArgs {
    /// Seconds to hold the lock, 0..=10; 0 releases it.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=10))]
    pub(crate) seconds: u8,
}

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

#[derive(Debug, Subcommand)]
pub(crate) enum FrameCommand {
    /// Split a payload into reports, one per line, lower-case hex (no report-ID byte).
    Encode(EncodeArgs),
    /// Read reports (hex, one per line) and print each complete message and each
    /// malformed report with its line number; exit status 1 if any was malformed.
    Decode(DecodeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct EncodeArgs {
    /// Channel id, hex (e.g. 01020304, ffffffff for broadcast).
    #[arg(long)]
    pub(crate) cid: String,
    /// The command (name or number).
    #[arg(long)]
    pub(crate) cmd: String,
    /// The payload as hex.
    #[arg(
        long,
        conflicts_with = "payload_file",
        required_unless_present = "payload_file"
    )]
    pub(crate) payload: Option<String>,
    /// Read the payload (raw bytes) from a file.
    #[arg(long, value_name = "FILE")]
    pub(crate) payload_file: Option<PathBuf>,
    /// Report size in bytes, 8..=64.
    #[arg(long, default_value_t = 64)]
    pub(crate) report_size: usize,
}

#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// The file to read, or `-` for standard input.
    #[arg(default_value = "-")]
    pub(crate) file: String,
    /// Report size in bytes, 8..=64.
    #[arg(long, default_value_t = 64)]
    pub(crate) report_size: usize,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The UDP address to listen on (port 0: any free port).
    #[arg(long, value_name = "ADDR", required_unless_present = "vpcd")]
    pub(crate) udp: Option<String>,
    /// Instead of UDP: be a card in pcscd's virtual reader (vsmartcard-vpcd) at
    /// HOST:PORT (its first reader: 127.0.0.1:35963).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "udp")]
    pub(crate) vpcd: Option<String>,
    /// Milliseconds before a request that needs a touch is approved.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub(crate) touch_delay: u64,
    /// Refuse every request that needs a touch (OPERATION_DENIED).
    #[arg(long)]
    pub(crate) deny: bool,
    /// Keep credentials, PIN and counters in FILE across restarts (loaded if it exists,
    /// replaced atomically after every change; a corrupt file is refused).
    #[arg(long, value_name = "FILE")]
    pub(crate) state: Option<std::path::PathBuf>,
    /// Start with this PIN set (if the state has none yet).
    #[arg(long, value_name = "PIN")]
    pub(crate) pin: Option<String>,
    /// How long after start (power-up) authenticatorReset is allowed, in seconds, or
    /// `none` for any time (CTAP 2.1 section 6.6 asks for 10 s after power-up).
    #[arg(long, value_name = "SECS|none", default_value = "10", value_parser = parse_reset_window)]
    pub(crate) reset_window: ResetWindow,
}

/// `serve --reset-window`: a number of seconds, or `none` (reset allowed any time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResetWindow(pub(crate) Option<std::time::Duration>);

fn parse_reset_window(text: &str) -> Result<ResetWindow, String> {
    if text == "none" {
        return Ok(ResetWindow(None));
    }
    text.parse::<u32>()
        .map(|secs| ResetWindow(Some(std::time::Duration::from_secs(u64::from(secs)))))
        .map_err(|_| format!("expected whole seconds (0..=4294967295) or `none`, got {text:?}"))
}
