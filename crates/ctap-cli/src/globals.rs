//! The options every command takes (`--device`, `--timeout`, `--json`, `-v`, ...): what
//! each command function gets besides its own arguments.

use std::time::Duration;

use clap::Args;

/// The global options (listed under their own heading in every `--help`, after the
/// command's own options).
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct Global {
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

    /// Milliseconds the built-in authenticator waits before a request that needs a touch
    /// is approved: for `--device virtual` (default 100) and `ctap serve` (default
    /// 1000).
    #[arg(long, global = true, value_name = "MS")]
    pub(crate) touch_delay: Option<u64>,

    /// One JSON document per command on stdout (field names are stable; see the README).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Show a trace on stderr (-v: every report sent and received; -vv: also every CTAP2
    /// request and answer decoded; -vvv: also the software authenticator's side).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

impl Global {
    /// `--timeout` as a `Duration`; a value too large for one (up to infinity) means no
    /// deadline (`Duration::MAX`, which the device treats as such). Zero, negative or
    /// NaN is refused with what to give.
    pub(crate) fn call_timeout(&self) -> Result<Duration, String> {
        Duration::try_from_secs_f64(self.timeout)
            .ok()
            .or((self.timeout > 0.0).then_some(Duration::MAX))
            .filter(|t| !t.is_zero())
            .ok_or_else(|| {
                format!(
                    "--timeout must be a positive number of seconds, got {}",
                    self.timeout
                )
            })
    }
}
