//! No two modules of a crate depend on each other, directly or around a longer loop: each module
//! can be read, tested and changed from its imports down (issue 9). A module depends on another
//! when its code (comments and its own `#[cfg(test)]` tail left out) names it by
//! `crate::<path>` or, for a sibling, `super::<name>`. A module's own children are not counted:
//! `mod` declarations are where a folder's modules live, not a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every crate of the workspace with a library or binary of its own modules.
const CRATES: &[&str] = &[
    "host/runtime/src",
    "host/notify/src",
    "host/conformance/src",
    "host/service/src",
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
            out.insert(name, code);
        }
    }
    out
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
            let parent_of = |m: &str| m.rsplit_once("::").map(|(p, _)| p.to_string());
            let sibling = parent_of(a).is_some() && parent_of(a) == parent_of(b);
            let by_super =
                sibling && names(code, &format!("super::{}", b.rsplit("::").next().unwrap()));
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
    ]
    .into();
    let mut l = loops(&edges(&mods));
    l.iter_mut().for_each(|c| c.sort());
    l.sort();
    assert_eq!(l, vec![vec!["a", "b", "c"], vec!["p::q", "p::r"]]);
}
