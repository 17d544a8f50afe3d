//! Keep-alive status (CTAP 2.1 §11.2.9.1.7, CTAPHID_KEEPALIVE).

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

crate::byte_code! {
    KeepaliveStatus, name_or_unknown, open;
    /// `STATUS_PROCESSING` (1, §11.2.9.1.7): the authenticator is still processing the
    /// request.
    PROCESSING = 1,
    /// `STATUS_UPNEEDED` (2, §11.2.9.1.7): the authenticator waits for user presence (a
    /// touch).
    UPNEEDED = 2,
}

impl KeepaliveStatus {
    /// `true` for PROCESSING and UPNEEDED, the two values the spec defines.
    #[must_use]
    pub const fn is_known(self) -> bool {
        self.name().is_some()
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
