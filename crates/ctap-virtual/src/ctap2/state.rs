//! The authenticator's persistent state (credentials, PIN, counters, settings), its
//! CBOR form, and the state file.
//!
//! ```text
//! file = "ctap-virtual state v1\n" (22) | SHA-256(body) (32) | body
//! body = canonical CBOR map with text keys (see `State::to_value`)
//! ```
//!
//! The checksum makes any corruption (a truncated write by another tool, a flipped
//! bit) a clear error instead of a silently different authenticator. Saving writes a
//! temporary file beside the target, syncs it and renames it over the target, so a crash
//! leaves either the previous good state or the new one.

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
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct State {
    /// Derives every credential key and authenticates every credential id.
    pub(crate) master: Zeroizing<[u8; 32]>,
    /// The global signature counter.
    pub(crate) sign_count: u32,
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
}

impl State {
    /// A factory-fresh state with a new master secret.
    pub(crate) fn new(master: [u8; 32]) -> Self {
        Self {
            master: Zeroizing::new(master),
            sign_count: 0,
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
            (t("signCount"), Value::int(self.sign_count)),
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
            return Err("checksum mismatch (the file was damaged or edited)".into());
        }
        let value = Value::from_slice(body).map_err(|e| e.to_string())?;
        Self::from_value(value).map_err(|e| e.to_string())
    }
}

/// A state file on disk: atomic replacement on save, corrupt files refused on load.
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
    /// [`StateError::Io`] when it cannot be read, [`StateError::Corrupt`] when it is not a
    /// valid state file (it is left untouched).
    pub fn load(&self) -> Result<Option<Vec<u8>>, StateError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                State::from_file_bytes(&bytes).map_err(|reason| StateError::Corrupt {
                    path: self.path.clone(),
                    reason,
                })?;
                Ok(Some(bytes))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Replaces the file with `bytes` atomically: a temporary file in the same folder,
    /// synced, then renamed over the target.
    ///
    /// # Errors
    /// [`StateError::Io`]; the previous file is then still intact.
    pub fn save(&self, bytes: &[u8]) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: self.path.clone(),
            source,
        };
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut file = std::fs::File::create(&temporary).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&temporary, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename durable too (best effort: not every platform can open a
            // folder for syncing).
            if let Ok(dir) = std::fs::File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        let mut state = State::new([5; 32]);
        state.sign_count = 42;
        state.pin = Some(([1; 16], 6));
        state.pin_retries = 5;
        state.credentials.push(Resident {
            id: vec![9; 51],
            rp: RpEntity {
                id: "example.com".into(),
                name: Some("Ex".into()),
            },
            user: UserEntity {
                id: vec![1, 2],
                name: Some("a".into()),
                display_name: None,
            },
            created: 3,
            extras: CredentialExtras::default(),
        });
        state.next_created = 4;
        state
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
