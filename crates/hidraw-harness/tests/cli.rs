//! The `ctap` CLI through the real hidapi backend, against the software authenticator
//! as `/dev/hidrawN` (see the crate README). Each test skips with a message where the
//! harness cannot run (not root, no mount namespaces, no C compiler).
#![cfg(target_os = "linux")]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{assert_success, ctap_bin, harness, json, listed, run, stderr, stdout};

/// The `ctap` binary, or `None` (after saying why) where the harness cannot run: checked
/// first, so that an unprivileged run skips without building anything.
fn ctap_or_skip() -> Option<&'static Path> {
    support::available().then(ctap_bin)
}

/// `ctap ARGS` under the harness with `devices`.
fn ctap(devices: &[&str], args: &[&str]) -> Option<std::process::Output> {
    let mut command = vec![ctap_or_skip()?.as_os_str()];
    command.extend(args.iter().map(std::ffi::OsStr::new));
    run(harness(devices, &command))
}

/// A shell script under the harness (for several commands in one namespace).
fn script(devices: &[&str], script: &str) -> Option<std::process::Output> {
    let bin = ctap_or_skip()?;
    let mut runner = harness(devices, &["sh", "-c", script]);
    runner.env("CTAP", bin);
    run(runner)
}

#[test]
fn one_key_is_listed_with_what_sysfs_says() {
    let Some(output) = ctap(&["--key", "0"], &["list", "--json"]) else {
        return;
    };
    assert_success(&output);
    let devices = listed(&json(&output));
    assert_eq!(devices.len(), 1, "{devices:?}");
    let key = &devices[0];
    assert_eq!(key["path"], "/dev/hidraw0");
    assert_eq!(key["vendor_id"], 0x1209);
    assert_eq!(key["product_id"], 0xf1d0);
    assert_eq!(key["manufacturer"], "ctap-rs");
    assert_eq!(key["product"], "virtual key");
    assert_eq!(key["serial_number"], "HARNESS0000");
    assert_eq!(key["input_report_size"], 64);
    assert_eq!(key["output_report_size"], 64);
    assert_eq!(key["usable"], true);

    // Human output too, and the command without --device picks the one key.
    let output = ctap(&["--key", "0"], &["list"]).expect("ran once already");
    assert_success(&output);
    assert!(
        stdout(&output).contains("/dev/hidraw0  1209:f1d0  ctap-rs  virtual key  serial HARNESS0000  reports 64/64 bytes in/out"),
        "{}",
        stdout(&output)
    );
    let output = ctap(&["--key", "0"], &["--json", "wink"]).expect("ran once already");
    assert_success(&output);
    assert_eq!(json(&output)["winked"], true);
}

#[test]
fn info_ping_wink_and_select_by_path() {
    let devices = ["--key", "0"];
    let Some(output) = ctap(&devices, &["--device", "/dev/hidraw0", "--json", "info"]) else {
        return;
    };
    assert_success(&output);
    let info = json(&output);
    assert_eq!(info["device"], "/dev/hidraw0");
    assert_eq!(info["protocol_version"], 2);
    assert_eq!(info["get_info"]["maxMsgSize"], 7609);
    let versions = info["get_info"]["versions"].to_string();
    assert!(versions.contains("FIDO_2_1"), "{versions}");

    // The longest message: 129 reports each way through write()/read() of the node.
    let output = ctap(
        &devices,
        &[
            "--device",
            "/dev/hidraw0",
            "--json",
            "ping",
            "--size",
            "7609",
            "--count",
            "3",
        ],
    )
    .expect("ran once already");
    assert_success(&output);
    let ping = json(&output);
    assert_eq!(ping["size"], 7609);
    assert_eq!(ping["count"], 3);

    let output = ctap(&devices, &["--device", "/dev/hidraw0", "--json", "wink"]).expect("ran");
    assert_success(&output);
    assert_eq!(json(&output)["winked"], true);

    // A touch after 200 ms: keep-alives (UPNEEDED) come through the node first.
    let output = ctap(
        &["--key", "0,touch=200"],
        &["--device", "/dev/hidraw0", "--json", "select"],
    )
    .expect("ran");
    assert_success(&output);
    let select = json(&output);
    assert_eq!(select["selected"], true);
    assert_eq!(select["keepalive"], serde_json::json!(["UPNEEDED"]));
}

#[test]
fn two_keys_are_both_listed_and_each_reachable() {
    let devices = ["--key", "0", "--key", "1,serial=SECOND"];
    let Some(output) = ctap(&devices, &["--json", "list"]) else {
        return;
    };
    assert_success(&output);
    let listed = listed(&json(&output));
    let paths: Vec<_> = listed.iter().map(|d| d["path"].clone()).collect();
    assert_eq!(paths, ["/dev/hidraw0", "/dev/hidraw1"]);
    assert_eq!(listed[1]["serial_number"], "SECOND");
    assert!(listed.iter().all(|d| d["usable"] == true), "{listed:?}");

    let output = ctap(&devices, &["--device", "/dev/hidraw1", "--json", "info"]).expect("ran");
    assert_success(&output);
    assert_eq!(json(&output)["device"], "/dev/hidraw1");

    // Without --device the tool must not guess.
    let output = ctap(&devices, &["info"]).expect("ran");
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("2 FIDO security keys found"), "{text}");
    assert!(
        text.contains("/dev/hidraw0") && text.contains("/dev/hidraw1"),
        "{text}"
    );
}

#[test]
fn a_mouse_beside_the_key_is_not_listed() {
    let Some(output) = ctap(
        &["--mouse", "0", "--key", "1", "--mouse", "2"],
        &["--json", "list"],
    ) else {
        return;
    };
    assert_success(&output);
    let listed = listed(&json(&output));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["path"], "/dev/hidraw1");
    // And the one key is what `info` opens without --device.
    let output = ctap(&["--mouse", "0", "--key", "1"], &["--json", "info"]).expect("ran");
    assert_success(&output);
    assert_eq!(json(&output)["device"], "/dev/hidraw1");
    // Asked for by path, the mouse is refused for what its descriptor says.
    let output = ctap(&["--mouse", "0"], &["--device", "/dev/hidraw0", "info"]).expect("ran");
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("/dev/hidraw0") && text.contains("not a FIDO device"),
        "{text}"
    );
}

#[test]
fn a_node_the_user_may_not_open_is_listed_as_unusable_with_the_hint() {
    if ctap_or_skip().is_none() {
        return;
    }
    // `nobody` runs copies in a folder anyone may enter: the checkout's own target/
    // may be in a 0700 folder (a fresh clone under `mktemp -d`), where `nobody`
    // cannot exec the binary (the run failed with EACCES there).
    let public = support::PublicCopies::new();
    let mut command = public.harness(
        &["--key", "0,mode=600", "--key", "1", "--user", "nobody"],
        &[public.ctap.as_os_str(), "--json".as_ref(), "list".as_ref()],
    );
    command.current_dir("/");
    let Some(output) = run(command) else {
        return;
    };
    assert_success(&output);
    let listed = listed(&json(&output));
    assert_eq!(listed.len(), 2, "{listed:?}");
    let denied = &listed[0];
    assert_eq!(denied["path"], "/dev/hidraw0");
    assert_eq!(denied["usable"], false);
    assert_eq!(denied["input_report_size"], serde_json::Value::Null);
    // Enumeration (sysfs) still knows what it is.
    assert_eq!(denied["serial_number"], "HARNESS0000");
    let error = denied["error"].as_str().unwrap_or_default();
    assert!(error.contains("Permission denied"), "{error}");
    assert!(
        error.contains("udev rule") && error.contains("uaccess"),
        "{error}"
    );
    assert_eq!(listed[1]["usable"], true, "{listed:?}");

    // The same node is fine for root: the permission bits are what the shim honours.
    let output = ctap(&["--key", "0,mode=600"], &["--json", "list"]).expect("ran");
    assert_eq!(listed_usable(&output), [true]);
}

fn listed_usable(output: &std::process::Output) -> Vec<bool> {
    listed(&json(output))
        .iter()
        .map(|d| d["usable"].as_bool().unwrap_or(false))
        .collect()
}

#[test]
fn report_sizes_come_from_the_report_descriptor() {
    let devices = ["--key", "0,report=62", "--key", "1,report=8"];
    let Some(output) = ctap(&devices, &["--json", "list"]) else {
        return;
    };
    assert_success(&output);
    let listed = listed(&json(&output));
    let sizes: Vec<_> = listed
        .iter()
        .map(|d| {
            (
                d["input_report_size"].clone(),
                d["output_report_size"].clone(),
            )
        })
        .collect();
    assert_eq!(sizes, [(62.into(), 62.into()), (8.into(), 8.into())]);
    // The largest message of each size, through reports of that size: 7351 bytes in
    // 62-byte reports, 385 in 8-byte ones (1 + 128 x 3).
    for (path, size) in [("/dev/hidraw0", "7351"), ("/dev/hidraw1", "385")] {
        let output = ctap(
            &devices,
            &["--device", path, "--json", "ping", "--size", size],
        )
        .expect("ran");
        assert_success(&output);
        assert_eq!(json(&output)["size"].to_string(), size);
        let output = ctap(&devices, &["--device", path, "--json", "info"]).expect("ran");
        assert_success(&output);
        assert_eq!(json(&output)["get_info"]["maxMsgSize"].to_string(), size);
    }
}

#[test]
fn unplugging_during_a_call_ends_it_as_disconnected_and_the_key_leaves_the_list() {
    // The key waits for a touch that never comes and is pulled out right after its
    // first keep-alive, while `select` is blocked reading.
    let Some(output) = script(
        &["--key", "0,touch=never,unplug-on-keepalive", "--key", "1"],
        r#"start=$(date +%s%N)
"$CTAP" --device /dev/hidraw0 --timeout 20 select 2>&1
echo "select exit $? after $(( ($(date +%s%N) - start) / 1000000 )) ms"
"$CTAP" --json list"#,
    ) else {
        return;
    };
    assert_success(&output);
    let out = stdout(&output);
    let err = stderr(&output);
    // ctap's stderr goes to the script's stdout, apart from the harness's own
    // diagnostics: both are written while the key is pulled, so on one pipe their
    // pieces could interleave.
    assert!(err.contains("hidraw0 unplugged"), "{err}");
    assert!(out.contains("ctap: the device is disconnected"), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("select exit"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.starts_with("select exit 1 after "), "{line}");
    let millis: u64 = line
        .trim_start_matches("select exit 1 after ")
        .trim_end_matches(" ms")
        .parse()
        .unwrap_or(u64::MAX);
    // Well within the 20 s deadline: the disconnect ends the wait, not a time-out.
    assert!(millis < 10_000, "{line}");
    let json_start = out.find('{').unwrap_or_else(|| panic!("{out}"));
    let list: serde_json::Value = serde_json::from_str(&out[json_start..]).expect("list JSON");
    let paths: Vec<_> = listed(&list).iter().map(|d| d["path"].clone()).collect();
    assert_eq!(paths, ["/dev/hidraw1"]);
}

#[test]
fn a_key_that_stops_answering_ends_the_call_at_its_deadline() {
    // Timed inside the namespace around ctap alone: setting up the harness (and a
    // loaded machine starting processes) is not part of the deadline.
    let Some(output) = script(
        &["--key", "0,mute-after-init"],
        r#"start=$(date +%s%N)
"$CTAP" --device /dev/hidraw0 --timeout 2 ping 2>&1
echo "ping exit $? after $(( ($(date +%s%N) - start) / 1000000 )) ms""#,
    ) else {
        return;
    };
    assert_success(&output);
    let out = stdout(&output);
    assert!(
        out.contains("ctap: PING: gave up after 2 s (--timeout): the key had not answered"),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("ping exit"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.starts_with("ping exit 1 after "), "{line}");
    let millis: u64 = line
        .trim_start_matches("ping exit 1 after ")
        .trim_end_matches(" ms")
        .parse()
        .unwrap_or(u64::MAX);
    // The deadline is the subject: not before it, and not much after it.
    assert!(millis >= 2_000, "{line}");
    assert!(millis < 15_000, "{line}");
}

#[test]
fn ctrl_c_during_select_cancels_it() {
    let Some(bin) = ctap_or_skip() else {
        return;
    };
    let mut command = harness(
        &["--key", "0,touch=never"],
        &[
            bin.as_os_str(),
            "--device".as_ref(),
            "/dev/hidraw0".as_ref(),
            "select".as_ref(),
        ],
    );
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the runner starts");
    let stderr_pipe = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr_pipe).lines();
    let mut pid = None;
    let mut waiting = false;
    let mut seen = Vec::new();
    // Wait for two events: the runner names the command's pid, and the command says
    // the key wants a touch (so the call is blocked on the node).
    while pid.is_none() || !waiting {
        let Some(Ok(line)) = lines.next() else {
            break;
        };
        if let Some(rest) = line.strip_prefix("hidraw-harness: pid ") {
            pid = rest.trim().parse::<i32>().ok();
        }
        waiting |= line.contains("touch the key (UPNEEDED)");
        seen.push(line);
    }
    let Some(pid) = pid.filter(|_| waiting) else {
        let status = child.wait().expect("the runner ends");
        if support::skipped(status.code(), &seen.join("\n")) {
            return;
        }
        panic!("the command ended before it waited for a touch: {status:?} {seen:?}");
    };
    kill(Pid::from_raw(pid), Signal::SIGINT).expect("signal the command");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("the runner ends");
    assert_eq!(status.code(), Some(130), "{seen:?} {rest:?}");
    assert!(rest.iter().any(|l| l == "cancelled"), "{rest:?}");
}
