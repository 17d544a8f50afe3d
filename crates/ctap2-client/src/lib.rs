#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod bio;
mod client_pin;
mod ctap2;
mod error;
#[cfg(test)]
mod features_tests;
mod key_agreement;
mod large_blob;
mod management;
mod results;
mod rng;
#[cfg(test)]
mod tests;
mod x509;

pub use bio::{Captured, FpBioEnrollment, FpEnrollment, Sample, SensorInfo};
pub use client_pin::{
    ClientPin, MAX_PIN_BYTES, MIN_PIN_CHARS, PinRetries, PinToken, preferred_protocol,
};
pub use ctap2::{
    Ctap2, MAX_CREDENTIALS, decode_response, get_assertion_request, make_credential_request,
};
pub use error::{Error, Result};
pub use key_agreement::encapsulate;
pub use large_blob::{LARGE_BLOB_KEY_LEN, MAX_BLOB_SIZE, pack_blob, unpack_blob};
pub use management::{
    Config, CredentialInfo, CredentialManagement, CredentialsMetadata, LargeBlobs,
    MAX_LARGE_BLOB_ARRAY, RpInfo,
};
pub use results::{Assertion, Attestation, AttestationStatement, AttestationType, Required};
pub use rng::{Drawn, Randomness, SystemRandom};

/// The message types this client speaks (`ctap2-proto`), for one dependency.
pub use ctap2_proto as proto;
