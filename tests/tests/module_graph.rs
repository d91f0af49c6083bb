//! No two modules of a crate depend on each other, directly or around a longer loop: each module
//! can be read, tested and changed from its imports down (issue 9). A module depends on another
//! when its code (comments and its own `#[cfg(test)]` tail left out) names it by
//! `crate::<path>` or relative to an ancestor (`super::<name>`, `super::super::<path>`), in a
//! path or inside a grouped `use` (`use crate::{a::X, b}`). A module's own children are not
//! counted: `mod` declarations are where a folder's modules live, not a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every crate of the workspace with a library or binary of its own modules.
const CRATES: &[&str] = &[
    "host/runtime/src",
    "host/notify/src",
    "host/conformance/src",
    "host/service/src",
    "host/storage/src",
    "host/web/src",
    "host/cli/src",
    "analysis/src",
    "logtext/src",
    "plugin/kit/src",
    "plugin/gitflic/src",
    "plugin/gitlab/src",
];

/// Module path (`accounts::budget`) → its code without comments and without its test tail.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut name = rel.to_string_lossy().replace('/', "::");
            if let Some(parent) = name.strip_suffix("::mod") {
                name = parent.to_string();
            }
            if name == "lib" || name == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code: String = text
                .lines()
                .take_while(|l| *l != "#[cfg(test)]")
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            out.insert(name, with_whole_paths(&code));
        }
    }
    out
}

/// `code` and, after it, each path its grouped imports name only in pieces, whole.
fn with_whole_paths(code: &str) -> String {
    let flat: Vec<String> = use_trees(code).iter().flat_map(|t| flatten(t)).collect();
    format!("{code}\n{}", flat.join("\n"))
}

/// The trees of the `use` items in `code` (`crate::{a, b::{c, d}}`): a line that starts with
/// `use` (after its visibility) up to the `;`, over as many lines as it takes.
fn use_trees(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        let rest = ["pub(crate) ", "pub(super) ", "pub ", ""]
            .iter()
            .find_map(|vis| trimmed.strip_prefix(vis)?.strip_prefix("use "));
        let Some(rest) = rest else { continue };
        let from = start + (line.len() - rest.len());
        if let Some(end) = code[from..].find(';') {
            out.push(code[from..from + end].trim().to_string());
        }
    }
    out
}

/// `crate::{a::X, b::{c, d as e}}` → `crate::a::X`, `crate::b::c`, `crate::b::d`.
fn flatten(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let (open, close) = match (tree.find('{'), tree.rfind('}')) {
        (Some(open), Some(close)) if open < close => (open, close),
        _ => return vec![tree.split(" as ").next().unwrap_or(tree).trim().to_string()],
    };
    let prefix = &tree[..open];
    let mut parts = Vec::new();
    let (mut depth, mut from) = (0, open + 1);
    for (i, c) in tree[open + 1..close].char_indices() {
        let i = open + 1 + i;
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&tree[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[from..close]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(flatten)
        .map(|p| format!("{prefix}{p}"))
        .collect()
}

/// Whether `code` names `path` as a whole path segment sequence (`crate::a::b`, not `crate::a::bc`).
fn names(code: &str, path: &str) -> bool {
    code.match_indices(path).any(|(i, _)| {
        let after = code[i + path.len()..].chars().next();
        let before = code[..i].chars().next_back();
        !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

fn edges(mods: &BTreeMap<String, String>) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, code) in mods {
        let set = edges.entry(a.as_str()).or_default();
        for b in mods.keys() {
            if a == b || b.starts_with(&format!("{a}::")) {
                continue;
            }
            // `super::` once per level up to the ancestor that also holds `b`.
            let segments: Vec<&str> = a.split("::").collect();
            let by_super = (1..=segments.len()).any(|up| {
                let ancestor = segments[..segments.len() - up].join("::");
                let rel = if ancestor.is_empty() {
                    Some(b.as_str())
                } else {
                    b.strip_prefix(&format!("{ancestor}::"))
                };
                rel.is_some_and(|rel| names(code, &format!("{}{rel}", "super::".repeat(up))))
            });
            if names(code, &format!("crate::{b}")) || by_super {
                set.insert(b.as_str());
            }
        }
    }
    edges
}

/// The loops of the graph: strongly connected components with more than one module.
fn loops<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<Vec<&'a str>> {
    // Two modules are in one loop when each reaches the other.
    let reach = |from: &'a str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from];
        while let Some(m) = todo.pop() {
            for &n in edges.get(m).into_iter().flatten() {
                if seen.insert(n) {
                    todo.push(n);
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&str, BTreeSet<&str>> = edges.keys().map(|&m| (m, reach(m))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for &m in edges.keys() {
        if done.contains(m) {
            continue;
        }
        let comp: Vec<&str> = reaches[m]
            .iter()
            .copied()
            .filter(|&n| n != m && reaches[n].contains(m))
            .chain([m])
            .collect();
        if comp.len() > 1 {
            done.extend(comp.iter().copied());
            out.push(comp);
        }
    }
    out
}

#[test]
fn no_module_depends_on_another_that_depends_back_on_it() {
    let root = exlogare_conformance_tests::workspace_root();
    let mut found = Vec::new();
    let mut counted = 0;
    for krate in CRATES {
        let mods = modules(&root.join(krate));
        counted += mods.len();
        for l in loops(&edges(&mods)) {
            found.push(format!("{krate}: {}", l.join(" → ")));
        }
    }
    assert!(counted > 60, "the modules were found ({counted})");
    assert!(
        found.is_empty(),
        "modules that depend on each other:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_loop_is_seen() {
    let mods: BTreeMap<String, String> = [
        ("a".to_string(), "use crate::b::X;".to_string()),
        ("b".to_string(), "fn f() { crate::c::g() }".to_string()),
        ("c".to_string(), "use crate::a;".to_string()),
        ("d".to_string(), "use crate::a; // crate::d".to_string()),
        ("p::q".to_string(), "use super::r;".to_string()),
        ("p::r".to_string(), "use super::q::Y;".to_string()),
        ("ab".to_string(), "use crate::abc;".to_string()),
        // Grouped, nested and renamed imports; a module two levels down naming its uncle.
        (
            "e".to_string(),
            "pub(crate) use crate::{f::{Z as W, self}, ab};".to_string(),
        ),
        (
            "f".to_string(),
            "#[allow(unused)]\nuse crate::{e};".to_string(),
        ),
        ("x::w".to_string(), "use super::{y::z::T};".to_string()),
        ("x::y".to_string(), String::new()),
        ("x::y::z".to_string(), "use super::super::w::V;".to_string()),
    ]
    .into_iter()
    .map(|(name, code)| (name, with_whole_paths(&code)))
    .collect();
    let mut l = loops(&edges(&mods));
    l.iter_mut().for_each(|c| c.sort());
    l.sort();
    assert_eq!(
        l,
        vec![
            vec!["a", "b", "c"],
            vec!["e", "f"],
            vec!["p::q", "p::r"],
            vec!["x::w", "x::y::z"]
        ]
    );
}

#[test]
fn grouped_imports_are_read_as_whole_paths() {
    assert_eq!(
        flatten("crate::{a::X, b::{c, d as e}, f}"),
        ["crate::a::X", "crate::b::c", "crate::b::d", "crate::f"]
    );
    assert_eq!(
        use_trees("#[cfg(x)]\npub(crate) use crate::{a, b};\nlet user = 1;\n\"to use {x}\";"),
        ["crate::{a, b}"]
    );
}
