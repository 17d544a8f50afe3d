//! authenticatorBioEnrollment (CTAP 2.1 §6.7): fingerprint enrollment.
//!
//! ```text
//! request  { 1: modality, 2: subCommand, 3: subCommandParams (as received),
//!            4: pinUvAuthProtocol, 5: pinUvAuthParam, 6: getModality }
//! response { 1: modality, 2: fingerprintKind, 3: maxCaptureSamplesRequiredForEnroll,
//!            4: templateId, 5: lastEnrollSampleStatus, 6: remainingSamples,
//!            7: templateInfos [{1: templateId, 2: templateFriendlyName}],
//!            8: maxTemplateFriendlyName }
//! pinUvAuthParam = authenticate(token, modality || subCommand || subCommandParams)
//! ```

use alloc::{string::String, vec::Vec};

use crate::cbor::{CborMessage, Error, IntMap, MapBuilder, Value};
use crate::credentials::{opt_bool, opt_bytes, opt_u64};
use crate::entities::list;

/// The fingerprint modality (§6.7.1: 0x01).
pub const MODALITY_FINGERPRINT: u64 = 0x01;
/// fingerprintKind: a touch sensor (0x01) rather than a swipe sensor (0x02).
pub const FINGERPRINT_KIND_TOUCH: u64 = 0x01;

/// A bioEnrollment subcommand (§6.7.2): an open newtype.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BioSubCommand(pub u8);

impl BioSubCommand {
    /// enrollBegin.
    pub const ENROLL_BEGIN: Self = Self(0x01);
    /// enrollCaptureNextSample.
    pub const ENROLL_CAPTURE_NEXT_SAMPLE: Self = Self(0x02);
    /// cancelCurrentEnrollment.
    pub const CANCEL_CURRENT_ENROLLMENT: Self = Self(0x03);
    /// enumerateEnrollments.
    pub const ENUMERATE_ENROLLMENTS: Self = Self(0x04);
    /// setFriendlyName.
    pub const SET_FRIENDLY_NAME: Self = Self(0x05);
    /// removeEnrollment.
    pub const REMOVE_ENROLLMENT: Self = Self(0x06);
    /// getFingerprintSensorInfo.
    pub const GET_FINGERPRINT_SENSOR_INFO: Self = Self(0x07);
}

/// lastEnrollSampleStatus (§6.7.4): an open newtype; unknown values survive.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SampleStatus(pub u8);

impl SampleStatus {
    /// CTAP2_ENROLL_FEEDBACK_FP_GOOD.
    pub const GOOD: Self = Self(0x00);
    /// FP_TOO_HIGH.
    pub const TOO_HIGH: Self = Self(0x01);
    /// FP_TOO_LOW.
    pub const TOO_LOW: Self = Self(0x02);
    /// FP_TOO_LEFT.
    pub const TOO_LEFT: Self = Self(0x03);
    /// FP_TOO_RIGHT.
    pub const TOO_RIGHT: Self = Self(0x04);
    /// FP_TOO_FAST.
    pub const TOO_FAST: Self = Self(0x05);
    /// FP_TOO_SLOW.
    pub const TOO_SLOW: Self = Self(0x06);
    /// FP_POOR_QUALITY.
    pub const POOR_QUALITY: Self = Self(0x07);
    /// FP_TOO_SKEWED.
    pub const TOO_SKEWED: Self = Self(0x08);
    /// FP_TOO_SHORT.
    pub const TOO_SHORT: Self = Self(0x09);
    /// FP_MERGE_FAILURE.
    pub const MERGE_FAILURE: Self = Self(0x0A);
    /// FP_EXISTS.
    pub const EXISTS: Self = Self(0x0B);
    /// (unused by the spec's table; python-fido2 calls it FP_DATABASE_FULL).
    pub const DATABASE_FULL: Self = Self(0x0C);
    /// NO_USER_ACTIVITY.
    pub const NO_USER_ACTIVITY: Self = Self(0x0D);
    /// NO_UP_TRANSITION.
    pub const NO_UP_TRANSITION: Self = Self(0x0E);
}

/// authenticatorBioEnrollment parameters.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct BioEnrollmentRequest {
    /// 0x01 modality.
    pub modality: Option<u64>,
    /// 0x02 subCommand.
    pub sub_command: Option<BioSubCommand>,
    /// 0x03 subCommandParams, as received (the pinUvAuthParam covers their encoding).
    pub sub_command_params: Option<Value>,
    /// 0x04 pinUvAuthProtocol.
    pub pin_uv_auth_protocol: Option<u64>,
    /// 0x05 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x06 getModality.
    pub get_modality: Option<bool>,
}

impl BioEnrollmentRequest {
    /// The message its pinUvAuthParam authenticates (§6.7.2):
    /// `modality || subCommand || subCommandParams`.
    #[must_use]
    pub fn auth_message(&self) -> Vec<u8> {
        let mut message = Vec::new();
        message.push(u8::try_from(self.modality.unwrap_or(0)).unwrap_or(u8::MAX));
        message.push(self.sub_command.map_or(0, |s| s.0));
        if let Some(params) = &self.sub_command_params {
            params.encode_into(&mut message);
        }
        message
    }

    /// The typed members of subCommandParams.
    ///
    /// # Errors
    /// Wrong types.
    pub fn params(&self) -> Result<BioEnrollmentParams, Error> {
        self.sub_command_params
            .clone()
            .map(BioEnrollmentParams::from_value)
            .transpose()
            .map(Option::unwrap_or_default)
    }
}

impl CborMessage for BioEnrollmentRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with_opt(1, self.modality.map(Value::int))
            .with_opt(2, self.sub_command.map(|s| Value::int(s.0)))
            .with_opt(3, self.sub_command_params.clone())
            .with_opt(4, self.pin_uv_auth_protocol.map(Value::int))
            .with_opt(5, self.pin_uv_auth_param.as_deref().map(Value::bytes))
            .with_opt(6, self.get_modality.map(Value::Bool))
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "bioEnrollment parameters")?;
        let params = map.take(3);
        if params.as_ref().is_some_and(|p| !matches!(p, Value::Map(_))) {
            return Err(Error::UnexpectedType("subCommandParams"));
        }
        Ok(Self {
            modality: opt_u64(map.take(1), "modality")?,
            sub_command: map
                .take(2)
                .map(|v| v.to_num("subCommand").map(BioSubCommand))
                .transpose()?,
            sub_command_params: params,
            pin_uv_auth_protocol: opt_u64(map.take(4), "pinUvAuthProtocol")?,
            pin_uv_auth_param: opt_bytes(map.take(5), "pinUvAuthParam")?,
            get_modality: opt_bool(map.take(6), "getModality")?,
        })
    }
}

/// The typed members of bioEnrollment's subCommandParams.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct BioEnrollmentParams {
    /// 0x01 templateId.
    pub template_id: Option<Vec<u8>>,
    /// 0x02 templateFriendlyName.
    pub template_friendly_name: Option<String>,
    /// 0x03 timeoutMilliseconds.
    pub timeout_milliseconds: Option<u64>,
}

impl BioEnrollmentParams {
    /// CBOR form.
    #[must_use]
    pub fn to_value(&self) -> Value {
        MapBuilder::new()
            .with_opt(1, self.template_id.as_deref().map(Value::bytes))
            .with_opt(2, self.template_friendly_name.as_deref().map(Value::text))
            .with_opt(3, self.timeout_milliseconds.map(Value::int))
            .build()
    }

    /// From CBOR.
    ///
    /// # Errors
    /// Wrong types.
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "subCommandParams")?;
        Ok(Self {
            template_id: opt_bytes(map.take(1), "templateId")?,
            template_friendly_name: map
                .take(2)
                .map(|v| v.into_text("templateFriendlyName"))
                .transpose()?,
            timeout_milliseconds: opt_u64(map.take(3), "timeoutMilliseconds")?,
        })
    }
}

/// One enrolled fingerprint (templateInfo, §6.7.4).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TemplateInfo {
    /// 0x01 templateId.
    pub template_id: Vec<u8>,
    /// 0x02 templateFriendlyName.
    pub friendly_name: Option<String>,
}

impl CborMessage for TemplateInfo {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with(1, Value::bytes(&self.template_id))
            .with_opt(2, self.friendly_name.as_deref().map(Value::text))
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "templateInfo")?;
        Ok(Self {
            template_id: map.require(1, "templateId")?.into_bytes("templateId")?,
            friendly_name: map
                .take(2)
                .map(|v| v.into_text("templateFriendlyName"))
                .transpose()?,
        })
    }
}

/// authenticatorBioEnrollment response.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct BioEnrollmentResponse {
    /// 0x01 modality.
    pub modality: Option<u64>,
    /// 0x02 fingerprintKind.
    pub fingerprint_kind: Option<u64>,
    /// 0x03 maxCaptureSamplesRequiredForEnroll.
    pub max_capture_samples_required_for_enroll: Option<u64>,
    /// 0x04 templateId.
    pub template_id: Option<Vec<u8>>,
    /// 0x05 lastEnrollSampleStatus.
    pub last_enroll_sample_status: Option<SampleStatus>,
    /// 0x06 remainingSamples.
    pub remaining_samples: Option<u64>,
    /// 0x07 templateInfos.
    pub template_infos: Option<Vec<TemplateInfo>>,
    /// 0x08 maxTemplateFriendlyName.
    pub max_template_friendly_name: Option<u64>,
}

impl CborMessage for BioEnrollmentResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .with_opt(1, self.modality.map(Value::int))
            .with_opt(2, self.fingerprint_kind.map(Value::int))
            .with_opt(
                3,
                self.max_capture_samples_required_for_enroll.map(Value::int),
            )
            .with_opt(4, self.template_id.as_deref().map(Value::bytes))
            .with_opt(5, self.last_enroll_sample_status.map(|s| Value::int(s.0)))
            .with_opt(6, self.remaining_samples.map(Value::int))
            .with_opt(
                7,
                self.template_infos
                    .as_ref()
                    .map(|l| Value::Array(l.iter().map(CborMessage::to_value).collect())),
            )
            .with_opt(8, self.max_template_friendly_name.map(Value::int))
            .build()
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let mut map = IntMap::new(value, "bioEnrollment response")?;
        Ok(Self {
            modality: opt_u64(map.take(1), "modality")?,
            fingerprint_kind: opt_u64(map.take(2), "fingerprintKind")?,
            max_capture_samples_required_for_enroll: opt_u64(
                map.take(3),
                "maxCaptureSamplesRequiredForEnroll",
            )?,
            template_id: opt_bytes(map.take(4), "templateId")?,
            last_enroll_sample_status: map
                .take(5)
                .map(|v| v.to_num("lastEnrollSampleStatus").map(SampleStatus))
                .transpose()?,
            remaining_samples: opt_u64(map.take(6), "remainingSamples")?,
            template_infos: map
                .take(7)
                .map(|v| list(v, "templateInfos", TemplateInfo::from_value))
                .transpose()?,
            max_template_friendly_name: opt_u64(map.take(8), "maxTemplateFriendlyName")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_the_auth_message() {
        let request = BioEnrollmentRequest {
            modality: Some(MODALITY_FINGERPRINT),
            sub_command: Some(BioSubCommand::SET_FRIENDLY_NAME),
            sub_command_params: Some(
                BioEnrollmentParams {
                    template_id: Some(alloc::vec![1, 2]),
                    template_friendly_name: Some("thumb".into()),
                    timeout_milliseconds: None,
                }
                .to_value(),
            ),
            pin_uv_auth_protocol: Some(2),
            pin_uv_auth_param: Some(alloc::vec![9; 32]),
            get_modality: None,
        };
        let decoded = BioEnrollmentRequest::from_cbor(&request.to_cbor()).unwrap();
        assert_eq!(decoded, request);
        // 01 05 {1: h'0102', 2: "thumb"}
        assert_eq!(
            request.auth_message(),
            [
                &[0x01, 0x05, 0xA2, 0x01, 0x42, 0x01, 0x02, 0x02, 0x65][..],
                b"thumb"
            ]
            .concat()
        );
        assert_eq!(
            decoded.params().unwrap().template_friendly_name.as_deref(),
            Some("thumb")
        );
        let response = BioEnrollmentResponse {
            template_id: Some(alloc::vec![7]),
            last_enroll_sample_status: Some(SampleStatus::TOO_FAST),
            remaining_samples: Some(3),
            template_infos: Some(alloc::vec![TemplateInfo {
                template_id: alloc::vec![7],
                friendly_name: None,
            }]),
            ..BioEnrollmentResponse::default()
        };
        assert_eq!(
            BioEnrollmentResponse::from_cbor(&response.to_cbor()).unwrap(),
            response
        );
        // subCommandParams must be a map.
        let bad = MapBuilder::new()
            .with(2, Value::int(1))
            .with(3, Value::int(1))
            .build();
        assert!(BioEnrollmentRequest::from_value(bad).is_err());
    }
}
