//! Where the reassembler puts a message: memory the caller chooses.

/// Memory a [`Reassembler`](crate::Reassembler) assembles a message in.
///
/// Implemented for fixed memory (`[u8; N]`, `&mut [u8]`: firmware), for `Vec<u8>`
/// (host; used up to its capacity, never grown, so never reallocated) and, with the
/// `bytes` feature, for `BytesMut` (host; complete messages are split off as `Bytes`
/// without a copy).
///
/// The reassembler calls [`append`](Self::append) only with `offset + data.len()` within
/// [`max_len`](Self::max_len), and with each offset following the last append since
/// [`clear`](Self::clear).
pub trait MessageBuffer {
    /// The longest message this buffer holds. Read once, by
    /// [`Reassembler::new`](crate::Reassembler::new).
    fn max_len(&self) -> usize;
    /// Forgets the message being assembled.
    fn clear(&mut self);
    /// Puts `data` at `offset` (the end of what was appended since the last `clear`).
    fn append(&mut self, offset: usize, data: &[u8]);
    /// The first `len` bytes of the assembled message.
    fn filled(&self, len: usize) -> &[u8];
}

impl MessageBuffer for [u8] {
    #[inline]
    fn max_len(&self) -> usize {
        self.len()
    }
    #[inline]
    fn clear(&mut self) {}
    #[inline]
    fn append(&mut self, offset: usize, data: &[u8]) {
        if let Some(target) = self
            .get_mut(offset..)
            .and_then(|rest| rest.get_mut(..data.len()))
        {
            crate::copy::copy_packet(target, data);
        }
    }
    #[inline]
    fn filled(&self, len: usize) -> &[u8] {
        self.get(..len).unwrap_or(self)
    }
}

/// `MessageBuffer` for owned fixed memory: the slice's methods on its whole length.
macro_rules! fixed_memory {
    ($($(#[$attr:meta])* [$($generics:tt)*] $type:ty;)*) => {$(
        $(#[$attr])*
        impl<$($generics)*> MessageBuffer for $type {
            #[inline]
            fn max_len(&self) -> usize {
                <[u8]>::len(self.as_ref())
            }
            #[inline]
            fn clear(&mut self) {}
            #[inline]
            fn append(&mut self, offset: usize, data: &[u8]) {
                <[u8] as MessageBuffer>::append(self.as_mut(), offset, data);
            }
            #[inline]
            fn filled(&self, len: usize) -> &[u8] {
                <[u8] as MessageBuffer>::filled(self.as_ref(), len)
            }
        }
    )*};
}

fixed_memory! {
    [const N: usize] [u8; N];
    /// A `Vec<u8>` is used as fixed memory of its *length* (`vec![0; 7609]`), like a
    /// slice: it is never grown or shrunk.
    #[cfg(feature = "alloc")]
    [] alloc::vec::Vec<u8>;
    /// A `Box<[u8]>` is fixed memory of its length.
    #[cfg(feature = "alloc")]
    [] alloc::boxed::Box<[u8]>;
}

impl<T: MessageBuffer + ?Sized> MessageBuffer for &mut T {
    #[inline]
    fn max_len(&self) -> usize {
        (**self).max_len()
    }
    #[inline]
    fn clear(&mut self) {
        (**self).clear();
    }
    #[inline]
    fn append(&mut self, offset: usize, data: &[u8]) {
        (**self).append(offset, data);
    }
    #[inline]
    fn filled(&self, len: usize) -> &[u8] {
        (**self).filled(len)
    }
}

#[cfg(feature = "bytes")]
impl MessageBuffer for bytes::BytesMut {
    #[inline]
    fn max_len(&self) -> usize {
        self.capacity()
    }
    #[inline]
    fn clear(&mut self) {
        bytes::BytesMut::clear(self);
    }
    #[inline]
    fn append(&mut self, _offset: usize, data: &[u8]) {
        // Within capacity (checked by the reassembler): no reallocation.
        self.extend_from_slice(data);
    }
    #[inline]
    fn filled(&self, len: usize) -> &[u8] {
        self.get(..len).unwrap_or(self)
    }
}
