//! The runner on Linux: namespace, fake `/sys` and `/dev`, servers, the command.

mod server;
mod spec;
mod sysfs;

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{Uid, User, geteuid};

use crate::SKIPPED;
use server::Server;
use spec::{Spec, USAGE};

/// The shim's source, compiled at run time with the system C compiler.
const SHIM_SOURCE: &str = include_str!("../../shim/hidraw_shim.c");
/// Set in the command's environment: tests re-executed inside look for it.
const INSIDE_VAR: &str = "HIDRAW_HARNESS_INSIDE";

/// Why the harness did not run the command.
enum Stop {
    /// It cannot run here; not a failure.
    Skip(String),
    /// Setting up failed.
    Fail(String),
}

pub(crate) fn main() -> i32 {
    let spec = match Spec::parse(std::env::args_os().skip(1)) {
        Ok(spec) => spec,
        Err(error) => {
            eprintln!("hidraw-harness: {error}\n{USAGE}");
            return 2;
        }
    };
    match run(&spec) {
        Ok(status) => status,
        Err(Stop::Skip(why)) => {
            eprintln!("hidraw-harness: SKIPPED: {why}");
            SKIPPED
        }
        Err(Stop::Fail(why)) => {
            eprintln!("hidraw-harness: {why}");
            70
        }
    }
}

fn fail(what: &str) -> impl FnOnce(io::Error) -> Stop + '_ {
    move |error| Stop::Fail(format!("{what}: {error}"))
}

fn run(spec: &Spec) -> Result<i32, Stop> {
    if !geteuid().is_root() {
        return Err(Stop::Skip(
            "needs root (a private mount namespace with tmpfs over /sys and /dev); run it with sudo or as root in a container".into(),
        ));
    }
    let run_as = match &spec.user {
        Some(name) => Some(lookup_user(name)?),
        None => None,
    };
    let shim = build_shim()?;
    enter_namespace()?;
    let sys = Path::new("/sys");
    let dev = Path::new("/dev");
    sysfs::create_skeleton(sys).map_err(fail("creating the fake sysfs"))?;
    let mut servers = Vec::new();
    for device in &spec.devices {
        let plugged = sysfs::plug(sys, dev, device)
            .map_err(fail(&format!("plugging in /dev/hidraw{}", device.index)))?;
        servers.push(
            Server::start(device, plugged)
                .map_err(fail(&format!("serving /dev/hidraw{}", device.index)))?,
        );
    }

    let (program, args) = spec
        .command
        .split_first()
        .ok_or_else(|| Stop::Fail("no command".into()))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .env("LD_PRELOAD", preload_value(&shim))
        .env(INSIDE_VAR, "1")
        // libudev (systemd's sd-device, libfido2's enumeration) refuses a /sys that is
        // not sysfs unless told, through this knob systemd has for tests, not to check.
        .env("SYSTEMD_DEVICE_VERIFY_SYSFS", "0");
    if let Some(user) = &run_as {
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    let mut child = command
        .spawn()
        .map_err(fail(&format!("starting {}", program.to_string_lossy())))?;
    // Tests that signal the command (Ctrl-C) read its pid here: only the mount
    // namespace is private, pids are the host's.
    eprintln!("hidraw-harness: pid {}", child.id());
    let status = child
        .wait()
        .map_err(fail(&format!("waiting for {}", program.to_string_lossy())))?;
    drop(servers);
    Ok(status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(70))
}

fn lookup_user(name: &str) -> Result<User, Stop> {
    let found = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    };
    match found {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(Stop::Skip(format!("no user {name:?} on this system"))),
        Err(error) => Err(Stop::Fail(format!("looking up user {name:?}: {error}"))),
    }
}

/// `LD_PRELOAD` with the shim first, keeping whatever was preloaded already.
fn preload_value(shim: &Path) -> OsString {
    let mut value = shim.as_os_str().to_owned();
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        value.push(":");
        value.push(existing);
    }
    value
}

/// Compiles the shim into `<dir of this binary>/hidraw-harness-shim/` (so under
/// `target/`) unless that exact source was compiled already. Compiles to a temporary
/// name and renames, so concurrent runs never load a half-written library.
fn build_shim() -> Result<PathBuf, Stop> {
    let exe = std::env::current_exe().map_err(fail("locating this program"))?;
    let dir = exe
        .parent()
        .map_or_else(std::env::temp_dir, Path::to_path_buf)
        .join("hidraw-harness-shim");
    fs::create_dir_all(&dir).map_err(fail("creating the shim's directory"))?;
    let library = dir.join(format!("libhidraw_shim-{:016x}.so", fnv1a(SHIM_SOURCE)));
    if library.exists() {
        return Ok(library);
    }
    let unique = format!(
        "{}-{}",
        std::process::id(),
        fnv1a(&format!("{:?}", std::time::Instant::now()))
    );
    let source = dir.join(format!("hidraw_shim-{unique}.c"));
    let partial = dir.join(format!("libhidraw_shim-{unique}.so.part"));
    fs::write(&source, SHIM_SOURCE).map_err(fail("writing the shim's source"))?;
    let compiler = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let output = Command::new(&compiler)
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-o"])
        .arg(&partial)
        .arg(&source)
        .arg("-ldl")
        .output();
    let _ = fs::remove_file(&source);
    let output = match output {
        Ok(output) => output,
        Err(error) => {
            return Err(Stop::Skip(format!(
                "no C compiler to build the LD_PRELOAD shim ({}: {error}); install gcc or set CC",
                compiler.to_string_lossy()
            )));
        }
    };
    if !output.status.success() {
        let _ = fs::remove_file(&partial);
        return Err(Stop::Fail(format!(
            "compiling the shim failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    fs::rename(&partial, &library).map_err(fail("installing the shim"))?;
    Ok(library)
}

/// FNV-1a, 64 bits: a cache key for the shim's source that does not change between
/// Rust versions (std's hasher may).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A private mount namespace with a fresh tmpfs on `/sys` and a copy of `/dev` (every
/// entry bind-mounted from the real one) on a fresh tmpfs, where the fake nodes go.
/// Nothing outside this process and its children sees any of it; it all goes away
/// when they exit.
fn enter_namespace() -> Result<(), Stop> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|error| {
        Stop::Skip(format!(
            "cannot make a private mount namespace (unshare(CLONE_NEWNS): {error}); a container may need --privileged or CAP_SYS_ADMIN"
        ))
    })?;
    let none: Option<&str> = None;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none).map_err(|error| {
        Stop::Skip(format!(
            "cannot make / private in the new namespace: {error}"
        ))
    })?;
    let tmpfs = |target: &Path, options: &str| {
        mount(
            Some("tmpfs"),
            target,
            Some("tmpfs"),
            MsFlags::MS_NOSUID,
            Some(options),
        )
        .map_err(|error| {
            Stop::Skip(format!(
                "cannot mount a tmpfs on {} ({error}): mounting is not allowed here",
                target.display()
            ))
        })
    };

    // /dev: build the copy on a staging tmpfs, then move it over /dev.
    let staging = std::env::temp_dir().join(format!("hidraw-harness-{}", std::process::id()));
    fs::create_dir_all(&staging).map_err(fail("creating the staging directory"))?;
    tmpfs(&staging, "mode=0755")?;
    let copied = copy_dev(Path::new("/dev"), &staging);
    let moved = copied.and_then(|()| {
        mount(
            Some(staging.as_path()),
            "/dev",
            none,
            MsFlags::MS_MOVE,
            none,
        )
        .map_err(|error| Stop::Fail(format!("moving the new /dev into place: {error}")))
    });
    // The directory is empty again (its mount moved away); outside this namespace it
    // always was.
    let _ = fs::remove_dir(&staging);
    moved?;

    tmpfs(Path::new("/sys"), "mode=0755")?;
    Ok(())
}

/// Recreates each entry of `real` in `staging`: symlinks as symlinks, everything else
/// (device nodes, sockets, `pts`, `shm`, ...) bind-mounted from the real one.
fn copy_dev(real: &Path, staging: &Path) -> Result<(), Stop> {
    let none: Option<&str> = None;
    let entries = fs::read_dir(real).map_err(fail("reading /dev"))?;
    for entry in entries {
        let entry = entry.map_err(fail("reading /dev"))?;
        let name = entry.file_name();
        // A hidraw node of a real device would shadow or clash with ours.
        if name.to_string_lossy().starts_with("hidraw") {
            continue;
        }
        let source = entry.path();
        let target = staging.join(&name);
        let kind = entry.file_type().map_err(fail("reading /dev"))?;
        if kind.is_symlink() {
            let to = fs::read_link(&source).map_err(fail("reading a /dev link"))?;
            symlink(to, &target).map_err(fail("copying a /dev link"))?;
            continue;
        }
        if kind.is_dir() {
            fs::create_dir(&target).map_err(fail("copying /dev"))?;
        } else {
            fs::write(&target, b"").map_err(fail("copying /dev"))?;
        }
        let flags = if kind.is_dir() {
            MsFlags::MS_BIND | MsFlags::MS_REC
        } else {
            MsFlags::MS_BIND
        };
        if let Err(error) = mount(Some(source.as_path()), &target, none, flags, none) {
            // A node the container hides from us (or a socket bound elsewhere): the
            // command will not miss it. Leave the placeholder out.
            let _ = if kind.is_dir() {
                fs::remove_dir(&target)
            } else {
                fs::remove_file(&target)
            };
            if !(kind.is_char_device() || kind.is_block_device() || kind.is_socket()) {
                return Err(Stop::Fail(format!(
                    "bind-mounting {}: {error}",
                    source.display()
                )));
            }
        }
    }
    fs::set_permissions(staging, fs::Permissions::from_mode(0o755))
        .map_err(fail("setting /dev's permissions"))
}
