//! The workspace's shape, checked: dependencies go one way (binary → link /
//! scenario / dashboard / OTA client → engine → SDK), the engine builds
//! without an async runtime, MQTT, TLS, terminal or command-line crates, and
//! no crate of the vehicle has modules that import each other in a circle.
//! `docs/ARCHITECTURE.md` describes the layout these tests hold it to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use tcu_integration_tests::fixtures::workspace_root;

fn cargo(args: &[&str]) -> String {
    let out = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("running cargo");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("cargo prints UTF-8")
}

/// Every crate `package` needs to build (normal dependencies, transitively).
fn normal_dependencies(package: &str) -> BTreeSet<String> {
    cargo(&[
        "tree",
        "-p",
        package,
        "-e",
        "normal",
        "--prefix",
        "none",
        "--offline",
        "--locked",
    ])
    .lines()
    .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
    .collect()
}

#[test]
fn the_engine_builds_without_runtime_network_terminal_or_cli_crates() {
    let deps = normal_dependencies("tcu-engine");
    assert!(
        deps.contains("libloading"),
        "cargo tree read wrongly: {deps:?}"
    );
    for banned in [
        "tokio",
        "rumqttc",
        "rumqttd",
        "rustls",
        "ratatui",
        "crossterm",
        "clap",
        "anyhow",
        "notify",
        "reqwest",
    ] {
        assert!(!deps.contains(banned), "tcu-engine depends on {banned}");
    }
}

#[test]
fn workspace_crates_depend_only_downwards() {
    // Which workspace crates each one may use (normal dependencies).
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("tcu-sdk", &[][..]),
        ("tcu-engine", &["tcu-sdk"][..]),
        ("tcu-link", &["tcu-engine", "tcu-sdk"][..]),
        ("tcu-scenario", &["tcu-engine", "tcu-sdk"][..]),
        ("tcu-dashboard", &["tcu-engine", "tcu-sdk"][..]),
        ("tcu-fleet", &["tcu-engine", "tcu-link", "tcu-sdk"][..]),
        ("tcu-ota-client", &["tcu-engine", "tcu-sdk"][..]),
        ("tcu-twin", &["tcu-engine", "tcu-sdk", "tcu-vet"][..]),
        ("tcu-vet", &["tcu-engine", "tcu-sdk"][..]),
    ]);
    for (package, may) in allowed {
        let deps = normal_dependencies(package);
        let workspace: Vec<&String> = deps
            .iter()
            .filter(|d| d.starts_with("tcu-") && d.as_str() != package)
            .collect();
        for d in workspace {
            assert!(
                may.contains(&d.as_str()),
                "{package} depends on {d}; it may use only {may:?}"
            );
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading a source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level modules of a crate and which others each one names through
/// `crate::` (or `super::` from a file directly under `src/`), comments
/// left out.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let top = |f: &Path| -> Option<String> {
        let rel = f.strip_prefix(src).ok()?;
        let first = rel.components().next()?.as_os_str().to_string_lossy();
        let name = first.trim_end_matches(".rs").to_owned();
        (!matches!(name.as_str(), "lib" | "main")).then_some(name)
    };
    let tops: BTreeSet<String> = files.iter().filter_map(|f| top(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> =
        tops.iter().map(|t| (t.clone(), BTreeSet::new())).collect();
    for f in &files {
        let Some(me) = top(f) else { continue };
        let direct = f.parent() == Some(src);
        let text: String = std::fs::read_to_string(f)
            .expect("reading a source file")
            .lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        let mut prefixes = vec!["crate::"];
        if direct {
            prefixes.push("super::");
        }
        for prefix in prefixes {
            for (i, _) in text.match_indices(prefix) {
                let rest = &text[i + prefix.len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group
                        .split('}')
                        .next()
                        .unwrap_or_default()
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .collect(),
                    None => vec![
                        rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .next()
                            .unwrap_or_default(),
                    ],
                };
                for n in names {
                    if n != me && tops.contains(n) {
                        graph
                            .get_mut(&me)
                            .expect("known module")
                            .insert(n.to_owned());
                    }
                }
            }
        }
    }
    graph
}

/// A cycle in `graph`, if there is one, as the path around it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_owned());
        for next in &graph[n] {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_cycle_check_finds_a_planted_cycle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\npub mod c;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::X;\n").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "use super::{c, d};\n// crate::a in a comment\n",
    )
    .unwrap();
    std::fs::write(src.join("c.rs"), "fn f() { crate::a::g() }\n").unwrap();
    let graph = module_graph(src);
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    std::fs::write(src.join("c.rs"), "fn f() {}\n").unwrap();
    assert_eq!(find_cycle(&module_graph(src)), None);
}

#[test]
fn no_crate_of_the_vehicle_has_a_module_cycle() {
    let root = workspace_root();
    for krate in [
        "tcu-core/engine",
        "tcu-core/link",
        "tcu-core/scenario",
        "tcu-core/dashboard",
        "tcu-core/fleet",
        "tcu-core/vet",
        "tcu-core/cli",
        "subsystems/sdk",
        "twin",
    ] {
        let graph = module_graph(&root.join(krate).join("src"));
        assert!(graph.len() > 2, "{krate}: no modules found");
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{krate}: modules import each other in a circle: {cycle:?}");
        }
    }
}
