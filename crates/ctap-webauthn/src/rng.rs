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

impl DrawnIv {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // The drawn bytes first; past them (never: one IV is all an encryption takes)
        // the OS source again. The generator cannot report an error (`CryptoRng` is
        // infallible in rand_core 0.10), and predictable bytes must never be handed
        // out, so that unreachable failure panics, as ctap2-client's `Drawn` does.
        let available = self.bytes.get(self.used..).unwrap_or(&[]);
        if let Some(source) = available.get(..dest.len()) {
            dest.copy_from_slice(source);
            self.used += dest.len();
        } else if getrandom::fill(dest).is_err() {
            panic!("the operating system's random number generator failed");
        }
    }
}

impl rand_core::TryRng for DrawnIv {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> core::result::Result<u32, Self::Error> {
        let mut buf = [0; 4];
        self.fill_bytes(&mut buf);
        Ok(u32::from_le_bytes(buf))
    }

    fn try_next_u64(&mut self) -> core::result::Result<u64, Self::Error> {
        let mut buf = [0; 8];
        self.fill_bytes(&mut buf);
        Ok(u64::from_le_bytes(buf))
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> core::result::Result<(), Self::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for DrawnIv {}
