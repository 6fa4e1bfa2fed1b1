//! Shell completions (clap_complete) and manual pages (clap_mangen), made
//! from the same command tree clap parses with, so they cannot drift from
//! it. The release scripts write them into the release artifacts.

use std::path::Path;

use clap::CommandFactory;

use super::CouldNotCheck;

/// Prints the completion script of `shell` for the command `name`.
pub(crate) fn completions<C: CommandFactory>(
    shell: clap_complete::Shell,
    name: &str,
) -> Result<u8, CouldNotCheck> {
    let mut command = C::command();
    clap_complete::generate(shell, &mut command, name, &mut std::io::stdout());
    Ok(0)
}

/// Writes `NAME.1` and one page per subcommand (`NAME-SUB-...1`) into `dir`.
pub(crate) fn man_pages<C: CommandFactory>(dir: &Path) -> Result<u8, CouldNotCheck> {
    std::fs::create_dir_all(dir).map_err(|e| CouldNotCheck(format!("{}: {e}", dir.display())))?;
    let command = C::command();
    clap_mangen::generate_to(command, dir)
        .map_err(|e| CouldNotCheck(format!("writing manual pages into {}: {e}", dir.display())))?;
    let written = std::fs::read_dir(dir)
        .map_err(|e| CouldNotCheck(format!("{}: {e}", dir.display())))?
        .count();
    eprintln!("wrote {written} manual page(s) into {}", dir.display());
    Ok(0)
}
