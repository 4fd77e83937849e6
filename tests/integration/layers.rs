//! The layer rule of docs/architecture.md, enforced: every `src/**/*.rs` is read, each
//! reference to another module of the crate (`use crate::x`, `crate::x::…`, `super::…` that
//! leaves the module, `$crate::x`) is an edge between top-level modules, and the test fails on
//! an edge the table below does not allow. The table only points upwards, so no cycle passes.
//! Keep `LAYERS` and the document's
//! table the same.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module and the ones it may import: only modules listed before it, so the
/// table itself has no cycle (checked too).
const LAYERS: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("clock", &[]),
    ("telemetry", &["domain"]),
    ("db", &["domain"]),
    ("notify", &["domain", "clock", "db"]),
    ("error", &["domain", "db"]),
    ("auth", &["domain", "clock", "db", "notify", "error"]),
    ("state", &["domain", "clock", "db", "notify", "auth"]),
    ("metrics", &["db", "auth", "state"]),
    (
        "ops",
        &["domain", "clock", "db", "notify", "error", "auth", "state"],
    ),
    (
        "routes",
        &[
            "domain", "clock", "db", "notify", "error", "auth", "state", "ops",
        ],
    ),
    ("scan", &["domain"]),
    ("config", &["domain", "notify", "auth"]),
    ("startup", EVERYTHING.split_at(13).0),
    ("cli", &EVERYTHING),
];

/// Every module but `cli`, in the table's order.
const EVERYTHING: [&str; 14] = [
    "domain",
    "clock",
    "telemetry",
    "db",
    "notify",
    "error",
    "auth",
    "state",
    "metrics",
    "ops",
    "routes",
    "scan",
    "config",
    "startup",
];

/// Within `routes`, the two front doors do not import each other: what they share lives in
/// `routes` itself (`routes/mod.rs`, …), and the API document reaches the dashboard's page
/// through the wiring.
const DOORS: [&str; 2] = ["api", "dashboard"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file: `src/auth/caller.rs` → `[auth, caller]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut path: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(path.last().map(String::as_str), Some("mod" | "lib")) {
        path.pop();
    }
    path
}

/// The crate paths `text` names, each as up to two segments below the module they start from
/// (`crate::routes::api::…` → `[routes, api]`), `module` being the module the text is in.
/// Comment lines are skipped.
fn references(module: &[String], text: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = [rest.find("crate::"), rest.find("super::")]
            .into_iter()
            .flatten()
            .min()
        {
            // `$crate::` is a path from the root too; `my_crate::` is not one of ours.
            let part_of_a_name = rest[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            let mut tail = &rest[at..];
            let mut base = Vec::new();
            if let Some(after) = tail.strip_prefix("crate::") {
                tail = after;
            } else {
                // `super` of `auth/caller.rs` (module `auth::caller`) is `auth`.
                base = module.to_vec();
                while let Some(after) = tail.strip_prefix("super::") {
                    base.pop();
                    tail = after;
                }
            }
            rest = tail;
            if part_of_a_name {
                continue;
            }
            let paths: Vec<&str> = match tail.strip_prefix('{') {
                // `use crate::{a::b, c}`: each item.
                Some(group) => group_items(group),
                None => vec![tail],
            };
            for item in paths {
                let first = ident(item);
                if first.is_empty() {
                    continue;
                }
                let mut path = base.clone();
                let second = item.trim_start()[first.len()..]
                    .strip_prefix("::")
                    .map(ident);
                path.push(first);
                path.extend(second.filter(|s| !s.is_empty()));
                found.push(path);
            }
        }
    }
    found
}

/// The items of a `use` group, `group` being what follows its `{`: split at the group's own
/// commas (`a::b, c::{d, e}, f}` → `a::b`, ` c::{d, e}`, ` f`).
fn group_items(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

#[test]
fn each_module_imports_only_the_layers_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();

    // The table: each module may import only modules listed before it. With every import
    // checked against it below, no cycle among the modules is possible.
    for (i, (module, may)) in LAYERS.iter().enumerate() {
        for m in *may {
            let above = LAYERS[..i].iter().any(|(name, _)| name == m);
            assert!(
                above,
                "the table lets {module} import {m}, which is not above it"
            );
        }
    }

    let mut wrong = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(top) = module.first().cloned() else {
            continue; // lib.rs: only declares the modules
        };
        if top == "main" {
            continue; // the binary: it reaches the crate as `mantel::`, and may use anything
        }
        let may = allowed.get(top.as_str()).unwrap_or_else(|| {
            panic!("{}: module {top} is not in the layer table", file.display())
        });
        let text = std::fs::read_to_string(file).unwrap();
        for path in references(&module, &text) {
            let Some(target) = path.first() else { continue };
            let shown = format!("{}: {top} imports {}", file.display(), path.join("::"));
            if *target == top {
                let door = |p: &[String]| p.get(1).filter(|d| DOORS.contains(&d.as_str())).cloned();
                if top == "routes" {
                    if let (Some(from), Some(to)) = (door(&module), door(&path)) {
                        if from != to {
                            wrong.push(shown);
                        }
                    }
                }
                continue;
            }
            if !allowed.contains_key(target.as_str()) {
                continue; // not a module of the crate (`super::` into an item, …)
            }
            if !may.contains(&target.as_str()) {
                wrong.push(shown);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports the layer table does not allow:\n{}",
        wrong.join("\n")
    );
}

/// What `db` offers for writing: the writer (`db::write`, `db::write_query`) and the
/// transaction (`db::write_transaction`). On SQLite every write must go through the one
/// writer, so these are the doors to every change of the database.
const DB_WRITES: [&str; 3] = ["write", "write_query", "write_transaction"];

/// The uses of `db`'s writes in `text` (comment lines skipped): `db::write(…)` and the like by
/// path, and any of them imported from `db` (`use crate::db::{self, write}`, over several lines
/// too).
fn db_writes(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let ident_end = |s: &str| {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("db::") {
        let part_of_a_name = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let tail = &rest[at + "db::".len()..];
        rest = tail;
        if part_of_a_name {
            continue;
        }
        let names: Vec<&str> = match tail.strip_prefix('{') {
            Some(group) => group_items(group).into_iter().map(str::trim).collect(),
            None => vec![&tail[..ident_end(tail)]],
        };
        found.extend(
            names
                .into_iter()
                .filter(|n| DB_WRITES.contains(n))
                .map(|n| format!("db::{n}")),
        );
    }
    found
}

/// docs/architecture.md: a handler parses, calls `ops` (or a read) and renders; it never writes
/// to the database itself. Checked where it can be said simply: no file under `src/routes`
/// reaches `db`'s writer or its transactions, so a write is an operation of `ops`. (A model
/// function that writes, run on the read pool, would pass here; on SQLite it would not be
/// serialised by the writer either, and the tests on SQLite would show it.)
#[test]
fn routes_write_only_through_ops() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src.join("routes"), &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for write in db_writes(&text) {
            wrong.push(format!("{}: {write}", file.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "handlers that write to the database themselves (move the write into src/ops):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn db_writes_are_found_by_path_and_by_import() {
    assert_eq!(db_writes("db::write(&pool, f)"), ["db::write"]);
    assert_eq!(
        db_writes("crate::db::write_query(&p, f)"),
        ["db::write_query"]
    );
    assert_eq!(
        db_writes("use crate::db::{self,\n    write_transaction,\n};"),
        ["db::write_transaction"]
    );
    assert_eq!(
        db_writes("use crate::db::{models::{a, b}, write};"),
        ["db::write"]
    );
    assert!(db_writes("db::query(&pool, f); db::run(&p, g); db::writer").is_empty());
    assert!(db_writes("// db::write(&pool, f)").is_empty());
    assert!(db_writes("mydb::write(x)").is_empty());
}
