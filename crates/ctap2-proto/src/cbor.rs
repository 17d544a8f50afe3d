//! The CBOR subset CTAP2 uses, in the CTAP2 canonical form (CTAP 2.1 §8 "Message
//! Encoding"; §8.1 "CTAP2 canonical CBOR encoding form").
//!
//! Encoding always produces the canonical form: integers and lengths in their shortest
//! encoding, definite lengths only, map keys sorted by major type, then the length of
//! their encoding, then bytewise (for CTAP's keys: unsigned integer keys ascending, then
//! negative ones from -1 down; text keys shorter first, then bytewise).
//!
//! Decoding has two [`DecodeMode`]s. [`DecodeMode::Canonical`] (the default, and what
//! an authenticator uses on requests) is strict, as §8 recommends ("decoders SHOULD
//! reject CBOR that is not validly encoded in the CTAP2 canonical CBOR encoding form and
//! SHOULD reject messages with duplicate map keys"): a non-shortest length, an
//! indefinite length, unsorted or duplicate map keys, a tag, a float, an undefined or
//! other simple value, invalid UTF-8, trailing bytes or nesting deeper than
//! [`MAX_DEPTH`] are all `CTAP2_ERR_INVALID_CBOR`.
//!
//! [`DecodeMode::Relaxed`] is for a host reading an authenticator's responses: real
//! keys sometimes send map keys out of order or integers in a longer form than needed,
//! and python-fido2 and libfido2 read those. The canonical form is a rule for what each
//! side sends and what an authenticator accepts, not a reason for a host to refuse a
//! key, so the relaxed mode accepts exactly those two deviations and nothing else.

use alloc::{string::String, vec::Vec};
use core::fmt;

use ctap_types::StatusCode;

/// The deepest nesting of arrays and maps the decoder accepts. CTAP 2.1 §8 limits
/// messages to four levels; this leaves room for extensions (hmac-secret's key
/// agreement inside `extensions` inside a request is three) and bounds recursion.
pub const MAX_DEPTH: usize = 8;

/// How strictly [`Value::from_slice_with`] and [`Value::from_prefix_with`] read CBOR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DecodeMode {
    /// The CTAP2 canonical form only (CTAP 2.1 §8.1): what an authenticator accepts in
    /// requests.
    #[default]
    Canonical,
    /// Also map keys in any order and integers, lengths and map keys not in their
    /// shortest form: what a host accepts in responses (as python-fido2 and libfido2
    /// do). Everything else stays refused: malformed or truncated CBOR, trailing
    /// bytes, duplicate map keys (compared by value, so `01` and `18 01` are the same
    /// key), indefinite lengths (CTAP 2.1 §8 forbids them for both sides and
    /// python-fido2 refuses them too), tags, floats, simple values other than
    /// false/true/null, invalid UTF-8 and nesting deeper than [`MAX_DEPTH`].
    Relaxed,
}

/// One CBOR data item of the CTAP2 subset.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Value {
    /// An unsigned (major type 0) or negative (major type 1) integer: -2^64..2^64.
    Int(i128),
    /// A byte string (major type 2).
    Bytes(Vec<u8>),
    /// A text string (major type 3).
    Text(String),
    /// An array (major type 4).
    Array(Vec<Value>),
    /// A map (major type 5). Order here does not matter: encoding sorts the entries.
    Map(Vec<(Value, Value)>),
    /// `false` or `true` (simple values 20 and 21).
    Bool(bool),
    /// `null` (simple value 22).
    Null,
}

/// Why a CTAP2 message could not be decoded; each maps to the status code the
/// authenticator answers with ([`Error::status`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Error {
    /// The bytes are not CBOR in the CTAP2 canonical form (`CTAP2_ERR_INVALID_CBOR`).
    InvalidCbor(&'static str),
    /// A member has the wrong CBOR type (`CTAP2_ERR_CBOR_UNEXPECTED_TYPE`).
    UnexpectedType(&'static str),
    /// A required member is absent (`CTAP2_ERR_MISSING_PARAMETER`).
    MissingParameter(&'static str),
    /// A member has the right type but a value the message does not allow
    /// (`CTAP1_ERR_INVALID_PARAMETER`).
    InvalidParameter(&'static str),
    /// A member has the wrong length (`CTAP1_ERR_INVALID_LENGTH`).
    InvalidLength(&'static str),
}

impl Error {
    /// The CTAP status code an authenticator answers this error with.
    #[must_use]
    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidCbor(_) => StatusCode::INVALID_CBOR,
            Self::UnexpectedType(_) => StatusCode::CBOR_UNEXPECTED_TYPE,
            Self::MissingParameter(_) => StatusCode::MISSING_PARAMETER,
            Self::InvalidParameter(_) => StatusCode::INVALID_PARAMETER,
            Self::InvalidLength(_) => StatusCode::INVALID_LENGTH,
        }
    }

    /// What was wrong (the member or the rule).
    #[must_use]
    pub const fn what(self) -> &'static str {
        match self {
            Self::InvalidCbor(what)
            | Self::UnexpectedType(what)
            | Self::MissingParameter(what)
            | Self::InvalidParameter(what)
            | Self::InvalidLength(what) => what,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::InvalidCbor(_) => "invalid CBOR",
            Self::UnexpectedType(_) => "unexpected CBOR type",
            Self::MissingParameter(_) => "missing parameter",
            Self::InvalidParameter(_) => "invalid parameter",
            Self::InvalidLength(_) => "invalid length",
        };
        write!(f, "{kind}: {} ({})", self.what(), self.status())
    }
}

impl core::error::Error for Error {}

impl Value {
    /// A text value.
    #[must_use]
    pub fn text(text: &str) -> Self {
        Self::Text(text.into())
    }

    /// A byte string value.
    #[must_use]
    pub fn bytes(bytes: &[u8]) -> Self {
        Self::Bytes(bytes.to_vec())
    }

    /// An integer value.
    #[must_use]
    pub fn int(value: impl Into<i128>) -> Self {
        Self::Int(value.into())
    }

    /// The canonical encoding of this value.
    #[must_use]
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the canonical encoding of this value to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Self::Int(n) if *n >= 0 => head(out, 0, u64::try_from(*n).unwrap_or(u64::MAX)),
            Self::Int(n) => head(out, 1, u64::try_from(-1 - *n).unwrap_or(u64::MAX)),
            Self::Bytes(bytes) => {
                head(out, 2, bytes.len() as u64);
                out.extend_from_slice(bytes);
            }
            Self::Text(text) => {
                head(out, 3, text.len() as u64);
                out.extend_from_slice(text.as_bytes());
            }
            Self::Array(items) => {
                head(out, 4, items.len() as u64);
                for item in items {
                    item.encode_into(out);
                }
            }
            Self::Map(entries) => {
                let mut encoded: Vec<(Vec<u8>, &Value)> =
                    entries.iter().map(|(k, v)| (k.to_vec(), v)).collect();
                encoded.sort_by(|(a, _), (b, _)| canonical_order(a, b));
                head(out, 5, encoded.len() as u64);
                for (key, value) in encoded {
                    out.extend_from_slice(&key);
                    value.encode_into(out);
                }
            }
            Self::Bool(false) => out.push(0xF4),
            Self::Bool(true) => out.push(0xF5),
            Self::Null => out.push(0xF6),
        }
    }

    /// Decodes exactly one canonical value filling all of `bytes`.
    ///
    /// # Errors
    /// [`Error::InvalidCbor`] for anything outside the CTAP2 canonical subset.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_slice_with(bytes, DecodeMode::Canonical)
    }

    /// Decodes exactly one value filling all of `bytes`, in `mode`.
    ///
    /// # Errors
    /// [`Error::InvalidCbor`] for anything `mode` refuses.
    pub fn from_slice_with(bytes: &[u8], mode: DecodeMode) -> Result<Self, Error> {
        let mut decoder = Decoder::new(bytes, mode);
        let value = decoder.value(0)?;
        if !decoder.input.is_empty() {
            return Err(Error::InvalidCbor("trailing bytes after the value"));
        }
        Ok(value)
    }

    /// Decodes one canonical value at the start of `bytes`; returns it and the rest
    /// (authenticator data: a COSE key followed by extensions).
    ///
    /// # Errors
    /// [`Error::InvalidCbor`] for anything outside the CTAP2 canonical subset.
    pub fn from_prefix(bytes: &[u8]) -> Result<(Self, &[u8]), Error> {
        Self::from_prefix_with(bytes, DecodeMode::Canonical)
    }

    /// Decodes one value at the start of `bytes` in `mode`; returns it and the rest.
    ///
    /// # Errors
    /// [`Error::InvalidCbor`] for anything `mode` refuses.
    pub fn from_prefix_with(bytes: &[u8], mode: DecodeMode) -> Result<(Self, &[u8]), Error> {
        let mut decoder = Decoder::new(bytes, mode);
        let value = decoder.value(0)?;
        Ok((value, decoder.input))
    }

    /// [`from_slice_with`](Self::from_slice_with) in [`DecodeMode::Relaxed`]: how a
    /// host reads an authenticator's response.
    ///
    /// # Errors
    /// [`Error::InvalidCbor`] for anything the relaxed mode refuses.
    pub fn from_slice_relaxed(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_slice_with(bytes, DecodeMode::Relaxed)
    }

    /// The integer, or `UnexpectedType(what)`.
    ///
    /// # Errors
    /// When the value is not an integer.
    pub fn as_int(&self, what: &'static str) -> Result<i128, Error> {
        match self {
            Self::Int(n) => Ok(*n),
            _ => Err(Error::UnexpectedType(what)),
        }
    }

    /// The bytes, or `UnexpectedType(what)`.
    ///
    /// # Errors
    /// When the value is not a byte string.
    pub fn into_bytes(self, what: &'static str) -> Result<Vec<u8>, Error> {
        match self {
            Self::Bytes(b) => Ok(b),
            _ => Err(Error::UnexpectedType(what)),
        }
    }

    /// The text, or `UnexpectedType(what)`.
    ///
    /// # Errors
    /// When the value is not a text string.
    pub fn into_text(self, what: &'static str) -> Result<String, Error> {
        match self {
            Self::Text(t) => Ok(t),
            _ => Err(Error::UnexpectedType(what)),
        }
    }

    /// The array, or `UnexpectedType(what)`.
    ///
    /// # Errors
    /// When the value is not an array.
    pub fn into_array(self, what: &'static str) -> Result<Vec<Value>, Error> {
        match self {
            Self::Array(a) => Ok(a),
            _ => Err(Error::UnexpectedType(what)),
        }
    }

    /// The map entries, or `UnexpectedType(what)`.
    ///
    /// # Errors
    /// When the value is not a map.
    pub fn into_map(self, what: &'static str) -> Result<Vec<(Value, Value)>, Error> {
        match self {
            Self::Map(m) => Ok(m),
            _ => Err(Error::UnexpectedType(what)),
        }
    }

    /// The boolean, or `UnexpectedType(what)`.
    ///
    /// # Errors
    /// When the value is not a boolean.
    pub fn as_bool(&self, what: &'static str) -> Result<bool, Error> {
        match self {
            Self::Bool(b) => Ok(*b),
            _ => Err(Error::UnexpectedType(what)),
        }
    }

    /// The integer as a `T` (e.g. `u8`, `u32`, `i32`), or `UnexpectedType` when it is not
    /// an integer, `InvalidParameter` when it does not fit.
    ///
    /// # Errors
    /// As above.
    pub fn to_num<T: TryFrom<i128>>(&self, what: &'static str) -> Result<T, Error> {
        T::try_from(self.as_int(what)?).map_err(|_| Error::InvalidParameter(what))
    }
}

/// The CTAP2 canonical order of two encoded map keys (§8.1): by major type, then the
/// shorter first, then bytewise. Comparing the whole initial byte first (as
/// python-fido2 does) is the same order, since within a major type a larger initial
/// byte means a longer encoding.
fn canonical_order(a: &[u8], b: &[u8]) -> core::cmp::Ordering {
    a.first()
        .cmp(&b.first())
        .then_with(|| a.len().cmp(&b.len()))
        .then_with(|| a.cmp(b))
}

/// Writes a head (major type and argument) in its shortest form.
#[allow(clippy::cast_possible_truncation)] // each arm checked the range
fn head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let major = major << 5;
    if arg < 24 {
        out.push(major | arg as u8);
    } else if arg <= 0xFF {
        out.extend_from_slice(&[major | 24, arg as u8]);
    } else if arg <= 0xFFFF {
        out.push(major | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= 0xFFFF_FFFF {
        out.push(major | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

struct Decoder<'a> {
    input: &'a [u8],
    /// Refuse what the CTAP2 canonical form forbids (key order, long forms).
    canonical: bool,
}

impl<'a> Decoder<'a> {
    fn new(input: &'a [u8], mode: DecodeMode) -> Self {
        Self {
            input,
            canonical: mode == DecodeMode::Canonical,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.input.len() {
            return Err(Error::InvalidCbor("truncated"));
        }
        let (taken, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, Error> {
        let (&byte, rest) = self
            .input
            .split_first()
            .ok_or(Error::InvalidCbor("truncated"))?;
        self.input = rest;
        Ok(byte)
    }

    /// The argument of a head whose initial byte had `info` in its low 5 bits.
    fn argument(&mut self, info: u8) -> Result<u64, Error> {
        let (arg, min) = match info {
            0..=23 => return Ok(u64::from(info)),
            24 => (u64::from(self.byte()?), 24),
            25 => {
                let b = self.take(2)?;
                (u64::from(u16::from_be_bytes([b[0], b[1]])), 0x100)
            }
            26 => {
                let b = self.take(4)?;
                (
                    u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                    0x1_0000,
                )
            }
            27 => {
                let b = self.take(8)?;
                let mut array = [0; 8];
                array.copy_from_slice(b);
                (u64::from_be_bytes(array), 0x1_0000_0000)
            }
            31 => return Err(Error::InvalidCbor("indefinite length")),
            _ => return Err(Error::InvalidCbor("reserved additional information")),
        };
        if self.canonical && arg < min {
            return Err(Error::InvalidCbor(
                "integer or length not in its shortest form",
            ));
        }
        Ok(arg)
    }

    /// A length that is at most the remaining input (each element takes at least one
    /// byte), so a hostile length never allocates more than the message.
    fn length(&mut self, info: u8) -> Result<usize, Error> {
        let len = self.argument(info)?;
        usize::try_from(len)
            .ok()
            .filter(|&len| len <= self.input.len())
            .ok_or(Error::InvalidCbor("length beyond the end of the input"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        let initial = self.byte()?;
        let (major, info) = (initial >> 5, initial & 0x1F);
        Ok(match major {
            0 => Value::Int(i128::from(self.argument(info)?)),
            1 => Value::Int(-1 - i128::from(self.argument(info)?)),
            2 => {
                let len = self.length(info)?;
                Value::Bytes(self.take(len)?.to_vec())
            }
            3 => {
                let len = self.length(info)?;
                let text = core::str::from_utf8(self.take(len)?)
                    .map_err(|_| Error::InvalidCbor("text string not UTF-8"))?;
                Value::Text(text.into())
            }
            4 | 5 if depth >= MAX_DEPTH => return Err(Error::InvalidCbor("nested too deep")),
            4 => {
                let len = self.length(info)?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            5 => {
                let len = self.length(info)?;
                let mut entries = Vec::with_capacity(len);
                let mut previous: Option<&'a [u8]> = None;
                for _ in 0..len {
                    let start = self.input;
                    let key = self.value(depth + 1)?;
                    let key_bytes = start.get(..start.len() - self.input.len()).unwrap_or(&[]);
                    if !self.canonical {
                        // Duplicates are found once the map is read, by value.
                    } else if let Some(previous) = previous {
                        match canonical_order(previous, key_bytes) {
                            core::cmp::Ordering::Less => {}
                            core::cmp::Ordering::Equal => {
                                return Err(Error::InvalidCbor("duplicate map key"));
                            }
                            core::cmp::Ordering::Greater => {
                                return Err(Error::InvalidCbor("map keys not in canonical order"));
                            }
                        }
                    }
                    previous = Some(key_bytes);
                    let value = self.value(depth + 1)?;
                    entries.push((key, value));
                }
                if !self.canonical {
                    refuse_duplicate_keys(&entries)?;
                }
                Value::Map(entries)
            }
            6 => return Err(Error::InvalidCbor("tags are not used by CTAP2")),
            _ => match info {
                20 => Value::Bool(false),
                21 => Value::Bool(true),
                22 => Value::Null,
                _ => return Err(Error::InvalidCbor("float or simple value")),
            },
        })
    }
}

/// `InvalidCbor` if two keys of a map read in the relaxed mode are the same value
/// (however each was encoded): their canonical encodings are sorted and compared with
/// their neighbours, so a hostile map costs `n log n`, not `n²`.
fn refuse_duplicate_keys(entries: &[(Value, Value)]) -> Result<(), Error> {
    let mut keys: Vec<Vec<u8>> = entries.iter().map(|(key, _)| key.to_vec()).collect();
    keys.sort_unstable_by(|a, b| canonical_order(a, b));
    if keys.windows(2).any(|pair| pair.first() == pair.get(1)) {
        return Err(Error::InvalidCbor("duplicate map key"));
    }
    Ok(())
}

/// A map with integer keys being read member by member (requests and responses).
/// Members not taken are ignored, as CTAP 2.1 §8 asks of unknown keys in requests.
#[derive(Debug)]
pub struct IntMap {
    entries: Vec<(i128, Value)>,
}

impl IntMap {
    /// Reads a map whose keys are all integers.
    ///
    /// # Errors
    /// `UnexpectedType(what)` when `value` is not a map or a key is not an integer.
    pub fn new(value: Value, what: &'static str) -> Result<Self, Error> {
        let entries = value
            .into_map(what)?
            .into_iter()
            .map(|(k, v)| Ok((k.as_int(what)?, v)))
            .collect::<Result<_, Error>>()?;
        Ok(Self { entries })
    }

    /// Takes the member `key` if present.
    pub fn take(&mut self, key: i128) -> Option<Value> {
        let index = self.entries.iter().position(|(k, _)| *k == key)?;
        Some(self.entries.swap_remove(index).1)
    }

    /// Takes the member `key`, or `MissingParameter(what)`.
    ///
    /// # Errors
    /// When the member is absent.
    pub fn require(&mut self, key: i128, what: &'static str) -> Result<Value, Error> {
        self.take(key).ok_or(Error::MissingParameter(what))
    }

    /// The members not taken yet, in the order they came.
    #[must_use]
    pub fn into_rest(self) -> Vec<(i128, Value)> {
        self.entries
    }
}

/// A map with text keys being read member by member (entities, options, extensions).
#[derive(Debug)]
pub struct TextMap {
    entries: Vec<(String, Value)>,
}

impl TextMap {
    /// Reads a map whose keys are all text.
    ///
    /// # Errors
    /// `UnexpectedType(what)` when `value` is not a map or a key is not text.
    pub fn new(value: Value, what: &'static str) -> Result<Self, Error> {
        let entries = value
            .into_map(what)?
            .into_iter()
            .map(|(k, v)| Ok((k.into_text(what)?, v)))
            .collect::<Result<_, Error>>()?;
        Ok(Self { entries })
    }

    /// Takes the member `key` if present.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        let index = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.swap_remove(index).1)
    }

    /// Takes the member `key`, or `MissingParameter(what)`.
    ///
    /// # Errors
    /// When the member is absent.
    pub fn require(&mut self, key: &str, what: &'static str) -> Result<Value, Error> {
        self.take(key).ok_or(Error::MissingParameter(what))
    }

    /// The members not taken yet.
    #[must_use]
    pub fn into_rest(self) -> Vec<(String, Value)> {
        self.entries
    }
}

/// Builds a map with integer keys, skipping `None` members.
#[derive(Debug, Default)]
pub struct MapBuilder {
    entries: Vec<(Value, Value)>,
}

impl MapBuilder {
    /// An empty map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key: value`.
    #[must_use]
    pub fn with(mut self, key: i128, value: Value) -> Self {
        self.entries.push((Value::Int(key), value));
        self
    }

    /// Adds `key: value` when `value` is `Some`.
    #[must_use]
    pub fn with_opt(self, key: i128, value: Option<Value>) -> Self {
        match value {
            Some(value) => self.with(key, value),
            None => self,
        }
    }

    /// The map value.
    #[must_use]
    pub fn build(self) -> Value {
        Value::Map(self.entries)
    }
}

/// A CTAP2 message with a CBOR form: a request parameter map or a response map.
pub trait CborMessage: Sized {
    /// The message as a CBOR value.
    fn to_value(&self) -> Value;

    /// The message from a decoded CBOR value.
    ///
    /// # Errors
    /// The [`Error`] whose [`status`](Error::status) an authenticator answers with.
    fn from_value(value: Value) -> Result<Self, Error>;

    /// The canonical CBOR encoding.
    fn to_cbor(&self) -> Vec<u8> {
        self.to_value().to_vec()
    }

    /// Decodes the canonical CBOR encoding.
    ///
    /// # Errors
    /// As [`Value::from_slice`] and [`from_value`](Self::from_value).
    fn from_cbor(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_value(Value::from_slice(bytes)?)
    }

    /// Decodes CBOR read in `mode` ([`DecodeMode::Relaxed`] for an authenticator's
    /// response).
    ///
    /// # Errors
    /// As [`Value::from_slice_with`] and [`from_value`](Self::from_value).
    fn from_cbor_with(bytes: &[u8], mode: DecodeMode) -> Result<Self, Error> {
        Self::from_value(Value::from_slice_with(bytes, mode)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc8949_appendix_a_vectors_round_trip() {
        // (value, encoding) pairs from RFC 8949 Appendix A (the canonical ones).
        let cases = [
            (Value::Int(0), "00"),
            (Value::Int(23), "17"),
            (Value::Int(24), "1818"),
            (Value::Int(1000), "1903e8"),
            (Value::Int(1_000_000), "1a000f4240"),
            (Value::Int(1_000_000_000_000), "1b000000e8d4a51000"),
            (Value::Int(18_446_744_073_709_551_615), "1bffffffffffffffff"),
            (
                Value::Int(-18_446_744_073_709_551_616),
                "3bffffffffffffffff",
            ),
            (Value::Int(-1), "20"),
            (Value::Int(-1000), "3903e7"),
            (Value::Bool(false), "f4"),
            (Value::Null, "f6"),
            (Value::bytes(&[1, 2, 3, 4]), "4401020304"),
            (Value::text("IETF"), "6449455446"),
            (Value::text("\u{6c34}"), "63e6b0b4"),
            (Value::Array(vec![Value::Int(1), Value::Int(2)]), "820102"),
            (
                Value::Map(vec![(Value::text("a"), Value::Int(1))]),
                "a1616101",
            ),
        ];
        for (value, encoding) in cases {
            assert_eq!(value.to_vec(), hex(encoding), "{value:?}");
            assert_eq!(Value::from_slice(&hex(encoding)), Ok(value));
        }
    }

    #[test]
    fn map_keys_are_sorted_canonically() {
        // CTAP 2.1 §8.1's example order: 10, 100, -1, "z", "aa", [100], [-1], false.
        let map = Value::Map(vec![
            (Value::Bool(false), Value::Null),
            (Value::text("aa"), Value::Null),
            (Value::Int(-1), Value::Null),
            (Value::Int(100), Value::Null),
            (Value::text("z"), Value::Null),
            (Value::Int(10), Value::Null),
        ]);
        assert_eq!(map.to_vec(), hex("a60af61864f620f6617af6626161f6f4f6"));
    }

    #[test]
    fn non_canonical_input_is_invalid_cbor() {
        for (encoding, why) in [
            ("1817", "24-bit form for 23"),
            ("190017", "16-bit form for 23"),
            ("5f41014102ff", "indefinite byte string"),
            ("9fff", "indefinite array"),
            ("a2020101f6", "unsorted integer keys"),
            ("a20101 01f6", "duplicate key"),
            ("a2616201616101", "unsorted text keys"),
            ("c11a514b67b0", "tag"),
            ("f93c00", "half float"),
            ("f7", "undefined"),
            ("62c328", "invalid UTF-8"),
            ("0000", "trailing byte"),
            ("42 01", "truncated"),
            ("", "empty"),
            ("5bffffffffffffffff", "huge length"),
            ("1c", "reserved info"),
        ] {
            let bytes = hex(&encoding.replace(' ', ""));
            let error = Value::from_slice(&bytes).unwrap_err();
            assert_eq!(error.status(), StatusCode::INVALID_CBOR, "{why}: {error}");
        }
    }

    #[test]
    fn relaxed_decoding_accepts_order_and_long_forms_only() {
        for (encoding, value) in [
            ("1817", Value::Int(23)),
            ("190017", Value::Int(23)),
            ("5800", Value::Bytes(vec![])),
            (
                "a2020101f6",
                Value::Map(vec![
                    (Value::Int(2), Value::Int(1)),
                    (Value::Int(1), Value::Null),
                ]),
            ),
            (
                "a2616201616101",
                Value::Map(vec![
                    (Value::text("b"), Value::Int(1)),
                    (Value::text("a"), Value::Int(1)),
                ]),
            ),
        ] {
            let bytes = hex(encoding);
            assert!(
                Value::from_slice(&bytes).is_err(),
                "{encoding} is not canonical"
            );
            assert_eq!(Value::from_slice_relaxed(&bytes), Ok(value), "{encoding}");
        }
        for (encoding, why) in [
            ("a20101 01f6", "duplicate key"),
            ("a2 1801 01 01 f6", "duplicate key in a long form"),
            ("a3 01 01 02 01 01 f6", "duplicate key, not adjacent"),
            (
                "a2 6161 01 7801 61 02",
                "duplicate text key, one length long-form",
            ),
            ("5f41014102ff", "indefinite byte string"),
            ("9f01ff", "indefinite array"),
            ("bf0101ff", "indefinite map"),
            ("62c328", "invalid UTF-8"),
            ("f7", "undefined"),
            ("42 01", "truncated"),
            ("c11a514b67b0", "tag"),
            ("f93c00", "half float"),
            ("0000", "trailing byte"),
            ("5bffffffffffffffff", "huge length"),
        ] {
            let bytes = hex(&encoding.replace(' ', ""));
            let error = Value::from_slice_relaxed(&bytes).unwrap_err();
            assert_eq!(error.status(), StatusCode::INVALID_CBOR, "{why}: {error}");
        }
        let deep = [vec![0x81; MAX_DEPTH + 1], vec![0]].concat();
        assert_eq!(
            Value::from_slice_relaxed(&deep),
            Err(Error::InvalidCbor("nested too deep"))
        );
        // The mode is what the named entry points use.
        let unsorted = hex("a2020101f6");
        assert_eq!(
            Value::from_slice_with(&unsorted, DecodeMode::Canonical),
            Value::from_slice(&unsorted)
        );
        assert_eq!(
            Value::from_slice_with(&unsorted, DecodeMode::Relaxed),
            Value::from_slice_relaxed(&unsorted)
        );
        let long_one = hex("1801ff");
        let (value, rest) = Value::from_prefix_with(&long_one, DecodeMode::Relaxed).unwrap();
        assert_eq!((value, rest), (Value::Int(1), &[0xFF][..]));
        assert!(Value::from_prefix(&long_one).is_err());
    }

    #[test]
    fn relaxed_duplicate_check_covers_large_maps() {
        // A map of 20000 distinct keys in descending order (every one out of place)
        // decodes; one duplicate at the end is found.
        let n: u32 = 20_000;
        let mut map = vec![0xBA];
        map.extend_from_slice(&n.to_be_bytes());
        for key in (0..n).rev() {
            map.push(0x1A);
            map.extend_from_slice(&key.to_be_bytes());
            map.push(0xF6);
        }
        let Ok(Value::Map(entries)) = Value::from_slice_relaxed(&map) else {
            panic!("the map does not decode");
        };
        assert_eq!(entries.len(), 20_000);
        // Key 0 (the last) once more, in place of key 1.
        let at = map.len() - 12;
        map[at..at + 5].copy_from_slice(&[0x1A, 0, 0, 0, 0]);
        assert_eq!(
            Value::from_slice_relaxed(&map),
            Err(Error::InvalidCbor("duplicate map key"))
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = [vec![0x81; MAX_DEPTH], vec![0]].concat();
        assert!(Value::from_slice(&ok).is_ok());
        let deep = [vec![0x81; MAX_DEPTH + 1], vec![0]].concat();
        assert_eq!(
            Value::from_slice(&deep),
            Err(Error::InvalidCbor("nested too deep"))
        );
    }

    #[test]
    fn int_map_reports_missing_and_wrong_types() {
        let value = Value::from_slice(&hex("a201020262")).unwrap_err();
        assert_eq!(value.status(), StatusCode::INVALID_CBOR);
        let mut map = IntMap::new(
            Value::Map(vec![(Value::Int(1), Value::text("x"))]),
            "request",
        )
        .unwrap();
        assert_eq!(
            map.require(2, "two").unwrap_err().status(),
            StatusCode::MISSING_PARAMETER
        );
        let one = map.require(1, "one").unwrap();
        assert_eq!(
            one.as_int("one").unwrap_err().status(),
            StatusCode::CBOR_UNEXPECTED_TYPE
        );
        assert_eq!(
            IntMap::new(Value::Int(1), "request").unwrap_err().status(),
            StatusCode::CBOR_UNEXPECTED_TYPE
        );
    }
}
