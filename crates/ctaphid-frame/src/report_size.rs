//! Report sizes and the capacities that follow from them (CTAP 2.1 §11.2.4).

use core::fmt;

use crate::FrameError;

/// Smallest report size this crate accepts (libfido2 accepts the same range).
pub const MIN_REPORT_SIZE: usize = 8;
/// Largest report size: full-speed USB HID reports are at most 64 bytes.
pub const MAX_REPORT_SIZE: usize = 64;
/// Header of an init packet: CID (4) | CMD (1) | BCNT (2).
pub const INIT_HEADER_LEN: usize = 7;
/// Header of a continuation packet: CID (4) | SEQ (1).
pub const CONT_HEADER_LEN: usize = 5;
/// The highest continuation sequence number (SEQ has 7 bits; it never wraps).
pub const MAX_SEQ: u8 = 0x7F;
/// Continuation packets a message may have: SEQ 0..=0x7F.
pub const MAX_CONTINUATIONS: usize = MAX_SEQ as usize + 1;
/// The largest message of 64-byte reports: 57 + 128 * 59 = 7609 bytes.
pub const MAX_MESSAGE_LEN: usize = max_message_len(MAX_REPORT_SIZE);

/// Payload bytes in the init packet of a `report_size`-byte report (`S - 7`).
#[must_use]
pub const fn init_capacity(report_size: usize) -> usize {
    report_size.saturating_sub(INIT_HEADER_LEN)
}

/// Payload bytes in a continuation packet of a `report_size`-byte report (`S - 5`).
#[must_use]
pub const fn cont_capacity(report_size: usize) -> usize {
    report_size.saturating_sub(CONT_HEADER_LEN)
}

/// The largest message `report_size`-byte reports can carry: `(S-7) + 128 * (S-5)`;
/// 7609 for 64, 7351 for 62, 385 for 8.
#[must_use]
pub const fn max_message_len(report_size: usize) -> usize {
    init_capacity(report_size) + MAX_CONTINUATIONS * cont_capacity(report_size)
}

/// A validated report size, 8..=64 bytes, chosen at run time (the HID report descriptor
/// decides) or as a constant.
///
/// Input and output report sizes may differ on one device: use one `ReportSize` per
/// direction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReportSize(Repr);

/// How a [`ReportSize`] is stored. With `fast-path` (the host) an enum of the valid
/// sizes: the compiler then knows a size is 8..=64 wherever one is read (LLVM range
/// metadata), so the hot paths carry no checks for sizes that cannot be (a report
/// shorter than its header, a data area over 64 bytes). Measured on x86-64: 62-byte
/// reports reassembled with 7007 instructions per 7351-byte message instead of 7388
/// (304 instead of 365 ns), the iterator at 299 instead of 352 ns per 7609 bytes. The
/// compact build keeps a `u8`: there the enum cost 20 bytes of flash (1552 against
/// the 1536 budget, `cargo xtask size`).
#[cfg(feature = "fast-path")]
type Repr = Bytes;
#[cfg(not(feature = "fast-path"))]
type Repr = u8;

/// Declares [`Bytes`], one variant per valid report size, and its conversion.
macro_rules! sizes {
    ($($variant:ident = $bytes:literal),* $(,)?) => {
        /// A report size in bytes, 8..=64, as an enum (see [`Repr`]).
        #[cfg(feature = "fast-path")]
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[repr(u8)]
        enum Bytes {
            $($variant = $bytes),*
        }

        /// `bytes` as a [`Repr`], if it is within 8..=64.
        #[cfg(feature = "fast-path")]
        const fn to_repr(bytes: usize) -> Option<Repr> {
            match bytes {
                $($bytes => Some(Bytes::$variant),)*
                _ => None,
            }
        }
    };
}

sizes! {
    S8 = 8, S9 = 9, S10 = 10, S11 = 11, S12 = 12, S13 = 13, S14 = 14, S15 = 15, S16 =
    16, S17 = 17, S18 = 18, S19 = 19, S20 = 20, S21 = 21, S22 = 22, S23 = 23, S24 = 24,
    S25 = 25, S26 = 26, S27 = 27, S28 = 28, S29 = 29, S30 = 30, S31 = 31, S32 = 32, S33
    = 33, S34 = 34, S35 = 35, S36 = 36, S37 = 37, S38 = 38, S39 = 39, S40 = 40, S41 =
    41, S42 = 42, S43 = 43, S44 = 44, S45 = 45, S46 = 46, S47 = 47, S48 = 48, S49 = 49,
    S50 = 50, S51 = 51, S52 = 52, S53 = 53, S54 = 54, S55 = 55, S56 = 56, S57 = 57, S58
    = 58, S59 = 59, S60 = 60, S61 = 61, S62 = 62, S63 = 63, S64 = 64
}

/// `bytes` as a [`Repr`], if it is within 8..=64.
#[cfg(not(feature = "fast-path"))]
const fn to_repr(bytes: usize) -> Option<Repr> {
    if bytes < MIN_REPORT_SIZE || bytes > MAX_REPORT_SIZE {
        return None;
    }
    // In range 8..=64, so it fits in a u8.
    #[allow(clippy::cast_possible_truncation)]
    Some(bytes as u8)
}

impl ReportSize {
    /// 64 bytes: nearly every FIDO device.
    pub const FULL_SPEED: Self = match to_repr(MAX_REPORT_SIZE) {
        Some(size) => Self(size),
        None => panic!("64 is a report size"),
    };
    /// The smallest size accepted (8).
    pub const MIN: Self = match to_repr(MIN_REPORT_SIZE) {
        Some(size) => Self(size),
        None => panic!("8 is a report size"),
    };

    /// The report size of `bytes`.
    ///
    /// # Errors
    /// [`FrameError::InvalidReportSize`] outside 8..=64.
    pub const fn new(bytes: usize) -> Result<Self, FrameError> {
        match to_repr(bytes) {
            Some(size) => Ok(Self(size)),
            None => Err(FrameError::InvalidReportSize { size: bytes }),
        }
    }

    /// The size as a byte (for inline storage).
    // A no-op cast in the compact build, where the size is stored as a `u8`.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) const fn as_u8(self) -> u8 {
        self.0 as u8
    }

    /// The size in bytes.
    #[must_use]
    pub const fn get(self) -> usize {
        self.0 as usize
    }

    /// Payload bytes of an init packet (`S - 7`).
    #[must_use]
    pub const fn init_capacity(self) -> usize {
        init_capacity(self.get())
    }

    /// Payload bytes of a continuation packet (`S - 5`).
    #[must_use]
    pub const fn cont_capacity(self) -> usize {
        cont_capacity(self.get())
    }

    /// The largest message: `(S-7) + 128 * (S-5)`.
    #[must_use]
    pub const fn max_message_len(self) -> usize {
        max_message_len(self.get())
    }

    /// Reports needed for a payload of `payload_len` bytes (at least one; a payload over
    /// the maximum gives the count it would need, which the packetizer refuses).
    #[must_use]
    pub const fn report_count(self, payload_len: usize) -> usize {
        let init = self.init_capacity();
        if payload_len <= init {
            1
        } else {
            1 + (payload_len - init).div_ceil(self.cont_capacity())
        }
    }
}

impl Default for ReportSize {
    fn default() -> Self {
        Self::FULL_SPEED
    }
}

impl TryFrom<usize> for ReportSize {
    type Error = FrameError;
    fn try_from(bytes: usize) -> Result<Self, FrameError> {
        Self::new(bytes)
    }
}

impl fmt::Debug for ReportSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReportSize({})", self.get())
    }
}

impl fmt::Display for ReportSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities_match_the_spec_formula() {
        assert_eq!(MAX_MESSAGE_LEN, 7609);
        assert_eq!(max_message_len(62), 7351);
        assert_eq!(max_message_len(8), 385);
        let s = ReportSize::FULL_SPEED;
        assert_eq!((s.init_capacity(), s.cont_capacity()), (57, 59));
        assert_eq!(s.report_count(0), 1);
        assert_eq!(s.report_count(57), 1);
        assert_eq!(s.report_count(58), 2);
        assert_eq!(s.report_count(57 + 59), 2);
        assert_eq!(s.report_count(57 + 59 + 1), 3);
        assert_eq!(s.report_count(7609), 129);
    }

    #[test]
    fn sizes_outside_8_to_64_are_refused() {
        for bad in [0, 1, 7, 65, 128, usize::MAX] {
            assert_eq!(
                ReportSize::new(bad),
                Err(FrameError::InvalidReportSize { size: bad })
            );
        }
        for good in 8..=64 {
            assert_eq!(ReportSize::new(good).map(ReportSize::get), Ok(good));
        }
    }
}
