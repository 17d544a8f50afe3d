//! Splitting a message into reports.

use core::fmt;

use ctap_types::{ChannelId, Command};

#[cfg(feature = "fast-path")]
use crate::copy::copy_ends;
use crate::{CONT_HEADER_LEN, FrameError, MAX_REPORT_SIZE, ReportSize};

/// Splits one message into reports, one at a time, into memory the caller owns.
///
/// It borrows the payload and copies each byte once, straight into the caller's
/// report buffer, which is zero padded. It knows its report count up front and refuses
/// a payload over the maximum (it never wraps SEQ).
///
/// ```
/// use ctap_types::{ChannelId, Command};
/// use ctaphid_frame::{Packetizer, ReportSize};
///
/// let payload = [0xAB; 58];
/// let mut packets = Packetizer::new(ChannelId::new(0x01020304), Command::PING, &payload, ReportSize::FULL_SPEED)?;
/// assert_eq!(packets.report_count(), 2);
///
/// // A hidapi caller leaves the first byte for the report id.
/// let mut out = [0u8; 65];
/// while let Some(len) = packets.write_next(&mut out[1..])? {
///     assert_eq!(len, 64);
///     // device.write(&out)?;
/// }
/// # Ok::<(), ctaphid_frame::FrameError>(())
/// ```
#[derive(Clone)]
pub struct Packetizer<'a> {
    cid: ChannelId,
    command: Command,
    payload: &'a [u8],
    report_size: ReportSize,
    /// Payload bytes not yet written.
    rest: &'a [u8],
    /// Reports already written (0: the init packet is next).
    written: usize,
    report_count: usize,
}

impl<'a> Packetizer<'a> {
    /// A packetizer for `payload` sent as `command` on channel `cid`.
    ///
    /// # Errors
    /// [`FrameError::PayloadTooLong`] if the payload is over
    /// [`ReportSize::max_message_len`].
    #[inline]
    pub const fn new(
        cid: ChannelId,
        command: Command,
        payload: &'a [u8],
        report_size: ReportSize,
    ) -> Result<Self, FrameError> {
        let max = report_size.max_message_len();
        if payload.len() > max {
            return Err(FrameError::PayloadTooLong {
                len: payload.len(),
                max,
            });
        }
        Ok(Self {
            cid,
            command,
            payload,
            report_size,
            rest: payload,
            written: 0,
            report_count: report_size.report_count(payload.len()),
        })
    }

    /// Writes the next report into `out[..report_size]` and returns its length, or
    /// `None` when every report has been written. Bytes of `out` past the report size
    /// are left alone.
    ///
    /// # Errors
    /// [`FrameError::OutputTooSmall`] if `out` is shorter than one report (nothing is
    /// written and the packetizer does not advance).
    #[inline(always)]
    pub fn write_next(&mut self, out: &mut [u8]) -> Result<Option<usize>, FrameError> {
        if self.written >= self.report_count {
            return Ok(None);
        }
        // Nearly every device has 64-byte reports: with the size a constant, every full
        // report is a handful of fixed-size moves instead of `memcpy` calls.
        #[cfg(feature = "fast-path")]
        if self.report_size == ReportSize::FULL_SPEED {
            if let Some(report) = out.first_chunk_mut::<MAX_REPORT_SIZE>() {
                self.write_report::<_, false>(report);
                return Ok(Some(MAX_REPORT_SIZE));
            }
        }
        let size = self.report_size.get();
        let got = out.len();
        let Some(report) = out.get_mut(..size) else {
            return Err(FrameError::OutputTooSmall { needed: size, got });
        };
        self.write_report::<_, true>(report);
        Ok(Some(size))
    }

    /// Writes as many of the next reports as `out` holds, back to back, and returns the
    /// bytes written (a whole number of reports; 0 when every report has been
    /// written). The fastest way to packetize a long message into one buffer (a UDP
    /// datagram stream, a queue of reports): the full continuation packets are written
    /// in one tight loop.
    ///
    /// # Errors
    /// [`FrameError::OutputTooSmall`] if reports are left and `out` cannot hold one
    /// (nothing is written).
    #[inline(always)]
    pub fn write_all(&mut self, out: &mut [u8]) -> Result<usize, FrameError> {
        let size = self.report_size.get();
        if self.written < self.report_count && out.len() < size {
            return Err(FrameError::OutputTooSmall {
                needed: size,
                got: out.len(),
            });
        }
        #[cfg(feature = "fast-path")]
        if self.report_size == ReportSize::FULL_SPEED {
            return Ok(self.write_reports::<false>(out, MAX_REPORT_SIZE));
        }
        Ok(self.write_reports::<true>(out, size))
    }

    /// [`write_all`](Self::write_all) for `size`-byte reports (a constant where it
    /// pays): the init and the last packet as `write_next` writes them, the full
    /// continuations in between with the position and SEQ in registers. `RUN_TIME`:
    /// `size` is not a constant (see [`write_report`](Self::write_report)).
    #[inline(always)]
    fn write_reports<const RUN_TIME: bool>(&mut self, out: &mut [u8], size: usize) -> usize {
        let mut written = 0;
        let mut reports = out.chunks_exact_mut(size);
        // The init packet.
        if self.written == 0 && self.written < self.report_count {
            let Some(report) = reports.next() else {
                return 0;
            };
            self.write_report::<_, RUN_TIME>(report);
            written += size;
        }
        // Full continuations: the payload left fills the data area.
        let capacity = size.saturating_sub(CONT_HEADER_LEN);
        let [c0, c1, c2, c3] = self.cid.to_be_bytes();
        let mut seq = self.written.saturating_sub(1);
        let mut rest = self.rest;
        for report in reports.by_ref() {
            let Some((chunk, tail)) = rest.split_at_checked(capacity) else {
                break;
            };
            if tail.is_empty() {
                // The last packet: as `write_next` writes it, below.
                break;
            }
            // At most 128 continuations, so the SEQ fits in 7 bits.
            #[allow(clippy::cast_possible_truncation)]
            let data = put_header(report, [c0, c1, c2, c3, seq as u8]);
            if let Some(data) = data.get_mut(..capacity) {
                copy_data::<RUN_TIME>(data, chunk);
            }
            seq += 1;
            rest = tail;
            written += size;
        }
        self.written = seq + 1;
        self.rest = rest;
        // The last packet, if there is room for it (the loop stopped before it).
        if self.written < self.report_count {
            if let Some(report) = out.get_mut(written..written + size) {
                self.write_report::<_, RUN_TIME>(report);
                written += size;
            }
        }
        written
    }

    /// Writes the next report into `report` (exactly the report size long; a fixed-size
    /// array when the size is known, so the copies below have constant lengths).
    /// `RUN_TIME` says the size is not known: the data is then copied with
    /// [`copy_data`] (a few fixed-size moves with `fast-path`) rather than a `memcpy`
    /// call per report.
    #[inline(always)]
    fn write_report<R: AsMut<[u8]> + ?Sized, const RUN_TIME: bool>(&mut self, report: &mut R) {
        let report = report.as_mut();
        let [c0, c1, c2, c3] = self.cid.to_be_bytes();
        // Each branch copies its own data: a shared copy would have a length of
        // "57 or 59" and become a `memcpy` call.
        if self.written == 0 {
            // The payload length was checked against the maximum (<= 7609) in `new`.
            #[allow(clippy::cast_possible_truncation)]
            let [len_hi, len_lo] = (self.payload.len() as u16).to_be_bytes();
            let header = [c0, c1, c2, c3, self.command.to_init_byte(), len_hi, len_lo];
            self.fill::<RUN_TIME>(put_header(report, header));
        } else {
            // At most 128 continuations (report_count is bounded by the maximum), so
            // the SEQ fits in 7 bits.
            #[allow(clippy::cast_possible_truncation)]
            let seq = (self.written - 1) as u8;
            self.fill::<RUN_TIME>(put_header(report, [c0, c1, c2, c3, seq]));
        }
        self.written += 1;
    }

    /// Fills the data area of a packet with the next payload bytes and zero padding.
    #[inline(always)]
    fn fill<const RUN_TIME: bool>(&mut self, data: &mut [u8]) {
        if let Some((chunk, rest)) = self.rest.split_at_checked(data.len()) {
            // A full packet: no padding.
            copy_data::<RUN_TIME>(data, chunk);
            self.rest = rest;
        } else {
            // The last packet: zero the whole data area (a fixed-size store) and put
            // the tail of the payload over it.
            zero(data);
            if let Some(target) = data.get_mut(..self.rest.len()) {
                target.copy_from_slice(self.rest);
            }
            self.rest = &[];
        }
    }

    /// The next report as [`Parts`], if it is a full packet (the init packet of a
    /// message that fills it, or a full continuation) and the payload holds the 56
    /// bytes after its first eight: those eight (the header and the first data bytes)
    /// merged in a register, the 56 borrowed from the payload, one bounds check for
    /// all of it. `None` otherwise (the zero-padded last packet, a full packet within
    /// the payload's last bytes), which `write_next` writes. `size` is the report size
    /// (a constant where it pays); a report under 64 bytes takes payload bytes past
    /// its end into the `Report`, which never shows them.
    #[cfg(feature = "fast-path")]
    #[inline(always)]
    fn next_full(&mut self, size: usize) -> Option<Parts<'a>> {
        let [c0, c1, c2, c3] = self.cid.to_be_bytes();
        if self.written == 0 {
            // CID | CMD | BCNT | the first payload byte, then 56 more.
            let (&first_byte, after) = self.payload.split_first()?;
            let tail = after.first_chunk()?;
            // The payload length was checked against the maximum (<= 7609) in `new`.
            #[allow(clippy::cast_possible_truncation)]
            let [len_hi, len_lo] = (self.payload.len() as u16).to_be_bytes();
            let command = self.command.to_init_byte();
            let header = u64::from_le_bytes([c0, c1, c2, c3, command, len_hi, len_lo, 0]);
            // A payload of 57 bytes or more fills any init packet (<= 57 data bytes).
            self.rest = self
                .rest
                .get(size.saturating_sub(crate::INIT_HEADER_LEN)..)
                .unwrap_or_default();
            self.written = 1;
            return Some(Parts {
                first: header | u64::from(first_byte) << 56,
                tail,
            });
        }
        // CID | SEQ over the five bytes before the data (the previous packet's data),
        // then 59 bytes from the data on: one window of the payload. With 59 bytes
        // left the packet is full (at most 59 data bytes).
        let pos = self.payload.len() - self.rest.len();
        let window = self
            .payload
            .get(pos.checked_sub(CONT_HEADER_LEN)?..)?
            .first_chunk::<MAX_REPORT_SIZE>()?;
        let (first, tail) = window.split_first_chunk::<8>()?;
        // At most 128 continuations: the SEQ fits in 7 bits.
        #[allow(clippy::cast_possible_truncation)]
        let seq = (self.written - 1) as u8;
        let header = u64::from_le_bytes([c0, c1, c2, c3, seq, 0, 0, 0]);
        self.rest = self
            .rest
            .get(size.saturating_sub(CONT_HEADER_LEN)..)
            .unwrap_or_default();
        self.written += 1;
        Some(Parts {
            first: (u64::from_le_bytes(*first) & !0xFF_FFFF_FFFF) | header,
            tail: tail.first_chunk()?,
        })
    }

    /// The iterator's next report of `size`-byte reports (a constant where it pays):
    /// a full one from [`next_full`](Self::next_full), the last ones through
    /// `write_next` and a read back (once per message). `last` is initialised in its
    /// branch: a zeroed buffer declared for every report cost four stores each.
    #[cfg(feature = "fast-path")]
    #[inline(always)]
    fn next_report(&mut self, size: usize) -> Option<Report> {
        let mut last;
        let parts = match self.next_full(size) {
            Some(parts) => parts,
            None => match self.write_next({
                last = [0; MAX_REPORT_SIZE];
                &mut last
            }) {
                Ok(Some(_)) => Parts::of(&last)?,
                // The buffer always holds a report: `Err` cannot happen.
                Ok(None) | Err(_) => return None,
            },
        };
        Some(Report {
            bytes: parts.bytes(),
            len: self.report_size.as_u8(),
        })
    }

    /// Reports in the whole message (at least one).
    #[must_use]
    pub const fn report_count(&self) -> usize {
        self.report_count
    }

    /// Reports not yet written.
    #[must_use]
    pub const fn reports_left(&self) -> usize {
        self.report_count - self.written
    }

    /// The report size.
    #[must_use]
    pub const fn report_size(&self) -> ReportSize {
        self.report_size
    }
}

/// Zeroes `data` (a packet's data area). The compact build stores a zero it cannot
/// see (`black_box`, an identity function) in a loop rather than calling `memset`:
/// the optimiser would turn a visible zero back into a `memset` call, and
/// `__aeabi_memclr` is 208 bytes of flash on a Cortex-M4 (`cargo xtask size`). Once
/// per message, at the last packet.
#[inline(always)]
fn zero(data: &mut [u8]) {
    #[cfg(feature = "fast-path")]
    data.fill(0);
    #[cfg(not(feature = "fast-path"))]
    {
        let zero = core::hint::black_box(0u8);
        for byte in data {
            *byte = zero;
        }
    }
}

/// Copies a full packet's data (`dst` and `src` of one length: the callers split the
/// payload at the data area's length). With `fast-path` and `RUN_TIME` (a report size
/// other than 64), a data area of 32..=64 bytes (report sizes 39..=63) is copied with
/// two overlapping 32-byte moves ([`copy_ends`]): `copy_from_slice` of a run-time
/// length is a `memcpy` call per report (62-byte reports packetized 1.38x slower per
/// byte than 64-byte ones). Otherwise `copy_from_slice`: a constant length folds to
/// moves, smaller reports stay on `memcpy` (a copy for every length there made the
/// caller's loop too large for the compiler to take the 64-byte check out of it:
/// 31% more instructions on the 64-byte path), and the compact build keeps its code
/// small.
#[inline(always)]
fn copy_data<const RUN_TIME: bool>(dst: &mut [u8], src: &[u8]) {
    #[cfg(feature = "fast-path")]
    if RUN_TIME && (32..=64).contains(&dst.len()) {
        copy_ends::<32>(dst, src);
        return;
    }
    dst.copy_from_slice(src);
}

/// Writes `header` at the start of `report` and returns the data area after it.
#[inline(always)]
fn put_header<const H: usize>(report: &mut [u8], header: [u8; H]) -> &mut [u8] {
    match report.split_first_chunk_mut::<H>() {
        Some((target, data)) => {
            *target = header;
            data
        }
        // Report sizes are at least 8 bytes, longer than any header.
        None => &mut [],
    }
}

impl fmt::Debug for Packetizer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packetizer")
            .field("cid", &self.cid)
            .field("command", &self.command)
            .field("payload_len", &self.payload.len())
            .field("report_size", &self.report_size)
            .field("written", &self.written)
            .field("report_count", &self.report_count)
            .finish()
    }
}

/// A 64-byte report as the iterator builds it: its first eight bytes as a `u64` (the
/// header merged with the first data bytes in a register, so they are stored at once)
/// and a reference to the 56 bytes after them (in the payload, or in the last packet
/// written by `write_next`). The branches of [`Packetizer::next`] meet with these two
/// words, not with a report in memory, and the `Report` is then stored once, 8, 8 and
/// 48 bytes at a time: the loads of the moves that follow each find one store to read from
/// (store forwarding). Assembled in memory by `write_next` (a 7- or 5-byte header, the
/// data at an odd offset) and moved, each report waited for its narrow stores to reach
/// the cache: the iterator was 5.8x slower than `write_next`; a phi of the 48 bytes
/// by value went through the stack (1.39x), a reference does not (1.14x).
#[cfg(feature = "fast-path")]
#[derive(Clone, Copy)]
struct Parts<'s> {
    first: u64,
    tail: &'s [u8; MAX_REPORT_SIZE - 8],
}

#[cfg(feature = "fast-path")]
impl<'s> Parts<'s> {
    /// The parts of a report written in memory (the last packet of a message: one
    /// read back per message).
    #[inline(always)]
    fn of(bytes: &'s [u8; MAX_REPORT_SIZE]) -> Option<Self> {
        let (first, tail) = bytes.split_first_chunk::<8>()?;
        Some(Self {
            first: u64::from_le_bytes(*first),
            tail: tail.first_chunk()?,
        })
    }

    /// The report's bytes.
    #[inline(always)]
    fn bytes(self) -> [u8; MAX_REPORT_SIZE] {
        let mut bytes = [0u8; MAX_REPORT_SIZE];
        if let Some((first, target)) = bytes.split_first_chunk_mut::<8>() {
            *first = self.first.to_le_bytes();
            if let (Some((second, target)), Some((source_second, source))) = (
                target.split_first_chunk_mut::<8>(),
                self.tail.split_first_chunk::<8>(),
            ) {
                *second = *source_second;
                target.copy_from_slice(source);
            }
        }
        bytes
    }
}

/// One report produced by iterating a [`Packetizer`]: up to 64 bytes held inline.
///
/// Two reports are equal when their bytes are ([`as_bytes`](Self::as_bytes)); what the
/// inline buffer holds past the report size is not part of it.
#[derive(Clone, Copy)]
pub struct Report {
    bytes: [u8; MAX_REPORT_SIZE],
    len: u8,
}

impl Report {
    /// The report's bytes (exactly the report size).
    #[must_use]
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl PartialEq for Report {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Report {}

impl core::ops::Deref for Report {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Report {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Report(")?;
        for byte in self.as_bytes() {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// The reports in order, each copied into an inline [`Report`].
impl Iterator for Packetizer<'_> {
    type Item = Report;

    #[inline(always)]
    fn next(&mut self) -> Option<Report> {
        // 64-byte reports take a copy of `next_report` of their own, where the size is
        // a constant: through one copy for every size they took 352 ns for 7609 B,
        // with their own 306 (299 when other sizes were left to `write_next`, at 1254
        // ns for 7351 B of 62-byte reports).
        #[cfg(feature = "fast-path")]
        if self.report_size == ReportSize::FULL_SPEED {
            return self.next_report(MAX_REPORT_SIZE);
        }
        #[cfg(feature = "fast-path")]
        return self.next_report(self.report_size.get());
        #[cfg(not(feature = "fast-path"))]
        {
            let mut report = Report {
                bytes: [0; MAX_REPORT_SIZE],
                len: self.report_size.as_u8(),
            };
            match self.write_next(&mut report.bytes) {
                Ok(Some(_)) => Some(report),
                // The inline buffer always holds a report: `Err` cannot happen.
                Ok(None) | Err(_) => None,
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.reports_left(), Some(self.reports_left()))
    }
}

impl ExactSizeIterator for Packetizer<'_> {}
impl core::iter::FusedIterator for Packetizer<'_> {}
