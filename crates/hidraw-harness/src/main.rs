//! `hidraw-harness`: runs one command in a private mount namespace where the software
//! authenticator appears as `/dev/hidrawN` (see the crate README).
//!
//! ```text
//! hidraw-harness [--key N[,OPT]...]... [--mouse N]... [--user NAME] -- COMMAND [ARG]...
//! ```
//!
//! Exit status: COMMAND's (128 + signal if it was killed); 77 when the harness cannot
//! run here (not Linux, not root, no mount namespaces, no C compiler), with a line
//! `hidraw-harness: SKIPPED: <why>` on stderr; 2 for a usage error; 70 when setting up
//! failed.

#[cfg(target_os = "linux")]
mod linux;

/// The exit status that means "skipped" (automake's convention).
const SKIPPED: i32 = 77;

fn main() {
    #[cfg(target_os = "linux")]
    std::process::exit(linux::main());
    #[cfg(not(target_os = "linux"))]
    {
        eprintln!("hidraw-harness: SKIPPED: hidraw exists only on Linux");
        std::process::exit(SKIPPED);
    }
}
