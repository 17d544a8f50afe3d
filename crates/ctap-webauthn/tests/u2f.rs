//! CTAP1/U2F against scripted U2F-only devices: the FIDO U2F Raw Message Formats
//! example messages (the ones python-fido2's test_ctap1.py uses) byte for byte, their
//! signatures verified, a damaged one refused, and the client's fallback refusing a
//! registration whose attestation signature does not cover its own client data.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;

use ctap_device::{CallOptions, CtapDevice};
use ctap_types::{Capabilities, Command};
use ctap_webauthn::ctap1::{self, AuthenticateMode, Ctap1, StatusWord};
use ctap_webauthn::{
    CreationOptions, DefaultClientDataCollector, Error, Fido2Client, UserInteraction,
};

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A U2F-only key: no CBOR capability, answers MSG from a script, records the APDUs.
struct ScriptedU2f {
    answers: VecDeque<Vec<u8>>,
    sent: Rc<std::cell::RefCell<Vec<Vec<u8>>>>,
}

impl CtapDevice for ScriptedU2f {
    fn capabilities(&self) -> Capabilities {
        Capabilities::WINK
    }

    fn call_with(
        &mut self,
        command: Command,
        data: &[u8],
        _: CallOptions<'_>,
    ) -> Result<Vec<u8>, ctap_device::Error> {
        assert_eq!(command, Command::MSG, "a U2F-only key gets MSG only");
        self.sent.borrow_mut().push(data.to_vec());
        Ok(self.answers.pop_front().expect("an answer is scripted"))
    }

    fn close(&mut self) {}
}

fn scripted(answers: Vec<Vec<u8>>) -> (ScriptedU2f, Rc<std::cell::RefCell<Vec<Vec<u8>>>>) {
    let sent = Rc::default();
    (
        ScriptedU2f {
            answers: answers.into(),
            sent: Rc::clone(&sent),
        },
        sent,
    )
}

const REGISTRATION: &str = "0504b174bc49c7ca254b70d2e5c207cee9cf174820ebd77ea3c65508c26da51b657c1cc6b952f8621697936482da0a6d3d3826a59095daf6cd7c03e2e60385d2f6d9402a552dfdb7477ed65fd84133f86196010b2215b57da75d315b7b9e8fe2e3925a6019551bab61d16591659cbaf00b4950f7abfe6660e2e006f76868b772d70c253082013c3081e4a003020102020a47901280001155957352300a06082a8648ce3d0403023017311530130603550403130c476e756262792050696c6f74301e170d3132303831343138323933325a170d3133303831343138323933325a3031312f302d0603550403132650696c6f74476e756262792d302e342e312d34373930313238303030313135353935373335323059301306072a8648ce3d020106082a8648ce3d030107034200048d617e65c9508e64bcc5673ac82a6799da3c1446682c258c463fffdf58dfd2fa3e6c378b53d795c4a4dffb4199edd7862f23abaf0203b4b8911ba0569994e101300a06082a8648ce3d0403020347003044022060cdb6061e9c22262d1aac1d96d8c70829b2366531dda268832cb836bcd30dfa0220631b1459f09e6330055722c8d89b7f48883b9089b88d60d1d9795902b30410df304502201471899bcc3987e62e8202c9b39c33c19033f7340352dba80fcab017db9230e402210082677d673d891933ade6f617e5dbde2e247e70423fd5ad7804a6d3d3961ef871";
const REG_CLIENT: &str = "4142d21c00d94ffb9d504ada8f99b721f4b191ae4e37ca0140f696b6983cfacb";
const REG_APP: &str = "f0e6a6a97042a4f1f1c87f5f7d44315b2d852c2df5c7991cc66241bf7072d1c4";

fn ok(data: &[u8]) -> Vec<u8> {
    [data, &[0x90, 0x00]].concat()
}

fn array32(text: &str) -> [u8; 32] {
    hex(text).try_into().unwrap()
}

#[test]
fn register_matches_the_u2f_example_byte_for_byte() {
    let (device, sent) = scripted(vec![ok(&hex(REGISTRATION)), ok(b"U2F_V2")]);
    let mut ctap1 = Ctap1::new(device);
    let (client, app) = (array32(REG_CLIENT), array32(REG_APP));
    let registration = ctap1
        .register(&client, &app, CallOptions::default())
        .unwrap();
    // CLA 00, INS 01, P1 P2 00, extended Lc 00 00 40, data, Le 00 00.
    let expected = [&[0, 1, 0, 0, 0, 0, 0x40][..], &client, &app, &[0, 0]].concat();
    assert_eq!(sent.borrow()[0], expected);
    assert_eq!(
        registration.public_key.as_slice(),
        hex(
            "04b174bc49c7ca254b70d2e5c207cee9cf174820ebd77ea3c65508c26da51b657c1cc6b952f8621697936482da0a6d3d3826a59095daf6cd7c03e2e60385d2f6d9"
        )
    );
    assert_eq!(registration.key_handle.len(), 64);
    assert_eq!(registration.certificate.len(), 0x13c + 4);
    registration.verify(&app, &client).unwrap();
    // Another challenge, or a damaged signature: refused.
    assert!(matches!(
        registration.verify(&app, &[0; 32]),
        Err(ctap1::Error::Verification(_))
    ));
    let mut damaged = registration.clone();
    let last = damaged.signature.len() - 1;
    damaged.signature[last] ^= 1;
    assert!(damaged.verify(&app, &client).is_err());
    assert_eq!(ctap1.get_version().unwrap(), "U2F_V2");
    assert_eq!(sent.borrow()[1], [0, 3, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn authenticate_matches_the_u2f_example_in_every_mode() {
    let signature = hex(
        "0100000001304402204b5f0cd17534cedd8c34ee09570ef542a353df4436030ce43d406de870b847780220267bb998fac9b7266eb60e7cb0b5eabdfd5ba9614f53c7b22272ec10047a923f",
    );
    let (device, sent) = scripted(vec![
        ok(&signature),
        vec![0x69, 0x85],
        vec![0x6A, 0x80],
        ok(&signature),
    ]);
    let mut ctap1 = Ctap1::new(device);
    let client = array32("ccd6ee2e47baef244d49a222db496bad0ef5b6f93aa7cc4d30c4821b3b9dbc57");
    let app = array32("4b0be934baebb5d12d26011b69227fa5e86df94e7d94aa2949a89f2d493992ca");
    let handle = [3u8; 64];
    let signed = ctap1
        .authenticate(
            &client,
            &app,
            &handle,
            AuthenticateMode::EnforceUserPresence,
            CallOptions::default(),
        )
        .unwrap();
    let apdu = |p1: u8, handle: &[u8]| {
        let len = u8::try_from(65 + handle.len()).unwrap();
        [
            &[0, 2, p1, 0, 0, 0, len][..],
            &client,
            &app,
            &[u8::try_from(handle.len()).unwrap()],
            handle,
            &[0, 0],
        ]
        .concat()
    };
    assert_eq!(sent.borrow()[0], apdu(0x03, &handle));
    assert_eq!((signed.user_presence, signed.counter), (1, 1));
    let key = hex(
        "04d368f1b665bade3c33a20f1e429c7750d5033660c019119d29aa4ba7abc04aa7c80a46bbe11ca8cb5674d74f31f8a903f6bad105fb6ab74aefef4db8b0025e1d",
    );
    let p256 =
        ctap2_client::proto::CoseKey::from_p256(&p256::PublicKey::from_sec1_bytes(&key).unwrap());
    signed.verify(&app, &client, &p256).unwrap();
    assert!(signed.verify(&app, &[1; 32], &p256).is_err());
    // Check-only: "conditions not satisfied" means the handle is this key's.
    let short = [4u8; 8];
    let known = ctap1.authenticate(
        &client,
        &app,
        &short,
        AuthenticateMode::CheckOnly,
        CallOptions::default(),
    );
    assert!(matches!(
        known,
        Err(ctap1::Error::Apdu(StatusWord::USE_NOT_SATISFIED))
    ));
    assert_eq!(sent.borrow()[1], apdu(0x07, &short));
    let unknown = ctap1.authenticate(
        &client,
        &app,
        &short,
        AuthenticateMode::CheckOnly,
        CallOptions::default(),
    );
    assert!(matches!(
        unknown,
        Err(ctap1::Error::Apdu(StatusWord::WRONG_DATA))
    ));
    ctap1
        .authenticate(
            &client,
            &app,
            &short,
            AuthenticateMode::DontEnforceUserPresence,
            CallOptions::default(),
        )
        .unwrap();
    assert_eq!(sent.borrow()[3], apdu(0x08, &short));
    // A key handle U2F cannot carry is refused before anything is sent.
    let long = vec![0; 256];
    assert!(matches!(
        ctap1.authenticate(
            &client,
            &app,
            &long,
            AuthenticateMode::CheckOnly,
            CallOptions::default()
        ),
        Err(ctap1::Error::InvalidArgument(_))
    ));
    assert_eq!(sent.borrow().len(), 4);
}

struct Prompts(Rc<Cell<u32>>);

impl UserInteraction for Prompts {
    fn prompt_up(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn the_fallback_polls_for_the_touch_and_refuses_a_signature_over_other_client_data() {
    // "Touch needed" once, then the example registration: its attestation signature
    // covers the example's challenge, not our client data, so it is refused.
    let (device, sent) = scripted(vec![vec![0x69, 0x85], ok(&hex(REGISTRATION))]);
    let prompts = Rc::new(Cell::new(0));
    let mut client = Fido2Client::new(
        device,
        DefaultClientDataCollector::new("https://example.com"),
        Prompts(prompts.clone()),
    )
    .unwrap();
    let options = CreationOptions::from_json(
        r#"{"rp":{"id":"example.com","name":"E"},"user":{"id":"dQ","name":"u","displayName":"U"},
        "challenge":"AAAA","pubKeyCredParams":[{"type":"public-key","alg":-7}]}"#,
    )
    .unwrap();
    let error = client.make_credential(&options, None).unwrap_err();
    assert!(
        matches!(error, Error::Ctap1(ctap1::Error::Verification(_))),
        "{error}"
    );
    assert_eq!(prompts.get(), 1);
    // Two REGISTERs: the first answered "touch needed", then polled again.
    assert_eq!(sent.borrow().len(), 2);
    assert_eq!(sent.borrow()[0][1], 0x01);
    assert_eq!(sent.borrow()[0], sent.borrow()[1]);
}
