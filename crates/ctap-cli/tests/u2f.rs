//! `ctap u2f register|authenticate` (CTAP1/U2F over CTAPHID_MSG) against the software
//! authenticator, in-process and through `ctap serve`.

mod support;

use support::Target;

#[test]
fn register_then_authenticate_verifies_and_ctap2_finds_the_credential() {
    for target in [Target::virtual_device(), Target::udp(&[])] {
        let registered = target.json(&["u2f", "register", "--rp", "example.com"]);
        let key_handle = registered["credential_id"].as_str().unwrap();
        let public_key = registered["public_key"].as_str().unwrap();
        // The attestation certificate is a DER SEQUENCE, cut from the answer by its length.
        assert!(
            registered["certificate"]
                .as_str()
                .unwrap()
                .starts_with("3082")
        );
        let signed = target.json(&[
            "u2f",
            "authenticate",
            "--rp",
            "example.com",
            "--cred-id",
            key_handle,
            "--public-key",
            public_key,
        ]);
        assert_eq!(signed["verified"], true, "{signed}");
        assert_eq!(signed["user_present"], true);
        // Check-only (U2F section 5.1): this key's handle for this application...
        let checked = target.json(&[
            "u2f",
            "authenticate",
            "--rp",
            "example.com",
            "--cred-id",
            key_handle,
            "--check-only",
        ]);
        assert_eq!(checked["known"], true);
        // ...but not for another one.
        let error = target.fails(
            &[
                "u2f",
                "authenticate",
                "--rp",
                "other.com",
                "--cred-id",
                key_handle,
                "--check-only",
            ],
            1,
        );
        assert!(error.contains("not this key's"), "{error}");
        // CTAP 2.1 section 10: a U2F registration is a credential for CTAP2 too.
        let asserted = target.json(&[
            "cred",
            "assert",
            "--rp",
            "example.com",
            "--cred-id",
            key_handle,
            "--public-key",
            public_key,
        ]);
        assert_eq!(asserted["assertions"][0]["verified"], true, "{asserted}");
        // Someone else's key does not verify the signature.
        let other = target.json(&["u2f", "register", "--rp", "example.com"]);
        let error = target.fails(
            &[
                "u2f",
                "authenticate",
                "--rp",
                "example.com",
                "--cred-id",
                key_handle,
                "--public-key",
                other["public_key"].as_str().unwrap(),
            ],
            1,
        );
        assert!(error.contains("did not verify"), "{error}");
    }
}

/// U2F has no keep-alive: the key answers SW_CONDITIONS_NOT_SATISFIED until touched
/// and the request is asked again; an authenticator that never gets its touch (`serve
/// --deny`) ends at --timeout with what it was waiting for.
#[test]
fn a_touch_never_given_ends_at_the_timeout() {
    let target = Target::udp(&["--deny"]);
    let error = target.fails(&["--timeout", "1", "u2f", "register", "--rp", "a.com"], 1);
    assert!(error.contains("gave up after 1 s (--timeout)"), "{error}");
    assert!(error.contains("waiting for a touch"), "{error}");
}
