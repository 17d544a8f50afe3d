//! `ctap man`: the man page (roff), from the same definition as `--help`.

use crate::error::Outcome;

/// Prints the page of the command line `definition` (the whole `ctap`).
pub(crate) fn run(definition: clap::Command) -> Outcome {
    let page = clap_mangen::Man::new(definition);
    page.render(&mut std::io::stdout())?;
    Ok(())
}
