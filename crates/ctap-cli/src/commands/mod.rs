//! The commands, one module each (a group of subcommands is one module, or a folder of
//! them): each is a function from the global options and its own parsed arguments to
//! an [`Outcome`]. A new command is one file here, one variant of [`Command`] and one
//! line of [`run`]; what commands share (opening the device, the PIN, errors, output)
//! is in `crate::{device, auth, error, output}`, which never import a command.

mod bio;
mod blob;
mod completions;
mod config;
mod cred;
mod frame;
mod hmac_secret;
mod info;
mod list;
mod lock;
mod man;
mod pin;
mod ping;
mod raw;
mod reset;
mod select;
mod serve;
mod serve_features;
mod u2f;
mod webauthn;
mod wink;

use clap::Subcommand;

use crate::device::{self, VIRTUAL_STATE_ENV, pcsc};
use crate::error::Outcome;
use crate::globals::Global;

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List FIDO devices (path, ids, product, serial, report sizes), and those that cannot
    /// be opened with the reason.
    List,
    /// Show the INIT result and the decoded authenticatorGetInfo.
    Info,
    /// Round-trip latency and throughput of CTAPHID_PING.
    Ping(ping::PingArgs),
    /// Ask the device to identify itself (blink).
    Wink,
    /// Lock the device to this program's channel for a few seconds (0 unlocks).
    Lock(lock::LockArgs),
    /// Wait for a touch (authenticatorSelection); Ctrl-C cancels.
    Select,
    /// Send any CTAPHID command and print the answer's payload as hex.
    Raw(raw::RawArgs),
    /// Encode or decode CTAPHID reports (a packet dissector for captures).
    #[command(subcommand)]
    Frame(frame::FrameCommand),
    /// Run the software authenticator over UDP until interrupted.
    Serve(serve::ServeArgs),
    /// PIN status, set, change.
    #[command(subcommand)]
    Pin(pin::PinCommand),
    /// Delete every credential and the PIN (needs --yes and a touch).
    Reset(reset::ResetArgs),
    /// Register, sign in, list and delete credentials.
    #[command(subcommand)]
    Cred(cred::CredCommand),
    /// authenticatorConfig: alwaysUv, minimum PIN length, forced PIN change, enterprise
    /// attestation.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Fingerprints (bio enrollment): list, enroll, rename, delete, sensor info.
    #[command(subcommand)]
    Bio(bio::BioCommand),
    /// CTAP1/U2F register and authenticate.
    #[command(subcommand)]
    U2f(u2f::U2fCommand),
    /// WebAuthn as a browser does it: answer a server's options JSON (stdin) with the
    /// response JSON to post back.
    #[command(subcommand)]
    Webauthn(webauthn::WebauthnCommand),
    /// A 32-byte secret from a credential and a salt (hmac-secret, or --prf).
    HmacSecret(hmac_secret::HmacSecretArgs),
    /// A credential's large blob: get, put, delete.
    #[command(subcommand)]
    Blob(blob::BlobCommand),
    /// Print a shell completion script (e.g. `ctap completions bash >
    /// ~/.local/share/bash-completion/completions/ctap`).
    Completions(completions::CompletionsArgs),
    /// Print a man page (roff): ctap(1) or a command's, e.g. ctap-pin(1); --dir writes
    /// them all (`ctap man --dir ~/.local/share/man/man1`).
    Man(man::ManArgs),
}

impl Command {
    /// The command's name, as typed.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Info => "info",
            Self::Ping(_) => "ping",
            Self::Wink => "wink",
            Self::Lock(_) => "lock",
            Self::Select => "select",
            Self::Raw(_) => "raw",
            Self::Frame(_) => "frame",
            Self::Serve(_) => "serve",
            Self::Pin(_) => "pin",
            Self::Reset(_) => "reset",
            Self::Cred(_) => "cred",
            Self::Config(_) => "config",
            Self::Bio(_) => "bio",
            Self::U2f(_) => "u2f",
            Self::Webauthn(_) => "webauthn",
            Self::HmacSecret(_) => "hmac-secret",
            Self::Blob(_) => "blob",
            Self::Completions(_) => "completions",
            Self::Man(_) => "man",
        }
    }

    /// Whether the command changes what an authenticator keeps (PIN, credentials,
    /// counters, settings): on `--device virtual` without a state file that change is
    /// gone when the command ends, and the user is told so.
    fn changes_state(&self) -> bool {
        match self {
            Self::Pin(command) => !matches!(
                command,
                pin::PinCommand::Status | pin::PinCommand::Verify(_)
            ),
            Self::Cred(command) => !matches!(command, cred::CredCommand::List(_)),
            Self::Reset(_) | Self::Config(_) => true,
            Self::Bio(command) => command.changes_state(),
            Self::U2f(command) => matches!(command, u2f::U2fCommand::Register(_)),
            _ => false,
        }
    }

    /// Why the device options (`--device`, `--bind`, `--timeout`) mean nothing to this
    /// command, if they do not.
    pub(crate) fn talks_to_no_device(&self) -> Option<&'static str> {
        match self {
            Self::List => Some("it lists every key"),
            Self::Frame(_) | Self::Completions(_) | Self::Man(_) => Some("it talks to no device"),
            Self::Serve(_) => Some("it is the device; see --udp"),
            Self::Cred(cred::CredCommand::Verify(_)) => Some("it checks its input offline"),
            _ => None,
        }
    }
}

/// Runs the command. `definition` gives the whole command line's clap definition (for
/// `completions` and `man`; the parser is declared above this module, in `crate::cli`).
pub(crate) fn run(
    global: &Global,
    command: &Command,
    definition: impl FnOnce() -> clap::Command,
) -> Outcome {
    if pcsc::is_pcsc(global.device.as_deref()) && !matches!(command, Command::List) {
        let request = match command {
            Command::Info => pcsc::Request::Info,
            Command::Select => pcsc::Request::Select,
            Command::Raw(args) => pcsc::Request::Raw {
                cmd: &args.cmd,
                data: &args.data,
            },
            other => pcsc::Request::Other(other.name()),
        };
        return pcsc::run(global, &request);
    }
    if global.device.as_deref() == Some("virtual")
        && device::virtual_state().is_none()
        && command.changes_state()
    {
        eprintln!(
            "ctap: note: --device virtual is a new authenticator in every run and forgets \
             this one's changes when it ends; set {VIRTUAL_STATE_ENV}=FILE to keep its PIN, \
             credentials and counters across runs"
        );
    }
    match command {
        Command::List => list::run(global),
        Command::Info => info::run(global),
        Command::Ping(args) => ping::run(global, args),
        Command::Wink => wink::run(global),
        Command::Lock(args) => lock::run(global, args),
        Command::Select => select::run(global),
        Command::Raw(args) => raw::run(global, args),
        Command::Frame(command) => frame::run(global, command),
        Command::Serve(args) => serve::run(global, args),
        Command::Pin(command) => pin::run(global, command),
        Command::Reset(args) => reset::run(global, args),
        Command::Cred(command) => cred::run(global, command),
        Command::Config(command) => config::run(global, command),
        Command::Bio(command) => bio::run(global, command),
        Command::U2f(command) => u2f::run(global, command),
        Command::Webauthn(command) => webauthn::run(global, command),
        Command::HmacSecret(args) => hmac_secret::run(global, args),
        Command::Blob(command) => blob::run(global, command),
        Command::Completions(args) => completions::run(args, definition()),
        Command::Man(args) => man::run(args, definition()),
    }
}
