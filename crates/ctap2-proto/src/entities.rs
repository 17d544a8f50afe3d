//! The WebAuthn structures inside CTAP2 messages (CTAP 2.1 §6.1 parameters; WebAuthn
//! §5.4): RP and user entities, credential descriptors and parameters, options and
//! extensions. Text-keyed maps.

use alloc::{string::String, vec::Vec};

use crate::cbor::{Error, TextMap, Value};
use crate::cose::Algorithm;

/// `PublicKeyCredentialRpEntity`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RpEntity {
    /// The RP id (a domain).
    pub id: String,
    /// A human-palatable name.
    pub name: Option<String>,
    /// A URL of an image for the RP (CTAP 2.0 / WebAuthn Level 1 `icon`; Level 2
    /// dropped it, older RPs and suites still send it).
    pub icon: Option<String>,
}

/// `PublicKeyCredentialUserEntity`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UserEntity {
    /// The user handle (at most 64 bytes).
    pub id: Vec<u8>,
    /// The account name.
    pub name: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// A URL of an image for the account (CTAP 2.0 / WebAuthn Level 1 `icon`).
    pub icon: Option<String>,
}

/// `PublicKeyCredentialDescriptor`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CredentialDescriptor {
    /// The credential type: "public-key" is the only one defined.
    pub kind: String,
    /// The credential id.
    pub id: Vec<u8>,
    /// Transport hints, when given.
    pub transports: Option<Vec<String>>,
}

/// One `PublicKeyCredentialParameters` (of `pubKeyCredParams` or getInfo `algorithms`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CredentialParameters {
    /// The credential type: "public-key" is the only one defined.
    pub kind: String,
    /// The COSE algorithm.
    pub alg: Algorithm,
}

/// The type every current credential has.
pub const PUBLIC_KEY: &str = "public-key";

/// The `options` of makeCredential and getAssertion (absent = the command's default).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Options {
    /// Discoverable credential.
    pub rk: Option<bool>,
    /// User presence.
    pub up: Option<bool>,
    /// User verification (built in).
    pub uv: Option<bool>,
}

/// Extension inputs or outputs: identifier to CBOR value, in the order given.
pub type Extensions = Vec<(String, Value)>;

fn opt_text(map: &mut TextMap, key: &str, what: &'static str) -> Result<Option<String>, Error> {
    map.take(key).map(|v| v.into_text(what)).transpose()
}

impl RpEntity {
    /// CBOR form.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut entries = alloc::vec![(Value::text("id"), Value::text(&self.id))];
        if let Some(name) = &self.name {
            entries.push((Value::text("name"), Value::text(name)));
        }
        if let Some(icon) = &self.icon {
            entries.push((Value::text("icon"), Value::text(icon)));
        }
        Value::Map(entries)
    }

    /// From CBOR.
    ///
    /// # Errors
    /// Wrong types (`icon` included), missing `id`.
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = TextMap::new(value, "rp")?;
        Ok(Self {
            id: map.require("id", "rp.id")?.into_text("rp.id")?,
            name: opt_text(&mut map, "name", "rp.name")?,
            icon: opt_text(&mut map, "icon", "rp.icon")?,
        })
    }
}

impl UserEntity {
    /// CBOR form.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut entries = alloc::vec![(Value::text("id"), Value::bytes(&self.id))];
        if let Some(name) = &self.name {
            entries.push((Value::text("name"), Value::text(name)));
        }
        if let Some(name) = &self.display_name {
            entries.push((Value::text("displayName"), Value::text(name)));
        }
        if let Some(icon) = &self.icon {
            entries.push((Value::text("icon"), Value::text(icon)));
        }
        Value::Map(entries)
    }

    /// From CBOR.
    ///
    /// # Errors
    /// Wrong types (`icon` included), missing `id`.
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = TextMap::new(value, "user")?;
        Ok(Self {
            id: map.require("id", "user.id")?.into_bytes("user.id")?,
            name: opt_text(&mut map, "name", "user.name")?,
            display_name: opt_text(&mut map, "displayName", "user.displayName")?,
            icon: opt_text(&mut map, "icon", "user.icon")?,
        })
    }
}

impl CredentialDescriptor {
    /// A "public-key" descriptor without transports.
    #[must_use]
    pub fn public_key(id: &[u8]) -> Self {
        Self {
            kind: PUBLIC_KEY.into(),
            id: id.to_vec(),
            transports: None,
        }
    }

    /// CBOR form.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut entries = alloc::vec![
            (Value::text("id"), Value::bytes(&self.id)),
            (Value::text("type"), Value::text(&self.kind)),
        ];
        if let Some(transports) = &self.transports {
            let list = transports.iter().map(|t| Value::text(t)).collect();
            entries.push((Value::text("transports"), Value::Array(list)));
        }
        Value::Map(entries)
    }

    /// From CBOR.
    ///
    /// # Errors
    /// Wrong types, missing `id` or `type`.
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = TextMap::new(value, "credential descriptor")?;
        let transports = map
            .take("transports")
            .map(|t| {
                t.into_array("transports")?
                    .into_iter()
                    .map(|t| t.into_text("transport"))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(Self {
            kind: map
                .require("type", "credential type")?
                .into_text("credential type")?,
            id: map
                .require("id", "credential id")?
                .into_bytes("credential id")?,
            transports,
        })
    }
}

impl CredentialParameters {
    /// `{"alg": alg, "type": "public-key"}`.
    #[must_use]
    pub fn public_key(alg: Algorithm) -> Self {
        Self {
            kind: PUBLIC_KEY.into(),
            alg,
        }
    }

    /// CBOR form.
    #[must_use]
    pub fn to_value(&self) -> Value {
        Value::Map(alloc::vec![
            (Value::text("alg"), Value::int(self.alg.0)),
            (Value::text("type"), Value::text(&self.kind)),
        ])
    }

    /// From CBOR.
    ///
    /// # Errors
    /// Wrong types, missing `alg` or `type`.
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = TextMap::new(value, "credential parameters")?;
        Ok(Self {
            kind: map
                .require("type", "credential type")?
                .into_text("credential type")?,
            alg: Algorithm(map.require("alg", "alg")?.to_num("alg")?),
        })
    }
}

impl Options {
    /// CBOR form (only the members that are set).
    #[must_use]
    pub fn to_value(&self) -> Value {
        let entries = [("rk", self.rk), ("up", self.up), ("uv", self.uv)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (Value::text(k), Value::Bool(v))))
            .collect();
        Value::Map(entries)
    }

    /// From CBOR; unknown options are ignored.
    ///
    /// # Errors
    /// Not a map of booleans.
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = TextMap::new(value, "options")?;
        let mut flag = |key| map.take(key).map(|v| v.as_bool("option")).transpose();
        Ok(Self {
            rk: flag("rk")?,
            up: flag("up")?,
            uv: flag("uv")?,
        })
    }

    /// Whether no option is set.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.rk.is_none() && self.up.is_none() && self.uv.is_none()
    }
}

/// Extensions from CBOR (a map with text keys).
///
/// # Errors
/// Not a map with text keys.
pub fn extensions_from_value(value: Value) -> Result<Extensions, Error> {
    Ok(TextMap::new(value, "extensions")?.into_rest())
}

/// Extensions as CBOR.
#[must_use]
pub fn extensions_to_value(extensions: &Extensions) -> Value {
    Value::Map(
        extensions
            .iter()
            .map(|(k, v)| (Value::text(k), v.clone()))
            .collect(),
    )
}

/// The extension `name` of `extensions`.
#[must_use]
pub fn extension<'a>(extensions: &'a Extensions, name: &str) -> Option<&'a Value> {
    extensions.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// A list from CBOR, element by element.
pub(crate) fn list<T>(
    value: Value,
    what: &'static str,
    item: impl Fn(Value) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    value.into_array(what)?.into_iter().map(item).collect()
}

/// A list of text.
pub(crate) fn text_list(value: Value, what: &'static str) -> Result<Vec<String>, Error> {
    list(value, what, |v| v.into_text(what))
}

/// A list of text as CBOR.
pub(crate) fn text_list_value(list: &[String]) -> Value {
    Value::Array(list.iter().map(|t| Value::text(t)).collect())
}
