//! Opening the device `--device` names, in one place, and what every call on it shares:
//! the `--timeout` deadline, Ctrl-C, the keep-alive display, and the CTAP2 session.
//! `ctap::open_with` does the work (the names `--device` takes are the library's
//! [`ctap::Target`]); choosing among attached keys is in [`choose`], the listing in
//! [`listing`], PC/SC cards in [`pcsc`].

pub(crate) mod choose;
pub(crate) mod listing;
pub(crate) mod pcsc;
pub(crate) mod trace;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ctap::ctap2::{self as client, Ctap2};
use ctap::device::{CallOptions, CancelToken, CtapHidDevice, DeviceConfig, HidConnection};
use ctap::types::KeepaliveStatus;
use ctap::virtual_device as vdev;
use ctap::{OpenOptions, Target};

use crate::error::{self, Failure};
use crate::globals::Global;

/// An open device.
pub(crate) struct Opened {
    /// What it is, for humans (`virtual`, `udp:127.0.0.1:8111`, a hidraw path).
    pub(crate) description: String,
    /// The device.
    pub(crate) device: ctap::Device,
}

/// How long the in-process authenticator's simulated user takes to touch it unless
/// `--touch-delay` says otherwise (issue 27: short, so `cred make` is quick, yet long
/// enough that `ctap select` shows the UPNEEDED keep-alive).
pub(crate) const VIRTUAL_TOUCH_DELAY: Duration = Duration::from_millis(100);

/// The environment variable naming a state file for `--device virtual`, so that its
/// credentials, PIN and counters outlive one run (the format of `ctap serve --state`):
/// every command reads it, so `ctap info` shows the PIN `ctap pin set` stored.
pub(crate) const VIRTUAL_STATE_ENV: &str = "CTAP_VIRTUAL_STATE";

/// The state file `--device virtual` keeps its state in: `$CTAP_VIRTUAL_STATE` when set
/// and not empty (an empty value, as `CTAP_VIRTUAL_STATE= ctap ...` leaves it, means
/// none; it is no file name).
pub(crate) fn virtual_state() -> Option<std::ffi::OsString> {
    std::env::var_os(VIRTUAL_STATE_ENV).filter(|path| !path.is_empty())
}

/// Opens the device for a CTAPHID command; what is left of `--timeout` bounds the INIT
/// (with its CHANNEL_BUSY retries).
pub(crate) fn open(global: &Global) -> Result<Opened, Failure> {
    open_with(
        global,
        DeviceConfig::default().with_call_timeout(Some(time_left(global)?)),
    )
}

/// Opens the device `--device` names (with `--bind` for UDP); without `--device`, the
/// one attached key. `--touch-delay` is how long the in-process authenticator's
/// simulated user takes to touch it (and applies to nothing else).
pub(crate) fn open_with(global: &Global, config: DeviceConfig) -> Result<Opened, Failure> {
    if global.touch_delay.is_some() && global.device.as_deref() != Some("virtual") {
        return Err(error::usage(
            "--touch-delay applies to --device virtual (and `ctap serve`) only",
        ));
    }
    let (device, bind) = (global.device.as_deref(), global.bind.as_deref());
    let target = match device.map(|name| (name, choose::choice(name))) {
        Some((_, Some(choose::Choice::Touch))) => {
            if bind.is_some() {
                return Err(Failure::with_status(
                    "--bind applies to --device udp:HOST:PORT only",
                    2,
                ));
            }
            return choose::by_touch(global, config);
        }
        Some((_, Some(choose::Choice::Serial(serial)))) => {
            listing::target_of(&choose::by_serial(serial)?)?
        }
        Some((name, None)) => {
            check_name(name)?;
            name.parse::<Target>()?
        }
        None => listing::target_of(&choose::only_key()?)?,
    };
    let bind = match (bind, &target) {
        (None, _) => None,
        (Some(local), Target::Udp(_)) => Some(resolve(local)?),
        (Some(_), _) => {
            return Err(Failure::with_status(
                "--bind applies to --device udp:HOST:PORT only",
                2,
            ));
        }
    };
    let touch_delay = global
        .touch_delay
        .map_or(VIRTUAL_TOUCH_DELAY, Duration::from_millis);
    let virtual_config =
        vdev::Config::default().with_touch(vdev::TouchPolicy::Approve { after: touch_delay });
    let opened = match (&target, virtual_state()) {
        (Target::Virtual, Some(path)) => {
            let authenticator = vdev::VirtualAuthenticator::new(virtual_config);
            authenticator
                .with_device(|device| device.use_state_file(vdev::StateFile::new(path)))
                .map_err(|e| Failure::new(format!("{VIRTUAL_STATE_ENV}: {e}")))?;
            // The connection keeps the authenticator alive.
            let connection: Box<dyn HidConnection> = Box::new(authenticator.connect());
            CtapHidDevice::with_config(connection, config)
        }
        _ => {
            let mut options = OpenOptions::default()
                .with_config(config)
                .with_virtual_config(virtual_config);
            if let Some(local) = bind {
                options = options.with_bind(local);
            }
            ctap::open_with(&target, &options)
        }
    };
    let device =
        opened.map_err(|e| error::explain(global, e, "INIT (opening the device)", None))?;
    let description = target.to_string();
    Ok(Opened {
        description,
        device,
    })
}

/// The device of a CTAP2 session (its requests and answers decoded at `-vv`).
pub(crate) type Device = trace::Traced<CtapHidDevice<Box<dyn HidConnection>>>;

/// Opens `--device` for CTAP2 (INIT, then getInfo). `--timeout` is one deadline for the
/// whole command: the INIT, the getInfo and every later call get what is left of it.
/// `virtual` is an in-process authenticator that keeps its state in
/// `$CTAP_VIRTUAL_STATE` when set.
pub(crate) fn open_ctap2(global: &Global) -> Result<Ctap2<Device>, Failure> {
    let Opened { device, .. } = open_with(
        global,
        DeviceConfig::default().with_call_timeout(Some(time_left(global)?)),
    )?;
    let deadline = deadline(global)?;
    let ctap = Ctap2::new_until(trace::Traced(device), deadline)
        .map_err(|e| error::ctap2_opening(global, e))?;
    Ok(ctap.with_deadline(deadline))
}

/// Refuses a `--device` name that is surely mistyped, before anything is opened (a
/// usage error, exit status 2, with what was probably meant): a keyword in the wrong
/// case (`VIRTUAL`), an address without `udp:` (`127.0.0.1:8111`), a port out of range,
/// a bare word that is no keyword and no path, a file that is not a device.
pub(crate) fn check_name(name: &str) -> Result<(), Failure> {
    if name == "virtual" {
        return Ok(());
    }
    let lower = name.to_ascii_lowercase();
    for keyword in ["virtual", "touch", "pcsc"] {
        if lower == keyword && name != keyword {
            return Err(did_you_mean(name, keyword));
        }
    }
    for prefix in ["udp:", "serial:", "pcsc:"] {
        if lower.starts_with(prefix) && !name.starts_with(prefix) {
            let rest = name.get(prefix.len()..).unwrap_or_default();
            return Err(did_you_mean(name, &format!("{prefix}{rest}")));
        }
    }
    if let Some(remote) = name.strip_prefix("udp:") {
        check_port(&format!("--device {name}"), remote)?;
        return Ok(());
    }
    if looks_like_address(name) {
        return Err(did_you_mean(name, &format!("udp:{name}")));
    }
    let is_path = name.contains(['/', '\\', ':']);
    if !is_path && !name.is_empty() {
        return Err(error::usage(format!(
            "--device {name}: not a device name: give a path (`ctap list` shows them), \
             serial:SERIAL, touch, virtual, udp:HOST:PORT or pcsc[:READER]"
        )));
    }
    not_a_device_file(name)
}

/// `HOST:PORT` with the port out of range (over 65535) is a usage error naming it.
pub(crate) fn check_port(what: &str, address: &str) -> Result<(), Failure> {
    let port = address.rsplit_once(':').map(|(_, port)| port);
    match port.map(str::parse::<u64>) {
        Some(Ok(port)) if port > u64::from(u16::MAX) => Err(error::usage(format!(
            "{what}: port {port} is out of range (0..=65535)"
        ))),
        _ => Ok(()),
    }
}

/// `true` for `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT` (a UDP address typed
/// without `udp:`; hidapi paths never look like that).
fn looks_like_address(name: &str) -> bool {
    let Some((host, port)) = name.rsplit_once(':') else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && (host == "localhost" || host.parse::<std::net::IpAddr>().is_ok())
}

fn did_you_mean(name: &str, meant: &str) -> Failure {
    error::usage(format!(
        "--device {name}: no such device name; did you mean `{meant}`?"
    ))
}

/// On Unix, an existing file that is not a character device cannot be a key, and on
/// Linux neither can one that is not a hidraw node (after symbolic links): a usage error
/// rather than hidapi's ioctl message. (A path that does not exist may be a key just
/// unplugged: that stays the device's error.)
fn not_a_device_file(name: &str) -> Result<(), Failure> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if let Ok(metadata) = std::fs::metadata(name) {
            let kind = metadata.file_type();
            // A node named hidrawN is taken as one whatever its type (the test harness's
            // fake /dev/hidrawN is a regular file its LD_PRELOAD shim serves).
            let what = if cfg!(target_os = "linux") && is_hidraw(name) {
                None
            } else if kind.is_dir() {
                Some("a directory")
            } else if !kind.is_char_device() {
                Some("a regular file")
            } else if cfg!(target_os = "linux") {
                Some("a character device, but not a hidraw one")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(error::usage(format!(
                    "--device {name}: not a HID device ({what}); keys are hidraw devices such \
                     as /dev/hidraw0: `ctap list` shows them"
                )));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = name;
    Ok(())
}

/// Whether `path` (after symbolic links) is a hidraw node: `/dev/hidrawN` by name.
#[cfg(unix)]
fn is_hidraw(path: &str) -> bool {
    std::fs::canonicalize(path).is_ok_and(|real| {
        real.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("hidraw"))
    })
}

/// `HOST:PORT` to one socket address (exit status 2 if it is not `HOST:PORT`).
pub(crate) fn resolve(text: &str) -> Result<SocketAddr, Failure> {
    check_port(text, text)?;
    Ok(ctap::resolve(text)?)
}

/// `--timeout` as a `Duration` (see [`Global::call_timeout`]); a bad value is a usage
/// error.
pub(crate) fn call_timeout(global: &Global) -> Result<Duration, Failure> {
    global.call_timeout().map_err(error::usage)
}

/// What is left of `--timeout` now: the command has one deadline, counted from when
/// its command line was read, that opening the device and every call share (`inf`:
/// `Duration::MAX`, no deadline). Zero once it has passed (a call then ends at once
/// with the deadline error).
pub(crate) fn time_left(global: &Global) -> Result<Duration, Failure> {
    let total = call_timeout(global)?;
    Ok(match global.started.checked_add(total) {
        Some(end) => end.saturating_duration_since(Instant::now()),
        None => total,
    })
}

/// The instant `--timeout` ends (`None`: too far ahead to represent, no deadline).
pub(crate) fn deadline(global: &Global) -> Result<Option<Instant>, Failure> {
    Ok(global.started.checked_add(call_timeout(global)?))
}

/// The options of one CTAPHID call: its deadline is what is left of `--timeout`.
pub(crate) fn options<'a>(global: &Global) -> Result<CallOptions<'a>, Failure> {
    Ok(CallOptions::default().with_timeout(time_left(global)?))
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

/// A CTAP2 call that may wait for a touch: Ctrl-C cancels it, the keep-alive statuses
/// are shown on stderr (not with `--json`), and the last one explains a time-out.
pub(crate) struct Interaction {
    token: CancelToken,
    interrupted: Arc<AtomicBool>,
    last: Rc<Cell<Option<KeepaliveStatus>>>,
    show: Box<dyn FnMut(KeepaliveStatus)>,
}

impl Interaction {
    /// For a command run with `--json` (`json`: no keep-alive text on stderr) or not.
    pub(crate) fn new(json: bool) -> Self {
        // The process's one handler (shared with `--device touch`); if it cannot be
        // installed, Ctrl-C simply ends the process as it would without one.
        let (interrupted, token) = on_interrupt()
            .unwrap_or_else(|_| (Arc::new(AtomicBool::new(false)), CancelToken::new()));
        let last = Rc::new(Cell::new(None));
        let seen = Rc::clone(&last);
        let show = Box::new(move |status| {
            seen.set(Some(status));
            if !json && status == KeepaliveStatus::UPNEEDED {
                eprintln!("touch the key");
            }
        });
        Self {
            token,
            interrupted,
            last,
            show,
        }
    }

    /// The options of the call: Ctrl-C cancels it, keep-alives are shown and noted.
    pub(crate) fn options(&mut self) -> CallOptions<'_> {
        CallOptions::default()
            .with_cancel(self.token.clone())
            .with_on_keepalive(&mut *self.show)
    }

    /// A failed call: `cancelled` (exit status 130) after Ctrl-C; a time-out with what
    /// the key was doing (e.g. waiting for a touch); a status explained in `situation`.
    pub(crate) fn failure(
        &self,
        global: &Global,
        situation: &error::Situation,
        failed: client::Error,
    ) -> Failure {
        if self.interrupted.load(Ordering::SeqCst) && failed.is_cancelled() {
            return Failure::with_status("cancelled", 130);
        }
        match failed {
            client::Error::Device(timeout @ ctap::device::Error::Timeout(_)) => {
                error::explain(global, timeout, situation.doing.request(), self.last.get())
            }
            other => error::ctap2_in(situation, other),
        }
    }
}
