//! The CTAPHID_INIT response (CTAP 2.1 §11.2.9.1.3).
//!
//! ```text
//! offset  0        8         12         13         14      15      16
//!         +--------+---------+----------+----------+-------+-------+--------------+
//!         | nonce  | new CID | protocol | major    | minor | build | capabilities |
//!         | 8      | 4 (BE)  | 1 (= 2)  | 1        | 1     | 1     | 1            |
//!         +--------+---------+----------+----------+-------+-------+--------------+
//! ```

use core::fmt;

use crate::{Capabilities, ChannelId};

/// Length of the INIT nonce (§11.2.9.1.3).
pub const INIT_NONCE_LEN: usize = 8;
/// Length of the INIT response payload (§11.2.9.1.3). Longer answers exist in the field;
/// the bytes after the 17th are ignored.
pub const INIT_RESPONSE_LEN: usize = 17;

/// The device version triple of an INIT response.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceVersion {
    /// Major device version number.
    pub major: u8,
    /// Minor device version number.
    pub minor: u8,
    /// Build device version number.
    pub build: u8,
}

/// `5.4.3`
impl fmt::Display for DeviceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// The 17-byte payload of a CTAPHID_INIT response.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InitResponse {
    /// The nonce of the request this answers. A host ignores answers whose nonce is not
    /// its own: other programs share the broadcast channel.
    pub nonce: [u8; INIT_NONCE_LEN],
    /// The channel the device allocated (or resynchronised).
    pub cid: ChannelId,
    /// The CTAPHID protocol version, [`CTAPHID_PROTOCOL_VERSION`](crate::CTAPHID_PROTOCOL_VERSION)
    /// for CTAP 2.x devices.
    pub protocol_version: u8,
    /// The vendor's device version.
    pub device_version: DeviceVersion,
    /// The capability flags.
    pub capabilities: Capabilities,
}

/// Why bytes are not a valid INIT response.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InitResponseError {
    /// Fewer than [`INIT_RESPONSE_LEN`] bytes.
    Truncated {
        /// The bytes an INIT response needs (17).
        expected: usize,
        /// The bytes there were.
        got: usize,
    },
    /// The device granted the reserved channel 0 or the broadcast channel, which no
    /// request can use.
    InvalidChannel(ChannelId),
}

impl fmt::Display for InitResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { expected, got } => {
                write!(
                    f,
                    "INIT response too short: expected {expected} bytes, got {got}"
                )
            }
            Self::InvalidChannel(cid) => write!(
                f,
                "INIT response grants channel {cid}, which is {}",
                if cid.is_broadcast() {
                    "the broadcast channel"
                } else {
                    "reserved"
                }
            ),
        }
    }
}

impl core::error::Error for InitResponseError {}

impl InitResponse {
    /// Parses an INIT response payload. Bytes after the 17th are ignored (some devices
    /// send more).
    ///
    /// # Errors
    /// [`InitResponseError::Truncated`] for fewer than 17 bytes,
    /// [`InitResponseError::InvalidChannel`] if the granted channel is 0 or broadcast.
    pub fn parse(payload: &[u8]) -> Result<Self, InitResponseError> {
        let Some(bytes) = payload.first_chunk::<INIT_RESPONSE_LEN>() else {
            return Err(InitResponseError::Truncated {
                expected: INIT_RESPONSE_LEN,
                got: payload.len(),
            });
        };
        let [
            n0,
            n1,
            n2,
            n3,
            n4,
            n5,
            n6,
            n7,
            c0,
            c1,
            c2,
            c3,
            protocol_version,
            major,
            minor,
            build,
            caps,
        ] = *bytes;
        let cid = ChannelId::from_be_bytes([c0, c1, c2, c3]);
        if !cid.is_allocatable() {
            return Err(InitResponseError::InvalidChannel(cid));
        }
        Ok(Self {
            nonce: [n0, n1, n2, n3, n4, n5, n6, n7],
            cid,
            protocol_version,
            device_version: DeviceVersion {
                major,
                minor,
                build,
            },
            capabilities: Capabilities::from_bits(caps),
        })
    }

    /// The 17 bytes of the payload.
    #[must_use]
    pub const fn to_bytes(&self) -> [u8; INIT_RESPONSE_LEN] {
        let [n0, n1, n2, n3, n4, n5, n6, n7] = self.nonce;
        let [c0, c1, c2, c3] = self.cid.to_be_bytes();
        let DeviceVersion {
            major,
            minor,
            build,
        } = self.device_version;
        [
            n0,
            n1,
            n2,
            n3,
            n4,
            n5,
            n6,
            n7,
            c0,
            c1,
            c2,
            c3,
            self.protocol_version,
            major,
            minor,
            build,
            self.capabilities.bits(),
        ]
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    const SAMPLE: [u8; 17] = [
        1, 2, 3, 4, 5, 6, 7, 8, 0xCA, 0xFE, 0xBA, 0xBE, 2, 5, 4, 3, 0x0D,
    ];

    #[test]
    fn parse_reads_every_field() {
        let init = InitResponse::parse(&SAMPLE).unwrap();
        assert_eq!(init.nonce, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(init.cid, ChannelId::new(0xCAFE_BABE));
        assert_eq!(init.protocol_version, 2);
        assert_eq!(
            init.device_version,
            DeviceVersion {
                major: 5,
                minor: 4,
                build: 3
            }
        );
        assert_eq!(init.device_version.to_string(), "5.4.3");
        assert_eq!(
            init.capabilities,
            Capabilities::WINK | Capabilities::CBOR | Capabilities::NMSG
        );
        assert_eq!(init.to_bytes(), SAMPLE);
    }

    #[test]
    fn longer_answers_are_accepted_and_the_tail_ignored() {
        let mut long = [0xAA_u8; 20];
        long[..17].copy_from_slice(&SAMPLE);
        assert_eq!(InitResponse::parse(&long).unwrap().to_bytes(), SAMPLE);
    }

    #[test]
    fn short_answers_are_refused_with_the_lengths() {
        for len in 0..17 {
            assert_eq!(
                InitResponse::parse(&SAMPLE[..len]),
                Err(InitResponseError::Truncated {
                    expected: 17,
                    got: len
                })
            );
        }
        assert_eq!(
            InitResponseError::Truncated {
                expected: 17,
                got: 3
            }
            .to_string(),
            "INIT response too short: expected 17 bytes, got 3"
        );
    }

    #[test]
    fn reserved_and_broadcast_grants_are_refused() {
        for cid in [[0, 0, 0, 0], [0xFF; 4]] {
            let mut bytes = SAMPLE;
            bytes[8..12].copy_from_slice(&cid);
            let err = InitResponse::parse(&bytes).unwrap_err();
            assert_eq!(
                err,
                InitResponseError::InvalidChannel(ChannelId::from_be_bytes(cid))
            );
        }
        assert_eq!(
            InitResponseError::InvalidChannel(ChannelId::BROADCAST).to_string(),
            "INIT response grants channel ffffffff, which is the broadcast channel"
        );
        assert_eq!(
            InitResponseError::InvalidChannel(ChannelId::RESERVED).to_string(),
            "INIT response grants channel 00000000, which is reserved"
        );
    }
}
