//! The shape of `src/`, read from its `use` lines (README, "Architecture"):
//!
//! - no import cycle among the files of `src/`;
//! - each thread's folder (`reactor/`, `processor/`, `journal/`, `bus/`,
//!   `admin/`, `logging.rs`, `memory.rs`, `trace/`) imports no other thread's folder
//!   and not the start-up wiring: threads meet only in `cross_thread/`;
//! - `cross_thread/` depends on nothing but `ocpp` and `config`;
//!   `ocpp/` on nothing outside itself; `config/` on `ocpp` only — besides
//!   the leaf helpers (`json_text`, `time_text`, `slab`, `net`,
//!   `tls_stream`), which import nothing of the crate themselves.
//!
//! A file's imports are its `use crate::…`, `use super::…`, `use self::…`
//! and `use child::…` declarations and any `crate::…` path in its code,
//! outside comments and its `#[cfg(test)] mod tests` (a test module may use
//! its parent freely). An imported name is followed through re-exports to
//! the file that defines it; a `pub use` that its own file does not use is
//! that file's interface, not a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Folders (top-level modules) that a thread owns.
const THREADS: &[&str] = &[
    "reactor",
    "processor",
    "journal",
    "bus",
    "admin",
    "logging",
    "memory",
    "trace",
    "queue",
];
/// Modules with no thread state that any thread may use.
const PURE_HELPERS: &[&str] = &["auth", "tls", "command_json"];
/// Pure helpers that import nothing of the crate (checked): anyone may use
/// them, `ocpp` and `cross_thread` included, without a cycle or a coupling.
const LEAF_HELPERS: &[&str] = &[
    "json_text",
    "time_text",
    "slab",
    "net",
    "tls_stream",
    "affinity",
];
/// Sees everything: the start-up wiring.
const WIRING: &str = "start";

type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn src_has_no_import_cycle() {
    let graph = import_graph();
    let cycles = cycles(&graph);
    assert!(
        cycles.is_empty(),
        "import cycles among src/ files (module paths):\n{}",
        cycles
            .iter()
            .map(|c| format!("  one cycle through: {}", c.join(", ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn threads_meet_only_in_cross_thread() {
    let graph = import_graph();
    let mut wrong = Vec::new();
    for (file, imports) in &graph {
        let from = top(file);
        for import in imports {
            let to = top(import);
            if to != from && !allowed(from, to) {
                wrong.push(format!("  {file} imports {import}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports across thread boundaries:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_imports() {
    // A check that finds nothing because it reads nothing would pass any
    // tree: make sure it sees the edges it is meant to police.
    let graph = import_graph();
    assert!(graph.len() > 40, "only {} files read", graph.len());
    let edges = |from: &str, to: &str| graph.get(from).is_some_and(|s| s.contains(to));
    assert!(edges("reactor", "cross_thread::reactor_inbox") || edges("reactor", "cross_thread"));
    assert!(graph[WIRING].iter().any(|m| top(m) == "reactor"));
    // A re-export the file uses itself is a dependency (Config's fields).
    assert!(edges("config", "config::listen"));
    assert!(!allowed("reactor", "admin") && !allowed("bus", "journal"));
    assert!(!allowed("cross_thread", "reactor") && allowed("reactor", "cross_thread"));
    let looped: Graph = [("a", "b"), ("b", "c"), ("c", "a")]
        .iter()
        .map(|(f, t)| (f.to_string(), BTreeSet::from([t.to_string()])))
        .collect();
    assert_eq!(cycles(&looped).len(), 1);
}

/// May a module of top-level `from` import one of top-level `to`?
fn allowed(from: &str, to: &str) -> bool {
    let leaf = LEAF_HELPERS.contains(&to);
    match from {
        WIRING => true,
        _ if LEAF_HELPERS.contains(&from) => false,
        "ocpp" => leaf,
        "config" => to == "ocpp" || leaf,
        "cross_thread" => matches!(to, "ocpp" | "config") || leaf,
        _ if THREADS.contains(&from) => {
            matches!(to, "cross_thread" | "ocpp" | "config") || PURE_HELPERS.contains(&to) || leaf
        }
        // Pure helpers: anything but threads and the wiring.
        _ => !THREADS.contains(&to) && to != WIRING,
    }
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// Module path of every file under src/ (lib.rs and main.rs are the root,
/// left out: they only declare and re-export) and the files it imports.
/// An imported name is followed through re-exports (`pub use`) and globs
/// to the file that defines it, so a facade `mod.rs` that re-exports its
/// children is not mistaken for their definer.
fn import_graph() -> Graph {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    collect(&root, &root, &mut sources);
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let scopes: BTreeMap<String, Scope> = sources
        .iter()
        .map(|(module, text)| (module.clone(), Scope::of(module, &code_of(text), &modules)))
        .collect();
    let mut graph = Graph::new();
    for (module, scope) in &scopes {
        let imports = scope
            .imports
            .iter()
            .filter_map(|path| resolve(&scopes, &modules, path, 0))
            .filter(|target| target != module)
            .collect();
        graph.insert(module.clone(), imports);
    }
    graph
}

/// What one file declares and imports.
#[derive(Default)]
struct Scope {
    /// Items defined here (struct, enum, fn, trait, type, const, static, macro).
    defined: BTreeSet<String>,
    /// Names brought in by `use` (alias or last segment) → absolute path.
    named: BTreeMap<String, Vec<String>>,
    /// `use path::*` → absolute path of `path`.
    globs: Vec<Vec<String>>,
    /// Every crate path this file uses: its `use` lines and inline `crate::` paths.
    imports: Vec<Vec<String>>,
}

impl Scope {
    fn of(module: &str, code: &str, modules: &BTreeSet<String>) -> Scope {
        let mut scope = Scope::default();
        for line in code.lines() {
            if let Some(name) = defined_name(line) {
                scope.defined.insert(name);
            }
        }
        let body = without_use_statements(code);
        for (leaf, reexport) in use_paths(code) {
            let (path, alias) = match leaf.split_once(" as ") {
                Some((path, alias)) => (path.trim().to_owned(), Some(alias.trim().to_owned())),
                None => (leaf.trim().to_owned(), None),
            };
            let Some(absolute) = absolute(module, &path, modules) else {
                continue;
            };
            // A re-export the file does not use itself is its interface, not
            // a dependency: it is followed when others name it, not counted.
            let mut used_here = !reexport;
            match absolute.last().map(String::as_str) {
                Some("*") => scope.globs.push(absolute[..absolute.len() - 1].to_vec()),
                Some(last) => {
                    let name = alias.unwrap_or_else(|| last.to_owned());
                    used_here |= find_word(&body, &name).is_some();
                    scope.named.insert(name, absolute.clone());
                }
                None => {}
            }
            if used_here {
                scope.imports.push(absolute);
            }
        }
        scope
    }
}

/// `path` as written in `module`, made absolute (without `crate`); `None`
/// for a path into another crate.
fn absolute(module: &str, path: &str, modules: &BTreeSet<String>) -> Option<Vec<String>> {
    let here: Vec<String> = module.split("::").map(str::to_owned).collect();
    let parts: Vec<String> = path
        .split("::")
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let first = parts.first()?.as_str();
    Some(match first {
        "crate" => parts[1..].to_vec(),
        // `self` in foo.rs or foo/mod.rs is module foo.
        "self" => here.iter().chain(&parts[1..]).cloned().collect(),
        "super" => {
            let mut at = here.clone();
            let mut rest = &parts[..];
            while rest.first().map(String::as_str) == Some("super") {
                at.pop();
                rest = &rest[1..];
            }
            at.extend(rest.iter().cloned());
            at
        }
        // Uniform paths: `use child::X` in a module names its child.
        _ if modules.contains(&format!("{module}::{first}")) => {
            here.iter().chain(&parts).cloned().collect()
        }
        _ => return None,
    })
}

/// The file that defines what `path` names (at most 8 re-exports deep).
fn resolve(
    scopes: &BTreeMap<String, Scope>,
    modules: &BTreeSet<String>,
    path: &[String],
    depth: usize,
) -> Option<String> {
    let (module, rest) = (1..=path.len()).rev().find_map(|n| {
        let module = path[..n].join("::");
        modules.contains(&module).then(|| (module, &path[n..]))
    })?;
    let Some(name) = rest.first() else {
        return Some(module);
    };
    let scope = &scopes[&module];
    if scope.defined.contains(name) || depth >= 8 {
        return Some(module);
    }
    if let Some(target) = scope.named.get(name) {
        let mut next = target.clone();
        next.extend(rest[1..].iter().cloned());
        // A name re-exported from another crate is not ours to follow.
        return resolve(scopes, modules, &next, depth + 1).or(Some(module));
    }
    for glob in &scope.globs {
        let mut next = glob.clone();
        next.extend(rest.iter().cloned());
        if let Some(found) = resolve(scopes, modules, &next, depth + 1)
            && scopes[&found].defined.contains(name)
        {
            return Some(found);
        }
    }
    Some(module)
}

/// The name a line defines, if it starts an item definition.
fn defined_name(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    if let Some(after) = rest.strip_prefix("pub") {
        rest = after.trim_start();
        if rest.starts_with('(') {
            rest = rest[rest.find(')')? + 1..].trim_start();
        }
    }
    for qualifier in ["unsafe ", "async ", "const fn ", "extern \"C\" "] {
        if let Some(after) = rest.strip_prefix(qualifier) {
            rest = if qualifier == "const fn " {
                // `const fn name`: a function, not a constant.
                return ident(after);
            } else {
                after.trim_start()
            };
        }
    }
    for keyword in [
        "struct ",
        "enum ",
        "fn ",
        "trait ",
        "type ",
        "const ",
        "static ",
        "union ",
        "macro_rules! ",
    ] {
        if let Some(after) = rest.strip_prefix(keyword) {
            return ident(after);
        }
    }
    None
}

fn ident(text: &str) -> Option<String> {
    let text = text.trim_start().trim_start_matches("mut ");
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| text[..end].to_owned())
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("src/ readable")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let relative = path.strip_prefix(root).expect("under src/");
        let mut parts: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("source readable");
        out.insert(parts.join("::"), text);
    }
}

/// The file's text without comments and without its test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            // `//` inside a string is rare in use lines; good enough here.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path a `use` declaration brings in (trees expanded), plus every
/// `crate::…` path written in the code.
fn use_paths(code: &str) -> Vec<(String, bool)> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "use ") {
        let line_start = rest[..at].rfind('\n').map_or(0, |n| n + 1);
        let reexport = rest[line_start..at].trim_start().starts_with("pub");
        let tail = &rest[at + 4..];
        let end = tail.find(';').unwrap_or(tail.len());
        let mut leaves = Vec::new();
        expand(tail[..end].trim(), "", &mut leaves);
        paths.extend(leaves.into_iter().map(|leaf| (leaf, reexport)));
        rest = &tail[end..];
    }
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            paths.push((tail[..end].trim_end_matches(':').to_owned(), false));
        }
        rest = &tail[end..];
    }
    paths
}

/// `code` without its `use …;` declarations: where names are used.
fn without_use_statements(code: &str) -> String {
    let mut body = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = find_word(rest, "use ") {
        body.push_str(&rest[..at]);
        let tail = &rest[at..];
        rest = &tail[tail.find(';').map_or(tail.len(), |n| n + 1)..];
    }
    body.push_str(rest);
    body
}

fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find(word) {
        let at = from + at;
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        let before = text[..at].chars().last();
        let after = text[at + word.len()..].chars().next();
        let ends_in_ident = word.chars().last().is_some_and(ident);
        let inside_a_word =
            before.is_some_and(ident) || (ends_in_ident && after.is_some_and(ident));
        if !inside_a_word {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        None => {
            // `path as name` is kept whole: the alias is the name in scope.
            out.push(format!("{prefix}{tree}"));
        }
        Some(open) => {
            let head = tree[..open].trim();
            let body = tree[open + 1..]
                .strip_suffix('}')
                .unwrap_or(&tree[open + 1..]);
            let mut depth = 0;
            let mut start = 0;
            let inner_prefix = format!("{prefix}{head}");
            for (i, c) in body.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand_item(&body[start..i], &inner_prefix, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand_item(&body[start..], &inner_prefix, out);
        }
    }
}

fn expand_item(item: &str, prefix: &str, out: &mut Vec<String>) {
    let item = item.trim();
    if item.is_empty() {
        return;
    }
    if item == "self" {
        out.push(prefix.trim_end_matches(':').to_owned());
    } else {
        expand(item, prefix, out);
    }
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}
