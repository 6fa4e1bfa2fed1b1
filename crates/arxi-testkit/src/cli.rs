//! Command lines as a user meets them: [`walk_help`] runs `--help` on a
//! binary and on every subcommand its help lists, recursively, so a test
//! can hold every one to "exits 0 and prints its usage". It knows clap's
//! help layout (a `Commands:` section, one command per line) and nothing
//! of any particular binary.

use std::path::Path;
use std::process::Command;

/// Deepest nesting of subcommands followed (a guard against a help text
/// that lists a command's own name).
const DEPTH_MAX: usize = 6;

/// Every command path of `binary` (`[]`, `["bundle"]`, `["bundle",
/// "verify"]`, ...) whose `--help` was run, with the problems found: a
/// non-zero exit, or a help text without `Usage:`.
pub fn walk_help(binary: &Path) -> (Vec<Vec<String>>, Vec<String>) {
    let mut visited = Vec::new();
    let mut problems = Vec::new();
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = pending.pop() {
        let output = Command::new(binary)
            .args(&path)
            .arg("--help")
            .output()
            .expect("the binary runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let shown = format!("{} {} --help", binary.display(), path.join(" "));
        if output.status.code() != Some(0) {
            problems.push(format!("{shown}: exit {:?}", output.status.code()));
        }
        if !text.contains("Usage:") {
            problems.push(format!("{shown}: no Usage: line in\n{text}"));
        }
        if path.len() < DEPTH_MAX {
            for command in subcommands(&text) {
                let mut child = path.clone();
                child.push(command);
                pending.push(child);
            }
        }
        visited.push(path);
    }
    visited.sort();
    (visited, problems)
}

/// The commands a clap help text lists under `Commands:` (but `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}
