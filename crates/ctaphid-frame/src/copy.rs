//! Copies of one packet's data (at most 64 bytes) without a `memcpy` call, for the
//! reassembler's buffer. (The packetizer keeps `copy_from_slice`: measured, this made
//! its 64-byte path slower, as the compiler merged its copies into one of run-time
//! length.)

/// Copies `src` into `dst` (the shorter length of the two; at most one report's data
/// in practice) with fixed-size moves: the first and the last 32, 16, 8, 4 or 2 bytes,
/// overlapping in the middle, or one byte. A run-time length (report sizes other than
/// 64, the compact path) then costs a few moves instead of a `memcpy` call per report;
/// a constant length folds to the moves it needs.
#[cfg_attr(
    all(not(feature = "fast-path"), target_pointer_width = "32"),
    allow(dead_code)
)]
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

/// Copies one packet's data into the reassembler's buffer: [`copy_short`] (a few
/// fixed-size moves) with `fast-path` and in any 64-bit build; word by word
/// ([`copy_words`]) in the compact build of a 32-bit target, where flash is scarce
/// (`copy_short` inlined at each site cost firmware 156 bytes).
///
/// Why words there: at opt-level "z" a byte loop stays a byte loop, 6 instructions a
/// byte on a Cortex-M4 (`cargo xtask cortex-m-icount`: 52128 instructions to
/// reassemble 7609 B); the word loop takes 19362 for 48 bytes more flash (1504 B of
/// the 1536 budget, `cargo xtask size`). Unaligned word loads and stores are single
/// instructions on a Cortex-M3/M4/M7; for a core without them (a Cortex-M0) the
/// compiler moves bytes, as before. Why not words everywhere: on x86-64 the word
/// loop took 15368 instructions where a byte loop (vectorised, or a `memcpy` call)
/// took 8286 and `copy_short` 7904 for the compact build's 7609-byte reassembly.
#[inline(always)]
pub(crate) fn copy_packet(dst: &mut [u8], src: &[u8]) {
    #[cfg(any(feature = "fast-path", not(target_pointer_width = "32")))]
    copy_short(dst, src);
    #[cfg(all(not(feature = "fast-path"), target_pointer_width = "32"))]
    copy_words(dst, src);
}

/// Copies `src` into `dst` (the shorter length of the two) four bytes at a time, then
/// the last bytes one by one: the compact build's copy on 32-bit targets (tested on
/// every target).
#[cfg_attr(
    any(feature = "fast-path", not(target_pointer_width = "32")),
    allow(dead_code)
)]
#[inline(always)]
fn copy_words(dst: &mut [u8], src: &[u8]) {
    // One length for both, so that the words and the bytes after them line up.
    let len = dst.len().min(src.len());
    let (Some(dst), Some(src)) = (dst.get_mut(..len), src.get(..len)) else {
        return;
    };
    let mut targets = dst.chunks_exact_mut(4);
    let mut sources = src.chunks_exact(4);
    for (target, source) in (&mut targets).zip(&mut sources) {
        target.copy_from_slice(source);
    }
    for (target, &source) in targets.into_remainder().iter_mut().zip(sources.remainder()) {
        *target = source;
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
    use super::{copy_short, copy_words};

    #[test]
    fn every_length_is_copied_exactly() {
        let src: [u8; 80] = core::array::from_fn(|i| u8::try_from(i + 1).unwrap_or(0));
        for copy in [copy_short, copy_words] {
            for len in 0..=80 {
                for (dst_len, src_len) in [(len, len), (len + 3, len), (len, len + 3)] {
                    let mut dst = [0u8; 90];
                    copy(&mut dst[..dst_len], &src[..src_len.min(80)]);
                    let copied = dst_len.min(src_len).min(80);
                    assert_eq!(
                        dst[..copied],
                        src[..copied],
                        "{len}: {src_len} into {dst_len}"
                    );
                    assert!(
                        dst[copied..].iter().all(|&b| b == 0),
                        "{len}: nothing past it"
                    );
                }
            }
        }
    }
}
