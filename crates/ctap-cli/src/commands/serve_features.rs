//! `ctap serve`'s options for the optional CTAP 2.1/2.2 features of the software
//! authenticator: a simulated fingerprint sensor (built-in user verification and bio
//! enrollment) with a script of what the finger does at each touch, enterprise
//! attestation, the minPinLength RP IDs, the large-blob array size.

use clap::Args;
use ctap::virtual_device as vdev;

use crate::error::Failure;

#[derive(Debug, Args)]
pub(crate) struct FeatureArgs {
    /// Built-in user verification with a simulated fingerprint sensor. SCRIPT is what
    /// the finger does at each touch, in order, comma separated: `match`, `no-match`,
    /// or an enrollment sample status number (0 good, 1 too high, ...); after the
    /// script, every touch is `--fingerprint-then`. `match` alone: always matches.
    #[arg(long, value_name = "SCRIPT", value_parser = parse_script)]
    pub(crate) fingerprint: Option<Script>,
    /// What the finger does once the `--fingerprint` script is used up.
    #[arg(long, value_name = "FINGER", default_value = "match", value_parser = parse_finger, requires = "fingerprint")]
    pub(crate) fingerprint_then: vdev::Finger,
    /// Enterprise attestation (CTAP 2.1 section 7.1): capable, to be enabled with
    /// `ctap config`; vendor-facilitated for each RP ID given (repeatable),
    /// platform-managed for any RP.
    #[arg(long = "enterprise-rp", value_name = "RPID")]
    pub(crate) enterprise_rps: Vec<String>,
    /// Enterprise attestation capable without vendor-facilitated RP IDs.
    #[arg(long)]
    pub(crate) enterprise: bool,
    /// An RP ID that may always read the minimum PIN length (minPinLength extension;
    /// repeatable).
    #[arg(long = "min-pin-length-rp", value_name = "RPID")]
    pub(crate) min_pin_length_rps: Vec<String>,
    /// The size of the large-blob array in bytes (maxSerializedLargeBlobArray,
    /// 1024..=65536); 0 turns large blobs off.
    #[arg(long, value_name = "BYTES", default_value_t = 4096)]
    pub(crate) large_blobs: usize,
}

/// A `--fingerprint` script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Script(pub(crate) Vec<vdev::Finger>);

fn parse_finger(text: &str) -> Result<vdev::Finger, String> {
    match text.trim() {
        "match" => Ok(vdev::Finger::Match),
        "no-match" => Ok(vdev::Finger::NoMatch),
        number => number.parse::<u8>().map(vdev::Finger::Sample).map_err(|_| {
            format!("expected `match`, `no-match` or a sample status 0..=255, got {number:?}")
        }),
    }
}

fn parse_script(text: &str) -> Result<Script, String> {
    text.split(',')
        .map(parse_finger)
        .collect::<Result<_, _>>()
        .map(Script)
}

/// The features `args` ask for, and the sensor to script (kept by the caller).
pub(crate) fn features(args: &FeatureArgs) -> Result<vdev::Features, Failure> {
    if args.large_blobs != 0 && !(1024..=vdev::LARGE_BLOB_ARRAY_CAP).contains(&args.large_blobs) {
        return Err(Failure::new(format!(
            "--large-blobs: 0 or 1024..={} bytes, got {}",
            vdev::LARGE_BLOB_ARRAY_CAP,
            args.large_blobs
        )));
    }
    let sensor = args.fingerprint.as_ref().map(|script| {
        let sensor = vdev::FingerprintSensor::new();
        for finger in &script.0 {
            sensor.push(*finger);
        }
        sensor.set_default(args.fingerprint_then);
        sensor
    });
    let enterprise = (args.enterprise || !args.enterprise_rps.is_empty())
        .then(|| vdev::EnterpriseAttestation::new(args.enterprise_rps.clone()));
    Ok(vdev::Features::default()
        .with_max_serialized_large_blob_array(args.large_blobs)
        .with_min_pin_length_rpids(args.min_pin_length_rps.clone())
        .with_fingerprint(sensor)
        .with_enterprise(enterprise))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse_and_errors_say_what_was_wrong() {
        assert_eq!(
            parse_script("match,no-match, 5").unwrap(),
            Script(vec![
                vdev::Finger::Match,
                vdev::Finger::NoMatch,
                vdev::Finger::Sample(5)
            ])
        );
        let error = parse_script("match,maybe").unwrap_err();
        assert!(error.contains("\"maybe\""), "{error}");
    }
}
