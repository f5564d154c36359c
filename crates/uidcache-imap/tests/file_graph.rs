//! The crate's files form no circle: no file uses (through `crate::`) a file that, directly
//! or through others, uses it back. Types two files share live in a third (`event.rs`).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

use std::collections::{BTreeMap, BTreeSet};

/// The file modules each file of `src/` names as `crate::name`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            files.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    let names: BTreeSet<String> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(name, text)| {
            let mut uses = BTreeSet::new();
            for (i, _) in text.match_indices("crate::") {
                let rest = &text[i + "crate::".len()..];
                // `crate::{a, b::c}` names several.
                let words: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group[..group.find('}').unwrap()].split(',').collect(),
                    None => vec![rest],
                };
                for w in words {
                    let w = w.trim();
                    let end = w
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(w.len());
                    let module = &w[..end];
                    if module != name && names.contains(module) {
                        uses.insert(module.to_string());
                    }
                }
            }
            (name.clone(), uses)
        })
        .collect()
}

/// A circle through `start`, if any: the path back to it.
fn circle_from(
    g: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    at: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    for next in &g[at] {
        if next == start {
            let mut found = path.clone();
            found.push(start.to_string());
            return Some(found);
        }
        if !path.contains(next) {
            path.push(next.clone());
            if let Some(found) = circle_from(g, start, next, path) {
                return Some(found);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let g = graph();
    assert!(g.len() > 5, "read the crate's files: {:?}", g.keys());
    assert!(
        g["session"].contains("start"),
        "the parser sees `crate::` uses"
    );
    for name in g.keys() {
        let found = circle_from(&g, name, name, &mut vec![name.clone()]);
        assert!(found.is_none(), "a circle of files: {found:?}");
    }
}
