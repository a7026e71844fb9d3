//! The shape of the code, checked: crates depend only on crates below them, and no crate
//! has a circle of modules.
//!
//! - **Crates.** Each workspace crate's `[dependencies]` on another workspace crate must point
//!   to a lower layer of [`LAYERS`] (the crate graph of the README's layout section);
//!   dev-dependencies may also reach the demo region (fixtures), never the CLI.
//! - **Modules.** For every crate, each `.rs` file is a module (`a/b.rs` and `a/b/mod.rs` are
//!   `a::b`). Every `crate::…`, `super::…` and `self::…` path in it (in `use` trees and in
//!   code) is resolved to the deepest module it names, following `pub use` re-exports of a
//!   module's children. A use of module `x::p::q` by module `x::r::s` is an edge `r → p`
//!   between the siblings `r` and `p` under their common parent `x`; uses between a module and its own ancestors are not
//!   edges (a parent re-exports its children, a child uses its parent's items). Each set of
//!   siblings must have no circle. Test-only code (`#[cfg(test)] mod …` and everything after
//!   it in a file, and files named `tests*.rs`) is left out: tests may use anything.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The crate graph, lowest layer first: a crate may depend only on crates of lower layers.
const LAYERS: &[&[&str]] = &[
    &["regio-policy"],
    &["regio-query", "regio-net", "regio-http"],
    &["regio-store"],
    &["regio-node"],
    &["regio-demo"],
    &["regio-cli"],
    &["regio-integration-tests"],
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn layer(name: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("crate {name} is in no layer of LAYERS: add it"))
}

fn toml_of(path: &Path) -> toml::Table {
    let text = fs::read_to_string(path).unwrap();
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Workspace members' directories, from the root Cargo.toml.
fn members() -> Vec<PathBuf> {
    let root_toml = toml_of(&root().join("Cargo.toml"));
    root_toml["workspace"]["members"]
        .as_array()
        .expect("workspace.members")
        .iter()
        .map(|m| root().join(m.as_str().expect("a member path")))
        .collect()
}

/// (package name, [(section, dependency)]) of one manifest: workspace crates only;
/// `target.'cfg(..)'.dev-dependencies` counts as `dev-dependencies`.
fn manifest(dir: &Path) -> (String, Vec<(String, String)>) {
    let m = toml_of(&dir.join("Cargo.toml"));
    let name = m["package"]["name"]
        .as_str()
        .expect("package.name")
        .to_owned();
    let mut tables: Vec<(&str, &toml::Value)> = Vec::new();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        tables.extend(m.get(section).map(|t| (section, t)));
        for target in m
            .get("target")
            .and_then(toml::Value::as_table)
            .into_iter()
            .flatten()
        {
            tables.extend(target.1.get(section).map(|t| (section, t)));
        }
    }
    let deps = tables
        .into_iter()
        .flat_map(|(section, t)| {
            t.as_table()
                .into_iter()
                .flat_map(|t| t.keys())
                .filter(|k| k.starts_with("regio-"))
                .map(move |k| (section.to_owned(), k.clone()))
        })
        .collect();
    (name, deps)
}

#[test]
fn crates_depend_only_on_crates_below_them() {
    let mut problems = Vec::new();
    for dir in members() {
        let (name, deps) = manifest(&dir);
        for (section, dep) in deps {
            let fixture = section == "dev-dependencies" && dep == "regio-demo";
            if layer(&dep) >= layer(&name) && !fixture {
                problems.push(format!("{name} -> {dep} ({section})"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "upward crate dependencies: {problems:#?}"
    );
}

/// Module path (without the crate) of a source file under `src`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "bin") {
                rs_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The non-test part of a file, comments removed.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t == "#[cfg(test)]" {
            if let Some(next) = lines.peek() {
                let n = next.trim();
                if n.starts_with("mod ")
                    || n.starts_with("pub mod ")
                    || n.starts_with("pub(crate) mod ")
                {
                    break;
                }
            }
        }
        let code = match t.find("//") {
            Some(i) => &t[..i],
            None => t,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Expands a `use` tree text (`a::{b, c::{d, e}}`) into full paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(i) = tree.find('{') {
        let head = tree[..i].trim_end_matches("::");
        let body = &tree[i + 1..tree.rfind('}').unwrap_or(tree.len())];
        let base = join(prefix, head);
        let mut depth = 0;
        let mut start = 0;
        for (j, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&base, &body[start..j], out);
                    start = j + 1;
                }
                _ => {}
            }
        }
        expand(&base, &body[start..], out);
    } else if !tree.is_empty() {
        let path = tree.split(" as ").next().unwrap().trim();
        out.push(join(prefix, path));
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}::{b}"),
    }
}

/// Every path a file names: from `use` statements and from `crate::`/`super::` in code.
fn paths_in(code: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for stmt in code.split(';') {
        let s = stmt.trim();
        let (is_pub, rest) = if let Some(r) = s.strip_prefix("pub use ") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("pub(crate) use ") {
            (true, r)
        } else if let Some(i) = s.find("use ").filter(|&i| i == 0 || s[..i].ends_with('\n')) {
            (false, &s[i + 4..])
        } else {
            continue;
        };
        let mut v = Vec::new();
        expand("", &rest.replace('\n', " "), &mut v);
        out.extend(v.into_iter().map(|p| (p, is_pub)));
    }
    let bytes = code.as_bytes();
    for key in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(key) {
            let at = from + i;
            from = at + key.len();
            if at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':')
            {
                continue;
            }
            let end = code[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            out.push((code[at..end].trim_end_matches(':').to_owned(), false));
        }
    }
    out
}

/// A path named in module `m`, made absolute (a list of segments from the crate root).
fn absolute(m: &[String], path: &str) -> Option<Vec<String>> {
    let mut segs = path.split("::").filter(|s| !s.is_empty());
    let mut base: Vec<String> = match segs.next()? {
        "crate" => Vec::new(),
        "self" => m.to_vec(),
        "super" => m[..m.len().checked_sub(1)?].to_vec(),
        _ => return None, // another crate, or a local name
    };
    for s in segs {
        if s == "super" {
            base.pop();
        } else if s != "self" {
            base.push(s.to_owned());
        }
    }
    Some(base)
}

struct Crate {
    modules: BTreeSet<Vec<String>>,
    /// (module, name) -> the child module it re-exports from.
    reexports: BTreeMap<(Vec<String>, String), Vec<String>>,
    uses: Vec<(Vec<String>, Vec<String>)>,
}

fn load(src: &Path) -> Crate {
    let mut files = Vec::new();
    rs_files(src, &mut files);
    let mut c = Crate {
        modules: BTreeSet::new(),
        reexports: BTreeMap::new(),
        uses: Vec::new(),
    };
    let mut named = Vec::new();
    for f in &files {
        let stem = f.file_stem().unwrap().to_string_lossy();
        if stem.starts_with("tests") {
            continue;
        }
        let m = module_of(src, f);
        c.modules.insert(m.clone());
        let code = code_of(&fs::read_to_string(f).unwrap());
        named.push((m, paths_in(&code)));
    }
    for (m, paths) in &named {
        for (p, is_pub) in paths {
            let Some(abs) = absolute(m, p) else {
                // `pub use child::X` (a path relative to this module).
                if *is_pub {
                    let mut rel = m.clone();
                    rel.extend(p.split("::").map(str::to_owned));
                    if let Some(target) = deepest(&c.modules, &rel) {
                        if target.len() > m.len() {
                            let name = p.rsplit("::").next().unwrap().to_owned();
                            c.reexports.insert((m.clone(), name), target);
                        }
                    }
                }
                continue;
            };
            if *is_pub {
                if let Some(target) = deepest(&c.modules, &abs) {
                    if target.len() > m.len() && target.starts_with(m) {
                        let name = p.rsplit("::").next().unwrap().to_owned();
                        c.reexports.insert((m.clone(), name), target);
                    }
                }
            }
            c.uses.push((m.clone(), abs));
        }
    }
    c
}

/// The deepest known module `path` starts with.
fn deepest(modules: &BTreeSet<Vec<String>>, path: &[String]) -> Option<Vec<String>> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

fn resolve(c: &Crate, path: &[String]) -> Option<Vec<String>> {
    let mut target = deepest(&c.modules, path)?;
    // Follow re-exports: `query::PartialResult` is `query::partial`.
    for _ in 0..8 {
        let Some(name) = path.get(target.len()) else {
            break;
        };
        match c.reexports.get(&(target.clone(), name.clone())) {
            Some(t) if t != &target => target = t.clone(),
            _ => break,
        }
    }
    Some(target)
}

/// Sibling circles: for each parent, a circle among its children, as text.
fn circles(c: &Crate) -> Vec<String> {
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, path) in &c.uses {
        let Some(to) = resolve(c, path) else { continue };
        let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
        if common == from.len() || common == to.len() {
            continue; // a module and one of its ancestors
        }
        graphs
            .entry(from[..common].to_vec())
            .or_default()
            .entry(from[common].clone())
            .or_default()
            .insert(to[common].clone());
    }
    let mut found = Vec::new();
    for (parent, g) in &graphs {
        for start in g.keys() {
            // A path from `start` back to itself through the graph.
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            let mut seen = BTreeSet::new();
            while let Some((n, trail)) = stack.pop() {
                for next in g.get(&n).into_iter().flatten() {
                    if next == start {
                        let mut t = trail.clone();
                        t.push(start.clone());
                        found.push(format!("in `{}`: {}", parent.join("::"), t.join(" -> ")));
                    } else if seen.insert(next.clone()) {
                        let mut t = trail.clone();
                        t.push(next.clone());
                        stack.push((next.clone(), t));
                    }
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_crate_has_a_circle_of_modules() {
    let mut problems = Vec::new();
    for dir in members() {
        let (name, _) = manifest(&dir);
        let src = dir.join("src");
        let c = load(&src);
        assert!(
            c.modules.len() > 1 || name == "regio-integration-tests",
            "{name}: no modules found"
        );
        problems.extend(circles(&c).into_iter().map(|x| format!("{name} {x}")));
    }
    assert!(
        problems.is_empty(),
        "module circles:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_finds_a_circle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    fs::write(src.join("lib.rs"), "mod a;\nmod b;\npub use b::Thing;\n").unwrap();
    fs::write(src.join("a.rs"), "use crate::Thing;\npub struct A;\n").unwrap();
    fs::write(src.join("b.rs"), "pub struct Thing(crate::a::A);\n").unwrap();
    let found = circles(&load(src));
    assert!(found.iter().any(|f| f.contains("a -> b -> a")), "{found:?}");
    fs::write(src.join("a.rs"), "pub struct A;\n").unwrap();
    assert!(circles(&load(src)).is_empty());
}
