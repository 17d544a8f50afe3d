//! The `ctap` command-line tool.

mod dissect;

fn main() {}
