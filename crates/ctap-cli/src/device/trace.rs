//! `-vv`: every CTAP2 request and answer decoded on stderr, between the report trace
//! (`-v`) and the software authenticator's own trace (`-vvv`): the command's name, its
//! parameters by their CTAP 2.1 names (byte strings by length only, so encrypted PINs
//! and auth params show nothing of themselves), and the status of the answer.

use ctap::ctap2::proto::{DecodeMode, Value};
use ctap::device::{CallOptions, CtapDevice, Error};
use ctap::types::{Capabilities, Command, Ctap2Command, StatusCode};

/// The log target of the decoded CTAP2 lines (`RUST_LOG=ctap-cli::ctap2=debug`).
pub(crate) const TARGET: &str = "ctap-cli::ctap2";

/// A device whose CTAP2 calls are logged, decoded, at debug level on [`TARGET`].
#[derive(Debug)]
pub(crate) struct Traced<D>(pub(crate) D);

impl<D: CtapDevice> CtapDevice for Traced<D> {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }

    fn call_with(
        &mut self,
        command: Command,
        data: &[u8],
        options: CallOptions<'_>,
    ) -> Result<Vec<u8>, Error> {
        let traced =
            command == Command::CBOR && log::log_enabled!(target: TARGET, log::Level::Debug);
        let name = data.first().map(|&byte| Ctap2Command::from(byte));
        if traced {
            if let Some(name) = name {
                log::debug!(target: TARGET, "-> {name} {}", parameters(name, data.get(1..).unwrap_or_default()));
            }
        }
        let answer = self.0.call_with(command, data, options);
        if traced {
            match &answer {
                Ok(answer) => match answer.split_first() {
                    Some((&status, body)) => log::debug!(
                        target: TARGET,
                        "<- {} {}",
                        StatusCode::new(status),
                        if body.is_empty() { String::new() } else { summary(None, body) }
                    ),
                    None => log::debug!(target: TARGET, "<- (empty answer)"),
                },
                Err(error) => log::debug!(target: TARGET, "<- {error}"),
            }
        }
        answer
    }

    fn close(&mut self) {
        self.0.close();
    }
}

/// A request's parameters, by name.
fn parameters(command: Ctap2Command, cbor: &[u8]) -> String {
    if cbor.is_empty() {
        return String::new();
    }
    summary(Some(command), cbor)
}

/// `cbor` in one line: a map's members by name (for `command`'s request) or number.
fn summary(command: Option<Ctap2Command>, cbor: &[u8]) -> String {
    match Value::from_slice_with(cbor, DecodeMode::Relaxed) {
        Ok(Value::Map(members)) => {
            let parts: Vec<String> = members
                .iter()
                .map(|(key, value)| {
                    let key = match key {
                        Value::Int(n) => command
                            .and_then(|command| member_name(command, *n))
                            .map_or_else(|| n.to_string(), str::to_owned),
                        other => short(other),
                    };
                    format!("{key}={}", short(value))
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Ok(other) => short(&other),
        Err(error) => format!("(not CBOR: {error:?}, {} bytes)", cbor.len()),
    }
}

/// A value in a few characters: byte strings by length, maps and arrays by size,
/// text quoted (escaped for the terminal).
fn short(value: &Value) -> String {
    match value {
        Value::Int(n) => n.to_string(),
        Value::Bytes(bytes) => format!("<{} bytes>", bytes.len()),
        Value::Text(text) => format!("{:?}", ctap::device::hid::escape_device_string(text)),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        Value::Array(items) => format!("[{} items]", items.len()),
        Value::Map(members) => {
            let keys: Vec<String> = members.iter().map(|(key, _)| short(key)).collect();
            format!("{{{}}}", keys.join(", "))
        }
    }
}

/// The CTAP 2.1 name of member `key` of `command`'s request (§6.1.1, §6.2.1, §6.5.2,
/// §6.8, §6.10, §6.11).
fn member_name(command: Ctap2Command, key: i128) -> Option<&'static str> {
    let names: &[&str] = match command {
        Ctap2Command::MAKE_CREDENTIAL => &[
            "clientDataHash",
            "rp",
            "user",
            "pubKeyCredParams",
            "excludeList",
            "extensions",
            "options",
            "pinUvAuthParam",
            "pinUvAuthProtocol",
            "enterpriseAttestation",
        ],
        Ctap2Command::GET_ASSERTION => &[
            "rpId",
            "clientDataHash",
            "allowList",
            "extensions",
            "options",
            "pinUvAuthParam",
            "pinUvAuthProtocol",
        ],
        Ctap2Command::CLIENT_PIN => &[
            "pinUvAuthProtocol",
            "subCommand",
            "keyAgreement",
            "pinUvAuthParam",
            "newPinEnc",
            "pinHashEnc",
            "(0x07)",
            "(0x08)",
            "permissions",
            "rpId",
        ],
        Ctap2Command::CREDENTIAL_MGMT | Ctap2Command::CONFIG => &[
            "subCommand",
            "subCommandParams",
            "pinUvAuthProtocol",
            "pinUvAuthParam",
        ],
        Ctap2Command::LARGE_BLOBS => &[
            "get",
            "set",
            "offset",
            "length",
            "pinUvAuthParam",
            "pinUvAuthProtocol",
        ],
        _ => &[],
    };
    usize::try_from(key)
        .ok()
        .and_then(|key| key.checked_sub(1))
        .and_then(|index| names.get(index))
        .copied()
}
