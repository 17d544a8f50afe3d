//! The text formats of libfido2's tools, so scripts written for them work with `ctap`
//! and the tools verify what `ctap` makes (fido2-cred(1), fido2-assert(1)): one item a
//! line, byte strings in base64 (RFC 4648, padded), authenticator data as libfido2
//! encodes it (a CBOR byte string around the raw bytes), public keys as PEM
//! (SubjectPublicKeyInfo).

use std::io::Read as _;

use ctap::ctap2::proto::CoseKey;

use crate::error::{Failure, usage};
use crate::output::{base64, parse_base64};

/// The most bytes of tool input read (a few base64 lines and a certificate).
const MAX_INPUT: u64 = 64 * 1024;

/// Reads standard input as the lines of a tool's format (at most [`MAX_INPUT`] bytes;
/// line ends `\n` or `\r\n`; a last empty line dropped).
pub(crate) fn read_lines(what: &str) -> Result<Vec<String>, Failure> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| usage(format!("{what}: cannot read standard input: {e}")))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_INPUT {
        return Err(usage(format!(
            "{what}: the input is over {MAX_INPUT} bytes"
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| usage(format!("{what}: the input is not UTF-8 text")))?;
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line).to_owned())
        .collect();
    if lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    Ok(lines)
}

/// Line `n` (1-based, as the man pages count) of `lines`, named `name` in errors.
pub(crate) fn line<'a>(lines: &'a [String], n: usize, name: &str) -> Result<&'a str, Failure> {
    lines
        .get(n.saturating_sub(1))
        .map(String::as_str)
        .filter(|line| !line.is_empty())
        .ok_or_else(|| usage(format!("line {n} ({name}) is missing from the input")))
}

/// Line `n` as base64, named `name` in errors (a usage error: it is the caller's input).
pub(crate) fn base64_line(lines: &[String], n: usize, name: &str) -> Result<Vec<u8>, Failure> {
    let text = line(lines, n, name)?;
    parse_base64(&format!("line {n} ({name})"), text).map_err(|f| usage(f.message))
}

/// A clientDataHash line: 32 bytes.
pub(crate) fn client_data_hash(lines: &[String], n: usize) -> Result<[u8; 32], Failure> {
    let bytes = base64_line(lines, n, "client data hash")?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        usage(format!(
            "line {n} (client data hash) is {} bytes; a clientDataHash is 32",
            bytes.len()
        ))
    })
}

/// Authenticator data as libfido2 prints it: the raw bytes as a CBOR byte string
/// (RFC 8949 major type 2), base64.
pub(crate) fn authdata_base64(raw: &[u8]) -> String {
    let mut cbor = Vec::with_capacity(raw.len() + 3);
    match u16::try_from(raw.len()) {
        Ok(n @ 0..=23) => cbor.push(0x40 | u8::try_from(n).unwrap_or(0)),
        Ok(n @ 24..=255) => cbor.extend([0x58, u8::try_from(n).unwrap_or(0)]),
        Ok(n) => {
            cbor.push(0x59);
            cbor.extend(n.to_be_bytes());
        }
        Err(_) => {
            cbor.push(0x5a);
            cbor.extend(u32::try_from(raw.len()).unwrap_or(u32::MAX).to_be_bytes());
        }
    }
    cbor.extend_from_slice(raw);
    base64(&cbor)
}

/// The raw authenticator data of a line libfido2 wrote (a CBOR byte string).
pub(crate) fn authdata_line(lines: &[String], n: usize) -> Result<Vec<u8>, Failure> {
    let cbor = base64_line(lines, n, "authenticator data")?;
    let bad = || {
        usage(format!(
            "line {n} (authenticator data) is not a CBOR byte string"
        ))
    };
    let (&head, rest) = cbor.split_first().ok_or_else(bad)?;
    let (length, body) = match head {
        0x40..=0x57 => (usize::from(head - 0x40), rest),
        0x58 => {
            let (&n, body) = rest.split_first().ok_or_else(bad)?;
            (usize::from(n), body)
        }
        0x59 => {
            let (n, body) = rest.split_first_chunk::<2>().ok_or_else(bad)?;
            (usize::from(u16::from_be_bytes(*n)), body)
        }
        _ => return Err(bad()),
    };
    if body.len() != length {
        return Err(bad());
    }
    Ok(body.to_vec())
}

/// The DER SubjectPublicKeyInfo prefix of a P-256 key (id-ecPublicKey, prime256v1, a
/// 65-byte uncompressed point follows; RFC 5480).
const P256_SPKI: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// The DER SubjectPublicKeyInfo prefix of an Ed25519 key (id-Ed25519, a 32-byte key
/// follows; RFC 8410).
const ED25519_SPKI: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A credential public key as PEM (`-----BEGIN PUBLIC KEY-----`), as fido2-cred -V
/// prints it and fido2-assert -V reads it; `None` for a key type neither has.
pub(crate) fn pem(key: &CoseKey) -> Option<String> {
    let der = match key {
        CoseKey::Es256 { x, y } => [&P256_SPKI[..], &[0x04], x, y].concat(),
        CoseKey::EdDsa { x } => [&ED25519_SPKI[..], x].concat(),
        _ => return None,
    };
    let body = base64(&der);
    let mut text = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in body.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        text.push('\n');
    }
    text.push_str("-----END PUBLIC KEY-----\n");
    Some(text)
}

/// The key in a PEM public key (P-256 or Ed25519), as fido2-cred -V writes it.
pub(crate) fn parse_pem(what: &str, text: &str) -> Result<CoseKey, Failure> {
    let body: String = text
        .lines()
        .map(str::trim)
        .skip_while(|line| *line != "-----BEGIN PUBLIC KEY-----")
        .skip(1)
        .take_while(|line| *line != "-----END PUBLIC KEY-----")
        .collect();
    if body.is_empty() {
        return Err(usage(format!(
            "{what}: no -----BEGIN PUBLIC KEY----- block"
        )));
    }
    let der = parse_base64(what, &body).map_err(|f| usage(f.message))?;
    if let Some(point) = der.strip_prefix(&P256_SPKI[..]) {
        if let Some((&0x04, xy)) = point.split_first() {
            if let (Some((x, y)), 64) = (xy.split_first_chunk::<32>(), xy.len()) {
                if let Ok(y) = <[u8; 32]>::try_from(y) {
                    return Ok(CoseKey::Es256 { x: *x, y });
                }
            }
        }
    }
    if let Some(key) = der.strip_prefix(&ED25519_SPKI[..]) {
        if let Ok(x) = <[u8; 32]>::try_from(key) {
            return Ok(CoseKey::EdDsa { x });
        }
    }
    Err(usage(format!(
        "{what}: not a P-256 or Ed25519 public key (SubjectPublicKeyInfo)"
    )))
}
