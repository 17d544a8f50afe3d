//! The client's attestation and assertion verification for every credential algorithm
//! the software authenticator makes (issue 23): ES256, EdDSA, ES384, ES512, ES256K,
//! RS256, ML-DSA-44/65/87. Self attestation (signed with the credential key, so the
//! algorithm's own verifier runs), batch attestation (P-256 certificate over a
//! credential of each algorithm), and assertions; a changed client data hash fails.

use std::time::Duration;

use ctap_device::CallOptions;
use ctap_virtual::{Algorithms, Attestation as VirtualAttestation, Config, VirtualAuthenticator};
use ctap2_client::proto::{Algorithm, RpEntity, UserEntity};
use ctap2_client::{AttestationType, Ctap2, get_assertion_request, make_credential_request};

const RP: &str = "example.com";

#[test]
fn every_algorithm_attests_and_asserts_and_the_client_verifies_it() {
    for (attestation, expected) in [
        (
            VirtualAttestation::SelfAttestation,
            AttestationType::SelfAttestation,
        ),
        (VirtualAttestation::Batch, AttestationType::Basic),
    ] {
        let authenticator = VirtualAuthenticator::new(
            Config::default()
                .with_rng_seed(Some([4; 32]))
                .with_attestation(attestation),
        );
        let mut ctap = Ctap2::new(authenticator.open_device().unwrap())
            .unwrap()
            .with_timeout(Some(Duration::from_secs(30)));
        let offered: Vec<Algorithm> = ctap
            .info()
            .algorithms
            .iter()
            .flatten()
            .map(|p| p.alg)
            .collect();
        assert_eq!(offered, Algorithms::ALL.as_slice());
        for &alg in Algorithms::ALL.as_slice() {
            let rp = RpEntity {
                icon: None,
                id: RP.into(),
                name: None,
            };
            let user = UserEntity {
                icon: None,
                id: vec![1; 8],
                name: None,
                display_name: None,
            };
            let request = make_credential_request([1; 32], rp, user, &[alg]);
            let made = ctap
                .make_credential(&request, CallOptions::default())
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(made.verify(RP, &[1; 32]).unwrap(), expected, "{alg:?}");
            assert!(made.verify(RP, &[2; 32]).is_err(), "{alg:?}");
            let credential = made.credential().unwrap().clone();
            assert_eq!(credential.public_key.algorithm(), Some(alg));
            let request =
                get_assertion_request(RP, [3; 32], std::slice::from_ref(&credential.credential_id));
            let assertion = ctap
                .get_assertion(&request, CallOptions::default())
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assertion
                .verify(RP, &[3; 32], &credential.public_key)
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert!(
                assertion
                    .verify(RP, &[4; 32], &credential.public_key)
                    .is_err()
            );
        }
    }
}
