//! `cargo xtask cortex-m-icount`: instructions per message of ctaphid-frame's compact
//! path (what firmware builds) on a Cortex-M4, counted under QEMU.
//!
//! Builds `benches/cortex-m-icount` for `thumbv7em-none-eabihf` (opt-level "z", fat LTO,
//! as `benches/firmware-size`) and runs it on QEMU's `mps2-an386` board (Cortex-M4)
//! with one instruction per translation block and block chaining off, logging every
//! block it executes (`-d exec,nochain`): one `Trace` line per executed instruction,
//! with its address. The harness runs each path for one and then two messages between
//! two marker functions; the instructions between the markers, second run minus first,
//! are one message without set-up. QEMU is deterministic here (no interrupts, no
//! timers), so the counts are the same on every run and every machine.
//!
//! Instructions are not cycles: QEMU does not model the Cortex-M4's timing (loads and
//! stores mostly take 2 cycles, taken branches 2 to 4), see the crate's README.
//!
//! Installs nothing: without `qemu-system-arm` or the `thumbv7em-none-eabihf` target it
//! says SKIPPED and succeeds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use object::{Object, ObjectSymbol, SymbolKind};

use crate::no_std::TARGET;
use crate::util::{cmd, output, root, run as run_command};

/// The harness crate, relative to the workspace root.
const CRATE_DIR: &str = "benches/cortex-m-icount";
/// Its binary's name.
const BINARY: &str = "cortex-m-icount";
/// The QEMU machine: ARM's MPS2 board with the AN386 image, a Cortex-M4.
const MACHINE: &str = "mps2-an386";
/// QEMU's run takes about a second; a hung guest (a fault loop) is ended after this.
const TIME_OUT: Duration = Duration::from_secs(120);
/// The marker functions of the harness, as they appear in mangled symbol names.
const START_MARKER: &str = "count_start";
const STOP_MARKER: &str = "count_stop";
/// The baseline path, and the paths in the order of the table.
const BASELINE: &str = "copy";
const PATH_ORDER: [&str; 5] = [
    BASELINE,
    "packetize-64",
    "packetize-62",
    "reassemble-64",
    "reassemble-62",
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("cortex-m-icount takes no arguments, got `{extra}`"));
    }
    let Some(version) = output(cmd("qemu-system-arm", &["--version"])) else {
        println!(
            "cortex-m-icount: SKIPPED: qemu-system-arm is not installed, so the Cortex-M4 \
             instruction counts cannot be taken (apt-get install qemu-system-arm)"
        );
        return Ok(());
    };
    let target_installed = output(cmd("rustup", &["target", "list", "--installed"]))
        .is_some_and(|list| list.lines().any(|line| line.trim() == TARGET));
    if !target_installed {
        println!(
            "cortex-m-icount: SKIPPED: the {TARGET} target is not installed (rustup target \
             add {TARGET})"
        );
        return Ok(());
    }
    let version = version.lines().next().unwrap_or_default().trim().to_owned();
    let elf = build()?;
    let (start, stop) = markers(&elf)?;
    let trace = run_qemu(&elf, start, stop)?;
    let counts = per_message(&trace)?;
    let rustc = output(cmd("rustc", &["--version"])).unwrap_or_default();
    println!(
        "Instructions per message of ctaphid-frame's compact path (default-features = false) \
         on a Cortex-M4: {CRATE_DIR}, {TARGET}, opt-level \"z\", fat LTO; {}, {version}, \
         machine {MACHINE}\n",
        rustc.trim()
    );
    print!("{}", table(&counts)?);
    println!(
        "\nInstructions, not cycles: QEMU does not model the Cortex-M4's timing (1 cycle for \
         most instructions, 2 for most loads and stores, 2 to 4 for a taken branch)."
    );
    Ok(())
}

/// Builds the harness (its own release profile) and returns the ELF file's path.
fn build() -> Result<PathBuf, String> {
    let dir = root().join(CRATE_DIR);
    let target_dir = root().join("target").join("cortex-m-icount");
    let mut command = cmd(
        "cargo",
        &["build", "--release", "--quiet", "--target", TARGET],
    );
    command
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&dir)
        // Flags from the caller's environment would change what is measured.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    run_command(command)?;
    Ok(target_dir.join(TARGET).join("release").join(BINARY))
}

/// The addresses of the two marker functions (without the Thumb bit).
fn markers(elf: &Path) -> Result<(u64, u64), String> {
    let data = std::fs::read(elf).map_err(|e| format!("cannot read {}: {e}", elf.display()))?;
    let file = object::File::parse(&*data)
        .map_err(|e| format!("{} is not a readable ELF file: {e}", elf.display()))?;
    let find = |marker: &str| {
        let found: Vec<u64> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text)
            .filter(|s| s.name().is_ok_and(|name| name.contains(marker)))
            .map(|s| s.address() & !1)
            .collect();
        match found.as_slice() {
            [address] => Ok(*address),
            _ => Err(format!(
                "{} has {} functions named like `{marker}`, expected one",
                elf.display(),
                found.len()
            )),
        }
    };
    Ok((find(START_MARKER)?, find(STOP_MARKER)?))
}

/// What one QEMU run gave: the harness's `icount` lines, and the instructions executed
/// between each pair of markers, in order.
#[derive(Debug)]
struct Trace {
    labels: Vec<String>,
    regions: Vec<u64>,
}

/// QEMU's option for one instruction per translation block: `-singlestep` up to 8.0,
/// `-accel tcg,one-insn-per-tb=on` from 8.1 (where `-singlestep` is deprecated).
fn one_insn_per_tb() -> Vec<&'static str> {
    let help = output(cmd("qemu-system-arm", &["-help"])).unwrap_or_default();
    if help.lines().any(|line| line.starts_with("-singlestep")) {
        vec!["-singlestep"]
    } else {
        vec!["-accel", "tcg,one-insn-per-tb=on"]
    }
}

/// Runs the harness under QEMU, counting the instructions between the markers as the
/// trace streams in (about a million lines: never written to disk).
fn run_qemu(elf: &Path, start: u64, stop: u64) -> Result<Trace, String> {
    let mut command = Command::new("qemu-system-arm");
    command
        .args(["-M", MACHINE, "-display", "none", "-monitor", "none", "-serial", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(one_insn_per_tb())
        // `exec`: one line per executed translation block; `nochain`: every block goes
        // through the main loop, so none is executed without its line.
        .args(["-d", "exec,nochain", "-D", "/dev/stdout"])
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    eprintln!(
        "$ qemu-system-arm -M {MACHINE} ... -kernel {}",
        elf.display()
    );
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start qemu-system-arm: {e}"))?;
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("qemu-system-arm's output is not piped".to_owned());
    };
    // Semihosting output (the `icount` lines) arrives on stderr: a few hundred bytes.
    let semihosting = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let counter = std::thread::spawn(move || count_regions(BufReader::new(stdout), start, stop));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > TIME_OUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "qemu-system-arm did not finish within {} s (killed)",
                    TIME_OUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for qemu-system-arm: {e}")),
        }
    };
    let regions = counter
        .join()
        .map_err(|_| "the trace reader panicked".to_owned())??;
    let text = semihosting
        .join()
        .map_err(|_| "the stderr reader panicked".to_owned())?;
    if !status.success() {
        return Err(format!(
            "the harness under qemu-system-arm failed ({status}):\n{text}"
        ));
    }
    let labels = text
        .lines()
        .filter(|line| line.starts_with("icount "))
        .map(str::to_owned)
        .collect();
    Ok(Trace { labels, regions })
}

/// Counts the `Trace` lines between each entry of the start marker and the next entry of
/// the stop marker. A line reads `Trace 0: 0x7f... [00000000/000004c2/00000110/ff000201]
/// symbol`: the second field in brackets is the guest's program counter.
fn count_regions(reader: impl std::io::BufRead, start: u64, stop: u64) -> Result<Vec<u64>, String> {
    let mut regions = Vec::new();
    let mut current: Option<u64> = None;
    let mut traced = 0u64;
    for line in reader.split(b'\n') {
        let line = line.map_err(|e| format!("reading QEMU's trace: {e}"))?;
        let Some(pc) = trace_pc(&line) else { continue };
        traced += 1;
        if pc == start {
            if current.is_some() {
                return Err("the start marker ran twice without the stop marker".to_owned());
            }
            current = Some(0);
        } else if pc == stop {
            regions.push(
                current
                    .take()
                    .ok_or("the stop marker ran before the start marker")?,
            );
        } else if let Some(count) = current.as_mut() {
            *count += 1;
        }
    }
    if traced == 0 {
        return Err("QEMU logged no executed instructions (does it support -d exec?)".to_owned());
    }
    Ok(regions)
}

/// The program counter of a `Trace` line, or `None` for any other line.
fn trace_pc(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"Trace ")?;
    let open = rest.iter().position(|&b| b == b'[')?;
    let mut fields = rest.get(open + 1..)?.split(|&b| b == b'/');
    let _cs_base = fields.next()?;
    let pc = std::str::from_utf8(fields.next()?).ok()?;
    u64::from_str_radix(pc, 16).ok()
}

/// Instructions per message for each (path, payload bytes).
fn per_message(trace: &Trace) -> Result<BTreeMap<(String, usize), u64>, String> {
    if trace.regions.len() != 2 * trace.labels.len() || trace.labels.is_empty() {
        return Err(format!(
            "the harness printed {} paths but QEMU's trace has {} marked regions (expected \
             two per path)",
            trace.labels.len(),
            trace.regions.len()
        ));
    }
    let mut counts = BTreeMap::new();
    for (label, pair) in trace.labels.iter().zip(trace.regions.chunks_exact(2)) {
        let fields: Vec<&str> = label.split_whitespace().collect();
        let [_, name, bytes, messages] = fields.as_slice() else {
            return Err(format!("unexpected line from the harness: `{label}`"));
        };
        let parse = |text: &str| {
            text.parse::<u64>()
                .map_err(|e| format!("`{label}`: {text}: {e}"))
        };
        let (bytes, messages) = (parse(bytes)?, parse(messages)?);
        let &[once, twice] = pair else { continue };
        // `once` = set-up + n messages, `twice` = set-up + 2n messages.
        let extra = twice.checked_sub(once).filter(|extra| *extra <= once);
        let Some(extra) = extra.filter(|extra| messages > 0 && extra % messages == 0) else {
            return Err(format!(
                "`{label}`: {once} then {twice} instructions are not set-up plus \
                 {messages} and twice as many equal messages"
            ));
        };
        let key = (
            (*name).to_owned(),
            usize::try_from(bytes).map_err(|e| e.to_string())?,
        );
        let count = extra / messages;
        // The baseline is measured once per report size: the same bytes, the same count.
        if let Some(previous) = counts.insert(key, count) {
            if previous != count {
                return Err(format!(
                    "`{name}` of {bytes} bytes took {previous} and then {count} instructions"
                ));
            }
        }
    }
    Ok(counts)
}

/// The table: path, payload bytes, instructions per message and per byte, ratio to
/// the copy of the same bytes.
fn table(counts: &BTreeMap<(String, usize), u64>) -> Result<String, String> {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "| {:<13} | {:>5} | {:>12} | {:>9} | {:>7} |",
        "path", "bytes", "instr/msg", "instr/B", "x copy"
    );
    let _ = writeln!(
        text,
        "|{:-<15}|{:->7}|{:->14}|{:->11}|{:->9}|",
        "", ":", ":", ":", ":"
    );
    for path in PATH_ORDER {
        for ((name, bytes), &count) in counts.iter().filter(|((name, _), _)| name == path) {
            let baseline = counts
                .get(&(BASELINE.to_owned(), *bytes))
                .copied()
                .ok_or_else(|| format!("no `{BASELINE}` baseline of {bytes} bytes"))?;
            #[allow(clippy::cast_precision_loss)] // counts far below 2^52
            let (per_byte, ratio) = (count as f64 / *bytes as f64, count as f64 / baseline as f64);
            let _ = writeln!(
                text,
                "| {name:<13} | {bytes:>5} | {count:>12} | {per_byte:>9.2} | {ratio:>6.2}x |"
            );
        }
    }
    if counts
        .keys()
        .any(|(name, _)| !PATH_ORDER.contains(&name.as_str()))
    {
        return Err("the harness measured a path this table does not know".to_owned());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_program_counter_of_trace_lines_only() {
        let line = b"Trace 0: 0x7ff340000100 [00800408/00000b70/00000110/ff000201] _start";
        assert_eq!(trace_pc(line), Some(0xb70));
        assert_eq!(trace_pc(b"icount copy 57 1"), None);
        assert_eq!(trace_pc(b"Trace 0: 0x7ff3 [garbage]"), None);
    }

    #[test]
    fn counts_between_markers_and_subtracts_the_set_up() {
        let pcs = [
            0x10, 0x100, 0x20, 0x22, 0x200, 0x10, 0x100, 0x20, 0x22, 0x20, 0x22, 0x200,
        ];
        let log: String = pcs
            .iter()
            .map(|pc| format!("Trace 0: 0x1 [00000000/{pc:08x}/0/0] f\n"))
            .collect();
        let regions = count_regions(log.as_bytes(), 0x100, 0x200).unwrap();
        assert_eq!(regions, [2, 4]);
        let trace = Trace {
            labels: vec!["icount copy 64 1".to_owned()],
            regions,
        };
        let counts = per_message(&trace).unwrap();
        assert_eq!(counts.get(&("copy".to_owned(), 64)), Some(&2));
    }

    #[test]
    fn refuses_counts_that_are_not_set_up_plus_messages() {
        let trace = Trace {
            labels: vec!["icount copy 64 1".to_owned()],
            // The second run did less than the first.
            regions: vec![10, 5],
        };
        assert!(per_message(&trace).is_err());
        let missing = Trace {
            labels: vec!["icount copy 64 1".to_owned()],
            regions: vec![10],
        };
        assert!(per_message(&missing).is_err());
    }
}
