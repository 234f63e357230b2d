//! The layout the crate map in `src/lib.rs` promises: the database and
//! domain layers stand on their own, and no module depends on itself by a
//! round trip through others. Read from the sources, so that a `use` that
//! breaks it fails here rather than in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::helpers::files_under;

/// The module path of a file under `src/` (`["db", "writer"]`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// The names that follow `prefix` in `code` (`crate::db::x` gives `db`).
fn names_after<'a>(code: &'a str, prefix: &str) -> impl Iterator<Item = &'a str> {
    code.match_indices(prefix).filter_map(move |(at, _)| {
        let rest = &code[at + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

/// Which modules each module uses: top-level ones by `crate::`, and the
/// modules of one parent by `super::`, tests left out.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files_under(&src, "rs") {
        let module = module_of(&src, &file);
        let Some(top) = module.first().filter(|t| *t != "main" && *t != "lib") else {
            continue;
        };
        let code = std::fs::read_to_string(&file).unwrap_or_default();
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        let entry = uses.entry(top.clone()).or_default();
        entry.extend(
            names_after(code, "crate::")
                .filter(|n| n != top)
                .map(str::to_owned),
        );
        if code.contains("actix") {
            entry.insert("actix".to_owned());
        }
        if let [top, sub, ..] = module.as_slice() {
            let sibling = |name: &str| {
                src.join(top).join(format!("{name}.rs")).exists()
                    || src.join(top).join(name).join("mod.rs").exists()
            };
            let mut names: BTreeSet<String> =
                names_after(code, "super::").map(str::to_owned).collect();
            for group in code.split("use super::{").skip(1) {
                let group = group.split('}').next().unwrap_or_default();
                names.extend(
                    group
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .map(str::to_owned),
                );
            }
            let entry = uses.entry(format!("{top}/{sub}")).or_default();
            entry.extend(
                names
                    .into_iter()
                    .filter(|n| n != sub && sibling(n))
                    .map(|n| format!("{top}/{n}")),
            );
        }
    }
    uses
}

/// The crate map's layers, lowest first: the modules each line of the list
/// in `src/lib.rs` names.
fn layers() -> Vec<Vec<String>> {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .unwrap_or_default();
    let map = lib
        .split("//! # Map")
        .nth(1)
        .and_then(|rest| rest.split("//! # ").next())
        .unwrap_or_default();
    map.lines()
        .filter_map(|line| line.strip_prefix("//! - "))
        .map(|item| {
            let names = item.split(':').next().unwrap_or_default();
            names
                .split("[`")
                .skip(1)
                .filter_map(|name| name.split('`').next())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|names| !names.is_empty())
        .collect()
}

#[test]
fn each_module_uses_only_the_layers_below_it() {
    let layers = layers();
    let uses = dependencies();
    let mut listed = BTreeSet::new();
    for layer in &layers {
        listed.extend(layer.iter().cloned());
    }
    for module in uses.keys().filter(|m| !m.contains('/')) {
        assert!(
            listed.contains(module),
            "src/lib.rs's crate map does not list {module}"
        );
    }
    for (height, layer) in layers.iter().enumerate() {
        let below: BTreeSet<&String> = layers[..height].iter().flatten().collect();
        for module in layer {
            let above: Vec<&String> = uses
                .get(module)
                .into_iter()
                .flatten()
                .filter(|used| listed.contains(*used) && !below.contains(used))
                .collect();
            assert!(
                above.is_empty(),
                "src/{module} uses {above:?}, which the crate map in src/lib.rs does not list below it"
            );
        }
    }
}

#[test]
fn the_database_and_domain_layers_stand_on_their_own() {
    let uses = dependencies();
    for lower in ["db", "domain"] {
        let found: Vec<&String> = uses
            .get(lower)
            .into_iter()
            .flatten()
            .filter(|m| ["sse", "http", "startup", "actix"].contains(&m.as_str()))
            .collect();
        assert!(found.is_empty(), "src/{lower} uses {found:?}");
    }
}

#[test]
fn no_module_depends_on_itself() {
    let uses = dependencies();
    let mut cycles = BTreeSet::new();
    for start in uses.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((module, path)) = stack.pop() {
            for next in uses.get(&module).into_iter().flatten() {
                if next == start {
                    cycles.insert(format!("{} -> {start}", path.join(" -> ")));
                } else if !path.contains(next) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import circles: {cycles:#?}");
}
