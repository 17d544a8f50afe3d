//! The `ctap` command-line tool.
fn main() {}
