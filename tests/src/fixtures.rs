//! Builds the plugin libraries the integration tests load.
//!
//! - [`build_c`]: a C plugin of `tests/fixtures/c` (the good `range` plugin
//!   and the deliberately broken ones of the host's load-error matrix);
//! - [`build_panicky`]: the Rust plugin of `tests/fixtures/panicky`, which
//!   panics in `create` or `tick` depending on a cargo feature;
//! - [`write_not_a_library`]: a text file named like a library;
//! - [`workspace_plugins_dir`]: where cargo put the six real plugins.
//!
//! Every library gets its own file name (`lib<name>.so`) because the dynamic
//! loader caches by path, and each builder writes to a temporary name and
//! renames, so a test never sees a half-written file. Everything panics with
//! the compiler's or cargo's output on failure: these are test helpers, and
//! the message is the useful part.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Sources in `tests/fixtures/c`, without `.c`: the good plugin first, then
/// the broken ones.
pub const C_FIXTURES: &[&str] = &[
    "range",
    "abi_mismatch",
    "no_symbol",
    "unknown_signal",
    "type_mismatch",
    "second_writer",
    "create_fails",
    "truncated_descriptor",
];

/// Features of the panicky fixture, one library each.
pub const PANICKY_FEATURES: &[&str] = &["panic_in_create", "panic_in_tick"];

/// Packages of the workspace's real plugins.
pub const WORKSPACE_PLUGIN_PACKAGES: &[&str] = &[
    "tcu-plugin-battery",
    "tcu-plugin-abs",
    "tcu-plugin-engine",
    "tcu-plugin-airbag",
    "tcu-plugin-hvac",
    "tcu-plugin-heated-seats",
];

/// File names of the workspace's real plugins, as cargo names them.
pub const WORKSPACE_PLUGIN_FILES: &[&str] = &[
    "libtcu_plugin_battery.so",
    "libtcu_plugin_abs.so",
    "libtcu_plugin_engine.so",
    "libtcu_plugin_airbag.so",
    "libtcu_plugin_hvac.so",
    "libtcu_plugin_heated_seats.so",
];

/// File name of the library built from a fixture called `name`.
pub fn library_file_name(name: &str) -> String {
    format!("lib{name}.so")
}

/// Root of the cargo workspace (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Directory of `tcu_plugin.h`.
pub fn sdk_include_dir() -> PathBuf {
    workspace_root().join("subsystems/sdk/include")
}

/// Directory of the C fixture sources.
pub fn c_fixtures_dir() -> PathBuf {
    workspace_root().join("tests/fixtures/c")
}

/// True for the root of a cargo target directory: cargo keeps
/// `.rustc_info.json` there from the first build on (`CACHEDIR.TAG` is not
/// always written, e.g. not on a fresh clone's first build).
fn is_target_root(d: &Path) -> bool {
    d.join(".rustc_info.json").is_file() || d.join("CACHEDIR.TAG").is_file()
}

/// The cargo target directory the tests run from: `CARGO_TARGET_DIR` when
/// set, else the directory above the test executable that is a target root
/// (see [`is_target_root`]; this also covers a target dir set in
/// `.cargo/config`), else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        // A relative value is relative to where cargo was started, which the
        // test process cannot know (it runs in its package directory); the
        // workspace root is where it is normally started.
        return if dir.is_absolute() {
            dir
        } else {
            workspace_root().join(dir)
        };
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .skip(1)
                .find(|d| is_target_root(d))
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn c_compiler() -> OsString {
    std::env::var_os("CC")
        .filter(|cc| !cc.is_empty())
        .unwrap_or_else(|| "cc".into())
}

pub(crate) fn cargo() -> &'static str {
    // The cargo that built these tests, so a nested build uses the same
    // toolchain (and therefore reuses its artifacts).
    option_env!("CARGO").unwrap_or("cargo")
}

/// A name in `out_dir` no other builder call uses, for write-then-rename.
fn temp_path(out_dir: &Path, file_name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    out_dir.join(format!(".{file_name}.{}.{n}.tmp", std::process::id()))
}

/// Moves `tmp` to `out_dir/file_name`, replacing an older file atomically.
fn publish(tmp: &Path, out_dir: &Path, file_name: &str) -> PathBuf {
    let dest = out_dir.join(file_name);
    std::fs::rename(tmp, &dest)
        .unwrap_or_else(|e| panic!("moving {} to {}: {e}", tmp.display(), dest.display()));
    dest
}

fn create_out_dir(out_dir: &Path) {
    std::fs::create_dir_all(out_dir)
        .unwrap_or_else(|e| panic!("creating output directory {}: {e}", out_dir.display()));
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs a command to completion, capturing its output.
pub(crate) fn run(cmd: &mut Command) -> Result<Output, String> {
    let output = cmd
        .output()
        .map_err(|e| format!("could not run `{}`: {e}", describe(cmd)))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "`{}` failed ({}):\n{}{}",
            describe(cmd),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Compiles `tests/fixtures/c/<src_name>.c` into `out_dir/lib<src_name>.so`.
///
/// Strict flags (`-std=c99 -pedantic -Wall -Wextra -Werror`): the fixtures
/// double as the example of a C plugin, so they must stay warning-free C99.
/// Panics with the compiler's output when it fails.
pub fn build_c(src_name: &str, out_dir: &Path) -> PathBuf {
    let src = c_fixtures_dir().join(format!("{src_name}.c"));
    assert!(src.is_file(), "no C fixture {}", src.display());
    create_out_dir(out_dir);
    let file_name = library_file_name(src_name);
    let tmp = temp_path(out_dir, &file_name);
    let mut cmd = Command::new(c_compiler());
    cmd.args([
        "-std=c99",
        "-pedantic",
        "-shared",
        "-fPIC",
        "-Wall",
        "-Wextra",
        "-Werror",
    ])
    .arg("-I")
    .arg(sdk_include_dir())
    .arg("-o")
    .arg(&tmp)
    .arg(&src);
    if let Err(e) = run(&mut cmd) {
        let _ = std::fs::remove_file(&tmp);
        panic!("building C fixture {src_name}: {e}");
    }
    publish(&tmp, out_dir, &file_name)
}

/// Built library per key, or the build error, so a failure is reported to
/// every caller without rebuilding.
pub(crate) type BuildCache = Mutex<Option<HashMap<String, Result<PathBuf, String>>>>;

/// Runs `build` once per process for `key`; later calls get its result.
pub(crate) fn once_per_process(
    cache: &BuildCache,
    key: &str,
    build: impl FnOnce() -> Result<PathBuf, String>,
) -> Result<PathBuf, String> {
    // A poisoned lock only means another test panicked while holding it;
    // the map itself is still consistent (entries are inserted whole).
    let mut guard = cache.lock().unwrap_or_else(|p| p.into_inner());
    guard
        .get_or_insert_with(HashMap::new)
        .entry(key.to_owned())
        .or_insert_with(build)
        .clone()
}

/// Builds the panicky fixture with cargo feature `feature` (once per process)
/// and copies it to `out_dir/libpanicky_<feature>.so`.
///
/// Each feature has its own target dir, `<target>/fixtures/<feature>`, so the
/// two builds never invalidate each other. The builds are serialised within
/// the process: they share the fixture's `Cargo.lock`, which cargo would
/// otherwise write from two processes at once.
pub fn build_panicky(feature: &str, out_dir: &Path) -> PathBuf {
    static BUILT: BuildCache = Mutex::new(None);
    let built = once_per_process(&BUILT, feature, || cargo_build_panicky(feature))
        .unwrap_or_else(|e| panic!("building the panicky fixture: {e}"));

    create_out_dir(out_dir);
    let file_name = library_file_name(&format!("panicky_{feature}"));
    let tmp = temp_path(out_dir, &file_name);
    std::fs::copy(&built, &tmp)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", built.display(), tmp.display()));
    publish(&tmp, out_dir, &file_name)
}

fn cargo_build_panicky(feature: &str) -> Result<PathBuf, String> {
    let manifest = workspace_root().join("tests/fixtures/panicky/Cargo.toml");
    let target = target_dir().join("fixtures").join(feature);
    let mut cmd = Command::new(cargo());
    cmd.arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--features")
        .arg(feature)
        .arg("--target-dir")
        .arg(&target)
        // The outer cargo's target dir must not leak into the nested build.
        .env_remove("CARGO_TARGET_DIR");
    run(&mut cmd)?;
    let lib = target.join("release").join(library_file_name("panicky"));
    if lib.is_file() {
        Ok(lib)
    } else {
        Err(format!("cargo succeeded but {} is missing", lib.display()))
    }
}

/// Writes a text file named `libnot_a_library.so`, for the loader's "not a
/// shared library" error.
pub fn write_not_a_library(out_dir: &Path) -> PathBuf {
    create_out_dir(out_dir);
    let file_name = library_file_name("not_a_library");
    let tmp = temp_path(out_dir, &file_name);
    std::fs::write(
        &tmp,
        "This is a text file named like a shared library, for the TCU host's tests.\n",
    )
    .unwrap_or_else(|e| panic!("writing {}: {e}", tmp.display()));
    publish(&tmp, out_dir, &file_name)
}

/// Profile directory and target triple of the running test executable,
/// which cargo puts in `<target>[/<triple>]/<profile>/deps/`.
fn test_profile_dir() -> (PathBuf, Option<String>) {
    let exe = std::env::current_exe().expect("path of the test executable");
    let deps = exe.parent().expect("test executable has a directory");
    let profile_dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps has a parent")
    } else {
        // Not started by cargo (e.g. a copied binary): assume the layout of
        // `cargo build` next to the executable.
        deps
    };
    // With `--target <triple>` the profile dir sits one level lower than
    // the target root.
    let parent = profile_dir.parent().expect("profile dir has a parent");
    let triple = if is_target_root(parent) {
        None
    } else {
        parent.file_name().map(|n| n.to_string_lossy().into_owned())
    };
    (profile_dir.to_path_buf(), triple)
}

fn missing_plugins(dir: &Path) -> Vec<&'static str> {
    WORKSPACE_PLUGIN_FILES
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect()
}

/// Directory holding the six workspace plugins and the `tcu` binary as cargo
/// built them: `target/<profile>` of the running tests.
///
/// `cargo test -p tcu-integration-tests` does not build them (they are not
/// dependencies of this crate), and files that exist may be stale: the
/// copies in `target/<profile>/` have been seen older than the libraries
/// cargo had since rebuilt into `deps/`. So this runs
/// `cargo build -p tcu-plugin-... -p tcu-cli -p tcu-twin` for the same profile once per process
/// (a no-op taking a fraction of a second when all is fresh), then checks
/// that the six files are there.
///
/// Calling cargo from inside `cargo test` does not deadlock: cargo releases
/// the target directory's lock once compilation is done, before it runs the
/// tests (checked with cargo 1.95), so the nested build shares the target
/// directory and its artifacts.
pub fn workspace_plugins_dir() -> PathBuf {
    static BUILD: OnceLock<Result<(), String>> = OnceLock::new();

    let (profile_dir, triple) = test_profile_dir();
    let result = BUILD.get_or_init(|| {
        let profile = profile_dir
            .file_name()
            .expect("profile dir has a name")
            .to_string_lossy()
            .into_owned();
        let target = match triple {
            Some(_) => profile_dir.parent().and_then(Path::parent),
            None => profile_dir.parent(),
        }
        .expect("target dir above the profile dir");
        let mut cmd = Command::new(cargo());
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(workspace_root().join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target)
            .env_remove("CARGO_TARGET_DIR");
        for package in WORKSPACE_PLUGIN_PACKAGES {
            cmd.arg("-p").arg(package);
        }
        // The `tcu` and `tcu-twin` binaries land in the same directory; the
        // CLI and twin tests run them.
        cmd.arg("-p").arg("tcu-cli");
        cmd.arg("-p").arg("tcu-twin");
        // Cargo sets these for the test process; build scripts that watch
        // them (ring's watches CARGO_MANIFEST_DIR) would see a change and
        // rebuild, flip-flopping with the outer `cargo test` every run.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
            ]
            .iter()
            .any(|p| k.starts_with(p))
                || matches!(
                    k.as_ref(),
                    "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "CARGO_RUSTC_CURRENT_DIR"
                )
            {
                cmd.env_remove(&key);
            }
        }
        // This crate too, so that features unify as in `cargo test -p
        // tcu-integration-tests` (its dependencies turn on features, e.g.
        // `bitflags/std`, shared with the binary's); otherwise each side
        // rebuilds the binary and the MQTT stack for the other.
        cmd.arg("-p").arg("tcu-integration-tests");
        // Tests run from `debug` are built by the `test`/`dev` profiles,
        // from `release` by `release`/`bench`; any other directory is a
        // custom profile of that name.
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.arg("--profile").arg(other);
            }
        }
        if let Some(triple) = &triple {
            cmd.arg("--target").arg(triple);
        }
        run(&mut cmd).map(drop)
    });
    if let Err(e) = result {
        panic!("building the workspace plugins: {e}");
    }
    let missing = missing_plugins(&profile_dir);
    assert!(
        missing.is_empty(),
        "workspace plugins {missing:?} are missing from {} even after `cargo build -p {}`",
        profile_dir.display(),
        WORKSPACE_PLUGIN_PACKAGES.join(" -p ")
    );
    profile_dir
}
