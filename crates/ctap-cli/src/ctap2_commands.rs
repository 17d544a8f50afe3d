//! The CTAP2 commands: `pin`, `reset`, `cred`, `config` (in the style of `ykman fido`
//! and `fido2-token`), on the `ctap::ctap2` client.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use ctap::ctap2::proto::cbor::CborMessage as _;
use ctap::ctap2::proto::{
    Algorithm, CoseKey, CredentialDescriptor, Flags, Options, Permissions, PinProtocol, RpEntity,
    UserEntity,
};
use ctap::ctap2::{
    self as client, ClientPin, Config as AuthenticatorConfig, CredentialManagement, Ctap2,
    PinToken, Randomness as _,
};
use ctap::device::{CallOptions, CancelToken, CtapHidDevice, DeviceConfig, HidConnection};
use ctap::types::{KeepaliveStatus, StatusCode};
use serde_json::{Value as Json, json};
use zeroize::Zeroizing;

use crate::cli::Cli;
use crate::target::{self, Opened};
use crate::{Failure, Outcome};

/// The environment variable a PIN may come from (instead of `--pin` or a prompt).
const PIN_ENV: &str = "CTAP_PIN";
/// How long the in-process authenticator's simulated user takes to touch it (shorter
/// than other commands' demo delay: a PIN-protected `cred make` waits for two).
const VIRTUAL_TOUCH_DELAY: Duration = Duration::from_millis(200);

/// How a command authenticates: the PIN and the PIN/UV auth protocol.
#[derive(Debug, Args)]
pub(crate) struct PinArgs {
    /// The PIN (else the CTAP_PIN environment variable, else a prompt on a terminal).
    #[arg(long, value_name = "PIN")]
    pin: Option<String>,
    /// The PIN/UV auth protocol, 1 or 2 (default: the authenticator's, from getInfo).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=2))]
    pin_protocol: Option<u8>,
}

/// `ctap pin ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PinCommand {
    /// Whether a PIN is set, the retries left, the minimum length, the protocols.
    Status,
    /// Set the first PIN.
    Set(PinSetArgs),
    /// Change the PIN (--pin is the current one).
    Change(PinChangeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PinSetArgs {
    /// The new PIN (else a prompt on a terminal, asked twice).
    #[arg(long, value_name = "PIN")]
    new: Option<String>,
    #[command(flatten)]
    auth: PinArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PinChangeArgs {
    /// The new PIN (else a prompt on a terminal, asked twice).
    #[arg(long, value_name = "PIN")]
    new: Option<String>,
    #[command(flatten)]
    auth: PinArgs,
}

/// `ctap reset`
#[derive(Debug, Args)]
pub(crate) struct ResetArgs {
    /// Really delete every credential and the PIN (required).
    #[arg(long)]
    yes: bool,
}

/// `ctap cred ...`
#[derive(Debug, Subcommand)]
pub(crate) enum CredCommand {
    /// Register a credential (authenticatorMakeCredential) and verify its attestation.
    Make(CredMakeArgs),
    /// Sign in (authenticatorGetAssertion) and verify the signature.
    Assert(CredAssertArgs),
    /// The discoverable credentials, by RP (needs the PIN).
    List(CredListArgs),
    /// Delete a discoverable credential (needs the PIN).
    Delete(CredDeleteArgs),
}

/// A credential algorithm on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Alg {
    /// ECDSA P-256 with SHA-256 (COSE -7).
    Es256,
    /// Ed25519 (COSE -8).
    Eddsa,
}

#[derive(Debug, Args)]
pub(crate) struct CredMakeArgs {
    /// The relying party id (e.g. example.com).
    #[arg(long, value_name = "ID")]
    rp: String,
    /// The user name (its UTF-8 is the user id).
    #[arg(long, value_name = "NAME", default_value = "user")]
    user: String,
    /// A discoverable (resident) credential.
    #[arg(long)]
    resident: bool,
    /// Require user verification (the PIN).
    #[arg(long)]
    uv: bool,
    /// The algorithm.
    #[arg(long, value_enum, default_value_t = Alg::Es256)]
    alg: Alg,
    #[command(flatten)]
    auth: PinArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CredAssertArgs {
    /// The relying party id.
    #[arg(long, value_name = "ID")]
    rp: String,
    /// An allowed credential id, hex (repeatable; none: the RP's discoverable ones).
    #[arg(long = "cred-id", value_name = "HEX")]
    cred_ids: Vec<String>,
    /// The credential's public key, hex of its COSE key (as `cred make` prints it), to
    /// verify with; without it the key is looked up with credential management.
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
    /// Require user verification (the PIN).
    #[arg(long)]
    uv: bool,
    #[command(flatten)]
    auth: PinArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CredListArgs {
    #[command(flatten)]
    auth: PinArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CredDeleteArgs {
    /// The credential id, hex.
    #[arg(long, value_name = "HEX")]
    id: String,
    #[command(flatten)]
    auth: PinArgs,
}

/// `ctap config ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Toggle the alwaysUv option (prints the new value).
    AlwaysUv(ConfigArgs),
    /// Raise the minimum PIN length.
    MinPinLength(MinPinLengthArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(flatten)]
    auth: PinArgs,
}

#[derive(Debug, Args)]
pub(crate) struct MinPinLengthArgs {
    /// The new minimum, in Unicode code points (it can only grow).
    #[arg(value_name = "N")]
    length: u64,
    /// An RP allowed to read the minimum (minPinLength extension; repeatable).
    #[arg(long = "rp-id", value_name = "ID")]
    rp_ids: Vec<String>,
    /// Make the user change the PIN before its next use.
    #[arg(long)]
    force_change: bool,
    #[command(flatten)]
    auth: PinArgs,
}

type Device = CtapHidDevice<Box<dyn HidConnection>>;

/// The open CTAP2 session and what must live as long as it.
struct Session {
    ctap: Ctap2<Device>,
}

/// Opens `--device` for CTAP2. `--timeout` is one deadline for the whole command: the
/// INIT, the getInfo and every later call get what is left of it. `virtual` is an
/// in-process authenticator that keeps its state in `$CTAP_VIRTUAL_STATE` when set.
fn open(cli: &Cli) -> Result<Session, Failure> {
    let Opened { device, .. } = target::open(
        cli,
        DeviceConfig::default().with_call_timeout(Some(crate::commands::time_left(cli)?)),
        VIRTUAL_TOUCH_DELAY,
    )?;
    let deadline = crate::commands::deadline(cli)?;
    let ctap = Ctap2::new_until(device, deadline).map_err(|e| failure_in(cli, e))?;
    Ok(Session {
        ctap: ctap.with_deadline(deadline),
    })
}

/// A client error for people; a time-out is explained as the device layer's are
/// (what was going on, and `--timeout`).
fn failure_in(cli: &Cli, error: client::Error) -> Failure {
    match error {
        client::Error::Device(error @ ctap::device::Error::Timeout(_)) => {
            crate::commands::explain(cli, error, "the CTAP2 request", None)
        }
        other => failure(other),
    }
}

fn failure(error: client::Error) -> Failure {
    match error {
        // The device saw only what was left of the command's deadline: its number would
        // mislead, so name the option instead.
        client::Error::Device(ctap::device::Error::Timeout(
            ctap::device::TimeoutKind::Deadline(_),
        )) => Failure::new(
            "the authenticator did not finish in time: gave up at the end of --timeout \
             (one deadline for the whole command); raise --timeout to wait longer",
        ),
        other => Failure::new(other.to_string()),
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure::with_status(message, 2)
}

fn print_json(value: &Json) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn parse_hex(what: &str, text: &str) -> Result<Vec<u8>, Failure> {
    let text: String = text.chars().filter(|c| !matches!(c, ' ' | ':')).collect();
    if !text.len().is_multiple_of(2) {
        return Err(usage(format!("{what}: odd number of hex digits")));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| usage(format!("{what}: not hex: {text:?}")))
        })
        .collect()
}

/// The PIN from `--pin`, `$CTAP_PIN` or a prompt; zeroized when dropped.
fn pin(args: &PinArgs, prompt: &str) -> Result<Zeroizing<String>, Failure> {
    if let Some(pin) = &args.pin {
        return Ok(Zeroizing::new(pin.clone()));
    }
    if let Ok(pin) = std::env::var(PIN_ENV) {
        return Ok(Zeroizing::new(pin));
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| Failure::new(format!("cannot read the PIN: {e}")));
    }
    Err(usage(format!(
        "a PIN is needed: give it with --pin, the {PIN_ENV} environment variable, or on a terminal"
    )))
}

/// A new PIN from `new` or a prompt asked twice.
fn new_pin(new: Option<&String>) -> Result<Zeroizing<String>, Failure> {
    if let Some(pin) = new {
        return Ok(Zeroizing::new(pin.clone()));
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage("give the new PIN with --new (or run on a terminal)"));
    }
    let first = Zeroizing::new(
        rpassword::prompt_password("New PIN: ")
            .map_err(|e| Failure::new(format!("cannot read the PIN: {e}")))?,
    );
    let again = Zeroizing::new(
        rpassword::prompt_password("New PIN again: ")
            .map_err(|e| Failure::new(format!("cannot read the PIN: {e}")))?,
    );
    if *first != *again {
        return Err(Failure::new("the two PINs differ"));
    }
    Ok(first)
}

fn client_pin<'c>(
    ctap: &'c mut Ctap2<Device>,
    args: &PinArgs,
) -> Result<ClientPin<'c, Device>, Failure> {
    match args.pin_protocol {
        Some(number) => {
            let protocol = PinProtocol::from_number(u64::from(number))
                .ok_or_else(|| usage(format!("--pin-protocol {number}: 1 or 2")))?;
            if !ClientPin::<Device>::is_supported(ctap.info()) {
                return Err(Failure::new(
                    "the authenticator has no PIN support (clientPin)",
                ));
            }
            Ok(ClientPin::with_protocol(ctap, protocol))
        }
        None => ClientPin::new(ctap).map_err(failure),
    }
}

/// Whether a PIN is set on the authenticator.
fn pin_is_set(ctap: &Ctap2<Device>) -> bool {
    ctap.info().option("clientPin") == Some(true)
}

/// A token with `permissions` (for `rp_id`), from the PIN.
fn token(
    ctap: &mut Ctap2<Device>,
    args: &PinArgs,
    permissions: Permissions,
    rp_id: Option<&str>,
) -> Result<PinToken, Failure> {
    if !pin_is_set(ctap) {
        return Err(Failure::new(
            "no PIN is set on the authenticator (set one with `ctap pin set`)",
        ));
    }
    let pin = pin(args, "PIN: ")?;
    client_pin(ctap, args)?
        .get_pin_token(&pin, permissions, rp_id)
        .map_err(failure)
}

/// Cancels the call on Ctrl-C; shows the keep-alive statuses on stderr.
struct Interaction {
    token: CancelToken,
    interrupted: Arc<AtomicBool>,
}

impl Interaction {
    fn new() -> Self {
        // The process's one handler (shared with `--device touch`); if it cannot be
        // installed, Ctrl-C simply ends the process as it would without one.
        let (interrupted, token) = crate::commands::on_interrupt()
            .unwrap_or_else(|_| (Arc::new(AtomicBool::new(false)), CancelToken::new()));
        Self { token, interrupted }
    }

    fn failure(&self, error: client::Error) -> Failure {
        if self.interrupted.load(Ordering::SeqCst) && error.is_cancelled() {
            Failure::with_status("cancelled", 130)
        } else {
            failure(error)
        }
    }
}

fn on_keepalive(json: bool) -> impl FnMut(KeepaliveStatus) {
    move |status| {
        if !json && status == KeepaliveStatus::UPNEEDED {
            eprintln!("touch the key");
        }
    }
}

fn algorithm_name(alg: Option<Algorithm>) -> Json {
    match alg {
        Some(Algorithm::ES256) => json!("es256"),
        Some(Algorithm::EDDSA) => json!("eddsa"),
        Some(Algorithm(other)) => json!(other),
        None => Json::Null,
    }
}

fn user_json(user: Option<&UserEntity>) -> Json {
    user.map_or(Json::Null, |user| {
        json!({
            "id": hex(&user.id),
            "name": user.name,
            "display_name": user.display_name,
        })
    })
}

fn random_challenge() -> Result<[u8; 32], Failure> {
    let mut challenge = [0; 32];
    client::SystemRandom.fill(&mut challenge).map_err(failure)?;
    Ok(challenge)
}

// ---- pin ----

pub(crate) fn pin_command(cli: &Cli, command: &PinCommand) -> Outcome {
    let mut session = open(cli)?;
    let ctap = &mut session.ctap;
    match command {
        PinCommand::Status => pin_status(cli, ctap),
        PinCommand::Set(args) => {
            let new = new_pin(args.new.as_ref())?;
            client_pin(ctap, &args.auth)?
                .set_pin(&new)
                .map_err(failure)?;
            done(cli, "PIN set", &json!({ "pin_set": true }));
            Ok(())
        }
        PinCommand::Change(args) => {
            let old = pin(&args.auth, "Current PIN: ")?;
            let new = new_pin(args.new.as_ref())?;
            client_pin(ctap, &args.auth)?
                .change_pin(&old, &new)
                .map_err(failure)?;
            done(cli, "PIN changed", &json!({ "pin_changed": true }));
            Ok(())
        }
    }
}

fn done(cli: &Cli, text: &str, value: &Json) {
    if cli.json {
        print_json(value);
    } else {
        println!("{text}");
    }
}

fn pin_status(cli: &Cli, ctap: &mut Ctap2<Device>) -> Outcome {
    let info = ctap.info().clone();
    let supported = ClientPin::<Device>::is_supported(&info);
    let retries = if supported {
        Some(
            ClientPin::with_protocol(
                ctap,
                client::preferred_protocol(&info).unwrap_or(PinProtocol::One),
            )
            .get_pin_retries()
            .map_err(failure)?,
        )
    } else {
        None
    };
    let min_pin_length = info.min_pin_length.unwrap_or(4);
    if cli.json {
        print_json(&json!({
            "supported": supported,
            "pin_set": info.option("clientPin"),
            "retries": retries.map(|r| r.retries),
            "power_cycle_required": retries.and_then(|r| r.power_cycle_state),
            "min_pin_length": min_pin_length,
            "force_pin_change": info.force_pin_change.unwrap_or(false),
            "protocols": info.pin_uv_auth_protocols,
        }));
        return Ok(());
    }
    if !supported {
        println!("PIN not supported by this authenticator");
        return Ok(());
    }
    let set = if info.option("clientPin") == Some(true) {
        "yes"
    } else {
        "no"
    };
    println!("PIN set           {set}");
    if let Some(retries) = retries {
        let note = if retries.power_cycle_state == Some(true) {
            " (unplug and replug the key before the next try)"
        } else {
            ""
        };
        println!("retries left      {}{note}", retries.retries);
    }
    println!("minimum length    {min_pin_length}");
    if info.force_pin_change == Some(true) {
        println!("PIN change        required before the next use");
    }
    let protocols: Vec<String> = info
        .pin_uv_auth_protocols
        .iter()
        .map(ToString::to_string)
        .collect();
    println!("protocols         {}", protocols.join(", "));
    Ok(())
}

// ---- reset ----

pub(crate) fn reset_command(cli: &Cli, args: &ResetArgs) -> Outcome {
    if !args.yes {
        return Err(usage(
            "reset deletes every credential and the PIN for good; add --yes to do it",
        ));
    }
    let mut session = open(cli)?;
    let interaction = Interaction::new();
    let mut keepalive = on_keepalive(cli.json);
    let options = CallOptions::default()
        .with_cancel(interaction.token.clone())
        .with_on_keepalive(&mut keepalive);
    session
        .ctap
        .reset(options)
        .map_err(|e| interaction.failure(e))?;
    done(
        cli,
        "the authenticator is reset: no credentials, no PIN",
        &json!({ "reset": true }),
    );
    Ok(())
}

// ---- cred ----

pub(crate) fn cred_command(cli: &Cli, command: &CredCommand) -> Outcome {
    match command {
        CredCommand::Make(args) => cred_make(cli, args),
        CredCommand::Assert(args) => cred_assert(cli, args),
        CredCommand::List(args) => cred_list(cli, args),
        CredCommand::Delete(args) => cred_delete(cli, args),
    }
}

fn cred_make(cli: &Cli, args: &CredMakeArgs) -> Outcome {
    let mut session = open(cli)?;
    let ctap = &mut session.ctap;
    let alg = match args.alg {
        Alg::Es256 => Algorithm::ES256,
        Alg::Eddsa => Algorithm::EDDSA,
    };
    let client_data_hash = random_challenge()?;
    let rp = RpEntity {
        id: args.rp.clone(),
        name: Some(args.rp.clone()),
    };
    let user = UserEntity {
        id: args.user.as_bytes().to_vec(),
        name: Some(args.user.clone()),
        display_name: None,
    };
    let mut request = client::make_credential_request(client_data_hash, rp, user, &[alg]);
    if args.resident {
        request.options = Some(Options {
            rk: Some(true),
            ..Options::default()
        });
    }
    // With a PIN set, use it (as browsers do); --uv without a PIN cannot be honoured.
    if pin_is_set(ctap) {
        let token = token(
            ctap,
            &args.auth,
            Permissions::MAKE_CREDENTIAL,
            Some(&args.rp),
        )?;
        token.authorize_make_credential(&mut request);
    } else if args.uv {
        return Err(Failure::new(
            "--uv needs a PIN, and none is set (set one with `ctap pin set`)",
        ));
    }
    let interaction = Interaction::new();
    let mut keepalive = on_keepalive(cli.json);
    let options = CallOptions::default()
        .with_cancel(interaction.token.clone())
        .with_on_keepalive(&mut keepalive);
    let attestation = ctap
        .make_credential(&request, options)
        .map_err(|e| interaction.failure(e))?;
    let verdict = attestation.verify(&args.rp, &client_data_hash);
    let Some(credential) = attestation.credential() else {
        return Err(Failure::new("the authenticator returned no credential"));
    };
    let kind = match &verdict {
        Ok(client::AttestationType::None) => "none",
        Ok(client::AttestationType::SelfAttestation) => "self",
        Ok(client::AttestationType::Basic) => "basic",
        Err(_) => "unverified",
    };
    let user_verified = attestation.auth_data.flags.contains(Flags::UV);
    if cli.json {
        print_json(&json!({
            "rp": args.rp,
            "credential_id": hex(&credential.credential_id),
            "algorithm": algorithm_name(credential.public_key.algorithm()),
            "public_key": hex(&credential.public_key.to_cbor()),
            "resident": args.resident,
            "user_verified": user_verified,
            "sign_count": attestation.auth_data.sign_count,
            "aaguid": hex(&credential.aaguid),
            "attestation": {
                "format": attestation.response.fmt,
                "type": kind,
                "verified": verdict.is_ok(),
                "error": verdict.as_ref().err().map(ToString::to_string),
            },
        }));
    } else {
        println!("credential id     {}", hex(&credential.credential_id));
        println!(
            "algorithm         {}",
            algorithm_name(credential.public_key.algorithm())
                .as_str()
                .map_or_else(
                    || format!("{:?}", credential.public_key.algorithm()),
                    str::to_owned
                )
        );
        println!(
            "public key        {}",
            hex(&credential.public_key.to_cbor())
        );
        println!("resident          {}", args.resident);
        println!("user verified     {user_verified}");
        println!("attestation       {} ({kind})", attestation.response.fmt);
        match &verdict {
            Ok(_) => println!("signature         verified"),
            Err(error) => println!("signature         NOT verified: {error}"),
        }
    }
    verdict.map(drop).map_err(|e| Failure::new(e.to_string()))
}

fn cred_assert(cli: &Cli, args: &CredAssertArgs) -> Outcome {
    let allow: Vec<Vec<u8>> = args
        .cred_ids
        .iter()
        .map(|id| parse_hex("--cred-id", id))
        .collect::<Result<_, _>>()?;
    let given_key = args
        .public_key
        .as_deref()
        .map(|text| {
            CoseKey::from_cbor(&parse_hex("--public-key", text)?)
                .map_err(|e| usage(format!("--public-key: not a COSE key: {e}")))
        })
        .transpose()?;
    let mut session = open(cli)?;
    let ctap = &mut session.ctap;
    let client_data_hash = random_challenge()?;
    let mut request = client::get_assertion_request(&args.rp, client_data_hash, &allow);
    // Keys to verify with: given, or the discoverable credentials' (needs the PIN).
    let mut stored: Vec<(Vec<u8>, CoseKey)> = Vec::new();
    if pin_is_set(ctap) {
        let pin_value = pin(&args.auth, "PIN: ")?;
        if given_key.is_none() && CredentialManagement::<Device>::is_supported(ctap.info()) {
            let cm_token = client_pin(ctap, &args.auth)?
                .get_pin_token(&pin_value, Permissions::CREDENTIAL_MANAGEMENT, None)
                .map_err(failure)?;
            stored = stored_keys(ctap, cm_token, &args.rp)?;
        }
        let token = client_pin(ctap, &args.auth)?
            .get_pin_token(&pin_value, Permissions::GET_ASSERTION, Some(&args.rp))
            .map_err(failure)?;
        token.authorize_get_assertion(&mut request);
    } else if args.uv {
        return Err(Failure::new(
            "--uv needs a PIN, and none is set (set one with `ctap pin set`)",
        ));
    }
    let interaction = Interaction::new();
    let mut keepalive = on_keepalive(cli.json);
    let options = CallOptions::default()
        .with_cancel(interaction.token.clone())
        .with_on_keepalive(&mut keepalive);
    let assertions = ctap
        .get_assertions(&request, options)
        .map_err(|e| interaction.failure(e))?;
    let mut results = Vec::new();
    let mut failed = false;
    for assertion in &assertions {
        let id = assertion
            .credential()
            .map(|c| c.id.clone())
            .unwrap_or_default();
        let key = given_key.clone().or_else(|| {
            stored
                .iter()
                .find(|(k, _)| *k == id)
                .map(|(_, v)| v.clone())
        });
        let verdict = key.map(|key| assertion.verify(&args.rp, &client_data_hash, &key));
        failed |= matches!(verdict, Some(Err(_)));
        results.push((assertion, id, verdict));
    }
    if cli.json {
        let items: Vec<Json> = results
            .iter()
            .map(|(assertion, id, verdict)| {
                json!({
                    "credential_id": hex(id),
                    "sign_count": assertion.auth_data.sign_count,
                    "user": user_json(assertion.user()),
                    "user_verified": assertion.auth_data.flags.contains(Flags::UV),
                    "verified": verdict.as_ref().map(Result::is_ok),
                    "error": match verdict {
                        Some(Err(error)) => Some(error.to_string()),
                        Some(Ok(())) => None,
                        None => Some("no public key to verify with (give --public-key)".to_owned()),
                    },
                })
            })
            .collect();
        print_json(&json!({ "rp": args.rp, "assertions": items }));
    } else {
        for (n, (assertion, id, verdict)) in results.iter().enumerate() {
            if n > 0 {
                println!();
            }
            println!("credential id     {}", hex(id));
            println!("counter           {}", assertion.auth_data.sign_count);
            if let Some(user) = assertion.user() {
                println!(
                    "user              {} (id {})",
                    user.name.as_deref().unwrap_or("-"),
                    hex(&user.id)
                );
            }
            println!(
                "user verified     {}",
                assertion.auth_data.flags.contains(Flags::UV)
            );
            match verdict {
                Some(Ok(())) => println!("signature         verified"),
                Some(Err(error)) => println!("signature         NOT verified: {error}"),
                None => {
                    println!("signature         not checked (no public key: give --public-key)")
                }
            }
        }
    }
    if failed {
        return Err(Failure::new("a signature did not verify"));
    }
    Ok(())
}

/// The public keys of `rp_id`'s discoverable credentials (none if it has none).
fn stored_keys(
    ctap: &mut Ctap2<Device>,
    token: PinToken,
    rp_id: &str,
) -> Result<Vec<(Vec<u8>, CoseKey)>, Failure> {
    let mut cm = CredentialManagement::new(ctap, token).map_err(failure)?;
    let rps = cm.enumerate_rps().map_err(failure)?;
    let Some(rp) = rps.iter().find(|rp| rp.rp.id == rp_id) else {
        return Ok(Vec::new());
    };
    let creds = cm.enumerate_creds(&rp.rp_id_hash).map_err(failure)?;
    Ok(creds
        .into_iter()
        .map(|c| (c.credential_id.id, c.public_key))
        .collect())
}

fn cred_list(cli: &Cli, args: &CredListArgs) -> Outcome {
    let mut session = open(cli)?;
    let ctap = &mut session.ctap;
    let token = token(ctap, &args.auth, Permissions::CREDENTIAL_MANAGEMENT, None)?;
    let mut cm = CredentialManagement::new(ctap, token).map_err(failure)?;
    let metadata = cm.get_metadata().map_err(failure)?;
    let mut rps = Vec::new();
    for rp in cm.enumerate_rps().map_err(failure)? {
        let creds = cm.enumerate_creds(&rp.rp_id_hash).map_err(failure)?;
        rps.push((rp, creds));
    }
    if cli.json {
        let items: Vec<Json> = rps
            .iter()
            .map(|(rp, creds)| {
                json!({
                    "rp_id": rp.rp.id,
                    "rp_name": rp.rp.name,
                    "credentials": creds.iter().map(|c| json!({
                        "credential_id": hex(&c.credential_id.id),
                        "user": user_json(Some(&c.user)),
                        "algorithm": algorithm_name(c.public_key.algorithm()),
                        "public_key": hex(&c.public_key.to_cbor()),
                        "cred_protect": c.cred_protect,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        print_json(&json!({
            "existing": metadata.existing,
            "remaining": metadata.remaining,
            "rps": items,
        }));
        return Ok(());
    }
    println!(
        "{} discoverable credential(s), room for {} more",
        metadata.existing, metadata.remaining
    );
    for (rp, creds) in &rps {
        println!("{}", rp.rp.id);
        for cred in creds {
            println!(
                "  {}  {}  {}",
                hex(&cred.credential_id.id),
                cred.user.name.as_deref().unwrap_or("-"),
                algorithm_name(cred.public_key.algorithm())
                    .as_str()
                    .unwrap_or("?")
            );
        }
    }
    Ok(())
}

fn cred_delete(cli: &Cli, args: &CredDeleteArgs) -> Outcome {
    let id = parse_hex("--id", &args.id)?;
    let mut session = open(cli)?;
    let ctap = &mut session.ctap;
    let token = token(ctap, &args.auth, Permissions::CREDENTIAL_MANAGEMENT, None)?;
    CredentialManagement::new(ctap, token)
        .map_err(failure)?
        .delete_cred(&CredentialDescriptor::public_key(&id))
        .map_err(|error| match error.status() {
            Some(StatusCode::NO_CREDENTIALS) => {
                Failure::new(format!("no credential with id {} ({error})", hex(&id)))
            }
            _ => failure(error),
        })?;
    done(
        cli,
        &format!("deleted {}", hex(&id)),
        &json!({ "deleted": hex(&id) }),
    );
    Ok(())
}

// ---- config ----

pub(crate) fn config_command(cli: &Cli, command: &ConfigCommand) -> Outcome {
    let auth = match command {
        ConfigCommand::AlwaysUv(args) => &args.auth,
        ConfigCommand::MinPinLength(args) => &args.auth,
    };
    let mut session = open(cli)?;
    let ctap = &mut session.ctap;
    let token = if pin_is_set(ctap) {
        Some(token(ctap, auth, Permissions::AUTHENTICATOR_CONFIG, None)?)
    } else {
        None
    };
    let mut config = AuthenticatorConfig::new(ctap, token).map_err(failure)?;
    match command {
        ConfigCommand::AlwaysUv(_) => {
            config.toggle_always_uv().map_err(failure)?;
            let always_uv = ctap.get_info().map_err(failure)?.option("alwaysUv");
            done(
                cli,
                &format!(
                    "alwaysUv is now {}",
                    if always_uv == Some(true) { "on" } else { "off" }
                ),
                &json!({ "always_uv": always_uv }),
            );
        }
        ConfigCommand::MinPinLength(args) => {
            let rp_ids = (!args.rp_ids.is_empty()).then(|| args.rp_ids.clone());
            config
                .set_min_pin_length(Some(args.length), rp_ids, args.force_change.then_some(true))
                .map_err(failure)?;
            let info = ctap.get_info().map_err(failure)?;
            done(
                cli,
                &format!(
                    "minimum PIN length is now {}",
                    info.min_pin_length.unwrap_or(args.length)
                ),
                &json!({
                    "min_pin_length": info.min_pin_length,
                    "force_pin_change": info.force_pin_change.unwrap_or(false),
                }),
            );
        }
    }
    Ok(())
}
