//! The IV source for PIN/UV auth protocol two's encryption (hmac-secret salts):
//! `SharedSecret::encrypt` wants a `rand_core` generator, and draws one 16-byte IV.
//! The bytes are drawn from the operating system first, so a failing source is an
//! error here rather than a panic inside the generator.

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// 16 bytes from the operating system, handed out once.
pub(crate) struct DrawnIv {
    bytes: Zeroizing<[u8; 16]>,
    used: usize,
}

impl DrawnIv {
    /// Draws the IV.
    pub(crate) fn new() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 16]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|e| Error::Random(e.to_string()))?;
        Ok(Self { bytes, used: 0 })
    }
}

impl rand_core::RngCore for DrawnIv {
    fn next_u32(&mut self) -> u32 {
        let mut buf = [0; 4];
        self.fill_bytes(&mut buf);
        u32::from_le_bytes(buf)
    }

    fn next_u64(&mut self) -> u64 {
        let mut buf = [0; 8];
        self.fill_bytes(&mut buf);
        u64::from_le_bytes(buf)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // The drawn bytes first; past them (never, for one IV) the OS source again,
        // whose failure leaves the rest as drawn above rather than panicking.
        let available = self.bytes.get(self.used..).unwrap_or(&[]);
        if let Some(source) = available.get(..dest.len()) {
            dest.copy_from_slice(source);
            self.used += dest.len();
        } else {
            let _ = getrandom::fill(dest);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for DrawnIv {}
