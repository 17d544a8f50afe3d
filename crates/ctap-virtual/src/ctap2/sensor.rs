//! The simulated fingerprint sensor of built-in user verification: a script of what
//! the finger does at each touch, shared between the authenticator and the test (or
//! `ctap serve`) that drives it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What the finger on the sensor does at one touch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Finger {
    /// An enrolled finger: user verification succeeds; during enrollment a good
    /// sample (lastEnrollSampleStatus FP_GOOD).
    Match,
    /// An unknown finger: user verification fails; during enrollment a poor sample
    /// (FP_POOR_QUALITY).
    NoMatch,
    /// During enrollment: a sample with this lastEnrollSampleStatus (CTAP 2.1 §6.7.4;
    /// 0x00 is good). For user verification 0x00 matches and anything else does not.
    Sample(u8),
}

impl Finger {
    /// Whether user verification succeeds with this touch.
    pub(crate) const fn matches(self) -> bool {
        matches!(self, Self::Match | Self::Sample(0))
    }

    /// The enrollment sample status of this touch.
    pub(crate) const fn sample_status(self) -> u8 {
        match self {
            Self::Match => 0x00,
            Self::NoMatch => 0x07,
            Self::Sample(status) => status,
        }
    }
}

#[derive(Debug)]
struct Script {
    queue: VecDeque<Finger>,
    default: Finger,
    touches: u64,
}

/// A scriptable fingerprint sensor. Clones share the script, so a test keeps one and
/// gives the other to [`Features::fingerprint`](crate::Features::fingerprint).
///
/// Each touch the authenticator waits for (a getPinUvAuthTokenUsingUvWithPermissions,
/// an enrollment sample) takes the next [`Finger`] pushed, or the default
/// ([`Finger::Match`] unless set) when none is left.
///
/// ```
/// use ctap_virtual::{Finger, FingerprintSensor};
/// let sensor = FingerprintSensor::new();
/// sensor.push(Finger::NoMatch);
/// assert_eq!(sensor.queued(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct FingerprintSensor {
    script: Arc<Mutex<Script>>,
}

impl Default for FingerprintSensor {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for FingerprintSensor {
    /// The same sensor (clones of one another).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.script, &other.script)
    }
}

impl Eq for FingerprintSensor {}

impl FingerprintSensor {
    /// A sensor whose every touch matches until told otherwise.
    #[must_use]
    pub fn new() -> Self {
        Self {
            script: Arc::new(Mutex::new(Script {
                queue: VecDeque::new(),
                default: Finger::Match,
                touches: 0,
            })),
        }
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        // A test that panicked while holding the lock leaves a usable script.
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next touch does `finger` (after those pushed before).
    pub fn push(&self, finger: Finger) {
        self.script().queue.push_back(finger);
    }

    /// What touches do once the pushed ones are used up.
    pub fn set_default(&self, finger: Finger) {
        self.script().default = finger;
    }

    /// Pushed touches not used yet.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.script().queue.len()
    }

    /// Touches taken so far.
    #[must_use]
    pub fn touches(&self) -> u64 {
        self.script().touches
    }

    /// The finger of the touch that just happened.
    pub(crate) fn touch(&self) -> Finger {
        let mut script = self.script();
        script.touches = script.touches.saturating_add(1);
        let default = script.default;
        script.queue.pop_front().unwrap_or(default)
    }
}
