//! Reading WebAuthn's JSON forms member by member (python-fido2's `from_dict`), so that
//! every error names the member that was wrong (`publicKey.user.id: ...`) and no input
//! makes unbounded work: the text is bounded before it is parsed, serde_json bounds the
//! nesting (128 levels), and every list is counted before it is read.
//!
//! WebAuthn's IDL rules as browsers apply them: a member that is `null` is treated as
//! absent (as python-fido2 does; servers send `"authenticatorAttachment": null`), an
//! enumeration value this client does not know is ignored (WebAuthn §2.1.1), an
//! unknown member is ignored.

use serde_json::{Map, Value};

use crate::b64;
use crate::error::{Error, Result};

/// The longest options JSON read (1 MiB): far above any real server's options (a
/// few KiB with 256 credentials of 1023 bytes each: ~350 KiB) and small enough
/// that parsing it is quick.
pub const MAX_OPTIONS_JSON: usize = 1 << 20;

/// A JSON object being read, with its path for error messages.
#[derive(Debug)]
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

/// The JSON type of `value`, for error messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses `text` as JSON after checking its size.
pub(crate) fn parse(text: &str, what: &str) -> Result<Value> {
    if text.len() > MAX_OPTIONS_JSON {
        return Err(Error::input(
            what,
            format!(
                "{} bytes of JSON, more than the {MAX_OPTIONS_JSON} read",
                text.len()
            ),
        ));
    }
    serde_json::from_str(text).map_err(|e| Error::input(what, format!("not JSON: {e}")))
}

/// The path of `key` under `path`.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl<'a> Obj<'a> {
    /// `value` as an object at `path`.
    pub(crate) fn new(value: &'a Value, path: impl Into<String>) -> Result<Self> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Self { map, path }),
            other => Err(Error::input(
                path,
                format!("expected an object, got {}", kind(other)),
            )),
        }
    }

    /// The path of a member.
    pub(crate) fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// A member (`null` counts as absent).
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// The member names, in the order given.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &'a String> {
        self.map.keys()
    }

    fn wrong(&self, key: &str, expected: &str, got: &Value) -> Error {
        Error::input(
            self.path(key),
            format!("expected {expected}, got {}", kind(got)),
        )
    }

    fn missing(&self, key: &str) -> Error {
        Error::input(self.path(key), "required member missing")
    }

    /// A string member, at most `max` bytes.
    pub(crate) fn string(&self, key: &str, max: usize) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.len() <= max => Ok(Some(s)),
            Some(Value::String(s)) => Err(Error::input(
                self.path(key),
                format!("{} bytes, more than the {max} allowed", s.len()),
            )),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A required string member.
    pub(crate) fn req_string(&self, key: &str, max: usize) -> Result<&'a str> {
        self.string(key, max)?.ok_or_else(|| self.missing(key))
    }

    /// A base64url member, at most `max` bytes once decoded.
    pub(crate) fn bytes(&self, key: &str, max: usize) -> Result<Option<Vec<u8>>> {
        // 4 characters per 3 bytes, plus padding.
        let Some(text) = self.string(key, max.saturating_mul(4) / 3 + 4)? else {
            return Ok(None);
        };
        let bytes = b64::decode(text).map_err(|e| Error::input(self.path(key), e))?;
        if bytes.len() > max {
            return Err(Error::input(
                self.path(key),
                format!("{} bytes, more than the {max} allowed", bytes.len()),
            ));
        }
        Ok(Some(bytes))
    }

    /// A required base64url member.
    pub(crate) fn req_bytes(&self, key: &str, max: usize) -> Result<Vec<u8>> {
        self.bytes(key, max)?.ok_or_else(|| self.missing(key))
    }

    /// A boolean member.
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "a boolean", other)),
        }
    }

    /// An integer member in `T`'s range (a float with no fraction counts: JSON has
    /// one number type and some servers write `60000.0`).
    pub(crate) fn int<T: TryFrom<i64>>(&self, key: &str) -> Result<Option<T>> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Value::Number(n) = value else {
            return Err(self.wrong(key, "a number", value));
        };
        let whole = n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| {
                    #[expect(clippy::cast_possible_truncation, reason = "checked above")]
                    let i = f as i64;
                    i
                })
        });
        whole
            .and_then(|i| T::try_from(i).ok())
            .map(Some)
            .ok_or_else(|| Error::input(self.path(key), format!("{n} is out of range")))
    }

    /// An array member of at most `max` elements, and its path.
    pub(crate) fn array(&self, key: &str, max: usize) -> Result<Option<&'a Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) if items.len() <= max => Ok(Some(items)),
            Some(Value::Array(items)) => Err(Error::input(
                self.path(key),
                format!("{} elements, more than the {max} allowed", items.len()),
            )),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    /// An object member.
    pub(crate) fn obj(&self, key: &str) -> Result<Option<Obj<'a>>> {
        self.get(key)
            .map(|v| Obj::new(v, self.path(key)))
            .transpose()
    }

    /// A required object member.
    pub(crate) fn req_obj(&self, key: &str) -> Result<Obj<'a>> {
        self.obj(key)?.ok_or_else(|| self.missing(key))
    }

    /// An array of strings, each at most `max_len` bytes.
    pub(crate) fn strings(&self, key: &str, max: usize, max_len: usize) -> Result<Vec<String>> {
        let Some(items) = self.array(key, max)? else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) if s.len() <= max_len => Ok(s.clone()),
                Value::String(_) => Err(Error::input(
                    format!("{}[{i}]", self.path(key)),
                    format!("more than {max_len} bytes"),
                )),
                other => Err(Error::input(
                    format!("{}[{i}]", self.path(key)),
                    format!("expected a string, got {}", kind(other)),
                )),
            })
            .collect()
    }
}
