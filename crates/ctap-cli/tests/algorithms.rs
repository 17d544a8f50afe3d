//! The credential algorithms from the command line (issue 23): `cred make --alg` for
//! each of the nine against `--device virtual`, its attestation and an assertion
//! verified by the CLI; `serve --algorithms` choosing what a served authenticator
//! offers (getInfo, and what makeCredential accepts); a bad list refused.

mod support;

use support::Target;

const ALGORITHMS: [(&str, i64); 9] = [
    ("es256", -7),
    ("eddsa", -8),
    ("es384", -35),
    ("es512", -36),
    ("es256k", -47),
    ("rs256", -257),
    ("ml-dsa-44", -48),
    ("ml-dsa-65", -49),
    ("ml-dsa-87", -50),
];

#[test]
fn cred_make_and_assert_with_every_algorithm() {
    let target = Target::virtual_device();
    for (alg, _) in ALGORITHMS {
        let made = target.json(&["cred", "make", "--rp", "example.com", "--alg", alg]);
        assert_eq!(made["algorithm"], alg);
        assert_eq!(made["attestation"]["format"], "packed");
        assert_eq!(made["attestation"]["verified"], true, "{alg}: {made}");
        let id = made["credential_id"].as_str().unwrap();
        let key = made["public_key"].as_str().unwrap();
        let asserted = target.json(&[
            "cred",
            "assert",
            "--rp",
            "example.com",
            "--cred-id",
            id,
            "--public-key",
            key,
        ]);
        assert_eq!(
            asserted["assertions"][0]["verified"], true,
            "{alg}: {asserted}"
        );
    }
}

#[test]
fn serve_offers_the_algorithms_it_is_given() {
    let target = Target::udp(&["--algorithms", "rs256,es384"]);
    let info = target.json(&["info"]);
    assert_eq!(
        info["get_info"]["algorithms"],
        serde_json::json!([
            {"alg": -257, "type": "public-key"},
            {"alg": -35, "type": "public-key"}
        ])
    );
    let made = target.json(&["cred", "make", "--rp", "example.com", "--alg", "es384"]);
    assert_eq!(made["algorithm"], "es384");
    assert_eq!(made["attestation"]["verified"], true, "{made}");
    // Implemented, but not offered by this one.
    let error = target.fails(
        &["cred", "make", "--rp", "example.com", "--alg", "es256"],
        1,
    );
    assert!(error.contains("UNSUPPORTED_ALGORITHM"), "{error}");

    // By default a served authenticator offers all nine, in order.
    let all = Target::udp(&[]);
    let listed: Vec<i64> = all.json(&["info"])["get_info"]["algorithms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alg"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, ALGORITHMS.map(|(_, id)| id));
}

#[test]
fn a_bad_algorithm_list_is_refused_with_its_reason() {
    let output = assert_cmd::Command::cargo_bin("ctap")
        .unwrap()
        .args(["serve", "--udp", "127.0.0.1:0", "--algorithms", "es256,rs1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rs1"), "{stderr}");
    assert!(
        stderr.contains("not one this authenticator implements"),
        "{stderr}"
    );
}
