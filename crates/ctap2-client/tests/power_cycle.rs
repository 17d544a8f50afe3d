//! Power cycles on every transport of the software authenticator (issue 22): in
//! process (`VirtualAuthenticator::power_cycle`), over UDP (`RunningServer::power_cycle`
//! and the loopback control datagram `ctap serve` understands) and as a vpcd card (the
//! reader's power-off control byte, driven here by a stand-in for pcscd's vpcd driver).
//!
//! Each runs the same client-side check of CTAP 2.1 §6.5.5.5 ("If ... three
//! consecutive mismatches ... the authenticator returns CTAP2_ERR_PIN_AUTH_BLOCKED ...
//! until the authenticator is power cycled") and §6.5.2.1 (pinUvAuthTokens do not
//! survive a power cycle): three wrong PINs block even the right one; after the power
//! cycle the right PIN works, getPINRetries' powerCycleState is false again, the retry
//! counter (persistent) kept its value, and a token from before is refused.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ctap_device::apdu::CtapApduDevice;
use ctap_device::{ApduConnection, CtapDevice, Error as DeviceError};
use ctap_types::StatusCode;
use ctap_virtual::{
    Config, NfcApplet, POWER_CYCLE_DONE, POWER_CYCLE_REQUEST, UdpServer, VirtualAuthenticator,
    VpcdCard,
};
use ctap2_client::proto::{Permissions, PinProtocol};
use ctap2_client::{ClientPin, CredentialManagement, Ctap2};

const CREDENTIAL_MANAGEMENT: Permissions = Permissions(0x04);

fn config() -> Config {
    Config::default().with_rng_seed(Some([0x51; 32]))
}

fn wrong_pin<D: CtapDevice>(ctap: &mut Ctap2<D>, pin: &str) -> StatusCode {
    ClientPin::with_protocol(ctap, PinProtocol::Two)
        .get_pin_token(pin, CREDENTIAL_MANAGEMENT, None)
        .unwrap_err()
        .status()
        .unwrap()
}

/// The §6.5.5.5 / §6.5.2.1 check around one power cycle.
fn pin_block_and_tokens_end_with_the_power_cycle<D: CtapDevice>(
    mut open: impl FnMut() -> Ctap2<D>,
    cycle: impl FnOnce(),
) {
    let mut ctap = open();
    ClientPin::with_protocol(&mut ctap, PinProtocol::Two)
        .set_pin("1234")
        .unwrap();
    let token = ClientPin::with_protocol(&mut ctap, PinProtocol::Two)
        .get_pin_token("1234", CREDENTIAL_MANAGEMENT, None)
        .unwrap();
    CredentialManagement::new(&mut ctap, token.clone())
        .unwrap()
        .get_metadata()
        .unwrap();
    assert_eq!(wrong_pin(&mut ctap, "0000"), StatusCode::PIN_INVALID);
    assert_eq!(wrong_pin(&mut ctap, "0000"), StatusCode::PIN_INVALID);
    assert_eq!(wrong_pin(&mut ctap, "0000"), StatusCode::PIN_AUTH_BLOCKED);
    assert_eq!(
        wrong_pin(&mut ctap, "1234"),
        StatusCode::PIN_AUTH_BLOCKED,
        "the right PIN too, until a power cycle"
    );
    let retries = ClientPin::with_protocol(&mut ctap, PinProtocol::Two)
        .get_pin_retries()
        .unwrap();
    assert_eq!(
        (retries.retries, retries.power_cycle_state),
        (5, Some(true))
    );
    drop(ctap);

    cycle();

    let mut ctap = open();
    let retries = ClientPin::with_protocol(&mut ctap, PinProtocol::Two)
        .get_pin_retries()
        .unwrap();
    assert_eq!(
        (retries.retries, retries.power_cycle_state),
        (5, Some(false)),
        "the retry counter is persistent, the block is not"
    );
    let error = CredentialManagement::new(&mut ctap, token)
        .unwrap()
        .get_metadata()
        .unwrap_err();
    assert_eq!(
        error.status(),
        Some(StatusCode::PIN_AUTH_INVALID),
        "a token from before the power cycle: {error}"
    );
    ClientPin::with_protocol(&mut ctap, PinProtocol::Two)
        .get_pin_token("1234", CREDENTIAL_MANAGEMENT, None)
        .unwrap();
}

#[test]
fn in_process_power_cycle_clears_the_pin_block_and_tokens_and_disconnects() {
    let authenticator = VirtualAuthenticator::new(config());
    let before = authenticator.open_device().unwrap();
    let opener = authenticator.clone();
    pin_block_and_tokens_end_with_the_power_cycle(
        || Ctap2::new(opener.open_device().unwrap()).unwrap(),
        || authenticator.power_cycle(),
    );
    // A connection opened before the power cycle is gone, as an open hidraw node is
    // when its key is unplugged.
    let mut before = before;
    assert!(matches!(before.ping(b"x"), Err(DeviceError::Disconnected)));
}

#[test]
fn udp_server_power_cycle_method() {
    let running = UdpServer::bind("127.0.0.1:0", config())
        .unwrap()
        .spawn()
        .unwrap();
    let address = running.local_addr();
    pin_block_and_tokens_end_with_the_power_cycle(
        || Ctap2::new(ctap_device::udp::open(address).unwrap()).unwrap(),
        || running.power_cycle().unwrap(),
    );
}

/// `ctap serve`'s way: the control datagram from a loopback address, answered once done.
#[test]
fn udp_server_power_cycle_datagram_from_loopback() {
    let running = UdpServer::bind("127.0.0.1:0", config())
        .unwrap()
        .spawn()
        .unwrap();
    let address = running.local_addr();
    pin_block_and_tokens_end_with_the_power_cycle(
        || Ctap2::new(ctap_device::udp::open(address).unwrap()).unwrap(),
        || {
            let control = UdpSocket::bind("127.0.0.1:0").unwrap();
            control
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            control.send_to(POWER_CYCLE_REQUEST, address).unwrap();
            let mut answer = [0u8; 64];
            let (len, from) = control.recv_from(&mut answer).unwrap();
            assert_eq!((&answer[..len], from), (&POWER_CYCLE_DONE[..], address));
        },
    );
}

/// pcscd's side of the vpcd protocol: length-prefixed messages, one-byte control codes.
struct Reader(TcpStream);

impl Reader {
    fn send(&mut self, payload: &[u8]) {
        let len = u16::try_from(payload.len()).unwrap().to_be_bytes();
        self.0.write_all(&[&len[..], payload].concat()).unwrap();
    }

    fn receive(&mut self) -> Vec<u8> {
        let mut len = [0u8; 2];
        self.0.read_exact(&mut len).unwrap();
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
        self.0.read_exact(&mut payload).unwrap();
        payload
    }
}

/// One PC/SC connection through the reader.
#[derive(Clone)]
struct Card(Arc<Mutex<Reader>>);

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Card")
    }
}

impl ApduConnection for Card {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, DeviceError> {
        let mut reader = self.0.lock().unwrap();
        reader.send(command);
        Ok(reader.receive())
    }

    fn close(&mut self) {}
}

/// vpcd's power-off control byte (then power on, as pcscd does for the next
/// connection after `SCARD_UNPOWER_CARD`) is the field going away and coming back.
#[test]
fn vpcd_power_off_control_byte_power_cycles_the_card() {
    const POWER_OFF: u8 = 0x00;
    const POWER_ON: u8 = 0x01;
    const GET_ATR: u8 = 0x04;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let authenticator = VirtualAuthenticator::new(config());
    let card = VpcdCard::connect(
        listener.local_addr().unwrap(),
        NfcApplet::new(authenticator.clone()),
    )
    .unwrap();
    let stop = card.stop_handle().unwrap();
    let serving = std::thread::spawn(move || card.serve());
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let reader = Arc::new(Mutex::new(Reader(stream)));
    {
        let mut reader = reader.lock().unwrap();
        reader.send(&[POWER_ON]);
        reader.send(&[GET_ATR]);
        assert_eq!(reader.receive(), ctap_virtual::vpcd_atr());
    }
    let control = Arc::clone(&reader);
    pin_block_and_tokens_end_with_the_power_cycle(
        || Ctap2::new(CtapApduDevice::new(Card(Arc::clone(&reader))).unwrap()).unwrap(),
        || {
            let mut reader = control.lock().unwrap();
            reader.send(&[POWER_OFF]);
            reader.send(&[POWER_ON]);
        },
    );
    // The card is pulled out: its serve ends.
    stop.stop();
    serving.join().unwrap().unwrap();
}
