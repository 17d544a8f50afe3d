//! The optional features in [`Authenticator`]'s public API: which are on, with which
//! limits, and what they hold.

use super::features::Features;
use crate::Authenticator;

impl Authenticator {
    /// Turns the optional CTAP 2.1/2.2 features on or off and sets their limits (see
    /// [`Features`]; the default has them on). getInfo follows at once. A large-blob
    /// write in progress is dropped; stored data is kept.
    pub fn set_features(&mut self, features: Features) {
        let ctap2 = self.ctap2_parts().0;
        ctap2.features = features;
        ctap2.large_blob_write = None;
    }

    /// The optional features in force.
    #[must_use]
    pub fn features(&self) -> &Features {
        &self.ctap2_ref().0.features
    }

    /// The serialized large-blob array as stored (CTAP 2.1 §6.10.2: the CBOR array and
    /// its 16-byte checksum), for tests and inspection.
    #[must_use]
    pub fn large_blob_array(&self) -> Vec<u8> {
        self.ctap2_ref()
            .0
            .state
            .features
            .large_blob_array()
            .to_vec()
    }
}
