//! The client against the software authenticator's optional features that have no
//! module of their own here: enterprise attestation through `Config`, the persistent
//! pcmr token through `CredentialManagement`.

use ctap_device::CallOptions;
use ctap_types::StatusCode;
use ctap_virtual::{EnterpriseAttestation, Features};
use ctap2_proto::{Algorithm, Permissions, RpEntity, UserEntity};

use crate::{
    AttestationType, ClientPin, Config, CredentialManagement, Ctap2, make_credential_request,
};

fn request(rp: &str, ea: Option<u64>) -> ctap2_proto::MakeCredentialRequest {
    let mut request = make_credential_request(
        [7; 32],
        RpEntity {
            icon: None,
            id: rp.into(),
            name: None,
        },
        UserEntity {
            icon: None,
            id: vec![1],
            name: None,
            display_name: None,
        },
        &[Algorithm::ES256],
    );
    request.enterprise_attestation = ea;
    request
}

#[test]
fn config_enables_enterprise_attestation_and_the_client_verifies_it() {
    let (authenticator, device) = ctap_virtual::testing::connect().unwrap();
    authenticator.with_device(|d| {
        d.set_features(
            Features::default().with_enterprise(Some(EnterpriseAttestation::new(vec![
                "corp.example".into(),
            ]))),
        );
    });
    let mut ctap = Ctap2::new(device).unwrap();
    assert_eq!(ctap.info().option("ep"), Some(false));
    let error = ctap
        .make_credential(&request("corp.example", Some(1)), CallOptions::default())
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::INVALID_PARAMETER));
    Config::new(&mut ctap, None)
        .unwrap()
        .enable_enterprise_attestation()
        .unwrap();
    assert_eq!(ctap.get_info().unwrap().option("ep"), Some(true));
    // Vendor-facilitated for the listed RP: the enterprise certificate, epAtt.
    let attestation = ctap
        .make_credential(&request("corp.example", Some(1)), CallOptions::default())
        .unwrap();
    assert_eq!(attestation.response.ep_att, Some(true));
    assert_eq!(
        attestation.verify("corp.example", &[7; 32]).unwrap(),
        AttestationType::Basic
    );
    // Platform-managed for any RP; vendor-facilitated for another RP: regular.
    let managed = ctap
        .make_credential(&request("other.example", Some(2)), CallOptions::default())
        .unwrap();
    assert_eq!(
        managed.verify("other.example", &[7; 32]).unwrap(),
        AttestationType::Basic
    );
    let regular = ctap
        .make_credential(&request("other.example", Some(1)), CallOptions::default())
        .unwrap();
    assert_eq!(regular.response.ep_att, None);
    assert_eq!(
        regular.verify("other.example", &[7; 32]).unwrap(),
        AttestationType::SelfAttestation
    );
}

#[test]
fn the_persistent_pcmr_token_reads_credentials_in_a_later_session() {
    let (authenticator, device) = ctap_virtual::testing::connect().unwrap();
    let mut ctap = Ctap2::new(device).unwrap();
    ClientPin::new(&mut ctap).unwrap().set_pin("1234").unwrap();
    let token = ClientPin::new(&mut ctap)
        .unwrap()
        .get_pin_token("1234", Permissions::PCMR, None)
        .unwrap();
    // Unplug and plug in again: the pcmr token still reads.
    authenticator.with_device(|d| d.power_up(std::time::Instant::now()));
    let mut ctap = Ctap2::new(authenticator.open_device().unwrap()).unwrap();
    let mut credman = CredentialManagement::new(&mut ctap, token).unwrap();
    let metadata = credman.get_metadata().unwrap();
    assert_eq!(metadata.existing, 0);
}
