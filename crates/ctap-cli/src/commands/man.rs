//! `ctap man [COMMAND]...` and `ctap man --dir DIR`: the man pages, ctap(1) and one per
//! subcommand (ctap-pin(1), ctap-cred-make(1), ...), from the same definition as
//! `--help`, each with ENVIRONMENT, EXIT STATUS, EXAMPLES and SEE ALSO sections.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;

use crate::error::{Failure, Outcome, usage};

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The command whose page to print, e.g. `pin` or `cred make` (default: ctap(1)).
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    command: Vec<String>,
    /// Write every page (ctap.1, ctap-pin.1, ctap-cred-make.1, ...) into DIR, creating
    /// it if needed, e.g. ~/.local/share/man/man1.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints a page (or writes them all) of the command line `definition` (the whole
/// `ctap`).
pub(crate) fn run(args: &ManArgs, definition: clap::Command) -> Outcome {
    let mut definition = definition.disable_help_subcommand(true);
    definition.build();
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
        let mut written = 0usize;
        write_all(&definition, dir, &mut written)?;
        eprintln!("{written} man pages in {}", dir.display());
        return Ok(());
    }
    let mut command = &definition;
    for name in &args.command {
        command = command
            .get_subcommands()
            .find(|sub| sub.get_name() == name && !sub.is_hide_set())
            .ok_or_else(|| {
                usage(format!(
                    "`{}` has no subcommand {name:?}; `{} --help` lists them",
                    display_name(command),
                    display_name(command)
                ))
            })?;
    }
    // Into memory first: a closed stdout is then one write error, not a panic.
    let mut page = Vec::new();
    render(command, &mut page)?;
    std::io::stdout().write_all(&page)?;
    Ok(())
}

/// Writes the page of `command` and of each of its subcommands into `dir`.
fn write_all(command: &clap::Command, dir: &std::path::Path, written: &mut usize) -> Outcome {
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_all(sub, dir, written)?;
    }
    let path = dir.join(format!("{}.1", display_name(command)));
    let mut page = Vec::new();
    render(command, &mut page)?;
    std::fs::write(&path, page)
        .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))?;
    *written += 1;
    Ok(())
}

/// `ctap-cred-make` for `ctap cred make` (clap sets it when the command is built).
fn display_name(command: &clap::Command) -> String {
    command
        .get_display_name()
        .unwrap_or_else(|| command.get_name())
        .to_owned()
}

/// One page: clap_mangen's sections, then ENVIRONMENT, EXIT STATUS, EXAMPLES, SEE ALSO.
fn render(command: &clap::Command, out: &mut Vec<u8>) -> Outcome {
    let name = display_name(command);
    let man = clap_mangen::Man::new(command.clone())
        .title(name.clone())
        .source(format!("ctap {}", env!("CARGO_PKG_VERSION")));
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if command.get_arguments().any(|arg| !arg.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if command.get_subcommands().any(|sub| !sub.is_hide_set()) {
        man.render_subcommands_section(out)?;
    }
    out.extend_from_slice(ENVIRONMENT.as_bytes());
    out.extend_from_slice(EXIT_STATUS.as_bytes());
    let examples = examples(&name);
    if !examples.is_empty() {
        out.extend_from_slice(b".SH EXAMPLES\n");
        for (what, line) in examples {
            let _ = write!(out, ".TP\n{}\n.B {}\n", roff_text(what), roff_text(line));
        }
    }
    let mut see_also: Vec<String> = Vec::new();
    if name != "ctap" {
        see_also.push("ctap(1)".to_owned());
    }
    see_also.extend(
        command
            .get_subcommands()
            .filter(|sub| !sub.is_hide_set())
            .map(|sub| format!("{}(1)", display_name(sub))),
    );
    see_also.extend(["fido2-token(1)", "fido2-cred(1)", "fido2-assert(1)"].map(str::to_owned));
    let _ = write!(out, ".SH \"SEE ALSO\"\n{}\n", see_also.join(", "));
    Ok(())
}

/// Text for a roff line: a leading `.` or `'` would be a request, `\` an escape.
fn roff_text(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

const ENVIRONMENT: &str = r".SH ENVIRONMENT
.TP
.B CTAP_PIN
The PIN, for commands that need one (instead of a prompt; not visible in the process list).
.TP
.B CTAP_NEW_PIN
The new PIN of \fBpin set\fR and \fBpin change\fR.
.TP
.B CTAP_VIRTUAL_STATE
A file in which \fB\-\-device virtual\fR keeps its PIN, credentials and counters across runs.
.TP
.B RUST_LOG
The trace filter, overriding \fB\-v\fR (env_logger syntax).
";

const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
.B 0
Success; also when the reader of standard output went away early.
.TP
.B 1
The device or the input failed: an error status (named, with the next step), a time\-out, no key, a signature that does not verify.
.TP
.B 2
Usage: unknown or malformed options, values out of range, a misspelt device, an option that does not apply, what the key would refuse for a reason known before sending.
.TP
.B 130
Interrupted by Ctrl\-C.
"#;

/// Example command lines for the page `name` (what it does, the line).
fn examples(name: &str) -> &'static [(&'static str, &'static str)] {
    match name {
        "ctap" => &[
            (
                "The keys attached, and why one cannot be used:",
                "ctap list",
            ),
            (
                "The built-in software authenticator's getInfo:",
                "ctap --device virtual info",
            ),
            (
                "A discoverable credential with the PIN from the environment:",
                "CTAP_PIN=123456 ctap cred make --rp example.com --resident",
            ),
        ],
        "ctap-info" => &[("The one attached key, as JSON:", "ctap --json info")],
        "ctap-list" => &[("Every FIDO device, as JSON:", "ctap --json list")],
        "ctap-ping" => &[(
            "A hundred 1 KiB pings:",
            "ctap ping --size 1024 --count 100",
        )],
        "ctap-select" => &[(
            "Wait for a touch on any of several keys:",
            "ctap --device touch select",
        )],
        "ctap-raw" => &[(
            "authenticatorGetInfo by hand:",
            "ctap raw --cmd cbor --data 04",
        )],
        "ctap-frame-encode" => &[(
            "The reports of a getInfo request:",
            "ctap frame encode --cid 01020304 --cmd cbor --payload 04",
        )],
        "ctap-frame-decode" => &[(
            "Decode a capture, one report in hex a line:",
            "ctap frame decode capture.txt",
        )],
        "ctap-serve" => &[
            (
                "A software key over UDP that keeps its state:",
                "ctap serve --udp 127.0.0.1:8111 --state key.state",
            ),
            ("Use it:", "ctap --device udp:127.0.0.1:8111 info"),
        ],
        "ctap-pin" | "ctap-pin-status" => {
            &[("Retries left and the minimum length:", "ctap pin status")]
        }
        "ctap-pin-set" => &[(
            "Set the first PIN (asked twice, without echo):",
            "ctap pin set",
        )],
        "ctap-pin-change" => &[(
            "Change it, both PINs from a script:",
            "printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | ctap pin change --pin-stdin --new-pin-stdin",
        )],
        "ctap-pin-verify" => &[(
            "Check a PIN kept in a file:",
            "ctap pin verify --pin-file ~/.config/ctap/pin",
        )],
        "ctap-reset" => &[("Within 10 s of plugging the key in:", "ctap reset --yes")],
        "ctap-cred" | "ctap-cred-list" => &[("The discoverable credentials:", "ctap cred list")],
        "ctap-cred-make" => &[
            (
                "A discoverable credential for example.com:",
                "ctap cred make --rp example.com --resident --user-name alice --display-name 'Alice A.'",
            ),
            (
                "As fido2-cred -M, for libfido2 scripts:",
                "ctap cred make --fido2-tools < cred.in > cred.out",
            ),
        ],
        "ctap-cred-assert" => &[
            (
                "Sign in with a credential made before, and verify:",
                "ctap cred assert --rp example.com --cred-id ID --public-key KEY",
            ),
            (
                "Whether the key holds it, without a touch:",
                "ctap cred assert --rp example.com --cred-id ID --silent",
            ),
        ],
        "ctap-cred-delete" => &[("Delete one (asks first):", "ctap cred delete --cred-id ID")],
        "ctap-cred-update" => &[(
            "A new display name:",
            "ctap cred update --cred-id ID --display-name 'Alice B.'",
        )],
        "ctap-cred-verify" => &[
            (
                "Check fido2-cred -M output, print the PEM key:",
                "ctap cred verify < cred.out > cred.key",
            ),
            (
                "Check fido2-assert -G output:",
                "ctap cred verify --assertion --key key.pem < assert.out",
            ),
        ],
        "ctap-bio" | "ctap-bio-list" => &[("The enrolled fingerprints:", "ctap bio list")],
        "ctap-bio-enroll" => &[(
            "Enroll a finger and name it (touch the sensor until it says enrolled):",
            "ctap bio enroll --name 'left thumb'",
        )],
        "ctap-bio-rename" => &[(
            "Rename one (`bio list` shows the ids):",
            "ctap bio rename --template-id ID --name 'right index'",
        )],
        "ctap-bio-delete" => &[(
            "Delete one (asks first):",
            "ctap bio delete --template-id ID",
        )],
        "ctap-bio-info" => &[(
            "Whether the key has a sensor, and its kind:",
            "ctap bio info",
        )],
        "ctap-config" | "ctap-config-always-uv" => &[(
            "User verification for everything:",
            "ctap config always-uv on",
        )],
        "ctap-config-min-pin-length" => &[(
            "At least 6 characters from now on:",
            "ctap config min-pin-length 6",
        )],
        "ctap-u2f" | "ctap-u2f-register" => {
            &[("A U2F registration:", "ctap u2f register --rp example.com")]
        }
        "ctap-u2f-authenticate" => &[(
            "Sign with it:",
            "ctap u2f authenticate --rp example.com --cred-id KH --public-key KEY",
        )],
        "ctap-completions" => &[(
            "Bash completion for this user:",
            "ctap completions bash > ~/.local/share/bash-completion/completions/ctap",
        )],
        "ctap-man" => &[(
            "Every page, for this user:",
            "ctap man --dir ~/.local/share/man/man1",
        )],
        _ => &[],
    }
}
