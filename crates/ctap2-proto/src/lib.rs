#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod authdata;
pub mod bio;
pub mod cbor;
pub mod client_pin;
mod codes;
pub mod cose;
pub mod credentials;
pub mod crypto;
pub mod entities;
pub mod info;
pub mod management;
pub mod pin;

pub use authdata::{AttestedCredentialData, AuthenticatorData, Flags};
pub use bio::{
    BioEnrollmentParams, BioEnrollmentRequest, BioEnrollmentResponse, BioSubCommand, SampleStatus,
    TemplateInfo,
};
pub use cbor::{CborMessage, DecodeMode, Error, Value};
pub use client_pin::{ClientPinRequest, ClientPinResponse, PinSubCommand};
pub use cose::{Algorithm, CoseKey};
pub use credentials::{
    GetAssertionRequest, GetAssertionResponse, MakeCredentialRequest, MakeCredentialResponse,
};
pub use entities::{CredentialDescriptor, CredentialParameters, Options, RpEntity, UserEntity};
pub use info::Info;
pub use management::{
    ConfigRequest, ConfigSubCommand, CredMgmtSubCommand, CredentialManagementRequest,
    CredentialManagementResponse, LargeBlobsRequest, LargeBlobsResponse,
};
pub use pin::{KeyAgreementKey, Permissions, PinProtocol, SharedSecret};
