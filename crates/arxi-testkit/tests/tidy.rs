//! House rules over the source tree, as plain tests (after
//! rust-analyzer's `tidy.rs`): every file says what it is for; no import
//! cycle inside a crate; functions fit on a screen; no new silent defaults
//! in shipped code; no new fixed sleeps in tests.
//!
//! Where today's code breaks a rule, the exception is listed here with its
//! size, and the lists may only shrink: a listed function that grew, or a
//! count that rose, fails; an exception that is no longer needed fails too
//! until it is taken off the list.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// TigerBeetle's limit.
const FUNCTION_LINES_MAX: usize = 70;

/// Functions over [`FUNCTION_LINES_MAX`] lines today: (file, function, its
/// length now). Shorten one, then lower or drop its entry.
const LONG_FUNCTIONS: &[(&str, &str, usize)] = &[
    ("crates/arxi-recorder/src/bundle.rs", "write_bundle", 118),
    ("crates/arxi-sidecar/src/metrics.rs", "write_recorder", 87),
    ("crates/arxi-sidecar/src/reload.rs", "reload", 91),
    ("crates/arxi-sidecar/src/pipeline.rs", "process", 81),
    ("crates/arxi-format/src/merkle.rs", "verify_consistency", 81),
    ("crates/arxi-sidecar/src/pipeline.rs", "handle", 72),
    (
        "crates/arxi-sidecar-config/src/validate.rs",
        "check_plane_sockets",
        74,
    ),
    (
        "crates/arxi-fuzz-targets/src/framing.rs",
        "http_framing",
        74,
    ),
];

/// Silent defaults in shipped code (`src/`, tests excluded), per crate:
/// `unwrap_or_default()` and friends turn a failure into a value. Each
/// one left reads untrusted text (headers, arguments) where an empty value
/// is the right reading; none may be added where evidence is written.
const SILENT_DEFAULTS: &[(&str, usize)] = &[
    ("arxi-format", 0),
    ("arxi-store", 0),
    ("arxi-recorder", 1),
    ("arxi-sidecar-config", 1),
    ("arxi-sidecar", 19),
    ("arxi-verify", 0),
    ("arxi-verify-web", 0),
    ("arxi-fuzz-targets", 0),
    ("arxi-testkit", 0),
    ("system-tests", 3),
];

/// Fixed sleeps in tests (`thread::sleep`), per file: pacing a load or a
/// fault, never waiting for a state (poll with `arxi_testkit::eventually`).
const TEST_SLEEPS: &[(&str, usize)] = &[
    ("crates/arxi-recorder/tests/crash.rs", 1),
    ("system-tests/tests/enterprise.rs", 1),
    ("system-tests/tests/faults.rs", 5),
    ("system-tests/tests/overload.rs", 1),
    ("system-tests/tests/reload.rs", 2),
    ("system-tests/tests/resource_limits.rs", 1),
    ("system-tests/tests/sidecar_perf.rs", 1),
    // Waits out a checkpoint-stamp interval to show that nothing comes.
    ("system-tests/tests/timestamps.rs", 1),
    ("system-tests/src/bin/control_plane_stub.rs", 1),
    ("system-tests/src/lib.rs", 1),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Every `.rs` file of the workspace's own crates (vendored code and the
/// fuzz harness shims excluded), relative to the root.
fn rust_files() -> Vec<String> {
    let root = workspace();
    let mut files = Vec::new();
    let mut pending = vec![root.join("crates"), root.join("system-tests")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let relative = path
                .strip_prefix(&root)
                .expect("under the root")
                .to_string_lossy()
                .into_owned();
            if relative.starts_with("crates/vendor")
                || relative.contains("/fuzz/")
                || relative.ends_with("/target")
            {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if relative.ends_with(".rs") {
                files.push(relative);
            }
        }
    }
    files.sort();
    files
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(workspace().join(relative)).expect("read source")
}

/// Shipped code: a crate's `src/` (binaries included).
fn is_shipped(relative: &str) -> bool {
    relative.contains("/src/")
}

/// The lines of a file without its trailing `#[cfg(test)] mod ... { }`
/// blocks and with `//` comments blanked, so that rules see code only.
fn code_lines(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let next = lines.get(index + 1).map_or("", |l| l.trim_start());
        if line.trim() == "#[cfg(test)]"
            && (next.starts_with("mod ") || next.starts_with("pub mod "))
        {
            let indent = lines[index + 1].len() - next.len();
            let close = format!("{}}}", " ".repeat(indent));
            while index < lines.len() && lines[index] != close {
                out.push(String::new());
                index += 1;
            }
            out.push(String::new());
            index += 1;
            continue;
        }
        let trimmed = line.trim_start();
        out.push(if trimmed.starts_with("//") {
            String::new()
        } else {
            line.to_owned()
        });
        index += 1;
    }
    out
}

#[test]
fn every_file_says_what_it_is_for() {
    let missing: Vec<String> = rust_files()
        .into_iter()
        .filter(|file| !read(file).trim_start().starts_with("//!"))
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` opening: {missing:?}"
    );
}

/// (indent, name) of a line that opens a function item, if it does.
fn function_start(line: &str) -> Option<(usize, String)> {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let mut rest = trimmed;
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let name = rest.strip_prefix("fn ")?;
    let name: String = name
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some((indent, name))
}

/// Every function of shipped code with its length in lines (signature to
/// closing brace), per file.
fn function_lengths() -> Vec<(String, String, usize)> {
    let mut found = Vec::new();
    for file in rust_files().into_iter().filter(|f| is_shipped(f)) {
        let lines = code_lines(&read(&file));
        for (start, line) in lines.iter().enumerate() {
            let Some((indent, name)) = function_start(line) else {
                continue;
            };
            if line.trim_end().ends_with(';') {
                continue;
            }
            let close = format!("{}}}", " ".repeat(indent));
            if let Some(end) = lines[start..].iter().position(|l| *l == close) {
                found.push((file.clone(), name, end + 1));
            }
        }
    }
    found
}

#[test]
fn functions_fit_on_a_screen() {
    let listed: BTreeMap<(&str, &str), usize> = LONG_FUNCTIONS
        .iter()
        .map(|(file, name, lines)| ((*file, *name), *lines))
        .collect();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (file, name, lines) in function_lengths() {
        if lines <= FUNCTION_LINES_MAX {
            continue;
        }
        match listed.get(&(file.as_str(), name.as_str())) {
            None => problems.push(format!(
                "{file}: fn {name} is {lines} lines (at most {FUNCTION_LINES_MAX}); cut it"
            )),
            Some(allowed) if lines > *allowed => problems.push(format!(
                "{file}: fn {name} grew to {lines} lines (listed at {allowed}); cut it"
            )),
            Some(allowed) if lines < *allowed => problems.push(format!(
                "{file}: fn {name} is {lines} lines now; lower its LONG_FUNCTIONS entry from {allowed}"
            )),
            Some(_) => {}
        }
        seen.insert((file, name));
    }
    for (file, name) in listed.keys() {
        if !seen.contains(&((*file).to_owned(), (*name).to_owned())) {
            problems.push(format!(
                "{file}: fn {name} is within {FUNCTION_LINES_MAX} lines (or gone); drop it from LONG_FUNCTIONS"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The crate a file belongs to (`crates/<name>/...` or `system-tests`).
fn crate_of(file: &str) -> &str {
    file.strip_prefix("crates/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("system-tests")
}

#[test]
fn silent_defaults_do_not_grow() {
    let patterns = ["unwrap_or_default()", "unwrap_or(Timestamp::EPOCH)"];
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let files = rust_files();
    for file in files.iter().filter(|f| is_shipped(f)) {
        let code = code_lines(&read(file)).join("\n");
        let found: usize = patterns.iter().map(|p| code.matches(p).count()).sum();
        *counts.entry(crate_of(file)).or_default() += found;
    }
    let mut problems = Vec::new();
    for (name, allowed) in SILENT_DEFAULTS {
        let found = counts.remove(name).unwrap_or(0);
        if found > *allowed {
            problems.push(format!(
                "{name}: {found} silent defaults (listed at {allowed}); use a typed error or assert"
            ));
        } else if found < *allowed {
            problems.push(format!(
                "{name}: {found} silent defaults now; lower its entry from {allowed}"
            ));
        }
    }
    for (name, found) in counts.into_iter().filter(|(_, found)| *found > 0) {
        problems.push(format!(
            "{name}: {found} silent defaults and no SILENT_DEFAULTS entry"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn tests_poll_instead_of_sleeping() {
    let listed: BTreeMap<&str, usize> = TEST_SLEEPS.iter().copied().collect();
    let mut problems = Vec::new();
    for file in rust_files() {
        let in_tests = file.contains("/tests/") || file.starts_with("system-tests/");
        if !in_tests {
            continue;
        }
        let found = code_lines(&read(&file))
            .iter()
            .filter(|line| line.contains(concat!("thread::", "sleep(")))
            .count();
        let allowed = listed.get(file.as_str()).copied().unwrap_or(0);
        if found > allowed {
            problems.push(format!(
                "{file}: {found} fixed sleeps (listed at {allowed}); poll with arxi_testkit::eventually"
            ));
        } else if found < allowed {
            problems.push(format!(
                "{file}: {found} fixed sleeps now; lower its TEST_SLEEPS entry"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The module a file is (`engine`, `handlers::bundles`), or `None` for the
/// crate root.
fn module_of(relative_to_src: &str) -> Option<String> {
    let path = relative_to_src.strip_suffix(".rs")?;
    let path = path.strip_suffix("/mod").unwrap_or(path);
    if matches!(path, "lib" | "main") || path.starts_with("bin/") {
        return None;
    }
    Some(path.replace('/', "::"))
}

/// The modules a file's code names through `crate::` (and `super::` from a
/// submodule).
fn module_references(code: &str, this: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut consider = |path: &str| {
        let parts: Vec<&str> = path.split("::").collect();
        // The longest module prefix of the path.
        for take in (1..=parts.len().min(2)).rev() {
            let candidate = parts[..take].join("::");
            if modules.contains(&candidate) {
                if candidate != this {
                    found.insert(candidate);
                }
                return;
            }
        }
    };
    for (index, _) in code.match_indices("crate::") {
        let rest = &code[index + "crate::".len()..];
        if rest.starts_with('{') {
            let inside = &rest[1..rest.find('}').unwrap_or(rest.len())];
            for item in inside.split(',') {
                consider(item.trim());
            }
        } else {
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            consider(&path);
        }
    }
    if let Some((parent, _)) = this.rsplit_once("::") {
        for (index, _) in code.match_indices("super::") {
            let rest = &code[index + "super::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            consider(&format!("{parent}::{name}"));
            if !modules.contains(&format!("{parent}::{name}")) {
                consider(parent);
            }
        }
    }
    found
}

#[test]
fn no_import_cycle_inside_a_crate() {
    let mut by_crate: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in rust_files() {
        let Some((crate_dir, in_src)) = file.split_once("/src/") else {
            continue;
        };
        if let Some(module) = module_of(in_src) {
            by_crate
                .entry(crate_dir.to_owned())
                .or_default()
                .insert(module, file.clone());
        }
    }
    let mut problems = Vec::new();
    for (crate_dir, files) in &by_crate {
        let modules: BTreeSet<String> = files.keys().cloned().collect();
        let graph: BTreeMap<&String, BTreeSet<String>> = files
            .iter()
            .map(|(module, file)| {
                let code = code_lines(&read(file)).join("\n");
                (module, module_references(&code, module, &modules))
            })
            .collect();
        for cycle in cycles(&graph) {
            problems.push(format!("{crate_dir}: modules import each other: {cycle:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(graph: &BTreeMap<&String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<&'a String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on_stack: BTreeSet<String>,
        found: Vec<Vec<String>>,
    }
    impl Walk<'_> {
        fn visit(&mut self, node: &str) {
            let number = self.index.len();
            self.index.insert(node.to_owned(), number);
            self.low.insert(node.to_owned(), number);
            self.stack.push(node.to_owned());
            self.on_stack.insert(node.to_owned());
            let next: Vec<String> = self
                .graph
                .get(&node.to_owned())
                .map(|targets| targets.iter().cloned().collect())
                .unwrap_or_default();
            for target in next {
                if !self.index.contains_key(&target) {
                    self.visit(&target);
                    let low = self.low[node].min(self.low[&target]);
                    self.low.insert(node.to_owned(), low);
                } else if self.on_stack.contains(&target) {
                    let low = self.low[node].min(self.index[&target]);
                    self.low.insert(node.to_owned(), low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(&member);
                    let done = member == node;
                    component.push(member);
                    if done {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(*node) {
            walk.visit(node);
        }
    }
    walk.found
}
