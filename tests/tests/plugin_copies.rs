//! The in-memory copy a plugin runs from keeps only what the loader maps:
//! after loading, the copy holds fewer pages than the file has (the symbol
//! and string tables and the section headers are given back), and the
//! plugin runs all the same.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use tcu_engine::bus::Bus;
use tcu_engine::catalog::Catalog;
use tcu_engine::plugin::{PluginInstance, PluginLibrary};
use tcu_integration_tests::fixtures::{library_file_name, workspace_plugins_dir};

/// The plugin copies this process holds open: (descriptor number, bytes of
/// pages held, size).
fn copies() -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_copy = std::fs::read_link(fd.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("/memfd:tcu-plugin"));
        if is_copy && let Ok(m) = std::fs::metadata(fd.path()) {
            let n = fd.file_name().to_string_lossy().parse().unwrap_or(0);
            out.push((n, m.blocks() * 512, m.len()));
        }
    }
    out
}

#[test]
fn a_loaded_plugin_copy_gives_back_the_pages_no_segment_maps() {
    let path = workspace_plugins_dir().join(library_file_name("tcu_plugin_battery"));
    let file_len = std::fs::metadata(&path).unwrap().len();
    let before: Vec<u64> = copies().iter().map(|c| c.0).collect();
    let catalog = Arc::new(Catalog::builtin());
    let lib = PluginLibrary::open(&path, &catalog).unwrap();
    let new: Vec<(u64, u64, u64)> = copies()
        .into_iter()
        .filter(|c| !before.contains(&c.0))
        .collect();
    assert_eq!(new.len(), 1, "one new copy: {new:?}");
    let (_, held, size) = new[0];
    assert_eq!(size, file_len, "the copy keeps the file's size");
    assert!(
        held < file_len,
        "the copy holds {held} bytes of pages for a {file_len}-byte file"
    );
    // The code it runs is all there: an instance is created and ticks.
    let mut instance = PluginInstance::create(Arc::new(lib), 7).unwrap();
    let bus = Bus::new(catalog);
    instance.tick_shadow(0.01, &bus).unwrap();
    assert!(!instance.outputs().is_empty());
}
