//! `ctap serve --vpcd` against a stand-in for pcscd's vpcd reader (this test listens
//! and speaks the reader's side of the protocol), and the PC/SC usage errors.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;

/// Sends one vpcd message and, unless it is a power control byte, reads the answer.
fn exchange(stream: &mut TcpStream, payload: &[u8]) -> Vec<u8> {
    let length = u16::try_from(payload.len()).unwrap().to_be_bytes();
    stream.write_all(&[&length[..], payload].concat()).unwrap();
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).unwrap();
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut answer).unwrap();
    answer
}

#[test]
fn serve_vpcd_answers_the_reader() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let child = Process::cargo_bin("ctap")
        .unwrap()
        .args(["serve", "--vpcd", &address])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // Power on (no answer), then the ATR.
    stream.write_all(&[0x00, 0x01, 0x01]).unwrap();
    let atr = exchange(&mut stream, &[0x04]);
    assert_eq!(atr.first(), Some(&0x3B), "{atr:02X?}");
    // SELECT the FIDO applet.
    let select = [
        0x00, 0xA4, 0x04, 0x00, 0x08, 0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01, 0x00,
    ];
    assert_eq!(exchange(&mut stream, &select), b"U2F_V2\x90\x00");
    // NFCCTAP_MSG authenticatorGetInfo: status 0, a CBOR map, 9000.
    // getInfo is longer than one short answer (256 bytes): the rest comes with GET
    // RESPONSE while the card says 61XX.
    let mut info = exchange(&mut stream, &[0x80, 0x10, 0x80, 0x00, 0x01, 0x04, 0x00]);
    while let [.., 0x61, more] = info[..] {
        info.truncate(info.len() - 2);
        info.extend(exchange(&mut stream, &[0x00, 0xC0, 0x00, 0x00, more]));
    }
    assert!(info.len() > 258, "the whole getInfo: {info:02X?}");
    assert_eq!(info.first(), Some(&0x00), "{info:02X?}");
    assert_eq!(info.get(1).map(|b| b & 0xE0), Some(0xA0), "a CBOR map");
    assert_eq!(info.get(info.len() - 2..), Some(&[0x90, 0x00][..]));
    // The reader goes away: the card is out and `serve` ends cleanly.
    drop(stream);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("card inserted"), "{stdout}");
}

#[test]
fn serve_needs_udp_or_vpcd() {
    let output = Process::cargo_bin("ctap")
        .unwrap()
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = Process::cargo_bin("ctap")
        .unwrap()
        .args(["serve", "--udp", "127.0.0.1:0", "--vpcd", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

#[cfg(not(feature = "pcsc"))]
#[test]
fn pcsc_device_without_the_feature_says_how_to_get_it() {
    let output = Process::cargo_bin("ctap")
        .unwrap()
        .args(["--device", "pcsc", "info"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--features pcsc"), "{stderr}");
}
