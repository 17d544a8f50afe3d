//! Capability flags of the INIT response (CTAP 2.1 §11.2.9.1.3).

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign};

/// The capability byte of an INIT response (python-fido2's `CAPABILITY`).
///
/// A set of flags; unknown bits are kept and survive a round trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Capabilities(u8);

impl Capabilities {
    /// `CAPABILITY_WINK` (0x01, §11.2.9.1.3): the device implements CTAPHID_WINK.
    pub const WINK: Self = Self(0x01);
    /// `CAPABILITY_LOCK` (0x02, §11.2.9.1.3): the device implements CTAPHID_LOCK.
    pub const LOCK: Self = Self(0x02);
    /// `CAPABILITY_CBOR` (0x04, §11.2.9.1.3): the device implements CTAPHID_CBOR.
    pub const CBOR: Self = Self(0x04);
    /// `CAPABILITY_NMSG` (0x08, §11.2.9.1.3): the device does **not** implement CTAPHID_MSG.
    pub const NMSG: Self = Self(0x08);
    /// No flag set (§11.2.9.1.3: a CTAPHID-only device with none of the optional
    /// commands).
    pub const NONE: Self = Self(0);

    const NAMED: [(Self, &'static str); 4] = [
        (Self::WINK, "WINK"),
        (Self::LOCK, "LOCK"),
        (Self::CBOR, "CBOR"),
        (Self::NMSG, "NMSG"),
    ];
    const KNOWN_BITS: u8 = 0x0F;

    /// The flags of a byte, unknown bits included.
    #[must_use]
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits)
    }

    /// The byte on the wire.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// `true` if every flag of `other` is set.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The bits this crate has no name for.
    #[must_use]
    pub const fn unknown_bits(self) -> u8 {
        self.0 & !Self::KNOWN_BITS
    }

    /// `true` if the device answers CTAPHID_MSG (CTAP1/U2F), i.e. NMSG is clear.
    #[must_use]
    pub const fn supports_msg(self) -> bool {
        !self.contains(Self::NMSG)
    }
}

impl BitOr for Capabilities {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for Capabilities {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Capabilities {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

crate::byte_conversions!(Capabilities);

/// `WINK | CBOR`, `NONE`, or with unknown bits `WINK | 0x40`.
impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("NONE");
        }
        let mut first = true;
        for (flag, name) in Self::NAMED {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if self.unknown_bits() != 0 {
            if !first {
                f.write_str(" | ")?;
            }
            crate::write_hex_byte(f, self.unknown_bits())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Capabilities({self})")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Capabilities {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Capabilities({=u8:#04x})", self.0);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn flags_have_spec_bits_and_unknown_bits_survive() {
        assert_eq!(Capabilities::WINK.bits(), 0x01);
        assert_eq!(Capabilities::LOCK.bits(), 0x02);
        assert_eq!(Capabilities::CBOR.bits(), 0x04);
        assert_eq!(Capabilities::NMSG.bits(), 0x08);
        let caps = Capabilities::from_bits(0x45);
        assert!(caps.contains(Capabilities::WINK | Capabilities::CBOR));
        assert!(!caps.contains(Capabilities::LOCK));
        assert_eq!(caps.unknown_bits(), 0x40);
        assert_eq!(caps.to_string(), "WINK | CBOR | 0x40");
        assert_eq!(Capabilities::NONE.to_string(), "NONE");
        assert_eq!(Capabilities::from_bits(0x80).to_string(), "0x80");
        assert!(caps.supports_msg());
        assert!(!Capabilities::NMSG.supports_msg());
        for byte in 0..=u8::MAX {
            assert_eq!(u8::from(Capabilities::from(byte)), byte);
        }
    }
}
