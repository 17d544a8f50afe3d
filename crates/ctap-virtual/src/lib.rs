#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

mod algorithms;
mod apdu;
mod authenticator;
mod channels;
mod config;
mod connection;
mod ctap2;
mod nfc_applet;
pub mod testing;
mod udp;
mod vpcd;

pub use algorithms::{Algorithms, AlgorithmsError};
pub use authenticator::{Authenticator, CAPABILITIES, MAX_LOCK_SECONDS, Stats};
pub use config::{Attestation, Config, DEFAULT_AAGUID, TouchPolicy};
pub use connection::{VirtualAuthenticator, VirtualConnection};
pub use ctap2::{StateError, StateFile};
pub use ctaphid_frame::Report;
pub use nfc_applet::{AppletConfig, NfcApplet, SELECT_ANSWER};
pub use udp::{RunningServer, StopHandle, UdpServer};
pub use vpcd::{DEFAULT_VPCD_PORT, VpcdCard, VpcdStop, atr as vpcd_atr};
