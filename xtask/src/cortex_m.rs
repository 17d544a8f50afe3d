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
//! stores mostly take 2 cycles, taken branches 2 to 4). The table adds an estimate: QEMU
//! also logs each instruction's disassembly (`-d in_asm`), and [`timing`] costs every
//! executed instruction by the Cortex-M4 Technical Reference Manual's table, at best
//! and at worst (see the crate's README).
//!
//! Installs nothing: without `qemu-system-arm` or the `thumbv7em-none-eabihf` target it
//! says SKIPPED and succeeds (under CI, where `CI` is set, a skip is an error).

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
        return crate::util::skip(
            "cortex-m-icount",
            "qemu-system-arm is not installed, so the Cortex-M4 instruction counts cannot \
             be taken (apt-get install qemu-system-arm)",
        );
    };
    let target_installed = output(cmd("rustup", &["target", "list", "--installed"]))
        .is_some_and(|list| list.lines().any(|line| line.trim() == TARGET));
    if !target_installed {
        return crate::util::skip(
            "cortex-m-icount",
            &format!("the {TARGET} target is not installed (rustup target add {TARGET})"),
        );
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
        "\ninstr: counted exactly (QEMU executes the code; the same on every run). x copy: \
         against copy_from_slice (compiler-builtins' memcpy) of the same bytes.\n\
         est. cycles: NOT measured (QEMU has no timing model). Each executed instruction \
         costed by the Cortex-M4 TRM's table, zero-wait-state memory: best case (branch \
         refill 1 cycle, neighbouring loads/stores pipelined, IT folded) - worst case \
         (refill 3, no pipelining). Flash wait states come on top."
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

/// What one QEMU run gave: the harness's `icount` lines, and what was executed between
/// each pair of markers, in order.
#[derive(Debug)]
struct Trace {
    labels: Vec<String>,
    regions: Vec<Region>,
}

/// What ran between the two markers once: instructions, and the cycles they would take
/// on a Cortex-M4 by [`timing`], at best and at worst.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Region {
    instructions: u64,
    cycles_min: u64,
    cycles_max: u64,
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
        // through the main loop, so none is executed without its line. `in_asm`: each
        // instruction's disassembly when it is first translated (for the cycle model).
        .args(["-d", "in_asm,exec,nochain", "-D", "/dev/stdout"])
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
/// the stop marker, and their cycles by [`timing`] from the `in_asm` lines. A trace line
/// reads `Trace 0: 0x7f... [00000000/000004c2/00000110/ff000201] symbol`: the second
/// field in brackets is the guest's program counter. An `in_asm` line reads
/// `0x000004c2:  f812 1b01  ldrb.w   r1, [r2], #1`.
fn count_regions(
    reader: impl std::io::BufRead,
    start: u64,
    stop: u64,
) -> Result<Vec<Region>, String> {
    let mut code: BTreeMap<u64, Instruction> = BTreeMap::new();
    let mut regions = Vec::new();
    let mut current: Option<Region> = None;
    // The instruction before this one, costed once the next address says whether it
    // branched, and whether it was a single load or store.
    let mut previous: Option<u64> = None;
    let mut previous_load_store = false;
    let mut traced = 0u64;
    for line in reader.split(b'\n') {
        let line = line.map_err(|e| format!("reading QEMU's trace: {e}"))?;
        let Some(pc) = trace_pc(&line) else {
            if let Some((address, instruction)) = disassembly(&line) {
                code.insert(address, instruction);
            }
            continue;
        };
        traced += 1;
        if let (Some(region), Some(address)) = (current.as_mut(), previous) {
            let instruction = code
                .get(&address)
                .ok_or_else(|| format!("no disassembly of the instruction at {address:#x}"))?;
            let taken = pc != address + instruction.size;
            let (min, max) = timing(instruction, taken, previous_load_store);
            region.cycles_min += min;
            region.cycles_max += max;
            previous_load_store = instruction.single_load_store();
        }
        previous = Some(pc);
        if pc == start {
            if current.is_some() {
                return Err("the start marker ran twice without the stop marker".to_owned());
            }
            current = Some(Region::default());
            previous = None;
            previous_load_store = false;
        } else if pc == stop {
            regions.push(
                current
                    .take()
                    .ok_or("the stop marker ran before the start marker")?,
            );
        } else if let Some(region) = current.as_mut() {
            region.instructions += 1;
        }
    }
    if traced == 0 {
        return Err("QEMU logged no executed instructions (does it support -d exec?)".to_owned());
    }
    Ok(regions)
}

/// One instruction as QEMU's `in_asm` log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Instruction {
    /// 2 or 4 bytes.
    size: u64,
    /// Without its width qualifier (`ldrb.w` is `ldrb`), with its condition (`ldrbne`).
    mnemonic: String,
    operands: String,
}

impl Instruction {
    /// LDR/STR of one byte, halfword or word (what the Cortex-M4 pipelines with a
    /// neighbouring one).
    fn single_load_store(&self) -> bool {
        let m = self.mnemonic.as_str();
        let Some(rest) = m.strip_prefix("ldr").or_else(|| m.strip_prefix("str")) else {
            return false;
        };
        let rest = ["sb", "sh", "b", "h"]
            .iter()
            .find_map(|width| rest.strip_prefix(width))
            .unwrap_or(rest);
        rest.is_empty() || CONDITIONS.contains(&rest)
    }

    /// Registers in the `{...}` list of a PUSH, POP, LDM or STM (QEMU's disassembler
    /// names each one; a range `r4-r7` is counted too).
    fn register_count(&self) -> u64 {
        let list = self
            .operands
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'))
            .map_or("", |(list, _)| list);
        let mut count = 0;
        for item in list.split(',') {
            // `r4-r7` is four registers.
            let number = |r: &str| r.trim().trim_start_matches('r').parse::<u64>().ok();
            count += match item.split_once('-') {
                Some((from, to)) => match (number(from), number(to)) {
                    (Some(from), Some(to)) if to >= from => to - from + 1,
                    _ => 1,
                },
                None => u64::from(!item.trim().is_empty()),
            };
        }
        count
    }
}

/// The condition suffixes (capstone writes `lo`/`hs`, objdump `cc`/`cs`).
const CONDITIONS: [&str; 17] = [
    "eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le",
    "al",
];

/// An `in_asm` line: `0x000004c2:  f812 1b01  ldrb.w   r1, [r2], #1`.
fn disassembly(line: &[u8]) -> Option<(u64, Instruction)> {
    let line = std::str::from_utf8(line).ok()?;
    let (address, rest) = line.strip_prefix("0x")?.split_once(':')?;
    let address = u64::from_str_radix(address, 16).ok()?;
    let mut words = rest.split_whitespace();
    let mut size = 0;
    let mut mnemonic = None;
    for word in words.by_ref() {
        if word.len() == 4 && word.bytes().all(|b| b.is_ascii_hexdigit()) && mnemonic.is_none() {
            size += 2;
        } else {
            mnemonic = Some(word);
            break;
        }
    }
    let mnemonic = mnemonic?;
    if size == 0 || size > 4 {
        return None;
    }
    let operands = words.collect::<Vec<_>>().join(" ");
    let mnemonic = mnemonic.split('.').next().unwrap_or(mnemonic).to_owned();
    Some((
        address,
        Instruction {
            size,
            mnemonic,
            operands,
        },
    ))
}

/// Cycles of one executed instruction on a Cortex-M4 with zero-wait-state memory, at
/// best and at worst, from the instruction timings of the Cortex-M4 Technical Reference
/// Manual (r0p1, table 3-1): 1 for data processing; 2 for a single load or store, 1 when
/// it follows another (their address and data phases pipeline); 1+N for LDM/STM/PUSH/POP
/// of N registers; 3 for LDRD/STRD; 1 for a branch not taken, 1+P taken, where the
/// pipeline refill P is 1 to 3; IT 0 (folded) or 1; SDIV/UDIV 2 to 12. `taken`: the next
/// instruction executed is not the one after it.
fn timing(instruction: &Instruction, taken: bool, after_load_store: bool) -> (u64, u64) {
    let m = instruction.mnemonic.as_str();
    let operands = instruction.operands.as_str();
    let writes_pc = operands
        .split(',')
        .next()
        .is_some_and(|first| first.trim() == "pc");
    let is_branch = matches!(m, "b" | "bl" | "bx" | "blx" | "cbz" | "cbnz")
        || m.strip_prefix('b')
            .is_some_and(|cond| CONDITIONS.contains(&cond));
    if m.starts_with("push") || m.starts_with("pop") || m.starts_with("ldm") || m.starts_with("stm")
    {
        let n = instruction.register_count();
        let refill = m.starts_with("pop") || m.starts_with("ldm");
        if refill && operands.contains("pc") {
            (2 + n, 4 + n)
        } else {
            (1 + n, 1 + n)
        }
    } else if m.starts_with("ldrd") || m.starts_with("strd") {
        (3, 3)
    } else if instruction.single_load_store() {
        let min = if after_load_store { 1 } else { 2 };
        if writes_pc { (min + 1, 5) } else { (min, 2) }
    } else if is_branch {
        // BL, BLX and BX always branch.
        if taken || matches!(m, "bl" | "blx" | "bx") {
            (2, 4)
        } else {
            (1, 1)
        }
    } else if m.starts_with("it") {
        (0, 1)
    } else if m.starts_with("sdiv") || m.starts_with("udiv") {
        (2, 12)
    } else if m.starts_with("mla")
        || m.starts_with("mls")
        || m.ends_with("mull")
        || m.ends_with("mlal")
    {
        (1, 2)
    } else if writes_pc {
        // MOV/ADD to PC: a branch.
        (2, 4)
    } else {
        (1, 1)
    }
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

/// One message of each (path, payload bytes): instructions, and cycles by [`timing`].
fn per_message(trace: &Trace) -> Result<BTreeMap<(String, usize), Region>, String> {
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
        // `once` = set-up + n messages, `twice` = set-up + 2n messages: the instructions
        // of n messages are the difference, exactly.
        let (a, b) = (once.instructions, twice.instructions);
        let extra = b.checked_sub(a).filter(|extra| *extra <= a);
        let Some(extra) = extra.filter(|extra| messages > 0 && extra % messages == 0) else {
            return Err(format!(
                "`{label}`: {a} then {b} instructions are not set-up plus {messages} and \
                 twice as many equal messages"
            ));
        };
        let cycles = |once: u64, twice: u64| twice.saturating_sub(once) / messages;
        let region = Region {
            instructions: extra / messages,
            cycles_min: cycles(once.cycles_min, twice.cycles_min),
            cycles_max: cycles(once.cycles_max, twice.cycles_max),
        };
        let key = (
            (*name).to_owned(),
            usize::try_from(bytes).map_err(|e| e.to_string())?,
        );
        // The baseline is measured once per report size: the same bytes, the same count.
        if let Some(previous) = counts.insert(key, region) {
            if previous != region {
                return Err(format!(
                    "`{name}` of {bytes} bytes took {previous:?} and then {region:?}"
                ));
            }
        }
    }
    Ok(counts)
}

/// The table: path, payload bytes, instructions per message and per byte, ratio to
/// the copy of the same bytes, and the cycle estimate per byte.
fn table(counts: &BTreeMap<(String, usize), Region>) -> Result<String, String> {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "| {:<13} | {:>5} | {:>9} | {:>7} | {:>6} | {:>15} | {:>11} |",
        "path", "bytes", "instr/msg", "instr/B", "x copy", "est. cycles/msg", "est. cyc/B"
    );
    let _ = writeln!(
        text,
        "|{:-<15}|{:->7}|{:->11}|{:->9}|{:->8}|{:->17}|{:->13}|",
        "", ":", ":", ":", ":", ":", ":"
    );
    for path in PATH_ORDER {
        for ((name, bytes), count) in counts.iter().filter(|((name, _), _)| name == path) {
            let baseline = counts
                .get(&(BASELINE.to_owned(), *bytes))
                .ok_or_else(|| format!("no `{BASELINE}` baseline of {bytes} bytes"))?;
            #[allow(clippy::cast_precision_loss)] // counts far below 2^52
            let (per_byte, ratio, min_per_byte, max_per_byte) = (
                count.instructions as f64 / *bytes as f64,
                count.instructions as f64 / baseline.instructions as f64,
                count.cycles_min as f64 / *bytes as f64,
                count.cycles_max as f64 / *bytes as f64,
            );
            let cycles = format!("{}-{}", count.cycles_min, count.cycles_max);
            let cycles_per_byte = format!("{min_per_byte:.1}-{max_per_byte:.1}");
            let _ = writeln!(
                text,
                "| {name:<13} | {bytes:>5} | {:>9} | {per_byte:>7.2} | {ratio:>5.2}x | \
                 {cycles:>15} | {cycles_per_byte:>11} |",
                count.instructions
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
    fn reads_disassembly_lines() {
        let (address, instruction) =
            disassembly(b"0x00000b54:  f812 1b01  ldrb.w   r1, [r2], #1").unwrap();
        assert_eq!(address, 0xb54);
        assert_eq!(instruction.size, 4);
        assert_eq!(instruction.mnemonic, "ldrb");
        assert_eq!(instruction.operands, "r1, [r2], #1");
        assert!(instruction.single_load_store());
        let (_, push) = disassembly(b"0x00000b70:  b5b0       push     {r4, r5, r7, lr}").unwrap();
        assert_eq!((push.size, push.register_count()), (2, 4));
        let (_, pop) = disassembly(b"0x000002e4:  e8bd 0f00  pop.w    {r8, sb, sl, fp}").unwrap();
        assert_eq!(pop.register_count(), 4);
        assert_eq!(disassembly(b"IN: _start"), None);
        assert_eq!(disassembly(b"Trace 0: 0x7f [0/b70/0/0] _start"), None);
    }

    /// The byte loop of `MessageBuffer::append` (as objdump shows it): six instructions,
    /// 9 to 11 cycles a byte by hand from the TRM's table.
    #[test]
    fn times_a_byte_copy_loop_as_the_reference_manual_does() {
        let loop_lines: [&[u8]; 6] = [
            b"0x00000b50:  2b00       cmp      r3, #0",
            b"0x00000b52:  d0fb       beq      #0xb4c",
            b"0x00000b54:  f812 1b01  ldrb.w   r1, [r2], #1",
            b"0x00000b58:  3b01       subs     r3, #1",
            b"0x00000b5a:  f800 1b01  strb.w   r1, [r0], #1",
            b"0x00000b5e:  e7f7       b        #0xb50",
        ];
        let mut log = String::new();
        for line in loop_lines {
            log.push_str(std::str::from_utf8(line).unwrap());
            log.push('\n');
        }
        // Markers at 0x100 and 0x200; three bytes copied, then the loop's exit.
        let mut pcs = vec![0x100];
        for _ in 0..3 {
            pcs.extend([0xb50, 0xb52, 0xb54, 0xb58, 0xb5a, 0xb5e]);
        }
        pcs.extend([0xb50, 0xb52, 0x200]);
        log.push_str("0x00000100:  b5c0       push     {r6, r7, lr}\n");
        for pc in pcs {
            let _ = writeln!(log, "Trace 0: 0x1 [00000000/{pc:08x}/0/0] f");
        }
        let regions = count_regions(log.as_bytes(), 0x100, 0x200).unwrap();
        // Per byte: cmp 1, beq not taken 1, ldrb 2, subs 1, strb 2, b 2..4; then cmp 1
        // and the taken beq 2..4.
        assert_eq!(
            regions,
            [Region {
                instructions: 20,
                cycles_min: 3 * 9 + 3,
                cycles_max: 3 * 11 + 5,
            }]
        );
    }

    #[test]
    fn counts_between_markers_and_subtracts_the_set_up() {
        let pcs = [
            0x10, 0x100, 0x20, 0x22, 0x200, 0x10, 0x100, 0x20, 0x22, 0x20, 0x22, 0x200,
        ];
        let mut log = String::from("0x00000020:  2b00       cmp      r3, #0\n");
        log.push_str("0x00000022:  e7fd       b        #0x20\n");
        for pc in pcs {
            let _ = writeln!(log, "Trace 0: 0x1 [00000000/{pc:08x}/0/0] f");
        }
        let regions = count_regions(log.as_bytes(), 0x100, 0x200).unwrap();
        assert_eq!(
            regions.iter().map(|r| r.instructions).collect::<Vec<_>>(),
            [2, 4]
        );
        let trace = Trace {
            labels: vec!["icount copy 64 1".to_owned()],
            regions,
        };
        let counts = per_message(&trace).unwrap();
        let copy = counts.get(&("copy".to_owned(), 64)).unwrap();
        assert_eq!(copy.instructions, 2);
        // cmp 1 + b taken 2..4.
        assert_eq!((copy.cycles_min, copy.cycles_max), (3, 5));
    }

    #[test]
    fn refuses_counts_that_are_not_set_up_plus_messages() {
        let region = |instructions| Region {
            instructions,
            ..Region::default()
        };
        let trace = Trace {
            labels: vec!["icount copy 64 1".to_owned()],
            // The second run did less than the first.
            regions: vec![region(10), region(5)],
        };
        assert!(per_message(&trace).is_err());
        let missing = Trace {
            labels: vec!["icount copy 64 1".to_owned()],
            regions: vec![region(10)],
        };
        assert!(per_message(&missing).is_err());
    }
}
