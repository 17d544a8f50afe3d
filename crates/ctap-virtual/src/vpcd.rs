//! The software authenticator as a virtual smart card in pcscd's virtual reader (the
//! `vpcd` driver of vsmartcard; Debian: `vsmartcard-vpcd`), so every PC/SC client on
//! the machine (python-fido2's `CtapPcscDevice`, libfido2, ours) sees a FIDO card.
//!
//! vpcd listens on TCP (port 35963 for its first reader); the card connects to it.
//! Every message either way is framed by its length:
//!
//! ```text
//! +--------+--------+----------------------+
//! | length (u16 BE) | payload (length bytes)|
//! +--------+--------+----------------------+
//! reader -> card: a 1-byte payload is a control byte: 00 power off, 01 power on,
//!                 02 reset, 04 "send your ATR"; any longer payload is a command APDU.
//!                 Power off power-cycles the authenticator (NfcApplet::power_off).
//! card -> reader: the ATR (after 04), or the response APDU.
//! ```
//! Closing the connection is pulling the card out of the reader.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;

use crate::NfcApplet;

/// vpcd's port for its first reader (`0x8C7B`, its `reader.conf` default).
pub const DEFAULT_VPCD_PORT: u16 = 0x8C7B;

/// The virtual card's ATR: a T=1 card whose historical bytes (ISO 7816-4 §8.1.1.2.7,
/// card capabilities) announce selection by AID, command chaining and extended
/// Lc/Le, as a FIDO card's do.
#[must_use]
pub fn atr() -> Vec<u8> {
    let historical = [0x80, 0x73, 0x80, 0x01, 0xC0];
    // T0: TD1 present, the number of historical bytes; TD1: T=0, TD2 present; TD2: T=1.
    let count = u8::try_from(historical.len()).unwrap_or(0) & 0x0F;
    let mut atr = vec![0x3B, 0x80 | count, 0x80, 0x01];
    atr.extend_from_slice(&historical);
    // TCK: the XOR of every byte from T0 on.
    let check = atr.iter().skip(1).fold(0u8, |acc, byte| acc ^ byte);
    atr.push(check);
    atr
}

/// The control bytes of the vpcd protocol.
const POWER_OFF: u8 = 0x00;
const POWER_ON: u8 = 0x01;
const RESET: u8 = 0x02;
const GET_ATR: u8 = 0x04;

/// A virtual card connected to a vpcd reader.
pub struct VpcdCard {
    stream: TcpStream,
    applet: NfcApplet,
}

/// Pulls a [`VpcdCard`] out of its reader from another thread (clones share the card).
#[derive(Clone, Debug)]
pub struct VpcdStop(Arc<TcpStream>);

impl VpcdStop {
    /// Closes the card's connection: the reader sees the card removed, and
    /// [`VpcdCard::serve`] returns.
    pub fn stop(&self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

impl VpcdCard {
    /// Puts the card into the vpcd reader listening at `address`.
    ///
    /// # Errors
    /// If the reader cannot be reached (pcscd not running, or vpcd not configured).
    pub fn connect(address: impl ToSocketAddrs, applet: NfcApplet) -> io::Result<Self> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, applet })
    }

    /// A handle that removes the card from another thread.
    ///
    /// # Errors
    /// If the socket cannot be duplicated.
    pub fn stop_handle(&self) -> io::Result<VpcdStop> {
        Ok(VpcdStop(Arc::new(self.stream.try_clone()?)))
    }

    /// Answers the reader until it closes the connection or the card is stopped.
    ///
    /// # Errors
    /// I/O errors of the connection other than its end.
    pub fn serve(mut self) -> io::Result<()> {
        loop {
            let mut length = [0u8; 2];
            self.ack_at_once();
            match self.stream.read_exact(&mut length) {
                Ok(()) => {}
                Err(error) if is_end(&error) => return Ok(()),
                Err(error) => return Err(error),
            }
            self.ack_at_once();
            let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
            match self.stream.read_exact(&mut message) {
                Ok(()) => {}
                Err(error) if is_end(&error) => return Ok(()),
                Err(error) => return Err(error),
            }
            match message.as_slice() {
                // The field goes away (issue 22): a power cycle of the authenticator,
                // as for an NFC key leaving the reader. Power on and a warm reset only
                // reset the applet (nothing is selected); the power-off before a power
                // on (pcscd's SCARD_UNPOWER_CARD, a removed card) already cycled.
                [POWER_OFF] => {
                    log::debug!("vpcd: power off: the authenticator is power cycled");
                    self.applet.power_off();
                }
                [POWER_ON] | [RESET] => {
                    log::debug!("vpcd: control {message:02X?}");
                    self.applet.reset();
                }
                [GET_ATR] => self.send(&atr())?,
                [other] => log::debug!("vpcd: unknown control byte {other:02X}"),
                [] => {}
                apdu => {
                    let response = self.applet.process(apdu);
                    self.send(&response)?;
                }
            }
        }
    }

    /// vpcd sends a message's length and its payload in two writes, with Nagle on: the
    /// payload waits for our ACK of the length, which Linux delays up to 40 ms unless
    /// asked for quick ACKs (a mode the kernel leaves again by itself, hence before
    /// every read).
    fn ack_at_once(&self) {
        #[cfg(target_os = "linux")]
        if let Err(error) = socket2::SockRef::from(&self.stream).set_tcp_quickack(true) {
            log::debug!("vpcd: TCP_QUICKACK: {error}");
        }
    }

    fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let length = u16::try_from(payload.len())
            .map_err(|_| io::Error::other("response longer than a vpcd message"))?;
        let mut frame = Vec::with_capacity(payload.len() + 2);
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame)
    }
}

impl fmt::Debug for VpcdCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VpcdCard")
            .field("peer", &self.stream.peer_addr().ok())
            .field("applet", &self.applet)
            .finish()
    }
}

/// The reader went away, or the card was stopped.
fn is_end(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
    )
}
