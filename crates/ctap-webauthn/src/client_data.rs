//! Client data (WebAuthn §5.8.1 `CollectedClientData`, serialized by §5.8.1.1's
//! algorithm) and the check that an rpId belongs to an origin (§5.1.3 step 8, HTML's
//! "is a registrable domain suffix of or is equal to"), as python-fido2's
//! `CollectedClientData`, `ClientDataCollector` and `fido2.rpid.verify_rp_id`. The
//! caller can replace either: [`ClientDataCollector`] is a trait, and
//! [`DefaultClientDataCollector::with_verifier`] takes another rpId check.

mod public_suffix;

use sha2::{Digest as _, Sha256};

use crate::b64;
use crate::error::{Error, Result};
use crate::webauthn::{CreationOptions, RequestOptions};

/// `"webauthn.create"`.
pub const TYPE_CREATE: &str = "webauthn.create";
/// `"webauthn.get"`.
pub const TYPE_GET: &str = "webauthn.get";

/// `CollectedClientData`, with its serialization (the bytes that are hashed and sent
/// to the relying party as `clientDataJSON`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CollectedClientData {
    /// "webauthn.create" or "webauthn.get".
    pub kind: String,
    /// The challenge.
    pub challenge: Vec<u8>,
    /// The caller's origin.
    pub origin: String,
    /// Whether the caller is in a cross-origin iframe.
    pub cross_origin: bool,
    /// The top-level origin when `cross_origin`.
    pub top_origin: Option<String>,
    json: String,
}

impl CollectedClientData {
    /// Client data and its serialization (§5.8.1.1). `top_origin` is serialized only
    /// when `cross_origin` is true (§5.8.1: "set only if ... crossOrigin is true").
    #[must_use]
    pub fn new(
        kind: &str,
        challenge: &[u8],
        origin: &str,
        cross_origin: bool,
        top_origin: Option<&str>,
    ) -> Self {
        let top_origin = top_origin.filter(|_| cross_origin).map(str::to_owned);
        // §5.8.1.1 steps 1-12.
        let mut json = String::from("{\"type\":");
        ccd_to_string(&mut json, kind);
        json.push_str(",\"challenge\":");
        ccd_to_string(&mut json, &b64::encode(challenge));
        json.push_str(",\"origin\":");
        ccd_to_string(&mut json, origin);
        json.push_str(",\"crossOrigin\":");
        json.push_str(if cross_origin { "true" } else { "false" });
        if let Some(top) = &top_origin {
            json.push_str(",\"topOrigin\":");
            ccd_to_string(&mut json, top);
        }
        json.push('}');
        Self {
            kind: kind.to_owned(),
            challenge: challenge.to_vec(),
            origin: origin.to_owned(),
            cross_origin,
            top_origin,
            json,
        }
    }

    /// `clientDataJSON`.
    #[must_use]
    pub fn json(&self) -> &str {
        &self.json
    }

    /// SHA-256 of `clientDataJSON`: the clientDataHash the authenticator signs.
    #[must_use]
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.json.as_bytes()).into()
    }
}

/// CCDToString (§5.8.1.1): a JSON string where only `"`, `\` and code points below
/// 0x20 are escaped, the latter as `\u` and four lower-case hex digits.
fn ccd_to_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The operation client data is collected for.
#[derive(Clone, Copy, Debug)]
pub enum Operation<'a> {
    /// `navigator.credentials.create()`.
    Create(&'a CreationOptions),
    /// `navigator.credentials.get()`.
    Get(&'a RequestOptions),
}

/// Gives the client data and the rpId of a request (python-fido2's
/// `ClientDataCollector`): the place to decide the origin and to check the rpId.
pub trait ClientDataCollector {
    /// The client data for `operation` and the rpId to use.
    ///
    /// # Errors
    /// Typically [`Error::RpIdNotAllowed`] or [`Error::InvalidOrigin`].
    fn collect(&self, operation: Operation<'_>) -> Result<(CollectedClientData, String)>;
}

/// A fixed origin checked with [`verify_rp_id`] (or another check).
#[derive(Clone, Debug)]
pub struct DefaultClientDataCollector {
    origin: String,
    top_origin: Option<String>,
    verify: fn(&str, &str) -> bool,
}

impl DefaultClientDataCollector {
    /// Requests come from `origin` (e.g. `https://example.com`).
    #[must_use]
    pub fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            top_origin: None,
            verify: verify_rp_id,
        }
    }

    /// Requests come from a cross-origin frame under `top_origin`.
    #[must_use]
    pub fn with_top_origin(mut self, top_origin: &str) -> Self {
        self.top_origin = Some(top_origin.to_owned());
        self
    }

    /// Checks rpIds with `verify(rp_id, origin)` instead of [`verify_rp_id`] (e.g. an
    /// app's list of associated domains, as python-fido2's `verify=`).
    #[must_use]
    pub fn with_verifier(mut self, verify: fn(&str, &str) -> bool) -> Self {
        self.verify = verify;
        self
    }
}

impl ClientDataCollector for DefaultClientDataCollector {
    fn collect(&self, operation: Operation<'_>) -> Result<(CollectedClientData, String)> {
        let (kind, challenge, rp_id) = match operation {
            Operation::Create(o) => (TYPE_CREATE, &o.challenge, o.rp.id.as_deref()),
            Operation::Get(o) => (TYPE_GET, &o.challenge, o.rp_id.as_deref()),
        };
        // §5.1.3 step 8 / §5.1.4.1 step 8: absent, the rpId is the origin's effective
        // domain.
        let rp_id = match rp_id {
            Some(id) => id.to_owned(),
            None => parse_origin(&self.origin)?.host,
        };
        if !(self.verify)(&rp_id, &self.origin) {
            return Err(Error::RpIdNotAllowed {
                rp_id,
                origin: self.origin.clone(),
            });
        }
        let data = CollectedClientData::new(
            kind,
            challenge,
            &self.origin,
            self.top_origin.is_some(),
            self.top_origin.as_deref(),
        );
        Ok((data, rp_id))
    }
}

/// An origin taken apart.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Origin {
    /// "https" or "http".
    pub scheme: String,
    /// The host, ASCII lower case (an IPv6 literal keeps its brackets).
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
}

impl Origin {
    /// Whether the host is an IP address (not a domain).
    #[must_use]
    pub fn is_ip(&self) -> bool {
        self.host.starts_with('[') || self.host.parse::<std::net::Ipv4Addr>().is_ok()
    }
}

/// Parses a serialized origin: `scheme://host[:port]`, nothing after (a trailing `/`
/// is allowed). WebAuthn needs a secure context (§5.1.3 step 1): `https`, or `http`
/// on `localhost` and `*.localhost` (which browsers treat as secure, as python-fido2
/// does).
///
/// # Errors
/// [`Error::InvalidOrigin`] saying what is wrong.
pub fn parse_origin(origin: &str) -> Result<Origin> {
    let bad = |reason: &str| Error::InvalidOrigin {
        origin: origin.chars().take(256).collect(),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or_else(|| bad("no scheme://"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err(bad("an origin has no path, query, fragment or user"));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ of an IPv6 host"))?;
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad("not an IPv6 address"));
        }
        (format!("[{addr}]"), after.strip_prefix(':'))
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (rest.to_owned(), None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| bad("the port is not a number up to 65535"))
        })
        .transpose()?;
    if host.is_empty() || host.len() > 253 {
        return Err(bad("the host is empty or longer than 253 bytes"));
    }
    if !host.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(bad(
            "the host is not an ASCII domain (use its punycode form) or IP address",
        ));
    }
    let host = host.to_ascii_lowercase();
    let scheme = scheme.to_ascii_lowercase();
    let localhost = host == "localhost" || host.ends_with(".localhost");
    if !(scheme == "https" || (scheme == "http" && localhost)) {
        return Err(bad("WebAuthn needs https (or http on localhost)"));
    }
    Ok(Origin { scheme, host, port })
}

/// Whether `rp_id` may be used by `origin` (python-fido2's `verify_rp_id`): the origin
/// is https (or http on localhost) and `rp_id` is its host or a registrable domain
/// suffix of it, by HTML's "is a registrable domain suffix of or is equal to" with the
/// public suffix list (python-fido2 2.2.1's copy, compiled in as data).
#[must_use]
pub fn verify_rp_id(rp_id: &str, origin: &str) -> bool {
    let Ok(origin) = parse_origin(origin) else {
        return false;
    };
    is_registrable_suffix_or_equal(rp_id, &origin)
}

/// Whether the U2F AppID `app_id` may be used by `origin` (WebAuthn §10.1.1 step 2,
/// FIDO AppID and Facet Specification §3.1.2, without fetching trusted facet lists): an
/// https URL whose host has the same registrable domain as the origin's host.
#[must_use]
pub fn verify_app_id(app_id: &str, origin: &str) -> bool {
    let Ok(origin) = parse_origin(origin) else {
        return false;
    };
    let Some(rest) = app_id.strip_prefix("https://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let Ok(app) = parse_origin(&format!("https://{authority}")) else {
        return false;
    };
    if app.host == origin.host {
        return true;
    }
    match (
        public_suffix::registrable_domain(&app.host),
        public_suffix::registrable_domain(&origin.host),
    ) {
        (Some(a), Some(b)) => a == b && !origin.is_ip() && !app.is_ip(),
        _ => false,
    }
}

/// HTML §"is a registrable domain suffix of or is equal to", steps 1-4.
fn is_registrable_suffix_or_equal(suffix: &str, origin: &Origin) -> bool {
    let host = origin.host.as_str();
    // Step 1: empty is never.
    if suffix.is_empty() {
        return false;
    }
    // Step 3 (equal hosts, whatever they are).
    if suffix == host {
        return true;
    }
    // Step 3.1: IP addresses have no suffixes.
    if origin.is_ip() || suffix.starts_with('[') || suffix.parse::<std::net::Ipv4Addr>().is_ok() {
        return false;
    }
    // Step 3.2: host must be "." + suffix preceded by something.
    if !host
        .strip_suffix(suffix)
        .is_some_and(|before| before.len() > 1 && before.ends_with('.'))
    {
        return false;
    }
    // Step 3.3: the suffix may not be a public suffix itself.
    let Some(suffix_public) = public_suffix::suffix(suffix) else {
        return false;
    };
    if suffix_public == suffix {
        return false;
    }
    // Steps 3.4-3.5: the suffix must be within the host's registrable domain.
    let Some(host_public) = public_suffix::suffix(host) else {
        return false;
    };
    suffix.ends_with(&format!(".{host_public}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_is_webauthns() {
        // WebAuthn §5.8.1.1: fixed key order, crossOrigin always, topOrigin only
        // when cross-origin.
        let data = CollectedClientData::new(
            TYPE_GET,
            b"\x01\x02",
            "https://example.com",
            false,
            Some("https://t.example"),
        );
        assert_eq!(
            data.json(),
            r#"{"type":"webauthn.get","challenge":"AQI","origin":"https://example.com","crossOrigin":false}"#
        );
        let data = CollectedClientData::new(
            TYPE_CREATE,
            b"",
            "https://a\"b\\c\u{1}\u{e9}",
            true,
            Some("https://top"),
        );
        assert_eq!(
            data.json(),
            "{\"type\":\"webauthn.create\",\"challenge\":\"\",\"origin\":\"https://a\\\"b\\\\c\\u0001\u{e9}\",\"crossOrigin\":true,\"topOrigin\":\"https://top\"}"
        );
    }

    #[test]
    fn rp_id_rules() {
        // python-fido2's test_rpid.py cases, and the HTML algorithm's.
        assert!(verify_rp_id("example.com", "https://register.example.com"));
        assert!(verify_rp_id("example.com", "https://example.com"));
        assert!(verify_rp_id("example.com", "https://example.com:8443/"));
        assert!(verify_rp_id(
            "foo.example.com",
            "https://bar.foo.example.com"
        ));
        assert!(!verify_rp_id("example.com", "http://example.com"));
        assert!(!verify_rp_id("example.com", "https://example.com.evil"));
        assert!(!verify_rp_id("example.com", "https://badexample.com"));
        assert!(!verify_rp_id("sub.example.com", "https://example.com"));
        assert!(!verify_rp_id("com", "https://example.com"));
        assert!(!verify_rp_id("co.uk", "https://example.co.uk"));
        assert!(verify_rp_id("example.co.uk", "https://www.example.co.uk"));
        // Private section of the list: github.io is a public suffix, each user's
        // pages are a site of their own.
        assert!(!verify_rp_id("github.io", "https://user.github.io"));
        assert!(verify_rp_id("user.github.io", "https://app.user.github.io"));
        // A real-life RP.
        assert!(verify_rp_id(
            "microsoftonline.com",
            "https://login.microsoftonline.com"
        ));
        assert!(!verify_rp_id("com", "https://login.microsoftonline.com"));
        // A wildcard rule (`*.ck`) and its exception (`!www.ck`).
        assert!(!verify_rp_id("foo.ck", "https://a.foo.ck"));
        assert!(verify_rp_id("a.foo.ck", "https://b.a.foo.ck"));
        assert!(verify_rp_id("www.ck", "https://a.www.ck"));
        // A wildcard with longer rules under it (`*.run.app`, `*.mtls.run.app`).
        assert!(!verify_rp_id("mtls.run.app", "https://a.mtls.run.app"));
        // No rule: the default `*` makes the last label public.
        assert!(verify_rp_id(
            "example.unknowntld",
            "https://a.example.unknowntld"
        ));
        assert!(!verify_rp_id("unknowntld", "https://a.example.unknowntld"));
        assert!(!verify_rp_id("", "https://example.com"));
        assert!(verify_rp_id("localhost", "http://localhost:8080"));
        assert!(verify_rp_id("app.localhost", "http://app.localhost"));
        assert!(!verify_rp_id("localhost", "http://localhost.evil.com"));
        assert!(verify_rp_id("127.0.0.1", "https://127.0.0.1"));
        assert!(!verify_rp_id("0.0.1", "https://127.0.0.1"));
        assert!(!verify_rp_id("example.com", "https://user@example.com"));
        assert!(!verify_rp_id("example.com", "https://example.com/path"));
        assert!(!verify_rp_id("example.com", "example.com"));
    }

    #[test]
    fn app_id_rules() {
        // WebAuthn §10.1.1: same registrable domain, by the public suffix list.
        assert!(verify_app_id(
            "https://www.example.co.uk/u2f/app.json",
            "https://login.example.co.uk"
        ));
        assert!(!verify_app_id(
            "https://other.co.uk/app.json",
            "https://login.example.co.uk"
        ));
        // Two users' pages under a private suffix are different sites.
        assert!(!verify_app_id("https://a.github.io", "https://b.github.io"));
        assert!(verify_app_id(
            "https://x.a.github.io",
            "https://a.github.io"
        ));
        // Under a wildcard's exception the registrable domain is www.ck itself.
        assert!(verify_app_id("https://a.www.ck", "https://b.www.ck"));
        assert!(!verify_app_id("https://a.foo.ck", "https://b.foo.ck"));
        assert!(!verify_app_id("http://example.com", "https://example.com"));
    }
}
