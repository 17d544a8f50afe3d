//! CTAPHID channel ids (CTAP 2.1 §11.2.4, "Concurrency and channels").

use core::fmt;

/// A CTAPHID channel id: the first four bytes (big-endian) of every packet.
///
/// `0xFFFFFFFF` is the broadcast channel, on which only INIT may be sent; `0` is
/// reserved. Every other value is a channel a device may allocate.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct ChannelId(u32);

impl ChannelId {
    /// The broadcast channel `0xFFFFFFFF` (§11.2.9.1.3): INIT requests allocating a
    /// channel go here.
    pub const BROADCAST: Self = Self(0xFFFF_FFFF);
    /// The reserved channel `0` (§11.2.4): never allocated, never valid.
    pub const RESERVED: Self = Self(0);

    /// The channel of a number.
    #[must_use]
    pub const fn new(cid: u32) -> Self {
        Self(cid)
    }

    /// The channel of the four big-endian bytes at the start of a packet.
    #[must_use]
    pub const fn from_be_bytes(bytes: [u8; 4]) -> Self {
        Self(u32::from_be_bytes(bytes))
    }

    /// The four big-endian bytes that start a packet.
    #[must_use]
    pub const fn to_be_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    /// The number.
    #[must_use]
    pub const fn to_u32(self) -> u32 {
        self.0
    }

    /// `true` for `0xFFFFFFFF`.
    #[must_use]
    pub const fn is_broadcast(self) -> bool {
        self.0 == Self::BROADCAST.0
    }

    /// `true` for `0`.
    #[must_use]
    pub const fn is_reserved(self) -> bool {
        self.0 == Self::RESERVED.0
    }

    /// `true` if a device may hand this id out in an INIT response: neither reserved nor
    /// broadcast.
    #[must_use]
    pub const fn is_allocatable(self) -> bool {
        !self.is_broadcast() && !self.is_reserved()
    }
}

impl From<u32> for ChannelId {
    fn from(cid: u32) -> Self {
        Self(cid)
    }
}

impl From<ChannelId> for u32 {
    fn from(cid: ChannelId) -> Self {
        cid.0
    }
}

/// Eight lower-case hex digits, as the bytes appear on the wire: `01020304`.
impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_broadcast() {
            f.write_str("ChannelId(BROADCAST)")
        } else {
            write!(f, "ChannelId({:08x})", self.0)
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for ChannelId {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "ChannelId({=u32:#010x})", self.0);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn broadcast_reserved_and_byte_order() {
        assert!(ChannelId::BROADCAST.is_broadcast());
        assert!(!ChannelId::BROADCAST.is_allocatable());
        assert!(ChannelId::RESERVED.is_reserved());
        assert!(!ChannelId::RESERVED.is_allocatable());
        assert!(ChannelId::new(1).is_allocatable());
        let cid = ChannelId::from_be_bytes([1, 2, 3, 4]);
        assert_eq!(cid.to_u32(), 0x0102_0304);
        assert_eq!(cid.to_be_bytes(), [1, 2, 3, 4]);
        assert_eq!(cid.to_string(), "01020304");
        assert_eq!(
            std::format!("{:?}", ChannelId::BROADCAST),
            "ChannelId(BROADCAST)"
        );
        assert_eq!(std::format!("{cid:?}"), "ChannelId(01020304)");
    }
}
