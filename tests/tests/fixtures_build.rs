//! Checks that every plugin fixture builds and comes out as the tests of the
//! host expect: the libraries exist under their own names, the good ones
//! export the descriptor symbol, `no_symbol` does not.

use std::path::Path;
use std::process::Command;

use tcu_integration_tests::fixtures::{self, C_FIXTURES, PANICKY_FEATURES, WORKSPACE_PLUGIN_FILES};

const DESCRIPTOR: &str = "tcu_plugin_descriptor";

/// Defined dynamic symbols of a library, or `None` when `nm` is unavailable
/// (the symbol checks are then skipped, the build checks still run).
fn dynamic_symbols(lib: &Path) -> Option<Vec<String>> {
    let output = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(lib)
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "nm -D {} failed: {}",
        lib.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
            .collect(),
    )
}

fn assert_exports_descriptor(lib: &Path, expected: bool) {
    let Some(symbols) = dynamic_symbols(lib) else {
        eprintln!("skipping symbol check of {}: no `nm`", lib.display());
        return;
    };
    assert_eq!(
        symbols.iter().any(|s| s == DESCRIPTOR),
        expected,
        "{} exports {DESCRIPTOR}: expected {expected}; symbols: {symbols:?}",
        lib.display()
    );
}

/// ELF files start with `\x7fELF`; a library that does not is not one.
fn assert_is_elf(lib: &Path) {
    let bytes = std::fs::read(lib).unwrap_or_else(|e| panic!("reading {}: {e}", lib.display()));
    assert!(
        bytes.starts_with(b"\x7fELF"),
        "{} is not an ELF file",
        lib.display()
    );
}

#[test]
fn every_c_fixture_builds_into_its_own_library() {
    let out = tempfile::tempdir().expect("temp dir");
    for name in C_FIXTURES {
        let lib = fixtures::build_c(name, out.path());
        assert_eq!(lib, out.path().join(format!("lib{name}.so")));
        assert_is_elf(&lib);
        assert_exports_descriptor(&lib, *name != "no_symbol");
    }
    // Nothing but the libraries is left behind (no temporary files).
    let mut names: Vec<String> = std::fs::read_dir(out.path())
        .expect("read out dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let mut expected: Vec<String> = C_FIXTURES.iter().map(|n| format!("lib{n}.so")).collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn rebuilding_a_c_fixture_replaces_the_library() {
    let out = tempfile::tempdir().expect("temp dir");
    let first = fixtures::build_c("range", out.path());
    let second = fixtures::build_c("range", out.path());
    assert_eq!(first, second);
    assert_is_elf(&second);
}

#[test]
#[should_panic(expected = "no C fixture")]
fn an_unknown_c_fixture_is_reported_by_name() {
    let out = tempfile::tempdir().expect("temp dir");
    fixtures::build_c("does_not_exist", out.path());
}

#[test]
fn every_panicky_feature_builds_into_its_own_library() {
    let out = tempfile::tempdir().expect("temp dir");
    for feature in PANICKY_FEATURES {
        let lib = fixtures::build_panicky(feature, out.path());
        assert_eq!(lib, out.path().join(format!("libpanicky_{feature}.so")));
        assert_is_elf(&lib);
        assert_exports_descriptor(&lib, true);
    }
}

#[test]
fn panicky_builds_are_safe_from_parallel_callers() {
    let out = tempfile::tempdir().expect("temp dir");
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let feature = PANICKY_FEATURES[i % PANICKY_FEATURES.len()];
                let dir = out.path().join(format!("caller{i}"));
                s.spawn(move || fixtures::build_panicky(feature, &dir))
            })
            .collect();
        for handle in handles {
            let lib = handle.join().expect("builder thread");
            assert_is_elf(&lib);
        }
    });
}

#[test]
fn not_a_library_is_a_text_file_named_like_one() {
    let out = tempfile::tempdir().expect("temp dir");
    let lib = fixtures::write_not_a_library(out.path());
    assert_eq!(lib, out.path().join("libnot_a_library.so"));
    let bytes = std::fs::read(&lib).expect("read");
    assert!(!bytes.is_empty() && !bytes.starts_with(b"\x7fELF"));
}

#[test]
fn workspace_plugins_are_all_present() {
    // Only that they are libraries: whether each exports a valid descriptor
    // is the business of the host's tests, which load them.
    let dir = fixtures::workspace_plugins_dir();
    for file in WORKSPACE_PLUGIN_FILES {
        assert_is_elf(&dir.join(file));
    }
}
