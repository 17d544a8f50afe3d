//! The fake sysfs entries and `/dev` node of one device, laid out as the kernel lays
//! out a USB HID device, so that hidapi's libudev-free enumeration (basic-udev),
//! libudev (libfido2) and python-fido2 find it:
//!
//! ```text
//! /sys/devices/platform/hidraw-harness/usb1/1-K/              usb_device: uevent DEVTYPE=usb_device,
//!                                                             manufacturer, product, serial, idVendor, ...
//!   1-K:1.0/                                                  usb_interface: bInterfaceNumber
//!     0003:VVVV:PPPP.00KK/                                    hid: uevent HID_ID, HID_NAME, HID_PHYS,
//!                                                             HID_UNIQ; report_descriptor
//!       hidraw/hidrawN/                                       hidraw: uevent MAJOR, MINOR, DEVNAME; dev
//! /sys/class/hidraw/hidrawN -> ../../devices/.../hidrawN      what enumeration scans
//! /sys/dev/char/240:N       -> ../../devices/.../hidrawN      what hidapi finds from fstat's st_rdev
//! /sys/bus/{usb,hid}/devices/...                              the bus views
//! /dev/hidrawN                                                a regular file the shim recognises
//! ```
//!
//! Each directory's `subsystem` link points at `/sys/bus/usb`, `/sys/bus/hid` or
//! `/sys/class/hidraw`, whose last component is what enumeration compares.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use super::spec::{Device, Kind};

/// The major number of the fake hidraw nodes (in the "local/experimental" range; the
/// nodes are not real device files anyway).
pub(crate) const MAJOR: u32 = 240;
/// USB (linux/input.h `BUS_USB`).
const BUS_USB: u16 = 0x03;
/// Where the servers' sockets live (in the namespace's private `/dev`; the leading dot
/// keeps it out of `glob("/dev/hidraw*")`).
pub(crate) const SOCKET_DIR: &str = "/dev/.hidraw-harness";
/// What the shim looks for at the start of a node file.
const NODE_MAGIC: &str = "hidraw-harness node v1\n";

/// The paths of one plugged device.
#[derive(Debug, Clone)]
pub(crate) struct Plugged {
    usb: PathBuf,
    links: Vec<PathBuf>,
    node: PathBuf,
    pub(crate) socket: PathBuf,
}

impl Plugged {
    /// Removes the node and every sysfs entry, as the kernel does on unplug.
    pub(crate) fn unplug(&self) -> io::Result<()> {
        remove_if_present(fs::remove_file(&self.node))?;
        for link in &self.links {
            remove_if_present(fs::remove_file(link))?;
        }
        remove_if_present(fs::remove_dir_all(&self.usb))?;
        remove_if_present(fs::remove_file(&self.socket))
    }
}

fn remove_if_present(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Creates the directories every device needs (`/sys` and `/dev` are fresh tmpfs).
pub(crate) fn create_skeleton(sys: &Path) -> io::Result<()> {
    for dir in [
        "devices/platform/hidraw-harness/usb1",
        "class/hidraw",
        "bus/usb/devices",
        "bus/hid/devices",
        "dev/char",
    ] {
        fs::create_dir_all(sys.join(dir))?;
    }
    fs::create_dir_all(SOCKET_DIR)?;
    fs::set_permissions(SOCKET_DIR, fs::Permissions::from_mode(0o755))
}

/// Writes the sysfs entries and the node of `device` (under `sys` and `dev`).
pub(crate) fn plug(sys: &Path, dev: &Path, device: &Device) -> io::Result<Plugged> {
    let n = device.index;
    let port = n + 1;
    let usb_name = format!("1-{port}");
    let interface_name = format!("{usb_name}:1.0");
    let hid_name = format!(
        "{BUS_USB:04X}:{:04X}:{:04X}.{:04X}",
        device.vendor_id, device.product_id, port
    );
    let usb = sys
        .join("devices/platform/hidraw-harness/usb1")
        .join(&usb_name);
    let interface = usb.join(&interface_name);
    let hid = interface.join(&hid_name);
    let hidraw = hid.join("hidraw").join(format!("hidraw{n}"));
    fs::create_dir_all(&hidraw)?;
    let descriptor = report_descriptor(device.kind);
    let hid_display_name = format!("{} {}", device.manufacturer, device.product);
    let phys = format!("usb-hidraw-harness-{port}/input0");

    let files: [(&Path, &str, Vec<u8>); 17] = [
        (&usb, "uevent", format!("MAJOR=189\nMINOR={n}\nDEVNAME=bus/usb/001/{port:03}\nDEVTYPE=usb_device\nDRIVER=usb\nPRODUCT={:x}/{:x}/100\nTYPE=0/0/0\nBUSNUM=001\nDEVNUM={port:03}\n", device.vendor_id, device.product_id).into_bytes()),
        (&usb, "manufacturer", line(&device.manufacturer)),
        (&usb, "product", line(&device.product)),
        (&usb, "serial", line(&device.serial)),
        (&usb, "idVendor", line(&format!("{:04x}", device.vendor_id))),
        (&usb, "idProduct", line(&format!("{:04x}", device.product_id))),
        (&usb, "bcdDevice", line("0100")),
        (&usb, "busnum", line("1")),
        (&usb, "devnum", line(&port.to_string())),
        (&interface, "uevent", b"DEVTYPE=usb_interface\nDRIVER=usbhid\nINTERFACE=3/0/0\n".to_vec()),
        (&interface, "bInterfaceNumber", line("00")),
        (&interface, "bInterfaceClass", line("03")),
        (&hid, "uevent", format!("DRIVER=hid-generic\nHID_ID={BUS_USB:04X}:{:08X}:{:08X}\nHID_NAME={hid_display_name}\nHID_PHYS={phys}\nHID_UNIQ={}\nMODALIAS=hid:b{BUS_USB:04X}g0001v{:08X}p{:08X}\n", device.vendor_id, device.product_id, device.serial, device.vendor_id, device.product_id).into_bytes()),
        (&hid, "report_descriptor", descriptor.clone()),
        (&hid, "country", line("00")),
        (&hidraw, "uevent", format!("MAJOR={MAJOR}\nMINOR={n}\nDEVNAME=hidraw{n}\n").into_bytes()),
        (&hidraw, "dev", line(&format!("{MAJOR}:{n}"))),
    ];
    for (dir, name, contents) in files {
        fs::write(dir.join(name), contents)?;
    }
    // `subsystem` links (relative, as sysfs has them) and the hidraw `device` link.
    symlink(relative(&usb, &sys.join("bus/usb")), usb.join("subsystem"))?;
    symlink(
        relative(&interface, &sys.join("bus/usb")),
        interface.join("subsystem"),
    )?;
    symlink(relative(&hid, &sys.join("bus/hid")), hid.join("subsystem"))?;
    symlink(
        relative(&hidraw, &sys.join("class/hidraw")),
        hidraw.join("subsystem"),
    )?;
    symlink(relative(&hidraw, &hid), hidraw.join("device"))?;
    // The views enumeration starts from.
    let class_dir = sys.join("class/hidraw");
    let char_dir = sys.join("dev/char");
    let links = vec![
        (class_dir.join(format!("hidraw{n}")), &hidraw, &class_dir),
        (char_dir.join(format!("{MAJOR}:{n}")), &hidraw, &char_dir),
        (
            sys.join("bus/usb/devices").join(&usb_name),
            &usb,
            &sys.join("bus/usb/devices"),
        ),
        (
            sys.join("bus/usb/devices").join(&interface_name),
            &interface,
            &sys.join("bus/usb/devices"),
        ),
        (
            sys.join("bus/hid/devices").join(&hid_name),
            &hid,
            &sys.join("bus/hid/devices"),
        ),
    ]
    .into_iter()
    .map(|(link, target, dir)| symlink(relative(dir, target), &link).map(|()| link))
    .collect::<io::Result<Vec<_>>>()?;

    let socket = Path::new(SOCKET_DIR).join(format!("hidraw{n}.sock"));
    let node = dev.join(format!("hidraw{n}"));
    let mut text = String::from(NODE_MAGIC);
    let _ = write!(
        text,
        "socket={}\ndev={MAJOR}:{n}\ninfo={BUS_USB:04x}:{:04x}:{:04x}\nname={hid_display_name}\nphys={phys}\nuniq={}\nrdesc=",
        socket.display(),
        device.vendor_id,
        device.product_id,
        device.serial,
    );
    for byte in &descriptor {
        let _ = write!(text, "{byte:02x}");
    }
    text.push('\n');
    fs::write(&node, text)?;
    fs::set_permissions(&node, fs::Permissions::from_mode(device.mode))?;
    Ok(Plugged {
        usb,
        links,
        node,
        socket,
    })
}

fn line(text: &str) -> Vec<u8> {
    format!("{text}\n").into_bytes()
}

/// The relative path from directory `from` to `to` (both absolute, no `..` in them).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in to.iter().skip(common) {
        path.push(part);
    }
    path
}

/// The report descriptor of `kind`: a FIDO key's (usage page 0xF1D0, usage 0x01, one
/// input and one output report of the report size, no report ids), or a boot mouse's.
pub(crate) fn report_descriptor(kind: Kind) -> Vec<u8> {
    match kind {
        Kind::Fido { report_size, .. } => {
            let count = u8::try_from(report_size.get()).unwrap_or(64);
            vec![
                0x06, 0xD0, 0xF1, // Usage Page (FIDO Alliance)
                0x09, 0x01, // Usage (CTAPHID)
                0xA1, 0x01, // Collection (Application)
                0x09, 0x20, //   Usage (Input Report Data)
                0x15, 0x00, //   Logical Minimum (0)
                0x26, 0xFF, 0x00, //   Logical Maximum (255)
                0x75, 0x08, //   Report Size (8)
                0x95, count, //   Report Count (report size)
                0x81, 0x02, //   Input (Data, Variable, Absolute)
                0x09, 0x21, //   Usage (Output Report Data)
                0x15, 0x00, //   Logical Minimum (0)
                0x26, 0xFF, 0x00, //   Logical Maximum (255)
                0x75, 0x08, //   Report Size (8)
                0x95, count, //   Report Count (report size)
                0x91, 0x02, //   Output (Data, Variable, Absolute)
                0xC0, // End Collection
            ]
        }
        Kind::Mouse => vec![
            0x05, 0x01, // Usage Page (Generic Desktop)
            0x09, 0x02, // Usage (Mouse)
            0xA1, 0x01, // Collection (Application)
            0x09, 0x01, //   Usage (Pointer)
            0xA1, 0x00, //   Collection (Physical)
            0x05, 0x09, //     Usage Page (Button)
            0x19, 0x01, //     Usage Minimum (1)
            0x29, 0x03, //     Usage Maximum (3)
            0x15, 0x00, //     Logical Minimum (0)
            0x25, 0x01, //     Logical Maximum (1)
            0x95, 0x03, //     Report Count (3)
            0x75, 0x01, //     Report Size (1)
            0x81, 0x02, //     Input (Data, Variable, Absolute)
            0x95, 0x01, //     Report Count (1)
            0x75, 0x05, //     Report Size (5)
            0x81, 0x01, //     Input (Constant)
            0x05, 0x01, //     Usage Page (Generic Desktop)
            0x09, 0x30, //     Usage (X)
            0x09, 0x31, //     Usage (Y)
            0x15, 0x81, //     Logical Minimum (-127)
            0x25, 0x7F, //     Logical Maximum (127)
            0x75, 0x08, //     Report Size (8)
            0x95, 0x02, //     Report Count (2)
            0x81, 0x06, //     Input (Data, Variable, Relative)
            0xC0, //   End Collection
            0xC0, // End Collection
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctaphid_frame::ReportSize;

    #[test]
    fn relative_links_climb_to_the_common_prefix() {
        assert_eq!(
            relative(
                Path::new("/sys/class/hidraw"),
                Path::new("/sys/devices/a/b")
            ),
            Path::new("../../devices/a/b")
        );
        assert_eq!(
            relative(Path::new("/sys/devices/a/b"), Path::new("/sys/devices/a")),
            Path::new("..")
        );
    }

    #[test]
    fn the_fido_descriptor_says_its_report_size() {
        for size in [8u8, 62, 64] {
            let kind = Kind::Fido {
                report_size: ReportSize::new(usize::from(size)).unwrap(),
                touch: ctap_virtual::TouchPolicy::IMMEDIATE,
                behaviour: super::super::spec::Behaviour::Normal,
            };
            let descriptor = report_descriptor(kind);
            assert_eq!(&descriptor[..5], &[0x06, 0xD0, 0xF1, 0x09, 0x01]);
            assert_eq!(descriptor.iter().filter(|&&b| b == 0x95).count(), 2);
            assert!(descriptor.windows(2).any(|w| w == [0x95, size]));
        }
        assert_eq!(
            &report_descriptor(Kind::Mouse)[..4],
            &[0x05, 0x01, 0x09, 0x02]
        );
    }
}
