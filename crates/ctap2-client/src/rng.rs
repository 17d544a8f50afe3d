//! Where the client's randomness comes from: the platform's key-agreement keys and
//! protocol two's IVs.

use zeroize::Zeroizing;

use crate::{Error, Result};

/// A source of random bytes. [`SystemRandom`] (the operating system's generator) is the
/// default; tests put a fixed sequence here to reproduce known answers.
pub trait Randomness: Send {
    /// Fills `out` with random bytes.
    ///
    /// # Errors
    /// [`Error::Random`] when no randomness is available.
    fn fill(&mut self, out: &mut [u8]) -> Result<()>;

    /// Whether this source is the operating system's generator, so that the PIN/UV key
    /// agreement may draw its key pair from the operating system directly (through
    /// `ring`, feature `ring`, which takes no other source) rather than from
    /// [`fill`](Self::fill). `false` unless a source says otherwise: [`SystemRandom`]
    /// does.
    fn is_operating_system(&self) -> bool {
        false
    }
}

/// The operating system's random number generator (`getrandom`).
#[derive(Clone, Copy, Default, Debug)]
pub struct SystemRandom;

impl Randomness for SystemRandom {
    fn fill(&mut self, out: &mut [u8]) -> Result<()> {
        getrandom::fill(out).map_err(|e| Error::Random(e.to_string()))
    }

    fn is_operating_system(&self) -> bool {
        true
    }
}

/// A `rand_core` generator over bytes drawn in advance from a [`Randomness`], so that
/// a failing source is an error of the call that needs it, never a panic deep inside
/// the crypto (`rand_core` 0.10's `CryptoRng`, which `SharedSecret::encrypt` takes, is
/// infallible). Holds exactly what the operation takes (an IV); asking for more is a
/// bug of the caller and draws from the operating system instead. Public for the
/// layers above (the WebAuthn client's hmac-secret salts) so there is one of it.
pub struct Drawn {
    bytes: Zeroizing<Vec<u8>>,
    used: usize,
}

impl core::fmt::Debug for Drawn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The bytes become an IV or a key: never printed.
        f.debug_struct("Drawn")
            .field("len", &self.bytes.len())
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl Drawn {
    /// `len` bytes drawn from `source` now.
    ///
    /// # Errors
    /// What `source` fails with.
    pub fn new(source: &mut dyn Randomness, len: usize) -> Result<Self> {
        let mut bytes = Zeroizing::new(vec![0; len]);
        source.fill(&mut bytes)?;
        Ok(Self { bytes, used: 0 })
    }
}

impl Drawn {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let available = self.bytes.get(self.used..).unwrap_or(&[]);
        if let Some(source) = available.get(..dest.len()) {
            dest.copy_from_slice(source);
            self.used += dest.len();
        } else if getrandom::fill(dest).is_err() {
            // Unreachable in practice (the buffer is sized for the operation); never
            // hand out predictable bytes.
            panic!("the operating system's random number generator failed");
        }
    }
}

impl rand_core::TryRng for Drawn {
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

impl rand_core::TryCryptoRng for Drawn {}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Serves a fixed byte sequence, then fails.
    #[derive(Debug)]
    pub(crate) struct Fixed(pub(crate) Vec<u8>);

    impl Randomness for Fixed {
        fn fill(&mut self, out: &mut [u8]) -> Result<()> {
            if self.0.len() < out.len() {
                return Err(Error::Random("fixed sequence exhausted".into()));
            }
            let rest = self.0.split_off(out.len());
            out.copy_from_slice(&self.0);
            self.0 = rest;
            Ok(())
        }
    }

    #[test]
    fn drawn_serves_its_bytes_in_order() {
        use rand_core::Rng as _;
        let mut source = Fixed((1..=8).collect());
        let mut drawn = Drawn::new(&mut source, 8).unwrap();
        let mut a = [0; 3];
        drawn.fill_bytes(&mut a);
        assert_eq!(a, [1, 2, 3]);
        assert_eq!(drawn.next_u32(), u32::from_le_bytes([4, 5, 6, 7]));
        assert!(
            Drawn::new(&mut source, 1).is_err(),
            "the source is empty now"
        );
    }
}
