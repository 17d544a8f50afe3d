//! Man pages for every subcommand (issue 25): ctap(1), ctap-pin(1), ctap-cred-make(1),
//! ... with options, ENVIRONMENT, EXIT STATUS, EXAMPLES; `ctap man --dir` creates the
//! folder, so the README's install line works in a fresh home.

use assert_cmd::Command;

fn ctap(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("ctap")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_subcommand_has_a_page_written_into_a_fresh_folder() {
    let home = std::env::temp_dir().join(format!("ctap-cli-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let dir = home.join(".local/share/man/man1");
    let output = ctap(&["man", "--dir", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    for (page, option) in [
        ("ctap.1", "\\-\\-device"),
        ("ctap-pin-set.1", "\\-\\-new\\-pin\\-stdin"),
        ("ctap-cred-make.1", "\\-\\-rp"),
        ("ctap-cred-verify.1", "\\-\\-assertion"),
        ("ctap-config-always-uv.1", "STATE"),
        ("ctap-bio-enroll.1", "\\-\\-name"),
        ("ctap-bio-delete.1", "\\-\\-template\\-id"),
        ("ctap-u2f-register.1", "\\-\\-rp"),
        ("ctap-serve.1", "\\-\\-udp"),
        ("ctap-man.1", "\\-\\-dir"),
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        let name = page.trim_end_matches(".1");
        assert!(text.contains(&format!(".TH {name} 1")), "{page}: {text}");
        assert!(text.contains(option), "{page} lacks {option}: {text}");
        for section in [".SH ENVIRONMENT", ".SH \"EXIT STATUS\"", ".SH \"SEE ALSO\""] {
            assert!(text.contains(section), "{page} lacks {section}");
        }
        assert!(text.contains("CTAP_PIN"), "{page}");
    }
    let make = std::fs::read_to_string(dir.join("ctap-cred-make.1")).unwrap();
    assert!(make.contains(".SH EXAMPLES"), "{make}");
    assert!(make.contains("\\-\\-fido2\\-tools"), "{make}");
    let count = std::fs::read_dir(&dir).unwrap().count();
    assert!(count >= 30, "{count} pages");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn one_page_by_command_name() {
    let output = ctap(&["man", "pin", "change"]);
    assert!(output.status.success());
    let page = String::from_utf8(output.stdout).unwrap();
    assert!(page.contains(".TH ctap-pin-change 1"), "{page}");
    let output = ctap(&["man", "nosuch"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("has no subcommand \"nosuch\""), "{stderr}");
}
