//! `ClientPin`: the PIN/UV auth protocols from the platform's side (python-fido2's
//! `fido2.ctap2.pin.ClientPin`).

use std::fmt;

use ctap_device::{CallOptions, CtapDevice};
use ctap_types::Ctap2Command;
use ctap2_proto::cbor::CborMessage as _;
use ctap2_proto::pin::{pad_pin, pin_hash};
use ctap2_proto::{
    ClientPinRequest, ClientPinResponse, CoseKey, GetAssertionRequest, MakeCredentialRequest,
    Permissions, PinProtocol, PinSubCommand, SharedSecret,
};
use zeroize::Zeroizing;

use crate::rng::Drawn;
use crate::{Ctap2, Error, Result};

/// The shortest PIN (CTAP 2.1 §6.5.5.5: at least 4 Unicode code points).
pub const MIN_PIN_CHARS: usize = 4;
/// The longest PIN in bytes of UTF-8 (§6.5.5.5).
pub const MAX_PIN_BYTES: usize = 63;

/// The PIN/UV auth protocol of an authenticator: the client's preference (two, then
/// one, as python-fido2) among those getInfo lists. A CTAP 2.0 authenticator that lists
/// none but has `clientPin` speaks protocol one.
#[must_use]
pub fn preferred_protocol(info: &ctap2_proto::Info) -> Option<PinProtocol> {
    if info.pin_uv_auth_protocols.is_empty() {
        return info
            .option("clientPin")
            .is_some()
            .then_some(PinProtocol::One);
    }
    [PinProtocol::Two, PinProtocol::One]
        .into_iter()
        .find(|p| info.pin_uv_auth_protocols.contains(&u64::from(p.number())))
}

/// getPINRetries' answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PinRetries {
    /// PIN attempts left before the PIN blocks.
    pub retries: u64,
    /// `true` when the authenticator wants a power cycle before the next attempt (three
    /// wrong PINs in a row).
    pub power_cycle_state: Option<bool>,
}

/// A pinUvAuthToken: authenticates the requests its permissions allow. The token's
/// bytes are zeroized on drop and never printed.
#[derive(Clone)]
pub struct PinToken {
    protocol: PinProtocol,
    token: Zeroizing<Vec<u8>>,
    permissions: Permissions,
    rp_id: Option<String>,
}

impl fmt::Debug for PinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinToken")
            .field("protocol", &self.protocol)
            .field("permissions", &self.permissions)
            .field("rp_id", &self.rp_id)
            .finish_non_exhaustive()
    }
}

impl PinToken {
    /// A token from its plain bytes (e.g. kept by the caller from an earlier call).
    #[must_use]
    pub fn new(protocol: PinProtocol, token: Vec<u8>, permissions: Permissions) -> Self {
        Self {
            protocol,
            token: Zeroizing::new(token),
            permissions,
            rp_id: None,
        }
    }

    /// The protocol the token belongs to.
    #[must_use]
    pub const fn protocol(&self) -> PinProtocol {
        self.protocol
    }

    /// The permissions asked for (the legacy getPinToken grants makeCredential and
    /// getAssertion only).
    #[must_use]
    pub const fn permissions(&self) -> Permissions {
        self.permissions
    }

    /// The RP id the permissions were bound to, if any.
    #[must_use]
    pub fn rp_id(&self) -> Option<&str> {
        self.rp_id.as_deref()
    }

    /// `authenticate(pinUvAuthToken, message)`: a pinUvAuthParam.
    #[must_use]
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(&self.token, message)
    }

    /// Sets `pinUvAuthParam` (over the clientDataHash) and `pinUvAuthProtocol`.
    pub fn authorize_make_credential(&self, request: &mut MakeCredentialRequest) {
        request.pin_uv_auth_param = Some(self.authenticate(&request.client_data_hash));
        request.pin_uv_auth_protocol = Some(u64::from(self.protocol.number()));
    }

    /// Sets `pinUvAuthParam` (over the clientDataHash) and `pinUvAuthProtocol`.
    pub fn authorize_get_assertion(&self, request: &mut GetAssertionRequest) {
        request.pin_uv_auth_param = Some(self.authenticate(&request.client_data_hash));
        request.pin_uv_auth_protocol = Some(u64::from(self.protocol.number()));
    }
}

/// The clientPIN command with one PIN/UV auth protocol.
///
/// ```text
/// python-fido2                          here
/// ClientPin(ctap, protocol=None)        ClientPin::new(&mut ctap) / ::with_protocol
/// get_pin_retries()                     get_pin_retries() -> PinRetries
/// get_uv_retries()                      get_uv_retries()
/// set_pin(pin) / change_pin(old, new)   set_pin(pin) / change_pin(old, new)
/// get_pin_token(pin, permissions, rpid) get_pin_token(pin, permissions, rp_id)
/// get_uv_token(permissions, rpid)       get_uv_token(permissions, rp_id, options)
/// ```
#[derive(Debug)]
pub struct ClientPin<'c, D> {
    ctap: &'c mut Ctap2<D>,
    protocol: PinProtocol,
}

impl<'c, D: CtapDevice> ClientPin<'c, D> {
    /// ClientPin with the protocol chosen from getInfo ([`preferred_protocol`]).
    ///
    /// # Errors
    /// [`Error::Unsupported`] if the authenticator has no `clientPin` option or no
    /// protocol this client speaks.
    pub fn new(ctap: &'c mut Ctap2<D>) -> Result<Self> {
        if !Self::is_supported(ctap.info()) {
            return Err(Error::Unsupported("clientPIN".into()));
        }
        let protocol = preferred_protocol(ctap.info()).ok_or_else(|| {
            Error::Unsupported(format!(
                "PIN/UV auth protocols {:?} (this client speaks 1 and 2)",
                ctap.info().pin_uv_auth_protocols
            ))
        })?;
        Ok(Self { ctap, protocol })
    }

    /// ClientPin with a given protocol (not checked against getInfo).
    pub fn with_protocol(ctap: &'c mut Ctap2<D>, protocol: PinProtocol) -> Self {
        Self { ctap, protocol }
    }

    /// Whether the authenticator has clientPIN (the `clientPin` option, set or not).
    #[must_use]
    pub fn is_supported(info: &ctap2_proto::Info) -> bool {
        info.option("clientPin").is_some()
    }

    /// Whether the authenticator grants tokens with permissions (`pinUvAuthToken`).
    #[must_use]
    pub fn is_token_supported(info: &ctap2_proto::Info) -> bool {
        info.option("pinUvAuthToken") == Some(true)
    }

    /// The protocol in use.
    #[must_use]
    pub const fn protocol(&self) -> PinProtocol {
        self.protocol
    }

    /// getPINRetries.
    ///
    /// # Errors
    /// As [`Ctap2::client_pin`]; [`Error::InvalidResponse`] without `pinRetries`.
    pub fn get_pin_retries(&mut self) -> Result<PinRetries> {
        let response = self.send(ClientPinRequest::new(
            PinSubCommand::GET_PIN_RETRIES,
            Some(self.number()),
        ))?;
        Ok(PinRetries {
            retries: response.pin_retries.ok_or_else(|| missing("pinRetries"))?,
            power_cycle_state: response.power_cycle_state,
        })
    }

    /// getUVRetries.
    ///
    /// # Errors
    /// As [`Ctap2::client_pin`]; [`Error::InvalidResponse`] without `uvRetries`.
    pub fn get_uv_retries(&mut self) -> Result<u64> {
        let response = self.send(ClientPinRequest::new(
            PinSubCommand::GET_UV_RETRIES,
            Some(self.number()),
        ))?;
        response.uv_retries.ok_or_else(|| missing("uvRetries"))
    }

    /// setPIN: sets the first PIN.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a PIN under 4 characters or over 63 bytes;
    /// `PIN_AUTH_INVALID` when a PIN is set already (CTAP 2.1 §6.5.5.5 step 3; some keys
    /// answer `NOT_ALLOWED`), `PIN_POLICY_VIOLATION` under the
    /// authenticator's minimum length.
    pub fn set_pin(&mut self, pin: &str) -> Result<()> {
        let padded = checked_pad(pin)?;
        let (key_agreement, shared) = self.shared_secret()?;
        let new_pin_enc = self.encrypt(&shared, &padded)?;
        let mut request = ClientPinRequest::new(PinSubCommand::SET_PIN, Some(self.number()));
        request.pin_uv_auth_param = Some(shared.authenticate(&new_pin_enc));
        request.key_agreement = Some(key_agreement);
        request.new_pin_enc = Some(new_pin_enc);
        self.send(request).map(drop)
    }

    /// changePIN.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a new PIN under 4 characters or over 63 bytes;
    /// `PIN_INVALID` for a wrong `old_pin`, `PIN_BLOCKED`, `PIN_AUTH_BLOCKED`,
    /// `PIN_POLICY_VIOLATION`.
    pub fn change_pin(&mut self, old_pin: &str, new_pin: &str) -> Result<()> {
        let padded = checked_pad(new_pin)?;
        let old_hash = Zeroizing::new(pin_hash(old_pin));
        let (key_agreement, shared) = self.shared_secret()?;
        let pin_hash_enc = self.encrypt(&shared, old_hash.as_slice())?;
        let new_pin_enc = self.encrypt(&shared, &padded)?;
        let mut request = ClientPinRequest::new(PinSubCommand::CHANGE_PIN, Some(self.number()));
        request.pin_uv_auth_param =
            Some(shared.authenticate(&[new_pin_enc.as_slice(), &pin_hash_enc].concat()));
        request.key_agreement = Some(key_agreement);
        request.new_pin_enc = Some(new_pin_enc);
        request.pin_hash_enc = Some(pin_hash_enc);
        self.send(request).map(drop)
    }

    /// A pinUvAuthToken from the PIN: getPinUvAuthTokenUsingPinWithPermissions when the
    /// authenticator has `pinUvAuthToken`, else the legacy getPinToken (which ignores
    /// `permissions` and `rp_id`).
    ///
    /// # Errors
    /// `PIN_INVALID` (a retry is used up), `PIN_BLOCKED`, `PIN_AUTH_BLOCKED` (power
    /// cycle needed), `PIN_NOT_SET`, `UNAUTHORIZED_PERMISSION`;
    /// [`Error::InvalidResponse`] when the token cannot be decrypted.
    pub fn get_pin_token(
        &mut self,
        pin: &str,
        permissions: Permissions,
        rp_id: Option<&str>,
    ) -> Result<PinToken> {
        let hash = Zeroizing::new(pin_hash(pin));
        let (key_agreement, shared) = self.shared_secret()?;
        let pin_hash_enc = self.encrypt(&shared, hash.as_slice())?;
        let with_permissions = Self::is_token_supported(self.ctap.info());
        let mut request = if with_permissions {
            let mut request = ClientPinRequest::new(
                PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS,
                Some(self.number()),
            );
            request.permissions = Some(permissions.0);
            request.rp_id = rp_id.map(str::to_owned);
            request
        } else {
            ClientPinRequest::new(PinSubCommand::GET_PIN_TOKEN, Some(self.number()))
        };
        request.key_agreement = Some(key_agreement);
        request.pin_hash_enc = Some(pin_hash_enc);
        let response = self.send(request)?;
        let granted = if with_permissions {
            permissions
        } else {
            Permissions(Permissions::MAKE_CREDENTIAL.0 | Permissions::GET_ASSERTION.0)
        };
        self.token(
            &shared,
            response,
            granted,
            rp_id.filter(|_| with_permissions),
        )
    }

    /// A pinUvAuthToken from built-in user verification
    /// (getPinUvAuthTokenUsingUvWithPermissions); may wait for the user, so it takes
    /// call options (cancel, keep-alive).
    ///
    /// # Errors
    /// [`Error::Unsupported`] without the `uv` and `pinUvAuthToken` options;
    /// `UV_INVALID`, `UV_BLOCKED`, `KEEPALIVE_CANCEL`.
    pub fn get_uv_token(
        &mut self,
        permissions: Permissions,
        rp_id: Option<&str>,
        options: CallOptions<'_>,
    ) -> Result<PinToken> {
        if !Self::is_token_supported(self.ctap.info())
            || self.ctap.info().option("uv") != Some(true)
        {
            return Err(Error::Unsupported(
                "built-in user verification tokens".into(),
            ));
        }
        let (key_agreement, shared) = self.shared_secret()?;
        let mut request = ClientPinRequest::new(
            PinSubCommand::GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS,
            Some(self.number()),
        );
        request.key_agreement = Some(key_agreement);
        request.permissions = Some(permissions.0);
        request.rp_id = rp_id.map(str::to_owned);
        let answer =
            self.ctap
                .send_cbor(Ctap2Command::CLIENT_PIN, Some(&request.to_value()), options)?;
        let response = answer
            .map(ClientPinResponse::from_value)
            .transpose()
            .map_err(Error::response("authenticatorClientPIN"))?
            .unwrap_or_default();
        self.token(&shared, response, permissions, rp_id)
    }

    /// getKeyAgreement, then the platform's half of the key agreement: the key to
    /// send and the shared secret (python-fido2's `_get_shared_secret`).
    ///
    /// # Errors
    /// As [`Ctap2::client_pin`]; [`Error::InvalidResponse`] when the authenticator's
    /// key is missing or not on P-256.
    pub fn shared_secret(&mut self) -> Result<(CoseKey, SharedSecret)> {
        let response = self.send(ClientPinRequest::new(
            PinSubCommand::GET_KEY_AGREEMENT,
            Some(self.number()),
        ))?;
        let peer = response
            .key_agreement
            .ok_or_else(|| missing("keyAgreement"))?;
        crate::key_agreement::encapsulate(self.protocol, &peer, self.ctap.rng())
    }

    fn number(&self) -> u64 {
        u64::from(self.protocol.number())
    }

    fn send(&mut self, request: ClientPinRequest) -> Result<ClientPinResponse> {
        self.ctap.client_pin(&request)
    }

    fn encrypt(&mut self, shared: &SharedSecret, plaintext: &[u8]) -> Result<Vec<u8>> {
        // Protocol two draws a 16-byte IV; protocol one uses none.
        let iv_len = match self.protocol {
            PinProtocol::One => 0,
            PinProtocol::Two => 16,
        };
        let mut rng = Drawn::new(self.ctap.rng(), iv_len)?;
        shared
            .encrypt(plaintext, &mut rng)
            .map_err(|e| Error::InvalidArgument(e.to_string()))
    }

    fn token(
        &self,
        shared: &SharedSecret,
        response: ClientPinResponse,
        permissions: Permissions,
        rp_id: Option<&str>,
    ) -> Result<PinToken> {
        let encrypted = response
            .pin_uv_auth_token
            .ok_or_else(|| missing("pinUvAuthToken"))?;
        let token = shared
            .decrypt(&encrypted)
            .map_err(Error::response("pinUvAuthToken"))?;
        let valid = match self.protocol {
            PinProtocol::One => matches!(token.len(), 16 | 32),
            PinProtocol::Two => token.len() == 32,
        };
        if !valid {
            return Err(Error::response("pinUvAuthToken")(
                ctap2_proto::Error::InvalidLength("token length"),
            ));
        }
        Ok(PinToken {
            protocol: self.protocol,
            token,
            permissions,
            rp_id: rp_id.map(str::to_owned),
        })
    }
}

fn missing(what: &'static str) -> Error {
    Error::response("authenticatorClientPIN")(ctap2_proto::Error::MissingParameter(what))
}

/// The padded PIN, after the length checks python-fido2 makes too.
fn checked_pad(pin: &str) -> Result<Zeroizing<Vec<u8>>> {
    if pin.chars().count() < MIN_PIN_CHARS {
        return Err(Error::InvalidArgument(format!(
            "a PIN has at least {MIN_PIN_CHARS} characters"
        )));
    }
    if pin.len() > MAX_PIN_BYTES {
        return Err(Error::InvalidArgument(format!(
            "a PIN has at most {MAX_PIN_BYTES} bytes of UTF-8, this one {}",
            pin.len()
        )));
    }
    pad_pin(pin).map_err(|e| Error::InvalidArgument(e.to_string()))
}
