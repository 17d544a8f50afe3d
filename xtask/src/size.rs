//! `cargo xtask size` (placeholder until the footprint work lands).

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    Err("cargo xtask size is not implemented yet".to_owned())
}
