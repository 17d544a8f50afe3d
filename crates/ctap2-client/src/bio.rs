//! authenticatorBioEnrollment (CTAP 2.1 §6.7): python-fido2's `BioEnrollment` /
//! `FPBioEnrollment` / `FPEnrollmentContext`.
//!
//! ```text
//! python-fido2                               here
//! FPBioEnrollment(ctap, protocol, token)     FpBioEnrollment::new(&mut ctap, token)
//! BioEnrollment.is_supported(info)           FpBioEnrollment::is_supported(info)
//! get_modality()                             modality()
//! get_fingerprint_sensor_info()              sensor_info()
//! enroll_begin / enroll_capture_next         enroll_begin / enroll_capture_next
//! enroll_cancel()                            enroll_cancel()
//! enroll() -> FPEnrollmentContext.capture()  enroll() -> FpEnrollment::capture()
//! enumerate_enrollments / set_name / remove  enumerate_enrollments / set_name / remove_enrollment
//! ```

use ctap_device::{CallOptions, CtapDevice};
use ctap_types::Ctap2Command;
use ctap2_proto::bio::{
    BioEnrollmentParams, BioEnrollmentRequest, BioEnrollmentResponse, BioSubCommand,
    MODALITY_FINGERPRINT, SampleStatus,
};
use ctap2_proto::cbor::CborMessage as _;
use ctap2_proto::{Info, Permissions};

use crate::client_pin::PinToken;
use crate::{Ctap2, Error, Result};

/// What getFingerprintSensorInfo says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SensorInfo {
    /// fingerprintKind: 1 touch, 2 swipe.
    pub fingerprint_kind: u64,
    /// maxCaptureSamplesRequiredForEnroll.
    pub max_samples: u64,
    /// maxTemplateFriendlyName (bytes), when given.
    pub max_friendly_name: Option<u64>,
}

/// One enrollment sample's outcome.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Sample {
    /// lastEnrollSampleStatus (GOOD, or why the sample did not count).
    pub status: SampleStatus,
    /// remainingSamples: 0 when the finger is enrolled.
    pub remaining: u64,
}

/// Fingerprint enrollment with a pinUvAuthToken carrying the be permission.
#[derive(Debug)]
pub struct FpBioEnrollment<'c, D> {
    ctap: &'c mut Ctap2<D>,
    token: Option<PinToken>,
}

impl<'c, D: CtapDevice> FpBioEnrollment<'c, D> {
    /// Fingerprint enrollment; `token` (be permission) is needed by everything but
    /// [`modality`](Self::modality), [`sensor_info`](Self::sensor_info) and
    /// [`enroll_cancel`](Self::enroll_cancel).
    ///
    /// # Errors
    /// [`Error::Unsupported`] without the `bioEnroll` option.
    pub fn new(ctap: &'c mut Ctap2<D>, token: Option<PinToken>) -> Result<Self> {
        if !Self::is_supported(ctap.info()) {
            return Err(Error::Unsupported("bio enrollment".into()));
        }
        Ok(Self { ctap, token })
    }

    /// Whether the authenticator has authenticatorBioEnrollment (the `bioEnroll`
    /// option, enrolled or not).
    #[must_use]
    pub fn is_supported(info: &Info) -> bool {
        info.option("bioEnroll").is_some()
    }

    /// getModality: 1 is fingerprint.
    ///
    /// # Errors
    /// As [`Ctap2::send_cbor`]; [`Error::InvalidResponse`] without `modality`.
    pub fn modality(&mut self) -> Result<u64> {
        let request = BioEnrollmentRequest {
            get_modality: Some(true),
            ..BioEnrollmentRequest::default()
        };
        self.send(&request, CallOptions::default())?
            .modality
            .ok_or_else(|| missing("modality"))
    }

    /// getFingerprintSensorInfo (no token needed).
    ///
    /// # Errors
    /// As [`Ctap2::send_cbor`]; [`Error::InvalidResponse`] without its members.
    pub fn sensor_info(&mut self) -> Result<SensorInfo> {
        let response = self.call(
            BioSubCommand::GET_FINGERPRINT_SENSOR_INFO,
            None,
            false,
            CallOptions::default(),
        )?;
        Ok(SensorInfo {
            fingerprint_kind: response
                .fingerprint_kind
                .ok_or_else(|| missing("fingerprintKind"))?,
            max_samples: response
                .max_capture_samples_required_for_enroll
                .ok_or_else(|| missing("maxCaptureSamplesRequiredForEnroll"))?,
            max_friendly_name: response.max_template_friendly_name,
        })
    }

    /// enrollBegin: starts enrolling a finger and waits for its first sample. Returns
    /// the new template id and the sample.
    ///
    /// # Errors
    /// `FP_DATABASE_FULL`, `USER_ACTION_TIMEOUT`, `KEEPALIVE_CANCEL`, ...
    pub fn enroll_begin(
        &mut self,
        timeout_ms: Option<u64>,
        options: CallOptions<'_>,
    ) -> Result<(Vec<u8>, Sample)> {
        let params = timeout_ms.map(|timeout| BioEnrollmentParams {
            timeout_milliseconds: Some(timeout),
            ..BioEnrollmentParams::default()
        });
        let response = self.call(BioSubCommand::ENROLL_BEGIN, params, true, options)?;
        let id = response
            .template_id
            .clone()
            .ok_or_else(|| missing("templateId"))?;
        Ok((id, sample(&response)?))
    }

    /// enrollCaptureNextSample for the enrollment of `template_id`.
    ///
    /// # Errors
    /// `INVALID_PARAMETER` for another template, as [`enroll_begin`](Self::enroll_begin).
    pub fn enroll_capture_next(
        &mut self,
        template_id: &[u8],
        timeout_ms: Option<u64>,
        options: CallOptions<'_>,
    ) -> Result<Sample> {
        let params = BioEnrollmentParams {
            template_id: Some(template_id.to_vec()),
            timeout_milliseconds: timeout_ms,
            ..BioEnrollmentParams::default()
        };
        let response = self.call(
            BioSubCommand::ENROLL_CAPTURE_NEXT_SAMPLE,
            Some(params),
            true,
            options,
        )?;
        sample(&response)
    }

    /// cancelCurrentEnrollment (no token, as python-fido2 sends it).
    ///
    /// # Errors
    /// As [`Ctap2::send_cbor`].
    pub fn enroll_cancel(&mut self) -> Result<()> {
        self.call(
            BioSubCommand::CANCEL_CURRENT_ENROLLMENT,
            None,
            false,
            CallOptions::default(),
        )
        .map(drop)
    }

    /// An enrollment to drive sample by sample ([`FpEnrollment::capture`]).
    pub fn enroll(&mut self, timeout_ms: Option<u64>) -> FpEnrollment<'_, 'c, D> {
        FpEnrollment {
            bio: self,
            timeout_ms,
            template_id: None,
            remaining: None,
        }
    }

    /// enumerateEnrollments: template id and friendly name of each finger (none
    /// enrolled: empty, as python-fido2 turns `INVALID_OPTION` into an empty dict).
    ///
    /// # Errors
    /// As [`Ctap2::send_cbor`].
    pub fn enumerate_enrollments(&mut self) -> Result<Vec<(Vec<u8>, Option<String>)>> {
        match self.call(
            BioSubCommand::ENUMERATE_ENROLLMENTS,
            None,
            true,
            CallOptions::default(),
        ) {
            Ok(response) => Ok(response
                .template_infos
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.template_id, t.friendly_name))
                .collect()),
            Err(error) if error.status() == Some(ctap_types::StatusCode::INVALID_OPTION) => {
                Ok(Vec::new())
            }
            Err(error) => Err(error),
        }
    }

    /// setFriendlyName.
    ///
    /// # Errors
    /// `INVALID_OPTION` for an unknown template.
    pub fn set_name(&mut self, template_id: &[u8], name: &str) -> Result<()> {
        let params = BioEnrollmentParams {
            template_id: Some(template_id.to_vec()),
            template_friendly_name: Some(name.to_owned()),
            timeout_milliseconds: None,
        };
        self.call(
            BioSubCommand::SET_FRIENDLY_NAME,
            Some(params),
            true,
            CallOptions::default(),
        )
        .map(drop)
    }

    /// removeEnrollment.
    ///
    /// # Errors
    /// `INVALID_OPTION` for an unknown template.
    pub fn remove_enrollment(&mut self, template_id: &[u8]) -> Result<()> {
        let params = BioEnrollmentParams {
            template_id: Some(template_id.to_vec()),
            ..BioEnrollmentParams::default()
        };
        self.call(
            BioSubCommand::REMOVE_ENROLLMENT,
            Some(params),
            true,
            CallOptions::default(),
        )
        .map(drop)
    }

    fn call(
        &mut self,
        sub: BioSubCommand,
        params: Option<BioEnrollmentParams>,
        auth: bool,
        options: CallOptions<'_>,
    ) -> Result<BioEnrollmentResponse> {
        let mut request = BioEnrollmentRequest {
            modality: Some(MODALITY_FINGERPRINT),
            sub_command: Some(sub),
            sub_command_params: params.map(|p| p.to_value()),
            ..BioEnrollmentRequest::default()
        };
        if auth {
            let token = self.token.as_ref().ok_or_else(|| {
                Error::InvalidArgument(
                    "bio enrollment needs a pinUvAuthToken with the be permission".into(),
                )
            })?;
            if !token.permissions().contains(Permissions::BIO_ENROLLMENT) {
                return Err(Error::InvalidArgument(
                    "the token lacks the be (bio enrollment) permission".into(),
                ));
            }
            request.pin_uv_auth_protocol = Some(u64::from(token.protocol().number()));
            request.pin_uv_auth_param = Some(token.authenticate(&request.auth_message()));
        }
        self.send(&request, options)
    }

    fn send(
        &mut self,
        request: &BioEnrollmentRequest,
        options: CallOptions<'_>,
    ) -> Result<BioEnrollmentResponse> {
        let answer = self.ctap.send_cbor(
            Ctap2Command::BIO_ENROLLMENT,
            Some(&request.to_value()),
            options,
        )?;
        answer
            .map(BioEnrollmentResponse::from_value)
            .transpose()
            .map_err(Error::response("authenticatorBioEnrollment"))
            .map(Option::unwrap_or_default)
    }
}

fn missing(member: &'static str) -> Error {
    Error::response("authenticatorBioEnrollment")(ctap2_proto::Error::MissingParameter(member))
}

fn sample(response: &BioEnrollmentResponse) -> Result<Sample> {
    Ok(Sample {
        status: response
            .last_enroll_sample_status
            .ok_or_else(|| missing("lastEnrollSampleStatus"))?,
        remaining: response
            .remaining_samples
            .ok_or_else(|| missing("remainingSamples"))?,
    })
}

/// What one [`FpEnrollment::capture`] did.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Captured {
    /// A good sample; more are needed.
    More,
    /// The sample did not count (too fast, poor quality, ...): capture again.
    Again(SampleStatus),
    /// The finger is enrolled with this template id.
    Enrolled(Vec<u8>),
}

/// One finger's enrollment, sample by sample (python-fido2's `FPEnrollmentContext`).
#[derive(Debug)]
pub struct FpEnrollment<'b, 'c, D> {
    bio: &'b mut FpBioEnrollment<'c, D>,
    timeout_ms: Option<u64>,
    template_id: Option<Vec<u8>>,
    remaining: Option<u64>,
}

impl<D: CtapDevice> FpEnrollment<'_, '_, D> {
    /// Waits for one sample and says what it did. (python-fido2 raises
    /// `CaptureError` for a sample that did not count; here that is
    /// [`Captured::Again`], and the enrollment goes on.)
    ///
    /// # Errors
    /// As [`FpBioEnrollment::enroll_begin`].
    pub fn capture(&mut self, options: CallOptions<'_>) -> Result<Captured> {
        let sample = match &self.template_id {
            None => {
                let (id, sample) = self.bio.enroll_begin(self.timeout_ms, options)?;
                self.template_id = Some(id);
                sample
            }
            Some(id) => {
                let id = id.clone();
                self.bio
                    .enroll_capture_next(&id, self.timeout_ms, options)?
            }
        };
        self.remaining = Some(sample.remaining);
        if sample.status != SampleStatus::GOOD {
            return Ok(Captured::Again(sample.status));
        }
        match (&self.template_id, sample.remaining) {
            (Some(id), 0) => Ok(Captured::Enrolled(id.clone())),
            _ => Ok(Captured::More),
        }
    }

    /// The samples still needed (after the first capture).
    #[must_use]
    pub const fn remaining(&self) -> Option<u64> {
        self.remaining
    }

    /// The template id (after the first capture).
    #[must_use]
    pub fn template_id(&self) -> Option<&[u8]> {
        self.template_id.as_deref()
    }

    /// Cancels the enrollment.
    ///
    /// # Errors
    /// As [`FpBioEnrollment::enroll_cancel`].
    pub fn cancel(&mut self) -> Result<()> {
        self.template_id = None;
        self.bio.enroll_cancel()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use ctap_types::{Capabilities, Command, StatusCode};
    use ctap_virtual::{Features, Finger, FingerprintSensor};
    use ctap2_proto::cbor::MapBuilder;

    use super::*;
    use crate::ClientPin;

    #[test]
    fn enroll_name_remove_and_uv_tokens_against_the_virtual_authenticator() {
        let sensor = FingerprintSensor::new();
        let (authenticator, device) = ctap_virtual::testing::connect().unwrap();
        authenticator.with_device(|d| {
            d.set_features(Features::default().with_fingerprint(Some(sensor.clone())))
        });
        let mut ctap = Ctap2::new(device).unwrap();
        ClientPin::new(&mut ctap).unwrap().set_pin("1234").unwrap();
        // Not enrolled yet: get_uv_token refuses before sending (no uv option).
        let error = ClientPin::new(&mut ctap)
            .unwrap()
            .get_uv_token(
                Permissions::GET_ASSERTION,
                Some("example.com"),
                CallOptions::default(),
            )
            .unwrap_err();
        assert!(matches!(error, Error::Unsupported(_)), "{error}");
        let token = ClientPin::new(&mut ctap)
            .unwrap()
            .get_pin_token("1234", Permissions::BIO_ENROLLMENT, None)
            .unwrap();
        let mut bio = FpBioEnrollment::new(&mut ctap, Some(token)).unwrap();
        assert_eq!(bio.modality().unwrap(), 1);
        let info = bio.sensor_info().unwrap();
        assert_eq!((info.fingerprint_kind, info.max_samples), (1, 4));
        assert!(bio.enumerate_enrollments().unwrap().is_empty());
        sensor.push(Finger::Sample(0x01));
        let mut enrollment = bio.enroll(Some(10_000));
        let mut outcomes = Vec::new();
        loop {
            let outcome = enrollment.capture(CallOptions::default()).unwrap();
            let done = matches!(outcome, Captured::Enrolled(_));
            outcomes.push(outcome);
            if done || outcomes.len() > 10 {
                break;
            }
        }
        let id = enrollment.template_id().unwrap().to_vec();
        assert_eq!(
            outcomes,
            [
                Captured::Again(SampleStatus::TOO_HIGH),
                Captured::More,
                Captured::More,
                Captured::More,
                Captured::Enrolled(id.clone()),
            ]
        );
        bio.set_name(&id, "left thumb").unwrap();
        assert_eq!(
            bio.enumerate_enrollments().unwrap(),
            [(id.clone(), Some("left thumb".to_owned()))]
        );
        let error = bio.remove_enrollment(b"nope").unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::INVALID_OPTION));
        drop(bio);

        // ClientPin::get_uv_token: a matching finger gives a token, a wrong one
        // UV_INVALID and one retry less.
        ctap.get_info().unwrap();
        let mut pin = ClientPin::new(&mut ctap).unwrap();
        let token = pin
            .get_uv_token(
                Permissions::GET_ASSERTION,
                Some("example.com"),
                CallOptions::default(),
            )
            .unwrap();
        assert_eq!(token.rp_id(), Some("example.com"));
        sensor.push(Finger::NoMatch);
        let error = pin
            .get_uv_token(
                Permissions::GET_ASSERTION,
                Some("example.com"),
                CallOptions::default(),
            )
            .unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::UV_INVALID));
        assert_eq!(pin.get_uv_retries().unwrap(), 7);

        // Without a be token, nothing is sent.
        let mut bio = FpBioEnrollment::new(&mut ctap, None).unwrap();
        assert!(matches!(
            bio.remove_enrollment(&id),
            Err(Error::InvalidArgument(_))
        ));
        bio.enroll_cancel().unwrap();
    }

    /// A device that answers from a list of (status, CBOR body).
    #[derive(Debug, Default)]
    struct Canned {
        answers: VecDeque<Vec<u8>>,
    }

    impl CtapDevice for Canned {
        fn capabilities(&self) -> Capabilities {
            Capabilities::CBOR
        }

        fn call_with(
            &mut self,
            _command: Command,
            _data: &[u8],
            _options: CallOptions<'_>,
        ) -> std::result::Result<Vec<u8>, ctap_device::Error> {
            Ok(self.answers.pop_front().unwrap_or_else(|| vec![0x7F]))
        }

        fn close(&mut self) {}
    }

    #[test]
    fn scripted_answers_missing_members_are_invalid_responses() {
        let info = Info {
            versions: vec!["FIDO_2_1".into()],
            options: vec![("bioEnroll".into(), false)],
            ..Info::default()
        };
        let mut device = Canned::default();
        device
            .answers
            .push_back([&[0][..], &info.to_cbor()].concat());
        // getFingerprintSensorInfo without maxCaptureSamplesRequiredForEnroll.
        let partial = MapBuilder::new()
            .with(2, ctap2_proto::Value::int(1))
            .build();
        device
            .answers
            .push_back([&[0][..], &partial.to_vec()].concat());
        // A status.
        device
            .answers
            .push_back(vec![StatusCode::INVALID_SUBCOMMAND.to_u8()]);
        let mut ctap = Ctap2::new(device).unwrap();
        let mut bio = FpBioEnrollment::new(&mut ctap, None).unwrap();
        let error = bio.sensor_info().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("maxCaptureSamplesRequiredForEnroll"),
            "{error}"
        );
        let error = bio.sensor_info().unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::INVALID_SUBCOMMAND));
        // No bioEnroll option at all: unsupported.
        let mut device = Canned::default();
        let plain = Info {
            versions: vec!["FIDO_2_1".into()],
            ..Info::default()
        };
        device
            .answers
            .push_back([&[0][..], &plain.to_cbor()].concat());
        let mut ctap = Ctap2::new(device).unwrap();
        assert!(matches!(
            FpBioEnrollment::new(&mut ctap, None),
            Err(Error::Unsupported(_))
        ));
    }
}
