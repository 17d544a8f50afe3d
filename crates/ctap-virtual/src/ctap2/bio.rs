//! authenticatorBioEnrollment (CTAP 2.1 §6.7) for the simulated fingerprint sensor:
//! enrollment sample by sample (each sample a touch whose finger the sensor script
//! decides), enumerate, rename, remove, getFingerprintSensorInfo, getModality.

use std::time::Instant;

use ctap_types::StatusCode;
use ctap2_proto::bio::{
    BioEnrollmentRequest, BioEnrollmentResponse, BioSubCommand, FINGERPRINT_KIND_TOUCH,
    MODALITY_FINGERPRINT, SampleStatus, TemplateInfo,
};
use ctap2_proto::pin::Permissions;

use super::features::{PendingFeature, Template};
use super::{Ctap2, Pending, Result, answer};

/// Good samples an enrollment needs (maxCaptureSamplesRequiredForEnroll).
pub const SAMPLES_PER_ENROLLMENT: u8 = 4;
/// How many fingers fit (then FP_DATABASE_FULL).
pub const MAX_TEMPLATES: usize = 5;
/// maxTemplateFriendlyName, in bytes.
pub const MAX_FRIENDLY_NAME: usize = 64;

/// An enrollment in progress (volatile).
#[derive(Debug)]
pub(crate) struct Enrollment {
    template_id: Vec<u8>,
    remaining: u8,
}

/// An enrollBegin or enrollCaptureNextSample waiting for the finger.
#[derive(Debug)]
pub(crate) struct SampleWait {
    first: bool,
}

impl Ctap2 {
    /// authenticatorBioEnrollment (§6.7.2).
    pub(super) fn bio_enrollment(
        &mut self,
        now: Instant,
        request: BioEnrollmentRequest,
    ) -> Result<Option<Vec<u8>>> {
        if self.features.fingerprint.is_none() {
            return Err(StatusCode::INVALID_COMMAND);
        }
        // getModality (§6.7.3) needs nothing else.
        if request.get_modality == Some(true) {
            return Ok(Some(answer(&BioEnrollmentResponse {
                modality: Some(MODALITY_FINGERPRINT),
                ..BioEnrollmentResponse::default()
            })));
        }
        let sub = request.sub_command.ok_or(StatusCode::MISSING_PARAMETER)?;
        let modality = request.modality.ok_or(StatusCode::MISSING_PARAMETER)?;
        if modality != MODALITY_FINGERPRINT {
            return Err(StatusCode::INVALID_PARAMETER);
        }
        let known = [
            BioSubCommand::ENROLL_BEGIN,
            BioSubCommand::ENROLL_CAPTURE_NEXT_SAMPLE,
            BioSubCommand::CANCEL_CURRENT_ENROLLMENT,
            BioSubCommand::ENUMERATE_ENROLLMENTS,
            BioSubCommand::SET_FRIENDLY_NAME,
            BioSubCommand::REMOVE_ENROLLMENT,
            BioSubCommand::GET_FINGERPRINT_SENSOR_INFO,
        ];
        if !known.contains(&sub) {
            return Err(StatusCode::INVALID_SUBCOMMAND);
        }
        // getFingerprintSensorInfo (§6.7.4) and cancelCurrentEnrollment (§6.7.6) take
        // no pinUvAuthParam (python-fido2 sends none for either).
        if sub == BioSubCommand::GET_FINGERPRINT_SENSOR_INFO {
            return Ok(Some(answer(&BioEnrollmentResponse {
                modality: Some(MODALITY_FINGERPRINT),
                fingerprint_kind: Some(FINGERPRINT_KIND_TOUCH),
                max_capture_samples_required_for_enroll: Some(u64::from(SAMPLES_PER_ENROLLMENT)),
                max_template_friendly_name: Some(MAX_FRIENDLY_NAME as u64),
                ..BioEnrollmentResponse::default()
            })));
        }
        if sub == BioSubCommand::CANCEL_CURRENT_ENROLLMENT {
            // The spec names no error for "nothing to cancel": like the keys we know,
            // cancelling nothing succeeds.
            self.enrollment = None;
            return Ok(Some(vec![StatusCode::SUCCESS.to_u8()]));
        }
        // The others need a pinUvAuthToken with the be permission over
        // modality || subCommand || subCommandParams.
        let param = request
            .pin_uv_auth_param
            .as_deref()
            .ok_or(StatusCode::PUAT_REQUIRED)?;
        self.check_token(
            now,
            request.pin_uv_auth_protocol,
            param,
            &request.auth_message(),
            Permissions::BIO_ENROLLMENT,
            None,
        )?;
        let params = request.params().map_err(|e| e.status())?;
        match sub {
            BioSubCommand::ENROLL_BEGIN => {
                // §6.7.5: a new template id, then the first sample.
                if self.state.features.templates.len() >= MAX_TEMPLATES {
                    return Err(StatusCode::FP_DATABASE_FULL);
                }
                let template_id = self.new_template_id();
                self.enrollment = Some(Enrollment {
                    template_id,
                    remaining: SAMPLES_PER_ENROLLMENT,
                });
                self.pending = Some(Pending::Feature(Box::new(PendingFeature::Sample(
                    SampleWait { first: true },
                ))));
                Ok(None)
            }
            BioSubCommand::ENROLL_CAPTURE_NEXT_SAMPLE => {
                // §6.7.5: the template id of the enrollment in progress.
                let id = params.template_id.ok_or(StatusCode::MISSING_PARAMETER)?;
                let enrollment = self
                    .enrollment
                    .as_ref()
                    .ok_or(StatusCode::INVALID_PARAMETER)?;
                if enrollment.template_id != id {
                    return Err(StatusCode::INVALID_PARAMETER);
                }
                self.pending = Some(Pending::Feature(Box::new(PendingFeature::Sample(
                    SampleWait { first: false },
                ))));
                Ok(None)
            }
            BioSubCommand::ENUMERATE_ENROLLMENTS => {
                // §6.7.7: none enrolled is CTAP2_ERR_INVALID_OPTION.
                if self.state.features.templates.is_empty() {
                    return Err(StatusCode::INVALID_OPTION);
                }
                let infos = self
                    .state
                    .features
                    .templates
                    .iter()
                    .map(|t| TemplateInfo {
                        template_id: t.id.clone(),
                        friendly_name: Some(t.name.clone()),
                    })
                    .collect();
                Ok(Some(answer(&BioEnrollmentResponse {
                    template_infos: Some(infos),
                    ..BioEnrollmentResponse::default()
                })))
            }
            BioSubCommand::SET_FRIENDLY_NAME => {
                // §6.7.8.
                let id = params.template_id.ok_or(StatusCode::MISSING_PARAMETER)?;
                let name = params
                    .template_friendly_name
                    .ok_or(StatusCode::MISSING_PARAMETER)?;
                if name.len() > MAX_FRIENDLY_NAME {
                    return Err(StatusCode::INVALID_LENGTH);
                }
                let template = self
                    .state
                    .features
                    .templates
                    .iter_mut()
                    .find(|t| t.id == id)
                    .ok_or(StatusCode::INVALID_OPTION)?;
                template.name = name;
                self.dirty = true;
                Ok(Some(vec![StatusCode::SUCCESS.to_u8()]))
            }
            _ => {
                // removeEnrollment (§6.7.9).
                let id = params.template_id.ok_or(StatusCode::MISSING_PARAMETER)?;
                let templates = &mut self.state.features.templates;
                let before = templates.len();
                templates.retain(|t| t.id != id);
                if templates.len() == before {
                    return Err(StatusCode::INVALID_OPTION);
                }
                self.dirty = true;
                Ok(Some(vec![StatusCode::SUCCESS.to_u8()]))
            }
        }
    }

    /// The finger touched for an enrollment sample: its status, the samples left;
    /// the last good sample stores the template (§6.7.5).
    pub(super) fn finish_sample(&mut self, wait: &SampleWait) -> Result<Vec<u8>> {
        let finger = self.sensor_touch().ok_or(StatusCode::NOT_ALLOWED)?;
        let enrollment = self.enrollment.as_mut().ok_or(StatusCode::NOT_ALLOWED)?;
        let status = SampleStatus(finger.sample_status());
        if status == SampleStatus::GOOD {
            enrollment.remaining = enrollment.remaining.saturating_sub(1);
        }
        let remaining = enrollment.remaining;
        let template_id = enrollment.template_id.clone();
        if remaining == 0 {
            self.enrollment = None;
            self.state.features.templates.push(Template {
                id: template_id.clone(),
                name: String::new(),
            });
            self.dirty = true;
        }
        Ok(answer(&BioEnrollmentResponse {
            template_id: wait.first.then_some(template_id),
            last_enroll_sample_status: Some(status),
            remaining_samples: Some(u64::from(remaining)),
            ..BioEnrollmentResponse::default()
        }))
    }

    /// A template id not in use: two random bytes.
    fn new_template_id(&mut self) -> Vec<u8> {
        loop {
            let id: [u8; 2] = self.rng.array();
            if !self.state.features.templates.iter().any(|t| t.id == id) {
                return id.to_vec();
            }
        }
    }
}
