//! `cargo xtask fuzz` (placeholder until the framing work lands).

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    Err("cargo xtask fuzz is not implemented yet".to_owned())
}
