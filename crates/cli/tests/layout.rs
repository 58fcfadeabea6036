//! The shape of the house, checked: which crate may depend on which (the two faces stand side by
//! side on the shared floor, never one on the other), no source file over 500 lines, no import
//! cycle between the files of a crate, and roles never searched as text.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// What each crate of the workspace may depend on among the others (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("pb-domain", &[]),
    ("pb-auth", &[]),
    ("pb-store", &["pb-domain"]),
    ("pb-documents", &["pb-domain", "pb-store"]),
    ("pb-app", &["pb-domain", "pb-store", "pb-auth"]),
    ("pb-jobs", &["pb-domain", "pb-store", "pb-app"]),
    ("pb-api", &["pb-domain", "pb-store", "pb-app", "pb-documents"]),
    ("pb-web", &["pb-domain", "pb-store", "pb-app", "pb-documents"]),
    ("partner-billing", &["pb-domain", "pb-store", "pb-auth", "pb-app", "pb-api", "pb-web", "pb-jobs"]),
];

#[test]
fn crates_depend_inward_and_the_faces_never_on_each_other() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let ours: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    for p in packages {
        let name = p["name"].as_str().unwrap();
        let allowed = ALLOWED.iter().find(|(n, _)| *n == name).map(|(_, a)| *a);
        let allowed = allowed.unwrap_or_else(|| panic!("crate {name} is not in the layout table of this test (and the README)"));
        for d in p["dependencies"].as_array().unwrap() {
            let dep = d["name"].as_str().unwrap();
            if !ours.contains(dep) || dep == name {
                continue;
            }
            // Any kind of dependency between the two faces is refused; tests included.
            let faces = [("pb-web", "pb-api"), ("pb-api", "pb-web")];
            assert!(!faces.contains(&(name, dep)), "{name} depends on {dep}: the two faces stand side by side on pb-app");
            if d["kind"].is_null() {
                assert!(allowed.contains(&dep), "{name} may not depend on {dep} (allowed: {allowed:?})");
            }
        }
    }
}

#[test]
fn no_source_file_is_over_500_lines() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    let big: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 500).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(big.is_empty(), "split these by use case or page: {big:#?}");
}

// rule A1: directory and partner roles are rows that queries join, never text searched with LIKE.
#[test]
fn rule_a1_roles_are_never_searched_as_text() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    let mut sql = Vec::new();
    for d in ["sqlite", "postgres"] {
        for e in std::fs::read_dir(workspace().join("crates/store/migrations").join(d)).unwrap() {
            sql.push(e.unwrap().path());
        }
    }
    let needle = ["LIKE", " '%"].concat();
    for f in files.iter().chain(&sql) {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(!text.contains(&needle), "{} searches text with a leading wildcard", f.display());
    }
}

/// A module of a crate: its path below the crate root (`["billing", "accounts"]`).
type Module = Vec<String>;

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    match last.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_owned()),
    }
    parts
}

/// Every `use` of the file before its unit tests, flattened to paths: `(is_reexport, path)`.
fn uses(text: &str) -> Vec<(bool, Vec<String>)> {
    let text = text.split("#[cfg(test)]\nmod ").next().unwrap_or(text);
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("use ") {
        let before = &rest[..i];
        let line_start = before.rfind('\n').map(|n| n + 1).unwrap_or(0);
        let prefix = before[line_start..].trim();
        let after = &rest[i + 4..];
        let end = after.find(';').unwrap_or(after.len());
        let stmt: String = after[..end].chars().filter(|c| !c.is_whitespace()).collect();
        rest = &after[end..];
        if prefix.is_empty() || prefix == "pub" || prefix.starts_with("pub(") {
            for p in expand(&stmt) {
                out.push((!prefix.is_empty(), p.split("::").map(str::to_owned).collect()));
            }
        }
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(stmt: &str) -> Vec<String> {
    let Some(open) = stmt.find('{') else { return vec![stmt.split(" as ").next().unwrap_or(stmt).to_owned()] };
    let head = &stmt[..open];
    let inner = &stmt[open + 1..stmt.rfind('}').unwrap_or(stmt.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts.into_iter().filter(|p| !p.is_empty() && *p != "self").flat_map(|p| expand(&format!("{head}{p}"))).collect()
}

struct Crate {
    files: BTreeMap<Module, String>,
}

impl Crate {
    fn load(src: &Path) -> Crate {
        let mut paths = Vec::new();
        rust_files(src, &mut paths);
        Crate { files: paths.iter().map(|p| (module_of(src, p), std::fs::read_to_string(p).unwrap())).collect() }
    }

    /// The module that defines what `path` (relative to the crate root) names, following re-exports.
    fn resolve(&self, path: &[String], depth: usize) -> Module {
        let mut m: Module = Vec::new();
        let mut i = 0;
        while i < path.len() && self.files.contains_key(&[m.clone(), vec![path[i].clone()]].concat()) {
            m.push(path[i].clone());
            i += 1;
        }
        let Some(item) = path.get(i) else { return m };
        let reexport = uses(&self.files[&m]).into_iter().find(|(public, p)| *public && p.last() == Some(item));
        match reexport.and_then(|(_, p)| self.absolute(&m, &p)) {
            Some(target) if depth < 8 => self.resolve(&target, depth + 1),
            _ => m,
        }
    }

    /// A path of a `use` in module `from`, made relative to the crate root; `None` when it names
    /// another crate.
    fn absolute(&self, from: &Module, path: &[String]) -> Option<Vec<String>> {
        let first = path.first()?.as_str();
        let mut base: Vec<String> = match first {
            "crate" => Vec::new(),
            "super" | "self" => from.clone(),
            _ if self.files.contains_key(&[from.clone(), vec![first.to_owned()]].concat()) => from.clone(),
            _ => return None,
        };
        let mut segs = path.iter().peekable();
        if matches!(first, "crate" | "self") {
            segs.next();
        }
        while segs.peek().map(|s| s.as_str()) == Some("super") {
            segs.next();
            base.pop();
        }
        base.extend(segs.cloned());
        Some(base)
    }

    fn edges(&self) -> BTreeMap<Module, BTreeSet<Module>> {
        let mut g: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (m, text) in &self.files {
            for (public, path) in uses(text) {
                // A re-export is a door, not a dependency: `resolve` walks through it.
                if public {
                    continue;
                }
                let Some(path) = self.absolute(m, &path) else { continue };
                let target = self.resolve(&path, 0);
                if &target != m && !target.is_empty() {
                    g.entry(m.clone()).or_default().insert(target);
                }
            }
        }
        g
    }
}

fn find_cycle(g: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        n: &Module,
        g: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for next in g.get(n).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|m| m == next).unwrap_or(0);
                    return Some([&stack[start..], std::slice::from_ref(next)].concat());
                }
                0 => {
                    if let Some(c) = visit(next, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, g, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_import_cycle_between_the_files_of_a_crate() {
    for entry in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let src = entry.unwrap().path().join("src");
        let c = Crate::load(&src);
        let g = c.edges();
        if let Some(cycle) = find_cycle(&g) {
            let names: Vec<String> = cycle.iter().map(|m| if m.is_empty() { "(root)".to_owned() } else { m.join("/") }).collect();
            panic!("{}: import cycle {}", src.display(), names.join(" -> "));
        }
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let m = |s: &str| vec![s.to_owned()];
    let mut g = BTreeMap::new();
    g.insert(m("a"), BTreeSet::from([m("b")]));
    g.insert(m("b"), BTreeSet::from([m("c")]));
    assert!(find_cycle(&g).is_none());
    g.insert(m("c"), BTreeSet::from([m("a")]));
    assert_eq!(find_cycle(&g).map(|c| c.len()), Some(4));
    assert_eq!(expand("crate::{db::{Tx,args},Result}"), vec!["crate::db::Tx", "crate::db::args", "crate::Result"]);
}
