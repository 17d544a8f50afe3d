//! Keep-alive status (CTAP 2.1 §11.2.9.1.7, CTAPHID_KEEPALIVE).

use core::fmt;

/// The one-byte payload of a CTAPHID KEEPALIVE packet (python-fido2's `STATUS`).
///
/// Open newtype: bytes other than 1 and 2 are kept raw. A host should treat them as
/// "still working" (a KEEPALIVE is never an answer) and may pass them on; see
/// [`is_known`](Self::is_known).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct KeepaliveStatus(u8);

impl KeepaliveStatus {
    /// `STATUS_PROCESSING` (1): the authenticator is still processing the request.
    pub const PROCESSING: Self = Self(1);
    /// `STATUS_UPNEEDED` (2): the authenticator waits for user presence (a touch).
    pub const UPNEEDED: Self = Self(2);

    /// The status of a byte. Total: every byte is kept.
    #[must_use]
    pub const fn new(status: u8) -> Self {
        Self(status)
    }

    /// The byte on the wire.
    #[must_use]
    pub const fn to_u8(self) -> u8 {
        self.0
    }

    /// python-fido2's name (`PROCESSING`, `UPNEEDED`), or `None` for another byte.
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            1 => Some("PROCESSING"),
            2 => Some("UPNEEDED"),
            _ => None,
        }
    }

    /// `true` for PROCESSING and UPNEEDED, the two values the spec defines.
    #[must_use]
    pub const fn is_known(self) -> bool {
        self.name().is_some()
    }
}

crate::byte_conversions!(KeepaliveStatus);

/// `PROCESSING`, `UPNEEDED`, or `UNKNOWN(0x05)`.
impl fmt::Display for KeepaliveStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::write_name_or_hex(f, self.name(), "UNKNOWN", self.0)
    }
}

impl fmt::Debug for KeepaliveStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for KeepaliveStatus {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}({=u8})", self.name().unwrap_or("UNKNOWN"), self.0);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn named_and_unknown_statuses() {
        assert_eq!(KeepaliveStatus::from(1), KeepaliveStatus::PROCESSING);
        assert_eq!(KeepaliveStatus::from(2), KeepaliveStatus::UPNEEDED);
        assert_eq!(KeepaliveStatus::PROCESSING.to_string(), "PROCESSING");
        assert_eq!(KeepaliveStatus::UPNEEDED.to_string(), "UPNEEDED");
        assert_eq!(KeepaliveStatus::new(5).to_string(), "UNKNOWN(0x05)");
        assert!(!KeepaliveStatus::new(0).is_known());
        for byte in 0..=u8::MAX {
            assert_eq!(u8::from(KeepaliveStatus::from(byte)), byte);
        }
    }
}
