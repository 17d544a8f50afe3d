//! # ctap
//!
//! CTAP over USB HID for Rust: python-fido2's `fido2.ctap` and the CTAPHID transport
//! under it, as layers you can take one by one, all re-exported here.
//!
//! | module | crate | what it is |
//! |---|---|---|
//! | [`types`] | `ctap-types` | wire values: status codes, commands, keep-alive, capabilities (no_std) |
//! | [`frame`] | `ctaphid-frame` | packetizer and reassembler, zero-copy (no_std, no alloc) |
//! | [`device`] | `ctap-device` | `CtapDevice`, `CtapHidDevice`, hidapi and UDP transports |
//! | `virtual_device` | `ctap-virtual` | a software authenticator (feature `virtual`) |
#![forbid(unsafe_code)]

pub use ctap_device as device;
pub use ctap_types as types;
#[cfg(feature = "virtual")]
pub use ctap_virtual as virtual_device;
pub use ctaphid_frame as frame;
