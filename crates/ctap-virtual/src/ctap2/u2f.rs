//! CTAP1/U2F VERSION, REGISTER and AUTHENTICATE over CTAPHID_MSG (FIDO U2F Raw Message Formats;
//! CTAP 2.1 §10 "Interoperating with CTAP1/U2F authenticators").
//!
//! U2F key handles are this authenticator's non-discoverable ES256 credential ids, so a
//! U2F registration also works through CTAP2 getAssertion (for an RP whose rpIdHash is
//! the U2F application parameter), and a CTAP2 non-discoverable ES256 credential answers
//! U2F AUTHENTICATE, as §10 allows.
//!
//! U2F has no keep-alive: a request that needs presence is answered at once, with
//! SW_CONDITIONS_NOT_SATISFIED (the client retries) unless the touch policy approves.

use ctap2_proto::Algorithm;
use ctap2_proto::cose::CoseKey;

use super::Ctap2;
use super::attestation::BatchAttestation;
use super::keys::{CredentialId, KIND_SERVER_SIDE};
use crate::Config;

/// `SW_NO_ERROR`.
const SW_NO_ERROR: [u8; 2] = [0x90, 0x00];
/// `SW_CONDITIONS_NOT_SATISFIED`: test of user presence required.
const SW_CONDITIONS_NOT_SATISFIED: [u8; 2] = [0x69, 0x85];
/// ISO 7816-4 "no precise diagnosis" (6F00): the state could not be saved.
const SW_UNKNOWN_ERROR: [u8; 2] = [0x6F, 0x00];
/// `SW_WRONG_DATA`: bad key handle.
const SW_WRONG_DATA: [u8; 2] = [0x6A, 0x80];
/// `SW_WRONG_LENGTH`.
const SW_WRONG_LENGTH: [u8; 2] = [0x67, 0x00];
/// `SW_INS_NOT_SUPPORTED`.
const SW_INS_NOT_SUPPORTED: [u8; 2] = [0x6D, 0x00];
/// `SW_COMMAND_NOT_ALLOWED` (ISO 7816-4 "command not allowed"): CTAP1/U2F is off.
const SW_COMMAND_NOT_ALLOWED: [u8; 2] = [0x69, 0x86];

/// U2F_REGISTER.
pub(crate) const INS_REGISTER: u8 = 0x01;
/// U2F_AUTHENTICATE.
pub(crate) const INS_AUTHENTICATE: u8 = 0x02;
/// AUTHENTICATE control bytes.
const CHECK_ONLY: u8 = 0x07;
const ENFORCE_USER_PRESENCE: u8 = 0x03;
const DONT_ENFORCE_USER_PRESENCE: u8 = 0x08;

/// The response APDU (data and status word) to REGISTER or AUTHENTICATE.
pub(crate) fn respond(
    ctap2: &mut Ctap2,
    config: &Config,
    present: bool,
    ins: u8,
    p1: u8,
    data: &[u8],
) -> Vec<u8> {
    let result = match ins {
        // §7.2 alwaysUv: CTAP1/U2F is disabled while it is on (U2F has no user
        // verification), and getInfo's versions leave out U2F_V2 (`Ctap2::info`).
        // Disabled means every U2F command, VERSION included: a host that asks VERSION
        // must not hear U2F_V2 from a key whose getInfo does not list it. OpenSK
        // answers every CTAP1 command SW_COMMAND_NOT_ALLOWED while CTAP1 is not
        // allowed (its `Ctap1Command::process_command`); so does this key.
        _ if ctap2.state.always_uv => Err(SW_COMMAND_NOT_ALLOWED),
        // U2F Raw Message Formats, "GetVersion request and response".
        crate::apdu::INS_VERSION => Ok([b"U2F_V2".as_slice(), &SW_NO_ERROR].concat()),
        INS_REGISTER => ctap2.u2f_register(config, present, data),
        INS_AUTHENTICATE => ctap2.u2f_authenticate(present, p1, data),
        _ => Err(SW_INS_NOT_SUPPORTED),
    };
    // Fail closed: a counter value or key that is not durable is not sent.
    if ctap2.persist().is_err() {
        return SW_UNKNOWN_ERROR.to_vec();
    }
    result.unwrap_or_else(|sw| sw.to_vec())
}

impl Ctap2 {
    fn u2f_register(
        &mut self,
        config: &Config,
        present: bool,
        data: &[u8],
    ) -> Result<Vec<u8>, [u8; 2]> {
        let (challenge, application) = data
            .split_first_chunk::<32>()
            .filter(|_| data.len() == 64)
            .ok_or(SW_WRONG_LENGTH)?;
        let application: [u8; 32] = application.try_into().map_err(|_| SW_WRONG_LENGTH)?;
        if !present {
            return Err(SW_CONDITIONS_NOT_SATISFIED);
        }
        let header = CredentialId {
            kind: KIND_SERVER_SIDE,
            alg: Algorithm::ES256,
            cred_protect: 1,
            hmac_secret: false,
            nonce: self.rng.array(),
        };
        let master = self.state.master.as_slice();
        let key_handle = header.encode(master, &application);
        let Some(CoseKey::Es256 { x, y }) = header
            .signing_key(master, &application)
            .map(|key| key.public_key())
        else {
            return Err(SW_WRONG_DATA);
        };
        // The uncompressed SEC1 point (U2F raw message formats §4.3).
        let public = [&[0x04][..], &x, &y].concat();
        let batch = BatchAttestation::cached(&config.aaguid).ok_or(SW_WRONG_DATA)?;
        let signed = [&[0x00][..], &application, challenge, &key_handle, &public].concat();
        let signature = batch.key.sign(&signed);
        let key_handle_len = u8::try_from(key_handle.len()).map_err(|_| SW_WRONG_DATA)?;
        Ok([
            &[0x05][..],
            &public,
            &[key_handle_len],
            &key_handle,
            &batch.certificate,
            &signature,
            &SW_NO_ERROR,
        ]
        .concat())
    }

    fn u2f_authenticate(
        &mut self,
        present: bool,
        control: u8,
        data: &[u8],
    ) -> Result<Vec<u8>, [u8; 2]> {
        let (challenge, rest) = data.split_first_chunk::<32>().ok_or(SW_WRONG_LENGTH)?;
        let (application, rest) = rest.split_first_chunk::<32>().ok_or(SW_WRONG_LENGTH)?;
        let (&len, key_handle) = rest.split_first().ok_or(SW_WRONG_LENGTH)?;
        if key_handle.len() != usize::from(len) {
            return Err(SW_WRONG_LENGTH);
        }
        let master = self.state.master.as_slice();
        let header = CredentialId::decode(master, application, key_handle)
            .filter(|h| {
                h.kind == KIND_SERVER_SIDE && h.alg == Algorithm::ES256 && h.cred_protect <= 1
            })
            .ok_or(SW_WRONG_DATA)?;
        let user_presence = match control {
            // "If the key handle was created by this U2F token, the U2F token MUST
            // respond with an authentication response message:error:test-of-user-
            // presence-required".
            CHECK_ONLY => return Err(SW_CONDITIONS_NOT_SATISFIED),
            ENFORCE_USER_PRESENCE if !present => return Err(SW_CONDITIONS_NOT_SATISFIED),
            ENFORCE_USER_PRESENCE => 0x01,
            DONT_ENFORCE_USER_PRESENCE => 0x00,
            _ => return Err(SW_WRONG_DATA),
        };
        let key = header
            .signing_key(master, application)
            .ok_or(SW_WRONG_DATA)?;
        // Not `dirty`: `persist` saves only when the counter leaves its reserved block.
        self.state.sign_count = self.state.sign_count.wrapping_add(1);
        let counter = self.state.sign_count.to_be_bytes();
        let signed = [
            application.as_slice(),
            &[user_presence],
            &counter,
            challenge,
        ]
        .concat();
        let signature = key.sign(&signed);
        Ok([&[user_presence][..], &counter, &signature, &SW_NO_ERROR].concat())
    }
}
