//! The architecture, read from `src/` (issue 22.2 and 22.5): layers never
//! reference each other, shared modules never reference a layer, only
//! `lib.rs` and `stack.rs` compose, and no function is over 80 lines.
//!
//! A reference is `crate::<module>` (a crate-root re-export resolved
//! through `lib.rs` to the module it comes from) or
//! `super::super::<module>`, outside comments and in-file test modules.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The layers: each may use the shared modules, never another layer.
const LAYERS: &[&str] = &[
    "retry", "auth", "quota", "parse", "classify", "breaker", "hedge",
];
/// The modules that compose, and may use anything.
const FREE: &[&str] = &["lib", "stack"];
/// The longest function allowed, in lines.
const MAX_FN_LINES: usize = 80;

/// Violations allowed: none. (A redesign in progress may list here what it
/// has not yet moved, with a comment that says when it goes.)
const KNOWN: &[&str] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
}

/// The top-level module a file belongs to (`src/retry/future.rs`: `retry`).
fn module_of(relative: &str) -> String {
    let head = relative.split('/').next().unwrap();
    head.strip_suffix(".rs").unwrap_or(head).to_owned()
}

/// The file's lines without its in-file test module, with comment lines
/// blanked and trailing comments cut (on lines without string literals).
fn code_lines(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|pair| {
            pair[0].trim() == "#[cfg(test)]" && pair[1].trim_start().starts_with("mod ")
        })
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .map(|line| {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with("//") {
                String::new()
            } else if !line.contains('"') {
                line.split("//").next().unwrap().to_owned()
            } else {
                (*line).to_owned()
            }
        })
        .collect()
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// The identifiers that follow `prefix` in `line`, at word starts.
fn after<'a>(line: &'a str, prefix: &str) -> Vec<&'a str> {
    let bytes = line.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = line[from..].find(prefix) {
        let start = from + at;
        from = start + prefix.len();
        if start > 0 && is_ident(bytes[start - 1]) {
            continue;
        }
        let end = from + bytes[from..].iter().take_while(|b| is_ident(**b)).count();
        if end > from {
            found.push(&line[from..end]);
        }
    }
    found
}

/// Crate-root re-exports: name -> the module it comes from
/// (`pub use retry::{RetryLayer, RetryPolicy};` maps both to `retry`).
fn root_reexports(lib: &str) -> HashMap<String, String> {
    let mut root = HashMap::new();
    let mut rest = lib;
    while let Some(at) = rest.find("pub use ") {
        let statement = &rest[at + "pub use ".len()..];
        let end = statement.find(';').unwrap_or(statement.len());
        let body = statement[..end]
            .trim_start_matches("self::")
            .trim_start_matches("crate::");
        if let Some((module, names)) = body.split_once("::") {
            let names = names.split(|c: char| !(c.is_alphanumeric() || c == '_'));
            for name in names.filter(|name| !name.is_empty()) {
                root.entry(name.to_owned())
                    .or_insert_with(|| module.to_owned());
            }
        }
        rest = &statement[end..];
    }
    root
}

/// The modules `lines` reference.
fn references(lines: &[String], root: &HashMap<String, String>) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    for line in lines {
        for name in after(line, "crate::") {
            refs.insert(root.get(name).cloned().unwrap_or_else(|| name.to_owned()));
        }
        for name in after(line, "super::super::") {
            refs.insert(name.to_owned());
        }
    }
    refs
}

/// Functions over the limit: `name` and their length in lines.
fn long_functions(lines: &[String]) -> Vec<(String, usize)> {
    let mut long = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(name) = fn_name(&lines[i]) else {
            i += 1;
            continue;
        };
        let (mut depth, mut started, mut j) = (0i64, false, i);
        while j < lines.len() {
            let line = &lines[j];
            depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            started |= line.contains('{');
            if (started && depth <= 0) || (!started && line.trim_end().ends_with(';')) {
                break;
            }
            j += 1;
        }
        if started && j - i + 1 > MAX_FN_LINES {
            long.push((name, j - i + 1));
        }
        i = if started { j + 1 } else { i + 1 };
    }
    long
}

/// The name of the function a line declares, if it does.
fn fn_name(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    if let Some(after_pub) = rest.strip_prefix("pub") {
        rest = match after_pub.strip_prefix('(') {
            Some(scoped) => scoped.split_once(')')?.1,
            None => after_pub,
        }
        .trim_start();
    }
    for qualifier in ["const ", "async ", "unsafe "] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest).trim_start();
    }
    let name = rest.strip_prefix("fn ")?;
    let end = name.bytes().take_while(|b| is_ident(*b)).count();
    (end > 0).then(|| name[..end].to_owned())
}

/// Every finding in `src/`, as `path -> module` or `path: function`.
fn findings() -> Vec<String> {
    let src = src();
    let root = root_reexports(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for path in files {
        let relative = path
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let shown = format!("src/{relative}");
        let lines = code_lines(&std::fs::read_to_string(&path).unwrap());
        let module = module_of(&relative);
        if !FREE.contains(&module.as_str()) {
            for target in references(&lines, &root) {
                if target != module && LAYERS.contains(&target.as_str()) {
                    found.push(format!("{shown} -> {target}"));
                }
            }
        }
        for (name, _) in long_functions(&lines) {
            found.push(format!("{shown}: {name}"));
        }
    }
    found
}

#[test]
fn layers_reference_no_other_layer_and_shared_modules_no_layer_and_functions_stay_short() {
    let new: Vec<String> = findings()
        .into_iter()
        .filter(|finding| !KNOWN.contains(&finding.as_str()))
        .collect();
    assert!(
        new.is_empty(),
        "architecture violations (a layer or shared module referencing a layer, or a \
         function over {MAX_FN_LINES} lines):\n  {}",
        new.join("\n  ")
    );
}

/// The checker itself, on small inputs: what counts as a reference, a
/// re-export, a comment, and a long function.
#[test]
fn the_checker_reads_references_reexports_and_lengths() {
    let root = root_reexports("pub use retry::{RetryLayer, RetryPolicy};\npub use error::Error;");
    assert_eq!(root["RetryPolicy"], "retry");
    assert_eq!(root["Error"], "error");
    let lines = code_lines(
        "use crate::RetryPolicy;\n// crate::auth in a comment\nuse super::super::quota::X;\n\
         let a = crate::error::Error::new(); // crate::hedge\n#[cfg(test)]\nmod tests {\n use crate::breaker;\n}\n",
    );
    let refs = references(&lines, &root);
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["error", "quota", "retry"]
    );
    let body = (0..MAX_FN_LINES).map(|_| "    x();\n").collect::<String>();
    let long = format!("pub(crate) fn long() {{\n{body}}}\nfn short() {{\n}}\n");
    assert_eq!(
        long_functions(&code_lines(&long)),
        [("long".to_owned(), MAX_FN_LINES + 2)]
    );
    assert_eq!(
        fn_name("    pub(crate) async fn poll_ready(&mut self)"),
        Some("poll_ready".into())
    );
    assert_eq!(module_of("retry/future.rs"), "retry");
    assert_eq!(module_of("stack.rs"), "stack");
}
