//! The overall deadline of one operation, shared by every `CtapDevice` of this crate
//! (HID and APDU alike), so that its arithmetic is written once: a time-out too large
//! for an `Instant` means no deadline, never an overflow.

use std::time::{Duration, Instant};

use crate::{Error, TimeoutKind};

/// The overall deadline of one operation (PROTOCOL.md section 8: an overall limit the
/// caller chooses, besides the silence limit): when it ends, and the time-out it came
/// from (for the error).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    /// `None`: no deadline (none was asked for, or it lies past what an `Instant` can
    /// hold: a huge time-out never overflows).
    end: Option<Instant>,
    /// The time-out it came from.
    pub(crate) timeout: Duration,
}

impl Deadline {
    /// `timeout` from `now` (`None`: no deadline).
    pub(crate) fn after(timeout: Option<Duration>, now: Instant) -> Self {
        Self {
            end: timeout.and_then(|timeout| now.checked_add(timeout)),
            timeout: timeout.unwrap_or(Duration::MAX),
        }
    }

    /// `true` once the deadline has passed.
    pub(crate) fn passed(&self, now: Instant) -> bool {
        self.end.is_some_and(|end| now >= end)
    }

    /// [`TimeoutKind::Deadline`] once the deadline has passed.
    pub(crate) fn check(&self, now: Instant) -> Result<(), Error> {
        if self.passed(now) {
            Err(Error::Timeout(TimeoutKind::Deadline(self.timeout)))
        } else {
            Ok(())
        }
    }

    /// `wait`, shortened so that it ends by the deadline.
    pub(crate) fn cap(&self, now: Instant, wait: Duration) -> Duration {
        self.end
            .map_or(wait, |end| wait.min(end.saturating_duration_since(now)))
    }
}
