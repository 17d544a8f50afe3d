//! The command line: which devices to plug in, as whom to run, what to run.

use std::ffi::OsString;
use std::time::Duration;

use ctap_virtual::TouchPolicy;
use ctaphid_frame::ReportSize;

/// What a FIDO key does besides answering.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Behaviour {
    /// A working key.
    Normal,
    /// Unplugged as soon as it has sent its first KEEPALIVE (so: during a call).
    UnplugOnKeepalive,
    /// Answers INIT, then never answers anything again (a hung key).
    MuteAfterInit,
}

/// What kind of HID device.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// A FIDO key served by a `ctap_virtual::Authenticator`.
    Fido {
        report_size: ReportSize,
        touch: TouchPolicy,
        behaviour: Behaviour,
    },
    /// A USB mouse: a boot-mouse report descriptor; reads nothing, sends nothing.
    Mouse,
}

/// One device to plug in.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Device {
    /// N of `/dev/hidrawN` (and the minor number).
    pub(crate) index: u32,
    pub(crate) kind: Kind,
    pub(crate) vendor_id: u16,
    pub(crate) product_id: u16,
    pub(crate) manufacturer: String,
    pub(crate) product: String,
    pub(crate) serial: String,
    /// Permission bits of the node (owner root:root).
    pub(crate) mode: u32,
}

/// The whole command line.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) devices: Vec<Device>,
    /// Run the command as this user (name or uid) and its primary group.
    pub(crate) user: Option<String>,
    pub(crate) command: Vec<OsString>,
}

pub(crate) const USAGE: &str = "\
usage: hidraw-harness [--key N[,OPT]...]... [--mouse N]... [--user NAME] -- COMMAND [ARG]...
  --key N[,OPT]  a FIDO key (the software authenticator) at /dev/hidrawN. OPT, comma-separated:
                 report=8..64 (report size, default 64), vid=HEX, pid=HEX, serial=S,
                 product=S, manufacturer=S, mode=OCTAL (node permissions, default 666),
                 touch=now|never|MS (the simulated user, default now),
                 unplug-on-keepalive (unplugged right after its first keep-alive),
                 mute-after-init (answers INIT, then nothing ever again)
  --mouse N      a USB mouse (not a FIDO device) at /dev/hidrawN
  --user NAME    run COMMAND as NAME (or a uid) instead of root";

impl Spec {
    /// Parses the arguments after the program name.
    pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, String> {
        let mut args = args.into_iter();
        let mut devices: Vec<Device> = Vec::new();
        let mut user = None;
        let mut command = Vec::new();
        while let Some(arg) = args.next() {
            let arg = arg
                .into_string()
                .map_err(|arg| format!("not UTF-8: {arg:?}"))?;
            let mut value = |name: &str| {
                args.next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match arg.as_str() {
                "--key" => devices.push(parse_key(&value("--key")?)?),
                "--mouse" => devices.push(mouse(parse_index(&value("--mouse")?)?)),
                "--user" => user = Some(value("--user")?),
                "--" => {
                    command.extend(args.by_ref());
                    break;
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if command.is_empty() {
            return Err("no command after --".into());
        }
        for (i, device) in devices.iter().enumerate() {
            if devices
                .get(..i)
                .is_some_and(|before| before.iter().any(|d| d.index == device.index))
            {
                return Err(format!("/dev/hidraw{} given twice", device.index));
            }
        }
        Ok(Self {
            devices,
            user,
            command,
        })
    }
}

fn parse_index(text: &str) -> Result<u32, String> {
    text.parse::<u32>()
        .ok()
        .filter(|&n| n < 256)
        .ok_or_else(|| format!("device number must be 0..=255, got {text:?}"))
}

fn parse_hex16(text: &str) -> Result<u16, String> {
    u16::from_str_radix(text, 16).map_err(|_| format!("not a 16-bit hex number: {text:?}"))
}

fn parse_key(text: &str) -> Result<Device, String> {
    let mut parts = text.split(',');
    let index = parse_index(parts.next().unwrap_or_default())?;
    let mut report_size = ReportSize::FULL_SPEED;
    let mut touch = TouchPolicy::IMMEDIATE;
    let mut behaviour = Behaviour::Normal;
    let mut device = Device {
        index,
        kind: Kind::Mouse,
        // pid.codes' test vendor id; product ids F1D0 + N keep keys apart.
        vendor_id: 0x1209,
        product_id: 0xF1D0_u16.wrapping_add(u16::try_from(index).unwrap_or(0)),
        manufacturer: "ctap-rs".into(),
        product: "virtual key".into(),
        serial: format!("HARNESS{index:04}"),
        mode: 0o666,
    };
    for option in parts {
        let (name, value) = option.split_once('=').unwrap_or((option, ""));
        match name {
            "report" => {
                report_size = value
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| ReportSize::new(n).ok())
                    .ok_or_else(|| format!("report= needs 8..=64, got {value:?}"))?;
            }
            "vid" => device.vendor_id = parse_hex16(value)?,
            "pid" => device.product_id = parse_hex16(value)?,
            "serial" => device.serial = value.into(),
            "product" => device.product = value.into(),
            "manufacturer" => device.manufacturer = value.into(),
            "mode" => {
                device.mode = u32::from_str_radix(value, 8)
                    .ok()
                    .filter(|m| *m <= 0o777)
                    .ok_or_else(|| format!("mode= needs octal permissions, got {value:?}"))?;
            }
            "touch" => {
                touch = match value {
                    "now" => TouchPolicy::IMMEDIATE,
                    "never" => TouchPolicy::Never,
                    ms => TouchPolicy::Approve {
                        after: Duration::from_millis(ms.parse().map_err(|_| {
                            format!("touch= needs now, never or milliseconds, got {ms:?}")
                        })?),
                    },
                };
            }
            "unplug-on-keepalive" => behaviour = Behaviour::UnplugOnKeepalive,
            "mute-after-init" => behaviour = Behaviour::MuteAfterInit,
            other => return Err(format!("unknown key option {other:?}")),
        }
    }
    device.kind = Kind::Fido {
        report_size,
        touch,
        behaviour,
    };
    Ok(device)
}

fn mouse(index: u32) -> Device {
    Device {
        index,
        kind: Kind::Mouse,
        vendor_id: 0x046d,
        product_id: 0xc077,
        manufacturer: "Logitech".into(),
        product: "USB Optical Mouse".into(),
        serial: String::new(),
        mode: 0o666,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Spec, String> {
        Spec::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn keys_mice_and_options() {
        let spec = parse(&[
            "--key",
            "0,report=8,touch=never,mode=600,serial=S1",
            "--mouse",
            "1",
            "--user",
            "nobody",
            "--",
            "ctap",
            "list",
        ])
        .unwrap();
        assert_eq!(spec.devices.len(), 2);
        let key = &spec.devices[0];
        assert_eq!(key.mode, 0o600);
        assert_eq!(key.serial, "S1");
        assert_eq!(
            key.kind,
            Kind::Fido {
                report_size: ReportSize::new(8).unwrap(),
                touch: TouchPolicy::Never,
                behaviour: Behaviour::Normal
            }
        );
        assert_eq!(spec.devices[1].kind, Kind::Mouse);
        assert_eq!(spec.user.as_deref(), Some("nobody"));
        assert_eq!(spec.command, ["ctap", "list"]);
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse(&["--key", "0"]).unwrap_err().contains("no command"));
        assert!(
            parse(&["--key", "0,report=65", "--", "x"])
                .unwrap_err()
                .contains("8..=64")
        );
        assert!(
            parse(&["--key", "0", "--mouse", "0", "--", "x"])
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            parse(&["--key", "0,bogus", "--", "x"])
                .unwrap_err()
                .contains("bogus")
        );
    }
}
