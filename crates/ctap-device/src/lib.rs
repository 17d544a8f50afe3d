//! # ctap-device
//!
//! The device layer of the `ctap` stack (std): python-fido2's `CtapDevice` contract in
//! Rust, over a [`HidConnection`] seam that every transport implements.
#![forbid(unsafe_code)]

mod connection;
mod error;

pub use connection::HidConnection;
pub use error::{Error, ProtocolError, TimeoutKind};
