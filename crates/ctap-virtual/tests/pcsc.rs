//! End to end through a real pcscd: the software authenticator as a card in vpcd's
//! virtual reader (`VpcdCard`), our `CtapPcscDevice` on the other side of pcscd.
//!
//! Built only with `--features pcsc`; needs a running pcscd with a vpcd reader whose
//! port is in `CTAP_TEST_VPCD` (`HOST:PORT`) and no other card in it (`.ci/run` sets
//! this up). Tests take turns: one card in the reader at a time.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ctap_device::apdu::{ApduConfig, AppletVersion};
use ctap_device::pcsc::{self, CtapPcscDevice};
use ctap_device::{ApduConnection, CallOptions, CancelToken, CtapDevice, Error, ExtendedLength};
use ctap_types::{Capabilities, Command, KeepaliveStatus, StatusCode};
use ctap_virtual::{
    AppletConfig, Config, NfcApplet, TouchPolicy, VirtualAuthenticator, VpcdCard, VpcdStop,
};

static READER: Mutex<()> = Mutex::new(());

/// A card in the vpcd reader; pulled out on drop.
struct Inserted {
    authenticator: VirtualAuthenticator,
    stop: VpcdStop,
    serving: Option<JoinHandle<std::io::Result<()>>>,
    _turn: MutexGuard<'static, ()>,
}

impl Inserted {
    fn new(touch: TouchPolicy, applet: AppletConfig) -> Self {
        let turn = READER.lock().unwrap_or_else(PoisonError::into_inner);
        let address = std::env::var("CTAP_TEST_VPCD")
            .expect("CTAP_TEST_VPCD=HOST:PORT of pcscd's vpcd reader (see .ci/run)");
        let authenticator = VirtualAuthenticator::new(Config::default().with_touch(touch));
        let card = VpcdCard::connect(
            address.as_str(),
            NfcApplet::with_config(authenticator.clone(), applet),
        )
        .unwrap_or_else(|e| panic!("vpcd reader at {address}: {e}"));
        let stop = card.stop_handle().unwrap();
        let serving = Some(thread::spawn(move || card.serve()));
        // pcscd polls its readers: wait until it shows the card.
        wait_for(|| pcsc::list_devices().is_ok_and(|found| !found.is_empty()));
        Self {
            authenticator,
            stop,
            serving,
            _turn: turn,
        }
    }

    fn open(&self) -> CtapPcscDevice {
        self.open_with(ApduConfig::default())
    }

    fn open_with(&self, config: ApduConfig) -> CtapPcscDevice {
        let reader = pcsc::list_devices().unwrap().remove(0).reader;
        pcsc::open_with(
            &reader,
            config.with_poll_interval(Duration::from_millis(20)),
        )
        .unwrap()
    }

    /// What the same request answers over CTAPHID.
    fn over_hid(&self, request: &[u8]) -> Vec<u8> {
        let mut device = self.authenticator.open_device().unwrap();
        device.call(Command::CBOR, request).unwrap()
    }

    fn remove(&mut self) {
        self.stop.stop();
        if let Some(serving) = self.serving.take() {
            let _ = serving.join();
        }
        wait_for(|| pcsc::list_devices().is_ok_and(|found| found.is_empty()));
    }
}

/// authenticatorMakeCredential for example.com with an excludeList of 24 unknown
/// 32-byte credential ids (about 1 KiB).
fn long_make_credential() -> Vec<u8> {
    use ctap2_proto::{
        Algorithm, CborMessage as _, CredentialDescriptor, CredentialParameters,
        MakeCredentialRequest, RpEntity, UserEntity,
    };
    let request = MakeCredentialRequest {
        client_data_hash: vec![0x11; 32],
        rp: RpEntity {
            id: "example.com".into(),
            name: None,
            icon: None,
        },
        user: UserEntity {
            id: vec![7; 16],
            name: Some("long".into()),
            display_name: None,
            icon: None,
        },
        pub_key_cred_params: vec![CredentialParameters::public_key(Algorithm::ES256)],
        exclude_list: Some(
            (0..24u8)
                .map(|n| CredentialDescriptor::public_key(&[n; 32]))
                .collect(),
        ),
        extensions: None,
        options: None,
        pin_uv_auth_param: None,
        pin_uv_auth_protocol: None,
        enterprise_attestation: None,
        attestation_formats_preference: None,
    };
    let mut bytes = vec![0x01];
    bytes.extend(request.to_cbor());
    bytes
}

/// A successful makeCredential answer for example.com.
fn assert_made_for_example_com(answer: &[u8]) {
    use ctap2_proto::{CborMessage as _, MakeCredentialResponse};
    use sha2::Digest as _;
    let Some((&0, body)) = answer.split_first() else {
        panic!("makeCredential failed: {:02x?}", answer.first());
    };
    let response = MakeCredentialResponse::from_cbor(body).expect("a makeCredential answer");
    let auth_data = response.auth_data().expect("its authenticator data");
    assert_eq!(
        auth_data.rp_id_hash[..],
        sha2::Sha256::digest(b"example.com")[..]
    );
}

/// getInfo read through the card is getInfo over CTAPHID but for the transport the
/// host came by: `["nfc"]` where CTAPHID says `["usb"]`.
fn assert_get_info_as_over_hid(over_card: &[u8], over_hid: &[u8]) {
    use ctap2_proto::{CborMessage as _, Info};
    let (Some((&0, card)), Some((&0, hid))) = (over_card.split_first(), over_hid.split_first())
    else {
        panic!("getInfo failed: {over_card:02x?} through the card, {over_hid:02x?} over HID");
    };
    let mut card = Info::from_cbor(card).expect("a canonical getInfo through the card");
    let hid = Info::from_cbor(hid).expect("a canonical getInfo over HID");
    assert_eq!(card.transports, ["nfc"]);
    assert_eq!(hid.transports, ["usb"]);
    card.transports.clone_from(&hid.transports);
    assert_eq!(card, hid);
}

impl Drop for Inserted {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Waits for pcscd to see a change (it polls its readers every few hundred ms).
fn wait_for(mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "pcscd did not show the change"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn get_info_through_pcscd() {
    let card = Inserted::new(TouchPolicy::IMMEDIATE, AppletConfig::default());
    let mut device = card.open();
    assert_eq!(device.applet_version(), &AppletVersion::U2fV2);
    assert_eq!(device.capabilities(), Capabilities::CBOR);
    let atr = device
        .connection()
        .and_then(ApduConnection::atr)
        .unwrap()
        .to_vec();
    assert_eq!(atr, ctap_virtual::vpcd_atr());
    let info = device.call(Command::CBOR, &[0x04]).unwrap();
    assert_get_info_as_over_hid(&info, &card.over_hid(&[0x04]));
    // A figure for the logs: one getInfo through pcscd and vpcd (a few APDUs' worth).
    let rounds = 20u32;
    let started = Instant::now();
    for _ in 0..rounds {
        assert_eq!(device.call(Command::CBOR, &[0x04]).unwrap(), info);
    }
    eprintln!(
        "getInfo through pcscd: {:?} per call ({} bytes)",
        started.elapsed() / rounds,
        info.len()
    );
    // MSG is a raw APDU (U2F_VERSION).
    let version = device
        .call(Command::MSG, &[0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00])
        .unwrap();
    assert_eq!(version, b"U2F_V2\x90\x00");
    let error = device.call(Command::PING, b"hi").unwrap_err();
    assert!(matches!(error, Error::NotSupported { .. }), "{error}");
}

#[test]
fn long_messages_through_chaining_and_get_response() {
    // A card that answers at most 32 bytes per APDU: getInfo needs GET RESPONSE.
    let applet = AppletConfig {
        response_chunk: 32,
        ..AppletConfig::default()
    };
    let card = Inserted::new(TouchPolicy::IMMEDIATE, applet);
    let expected = card.over_hid(&[0x04]);
    assert!(expected.len() > 64, "getInfo is {} bytes", expected.len());
    // About 1 KiB of makeCredential whose every byte counts: an excludeList of 24
    // credential ids this authenticator does not know. A part lost, doubled or
    // reordered breaks the CBOR (INVALID_CBOR), so success means all of it arrived.
    let request = long_make_credential();
    assert!(request.len() > 900, "{} bytes", request.len());
    for (mode, extended) in [
        (ExtendedLength::Never, false),
        (ExtendedLength::Always, true),
        // The vpcd card's ATR announces extended length.
        (ExtendedLength::Auto, true),
    ] {
        let mut device = card.open_with(ApduConfig::default().with_extended_length(mode));
        assert_eq!(device.uses_extended_length(), extended);
        assert_get_info_as_over_hid(&device.call(Command::CBOR, &[0x04]).unwrap(), &expected);
        // Four or more chained parts, or one extended APDU.
        let answer = device.call(Command::CBOR, &request).unwrap();
        assert_made_for_example_com(&answer);
        assert_made_for_example_com(&card.over_hid(&request));
    }
}

#[test]
fn keepalives_during_a_touch_wait() {
    let card = Inserted::new(TouchPolicy::Never, AppletConfig::default());
    let mut device = card.open();
    let user = card.authenticator.clone();
    let mut seen = Vec::new();
    let mut on_keepalive = |status: KeepaliveStatus| {
        seen.push(status);
        if status == KeepaliveStatus::UPNEEDED {
            user.touch();
        }
    };
    let answer = device
        .call_with(
            Command::CBOR,
            &[0x0B],
            CallOptions::default().with_on_keepalive(&mut on_keepalive),
        )
        .unwrap();
    assert_eq!(answer, [0x00]);
    assert!(seen.contains(&KeepaliveStatus::UPNEEDED), "{seen:?}");
}

#[test]
fn cancel_during_a_touch_wait() {
    let card = Inserted::new(TouchPolicy::Never, AppletConfig::default());
    let mut device = card.open();
    let token = CancelToken::new();
    let remote = token.clone();
    let mut on_keepalive = |status: KeepaliveStatus| {
        if status == KeepaliveStatus::UPNEEDED {
            remote.cancel();
        }
    };
    let started = Instant::now();
    let answer = device
        .call_with(
            Command::CBOR,
            &[0x0B],
            CallOptions::default()
                .with_cancel(token)
                .with_on_keepalive(&mut on_keepalive),
        )
        .unwrap();
    assert_eq!(answer, [StatusCode::KEEPALIVE_CANCEL.to_u8()]);
    eprintln!("cancelled touch-wait ended after {:?}", started.elapsed());
    // The card is usable right after.
    assert_eq!(
        device.call(Command::CBOR, &[0x04]).unwrap().first(),
        Some(&0)
    );
}

#[test]
fn card_removed_mid_call_is_a_clear_error() {
    let mut card = Inserted::new(TouchPolicy::Never, AppletConfig::default());
    let mut device = card.open();
    let stop = card.stop.clone();
    let mut on_keepalive = |status: KeepaliveStatus| {
        if status == KeepaliveStatus::UPNEEDED {
            // The user takes the key off the reader while it blinks.
            stop.stop();
        }
    };
    let error = device
        .call_with(
            Command::CBOR,
            &[0x0B],
            CallOptions::default()
                .with_on_keepalive(&mut on_keepalive)
                .with_timeout(Duration::from_secs(20)),
        )
        .unwrap_err();
    eprintln!("card removed mid-call: {error}");
    assert!(matches!(error, Error::Disconnected), "{error:?}");
    card.remove();
}
