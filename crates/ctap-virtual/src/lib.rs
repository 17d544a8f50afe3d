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
pub use authenticator::{Authenticator, CAPABILITIES, EntropyError, MAX_LOCK_SECONDS, Stats};
pub use channels::{DEFAULT_CHANNELS, MAX_CHANNELS};
pub use config::{Attestation, Config, DEFAULT_AAGUID, Generation, TouchPolicy};
pub use connection::{VirtualAuthenticator, VirtualConnection};
pub use ctap2::bio::{MAX_FRIENDLY_NAME, MAX_TEMPLATES, SAMPLES_PER_ENROLLMENT};
pub use ctap2::enterprise::EnterpriseAttestation;
pub use ctap2::features::{
    CRED_BLOB_CAP, Features, LARGE_BLOB_ARRAY_CAP, MIN_LARGE_BLOB_ARRAY, MIN_PIN_LENGTH_RPIDS_CAP,
};
pub use ctap2::sensor::{Finger, FingerprintSensor};
pub use ctap2::uv::MAX_UV_RETRIES;
pub use ctap2::{StateError, StateFile, Transport};
pub use ctaphid_frame::Report;
pub use nfc_applet::{AppletConfig, NfcApplet, SELECT_ANSWER};
pub use udp::{
    POWER_CYCLE_DONE, POWER_CYCLE_REQUEST, PowerSwitch, RunningServer, StopHandle, UdpServer,
};
pub use vpcd::{DEFAULT_VPCD_PORT, VpcdCard, VpcdStop, atr as vpcd_atr};
