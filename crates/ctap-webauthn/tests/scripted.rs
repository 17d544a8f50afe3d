//! The client against authenticators that answer what a script says: the software
//! authenticator behind a wrapper that edits its answers (getInfo without an
//! extension, an hmac-secret output of the wrong length) or adds what it lacks (a
//! large-blob store and largeBlobKeys, as a CTAP 2.1 key with large blobs has).

use ctap_device::{CallOptions, CtapDevice};
use ctap_types::{Capabilities, Command};
use ctap_virtual::{Config, VirtualAuthenticator};
use ctap_webauthn::{
    CreationOptions, DefaultClientDataCollector, Error, Fido2Client, FixedPin, RequestOptions,
    base64url_encode,
};
use ctap2_client::proto::cbor::{CborMessage, Value};
use ctap2_client::proto::{
    AuthenticatorData, GetAssertionResponse, Info, LargeBlobsResponse, MakeCredentialResponse,
};
use serde_json::{Value as Json, json};

type Edit<T> = Box<dyn FnMut(&mut T)>;

/// The software authenticator with its answers edited.
struct Scripted<D> {
    inner: D,
    info: Option<Edit<Info>>,
    made: Option<Edit<MakeCredentialResponse>>,
    asserted: Option<Edit<GetAssertionResponse>>,
    blobs: Option<Edit<LargeBlobsResponse>>,
    /// getAssertion requests sent.
    get_assertions: std::rc::Rc<std::cell::Cell<u32>>,
}

impl<D> Scripted<D> {
    fn new(inner: D) -> Self {
        Self {
            inner,
            info: None,
            made: None,
            asserted: None,
            blobs: None,
            get_assertions: std::rc::Rc::default(),
        }
    }
}

fn edit<T: CborMessage>(answer: Vec<u8>, f: &mut Edit<T>) -> Vec<u8> {
    if answer.first() != Some(&0) {
        return answer;
    }
    let mut value =
        T::from_cbor_with(&answer[1..], ctap2_client::proto::DecodeMode::Relaxed).unwrap();
    f(&mut value);
    let mut out = vec![0];
    value.to_value().encode_into(&mut out);
    out
}

impl<D: CtapDevice> CtapDevice for Scripted<D> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn call_with(
        &mut self,
        command: Command,
        data: &[u8],
        options: CallOptions<'_>,
    ) -> Result<Vec<u8>, ctap_device::Error> {
        if command == Command::CBOR && data.first() == Some(&0x02) {
            self.get_assertions.set(self.get_assertions.get() + 1);
        }
        let answer = self.inner.call_with(command, data, options)?;
        if command != Command::CBOR {
            return Ok(answer);
        }
        Ok(match data.first() {
            Some(0x04) => match &mut self.info {
                Some(f) => edit(answer, f),
                None => answer,
            },
            Some(0x01) => match &mut self.made {
                Some(f) => edit(answer, f),
                None => answer,
            },
            Some(0x02) => match &mut self.asserted {
                Some(f) => edit(answer, f),
                None => answer,
            },
            Some(0x0C) => match &mut self.blobs {
                Some(f) => edit(answer, f),
                None => answer,
            },
            _ => answer,
        })
    }

    fn close(&mut self) {
        self.inner.close();
    }
}

const ORIGIN: &str = "https://example.com";

fn creation(extensions: Json) -> CreationOptions {
    CreationOptions::from_value(&json!({
        "rp": {"id": "example.com", "name": "Example"},
        "user": {"id": base64url_encode(b"user"), "name": "a", "displayName": "A"},
        "challenge": base64url_encode(&[1; 16]),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        "extensions": extensions,
    }))
    .unwrap()
}

fn request(id: &str, extensions: Json) -> RequestOptions {
    RequestOptions::from_value(&json!({
        "challenge": base64url_encode(&[2; 16]),
        "rpId": "example.com",
        "allowCredentials": [{"type": "public-key", "id": id}],
        "extensions": extensions,
    }))
    .unwrap()
}

fn client<D: CtapDevice + 'static>(device: D) -> Fido2Client<D> {
    Fido2Client::new(
        device,
        DefaultClientDataCollector::new(ORIGIN),
        FixedPin::new(None),
    )
    .unwrap()
}

#[test]
fn enforced_cred_protect_on_an_authenticator_without_it_is_refused() {
    let authenticator = VirtualAuthenticator::new(Config::default());
    let mut device = Scripted::new(authenticator.open_device().unwrap());
    device.info = Some(Box::new(|info: &mut Info| {
        info.extensions.retain(|e| e != "credProtect")
    }));
    let mut client = client(device);
    let enforced = creation(json!({
        "credentialProtectionPolicy": "userVerificationOptionalWithCredentialIDList",
        "enforceCredentialProtectionPolicy": true,
    }));
    let error = client.make_credential(&enforced, None).unwrap_err();
    assert!(matches!(error, Error::Unsupported(_)), "{error}");
    // Not enforced: created without the extension (CTAP 2.1 §12.1 client step 2).
    let lenient = creation(
        json!({"credentialProtectionPolicy": "userVerificationOptionalWithCredentialIDList"}),
    );
    let registration = client.make_credential(&lenient, None).unwrap();
    let auth_data =
        AuthenticatorData::from_bytes(&registration.response.authenticator_data).unwrap();
    assert_eq!(auth_data.extensions, None);
}

/// Replaces the hmac-secret output of the authenticator data with `output(old)`.
fn replace_hmac_output(response: &mut GetAssertionResponse, output: impl Fn(&[u8]) -> Vec<u8>) {
    let mut auth_data = AuthenticatorData::from_bytes(&response.auth_data).unwrap();
    if let Some(Value::Map(entries)) = auth_data.extensions.as_mut() {
        for (key, value) in entries.iter_mut() {
            if *key == Value::text("hmac-secret") {
                let Value::Bytes(old) = value else { panic!() };
                *value = Value::Bytes(output(old));
            }
        }
    }
    response.auth_data = auth_data.to_bytes();
}

#[test]
fn an_hmac_secret_output_of_the_wrong_length_is_an_error() {
    let authenticator = VirtualAuthenticator::new(Config::default());
    let registration = client(authenticator.open_device().unwrap())
        .make_credential(&creation(json!({"prf": {}})), None)
        .unwrap();
    let prf = json!({"prf": {"eval": {"first": "AA", "second": "AQ"}}});
    // Protocol two: IV (16) || two blocks per salt. Dropping the last block leaves 48
    // bytes for two salts.
    let mut device = Scripted::new(authenticator.open_device().unwrap());
    device.asserted = Some(Box::new(|r: &mut GetAssertionResponse| {
        replace_hmac_output(r, |old| old[..old.len() - 16].to_vec())
    }));
    let error = client(device)
        .get_assertion(&request(&registration.id, prf.clone()), None)
        .unwrap_err();
    assert!(
        error.to_string().contains("48 bytes for 2 salt(s)"),
        "{error}"
    );
    // Not a byte string at all.
    let mut device = Scripted::new(authenticator.open_device().unwrap());
    device.asserted = Some(Box::new(|r: &mut GetAssertionResponse| {
        let mut auth_data = AuthenticatorData::from_bytes(&r.auth_data).unwrap();
        auth_data.extensions = Some(Value::Map(vec![(
            Value::text("hmac-secret"),
            Value::Bool(true),
        )]));
        r.auth_data = auth_data.to_bytes();
    }));
    let error = client(device)
        .get_assertion(&request(&registration.id, prf.clone()), None)
        .unwrap_err();
    assert!(matches!(error, Error::InvalidResponse(_)), "{error}");
    // Unedited, the same request works.
    client(authenticator.open_device().unwrap())
        .get_assertion(&request(&registration.id, prf), None)
        .unwrap();
}

#[test]
fn a_large_blob_array_failing_its_checksum_is_an_error_on_read() {
    let authenticator = VirtualAuthenticator::new(Config::default());
    let rk = json!({"largeBlob": {"support": "required"}});
    let mut options = creation(rk);
    options.authenticator_selection = Some(ctap_webauthn::AuthenticatorSelection {
        resident_key: Some(ctap_webauthn::ResidentKey::Required),
        ..Default::default()
    });
    let mut plain = client(authenticator.open_device().unwrap());
    let registration = plain.make_credential(&options, None).unwrap();
    let write = json!({"largeBlob": {"write": base64url_encode(b"a blob")}});
    plain
        .get_assertion(&request(&registration.id, write), None)
        .unwrap();
    let read = json!({"largeBlob": {"read": true}});
    plain
        .get_assertion(&request(&registration.id, read.clone()), None)
        .unwrap();
    // The same array with one bit of its checksum flipped on the way.
    let mut device = Scripted::new(authenticator.open_device().unwrap());
    device.blobs = Some(Box::new(|r: &mut LargeBlobsResponse| {
        if let Some(last) = r.config.as_mut().and_then(|c| c.last_mut()) {
            *last ^= 1;
        }
    }));
    let error = client(device)
        .get_assertion(&request(&registration.id, read), None)
        .unwrap_err();
    assert!(error.to_string().contains("checksum"), "{error}");
}

#[test]
fn large_blob_required_on_an_authenticator_without_it_is_refused() {
    let authenticator = VirtualAuthenticator::new(Config::default());
    let mut device = Scripted::new(authenticator.open_device().unwrap());
    device.info = Some(Box::new(|info: &mut Info| {
        info.options.retain(|(k, _)| k != "largeBlobs");
        info.extensions.retain(|e| e != "largeBlobKey");
    }));
    let mut client = client(device);
    let error = client
        .make_credential(
            &creation(json!({"largeBlob": {"support": "required"}})),
            None,
        )
        .unwrap_err();
    assert_eq!(error.dom_exception(), "NotSupportedError");
    let registration = client
        .make_credential(
            &creation(json!({"largeBlob": {"support": "preferred"}})),
            None,
        )
        .unwrap();
    assert_eq!(
        serde_json::to_value(&registration.client_extension_results).unwrap(),
        json!({"largeBlob": {"supported": false}})
    );
}

#[test]
fn a_list_that_fits_in_one_request_needs_no_pre_flight() {
    let authenticator = VirtualAuthenticator::new(Config::default());
    let device = Scripted::new(authenticator.open_device().unwrap());
    let calls = device.get_assertions.clone();
    let mut client = client(device);
    let registration = client.make_credential(&creation(json!({})), None).unwrap();
    let unknown = base64url_encode(&[9; 40]);
    let list = json!([{"type": "public-key", "id": unknown}, {"type": "public-key", "id": registration.id}]);
    // Two ids, up to 8 per request: one getAssertion, the authenticator picks.
    let options = RequestOptions::from_value(&json!({
        "challenge": base64url_encode(&[2; 16]), "rpId": "example.com", "allowCredentials": list,
    }))
    .unwrap();
    let response = client
        .get_assertion(&options, None)
        .unwrap()
        .response(0)
        .unwrap();
    assert_eq!(response.id, registration.id);
    assert_eq!(calls.get(), 1);
    // The same list as an exclude list: no getAssertion, the authenticator refuses.
    let mut excluded = creation(json!({}));
    excluded.exclude_credentials = options.allow_credentials.clone();
    let error = client.make_credential(&excluded, None).unwrap_err();
    assert!(matches!(error, Error::CredentialExcluded), "{error}");
    assert_eq!(calls.get(), 1);
    // evalByCredential with two ids needs to know which answers first: a pre-flight.
    let by = json!({"prf": {"evalByCredential": {registration.id.clone(): {"first": "AA"}}}});
    let mut with_prf = options.clone();
    with_prf.extensions = RequestOptions::from_value(&json!({
        "challenge": "AAAA", "allowCredentials": list, "extensions": by,
    }))
    .unwrap()
    .extensions;
    client.get_assertion(&with_prf, None).unwrap();
    assert_eq!(calls.get(), 3);
}

/// A device that answers CTAP2 command `command` with `answer` (everything else from
/// `inner`).
struct Replacing<D> {
    inner: D,
    command: u8,
    answer: Vec<u8>,
}

impl<D: CtapDevice> CtapDevice for Replacing<D> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn call_with(
        &mut self,
        command: Command,
        data: &[u8],
        options: CallOptions<'_>,
    ) -> Result<Vec<u8>, ctap_device::Error> {
        let answer = self.inner.call_with(command, data, options)?;
        if command == Command::CBOR && data.first() == Some(&self.command) {
            return Ok(self.answer.clone());
        }
        Ok(answer)
    }

    fn close(&mut self) {
        self.inner.close();
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    /// A getAssertion answer damaged anywhere (with prf and credBlob asked for, so the
    /// extension outputs are read too): an error or an assertion, never a panic.
    #[test]
    fn damaged_assertion_answers_never_panic(
        flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..6),
        cut in proptest::option::of(proptest::prelude::any::<usize>()),
    ) {
        let authenticator = VirtualAuthenticator::new(Config::default().with_rng_seed(Some([1; 32])));
        let mut plain = client(authenticator.open_device().unwrap());
        let registration = plain.make_credential(&creation(json!({"prf": {}})), None).unwrap();
        // A real answer, recorded.
        let mut recorder = Scripted::new(authenticator.open_device().unwrap());
        let recorded = std::rc::Rc::new(std::cell::RefCell::new(None));
        let keep = recorded.clone();
        recorder.asserted = Some(Box::new(move |r: &mut GetAssertionResponse| {
            *keep.borrow_mut() = Some(r.clone());
        }));
        let extensions = json!({"prf": {"eval": {"first": "AA"}}, "getCredBlob": true});
        client(recorder).get_assertion(&request(&registration.id, extensions.clone()), None).unwrap();
        let mut answer = vec![0];
        recorded.borrow().clone().unwrap().to_value().encode_into(&mut answer);
        for (at, byte) in flips {
            let len = answer.len();
            answer[1 + at % (len - 1)] ^= byte | 1;
        }
        if let Some(cut) = cut {
            answer.truncate(1 + cut % answer.len());
        }
        let device = Replacing { inner: authenticator.open_device().unwrap(), command: 0x02, answer };
        let _ = client(device).get_assertion(&request(&registration.id, extensions), None);
    }

    /// The same for makeCredential answers (credProps, prf, largeBlob, credBlob asked).
    #[test]
    fn damaged_registration_answers_never_panic(
        flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..6),
        cut in proptest::option::of(proptest::prelude::any::<usize>()),
    ) {
        let authenticator = VirtualAuthenticator::new(Config::default().with_rng_seed(Some([1; 32])));
        let mut recorder = Scripted::new(authenticator.open_device().unwrap());
        let recorded = std::rc::Rc::new(std::cell::RefCell::new(None));
        let keep = recorded.clone();
        recorder.made = Some(Box::new(move |r: &mut MakeCredentialResponse| {
            *keep.borrow_mut() = Some(r.clone());
        }));
        let extensions = json!({"prf": {}, "credProps": true, "credBlob": "AAEC", "largeBlob": {"support": "preferred"}});
        client(recorder).make_credential(&creation(extensions.clone()), None).unwrap();
        let mut answer = vec![0];
        recorded.borrow().clone().unwrap().to_value().encode_into(&mut answer);
        for (at, byte) in flips {
            let len = answer.len();
            answer[1 + at % (len - 1)] ^= byte | 1;
        }
        if let Some(cut) = cut {
            answer.truncate(1 + cut % answer.len());
        }
        let device = Replacing { inner: authenticator.open_device().unwrap(), command: 0x01, answer };
        let _ = client(device).make_credential(&creation(extensions), None);
    }
}

/// hmac-secret-mc (CTAP 2.2 §12.5) from a hostile or older authenticator: its output
/// must decrypt to 32 bytes per salt (else an error, not passed on); an authenticator
/// that does not list the extension gets no hmac-secret-mc input, and create() reports
/// prf enabled without results.
#[test]
fn hmac_secret_mc_outputs_are_checked_and_only_asked_of_authenticators_listing_it() {
    let authenticator = VirtualAuthenticator::new(Config::default());
    let prf = json!({"prf": {"eval": {"first": "AA", "second": "AQ"}}});
    // Listed and well-formed: results.
    let registration = client(authenticator.open_device().unwrap())
        .make_credential(&creation(prf.clone()), None)
        .unwrap();
    let outputs = serde_json::to_value(&registration.client_extension_results).unwrap();
    assert!(outputs["prf"]["results"]["second"].is_string(), "{outputs}");
    // Not listed: not sent, so no results (the authenticator would answer one).
    let mut device = Scripted::new(authenticator.open_device().unwrap());
    device.info = Some(Box::new(|info: &mut Info| {
        info.extensions.retain(|e| e != "hmac-secret-mc")
    }));
    let registration = client(device)
        .make_credential(&creation(prf.clone()), None)
        .unwrap();
    assert_eq!(
        serde_json::to_value(&registration.client_extension_results).unwrap(),
        json!({"prf": {"enabled": true}})
    );
    // Protocol two: IV (16) || two blocks per salt; one block short is 48 bytes.
    let edit = |output: Value| {
        move |r: &mut MakeCredentialResponse| {
            let mut auth_data = AuthenticatorData::from_bytes(&r.auth_data).unwrap();
            if let Some(Value::Map(entries)) = auth_data.extensions.as_mut() {
                for (key, value) in entries.iter_mut() {
                    if *key == Value::text("hmac-secret-mc") {
                        *value = match (&output, &*value) {
                            (Value::Null, Value::Bytes(old)) => {
                                Value::Bytes(old[..old.len() - 16].to_vec())
                            }
                            _ => output.clone(),
                        };
                    }
                }
            }
            r.auth_data = auth_data.to_bytes();
        }
    };
    let mut device = Scripted::new(authenticator.open_device().unwrap());
    device.made = Some(Box::new(edit(Value::Null)));
    let error = client(device)
        .make_credential(&creation(prf.clone()), None)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("hmac-secret-mc output of 48 bytes for 2 salt(s)"),
        "{error}"
    );
    let mut device = Scripted::new(authenticator.open_device().unwrap());
    device.made = Some(Box::new(edit(Value::Bool(true))));
    let error = client(device)
        .make_credential(&creation(prf), None)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("hmac-secret-mc output is not a byte string"),
        "{error}"
    );
}
