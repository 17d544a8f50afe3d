//! Cancelling a call from another thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Cancels a blocking call from another thread (python-fido2's `event`).
///
/// Cheap to clone (an `Arc<AtomicBool>`); every clone controls the same flag, and it is
/// `Send + Sync`. A call polls the token between short reads (see
/// [`DeviceConfig::poll_interval`](crate::DeviceConfig::poll_interval)), so a cancel
/// takes effect within one poll interval: the device gets CTAPHID_CANCEL and the call
/// ends with the device's answer (a CTAP2 call answers status `0x2D`,
/// `KEEPALIVE_CANCEL`), an ERROR packet, or [`Error::Cancelled`](crate::Error::Cancelled)
/// if the device ignores the CANCEL.
///
/// A token stays cancelled: use a fresh token for the next call (or [`reset`](Self::reset)).
///
/// ```
/// use ctap_device::CancelToken;
///
/// let token = CancelToken::new();
/// let remote = token.clone();
/// std::thread::spawn(move || remote.cancel()).join().unwrap();
/// assert!(token.is_cancelled());
/// ```
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    cancelled: Arc<AtomicBool>,
}

impl CancelToken {
    /// A token that is not cancelled.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every call using this token (or a clone) to stop.
    pub fn cancel(&self) {
        // Release pairs with the Acquire in `is_cancelled`: whatever the cancelling thread
        // did before is visible to the call that sees the flag.
        self.cancelled.store(true, Ordering::Release);
    }

    /// Clears the flag so the token can be used for another call.
    pub fn reset(&self) {
        self.cancelled.store(false, Ordering::Release);
    }

    /// `true` once [`cancel`](Self::cancel) was called (and not [`reset`](Self::reset)).
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}
