//! The map's arrows point down: no two parts of `api/src` reach into each other, however
//! long the way round (surfaces → gateway → routing/providers/tenancy → store).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module of `api/src` and the top-level modules its code names as `crate::x`.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        let mut text = String::new();
        let mut files = vec![path];
        while let Some(file) = files.pop() {
            if file.is_dir() {
                files.extend(std::fs::read_dir(&file).unwrap().map(|e| e.unwrap().path()));
            } else if file.extension().is_some_and(|e| e == "rs") {
                text.push_str(&std::fs::read_to_string(&file).unwrap());
            }
        }
        modules.insert(name, text);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, text)| {
            let used = text
                .split("crate::")
                .skip(1)
                .map(|rest| {
                    rest.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .filter(|used| used != name && names.contains(used))
                .collect();
            (name.clone(), used)
        })
        .collect()
}

/// The modules reachable from `from`.
fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = graph[from].iter().map(String::as_str).collect();
    while let Some(next) = todo.pop() {
        if seen.insert(next.to_string()) {
            todo.extend(graph[next].iter().map(String::as_str));
        }
    }
    seen
}

#[test]
fn no_part_of_the_server_reaches_back_into_another() {
    let graph = dependencies();
    for part in [
        "openai",
        "gateway",
        "routing",
        "providers",
        "store",
        "usage",
        "tenancy",
    ] {
        assert!(graph.contains_key(part), "{part} is missing");
    }
    for (module, used) in &graph {
        for other in used {
            assert!(
                !reachable(&graph, other).contains(module),
                "a cycle: {module} uses {other}, and {other} leads back to {module}"
            );
        }
    }
    // The surfaces sit on top: nothing below uses them.
    for below in [
        "gateway",
        "routing",
        "providers",
        "store",
        "usage",
        "tenancy",
    ] {
        assert!(
            !reachable(&graph, below).contains("openai"),
            "{below} reaches openai"
        );
    }
}
