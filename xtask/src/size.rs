//! `cargo xtask size [--verbose] [--check]`: the flash and RAM a firmware pays for
//! framing + types.
//!
//! Builds `benches/firmware-size` (a `#![no_std]`, `#![no_main]` authenticator loop) for
//! `thumbv7em-none-eabihf` twice, with and without its `ctap` feature, reads both ELF
//! files with the `object` crate (no external binutils) and prints `.text`, `.rodata`,
//! `.data` and `.bss` for each and their difference, with a verdict against the budget:
//! at most 1.5 KiB of flash (issue 14), and RAM of one message buffer plus under 64
//! bytes of state.
//! A third build with ctaphid-frame's `fast-path` feature (the host default, off in
//! firmware) says what that path would cost.
//! When the nightly toolchain can build the firmware with `-Z emit-stack-sizes`, it also
//! prints the stack frame of each function in the `ctap` build.
//!
//! `--verbose` lists the ten largest functions and objects of the `ctap` build (also
//! printed whenever the flash budget is exceeded); `--check` makes an exceeded budget an
//! error.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

use crate::no_std::{TARGET, ensure_target};
use crate::util::{NIGHTLY, cmd, nightly_arg, output, root, run as run_command, succeeds};

/// The firmware crate, relative to the workspace root.
const FIRMWARE_DIR: &str = "benches/firmware-size";
/// Its binary's name.
const FIRMWARE_BIN: &str = "firmware-size";
/// Flash (`.text + .rodata + .data`) that framing + types may add, inclusive (issue 14:
/// 1.5 KiB; issue 8's budget was under 2 KiB).
const FLASH_BUDGET: u64 = 1536;
/// The one message buffer the firmware keeps: the CTAPHID maximum at 64-byte reports.
const MESSAGE_BUFFER: u64 = 7609;
/// RAM that framing + types may add besides the message buffer, exclusive.
const STATE_BUDGET: u64 = 64;
/// The sections reported, in order.
const SECTIONS: [&str; 4] = [".text", ".rodata", ".data", ".bss"];
/// The hot paths whose stack frames are named first: a label and a substring of the
/// symbol name (mangled names carry the identifiers in plain text).
const HOT_FUNCTIONS: &[(&str, &str)] = &[
    ("Reassembler::feed", "feed"),
    ("Reassembler::step", "step"),
    ("Packetizer::write_next", "write_next"),
];
/// compiler-builtins' memory routines: every firmware with a USB stack links them
/// already, so the report says how much of the difference they are.
const MEMORY_ROUTINES: &[&str] = &["memcpy", "memmove", "memset", "memclr"];

#[derive(Debug, Default)]
struct Options {
    verbose: bool,
    check: bool,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut options = Options::default();
    for arg in args {
        match arg.as_str() {
            "-v" | "--verbose" => options.verbose = true,
            "--check" => options.check = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}` (size takes --verbose and --check)"
                ));
            }
        }
    }
    if !ensure_target() {
        return crate::util::skip(
            "size",
            &format!(
                "the {TARGET} target cannot be installed here, so the firmware footprint \
                 cannot be measured"
            ),
        );
    }

    let without = Footprint::read(&build(Variant::WithoutCtap)?)?;
    let with = Footprint::read(&build(Variant::Ctap)?)?;
    let report = Report::new(&without, &with)?;
    print!("{}", report.table());
    // What the host-speed path would cost (not part of the verdict: firmware builds
    // ctaphid-frame with `default-features = false`).
    match build(Variant::FastPath).and_then(|path| Footprint::read(&path)) {
        Ok(fast) => println!(
            "with ctaphid-frame's `fast-path` feature (the host default), flash would be \
             {:+} bytes and RAM {:+} bytes",
            difference(without.flash(), fast.flash())?,
            difference(without.ram(), fast.ram())?,
        ),
        Err(reason) => println!("fast-path build: SKIPPED: {reason}"),
    }

    let over = report.flash_over() || report.state_over();
    if options.verbose || report.flash_over() {
        print!("{}", largest_symbols(&without, &with));
    }
    match stack_sizes() {
        Ok(text) => print!("{text}"),
        Err(reason) => println!("\nstack: SKIPPED: {reason}"),
    }
    if options.check && over {
        return Err("the footprint is over budget".to_owned());
    }
    Ok(())
}

/// The builds of the firmware.
#[derive(Debug, Clone, Copy)]
enum Variant {
    /// The bare echo loop.
    WithoutCtap,
    /// The authenticator loop over framing + types, as firmware builds them.
    Ctap,
    /// The same with ctaphid-frame's `fast-path` feature.
    FastPath,
}

/// Builds the firmware (release profile: opt-level "z", fat LTO, one codegen unit,
/// panic = abort) and returns the ELF file's path. Each variant has its own target
/// directory, so the ELF files stay around for inspection.
fn build(variant: Variant) -> Result<PathBuf, String> {
    let (dir, features) = match variant {
        Variant::WithoutCtap => ("without-ctap", None),
        Variant::Ctap => ("with-ctap", Some("ctap")),
        Variant::FastPath => ("with-ctap-fast-path", Some("fast-path")),
    };
    let target_dir = root().join("target").join("firmware-size").join(dir);
    let mut command = firmware_cargo(None, &target_dir);
    if let Some(features) = features {
        command.args(["--features", features]);
    }
    run_command(command)?;
    Ok(target_dir.join(TARGET).join("release").join(FIRMWARE_BIN))
}

/// `cargo [+toolchain] build --release` of the firmware into `target_dir`.
fn firmware_cargo(toolchain: Option<&str>, target_dir: &Path) -> std::process::Command {
    let manifest = root().join(FIRMWARE_DIR).join("Cargo.toml");
    let mut command = cmd("cargo", &[]);
    if let Some(toolchain) = toolchain {
        command.arg(toolchain);
    }
    command
        .args(["build", "--release", "--quiet", "--target", TARGET])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        // The firmware crate's own `.cargo/config.toml` applies from its folder.
        .current_dir(root().join(FIRMWARE_DIR))
        // Flags from the caller's environment would change what is measured.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    command
}

/// The sizes and symbols of one firmware ELF file.
#[derive(Debug)]
struct Footprint {
    /// Bytes of each of [`SECTIONS`] (0 for a section the file does not have).
    sections: [u64; 4],
    /// Functions and objects with a size: name -> bytes.
    symbols: BTreeMap<String, u64>,
}

impl Footprint {
    fn read(path: &Path) -> Result<Self, String> {
        let data =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file = object::File::parse(&*data)
            .map_err(|e| format!("{} is not a readable ELF file: {e}", path.display()))?;
        let sections = SECTIONS.map(|name| file.section_by_name(name).map_or(0, |s| s.size()));
        let mut symbols = BTreeMap::new();
        // Aliases (several names for one address) are counted once.
        let mut seen = std::collections::BTreeSet::new();
        for symbol in file.symbols() {
            if !matches!(symbol.kind(), SymbolKind::Text | SymbolKind::Data) || symbol.size() == 0 {
                continue;
            }
            let Ok(name) = symbol.name() else { continue };
            // Bit 0 of a Thumb function's address only says "Thumb".
            if !seen.insert(symbol.address() & !1) {
                continue;
            }
            *symbols.entry(demangle(name)).or_insert(0) += symbol.size();
        }
        Ok(Self { sections, symbols })
    }

    fn section(&self, name: &str) -> u64 {
        SECTIONS
            .iter()
            .zip(self.sections)
            .find_map(|(section, size)| (*section == name).then_some(size))
            .unwrap_or(0)
    }

    /// What is written to flash: code, constants and the initial values of `.data`.
    fn flash(&self) -> u64 {
        self.section(".text") + self.section(".rodata") + self.section(".data")
    }

    /// Static RAM (the stack comes on top).
    fn ram(&self) -> u64 {
        self.section(".data") + self.section(".bss")
    }
}

/// The comparison of the two builds.
#[derive(Debug)]
struct Report<'a> {
    without: &'a Footprint,
    with: &'a Footprint,
    flash_added: i64,
    ram_added: i64,
}

impl<'a> Report<'a> {
    fn new(without: &'a Footprint, with: &'a Footprint) -> Result<Self, String> {
        Ok(Self {
            without,
            with,
            flash_added: difference(without.flash(), with.flash())?,
            ram_added: difference(without.ram(), with.ram())?,
        })
    }

    /// RAM added besides the message buffer.
    fn state(&self) -> i64 {
        self.ram_added - signed(MESSAGE_BUFFER)
    }

    fn flash_over(&self) -> bool {
        self.flash_added > signed(FLASH_BUDGET)
    }

    fn state_over(&self) -> bool {
        self.state() >= signed(STATE_BUDGET)
    }

    fn table(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "firmware footprint of framing + types ({FIRMWARE_DIR}, {TARGET}, \
             opt-level \"z\", fat LTO, codegen-units 1, panic = abort)\n"
        );
        let _ = writeln!(
            text,
            "| {:<31} | {:>8} | {:>8} | {:>10} |",
            "bytes", "without", "with", "difference"
        );
        let _ = writeln!(text, "|{:-<33}|{:->10}|{:->10}|{:->12}|", "", ":", ":", ":");
        let rows = SECTIONS
            .iter()
            .map(|name| {
                (
                    (*name).to_owned(),
                    self.without.section(name),
                    self.with.section(name),
                )
            })
            .chain([
                (
                    "flash (.text + .rodata + .data)".to_owned(),
                    self.without.flash(),
                    self.with.flash(),
                ),
                (
                    "static RAM (.data + .bss)".to_owned(),
                    self.without.ram(),
                    self.with.ram(),
                ),
            ]);
        for (name, without, with) in rows {
            let diff = difference(without, with).map_or_else(|e| e, |d| format!("{d:+}"));
            let _ = writeln!(
                text,
                "| {name:<31} | {without:>8} | {with:>8} | {diff:>10} |"
            );
        }
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "flash: {:+} bytes for framing + types; budget at most {FLASH_BUDGET}: {}",
            self.flash_added,
            verdict(!self.flash_over()),
        );
        let routines: u64 = self
            .with
            .symbols
            .iter()
            .filter(|(name, _)| MEMORY_ROUTINES.iter().any(|r| name.contains(r)))
            .map(|(name, &size)| {
                size.saturating_sub(self.without.symbols.get(name).copied().unwrap_or(0))
            })
            .sum();
        if routines > 0 {
            let _ = writeln!(
                text,
                "       of which {routines} bytes are compiler-builtins memory routines \
                 ({}) that the bare echo does not need, but any firmware with a USB stack links",
                MEMORY_ROUTINES.join("/"),
            );
        }
        let _ = writeln!(
            text,
            "RAM:   {:+} bytes = {MESSAGE_BUFFER} (one message buffer) {:+} bytes of state; \
             state budget under {STATE_BUDGET}: {}",
            self.ram_added,
            self.state(),
            verdict(!self.state_over()),
        );
        text
    }
}

fn verdict(within: bool) -> &'static str {
    if within { "OK" } else { "OVER BUDGET" }
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `with - without`, or an error for sizes no ELF file can have.
fn difference(without: u64, with: u64) -> Result<i64, String> {
    match (i64::try_from(without), i64::try_from(with)) {
        (Ok(without), Ok(with)) => Ok(with - without),
        _ => Err(format!("implausible section sizes {without} and {with}")),
    }
}

/// The ten largest functions and objects of the `ctap` build, each marked with what it
/// adds over the build without (a symbol of both builds adds its growth).
fn largest_symbols(without: &Footprint, with: &Footprint) -> String {
    let mut symbols: Vec<(&String, u64)> = with.symbols.iter().map(|(n, s)| (n, *s)).collect();
    symbols.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut text = String::from(
        "\nlargest symbols of the ctap build (bytes, added over the build without):\n",
    );
    for (name, size) in symbols.into_iter().take(10) {
        let before = without.symbols.get(name).copied().unwrap_or(0);
        let added = difference(before, size).map_or_else(|e| e, |d| format!("{d:+}"));
        let _ = writeln!(text, "{size:>7} {added:>7}  {name}");
    }
    text
}

/// Builds the `ctap` firmware on nightly with `-Z emit-stack-sizes` and lists the stack
/// frame of each function from the `.stack_sizes` section. `Err` says why it cannot.
fn stack_sizes() -> Result<String, String> {
    if !succeeds(cmd("cargo", &[&nightly_arg(), "--version"])) {
        return Err(format!(
            "no {NIGHTLY} toolchain (`-Z emit-stack-sizes` is nightly-only)"
        ));
    }
    let has_target = output(cmd(
        "rustup",
        &[&nightly_arg(), "target", "list", "--installed"],
    ))
    .is_some_and(|list| list.lines().any(|line| line.trim() == TARGET));
    let has_source = output(cmd(
        "rustup",
        &[&nightly_arg(), "component", "list", "--installed"],
    ))
    .is_some_and(|list| list.lines().any(|line| line.trim().starts_with("rust-src")));
    if !has_target && !has_source {
        return Err(format!(
            "{NIGHTLY} has neither the {TARGET} target nor rust-src (for -Z build-std)"
        ));
    }
    let target_dir = root()
        .join("target")
        .join("firmware-size")
        .join("stack-sizes");
    let mut command = firmware_cargo(Some(&nightly_arg()), &target_dir);
    command.args(["--features", "ctap"]);
    if !has_target {
        command.arg("-Zbuild-std=core");
    }
    // Legacy mangling keeps the names readable without a demangler (nightly's default
    // is v0).
    command.env(
        "RUSTFLAGS",
        "-Z emit-stack-sizes -Z unstable-options -C symbol-mangling-version=legacy",
    );
    run_command(command).map_err(|e| format!("the nightly build failed: {e}"))?;

    let path = target_dir.join(TARGET).join("release").join(FIRMWARE_BIN);
    let data = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = object::File::parse(&*data)
        .map_err(|e| format!("{} is not a readable ELF file: {e}", path.display()))?;
    let frames = read_stack_sizes(&file)?;

    let mut rows: Vec<(u64, String)> = frames
        .into_iter()
        .map(|(address, stack)| (stack, function_name(&file, address)))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let total: u64 = rows.iter().map(|(stack, _)| stack).sum();
    let mut text = format!(
        "\nstack frames of the ctap build (nightly -Z emit-stack-sizes{}):\n",
        if has_target {
            ""
        } else {
            ", -Z build-std=core"
        }
    );
    for (label, needle) in HOT_FUNCTIONS {
        let own: Vec<String> = rows
            .iter()
            .filter(|(_, name)| name.contains(needle))
            .map(|(stack, name)| format!("{stack} bytes ({name})"))
            .collect();
        let found = if own.is_empty() {
            "no function of its own: inlined, its frame is part of its caller's".to_owned()
        } else {
            own.join(", ")
        };
        let _ = writeln!(text, "  {label:<24} {found}");
    }
    let _ = writeln!(text, "every function, largest frame first (bytes):");
    for (stack, name) in &rows {
        let _ = writeln!(text, "{stack:>7}  {name}");
    }
    let _ = writeln!(
        text,
        "{total:>7}  sum of all frames: an upper bound on the stack depth, as nothing recurses"
    );
    Ok(text)
}

/// The `.stack_sizes` section: for each function, its address (a target word) then its
/// stack frame in bytes (ULEB128).
fn read_stack_sizes(file: &object::File<'_>) -> Result<Vec<(u64, u64)>, String> {
    let section = file
        .section_by_name(".stack_sizes")
        .ok_or("the nightly build has no .stack_sizes section")?;
    let data = section
        .data()
        .map_err(|e| format!("cannot read .stack_sizes: {e}"))?;
    let word = if file.is_64() { 8 } else { 4 };
    let mut entries = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Some((address, tail)) = rest.split_at_checked(word) else {
            return Err(".stack_sizes ends inside an address".to_owned());
        };
        let mut bytes = [0u8; 8];
        if file.is_little_endian() {
            bytes[..word].copy_from_slice(address);
        } else {
            bytes[8 - word..].copy_from_slice(address);
        }
        let address = if file.is_little_endian() {
            u64::from_le_bytes(bytes)
        } else {
            u64::from_be_bytes(bytes)
        };
        let (stack, tail) = read_uleb128(tail).ok_or(".stack_sizes has a malformed size")?;
        entries.push((address, stack));
        rest = tail;
    }
    Ok(entries)
}

/// One ULEB128 number and the bytes after it; `None` if truncated or over 64 bits.
fn read_uleb128(data: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &byte) in data.iter().enumerate().take(10) {
        let shift = u32::try_from(i * 7).ok()?;
        let bits = u64::from(byte & 0x7F);
        value |= bits.checked_shl(shift).filter(|v| v >> shift == bits)?;
        if byte & 0x80 == 0 {
            return Some((value, data.get(i + 1..)?));
        }
    }
    None
}

/// The function at `address` (Thumb addresses have bit 0 set in the symbol table but
/// not always in `.stack_sizes`, so it is ignored on both sides).
fn function_name(file: &object::File<'_>, address: u64) -> String {
    file.symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.address() & !1 == address & !1)
        .find_map(|s| s.name().ok().map(demangle))
        .unwrap_or_else(|| format!("{address:#x}"))
}

/// Legacy Rust mangling (`_ZN` length-prefixed path `E`) made readable, without the
/// hash; any other name comes back as it is. Enough for a size report, without a
/// demangling dependency.
fn demangle(name: &str) -> String {
    if let Some(path) = name.strip_prefix("_R") {
        return demangle_v0_path(path)
            .filter(|(_, rest)| rest.is_empty())
            .map_or_else(|| name.to_owned(), |(path, _)| path);
    }
    let Some(mut rest) = name.strip_prefix("_ZN") else {
        return name.to_owned();
    };
    let mut parts = Vec::new();
    while let Some(digits) = rest.find(|c: char| !c.is_ascii_digit()).filter(|&n| n > 0) {
        let (len, tail) = rest.split_at(digits);
        let Some((part, tail)) = len.parse().ok().and_then(|n| tail.split_at_checked(n)) else {
            return name.to_owned();
        };
        parts.push(part);
        rest = tail;
    }
    if rest != "E" || parts.is_empty() {
        return name.to_owned();
    }
    let is_hash = |p: &str| {
        p.len() == 17 && p.starts_with('h') && p[1..].bytes().all(|b| b.is_ascii_hexdigit())
    };
    if parts.last().is_some_and(|p| is_hash(p)) {
        parts.pop();
    }
    // A leading `_` escapes a path segment that would start with `$`.
    let parts: Vec<&str> = parts
        .into_iter()
        .map(|p| {
            p.strip_prefix('_')
                .filter(|r| r.starts_with('$'))
                .unwrap_or(p)
        })
        .collect();
    let mut text = parts.join("::");
    for (from, to) in [
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$RF$", "&"),
        ("$BP$", "*"),
        ("$LP$", "("),
        ("$RP$", ")"),
        ("$C$", ","),
        ("$u20$", " "),
        ("$u27$", "'"),
        ("$u5b$", "["),
        ("$u5d$", "]"),
        ("$u7b$", "{"),
        ("$u7d$", "}"),
        ("$u7e$", "~"),
        ("..", "::"),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// The simplest v0 paths (`C` crate roots and `N` nested names, as in the prebuilt
/// compiler-builtins of stable): the path and what follows it, `None` for anything else.
fn demangle_v0_path(text: &str) -> Option<(String, &str)> {
    let (tag, rest) = text.split_at_checked(1)?;
    match tag {
        "C" => {
            let (ident, rest) = v0_ident(skip_v0_disambiguator(rest))?;
            Some((ident.to_owned(), rest))
        }
        "N" => {
            let (_namespace, rest) = rest.split_at_checked(1)?;
            let (parent, rest) = demangle_v0_path(rest)?;
            let (ident, rest) = v0_ident(skip_v0_disambiguator(rest))?;
            Some((format!("{parent}::{ident}"), rest))
        }
        _ => None,
    }
}

/// Skips `s<base62>_`, if there.
fn skip_v0_disambiguator(text: &str) -> &str {
    text.strip_prefix('s')
        .and_then(|rest| rest.split_once('_'))
        .filter(|(digits, _)| digits.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map_or(text, |(_, rest)| rest)
}

/// A v0 identifier: a decimal length, an optional `_` separator, the bytes.
fn v0_ident(text: &str) -> Option<(&str, &str)> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (len, rest) = text.split_at(digits);
    let len: usize = len.parse().ok()?;
    let rest = rest.strip_prefix('_').unwrap_or(rest);
    rest.split_at_checked(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demangles_legacy_names() {
        assert_eq!(
            demangle(
                "_ZN13ctaphid_frame11reassembler20Reassembler$LT$B$GT$4feed17h0123456789abcdefE"
            ),
            "ctaphid_frame::reassembler::Reassembler<B>::feed"
        );
        assert_eq!(
            demangle(
                "_ZN70_$LT$$RF$mut$u20$T$u20$as$u20$ctaphid_frame..buffer..MessageBuffer$GT$6append17haf0455c2f1cf5d95E"
            ),
            "<&mut T as ctaphid_frame::buffer::MessageBuffer>::append"
        );
        assert_eq!(demangle("_start"), "_start");
        assert_eq!(
            demangle("_RNvNtCs7NhdfSRABLd_17compiler_builtins3mem6memcpy"),
            "compiler_builtins::mem::memcpy"
        );
        // Generic v0 paths are left as they are.
        assert_eq!(
            demangle("_RINvNtCs27_4core5slice1fhE"),
            "_RINvNtCs27_4core5slice1fhE"
        );
        assert_eq!(demangle("_ZN3fooE"), "foo");
        // Malformed: the length runs past the end.
        assert_eq!(demangle("_ZN99fooE"), "_ZN99fooE");
    }

    #[test]
    fn reads_uleb128() {
        assert_eq!(read_uleb128(&[0x08, 0xFF]), Some((8, &[0xFF][..])));
        assert_eq!(read_uleb128(&[0xE5, 0x8E, 0x26]), Some((624_485, &[][..])));
        assert_eq!(read_uleb128(&[0x80]), None);
        assert_eq!(read_uleb128(&[0xFF; 11]), None);
    }

    #[test]
    fn malformed_elf_is_an_error() {
        let dir = std::env::temp_dir().join(format!("xtask-size-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("not-an-elf");
        std::fs::write(&path, b"\x7fELF garbage").unwrap();
        assert!(Footprint::read(&path).is_err());
        assert!(Footprint::read(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
