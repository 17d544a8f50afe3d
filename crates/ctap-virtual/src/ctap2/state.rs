//! The authenticator's persistent state (credentials, PIN, counters, settings), its
//! CBOR form, and the state file.
//!
//! ```text
//! file = "ctap-virtual state v1\n" (22) | SHA-256(body) (32) | body
//! body = canonical CBOR map with text keys (see `State::to_value`)
//! ```
//!
//! The checksum makes an accident (a truncated copy, a flipped bit, another tool's
//! partial write) a clear error instead of a silently different authenticator. It is
//! not a MAC: anyone who can write the file can edit it and recompute the checksum, and
//! anyone who can read it has the master secret. The file's protection is its
//! permissions (owner only, checked on load) and the folder it lives in; SECURITY.md
//! states the threat model.
//!
//! Saving writes an owner-only temporary file with a random name beside the target,
//! syncs it, renames it over the target and syncs the folder, so a crash leaves either
//! the previous good state or the new one.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ctap2_proto::cbor::{TextMap, Value};
use ctap2_proto::{RpEntity, UserEntity};
use zeroize::Zeroizing;

use super::features::{CredentialExtras, FeatureState};
use super::keys::sha256;

/// The PIN retry counter's start value (CTAP 2.1 §6.5.2.2: 8).
pub(crate) const MAX_PIN_RETRIES: u8 = 8;
/// The default minimum PIN length in code points (§6.5.2.1: 4).
pub(crate) const DEFAULT_MIN_PIN_LENGTH: u8 = 4;

const MAGIC: &[u8; 22] = b"ctap-virtual state v1\n";

/// A discoverable credential.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Resident {
    /// The credential id (which also encodes the algorithm and credProtect).
    pub(crate) id: Vec<u8>,
    pub(crate) rp: RpEntity,
    pub(crate) user: UserEntity,
    /// Creation order: newer credentials come first in getAssertion.
    pub(crate) created: u64,
    /// What it keeps of its extensions (largeBlobKey, credBlob, thirdPartyPayment).
    pub(crate) extras: CredentialExtras,
}

impl Resident {
    pub(crate) fn rp_id_hash(&self) -> [u8; 32] {
        sha256(self.rp.id.as_bytes())
    }
}

/// Everything that survives a power cycle.
///
/// Its `Debug` leaves out the master secret and the PIN hash (issue 22: no secret in
/// Debug output).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct State {
    /// Derives every credential key and authenticates every credential id.
    pub(crate) master: Zeroizing<[u8; 32]>,
    /// The global signature counter: the last value used.
    pub(crate) sign_count: u32,
    /// The highest counter value the state file allows (what it stores as
    /// `signCount`): values up to it may be used without saving (issue 27).
    pub(crate) sign_count_reserved: u32,
    /// `LEFT(SHA-256(PIN), 16)` and the PIN's length in code points, when a PIN is set.
    pub(crate) pin: Option<([u8; 16], u8)>,
    pub(crate) pin_retries: u8,
    pub(crate) min_pin_length: u8,
    pub(crate) force_pin_change: bool,
    pub(crate) always_uv: bool,
    pub(crate) credentials: Vec<Resident>,
    /// The next `Resident::created`.
    pub(crate) next_created: u64,
    /// The optional features' state (large-blob array, minPinLength RP IDs).
    pub(crate) features: FeatureState,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("master", &format_args!("<redacted>"))
            .field("sign_count", &self.sign_count)
            .field("sign_count_reserved", &self.sign_count_reserved)
            .field("pin_set", &self.pin.is_some())
            .field("pin_retries", &self.pin_retries)
            .field("min_pin_length", &self.min_pin_length)
            .field("force_pin_change", &self.force_pin_change)
            .field("always_uv", &self.always_uv)
            .field("credentials", &self.credentials.len())
            .field("next_created", &self.next_created)
            .finish()
    }
}

/// The signature counter values one save reserves unless configured
/// ([`Config::sign_count_block`](crate::Config::sign_count_block)).
pub(crate) const DEFAULT_SIGN_COUNT_BLOCK: u32 = 1024;

impl super::Ctap2 {
    /// Sets how many counter values a save reserves (at least 1).
    pub(crate) fn set_sign_count_block(&mut self, block: u32) {
        self.sign_count_block = block.max(1);
    }

    /// Saves the state if it changed, through the sink (`use_state_file`,
    /// `save_state_with`); `Err(CTAP1_ERR_OTHER)` when the sink failed. The state then
    /// stays marked as changed, so the next call tries again.
    ///
    /// The signature counter alone does not make the state "changed": the file stores
    /// a ceiling, and a save happens only when the counter passes it, reserving the
    /// next `sign_count_block` values (issue 27: no save and fsync per assertion;
    /// WebAuthn §6.1.1 only asks that the counter increase, so a restart may skip). Every value handed out is therefore at most a
    /// ceiling already durable (the caller sends nothing before this returns `Ok`), and
    /// a restart from the file, after a crash at any point, continues above it.
    ///
    /// This is also how a command knows a save failed: a command that must not act on
    /// a change that is not durable (a PIN retry decrement, issue 22: "a retry is
    /// never counted only in memory") calls `self.persist()?` before going on.
    pub(crate) fn persist(&mut self) -> Result<(), ctap_types::StatusCode> {
        if self.state.sign_count > self.state.sign_count_reserved {
            self.state.sign_count_reserved = self
                .state
                .sign_count
                .saturating_add(self.sign_count_block.saturating_sub(1));
            self.dirty = true;
        }
        if !self.dirty {
            return Ok(());
        }
        let Some(sink) = self.sink.as_mut() else {
            self.dirty = false;
            return Ok(());
        };
        match sink(&self.state.to_file_bytes()) {
            Ok(()) => {
                self.dirty = false;
                Ok(())
            }
            Err(error) => {
                log::error!("the state could not be saved: {error}; answering OTHER");
                Err(ctap_types::StatusCode::OTHER)
            }
        }
    }
}

/// Why a state file was refused.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a state file of this version, or is damaged.
    #[error("state file {path} is corrupt or not a ctap-virtual state file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Group or others may read or write the file, which holds the master secret and
    /// the PIN hash (refused as ssh refuses such a private key).
    #[error(
        "state file {path} has mode {mode:03o}: group or others can read or write it, and \
         it holds the master secret and the PIN hash; if nobody else has used it, run \
         `chmod 600 {path}` and start again (if someone may have, reset the \
         authenticator instead: they can sign with every credential)"
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The path is a symbolic link: saves replace the link rather than write through
    /// it, so the real path must be given.
    #[error(
        "state file {path} is a symbolic link: give the path of the file itself (saving \
         replaces the file by renaming, which would replace the link, not its target)"
    )]
    Symlink {
        /// The file.
        path: PathBuf,
    },
}

impl State {
    /// A factory-fresh state with a new master secret.
    pub(crate) fn new(master: [u8; 32]) -> Self {
        Self {
            master: Zeroizing::new(master),
            sign_count: 0,
            sign_count_reserved: 0,
            pin: None,
            pin_retries: MAX_PIN_RETRIES,
            min_pin_length: DEFAULT_MIN_PIN_LENGTH,
            force_pin_change: false,
            always_uv: false,
            credentials: Vec::new(),
            next_created: 0,
            features: FeatureState::default(),
        }
    }

    fn to_value(&self) -> Value {
        let t = Value::text;
        let mut entries = vec![
            (t("master"), Value::bytes(self.master.as_slice())),
            // The reserved ceiling: after a crash the counter restarts above every
            // value that was used.
            (
                t("signCount"),
                Value::int(self.sign_count.max(self.sign_count_reserved)),
            ),
            (t("pinRetries"), Value::int(self.pin_retries)),
            (t("minPinLength"), Value::int(self.min_pin_length)),
            (t("forcePinChange"), Value::Bool(self.force_pin_change)),
            (t("alwaysUv"), Value::Bool(self.always_uv)),
            (t("nextCreated"), Value::int(self.next_created)),
            (
                t("credentials"),
                Value::Array(
                    self.credentials
                        .iter()
                        .map(|c| {
                            let mut entry = vec![
                                (t("id"), Value::bytes(&c.id)),
                                (t("rp"), c.rp.to_value()),
                                (t("user"), c.user.to_value()),
                                (t("created"), Value::int(c.created)),
                            ];
                            if !c.extras.is_empty() {
                                entry.push((t("extras"), c.extras.to_value()));
                            }
                            Value::Map(entry)
                        })
                        .collect(),
                ),
            ),
        ];
        if self.features != FeatureState::default() {
            entries.push((t("features"), self.features.to_value()));
        }
        if let Some((hash, len)) = &self.pin {
            entries.push((t("pinHash"), Value::bytes(hash)));
            entries.push((t("pinLength"), Value::int(*len)));
        }
        Value::Map(entries)
    }

    fn from_value(value: Value) -> Result<Self, ctap2_proto::Error> {
        use ctap2_proto::Error;
        let mut map = TextMap::new(value, "state")?;
        let mut num = |key: &'static str| map.require(key, key)?.to_num::<u64>(key);
        let sign_count =
            u32::try_from(num("signCount")?).map_err(|_| Error::InvalidParameter("signCount"))?;
        let pin_retries =
            u8::try_from(num("pinRetries")?).map_err(|_| Error::InvalidParameter("pinRetries"))?;
        let min_pin_length = u8::try_from(num("minPinLength")?)
            .map_err(|_| Error::InvalidParameter("minPinLength"))?;
        let next_created = num("nextCreated")?;
        let master: [u8; 32] = map
            .require("master", "master")?
            .into_bytes("master")?
            .try_into()
            .map_err(|_| Error::InvalidLength("master"))?;
        let force_pin_change = map
            .require("forcePinChange", "forcePinChange")?
            .as_bool("forcePinChange")?;
        let always_uv = map.require("alwaysUv", "alwaysUv")?.as_bool("alwaysUv")?;
        let pin = match (map.take("pinHash"), map.take("pinLength")) {
            (Some(hash), Some(len)) => Some((
                hash.into_bytes("pinHash")?
                    .try_into()
                    .map_err(|_| Error::InvalidLength("pinHash"))?,
                len.to_num("pinLength")?,
            )),
            (None, None) => None,
            _ => return Err(Error::MissingParameter("pinHash and pinLength")),
        };
        let credentials = map
            .require("credentials", "credentials")?
            .into_array("credentials")?
            .into_iter()
            .map(|c| {
                let mut c = TextMap::new(c, "credential")?;
                Ok(Resident {
                    id: c.require("id", "id")?.into_bytes("id")?,
                    rp: RpEntity::from_value(c.require("rp", "rp")?)?,
                    user: UserEntity::from_value(c.require("user", "user")?)?,
                    created: c.require("created", "created")?.to_num("created")?,
                    extras: c
                        .take("extras")
                        .map(CredentialExtras::from_value)
                        .transpose()?
                        .unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let features = map
            .take("features")
            .map(FeatureState::from_value)
            .transpose()?
            .unwrap_or_default();
        if pin_retries > MAX_PIN_RETRIES {
            return Err(Error::InvalidParameter("pinRetries above 8"));
        }
        Ok(Self {
            master: Zeroizing::new(master),
            sign_count,
            sign_count_reserved: sign_count,
            pin,
            pin_retries,
            min_pin_length,
            force_pin_change,
            always_uv,
            credentials,
            next_created,
            features,
        })
    }

    /// The state file's bytes.
    pub(crate) fn to_file_bytes(&self) -> Vec<u8> {
        let body = self.to_value().to_vec();
        [MAGIC.as_slice(), &sha256(&body), &body].concat()
    }

    /// Parses a state file's bytes; `Err(reason)` when corrupt.
    pub(crate) fn from_file_bytes(bytes: &[u8]) -> Result<Self, String> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or("no ctap-virtual state v1 header")?;
        let (checksum, body) = rest
            .split_first_chunk::<32>()
            .ok_or("shorter than its checksum")?;
        if sha256(body) != *checksum {
            return Err(
                "checksum mismatch: the file was damaged (the checksum catches \
                 accidents such as a truncated copy or a flipped bit; it is not a \
                 signature, and the file's permissions are what protect it)"
                    .into(),
            );
        }
        let value = Value::from_slice(body).map_err(|e| e.to_string())?;
        Self::from_value(value).map_err(|e| e.to_string())
    }
}

/// The longest state file loaded (16 MiB).
const MAX_STATE_FILE: u64 = 16 << 20;

/// A state file on disk: written owner-only and replaced atomically on save; a corrupt
/// file, a file others may read or write, or a symbolic link is refused on load.
///
/// The file holds the master secret (every credential key derives from it) and the PIN
/// hash, so it is treated as a private key (issue 22; SECURITY.md "The state file"):
/// - saving creates a new file with `create_new` (`O_CREAT | O_EXCL`, which never
///   follows a symbolic link) under a random name in the same folder, mode 0600, writes
///   and fsyncs it, renames it over the target (which replaces a symbolic link there
///   rather than writing through it) and fsyncs the folder;
/// - loading refuses a symbolic link, and (on Unix) a file whose mode lets group or
///   others read or write it, with the `chmod 600` that fixes it, as ssh does with a
///   private key.
#[derive(Clone, Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Its path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file: `Ok(None)` when it does not exist yet.
    ///
    /// # Errors
    /// [`StateError::Io`] when it cannot be read, [`StateError::Exposed`] when group or
    /// others may read or write it, [`StateError::Symlink`] when it is a symbolic link,
    /// [`StateError::Corrupt`] when it is not a valid state file. The file is left
    /// untouched in every case.
    pub fn load(&self) -> Result<Option<Vec<u8>>, StateError> {
        let io = |source| StateError::Io {
            path: self.path.clone(),
            source,
        };
        let metadata = match std::fs::symlink_metadata(&self.path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io(source)),
        };
        if metadata.file_type().is_symlink() {
            return Err(StateError::Symlink {
                path: self.path.clone(),
            });
        }
        let mut file = open_checked(&self.path, &metadata)?;
        // The mode of the file actually opened (not of whatever the path names now).
        check_private(&self.path, &file.metadata().map_err(io)?)?;
        // No unbounded memory from a file: the largest state (every discoverable
        // credential with entities at their limits) is far below this.
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&mut file, MAX_STATE_FILE + 1),
            &mut bytes,
        )
        .map_err(io)?;
        if bytes.len() as u64 > MAX_STATE_FILE {
            return Err(StateError::Corrupt {
                path: self.path.clone(),
                reason: format!(
                    "larger than {MAX_STATE_FILE} bytes, more than any state file holds"
                ),
            });
        }
        State::from_file_bytes(&bytes).map_err(|reason| StateError::Corrupt {
            path: self.path.clone(),
            reason,
        })?;
        Ok(Some(bytes))
    }

    /// Replaces the file with `bytes` atomically: a new owner-only (0600) file under a
    /// random name in the same folder, synced, renamed over the target, then the folder
    /// synced.
    ///
    /// # Errors
    /// [`StateError::Io`]; the previous file is then still intact and the temporary file
    /// removed.
    pub fn save(&self, bytes: &[u8]) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: self.path.clone(),
            source,
        };
        let (temporary, mut file) = self.create_temporary().map_err(io)?;
        let written = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .and_then(|()| {
                drop(file);
                std::fs::rename(&temporary, &self.path)
            });
        if let Err(source) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(io(source));
        }
        // Make the rename durable too. Not every platform can open a folder for
        // syncing (Windows cannot), and some file systems refuse to sync one (EINVAL):
        // there the rename is as durable as the OS makes it. Any other failure is one.
        if let Ok(dir) = std::fs::File::open(self.folder()) {
            match dir.sync_all() {
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported
                    ) =>
                {
                    log::debug!("state file folder cannot be synced: {error}");
                }
                result => result.map_err(io)?,
            }
        }
        Ok(())
    }

    /// The folder the file is in (`.` for a bare file name).
    fn folder(&self) -> &Path {
        self.path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."))
    }

    /// A new file `.NAME.RANDOM.tmp` beside the target, created exclusively (never an
    /// existing file, never through a symbolic link), owner-only. The name is random
    /// so that nobody can prepare it in advance; a collision (or a planted file) is
    /// retried with another name a few times.
    fn create_temporary(&self) -> std::io::Result<(PathBuf, std::fs::File)> {
        let name = self
            .path
            .file_name()
            .ok_or_else(|| std::io::Error::other("the state file path has no file name"))?;
        let mut last = None;
        for _ in 0..8 {
            let mut random = [0u8; 8];
            getrandom::fill(&mut random).map_err(std::io::Error::other)?;
            let mut temporary = std::ffi::OsString::from(".");
            temporary.push(name);
            temporary.push(format!(".{}.tmp", hex(&random)));
            let temporary = self.folder().join(temporary);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&temporary) {
                Ok(file) => return Ok((temporary, file)),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    last = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Opens `path` for reading and checks that the file opened is the one `before`
/// (`lstat` of the path) described: a symbolic link swapped in between is refused.
fn open_checked(path: &Path, before: &std::fs::Metadata) -> Result<std::fs::File, StateError> {
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let opened = file.metadata().map_err(io)?;
        if (opened.dev(), opened.ino()) != (before.dev(), before.ino()) {
            return Err(StateError::Symlink {
                path: path.to_path_buf(),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = before;
    Ok(file)
}

/// Refuses a file group or others may read or write (ssh's rule for private keys).
#[cfg(unix)]
fn check_private(path: &Path, metadata: &std::fs::Metadata) -> Result<(), StateError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StateError::Exposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _metadata: &std::fs::Metadata) -> Result<(), StateError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        let mut state = State::new([5; 32]);
        state.sign_count = 42;
        state.sign_count_reserved = 42;
        state.pin = Some(([1; 16], 6));
        state.pin_retries = 5;
        state.credentials.push(Resident {
            id: vec![9; 51],
            rp: RpEntity {
                id: "example.com".into(),
                name: Some("Ex".into()),
                icon: None,
            },
            user: UserEntity {
                id: vec![1, 2],
                name: Some("a".into()),
                display_name: None,
                icon: None,
            },
            created: 3,
            extras: CredentialExtras::default(),
        });
        state.next_created = 4;
        state
    }

    /// Issue 22 "No secret in Debug output": neither the master secret nor the PIN
    /// hash (nor a pinUvAuthToken, whose type lives in the parent module) is printed.
    #[test]
    fn debug_hides_the_secrets() {
        let mut state = sample();
        state.master = Zeroizing::new([0xA7; 32]);
        state.pin = Some(([0xB8; 16], 6));
        for text in [format!("{state:?}"), format!("{state:#?}")] {
            assert!(!text.contains("167"), "master secret in {text}");
            assert!(!text.contains("184"), "PIN hash in {text}");
            assert!(text.contains("pin_set: true"), "{text}");
            assert!(text.contains("sign_count: 42"), "{text}");
        }
        let token = super::super::Token::begin_using(
            [0xC9; 32],
            ctap2_proto::pin::PinProtocol::Two,
            ctap2_proto::pin::Permissions::MAKE_CREDENTIAL,
            Some("example.com".into()),
            super::super::token::Begin {
                user_is_present: false,
                transport: super::super::Transport::Usb,
                now: std::time::Instant::now(),
            },
        );
        for text in [format!("{token:?}"), format!("{token:#?}")] {
            assert!(!text.contains("201"), "token value in {text}");
            assert!(text.contains("example.com"), "{text}");
        }
    }

    /// Issue 22 "A power cycle clears ... tokens and the key-agreement key": the core's
    /// power_up (which every transport's power cycle calls) draws a new key agreement
    /// key and drops the pinUvAuthToken (CTAP 2.1 §6.5.2: at power-up the authenticator
    /// runs each PIN/UV auth protocol's initialize, §6.5.4: regenerate the key agreement
    /// key, reset the token) and the per-power-cycle count of wrong PINs (§6.5.2.2).
    #[test]
    fn power_up_replaces_the_key_agreement_key_and_drops_the_token() {
        let mut core = super::super::Ctap2::new([6; 32]);
        let now = std::time::Instant::now();
        core.power_up(now);
        let before = core.key_agreement.public_key();
        core.token = Some(super::super::Token::begin_using(
            [1; 32],
            ctap2_proto::pin::PinProtocol::Two,
            ctap2_proto::pin::Permissions::MAKE_CREDENTIAL,
            None,
            super::super::token::Begin {
                user_is_present: true,
                transport: super::super::Transport::Nfc,
                now,
            },
        ));
        core.pin_failures_since_power_up = 3;
        core.power_up(now);
        assert_ne!(core.key_agreement.public_key(), before);
        assert!(core.token.is_none());
        assert_eq!(core.pin_failures_since_power_up, 0);
    }

    #[test]
    fn file_bytes_round_trip() {
        let state = sample();
        let bytes = state.to_file_bytes();
        assert_eq!(State::from_file_bytes(&bytes).unwrap(), state);
    }

    #[test]
    fn corruption_is_refused() {
        let bytes = sample().to_file_bytes();
        assert!(State::from_file_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(
            State::from_file_bytes(&flipped)
                .unwrap_err()
                .contains("checksum")
        );
        assert!(State::from_file_bytes(b"hello").is_err());
        assert!(State::from_file_bytes(&[]).is_err());
    }

    /// A fresh folder under the temporary directory, removed by the guard.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "ctap-virtual-{name}-{}-{}",
                std::process::id(),
                hex(&rand_name())
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn rand_name() -> [u8; 4] {
        let mut bytes = [0; 4];
        getrandom::fill(&mut bytes).unwrap();
        bytes
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Issue 22 "The state file is a private key": every save leaves an owner-only file
    /// (also when it replaces a world-readable one), and nothing else in the folder.
    #[cfg(unix)]
    #[test]
    fn saves_are_owner_only_and_leave_no_temporary_file() {
        let dir = TempDir::new("mode");
        let path = dir.0.join("state");
        std::fs::write(&path, b"old").unwrap();
        chmod(&path, 0o644);
        let file = StateFile::new(&path);
        let bytes = sample().to_file_bytes();
        file.save(&bytes).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let names: Vec<_> = std::fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("state")]);
        // A bare file name saves in the current folder's sense of the path: its parent
        // is "." (checked through folder(), without changing the process's folder).
        assert_eq!(StateFile::new("state").folder(), Path::new("."));
    }

    /// Issue 22: no predictable temporary name and no symbolic link followed. A link
    /// planted at the old `FILE.tmp` name, and a link at the target itself, never
    /// lead a save to write into the file they point to.
    #[cfg(unix)]
    #[test]
    fn saves_never_write_through_a_symbolic_link() {
        let dir = TempDir::new("symlink");
        let victim = dir.0.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let path = dir.0.join("state");
        std::os::unix::fs::symlink(&victim, dir.0.join("state.tmp")).unwrap();
        let file = StateFile::new(&path);
        let bytes = sample().to_file_bytes();
        file.save(&bytes).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        // A link at the target: the save replaces the link, the victim keeps its bytes,
        // and a load of a link is refused with what to do.
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let error = file.load().unwrap_err();
        assert!(matches!(error, StateError::Symlink { .. }), "{error}");
        assert!(error.to_string().contains("symbolic link"), "{error}");
        file.save(&bytes).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(
            !std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(file.load().unwrap().unwrap(), bytes);
    }

    /// Issue 22: a state file group or others can read or write is refused on load,
    /// as ssh refuses such a private key, with the command that fixes it; the file is
    /// left as it was.
    #[cfg(unix)]
    #[test]
    fn loading_refuses_a_file_others_can_read_or_write() {
        let dir = TempDir::new("exposed");
        let path = dir.0.join("state");
        let file = StateFile::new(&path);
        let bytes = sample().to_file_bytes();
        file.save(&bytes).unwrap();
        for exposed in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666] {
            chmod(&path, exposed);
            let error = file.load().unwrap_err();
            assert!(
                matches!(error, StateError::Exposed { mode, .. } if mode == exposed),
                "{exposed:o}: {error}"
            );
            let text = error.to_string();
            assert!(
                text.contains(&format!("chmod 600 {}", path.display())),
                "{text}"
            );
            assert!(text.contains(&format!("{exposed:03o}")), "{text}");
            assert_eq!(mode(&path), exposed, "left untouched");
        }
        for private in [0o600, 0o400] {
            chmod(&path, private);
            assert_eq!(file.load().unwrap().unwrap(), bytes, "{private:o}");
        }
    }

    /// Issue 22 tamper cases at the file level: every truncation and every single-byte
    /// edit is refused (never a panic); the error says the checksum only catches
    /// accidents. An edit whose author recomputes the checksum is NOT caught: that is
    /// the documented limit (SECURITY.md), pinned here so the text stays true.
    #[test]
    fn every_truncation_and_byte_edit_is_refused() {
        let bytes = sample().to_file_bytes();
        for len in 0..bytes.len() {
            assert!(State::from_file_bytes(&bytes[..len]).is_err(), "{len}");
        }
        for at in 0..bytes.len() {
            let mut edited = bytes.clone();
            edited[at] ^= 0x01;
            assert!(State::from_file_bytes(&edited).is_err(), "byte {at}");
        }
        let mut edited = bytes.clone();
        let last = edited.len() - 1;
        edited[last] ^= 0x01;
        let reason = State::from_file_bytes(&edited).unwrap_err();
        assert!(reason.contains("accidents"), "{reason}");
        assert!(reason.contains("not a signature"), "{reason}");
        // The limit: rewrite pinRetries and recompute the checksum.
        let mut state = sample();
        state.pin_retries = 8;
        let forged = {
            let body = state.to_value().to_vec();
            [MAGIC.as_slice(), &sha256(&body), &body].concat()
        };
        assert_eq!(State::from_file_bytes(&forged).unwrap().pin_retries, 8);
    }

    /// No unbounded memory from a file: a state file larger than any real one (a
    /// sparse 16 MiB + 1 here) is refused without being read whole.
    #[test]
    fn an_oversized_file_is_refused() {
        let dir = TempDir::new("oversized");
        let path = dir.0.join("state");
        let file = StateFile::new(&path);
        file.save(&sample().to_file_bytes()).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(MAX_STATE_FILE + 1)
            .unwrap();
        let error = file.load().unwrap_err();
        assert!(matches!(error, StateError::Corrupt { .. }), "{error}");
        assert!(error.to_string().contains("larger than"), "{error}");
    }

    #[test]
    fn state_file_saves_atomically_and_refuses_corrupt_files() {
        let dir = std::env::temp_dir().join(format!("ctap-virtual-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = StateFile::new(dir.join("state"));
        assert!(file.load().unwrap().is_none());
        let bytes = sample().to_file_bytes();
        file.save(&bytes).unwrap();
        assert_eq!(file.load().unwrap().unwrap(), bytes);
        assert!(!dir.join("state.tmp").exists());
        std::fs::write(file.path(), b"garbage").unwrap();
        let error = file.load().unwrap_err();
        assert!(matches!(error, StateError::Corrupt { .. }), "{error}");
        assert!(error.to_string().contains("corrupt"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
