//! Interchange with libfido2's tools on a key (issue 25), both ways, through the hidraw
//! harness (the software authenticator as /dev/hidraw0 in a private mount namespace;
//! crates/hidraw-harness): a credential fido2-cred -M makes is asserted by `ctap`, and
//! one `ctap` makes is asserted by fido2-assert -G; each assertion checked by the other
//! side's verifier. Skips (fatally under CI or HIDRAW_HARNESS_REQUIRED) without root,
//! mount namespaces or fido2-tools.

mod support;

use std::path::PathBuf;
use std::process::Command;

/// The harness's "cannot run here" exit status.
const SKIPPED: i32 = 77;

/// The hidraw-harness runner, built once (it belongs to another package, so cargo does
/// not build it for these tests), next to the `ctap` binary.
///
/// Built with `--workspace --examples`: the features `cargo test --workspace` (the
/// README's test command, and CI's) resolves for it, so under that command the build is
/// fresh (`-p hidraw-harness` alone resolved other features for the crates below it and
/// built the tree, the optimised RustCrypto crates too, a second time).
fn harness() -> PathBuf {
    let ctap = assert_cmd::cargo::cargo_bin("ctap");
    let profile = ctap
        .parent()
        .and_then(|dir| dir.file_name())
        .and_then(|name| name.to_str())
        .map_or("dev", |name| if name == "debug" { "dev" } else { name })
        .to_owned();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--workspace",
            "--examples",
            "--bin",
            "hidraw-harness",
            "--profile",
            &profile,
        ])
        .arg("--manifest-path")
        .arg(manifest)
        .status()
        .unwrap();
    assert!(status.success(), "cargo build --bin hidraw-harness failed");
    ctap.with_file_name("hidraw-harness")
}

/// Both ways in one harness run (one key, one authenticator state).
const SCRIPT: &str = r#"set -e
cdh=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
dir=$(mktemp -d)
# 1. fido2-cred makes, ctap checks and asserts, fido2-assert verifies.
printf '%s\nexample.com\nalice\nYWxpY2U=\n' "$cdh" > "$dir/in"
fido2-cred -M -i "$dir/in" -o "$dir/cred" /dev/hidraw0
"$CTAP" cred verify < "$dir/cred" > "$dir/verified"
sed -n '2,$p' "$dir/verified" > "$dir/key.pem"
id=$(sed -n 5p "$dir/cred")
printf '%s\nexample.com\n%s\n' "$cdh" "$id" \
    | "$CTAP" --device /dev/hidraw0 cred assert --fido2-tools > "$dir/assert"
fido2-assert -V -i "$dir/assert" "$dir/key.pem" es256
echo "1 ok"
# 2. ctap makes, fido2-cred verifies, fido2-assert asserts, ctap verifies.
"$CTAP" --device /dev/hidraw0 cred make --fido2-tools < "$dir/in" > "$dir/cred2"
fido2-cred -V -i "$dir/cred2" -o "$dir/verified2"
sed -n '2,$p' "$dir/verified2" > "$dir/key2.pem"
id2=$(sed -n 5p "$dir/cred2")
printf '%s\nexample.com\n%s\n' "$cdh" "$id2" > "$dir/in2"
fido2-assert -G -i "$dir/in2" -o "$dir/assert2" /dev/hidraw0
"$CTAP" cred verify --assertion --key "$dir/key2.pem" < "$dir/assert2"
echo "2 ok"
# 3. U2F: fido2-cred -M -u registers, ctap checks it and authenticates with it.
fido2-cred -M -u -i "$dir/in" -o "$dir/cred3" /dev/hidraw0
"$CTAP" cred verify < "$dir/cred3" > "$dir/verified3"
sed -n '2,$p' "$dir/verified3" > "$dir/key3.pem"
id3=$(sed -n 5p "$dir/cred3")
printf '%s\nexample.com\n%s\n' "$cdh" "$id3" \
    | "$CTAP" --device /dev/hidraw0 u2f authenticate --fido2-tools > "$dir/assert3"
fido2-assert -V -i "$dir/assert3" "$dir/key3.pem" es256
echo "3 ok"
# 4. hmac-secret (fido2-cred -M -h, fido2-assert -G -h): ctap derives the same secret
# from the same credential and salt, in the same output format.
fido2-cred -M -h -i "$dir/in" -o "$dir/cred4" /dev/hidraw0
id4=$(sed -n 5p "$dir/cred4")
salt=BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=
printf '%s\nexample.com\n%s\n%s\n' "$cdh" "$id4" "$salt" > "$dir/in4"
fido2-assert -G -h -i "$dir/in4" -o "$dir/assert4" /dev/hidraw0
"$CTAP" --device /dev/hidraw0 cred assert --fido2-tools --hmac-secret < "$dir/in4" > "$dir/assert5"
test "$(sed -n 5p "$dir/assert4")" = "$(sed -n 5p "$dir/assert5")"
test -n "$(sed -n 5p "$dir/assert5")"
echo "4 ok"
rm -r "$dir"
"#;

#[test]
fn fido2_tools_and_ctap_assert_each_others_credentials_on_a_key() {
    for tool in ["fido2-cred", "fido2-assert"] {
        if support::on_path(tool).is_none() {
            support::skip(&format!(
                "no {tool} on PATH (libfido2's tools: apt-get install fido2-tools)"
            ));
            return;
        }
    }
    let output = Command::new(harness())
        .args(["--key", "0", "--", "sh", "-c", SCRIPT])
        .env("CTAP", assert_cmd::cargo::cargo_bin("ctap"))
        .env_remove("CTAP_PIN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(SKIPPED) {
        let why = stderr
            .lines()
            .find(|line| line.contains("SKIPPED"))
            .unwrap_or("hidraw-harness: SKIPPED");
        support::skip(why);
        return;
    }
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
        output.status.code()
    );
    assert!(
        stdout.contains("1 ok") && stdout.contains("2 ok") && stdout.contains("4 ok"),
        "{stdout}"
    );
    assert!(stdout.contains("signature         verified"), "{stdout}");
}
