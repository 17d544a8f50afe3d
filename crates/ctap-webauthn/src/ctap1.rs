//! CTAP1/U2F (python-fido2's `fido2.ctap1.Ctap1`): the raw messages of FIDO U2F
//! (U2F Raw Message Formats v1.2 §4-§6) as extended-length APDUs over CTAPHID_MSG (or
//! a card), with typed and verified results.
//!
//! ```text
//! request   CLA 00 | INS | P1 | P2 | 00 | Lc (2, BE) | data | Le 00 00
//! REGISTER  INS 01, data: challenge parameter (32) | application parameter (32)
//!   answer  05 | public key (65) | L | key handle (L) | X.509 certificate | signature
//! AUTH      INS 02, P1 07 check-only / 03 enforce presence / 08 don't enforce,
//!           data: challenge (32) | application (32) | L | key handle
//!   answer  user presence (1) | counter (4, BE) | signature
//! VERSION   INS 03 -> "U2F_V2"
//! ```

use std::fmt;

use ctap_device::{CallOptions, CtapDevice};
use ctap_types::Command;
use ctap2_proto::CoseKey;

/// An APDU status word other than 0x9000, as python-fido2's `ApduError`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// `SW_NO_ERROR`.
    pub const OK: Self = Self(0x9000);
    /// `SW_CONDITIONS_NOT_SATISFIED`: user presence is needed (touch, then retry).
    pub const USE_NOT_SATISFIED: Self = Self(0x6985);
    /// `SW_WRONG_DATA`: the key handle is not this authenticator's (or not for this
    /// application parameter).
    pub const WRONG_DATA: Self = Self(0x6A80);
    /// `SW_WRONG_LENGTH`.
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// `SW_INS_NOT_SUPPORTED`.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// `SW_CLA_NOT_SUPPORTED`.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusWord(0x{:04X})", self.0)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::USE_NOT_SATISFIED => " (conditions not satisfied: touch needed)",
            Self::WRONG_DATA => " (wrong data: unknown key handle)",
            Self::WRONG_LENGTH => " (wrong length)",
            Self::INS_NOT_SUPPORTED => " (instruction not supported)",
            Self::CLA_NOT_SUPPORTED => " (class not supported)",
            _ => "",
        };
        write!(f, "0x{:04X}{name}", self.0)
    }
}

/// What a U2F call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The authenticator answered with a status word other than 0x9000.
    #[error("U2F status {0}")]
    Apdu(StatusWord),
    /// The transport failed.
    #[error(transparent)]
    Device(#[from] ctap_device::Error),
    /// The answer is not what U2F defines.
    #[error("invalid U2F answer to {command}: {reason}")]
    InvalidResponse {
        /// REGISTER, AUTHENTICATE or VERSION.
        command: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A signature did not verify.
    #[error("U2F verification failed: {0}")]
    Verification(String),
    /// An argument is unusable (e.g. a key handle over 255 bytes); nothing was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// `true` when the call was cancelled.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Device(e) if e.is_cancelled())
    }

    fn invalid(command: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidResponse {
            command,
            reason: reason.into(),
        }
    }
}

/// The `P1` of AUTHENTICATE.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AuthenticateMode {
    /// 0x07: only check that the key handle is this authenticator's for the
    /// application (answers USE_NOT_SATISFIED if so, WRONG_DATA if not).
    CheckOnly,
    /// 0x03: sign after a test of user presence.
    EnforceUserPresence,
    /// 0x08: sign without a test of user presence.
    DontEnforceUserPresence,
}

impl AuthenticateMode {
    const fn p1(self) -> u8 {
        match self {
            Self::CheckOnly => 0x07,
            Self::EnforceUserPresence => 0x03,
            Self::DontEnforceUserPresence => 0x08,
        }
    }
}

/// REGISTER's answer (python-fido2's `RegistrationData`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RegistrationData {
    /// The uncompressed P-256 public key (0x04 || x || y).
    pub public_key: [u8; 65],
    /// The key handle.
    pub key_handle: Vec<u8>,
    /// The attestation certificate (DER).
    pub certificate: Vec<u8>,
    /// The attestation signature (DER ECDSA).
    pub signature: Vec<u8>,
}

/// AUTHENTICATE's answer (python-fido2's `SignatureData`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignatureData {
    /// The user presence byte (bit 0: a user was present).
    pub user_presence: u8,
    /// The signature counter.
    pub counter: u32,
    /// The signature (DER ECDSA) over application || presence || counter ||
    /// challenge.
    pub signature: Vec<u8>,
}

impl RegistrationData {
    /// Parses REGISTER's answer (status word removed).
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] saying what is wrong.
    pub fn from_bytes(data: &[u8]) -> Result<Self, Error> {
        let bad = |reason: &str| Error::invalid("REGISTER", reason);
        let (&reserved, rest) = data.split_first().ok_or_else(|| bad("empty"))?;
        if reserved != 0x05 {
            return Err(bad(&format!(
                "reserved byte 0x{reserved:02X}, expected 0x05"
            )));
        }
        let (key, rest) = rest
            .split_at_checked(65)
            .ok_or_else(|| bad("short public key"))?;
        let public_key: [u8; 65] = key.try_into().map_err(|_| bad("short public key"))?;
        if public_key[0] != 0x04 {
            return Err(bad("public key is not an uncompressed point"));
        }
        let (&handle_len, rest) = rest
            .split_first()
            .ok_or_else(|| bad("no key handle length"))?;
        let (key_handle, rest) = rest
            .split_at_checked(usize::from(handle_len))
            .ok_or_else(|| bad("short key handle"))?;
        let cert_len = der_length(rest).ok_or_else(|| bad("certificate is not DER"))?;
        let (certificate, signature) = rest
            .split_at_checked(cert_len)
            .ok_or_else(|| bad("short certificate"))?;
        if signature.is_empty() {
            return Err(bad("no signature"));
        }
        Ok(Self {
            public_key,
            key_handle: key_handle.to_vec(),
            certificate: certificate.to_vec(),
            signature: signature.to_vec(),
        })
    }

    /// Verifies the attestation signature over 0x00 || application || challenge ||
    /// key handle || public key with the certificate's P-256 key (U2F Raw Message
    /// Formats §4.3).
    ///
    /// # Errors
    /// [`Error::Verification`] when the certificate has no P-256 key or the signature
    /// does not verify.
    pub fn verify(&self, app_param: &[u8; 32], client_param: &[u8; 32]) -> Result<(), Error> {
        let key = certificate_p256_key(&self.certificate).ok_or_else(|| {
            Error::Verification("attestation certificate without a P-256 key".into())
        })?;
        let signed = [
            &[0x00][..],
            app_param,
            client_param,
            &self.key_handle,
            &self.public_key,
        ]
        .concat();
        if key.verify(&signed, &self.signature) {
            Ok(())
        } else {
            Err(Error::Verification(
                "registration signature does not verify".into(),
            ))
        }
    }

    /// The credential public key as a COSE ES256 key.
    ///
    /// # Errors
    /// Never for a parsed answer (the point's length is checked when parsing).
    pub fn cose_key(&self) -> Result<CoseKey, Error> {
        point_to_cose(&self.public_key)
            .ok_or_else(|| Error::invalid("REGISTER", "public key is not a P-256 point"))
    }
}

impl SignatureData {
    /// Parses AUTHENTICATE's answer (status word removed).
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] for an answer shorter than 6 bytes.
    pub fn from_bytes(data: &[u8]) -> Result<Self, Error> {
        let (head, signature) = data
            .split_at_checked(5)
            .filter(|(_, s)| !s.is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    "AUTHENTICATE",
                    "shorter than presence, counter and a signature",
                )
            })?;
        let (&user_presence, counter) = head
            .split_first()
            .ok_or_else(|| Error::invalid("AUTHENTICATE", "empty"))?;
        let counter: [u8; 4] = counter
            .try_into()
            .map_err(|_| Error::invalid("AUTHENTICATE", "short counter"))?;
        Ok(Self {
            user_presence,
            counter: u32::from_be_bytes(counter),
            signature: signature.to_vec(),
        })
    }

    /// Verifies the signature over application || presence || counter || challenge
    /// with the credential's `public_key` (U2F Raw Message Formats §5.4).
    ///
    /// # Errors
    /// [`Error::Verification`] when it does not verify.
    pub fn verify(
        &self,
        app_param: &[u8; 32],
        client_param: &[u8; 32],
        public_key: &CoseKey,
    ) -> Result<(), Error> {
        let signed = [
            &app_param[..],
            &[self.user_presence],
            &self.counter.to_be_bytes(),
            client_param,
        ]
        .concat();
        if public_key.verify(&signed, &self.signature) {
            Ok(())
        } else {
            Err(Error::Verification(
                "authentication signature does not verify".into(),
            ))
        }
    }
}

/// A U2F authenticator behind a [`CtapDevice`] (python-fido2's `Ctap1`).
pub struct Ctap1<D> {
    device: D,
}

impl<D> fmt::Debug for Ctap1<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctap1").finish_non_exhaustive()
    }
}

const INS_REGISTER: u8 = 0x01;
const INS_AUTHENTICATE: u8 = 0x02;
const INS_VERSION: u8 = 0x03;

impl<D: CtapDevice> Ctap1<D> {
    /// U2F over `device`.
    pub fn new(device: D) -> Self {
        Self { device }
    }

    /// The device, mutably.
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// Gives the device back.
    pub fn into_device(self) -> D {
        self.device
    }

    /// Sends one APDU (extended length, python-fido2's `send_apdu`) and returns the
    /// answer's data after a 0x9000 status word.
    ///
    /// # Errors
    /// [`Error::Apdu`] for another status word, [`Error::Device`] from the transport,
    /// [`Error::InvalidArgument`] for data over 65535 bytes.
    pub fn send_apdu(
        &mut self,
        ins: u8,
        p1: u8,
        p2: u8,
        data: &[u8],
        options: CallOptions<'_>,
    ) -> Result<Vec<u8>, Error> {
        let len = u16::try_from(data.len())
            .map_err(|_| Error::InvalidArgument(format!("{} bytes of APDU data", data.len())))?;
        let mut apdu = vec![0x00, ins, p1, p2, 0x00];
        apdu.extend_from_slice(&len.to_be_bytes());
        apdu.extend_from_slice(data);
        apdu.extend_from_slice(&[0x00, 0x00]);
        let mut answer = self.device.call_with(Command::MSG, &apdu, options)?;
        let split = answer
            .len()
            .checked_sub(2)
            .ok_or_else(|| Error::invalid("an APDU", "no status word"))?;
        let sw = answer.split_off(split);
        let sw = StatusWord(u16::from_be_bytes([sw[0], sw[1]]));
        if sw == StatusWord::OK {
            Ok(answer)
        } else {
            Err(Error::Apdu(sw))
        }
    }

    /// VERSION: "U2F_V2" on every U2F authenticator.
    ///
    /// # Errors
    /// As [`send_apdu`](Self::send_apdu); [`Error::InvalidResponse`] if not text.
    pub fn get_version(&mut self) -> Result<String, Error> {
        let answer = self.send_apdu(INS_VERSION, 0, 0, &[], CallOptions::default())?;
        String::from_utf8(answer).map_err(|_| Error::invalid("VERSION", "not UTF-8"))
    }

    /// REGISTER: a new key pair for the application. Answers USE_NOT_SATISFIED
    /// ([`Error::Apdu`]) until the user touches the key: poll.
    ///
    /// # Errors
    /// As [`send_apdu`](Self::send_apdu); the parse errors of
    /// [`RegistrationData::from_bytes`].
    pub fn register(
        &mut self,
        client_param: &[u8; 32],
        app_param: &[u8; 32],
        options: CallOptions<'_>,
    ) -> Result<RegistrationData, Error> {
        let data = [&client_param[..], app_param].concat();
        RegistrationData::from_bytes(&self.send_apdu(INS_REGISTER, 0, 0, &data, options)?)
    }

    /// AUTHENTICATE with a key handle. [`AuthenticateMode::CheckOnly`] never signs:
    /// it answers USE_NOT_SATISFIED when the handle is this authenticator's.
    ///
    /// # Errors
    /// As [`send_apdu`](Self::send_apdu); [`Error::InvalidArgument`] for a key handle
    /// over 255 bytes.
    pub fn authenticate(
        &mut self,
        client_param: &[u8; 32],
        app_param: &[u8; 32],
        key_handle: &[u8],
        mode: AuthenticateMode,
        options: CallOptions<'_>,
    ) -> Result<SignatureData, Error> {
        let len = u8::try_from(key_handle.len()).map_err(|_| {
            Error::InvalidArgument(format!(
                "a key handle of {} bytes (U2F: at most 255)",
                key_handle.len()
            ))
        })?;
        let data = [&client_param[..], app_param, &[len], key_handle].concat();
        SignatureData::from_bytes(&self.send_apdu(
            INS_AUTHENTICATE,
            mode.p1(),
            0,
            &data,
            options,
        )?)
    }
}

/// The COSE key of an uncompressed P-256 point.
pub(crate) fn point_to_cose(point: &[u8; 65]) -> Option<CoseKey> {
    let key = p256::PublicKey::from_sec1_bytes(point).ok()?;
    Some(CoseKey::from_p256(&key))
}

/// The length of the DER element at the start of `data` (tag, length, contents).
fn der_length(data: &[u8]) -> Option<usize> {
    let (header, contents) = der_header(data)?;
    header.checked_add(contents)
}

/// The header length and the contents length of the DER element at `data`.
fn der_header(data: &[u8]) -> Option<(usize, usize)> {
    let first = *data.get(1)?;
    if first < 0x80 {
        return Some((2, usize::from(first)));
    }
    let count = usize::from(first & 0x7F);
    if count == 0 || count > 4 {
        return None;
    }
    let bytes = data.get(2..2 + count)?;
    let len = bytes
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Some((2 + count, len))
}

/// The elements of a DER SEQUENCE's contents, as (tag, whole element) pairs.
fn der_children(mut contents: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !contents.is_empty() {
        if out.len() > 32 {
            return None;
        }
        let len = der_length(contents)?;
        let (element, rest) = contents.split_at_checked(len)?;
        out.push((*element.first()?, element));
        contents = rest;
    }
    Some(out)
}

fn der_contents(element: &[u8]) -> Option<&[u8]> {
    let (header, len) = der_header(element)?;
    element.get(header..header.checked_add(len)?)
}

/// The P-256 key of an X.509 certificate's SubjectPublicKeyInfo.
fn certificate_p256_key(certificate: &[u8]) -> Option<CoseKey> {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
    let cert = der_children(der_contents(certificate)?)?;
    let (_, tbs) = cert.first()?;
    // tbsCertificate ::= SEQUENCE { [0] version OPTIONAL, serial, signature, issuer,
    //   validity, subject, subjectPublicKeyInfo, ... }
    let fields = der_children(der_contents(tbs)?)?;
    let skip = usize::from(fields.first()?.0 == 0xA0);
    let (_, spki) = fields.get(skip + 5)?;
    let spki = der_children(der_contents(spki)?)?;
    let (tag, bits) = spki.get(1)?;
    if *tag != 0x03 {
        return None;
    }
    // BIT STRING: unused-bits byte 0, then the uncompressed point.
    let point = der_contents(bits)?.strip_prefix(&[0x00])?;
    let point: [u8; 65] = point.try_into().ok()?;
    point_to_cose(&point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert!(SignatureData::from_bytes(&[1, 0, 0, 0, 5]).is_err());
        let sig = SignatureData::from_bytes(&[1, 0, 0, 1, 0, 0x30]).unwrap();
        assert_eq!(
            (sig.user_presence, sig.counter, sig.signature.as_slice()),
            (1, 256, &[0x30][..])
        );
        assert!(RegistrationData::from_bytes(&[]).is_err());
        assert!(RegistrationData::from_bytes(&[0x04]).is_err());
        // A huge DER length is refused, not allocated.
        let mut data = vec![0x05, 0x04];
        data.extend_from_slice(&[0; 64]);
        data.extend_from_slice(&[1, 0xAA, 0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(RegistrationData::from_bytes(&data).is_err());
    }
}
