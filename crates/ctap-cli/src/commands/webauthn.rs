//! `ctap webauthn register|authenticate --origin ORIGIN`: a browser's part of WebAuthn
//! for scripts. The server's options JSON (PublicKeyCredentialCreationOptionsJSON /
//! RequestOptionsJSON, bare or as `{"publicKey": ...}`) comes on stdin or from
//! `--options FILE`; stdout gets exactly the RegistrationResponseJSON /
//! AuthenticationResponseJSON (`toJSON()`) to post back. An rpId the origin does not own
//! is refused (exit status 1) before the key is asked anything.
//!
//! `ctap hmac-secret` and `ctap blob` (the other commands of the WebAuthn client) are
//! in `hmac_secret.rs` and `blob.rs`; what they share (opening the client, the PIN,
//! errors) is here.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use ctap::device::DeviceConfig;
use ctap::webauthn::{
    CreationOptions, DefaultClientDataCollector, Fido2Client, MAX_OPTIONS_JSON, RequestOptions,
    UserInteraction,
};
use zeroize::Zeroizing;

use crate::auth::{PinArgs, given_pin};
use crate::device::{self, Opened};
use crate::error::{Failure, Outcome};
use crate::globals::Global;

/// `ctap webauthn`.
#[derive(Debug, Subcommand)]
pub(crate) enum WebauthnCommand {
    /// navigator.credentials.create(): register with a server's creation options.
    Register(WebauthnArgs),
    /// navigator.credentials.get(): sign in with a server's request options.
    Authenticate(WebauthnArgs),
}

/// The options of both subcommands.
#[derive(Debug, Args)]
pub(crate) struct WebauthnArgs {
    /// The web origin the request comes from (e.g. https://login.example.com); the
    /// options' rpId must be its host or a registrable domain suffix of it.
    #[arg(long, value_name = "ORIGIN")]
    origin: String,
    /// Read the options JSON from FILE instead of standard input.
    #[arg(long, value_name = "FILE")]
    options: Option<PathBuf>,
    /// With several discoverable credentials, the one to answer with (0: the first).
    #[arg(long, value_name = "N", default_value_t = 0)]
    index: usize,
    #[command(flatten)]
    auth: PinArgs,
}

/// The user as the CLI sees them: "touch the key" on stderr (not with `--json`), the
/// PIN from --pin/--pin-file/CTAP_PIN or, on a terminal, a prompt.
struct CliInteraction {
    pin: Option<Zeroizing<String>>,
    json: bool,
}

impl UserInteraction for CliInteraction {
    fn prompt_up(&mut self) {
        if !self.json {
            eprintln!("touch the key");
        }
    }

    fn request_pin(
        &mut self,
        _: ctap::ctap2::proto::Permissions,
        _: Option<&str>,
    ) -> Option<Zeroizing<String>> {
        if self.pin.is_none() && std::io::stderr().is_terminal() {
            // The prompt reads the terminal, not stdin (which may hold the options).
            self.pin = rpassword::prompt_password("PIN: ").ok().map(Zeroizing::new);
        }
        self.pin.clone()
    }
}

/// A WebAuthn client for `--device` with requests from `origin`.
pub(crate) fn client(
    global: &Global,
    origin: &str,
    auth: &PinArgs,
) -> Result<Fido2Client<device::Device>, Failure> {
    let Opened { device, .. } = device::open_with(
        global,
        DeviceConfig::default().with_call_timeout(Some(device::time_left(global)?)),
    )?;
    // Through the -vv decoded CTAP2 trace, as every other CTAP2 command.
    let device = device::trace::Traced(device);
    let interaction = CliInteraction {
        pin: given_pin(auth)?,
        json: global.json,
    };
    let mut client = Fido2Client::new(device, DefaultClientDataCollector::new(origin), interaction)
        .map_err(failure)?;
    if let Some(protocol) = auth
        .protocol
        .pin_protocol
        .and_then(|n| ctap::ctap2::proto::PinProtocol::from_number(u64::from(n)))
    {
        client = client.with_pin_protocol(protocol);
    }
    Ok(client)
}

/// A WebAuthn error as the CLI reports it: the message and the exception a browser
/// would raise; 130 when cancelled (Ctrl-C).
pub(crate) fn failure(error: ctap::webauthn::Error) -> Failure {
    if error.is_cancelled() {
        return Failure::with_status("cancelled", 130);
    }
    Failure::new(format!("{error} ({})", error.dom_exception()))
}

/// Reads the options JSON from `file` or stdin, at most MAX_OPTIONS_JSON bytes.
fn read_options(file: Option<&PathBuf>) -> Result<String, Failure> {
    let mut text = String::new();
    let limit = u64::try_from(MAX_OPTIONS_JSON).unwrap_or(u64::MAX) + 1;
    let read = match file {
        Some(path) => std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_string(&mut text))
            .map_err(|e| Failure::new(format!("--options {}: {e}", path.display())))?,
        None => std::io::stdin()
            .take(limit)
            .read_to_string(&mut text)
            .map_err(|e| Failure::new(format!("reading the options from stdin: {e}")))?,
    };
    if read == 0 {
        return Err(Failure::with_status(
            "no options JSON (give it on stdin or with --options FILE)",
            2,
        ));
    }
    Ok(text)
}

/// Runs `ctap webauthn`.
pub(crate) fn run(global: &Global, command: &WebauthnCommand) -> Outcome {
    let (_, cancel) = device::on_interrupt()?;
    match command {
        WebauthnCommand::Register(args) => {
            let options = CreationOptions::from_json(&read_options(args.options.as_ref())?)
                .map_err(failure)?;
            let mut client = client(global, &args.origin, &args.auth)?;
            let response = client
                .make_credential(&options, Some(&cancel))
                .map_err(failure)?;
            println!("{}", response.to_json());
        }
        WebauthnCommand::Authenticate(args) => {
            let options = RequestOptions::from_json(&read_options(args.options.as_ref())?)
                .map_err(failure)?;
            let mut client = client(global, &args.origin, &args.auth)?;
            let selection = client
                .get_assertion(&options, Some(&cancel))
                .map_err(failure)?;
            if selection.len() > 1 && !global.json {
                eprintln!(
                    "{} credentials answered; this is number {} (--index)",
                    selection.len(),
                    args.index
                );
            }
            println!(
                "{}",
                selection.response(args.index).map_err(failure)?.to_json()
            );
        }
    }
    Ok(())
}
