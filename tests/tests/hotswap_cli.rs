//! Hot-swap through the `tcu` binary: signing commands, `--watch`, a swap in
//! real time at 100 Hz, and restarts after a SIGKILL in the middle of a swap.

// Helpers here are test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tcu_engine::swap::store::{ManifestState, Store};
use tcu_integration_tests::process::Running;
use tcu_integration_tests::{fixtures, variants};

fn tcu() -> Command {
    tcu_integration_tests::process::tcu_command()
}

fn write_config(dir: &Path, probation: &str) -> PathBuf {
    let path = dir.join("tcu.toml");
    std::fs::write(
        &path,
        format!("[hotswap]\ncanary_ticks = 20\nprobation = \"{probation}\"\n"),
    )
    .unwrap();
    path
}

/// `tcu run` with a store and a watched directory, unsigned allowed.
fn run_watching(config: &Path, store: &Path, watch: &Path, extra: &[&str]) -> Running {
    let mut cmd = tcu();
    cmd.args(["run", "--headless", "--allow-unsigned", "--config"])
        .arg(config)
        .arg("--store")
        .arg(store)
        .arg("--watch")
        .arg(watch)
        .args(extra);
    let r = Running::start(cmd);
    r.wait_for(
        "watching for rebuilt plugin libraries",
        Duration::from_secs(20),
    );
    r
}

/// Starts the TCU on `store` for a moment and returns the battery version
/// it loaded.
fn battery_version_after_restart(store: &Path) -> String {
    let out = tcu()
        .args(["run", "--headless", "--duration", "300ms", "--store"])
        .arg(store)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("plugin rejected"), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("battery ") && l.contains(" from "))
        .unwrap_or_else(|| panic!("battery not loaded:\n{text}"));
    let after = &line[line.find("battery ").unwrap() + "battery ".len()..];
    after.split_whitespace().next().unwrap().to_owned()
}

#[test]
fn keygen_sign_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let st = tcu()
        .args(["plugin", "keygen"])
        .current_dir(tmp.path())
        .status()
        .unwrap();
    assert!(st.success());
    let (key, public) = (
        tmp.path().join("tcu-signing.key"),
        tmp.path().join("tcu-signing.pub"),
    );
    assert!(key.is_file() && public.is_file());
    let again = tcu()
        .args(["plugin", "keygen"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(!again.status.success(), "keygen must not overwrite a key");

    let lib = tmp.path().join("libx.so");
    std::fs::copy(
        fixtures::workspace_plugins_dir().join("libtcu_plugin_hvac.so"),
        &lib,
    )
    .unwrap();
    let verify = |lib: &Path| {
        tcu()
            .args(["plugin", "verify", "--key"])
            .arg(&public)
            .arg(lib)
            .output()
            .unwrap()
    };
    let missing = verify(&lib);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("unsigned"));
    let st = tcu()
        .args(["plugin", "sign", "--key"])
        .arg(&key)
        .arg(&lib)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(tmp.path().join("libx.so.sig").is_file());
    assert!(verify(&lib).status.success());
    let mut bytes = std::fs::read(&lib).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&lib, bytes).unwrap();
    let bad = verify(&lib);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad signature"));
}

#[test]
fn watch_swaps_a_replaced_library_and_ignores_identical_bytes_in_real_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, watch) = (tmp.path().join("store"), tmp.path().join("watch"));
    std::fs::create_dir_all(&watch).unwrap();
    let v2 = variants::battery_variant("v2", &tmp.path().join("v2.so"));
    let config = write_config(tmp.path(), "1s");
    let mut tcu = run_watching(&config, &store, &watch, &["--duration", "6s"]);
    std::thread::sleep(Duration::from_millis(500));
    let dest = watch.join("libbattery.so");
    std::fs::copy(&v2, &dest).unwrap();
    tcu.wait_for("battery 1.0.0 -> 2.0.0", Duration::from_secs(5));
    tcu.wait_for("battery 2.0.0 passed probation", Duration::from_secs(5));
    // The same bytes again, and a touch: nothing happens.
    std::fs::copy(&v2, &dest).unwrap();
    std::fs::write(&dest, std::fs::read(&v2).unwrap()).unwrap();
    let status = tcu.wait_exit(Duration::from_secs(20));
    let out = tcu.output();
    assert!(status.success(), "{out}");
    assert_eq!(tcu.count("plugin.swapped"), 1, "{out}");
    assert_eq!(tcu.count("plugin.rejected"), 0, "{out}");
    // 6 s at 100 Hz: every tick ran, none skipped, through the swap.
    let stopped = out.lines().find(|l| l.contains("stopped")).unwrap();
    assert!(
        stopped.contains("ticks=600") && stopped.contains("skipped=0"),
        "{stopped}"
    );
}

#[test]
fn a_restart_after_sigkill_resumes_with_a_known_good_set() {
    let tmp = tempfile::tempdir().unwrap();
    let v2 = variants::battery_variant("v2", &tmp.path().join("v2.so"));

    // Killed while the new version is on probation: back to 1.0.0.
    let (store, watch) = (tmp.path().join("s1"), tmp.path().join("w1"));
    std::fs::create_dir_all(&watch).unwrap();
    let config = write_config(tmp.path(), "30s");
    let mut tcu = run_watching(&config, &store, &watch, &[]);
    std::fs::copy(&v2, watch.join("libbattery.so")).unwrap();
    tcu.wait_for("battery 1.0.0 -> 2.0.0", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    tcu.kill();
    assert_eq!(battery_version_after_restart(&store), "1.0.0");
    let m = Store::open(&store).unwrap().manifest().unwrap().unwrap();
    assert_eq!(m.state, ManifestState::Good, "restart settled the manifest");

    // Killed after probation passed and the manifest said so: 2.0.0 stays.
    let (store, watch) = (tmp.path().join("s2"), tmp.path().join("w2"));
    std::fs::create_dir_all(&watch).unwrap();
    let config = write_config(tmp.path(), "1s");
    let mut tcu = run_watching(&config, &store, &watch, &[]);
    std::fs::copy(&v2, watch.join("libbattery.so")).unwrap();
    tcu.wait_for("battery 2.0.0 passed probation", Duration::from_secs(10));
    let s = Store::open(&store).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while s
        .manifest()
        .unwrap()
        .is_none_or(|m| m.state != ManifestState::Good)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "manifest never became good"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    tcu.kill();
    assert_eq!(battery_version_after_restart(&store), "2.0.0");

    // Killed at arbitrary moments of a swap: always a whole, loadable set.
    for (i, delay_ms) in [0u64, 60, 200, 350, 600].into_iter().enumerate() {
        let (store, watch) = (
            tmp.path().join(format!("k{i}")),
            tmp.path().join(format!("kw{i}")),
        );
        std::fs::create_dir_all(&watch).unwrap();
        let mut tcu = run_watching(&config, &store, &watch, &[]);
        std::fs::copy(&v2, watch.join("libbattery.so")).unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        tcu.kill();
        let v = battery_version_after_restart(&store);
        assert!(
            v == "1.0.0" || v == "2.0.0",
            "kill after {delay_ms} ms: {v}"
        );
        if let Some(m) = Store::open(&store).unwrap().manifest().unwrap() {
            assert_eq!(m.state, ManifestState::Good);
        }
    }
}

#[test]
fn with_trusted_keys_an_unsigned_library_stops_tcu_run_naming_it_unless_the_config_lets_it_start_without()
 {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, public) = (dir.join("k.key"), dir.join("k.pub"));
    tcu_engine::swap::sign::keygen(&key, &public).unwrap();
    let plugins = tcu_integration_tests::signed::signed_plugins_dir(&key, &dir.join("plugins"));
    let battery = plugins.join("libtcu_plugin_battery.so");
    std::fs::remove_file(tcu_engine::swap::sign::sig_path(&battery)).unwrap();
    let run = |extra: &str| {
        let config = dir.join("tcu.toml");
        std::fs::write(
            &config,
            format!(
                "[vehicle]\nplugins_dir = \"{}\"\n[hotswap]\ntrusted_keys = [\"{}\"]\n{extra}[mqtt]\nenabled = false\n",
                plugins.display(),
                public.display()
            ),
        )
        .unwrap();
        let out = tcu()
            .args(["run", "--headless", "--duration", "300ms", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, text) = run("");
    assert!(!ok, "started with an unsigned library:\n{text}");
    assert!(
        text.contains("refusing to start") && text.contains("libtcu_plugin_battery.so"),
        "{text}"
    );
    let (ok, text) = run("run_without_refused = true\n");
    assert!(ok, "{text}");
    assert!(
        text.contains("plugin rejected") && text.contains("libtcu_plugin_battery.so"),
        "{text}"
    );
}
