//! `ctap bio ...`: fingerprints (authenticatorBioEnrollment, CTAP 2.1 §6.7): list,
//! enroll sample by sample, rename, delete, and the sensor's facts (fido2-token -L/-S/-D
//! -e, `ykman fido fingerprints`).

use std::io::IsTerminal as _;

use clap::{Args, Subcommand};
use ctap::ctap2::proto::Permissions;
use ctap::ctap2::proto::bio::SampleStatus;
use ctap::ctap2::{Captured, Ctap2, FpBioEnrollment, PinToken};
use serde_json::json;

use crate::auth::{PinArgs, token};
use crate::device::{self, Device, Interaction};
use crate::error::{self, Doing, Failure, Outcome, Situation, usage};
use crate::globals::Global;
use crate::output::{confirmed, done, escape, hex, parse_hex, print_json};

/// `ctap bio ...`
#[derive(Debug, Subcommand)]
pub(crate) enum BioCommand {
    /// The enrolled fingerprints: template id and name (needs the PIN).
    List(BioArgs),
    /// Enroll a finger: touch the sensor until it has enough good samples; each sample
    /// is reported as it comes (with --json, one JSON line per sample); Ctrl-C cancels.
    Enroll(EnrollArgs),
    /// Give an enrolled fingerprint a name.
    Rename(RenameArgs),
    /// Delete an enrolled fingerprint, after asking unless --yes.
    Delete(DeleteArgs),
    /// The fingerprint sensor: kind, samples needed per finger, longest name (no PIN).
    Info,
}

#[derive(Debug, Args)]
pub(crate) struct BioArgs {
    #[command(flatten)]
    auth: PinArgs,
}

#[derive(Debug, Args)]
pub(crate) struct EnrollArgs {
    /// A name for the new fingerprint (set once it is enrolled).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    #[command(flatten)]
    auth: PinArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RenameArgs {
    /// The fingerprint's template id, hex (as `bio list` prints it).
    #[arg(long, value_name = "HEX")]
    template_id: String,
    /// Its new name.
    #[arg(long, value_name = "NAME")]
    name: String,
    #[command(flatten)]
    auth: PinArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// The fingerprint's template id, hex (as `bio list` prints it).
    #[arg(long, value_name = "HEX")]
    template_id: String,
    /// Delete without asking (needed when standard input is not a terminal).
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    auth: PinArgs,
}

impl BioCommand {
    /// Whether the command changes what the key keeps.
    pub(crate) fn changes_state(&self) -> bool {
        matches!(self, Self::Enroll(_) | Self::Rename(_) | Self::Delete(_))
    }
}

/// Runs `ctap bio ...`.
pub(crate) fn run(global: &Global, command: &BioCommand) -> Outcome {
    let (id, ask) = match command {
        BioCommand::Rename(args) => (Some(parse_hex("--template-id", &args.template_id)?), false),
        BioCommand::Delete(args) => (
            Some(parse_hex("--template-id", &args.template_id)?),
            !args.yes,
        ),
        _ => (None, false),
    };
    if let BioCommand::Rename(args) = command {
        if args.name.is_empty() {
            return Err(usage("--name: give a name (it is empty)"));
        }
    }
    if ask && !std::io::stdin().is_terminal() {
        return Err(usage(
            "bio delete deletes the fingerprint for good and asks first; without a terminal \
             to ask on, add --yes",
        ));
    }
    let mut ctap = device::open_ctap2(global)?;
    let ctap = &mut ctap;
    // CTAP 2.1 §6.7: a key with a fingerprint sensor lists `bioEnroll` in getInfo
    // (false until a finger is enrolled); without it there is nothing to manage.
    if !FpBioEnrollment::<Device>::is_supported(ctap.info()) {
        return Err(Failure::new(
            "this key has no fingerprint sensor (getInfo has no `bioEnroll` option)",
        )
        .with_next("`ctap info` shows its options; use a key with a fingerprint sensor"));
    }
    let situation = Situation::new(global, Doing::BioEnrollment).with_info(ctap.info());
    let failed = |error| error::ctap2_in(&situation, error);
    let auth = match command {
        BioCommand::Info => {
            let mut bio = FpBioEnrollment::new(ctap, None).map_err(failed)?;
            let sensor = bio.sensor_info().map_err(failed)?;
            let kind = match sensor.fingerprint_kind {
                1 => "touch",
                2 => "swipe",
                _ => "unknown",
            };
            let enrolled = ctap.info().option("bioEnroll") == Some(true);
            if global.json {
                print_json(&json!({
                    "fingerprint_kind": kind,
                    "samples_per_enrollment": sensor.max_samples,
                    "max_name_bytes": sensor.max_friendly_name,
                    "enrolled": enrolled,
                }));
            } else {
                println!("sensor: {kind}");
                println!("samples per finger: {}", sensor.max_samples);
                if let Some(most) = sensor.max_friendly_name {
                    println!("longest name: {most} bytes");
                }
                println!(
                    "fingerprints enrolled: {}",
                    if enrolled { "yes" } else { "none" }
                );
            }
            return Ok(());
        }
        BioCommand::List(args) => &args.auth,
        BioCommand::Enroll(args) => &args.auth,
        BioCommand::Rename(args) => &args.auth,
        BioCommand::Delete(args) => &args.auth,
    };
    let name = match command {
        BioCommand::Enroll(args) => args.name.as_deref(),
        BioCommand::Rename(args) => Some(args.name.as_str()),
        _ => None,
    };
    if let Some(name) = name {
        check_name(ctap, &situation, name)?;
    }
    let token = be_token(global, ctap, auth)?;
    let mut bio = FpBioEnrollment::new(ctap, Some(token)).map_err(failed)?;
    match command {
        BioCommand::List(_) => {
            let fingers = bio.enumerate_enrollments().map_err(failed)?;
            if global.json {
                let items: Vec<_> = fingers
                    .iter()
                    .map(|(id, name)| json!({ "template_id": hex(id), "name": name.as_deref().map(escape) }))
                    .collect();
                print_json(&json!({ "fingerprints": items }));
            } else if fingers.is_empty() {
                println!("no fingerprints enrolled (`ctap bio enroll` adds one)");
            } else {
                for (id, name) in &fingers {
                    let name = name.as_deref().map_or_else(|| "-".to_owned(), escape);
                    println!("{}  {name}", hex(id));
                }
            }
        }
        BioCommand::Enroll(args) => enroll(global, &situation, &mut bio, args.name.as_deref())?,
        BioCommand::Rename(args) => {
            let id = id.unwrap_or_default();
            bio.set_name(&id, &args.name).map_err(failed)?;
            done(
                global,
                &format!("renamed {} to {}", hex(&id), escape(&args.name)),
                &json!({ "template_id": hex(&id), "name": args.name }),
            );
        }
        BioCommand::Delete(_) => {
            let id = id.unwrap_or_default();
            let fingers = bio.enumerate_enrollments().map_err(failed)?;
            let Some((_, name)) = fingers.iter().find(|(known, _)| *known == id) else {
                return Err(Failure::new(format!(
                    "this key has no fingerprint with template id {}",
                    hex(&id)
                ))
                .with_next("`ctap bio list` shows the template ids"));
            };
            if ask {
                let name = name.as_deref().map_or_else(|| "-".to_owned(), escape);
                let question = format!(
                    "delete the fingerprint {} ({name}) for good? [y/N] ",
                    hex(&id)
                );
                if !confirmed(&question)? {
                    return Err(Failure::new("not deleted"));
                }
            }
            bio.remove_enrollment(&id).map_err(failed)?;
            done(
                global,
                &format!("deleted {}", hex(&id)),
                &json!({ "deleted": hex(&id) }),
            );
        }
        BioCommand::Info => {}
    }
    Ok(())
}

/// A name longer than the sensor's maxTemplateFriendlyName is refused before anything
/// is enrolled or sent (the key would answer INVALID_LENGTH, after the enrollment).
fn check_name(ctap: &mut Ctap2<Device>, situation: &Situation, name: &str) -> Outcome {
    let sensor = FpBioEnrollment::new(ctap, None)
        .and_then(|mut bio| bio.sensor_info())
        .map_err(|error| error::ctap2_in(situation, error))?;
    match sensor.max_friendly_name {
        Some(most) if u64::try_from(name.len()).unwrap_or(u64::MAX) > most => Err(usage(format!(
            "--name is {} bytes of UTF-8; this key's fingerprint names are at most {most} \
                 (getFingerprintSensorInfo maxTemplateFriendlyName)",
            name.len()
        ))),
        _ => Ok(()),
    }
}

/// A token with the be permission, from the PIN (built-in UV cannot enroll itself).
fn be_token(
    global: &Global,
    ctap: &mut Ctap2<Device>,
    auth: &PinArgs,
) -> Result<PinToken, Failure> {
    token(global, ctap, auth, Permissions::BIO_ENROLLMENT, None)
}

/// Enrolls a finger: one line per sample as it comes (JSON lines with `--json`), the
/// name once enrolled; Ctrl-C sends cancelCurrentEnrollment.
fn enroll(
    global: &Global,
    situation: &Situation,
    bio: &mut FpBioEnrollment<'_, Device>,
    name: Option<&str>,
) -> Outcome {
    // The keep-alive text is ours here ("touch the sensor"), not the generic one.
    let mut interaction = Interaction::new(true);
    let mut enrollment = bio.enroll(None);
    let mut sample = 0u64;
    let id = loop {
        if !global.json {
            match enrollment.remaining() {
                None => eprintln!("touch the fingerprint sensor"),
                Some(left) => {
                    eprintln!("touch the fingerprint sensor again ({left} more good samples)")
                }
            }
        }
        let captured = match enrollment.capture(interaction.options()) {
            Ok(captured) => captured,
            Err(failed) => {
                let failure = interaction.failure(global, situation, failed);
                if failure.status == 130 || enrollment.template_id().is_some() {
                    // Leave no half-enrolled finger behind (cancelCurrentEnrollment).
                    let _ = enrollment.cancel();
                }
                if failure.status == 130 {
                    return Err(Failure::with_status(
                        "cancelled: the enrollment was cancelled on the key too \
                         (cancelCurrentEnrollment); nothing was enrolled",
                        130,
                    ));
                }
                return Err(failure);
            }
        };
        sample += 1;
        let remaining = enrollment.remaining().unwrap_or(0);
        let status = match &captured {
            Captured::Again(status) => *status,
            _ => SampleStatus::GOOD,
        };
        if global.json {
            println!(
                "{}",
                json!({
                    "event": "sample",
                    "sample": sample,
                    "status": status_name(status),
                    "status_code": status.0,
                    "good": status == SampleStatus::GOOD,
                    "remaining": remaining,
                })
            );
        } else if status == SampleStatus::GOOD {
            println!("sample {sample}: good, {remaining} remaining");
        } else {
            println!(
                "sample {sample}: {} (not counted; {}), {remaining} remaining",
                status_name(status),
                hint(status)
            );
        }
        if let Captured::Enrolled(id) = captured {
            break id;
        }
    };
    if let Some(name) = name {
        bio.set_name(&id, name)
            .map_err(|error| error::ctap2_in(situation, error))
            .map_err(|failure| {
                let next = format!(
                    "name it with `ctap bio rename --template-id {} --name NAME`",
                    hex(&id)
                );
                Failure {
                    message: format!(
                        "enrolled {}, but naming it failed: {}",
                        hex(&id),
                        failure.message
                    ),
                    next: Some(next),
                    ..failure
                }
            })?;
    }
    if global.json {
        crate::output::json_printed();
        println!(
            "{}",
            json!({ "event": "enrolled", "template_id": hex(&id), "name": name, "samples": sample })
        );
    } else {
        let named = name
            .map(|n| format!(" as {}", escape(n)))
            .unwrap_or_default();
        println!("enrolled {}{named}", hex(&id));
    }
    Ok(())
}

/// lastEnrollSampleStatus's name (CTAP 2.1 §6.7.4).
fn status_name(status: SampleStatus) -> &'static str {
    match status {
        SampleStatus::GOOD => "good",
        SampleStatus::TOO_HIGH => "too high",
        SampleStatus::TOO_LOW => "too low",
        SampleStatus::TOO_LEFT => "too left",
        SampleStatus::TOO_RIGHT => "too right",
        SampleStatus::TOO_FAST => "too fast",
        SampleStatus::TOO_SLOW => "too slow",
        SampleStatus::POOR_QUALITY => "poor quality",
        SampleStatus::TOO_SKEWED => "too skewed",
        SampleStatus::TOO_SHORT => "too short",
        SampleStatus::MERGE_FAILURE => "merge failure",
        SampleStatus::EXISTS => "already enrolled",
        SampleStatus::DATABASE_FULL => "database full",
        SampleStatus::NO_USER_ACTIVITY => "no finger",
        SampleStatus::NO_UP_TRANSITION => "finger not lifted",
        _ => "unknown status",
    }
}

/// What to do after a sample that did not count.
fn hint(status: SampleStatus) -> &'static str {
    match status {
        SampleStatus::TOO_HIGH
        | SampleStatus::TOO_LOW
        | SampleStatus::TOO_LEFT
        | SampleStatus::TOO_RIGHT
        | SampleStatus::TOO_SKEWED => "center the finger on the sensor",
        SampleStatus::TOO_FAST | SampleStatus::TOO_SHORT => "hold the finger longer",
        SampleStatus::NO_UP_TRANSITION => "lift the finger between samples",
        SampleStatus::EXISTS => "this finger is enrolled already; use another",
        _ => "try again",
    }
}
