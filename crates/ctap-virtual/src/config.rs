//! Configuration of a virtual authenticator: a plain struct with `Default` and
//! chainable setters.

use std::time::Duration;

use ctap_types::DeviceVersion;
use ctaphid_frame::ReportSize;

use crate::algorithms::Algorithms;

/// The AAGUID the virtual authenticator reports by default: the ASCII of
/// `ctap-rs-virtual!`, so it is recognisable in a dump and never collides with a
/// registered (metadata service) AAGUID.
pub const DEFAULT_AAGUID: [u8; 16] = *b"ctap-rs-virtual!";

/// What the simulated user does when the authenticator waits for a touch
/// (authenticatorSelection, authenticatorReset).
///
/// While the wait goes on, the authenticator sends KEEPALIVE UPNEEDED at once and then
/// every [`Config::keepalive_interval`] until it ends, as a real key blinks until it is
/// touched; a wait that ends at the instant it begins ([`TouchPolicy::IMMEDIATE`])
/// sends no KEEPALIVE, only the answer (CTAP 2.1 §11.2.9.1.7). [`Authenticator::touch`](crate::Authenticator::touch) approves a pending
/// wait at any moment, whatever the policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TouchPolicy {
    /// The user touches the key `after` the wait began (zero: at once, after the first
    /// keep-alive).
    Approve {
        /// How long the user takes.
        after: Duration,
    },
    /// The user refuses `after` the wait began: the command ends with status
    /// `OPERATION_DENIED` (0x27).
    Deny {
        /// How long the user takes.
        after: Duration,
    },
    /// Nobody touches the key: the wait ends only by CANCEL, by INIT on its channel, by
    /// [`Authenticator::touch`](crate::Authenticator::touch), or by
    /// [`Config::user_presence_timeout`].
    Never,
}

impl TouchPolicy {
    /// Approve at once.
    pub const IMMEDIATE: Self = Self::Approve {
        after: Duration::ZERO,
    };
}

impl Default for TouchPolicy {
    /// [`TouchPolicy::IMMEDIATE`]: tests and the CLI's default device should not wait.
    fn default() -> Self {
        Self::IMMEDIATE
    }
}

/// The attestation of authenticatorMakeCredential (WebAuthn §8).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Attestation {
    /// "packed" self attestation: signed by the new credential's own key, no
    /// certificate.
    #[default]
    SelfAttestation,
    /// "packed" batch attestation: signed by a P-256 key shared by every virtual
    /// authenticator with the same AAGUID, with its self-signed certificate in `x5c`.
    Batch,
    /// "none": no attestation statement.
    None,
}

/// Configuration of a virtual authenticator.
///
/// ```
/// use std::time::Duration;
/// use ctap_virtual::{Config, TouchPolicy};
/// use ctaphid_frame::ReportSize;
///
/// let config = Config::default()
///     .with_report_size(ReportSize::new(62)?)
///     .with_touch(TouchPolicy::Approve { after: Duration::from_millis(300) });
/// assert_eq!(config.message_timeout, Duration::from_millis(500));
/// # Ok::<(), ctaphid_frame::FrameError>(())
/// ```
///
/// Its `Debug` shows whether the seeds are set, never their values: a
/// [`rng_seed`](Self::rng_seed) determines the master secret, every credential key and
/// every PIN token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The HID report size, the same in both directions (64 on nearly every key).
    pub report_size: ReportSize,
    /// What the simulated user does when a touch is needed.
    pub touch: TouchPolicy,
    /// How long an incomplete message may take from its init packet before the device
    /// answers ERROR MSG_TIMEOUT (devices use 500-800 ms; PROTOCOL.md section 4).
    pub message_timeout: Duration,
    /// The period of KEEPALIVE packets while waiting for a touch (CTAP 2.1 §11.2.9.1.7
    /// "about every 100 ms").
    pub keepalive_interval: Duration,
    /// How long a touch-wait lasts before it ends with status `USER_ACTION_TIMEOUT`
    /// (0x2F); `None` waits forever. Real keys give up after about 30 s.
    pub user_presence_timeout: Option<Duration>,
    /// Channels allocated at once (default [`DEFAULT_CHANNELS`](crate::DEFAULT_CHANNELS),
    /// 256); only when the table is full does INIT on broadcast take the least recently
    /// used idle channel (no transaction, no lock). At least 2 and at most
    /// [`MAX_CHANNELS`](crate::MAX_CHANNELS) are kept whatever this says.
    pub max_channels: usize,
    /// Reports the output queue holds; a message that does not fit whole is dropped
    /// (and counted in [`Stats::dropped_messages`](crate::Stats::dropped_messages)), as
    /// a device whose host does not read loses answers rather than memory. At least one
    /// maximum message (129 reports at 64 bytes) plus slack is kept whatever this says.
    pub max_output_reports: usize,
    /// The device version of the INIT answer.
    pub device_version: DeviceVersion,
    /// The AAGUID of authenticatorGetInfo.
    pub aaguid: [u8; 16],
    /// Seed of the channel-id generator, for tests that need reproducible channel ids.
    /// `None` (the default): ids come from the OS random number generator, so a host
    /// cannot guess the channel another host was given.
    pub channel_seed: Option<u64>,
    /// Seed of every CTAP2 secret (master key, key agreement keys, PIN tokens, IVs);
    /// `None` seeds from the operating system. A seed makes runs reproducible (tests).
    pub rng_seed: Option<[u8; 32]>,
    /// How long after power-up authenticatorReset is allowed (CTAP 2.1 §6.6: 10 s);
    /// `None` allows it at any time.
    pub reset_window: Option<Duration>,
    /// The attestation makeCredential returns.
    pub attestation: Attestation,
    /// How many discoverable credentials fit (then KEY_STORE_FULL).
    pub max_discoverable_credentials: usize,
    /// How many signature counter values one save of the state reserves (at least 1;
    /// default 1024). With a state file the counter is not saved on every assertion:
    /// the file holds a ceiling, and the state is saved (and synced) only when the
    /// counter passes it, so a crash never makes the counter go backwards and a
    /// restart skips at most this many values (relying parties only require that it
    /// increase). 1 saves on every signature.
    pub sign_count_block: u32,
    /// Which generation of key this one presents as (default: CTAP 2.1), so that
    /// hosts can be tested against older keys.
    pub generation: Generation,
    /// The credential algorithms offered, most preferred first (getInfo `algorithms`;
    /// makeCredential picks the first of the RP's list that is here). Default: all
    /// nine the authenticator implements.
    pub algorithms: Algorithms,
}

/// The generation of key a software authenticator presents as ([`Config::generation`]).
/// The commands are the same underneath; what a host sees is what such a key shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Generation {
    /// CTAP 2.1: getInfo versions U2F_V2, FIDO_2_0, FIDO_2_1.
    #[default]
    Ctap21,
    /// CTAP 2.0: getInfo versions U2F_V2, FIDO_2_0; authenticatorSelection (new in 2.1)
    /// is an unknown command (`INVALID_COMMAND`).
    Ctap20,
    /// U2F only: INIT's capabilities have no CBOR, and CTAPHID_CBOR is an unknown
    /// command (ERROR INVALID_CMD); MSG (U2F) works.
    U2fOnly,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            report_size: ReportSize::FULL_SPEED,
            touch: TouchPolicy::default(),
            message_timeout: Duration::from_millis(500),
            keepalive_interval: Duration::from_millis(100),
            user_presence_timeout: Some(Duration::from_secs(30)),
            max_channels: crate::channels::DEFAULT_CHANNELS,
            max_output_reports: 1024,
            device_version: DeviceVersion {
                major: 0,
                minor: 1,
                build: 0,
            },
            aaguid: DEFAULT_AAGUID,
            channel_seed: None,
            rng_seed: None,
            reset_window: Some(Duration::from_secs(10)),
            attestation: Attestation::SelfAttestation,
            max_discoverable_credentials: 50,
            sign_count_block: 1024,
            generation: Generation::Ctap21,
            algorithms: Algorithms::ALL,
        }
    }
}

/// The seeds are secrets (a known `rng_seed` gives the master secret and every PIN
/// token): `Debug` says only whether they are set.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seeded = |set: bool| if set { "Some(<redacted>)" } else { "None" };
        f.debug_struct("Config")
            .field("report_size", &self.report_size)
            .field("touch", &self.touch)
            .field("message_timeout", &self.message_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("user_presence_timeout", &self.user_presence_timeout)
            .field("max_channels", &self.max_channels)
            .field("max_output_reports", &self.max_output_reports)
            .field("device_version", &self.device_version)
            .field("aaguid", &self.aaguid)
            .field(
                "channel_seed",
                &format_args!("{}", seeded(self.channel_seed.is_some())),
            )
            .field(
                "rng_seed",
                &format_args!("{}", seeded(self.rng_seed.is_some())),
            )
            .field("reset_window", &self.reset_window)
            .field("attestation", &self.attestation)
            .field(
                "max_discoverable_credentials",
                &self.max_discoverable_credentials,
            )
            .field("sign_count_block", &self.sign_count_block)
            .finish()
    }
}

impl Config {
    /// Sets [`report_size`](Self::report_size).
    #[must_use]
    pub const fn with_report_size(mut self, report_size: ReportSize) -> Self {
        self.report_size = report_size;
        self
    }

    /// Sets [`touch`](Self::touch).
    #[must_use]
    pub const fn with_touch(mut self, touch: TouchPolicy) -> Self {
        self.touch = touch;
        self
    }

    /// Sets [`message_timeout`](Self::message_timeout).
    #[must_use]
    pub const fn with_message_timeout(mut self, timeout: Duration) -> Self {
        self.message_timeout = timeout;
        self
    }

    /// Sets [`keepalive_interval`](Self::keepalive_interval).
    #[must_use]
    pub const fn with_keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = interval;
        self
    }

    /// Sets [`user_presence_timeout`](Self::user_presence_timeout).
    #[must_use]
    pub const fn with_user_presence_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.user_presence_timeout = timeout;
        self
    }

    /// Sets [`max_channels`](Self::max_channels).
    #[must_use]
    pub const fn with_max_channels(mut self, max_channels: usize) -> Self {
        self.max_channels = max_channels;
        self
    }

    /// Sets [`generation`](Self::generation).
    #[must_use]
    pub const fn with_generation(mut self, generation: Generation) -> Self {
        self.generation = generation;
        self
    }

    /// Sets [`channel_seed`](Self::channel_seed) (reproducible channel ids).
    #[must_use]
    pub const fn with_channel_seed(mut self, seed: u64) -> Self {
        self.channel_seed = Some(seed);
        self
    }

    /// Sets [`aaguid`](Self::aaguid).
    #[must_use]
    pub const fn with_aaguid(mut self, aaguid: [u8; 16]) -> Self {
        self.aaguid = aaguid;
        self
    }

    /// Sets [`rng_seed`](Self::rng_seed).
    #[must_use]
    pub const fn with_rng_seed(mut self, seed: Option<[u8; 32]>) -> Self {
        self.rng_seed = seed;
        self
    }

    /// Sets [`reset_window`](Self::reset_window).
    #[must_use]
    pub const fn with_reset_window(mut self, window: Option<Duration>) -> Self {
        self.reset_window = window;
        self
    }

    /// Sets [`algorithms`](Self::algorithms).
    #[must_use]
    pub const fn with_algorithms(mut self, algorithms: Algorithms) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// Sets [`attestation`](Self::attestation).
    #[must_use]
    pub const fn with_attestation(mut self, attestation: Attestation) -> Self {
        self.attestation = attestation;
        self
    }

    /// Sets [`max_discoverable_credentials`](Self::max_discoverable_credentials).
    #[must_use]
    pub const fn with_max_discoverable_credentials(mut self, max: usize) -> Self {
        self.max_discoverable_credentials = max;
        self
    }

    /// Sets [`sign_count_block`](Self::sign_count_block).
    #[must_use]
    pub const fn with_sign_count_block(mut self, block: u32) -> Self {
        self.sign_count_block = block;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22 "No secret in Debug output": the seeds never appear, in any radix
    /// `{:?}` or `{:#?}` could print them.
    #[test]
    fn debug_hides_the_seeds() {
        let config = Config::default()
            .with_rng_seed(Some([0xA7; 32]))
            .with_channel_seed(0x0123_4567_89AB_CDEF);
        for text in [format!("{config:?}"), format!("{config:#?}")] {
            assert!(text.contains("rng_seed"), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
            assert!(!text.contains("167"), "rng_seed byte 0xA7 in {text}");
            assert!(
                !text.contains("81985529216486895"),
                "channel seed in {text}"
            );
            assert!(!text.to_lowercase().contains("a7"), "{text}");
        }
        assert!(format!("{:?}", Config::default()).contains("rng_seed: None"));
    }
}
