//! The help layout (issue 25): a command's own options first, the global options under
//! their own heading, and only the options that apply to the command.

use assert_cmd::Command;

fn help(args: &[&str]) -> String {
    let output = Command::cargo_bin("ctap")
        .unwrap()
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// `text` split at the "Global options:" heading: the command's own part, the global.
fn parts(text: &str) -> (&str, &str) {
    let at = text
        .find("Global options:")
        .unwrap_or_else(|| panic!("no global options heading in {text}"));
    text.split_at(at)
}

/// Whether `text` declares `option` (a help line that starts with it, not a mention).
fn offers(text: &str, option: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with(option) || line.starts_with(&format!("-d, {option}"))
    })
}

#[test]
fn own_options_come_first_and_global_ones_under_their_own_heading() {
    let text = help(&["cred", "make"]);
    let (own, global) = parts(&text);
    assert!(own.contains("Options:"), "{text}");
    assert!(
        offers(own, "--rp <ID>") && offers(own, "--resident"),
        "{own}"
    );
    assert!(!offers(own, "--device"), "{own}");
    assert!(
        offers(global, "--device <DEVICE>") && offers(global, "--timeout"),
        "{global}"
    );
    assert!(!offers(global, "--rp"), "{global}");
}

#[test]
fn commands_that_talk_to_no_device_do_not_offer_the_device_options() {
    for command in [
        &["list"][..],
        &["frame", "decode"],
        &["completions"],
        &["man"],
    ] {
        let text = help(command);
        for option in ["--device", "--bind", "--timeout", "--touch-delay"] {
            assert!(
                !offers(&text, option),
                "{command:?} offers {option}: {text}"
            );
        }
        assert!(text.contains("--json"), "{command:?}: {text}");
    }
    // serve is the device: no --device/--bind/--timeout, but its touch delay.
    let text = help(&["serve"]);
    for option in ["--device", "--bind", "--timeout"] {
        assert!(!offers(&text, option), "serve offers {option}: {text}");
    }
    assert!(offers(&text, "--touch-delay"), "{text}");
    // A command that talks to a device offers them all.
    let text = help(&["info"]);
    for option in ["--device", "--bind", "--timeout", "--touch-delay"] {
        assert!(offers(&text, option), "info lacks {option}: {text}");
    }
}
