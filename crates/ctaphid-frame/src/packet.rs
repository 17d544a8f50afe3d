//! Zero-copy views of one CTAPHID packet (CTAP 2.1 §11.2.4).
//!
//! ```text
//! init packet          CID (4, BE) | CMD | 0x80 (1) | BCNT (2, BE) | DATA (S-7)
//! continuation packet  CID (4, BE) | SEQ (1, 0..=0x7F)             | DATA (S-5)
//! ```

use ctap_types::{ChannelId, Command};

use crate::{CONT_HEADER_LEN, FrameError, INIT_HEADER_LEN};

/// One packet, borrowed from the report it was read from.
///
/// `data` is everything after the header up to the end of the report, padding included;
/// only the reassembler knows how much of it is payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Packet<'a> {
    /// The first packet of a message.
    Init {
        /// Channel.
        cid: ChannelId,
        /// Command (the CMD byte without bit 7).
        command: Command,
        /// Declared payload length of the whole message (BCNT).
        len: u16,
        /// The data bytes of this packet, padding included.
        data: &'a [u8],
    },
    /// A following packet.
    Continuation {
        /// Channel.
        cid: ChannelId,
        /// Sequence number, 0..=0x7F.
        seq: u8,
        /// The data bytes of this packet, padding included.
        data: &'a [u8],
    },
}

impl<'a> Packet<'a> {
    /// Reads the header of a report. Only the header is checked: the reassembler checks
    /// the report length against the report size.
    ///
    /// # Errors
    /// [`FrameError::ShortReport`] if the report is too short for its header.
    pub fn parse(report: &'a [u8]) -> Result<Self, FrameError> {
        let Some((cid, rest)) = report.split_first_chunk::<4>() else {
            return Err(FrameError::ShortReport {
                cid: None,
                expected: CONT_HEADER_LEN,
                got: report.len(),
            });
        };
        let cid = ChannelId::from_be_bytes(*cid);
        let short = |expected| FrameError::ShortReport {
            cid: Some(cid),
            expected,
            got: report.len(),
        };
        let Some((&marker, rest)) = rest.split_first() else {
            return Err(short(CONT_HEADER_LEN));
        };
        if marker & 0x80 == 0 {
            return Ok(Self::Continuation {
                cid,
                seq: marker,
                data: rest,
            });
        }
        let Some((len, data)) = rest.split_first_chunk::<2>() else {
            return Err(short(INIT_HEADER_LEN));
        };
        Ok(Self::Init {
            cid,
            command: Command::from_init_byte(marker),
            len: u16::from_be_bytes(*len),
            data,
        })
    }

    /// The channel.
    #[must_use]
    pub const fn cid(&self) -> ChannelId {
        match *self {
            Self::Init { cid, .. } | Self::Continuation { cid, .. } => cid,
        }
    }

    /// `true` for an init packet.
    #[must_use]
    pub const fn is_init(&self) -> bool {
        matches!(self, Self::Init { .. })
    }
}
