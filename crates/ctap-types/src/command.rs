//! CTAPHID commands (CTAP 2.1 §11.2.9) and CTAP2 command bytes (CTAP 2.1 §6).

use core::fmt;

/// A CTAPHID command: the CMD byte of an init packet without its high bit
/// (python-fido2's `CTAPHID`).
///
/// Seven bits wide: every value 0x00..=0x7F is a `Command` (unknown ones and the vendor
/// range 0x40..=0x7F included); 0x80..=0xFF are not, since bit 7 marks an init packet.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "u8", into = "u8")
)]
pub struct Command(u8);

/// A byte with bit 7 set was given where a 7-bit CTAPHID command was expected.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CommandOutOfRange(pub u8);

impl fmt::Display for CommandOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CTAPHID command must be 0x00..=0x7F, got 0x{:02X}",
            self.0
        )
    }
}

impl core::error::Error for CommandOutOfRange {}

crate::byte_code! {
    Command, custom;
    /// `CTAPHID_PING` (0x01): echoes its payload (§11.2.9.1.4).
    PING = 0x01,
    /// `CTAPHID_MSG` (0x03): a CTAP1/U2F APDU (§11.2.9.1.1).
    MSG = 0x03,
    /// `CTAPHID_LOCK` (0x04): locks the device to one channel for 0..=10 s (§11.2.9.2.2).
    LOCK = 0x04,
    /// `CTAPHID_INIT` (0x06): allocates or resynchronises a channel (§11.2.9.1.3).
    INIT = 0x06,
    /// `CTAPHID_WINK` (0x08): asks the device to identify itself (§11.2.9.2.1).
    WINK = 0x08,
    /// `CTAPHID_CBOR` (0x10): a CTAP2 command (§11.2.9.1.2).
    CBOR = 0x10,
    /// `CTAPHID_CANCEL` (0x11): cancels the pending request; has no answer (§11.2.9.1.5).
    CANCEL = 0x11,
    /// `CTAPHID_KEEPALIVE` (0x3B): device to host, "still working" (§11.2.9.1.7).
    KEEPALIVE = 0x3B,
    /// `CTAPHID_ERROR` (0x3F): device to host, a transport error (§11.2.9.1.6).
    ERROR = 0x3F,
}

impl Command {
    /// `CTAPHID_VENDOR_FIRST` (0x40): first vendor-specific command (§11.2.9.3).
    pub const VENDOR_FIRST: Self = Self(0x40);
    /// `CTAPHID_VENDOR_LAST` (0x7F): last vendor-specific command (§11.2.9.3).
    pub const VENDOR_LAST: Self = Self(0x7F);

    /// The command for a 7-bit code, or `None` if bit 7 is set.
    #[must_use]
    pub const fn new(code: u8) -> Option<Self> {
        if code & 0x80 == 0 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// The command carried by the CMD byte of an init packet (bit 7 is the init marker
    /// and is dropped).
    #[must_use]
    pub const fn from_init_byte(byte: u8) -> Self {
        Self(byte & 0x7F)
    }

    /// The 7-bit code.
    #[must_use]
    pub const fn to_u8(self) -> u8 {
        self.0
    }

    /// The CMD byte of an init packet: the code with bit 7 set.
    #[must_use]
    pub const fn to_init_byte(self) -> u8 {
        self.0 | 0x80
    }

    /// `true` in the vendor range 0x40..=0x7F.
    #[must_use]
    pub const fn is_vendor(self) -> bool {
        self.0 >= Self::VENDOR_FIRST.0
    }
}

impl TryFrom<u8> for Command {
    type Error = CommandOutOfRange;

    fn try_from(code: u8) -> Result<Self, Self::Error> {
        Self::new(code).ok_or(CommandOutOfRange(code))
    }
}

impl From<Command> for u8 {
    fn from(command: Command) -> Self {
        command.0
    }
}

/// `PING`, `VENDOR(0x41)`, or `UNKNOWN(0x22)`.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = if self.is_vendor() {
            "VENDOR"
        } else {
            "UNKNOWN"
        };
        crate::write_name_or_hex(f, self.name(), prefix, self.0)
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Command {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "{=str}({=u8:#04x})",
            self.name().unwrap_or("CMD"),
            self.0
        );
    }
}

/// The first byte of a CTAPHID_CBOR request: which CTAP2 command it is
/// (CTAP 2.1 §6 "Authenticator API"; python-fido2's `Ctap2.CMD`).
///
/// Open newtype: unknown bytes are kept.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Ctap2Command(u8);

crate::byte_code! {
    Ctap2Command, name_or_unknown, open;
    /// `authenticatorMakeCredential` (0x01, §6.1).
    MAKE_CREDENTIAL = 0x01,
    /// `authenticatorGetAssertion` (0x02, §6.2).
    GET_ASSERTION = 0x02,
    /// `authenticatorGetInfo` (0x04, §6.4).
    GET_INFO = 0x04,
    /// `authenticatorClientPIN` (0x06, §6.5).
    CLIENT_PIN = 0x06,
    /// `authenticatorReset` (0x07, §6.6).
    RESET = 0x07,
    /// `authenticatorGetNextAssertion` (0x08, §6.3).
    GET_NEXT_ASSERTION = 0x08,
    /// `authenticatorBioEnrollment` (0x09, §6.7).
    BIO_ENROLLMENT = 0x09,
    /// `authenticatorCredentialManagement` (0x0A, §6.8).
    CREDENTIAL_MGMT = 0x0A,
    /// `authenticatorSelection` (0x0B, §6.9).
    SELECTION = 0x0B,
    /// `authenticatorLargeBlobs` (0x0C, §6.10).
    LARGE_BLOBS = 0x0C,
    /// `authenticatorConfig` (0x0D, §6.11).
    CONFIG = 0x0D,
    /// Prototype `authenticatorBioEnrollment` (0x40, §6.7: the byte authenticators that
    /// report `FIDO_2_1_PRE` answer to).
    BIO_ENROLLMENT_PRE = 0x40,
    /// Prototype `authenticatorCredentialManagement` (0x41, §6.8: the byte authenticators
    /// that report `FIDO_2_1_PRE` answer to).
    CREDENTIAL_MGMT_PRE = 0x41,
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn commands_have_spec_numbers() {
        let expected = [
            (Command::PING, 0x01, "PING"),
            (Command::MSG, 0x03, "MSG"),
            (Command::LOCK, 0x04, "LOCK"),
            (Command::INIT, 0x06, "INIT"),
            (Command::WINK, 0x08, "WINK"),
            (Command::CBOR, 0x10, "CBOR"),
            (Command::CANCEL, 0x11, "CANCEL"),
            (Command::KEEPALIVE, 0x3B, "KEEPALIVE"),
            (Command::ERROR, 0x3F, "ERROR"),
        ];
        for (command, code, name) in expected {
            assert_eq!(command.to_u8(), code);
            assert_eq!(command.to_init_byte(), code | 0x80);
            assert_eq!(Command::from_init_byte(code | 0x80), command);
            assert_eq!(command.to_string(), name);
            assert!(!command.is_vendor());
        }
    }

    #[test]
    fn seven_bit_range_is_total_and_bit_seven_is_refused() {
        for code in 0..=0x7F_u8 {
            let command = Command::try_from(code).unwrap();
            assert_eq!(u8::from(command), code);
            assert_eq!(command.is_vendor(), code >= 0x40);
        }
        for code in 0x80..=0xFF_u8 {
            assert_eq!(Command::try_from(code), Err(CommandOutOfRange(code)));
        }
        assert_eq!(Command::new(0x41).unwrap().to_string(), "VENDOR(0x41)");
        assert_eq!(Command::new(0x22).unwrap().to_string(), "UNKNOWN(0x22)");
        assert_eq!(
            CommandOutOfRange(0x90).to_string(),
            "CTAPHID command must be 0x00..=0x7F, got 0x90"
        );
    }

    #[test]
    fn ctap2_commands() {
        assert_eq!(Ctap2Command::GET_INFO.to_u8(), 0x04);
        assert_eq!(Ctap2Command::SELECTION.to_string(), "SELECTION");
        assert_eq!(Ctap2Command::from(0x33).to_string(), "UNKNOWN(0x33)");
        for byte in 0..=u8::MAX {
            assert_eq!(u8::from(Ctap2Command::from(byte)), byte);
        }
    }
}
