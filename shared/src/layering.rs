//! The crate's floor plan, checked: folders import only the folders below them, and no module
//! (file) is part of an import cycle. Reads the sources as text (`crate::…` paths).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each folder and the folders it may import (besides itself), lowest first.
const LAYERS: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("platform", &["domain"]),
    ("store", &["domain", "platform"]),
    ("api", &["domain", "platform", "store"]),
    ("marketing", &["domain", "platform", "store", "api"]),
    ("events", &["domain", "platform", "store", "api", "marketing"]),
    ("meta", &["domain", "platform", "store", "api", "marketing", "events"]),
    ("automation", &["domain", "platform", "store", "api", "marketing", "events", "meta"]),
    ("flows", &["domain", "platform", "store", "api", "marketing", "events", "meta", "automation"]),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `platform/http/mod.rs` → `platform::http`, `store/keys.rs` → `store::keys`.
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file).with_extension("");
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).filter(|p| p != "mod").collect();
    parts.join("::")
}

/// The non-test part of a file (unit tests may reach anywhere, e.g. `crate::testing`).
fn non_test(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests").map_or(text, |i| &text[..i])
}

/// The crate modules a file names through `crate::` paths (longest known module prefix).
fn imports(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
        let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        if let Some(m) = (1..=segs.len()).rev().map(|n| segs[..n].join("::")).find(|m| modules.contains(m)) {
            out.insert(m);
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&root, f)).collect();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            let me = module_of(&root, f);
            let mut deps = imports(non_test(&text), &modules);
            deps.remove(&me);
            (me, deps)
        })
        .collect()
}

fn folder(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

#[test]
fn folders_import_only_the_folders_below_them() {
    let mut upward = Vec::new();
    for (module, deps) in graph() {
        let Some((_, allowed)) = LAYERS.iter().find(|(f, _)| *f == folder(&module)) else {
            continue; // lib.rs, testing.rs, this file
        };
        if module.ends_with("::tests") {
            continue; // unit tests in their own file, like those inline
        }
        for d in deps {
            let to = folder(&d);
            if to != folder(&module) && !allowed.contains(&to) {
                upward.push(format!("{module} → {d}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports against the floor plan: {upward:#?}");
}

#[test]
fn no_module_is_part_of_an_import_cycle() {
    let g = graph();
    // A module whose imports lead back to itself is on a cycle.
    let mut cyclic = Vec::new();
    for start in g.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = g[start].iter().collect();
        while let Some(m) = stack.pop() {
            if m == start {
                cyclic.push(start.clone());
                break;
            }
            if seen.insert(m.clone()) {
                stack.extend(g.get(m).into_iter().flatten());
            }
        }
    }
    assert!(cyclic.is_empty(), "modules on an import cycle: {cyclic:?}");
}

#[test]
fn every_folder_is_on_the_plan() {
    let folders: BTreeSet<String> =
        graph().keys().filter(|m| m.contains("::")).map(|m| folder(m).to_string()).collect();
    for f in &folders {
        assert!(LAYERS.iter().any(|(l, _)| l == f), "folder {f} is not in LAYERS");
    }
}
