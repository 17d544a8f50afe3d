//! Copies of one packet's data (at most 64 bytes) without a `memcpy` call, for the
//! reassembler's buffer. (The packetizer keeps `copy_from_slice`: measured, this made
//! its 64-byte path slower, as the compiler merged its copies into one of run-time
//! length.)

/// Copies `src` into `dst` (the shorter length of the two; at most one report's data
/// in practice) with fixed-size moves: the first and the last 32, 16, 8, 4 or 2 bytes,
/// overlapping in the middle, or one byte. A run-time length (report sizes other than
/// 64, the compact path) then costs a few moves instead of a `memcpy` call per report;
/// a constant length folds to the moves it needs.
#[cfg_attr(not(feature = "fast-path"), allow(dead_code))]
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [u8], src: &[u8]) {
    let len = dst.len().min(src.len());
    if len > 64 {
        if let (Some(dst), Some(src)) = (dst.get_mut(..len), src.get(..len)) {
            dst.copy_from_slice(src);
        }
        return;
    }
    macro_rules! ends {
        ($n:literal) => {
            if len >= $n {
                copy_chunk::<$n>(dst, src, 0);
                copy_chunk::<$n>(dst, src, len - $n);
                return;
            }
        };
    }
    ends!(32);
    ends!(16);
    ends!(8);
    ends!(4);
    ends!(2);
    ends!(1);
}

/// Copies one packet's data into the reassembler's buffer: [`copy_short`] with
/// `fast-path`, a plain loop without it, where code size counts more (`copy_short`
/// inlined at each site cost firmware 156 bytes of flash).
#[inline(always)]
pub(crate) fn copy_packet(dst: &mut [u8], src: &[u8]) {
    #[cfg(feature = "fast-path")]
    copy_short(dst, src);
    #[cfg(not(feature = "fast-path"))]
    // A plain loop over the shorter length: vectorised on a host (compact reassembly
    // of 7609 B: 6828 instructions, against 8531 with a `memcpy` call per report), a
    // byte loop at opt-level "z" on a Cortex-M (about 5 cycles a byte, so some 300
    // cycles per 64-byte report) that keeps framing + types within 1.5 KiB of flash;
    // no length check and panic path as with `copy_from_slice`.
    for (dst, &src) in dst.iter_mut().zip(src) {
        *dst = src;
    }
}

/// Copies the first and the last `N` bytes of `src` into `dst` (overlapping in the
/// middle): all of it when the common length is `N..=2N`.
#[cfg_attr(not(feature = "fast-path"), allow(dead_code))]
#[inline(always)]
pub(crate) fn copy_ends<const N: usize>(dst: &mut [u8], src: &[u8]) {
    let len = dst.len().min(src.len());
    copy_chunk::<N>(dst, src, 0);
    copy_chunk::<N>(dst, src, len.saturating_sub(N));
}

/// Copies `N` bytes at `at` (within both slices: see [`copy_short`]).
#[cfg_attr(not(feature = "fast-path"), allow(dead_code))]
#[inline(always)]
fn copy_chunk<const N: usize>(dst: &mut [u8], src: &[u8], at: usize) {
    let target = dst.get_mut(at..).and_then(<[u8]>::first_chunk_mut::<N>);
    let source = src.get(at..).and_then(<[u8]>::first_chunk::<N>);
    if let (Some(target), Some(source)) = (target, source) {
        *target = *source;
    }
}

#[cfg(test)]
mod tests {
    use super::copy_short;

    #[test]
    fn every_length_is_copied_exactly() {
        let src: [u8; 80] = core::array::from_fn(|i| u8::try_from(i + 1).unwrap_or(0));
        for len in 0..=80 {
            for dst_len in [len, len + 3] {
                let mut dst = [0u8; 90];
                copy_short(&mut dst[..dst_len], &src[..len]);
                assert_eq!(dst[..len], src[..len], "{len} into {dst_len}");
                assert!(dst[len..].iter().all(|&b| b == 0), "{len}: nothing past it");
            }
        }
    }
}
