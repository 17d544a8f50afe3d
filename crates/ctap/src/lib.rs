//! # ctap
//!
//! CTAP over USB HID for Rust: python-fido2's `fido2.ctap` and the CTAPHID transport
//! under it, as layers you can take one by one, all re-exported here. Add this one
//! dependency and `use ctap::prelude::*`.
//!
//! | module | crate | what it is |
//! |---|---|---|
//! | [`types`] | `ctap-types` | wire values: status codes, commands, keep-alive, capabilities (no_std) |
//! | [`frame`] | `ctaphid-frame` | packetizer and reassembler, zero-copy (no_std, no alloc) |
//! | [`device`] | `ctap-device` | `CtapDevice`, `CtapHidDevice`, hidapi and UDP transports |
//! | `virtual_device` | `ctap-virtual` | a software authenticator (feature `virtual`, off by default) |
//! | `ctap2` | `ctap2-client` | python-fido2's `fido2.ctap2`: `Ctap2`, `ClientPin`, credential management (feature `ctap2`, on by default) |
//!
//! Of its own it adds [`open`] (a device from the names `ctap --device` takes:
//! `virtual`, `udp:HOST:PORT`, a HID path) and [`select`] (one key among several: by
//! serial number, the only one attached, or the one the user touches).
//!
//! Features: `hidapi` (default: USB keys; pure-Rust hidraw backend on Linux), `ctap2`
//! (default: the CTAP2 client), `virtual` (off: the software authenticator, built only
//! when asked; the examples here need it), `bytes` (`Bytes` views in the framing
//! layer), `defmt` and `serde` (for the wire types), `pcsc` (off: NFC and smart-card
//! keys through pcscd as `device::pcsc`; links the system's libpcsclite).
//!
//! ## A complete example
//! List the keys, open one, call it, follow its keep-alives and cancel a call from
//! another thread. It runs here against the built-in software authenticator (feature
//! `virtual`); with a key, open it with `ctap::device::hid::open(&info.path)` instead.
//!
//! ```
//! use std::time::Duration;
//! use ctap::prelude::*;
//! use ctap::virtual_device::{Config, TouchPolicy, VirtualAuthenticator};
//!
//! // 1. The keys attached (none on a build machine). One that cannot be opened, e.g. for
//! //    lack of permission, is listed with the reason and a hint, never left out.
//! //    (`hid` needs the `hidapi` feature, on by default.)
//! # #[cfg(feature = "hidapi")]
//! if let Ok(entries) = ctap::device::hid::list_devices() {
//!     for entry in entries {
//!         match entry {
//!             Ok(info) => println!("{info}"),
//!             Err(unusable) => println!("{unusable}"),
//!         }
//!     }
//! }
//!
//! // 2. Open a device: INIT allocates our channel.
//! let touch = TouchPolicy::Approve { after: Duration::from_millis(300) };
//! let authenticator = VirtualAuthenticator::new(Config::default().with_touch(touch));
//! let mut device = CtapHidDevice::new(authenticator.connect())?;
//! println!("channel {}, capabilities {}", device.channel_id(), device.capabilities());
//! assert_eq!(device.call(Command::PING, b"hello")?, b"hello");
//!
//! // 3. A call that waits for a touch: the device sends KEEPALIVE UPNEEDED until then.
//! let mut statuses = Vec::new();
//! let mut on_keepalive = |status: KeepaliveStatus| statuses.push(status);
//! let options = CallOptions::default()
//!     .with_on_keepalive(&mut on_keepalive)
//!     .with_timeout(Duration::from_secs(10));
//! let answer = device.call_with(Command::CBOR, &[Ctap2Command::SELECTION.to_u8()], options)?;
//! assert_eq!(answer, [StatusCode::SUCCESS.to_u8()]);
//! assert_eq!(statuses, [KeepaliveStatus::UPNEEDED]); // once per change, as python-fido2
//!
//! // 4. Cancel a wait from another thread: the device gets CTAPHID_CANCEL and answers
//! //    KEEPALIVE_CANCEL.
//! authenticator.set_touch_policy(TouchPolicy::Never);
//! let token = CancelToken::new();
//! let canceller = {
//!     let token = token.clone();
//!     std::thread::spawn(move || {
//!         std::thread::sleep(Duration::from_millis(200));
//!         token.cancel();
//!     })
//! };
//! let result = device.cbor_with(&[Ctap2Command::SELECTION.to_u8()], CallOptions::default().with_cancel(token));
//! canceller.join().expect("the canceller thread does not panic");
//! let error = result.expect_err("the wait was cancelled");
//! assert!(error.is_cancelled());
//! assert_eq!(error.to_string(), "CTAP error: 0x2D - KEEPALIVE_CANCEL");
//!
//! // 5. The device still works after the cancel.
//! assert_eq!(device.ping(&[7; 1000])?, vec![7; 1000]);
//! # Ok::<(), ctap::device::Error>(())
//! ```
#![forbid(unsafe_code)]

mod open;
pub mod select;

pub use ctap_device as device;
pub use ctap_types as types;
#[cfg(feature = "virtual")]
pub use ctap_virtual as virtual_device;
/// The WebAuthn client (python-fido2's `fido2.client`, `fido2.webauthn`, `fido2.ctap1`).
#[cfg(feature = "webauthn")]
pub use ctap_webauthn as webauthn;
#[cfg(feature = "ctap2")]
pub use ctap2_client as ctap2;
pub use ctaphid_frame as frame;

pub use open::{Device, OpenOptions, Target, open, open_with, resolve};

/// The names a host program needs most, for `use ctap::prelude::*`.
pub mod prelude {
    pub use ctap_device::{
        CallOptions, CancelToken, CtapDevice, CtapHidDevice, DeviceConfig, Error, HidConnection,
    };
    pub use ctap_types::{
        Capabilities, ChannelId, Command, Ctap2Command, CtapError, HidErrorCode, KeepaliveStatus,
        StatusCode,
    };
}

// The README's example is compiled and run as a doctest too.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

// So is the workspace README's.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct WorkspaceReadmeDoctests;
