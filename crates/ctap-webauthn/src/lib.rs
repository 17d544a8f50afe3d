#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod b64;
mod client;
mod client_data;
pub mod ctap1;
mod error;
pub mod extensions;
mod json;
mod webauthn;

pub use b64::{decode as base64url_decode, encode as base64url_encode};
pub use client::{
    AssertionSelection, DEFAULT_U2F_TIMEOUT, Fido2Client, FixedPin, MAX_ASSERTIONS,
    U2F_POLL_INTERVAL, UserInteraction, should_use_uv,
};
pub use client_data::{
    ClientDataCollector, CollectedClientData, DefaultClientDataCollector, Operation, Origin,
    TYPE_CREATE, TYPE_GET, parse_origin, verify_app_id, verify_rp_id,
};
pub use error::{Error, Result};
pub use json::MAX_OPTIONS_JSON;
pub use webauthn::{
    AssertionResponse, AttestationConveyance, AttestationResponse, AuthenticationResponse,
    AuthenticatorSelection, CreationOptions, CredentialDescriptor, CredentialParameters,
    MAX_CHALLENGE, MAX_CRED_PARAMS, MAX_CREDENTIAL_ID, MAX_CREDENTIALS, MAX_NAME, MAX_RP_ID,
    MAX_SHORT_LIST, MAX_TOKEN, MAX_USER_ID, RegistrationResponse, RequestOptions, ResidentKey,
    RpEntity, UserEntity, UserVerification,
};
