//! Plugin variants built from the fixture workspaces under `tests/fixtures`
//! with one cargo feature each: the battery's (`v2`, `canary_nan`,
//! `probation_panic`, ..., for the hot-swap tests) in `battery-variants`,
//! the ABS's (`broken_control`, for vetting) in `abs-variants`.
//!
//! All variants share one target directory, so the dependencies are
//! compiled once; a build and the copy of its output happen under one
//! exclusive file lock, so parallel test processes never copy another
//! feature's library. Each built library is kept as
//! `<target>/fixtures/<fixture>-out/<feature>.so` and copied from there
//! under the name the test asks for.

use crate::fixtures::{
    BuildCache, cargo, library_file_name, once_per_process, run, target_dir, workspace_root,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The target directory every variant workspace builds into (named after
/// the first of them).
const SHARED_TARGET: &str = "battery-variants";

/// Builds (once per process) the battery variant with cargo feature
/// `feature` and copies it to `dest` (a full file path: each version must
/// have its own file name). Panics with cargo's output on failure.
pub fn battery_variant(feature: &str, dest: &Path) -> PathBuf {
    static BUILT: BuildCache = Mutex::new(None);
    variant(&BUILT, "battery-variants", feature, dest)
}

/// As [`battery_variant`], for the ABS variants of `abs-variants`.
pub fn abs_variant(feature: &str, dest: &Path) -> PathBuf {
    static BUILT: BuildCache = Mutex::new(None);
    variant(&BUILT, "abs-variants", feature, dest)
}

fn variant(built: &BuildCache, fixture: &str, feature: &str, dest: &Path) -> PathBuf {
    let built = once_per_process(built, feature, || build(fixture, feature))
        .unwrap_or_else(|e| panic!("building {fixture} `{feature}`: {e}"));
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    }
    std::fs::copy(&built, dest)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", built.display(), dest.display()));
    dest.to_owned()
}

fn build(fixture: &str, feature: &str) -> Result<PathBuf, String> {
    let fixtures = target_dir().join("fixtures");
    let out_dir = fixtures.join(format!("{fixture}-out"));
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
    let lock_path = fixtures.join(format!("{SHARED_TARGET}.lock"));
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("creating {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    let target = fixtures.join(SHARED_TARGET);
    let mut cmd = Command::new(cargo());
    cmd.arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(workspace_root().join(format!("tests/fixtures/{fixture}/Cargo.toml")))
        .arg("--features")
        .arg(feature)
        .arg("--target-dir")
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR");
    run(&mut cmd)?;
    let lib = target
        .join("release")
        .join(library_file_name(&fixture.replace('-', "_")));
    let out = out_dir.join(format!("{feature}.{}", std::env::consts::DLL_EXTENSION));
    std::fs::copy(&lib, &out)
        .map_err(|e| format!("copying {} to {}: {e}", lib.display(), out.display()))?;
    drop(lock);
    Ok(out)
}
