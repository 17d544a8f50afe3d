//! Framing errors.

use core::fmt;

use ctap_types::{ChannelId, Command, HidErrorCode};

/// What went wrong while framing or reassembling, with the values involved.
///
/// Errors caused by a received report carry its channel id where the report had one, so
/// a device can answer on that channel and a host can tell whose traffic it was;
/// [`hid_error_code`](Self::hid_error_code) is the CTAPHID ERROR code a device answers
/// with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// A report size outside 8..=64.
    InvalidReportSize {
        /// The size asked for.
        size: usize,
    },
    /// A payload longer than the reports can carry (SEQ would have to wrap).
    PayloadTooLong {
        /// The payload length.
        len: usize,
        /// The maximum for this report size.
        max: usize,
    },
    /// The caller's output buffer cannot hold one report.
    OutputTooSmall {
        /// The bytes one report needs.
        needed: usize,
        /// The bytes the buffer has.
        got: usize,
    },
    /// A received report is shorter than the report size.
    ShortReport {
        /// Its channel, if it had the four bytes of one.
        cid: Option<ChannelId>,
        /// The report size.
        expected: usize,
        /// Its length.
        got: usize,
    },
    /// A continuation packet arrived while no message was being received on its channel.
    UnexpectedContinuation {
        /// Its channel.
        cid: ChannelId,
        /// Its SEQ.
        seq: u8,
    },
    /// A continuation packet had the wrong SEQ; the message it belonged to is dropped.
    SequenceMismatch {
        /// The channel.
        cid: ChannelId,
        /// The SEQ that was due.
        expected: u8,
        /// The SEQ that came.
        got: u8,
    },
    /// An init packet arrived on a channel whose message was still incomplete, under
    /// [`InitOnBusy::Reject`](crate::InitOnBusy::Reject). Both messages are dropped.
    UnexpectedInit {
        /// The channel.
        cid: ChannelId,
        /// The command of the new init packet.
        command: Command,
    },
    /// An init packet declared a length (BCNT) over the maximum message or the buffer.
    LengthTooLarge {
        /// The channel.
        cid: ChannelId,
        /// The declared length.
        declared: usize,
        /// The most the reassembler can take.
        max: usize,
    },
}

impl FrameError {
    /// The channel of the offending report, if there was one.
    #[must_use]
    pub const fn cid(&self) -> Option<ChannelId> {
        match *self {
            Self::ShortReport { cid, .. } => cid,
            Self::UnexpectedContinuation { cid, .. }
            | Self::SequenceMismatch { cid, .. }
            | Self::UnexpectedInit { cid, .. }
            | Self::LengthTooLarge { cid, .. } => Some(cid),
            Self::InvalidReportSize { .. }
            | Self::PayloadTooLong { .. }
            | Self::OutputTooSmall { .. } => None,
        }
    }

    /// The CTAPHID error code a device answers this with (CTAP 2.1 §11.2.9.1.6):
    /// sequence errors `INVALID_SEQ`, length errors `INVALID_LEN`, the rest
    /// `INVALID_PAR`.
    #[must_use]
    pub const fn hid_error_code(&self) -> HidErrorCode {
        match self {
            Self::UnexpectedContinuation { .. }
            | Self::SequenceMismatch { .. }
            | Self::UnexpectedInit { .. } => HidErrorCode::INVALID_SEQ,
            Self::LengthTooLarge { .. }
            | Self::ShortReport { .. }
            | Self::PayloadTooLong { .. } => HidErrorCode::INVALID_LEN,
            Self::InvalidReportSize { .. } | Self::OutputTooSmall { .. } => {
                HidErrorCode::INVALID_PAR
            }
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::InvalidReportSize { size } => {
                write!(f, "report size must be 8..=64 bytes, got {size}")
            }
            Self::PayloadTooLong { len, max } => {
                write!(
                    f,
                    "payload of {len} bytes is over the maximum of {max} for this report size"
                )
            }
            Self::OutputTooSmall { needed, got } => {
                write!(
                    f,
                    "output buffer too small for a report: needed {needed} bytes, got {got}"
                )
            }
            Self::ShortReport {
                cid: Some(cid),
                expected,
                got,
            } => {
                write!(
                    f,
                    "short report on channel {cid}: expected {expected} bytes, got {got}"
                )
            }
            Self::ShortReport {
                cid: None,
                expected,
                got,
            } => {
                write!(f, "short report: expected {expected} bytes, got {got}")
            }
            Self::UnexpectedContinuation { cid, seq } => write!(
                f,
                "continuation packet (SEQ {seq}) on channel {cid} without an init packet"
            ),
            Self::SequenceMismatch { cid, expected, got } => {
                write!(
                    f,
                    "wrong SEQ on channel {cid}: expected {expected}, got {got}"
                )
            }
            Self::UnexpectedInit { cid, command } => write!(
                f,
                "init packet ({command}) on channel {cid} while its previous message was incomplete"
            ),
            Self::LengthTooLarge { cid, declared, max } => write!(
                f,
                "message on channel {cid} declares {declared} bytes, over the maximum of {max}"
            ),
        }
    }
}

impl core::error::Error for FrameError {}
