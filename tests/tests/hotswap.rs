//! Hot-swap transactions on a running vehicle (virtual time): state carried
//! across, every rejection case leaving the old version running, every
//! probation failure rolled back, all-or-nothing transactions, signatures
//! and the plugin store.

// Helpers here are test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;
use tcu_engine::build::build_vehicle;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_engine::sim::Vehicle;
use tcu_engine::swap::store::{ManifestState, Store};
use tcu_engine::swap::{SwapOutcome, SwapPolicy, prepare, prepare_one, sign};
use tcu_engine::world::driver::DriverProfile;
use tcu_integration_tests::signed::signed_plugins_dir;
use tcu_integration_tests::{fixtures, variants};

const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current";
const BRAKING_ENERGY: &str = "Vehicle.Powertrain.AccumulatedBrakingEnergy";
const CANARY: u32 = 20;
const PROBATION_S: u64 = 3;

fn config(store: Option<&Path>, allow_unsigned: bool, keys: Vec<String>) -> VehicleConfig {
    let catalog = Catalog::builtin();
    let cli = VehicleOverrides {
        seed: Some(7),
        plugins_dir: Some(fixtures::workspace_plugins_dir()),
        driver: Some(DriverProfile::Demo),
        store: store.map(Path::to_owned),
        allow_unsigned: Some(allow_unsigned),
        ..Default::default()
    };
    let mut c = VehicleConfig::defaults_with(&cli, &catalog).unwrap();
    c.hotswap.canary_ticks = CANARY;
    c.hotswap.probation = Duration::from_secs(PROBATION_S);
    c.hotswap.trusted_keys = keys;
    c
}

fn vehicle(c: &VehicleConfig) -> Vehicle {
    let (v, rejected) = build_vehicle(c, Arc::new(Catalog::builtin())).unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    v
}

fn get(v: &Vehicle, path: &str) -> f64 {
    v.bus().get(v.bus().id(path).unwrap())
}

fn version(v: &Vehicle, subsystem: &str) -> String {
    v.plugins()
        .iter()
        .find(|p| p.name() == subsystem)
        .map(|p| p.library().info().version.clone())
        .unwrap_or_else(|| panic!("{subsystem} not running"))
}

/// Requests a swap of `libs` and steps until its outcome arrives (bounded),
/// returning it with the largest per-tick change of the state of charge
/// seen meanwhile.
fn swap_and_wait(
    v: &mut Vehicle,
    c: &VehicleConfig,
    libs: &[(&str, PathBuf)],
) -> (SwapOutcome, f64) {
    let policy = SwapPolicy::from_config(&c.hotswap).unwrap();
    let store = tcu_engine::build::open_store(c).unwrap();
    let requests: Vec<(String, PathBuf)> = libs
        .iter()
        .map(|(s, p)| ((*s).to_owned(), p.clone()))
        .collect();
    let prepared = prepare(&requests, &policy, &Catalog::builtin(), &store);
    let (tx, rx) = mpsc::channel();
    v.request_swap(prepared, Some(Box::new(move |o| tx.send(o).unwrap())));
    let mut max_jump: f64 = 0.0;
    let limit = (PROBATION_S as f64 * 100.0) as u64 + u64::from(CANARY) + 50;
    for _ in 0..limit {
        let before = get(v, SOC);
        v.step();
        max_jump = max_jump.max((get(v, SOC) - before).abs());
        if let Ok(outcome) = rx.try_recv() {
            return (outcome, max_jump);
        }
    }
    panic!("no swap outcome within {limit} ticks");
}

fn run(v: &mut Vehicle, seconds: f64) -> f64 {
    let mut max_jump: f64 = 0.0;
    for _ in 0..(seconds * 100.0) as u64 {
        let before = get(v, SOC);
        v.step();
        max_jump = max_jump.max((get(v, SOC) - before).abs());
    }
    max_jump
}

fn kinds(v: &mut Vehicle, kind: &str) -> Vec<String> {
    v.drain_events()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.detail)
        .collect()
}

#[test]
fn v2_takes_over_mid_drive_with_state_carried_and_more_energy_recovered() {
    let tmp = tempfile::tempdir().unwrap();
    let v2 = variants::battery_variant("v2", &tmp.path().join("battery-v2.so"));
    let c = config(None, true, vec![]);
    let mut v = vehicle(&c);
    let mut reference = vehicle(&c);
    let normal_jump = run(&mut v, 20.0).max(run(&mut reference, 20.0));
    assert_eq!(get(&v, SOC), get(&reference, SOC), "same seed, same state");
    v.drain_events();
    let ticks_before = v.ticks();
    let (outcome, swap_jump) = swap_and_wait(&mut v, &c, &[("battery", v2)]);
    let SwapOutcome::Passed(changes) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (changes[0].from.as_str(), changes[0].to.as_str()),
        ("1.0.0", "2.0.0")
    );
    assert_eq!(version(&v, "battery"), "2.0.0");
    // No tick lost, and the charge moved no more in any tick of the swap
    // than it does in ordinary driving.
    let swap_ticks = v.ticks() - ticks_before;
    assert!(swap_ticks >= u64::from(CANARY) + PROBATION_S * 100);
    assert!(
        swap_jump <= normal_jump * 1.5 + 1e-9,
        "{swap_jump} vs {normal_jump}"
    );
    let events = v.drain_events();
    assert!(events.iter().any(|e| e.kind == "plugin.swapped"
        && e.fields.get("from").map(String::as_str) == Some("1.0.0")
        && e.fields.get("to").map(String::as_str) == Some("2.0.0")));
    assert!(events.iter().any(|e| e.kind == "plugin.probation_passed"));
    // From the same state, v2 recovers more energy over the same drive.
    for _ in 0..swap_ticks {
        reference.step();
    }
    let (e1, e2) = (get(&reference, BRAKING_ENERGY), get(&v, BRAKING_ENERGY));
    run(&mut v, 60.0);
    run(&mut reference, 60.0);
    let gained_v2 = get(&v, BRAKING_ENERGY) - e2;
    let gained_v1 = get(&reference, BRAKING_ENERGY) - e1;
    assert!(gained_v1 > 0.0, "the demo cycle brakes");
    assert!(
        gained_v2 > gained_v1 * 1.03,
        "v2 recovered {gained_v2} kWh, v1 {gained_v1} kWh"
    );
}

#[test]
fn each_rejection_leaves_the_old_version_running_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let c_dir = dir.join("c");
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "abi mismatch",
            fixtures::build_c("abi_mismatch", &c_dir),
            "abi_mismatch",
        ),
        (
            "wrong name",
            variants::battery_variant("wrong_name", &dir.join("wn.so")),
            "wrong_subsystem",
        ),
        (
            "incompatible signals",
            variants::battery_variant("extra_write", &dir.join("ew.so")),
            "incompatible_signals",
        ),
        (
            "panic in create",
            variants::battery_variant("create_panic", &dir.join("cp.so")),
            "panic",
        ),
        (
            "NaN in canary",
            variants::battery_variant("canary_nan", &dir.join("nan.so")),
            "canary",
        ),
        (
            "out of range in canary",
            variants::battery_variant("canary_range", &dir.join("range.so")),
            "canary",
        ),
    ];
    let c = config(None, true, vec![]);
    let mut v = vehicle(&c);
    run(&mut v, 5.0);
    v.drain_events();
    for (case, lib, kind) in cases {
        let (outcome, jump) = swap_and_wait(&mut v, &c, &[("battery", lib)]);
        let SwapOutcome::Rejected(e) = outcome else {
            panic!("{case}: {outcome:?}")
        };
        assert_eq!(e.kind(), kind, "{case}: {e}");
        assert_eq!(version(&v, "battery"), "1.0.0", "{case}");
        assert!(jump < 0.01, "{case}: state of charge jumped {jump}");
        let rejected: Vec<_> = v
            .drain_events()
            .into_iter()
            .filter(|e| e.kind == "plugin.rejected")
            .collect();
        assert_eq!(rejected.len(), 1, "{case}: {rejected:?}");
        let f = &rejected[0].fields;
        assert_eq!(f["kind"], kind, "{case}");
        assert!(!f["reason"].is_empty());
        if matches!(kind, "incompatible_signals" | "panic" | "canary") {
            // Refused on the vehicle: the event names what would have changed.
            assert_eq!(
                (
                    f["subsystem"].as_str(),
                    f["from"].as_str(),
                    f["to"].as_str()
                ),
                ("battery", "1.0.0", "1.9.0"),
                "{case}"
            );
        }
    }
    let mut message = |lib: PathBuf| {
        let (o, _) = swap_and_wait(&mut v, &c, &[("battery", lib)]);
        match o {
            SwapOutcome::Rejected(e) => e.to_string(),
            o => panic!("{o:?}"),
        }
    };
    let nan = message(variants::battery_variant(
        "canary_nan",
        &dir.join("nan2.so"),
    ));
    assert!(
        nan.contains("canary") && nan.contains("NaN") || nan.contains("not finite"),
        "{nan}"
    );
    let name = message(variants::battery_variant("wrong_name", &dir.join("wn2.so")));
    assert!(
        name.contains("`batteri`") && name.contains("`battery`"),
        "{name}"
    );
    assert_eq!(
        v.faults(),
        0,
        "a refused candidate never counts as a fault of the car"
    );
}

#[test]
fn each_probation_failure_rolls_back_to_the_previous_version() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(None, true, vec![]);
    let mut v = vehicle(&c);
    run(&mut v, 5.0);
    for feature in ["probation_panic", "probation_error", "probation_range"] {
        let lib = variants::battery_variant(feature, &tmp.path().join(format!("{feature}.so")));
        v.drain_events();
        let (outcome, jump) = swap_and_wait(&mut v, &c, &[("battery", lib)]);
        let SwapOutcome::RolledBack { changes, reason } = outcome else {
            panic!("{feature}: {outcome:?}")
        };
        assert_eq!(changes[0].to, "1.9.0", "{feature}");
        assert_eq!(version(&v, "battery"), "1.0.0", "{feature}");
        assert!(!reason.is_empty());
        let rollbacks = kinds(&mut v, "plugin.rollback");
        assert_eq!(rollbacks.len(), 1, "{feature}: {rollbacks:?}");
        assert!(rollbacks[0].contains("1.9.0 -> 1.0.0"), "{rollbacks:?}");
        // Rolled back to the state at commit: about a second of driving.
        assert!(jump < 0.5, "{feature}: state of charge jumped {jump}");
        // The restored version keeps the car going.
        let faults = v.faults();
        run(&mut v, 2.0);
        assert_eq!(v.faults(), faults, "{feature}: restored version is healthy");
        assert!(v.plugins().iter().all(|p| !p.is_poisoned()));
    }
}

#[test]
fn a_transaction_with_one_bad_library_applies_none() {
    let tmp = tempfile::tempdir().unwrap();
    let abs = tmp.path().join("libabs-copy.so");
    std::fs::copy(
        fixtures::workspace_plugins_dir().join("libtcu_plugin_abs.so"),
        &abs,
    )
    .unwrap();
    let bad = variants::battery_variant("canary_range", &tmp.path().join("bad.so"));
    let c = config(None, true, vec![]);
    let mut v = vehicle(&c);
    run(&mut v, 2.0);
    let abs_path = |v: &Vehicle| {
        v.plugins()
            .iter()
            .find(|p| p.name() == "abs")
            .unwrap()
            .library()
            .path()
            .to_owned()
    };
    let before = abs_path(&v);
    let (outcome, _) = swap_and_wait(&mut v, &c, &[("abs", abs.clone()), ("battery", bad)]);
    assert!(matches!(outcome, SwapOutcome::Rejected(_)), "{outcome:?}");
    assert_eq!(
        abs_path(&v),
        before,
        "the good library was not applied either"
    );
    assert_eq!(version(&v, "battery"), "1.0.0");
    // The same good library alone goes in.
    let (outcome, _) = swap_and_wait(&mut v, &c, &[("abs", abs)]);
    assert!(matches!(outcome, SwapOutcome::Passed(_)), "{outcome:?}");
    assert_ne!(abs_path(&v), before);
}

#[test]
fn signatures_are_required_unless_unsigned_is_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, public) = (dir.join("k.key"), dir.join("k.pub"));
    sign::keygen(&key, &public).unwrap();
    let (other_key, other_pub) = (dir.join("o.key"), dir.join("o.pub"));
    sign::keygen(&other_key, &other_pub).unwrap();
    let v2 = variants::battery_variant("v2", &dir.join("v2.so"));
    let mut strict = config(None, false, vec![public.display().to_string()]);
    strict.plugins_dir = Some(signed_plugins_dir(&key, &dir.join("plugins")));
    let mut v = vehicle(&strict);
    run(&mut v, 1.0);

    let (o, _) = swap_and_wait(&mut v, &strict, &[("battery", v2.clone())]);
    assert!(
        matches!(&o, SwapOutcome::Rejected(e) if e.kind() == "unsigned"),
        "{o:?}"
    );
    sign::sign_file(&other_key, &v2).unwrap();
    let (o, _) = swap_and_wait(&mut v, &strict, &[("battery", v2.clone())]);
    assert!(
        matches!(&o, SwapOutcome::Rejected(e) if e.kind() == "bad_signature"),
        "{o:?}"
    );
    assert_eq!(version(&v, "battery"), "1.0.0");
    sign::sign_file(&key, &v2).unwrap();
    let (o, _) = swap_and_wait(&mut v, &strict, &[("battery", v2)]);
    assert!(matches!(o, SwapOutcome::Passed(_)), "{o:?}");
    assert_eq!(version(&v, "battery"), "2.0.0");
}

#[test]
fn the_store_keeps_the_active_set_across_restarts_and_forgets_rollbacks() {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let c = config(Some(&store_dir), true, vec![]);
    let mut v = vehicle(&c);
    run(&mut v, 1.0);
    let v2 = variants::battery_variant("v2", &tmp.path().join("v2.so"));
    let (o, _) = swap_and_wait(&mut v, &c, &[("battery", v2)]);
    assert!(matches!(o, SwapOutcome::Passed(_)), "{o:?}");
    v.swap_engine().flush_store();
    let store = Store::open(&store_dir).unwrap();
    let m = store.manifest().unwrap().expect("manifest written");
    assert_eq!(m.state, ManifestState::Good);
    assert_eq!(m.active["battery"].version, "2.0.0");
    assert!(store.path_of(&m.active["battery"]).is_file());
    drop(v);

    // A restart loads v2 from the store; a failed update then leaves v2.
    let mut v = vehicle(&c);
    assert_eq!(version(&v, "battery"), "2.0.0");
    run(&mut v, 1.0);
    let bad = variants::battery_variant("probation_error", &tmp.path().join("bad.so"));
    let (o, _) = swap_and_wait(&mut v, &c, &[("battery", bad)]);
    assert!(matches!(o, SwapOutcome::RolledBack { .. }), "{o:?}");
    assert_eq!(version(&v, "battery"), "2.0.0");
    v.swap_engine().flush_store();
    let m = store.manifest().unwrap().unwrap();
    assert_eq!(
        (m.state, m.active["battery"].version.as_str()),
        (ManifestState::Good, "2.0.0")
    );
    drop(v);
    assert_eq!(version(&vehicle(&c), "battery"), "2.0.0");
}

#[test]
fn reload_swaps_only_the_libraries_that_changed_in_the_plugin_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixtures::workspace_plugins_dir()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("libtcu_plugin_") && name.ends_with(".so") {
            std::fs::copy(&p, dir.join(&name)).unwrap();
        }
    }
    let mut c = config(None, true, vec![]);
    c.plugins_dir = Some(dir.clone());
    let mut v = vehicle(&c);
    let (control, mut inbox) = tcu_engine::control::channel();
    let mut reloader = tcu_engine::reload::Reloader::new(
        &dir,
        SwapPolicy::from_config(&c.hotswap).unwrap(),
        Arc::new(Catalog::builtin()),
        tcu_engine::build::open_store(&c).unwrap(),
    )
    .unwrap();
    assert_eq!(reloader.reload(&control).unwrap(), 0, "nothing changed yet");
    variants::battery_variant("v2", &dir.join("libtcu_plugin_battery.so"));
    assert_eq!(reloader.reload(&control).unwrap(), 1);
    assert_eq!(inbox.apply_pending(&mut v), 1);
    v.drain_events();
    for _ in 0..(u64::from(CANARY) + 5) {
        v.step();
    }
    assert_eq!(version(&v, "battery"), "2.0.0");
    let swapped = kinds(&mut v, "plugin.swapped");
    assert_eq!(swapped, vec!["battery 1.0.0 -> 2.0.0".to_owned()]);
    assert_eq!(reloader.reload(&control).unwrap(), 0, "the new baseline");
}

#[test]
fn a_library_whose_subsystem_name_would_leave_the_store_is_refused_naming_it_and_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    // Two levels down, so that `../../` from `libs/` would land in `tmp`.
    let store_dir = tmp.path().join("stores/one");
    let lib = fixtures::build_c("escaping_name", &tmp.path().join("c"));
    let c = config(Some(&store_dir), true, vec![]);
    let store = tcu_engine::build::open_store(&c).unwrap();
    let policy = SwapPolicy::from_config(&c.hotswap).unwrap();
    // As `--watch` and the reload key prepare: the descriptor names the
    // subsystem.
    let e = prepare_one(None, &lib, &policy, &Catalog::builtin(), &store).unwrap_err();
    assert_eq!(e.kind(), "unsafe_name", "{e}");
    let message = e.to_string();
    assert!(
        message.contains("`../../escaped`") && message.contains(&lib.display().to_string()),
        "{message}"
    );
    let beside: Vec<_> = std::fs::read_dir(tmp.path().join("stores"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["one"], "nothing written outside the store");
    let staged = std::fs::read_dir(store_dir.join("libs")).unwrap().count();
    assert_eq!(staged, 0, "nothing staged");
}

fn rejected_kinds(rejected: &[tcu_engine::plugin::Rejection]) -> Vec<(String, &'static str)> {
    let mut out: Vec<_> = rejected
        .iter()
        .map(|r| {
            let file = r.path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                r.error.to_string().contains(&r.path.display().to_string()),
                "the refusal names the file: {}",
                r.error
            );
            (file, r.error.kind())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn with_trusted_keys_every_library_loaded_at_start_must_verify_or_is_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, public) = (dir.join("k.key"), dir.join("k.pub"));
    sign::keygen(&key, &public).unwrap();
    let (other_key, other_pub) = (dir.join("o.key"), dir.join("o.pub"));
    sign::keygen(&other_key, &other_pub).unwrap();
    let plugins = signed_plugins_dir(&key, &dir.join("plugins"));
    // The battery unsigned, the ABS signed by a key nobody trusts.
    std::fs::remove_file(sign::sig_path(&plugins.join("libtcu_plugin_battery.so"))).unwrap();
    sign::sign_file(&other_key, &plugins.join("libtcu_plugin_abs.so")).unwrap();
    let keys = vec![public.display().to_string()];
    let catalog = Arc::new(Catalog::builtin());

    let mut strict = config(None, false, keys.clone());
    strict.plugins_dir = Some(plugins.clone());
    let (v, rejected) = build_vehicle(&strict, catalog.clone()).unwrap();
    assert_eq!(
        rejected_kinds(&rejected),
        [
            ("libtcu_plugin_abs.so".to_owned(), "bad_signature"),
            ("libtcu_plugin_battery.so".to_owned(), "unsigned"),
        ]
    );
    let running: Vec<&str> = v.plugins().iter().map(|p| p.name()).collect();
    assert_eq!(running.len(), 4, "{running:?}");
    assert!(!running.contains(&"battery") && !running.contains(&"abs"));

    // allow_unsigned lets the unsigned battery run; a bad signature never.
    let mut relaxed = config(None, true, keys.clone());
    relaxed.plugins_dir = Some(plugins.clone());
    let (v, rejected) = build_vehicle(&relaxed, catalog.clone()).unwrap();
    assert_eq!(
        rejected_kinds(&rejected),
        [("libtcu_plugin_abs.so".to_owned(), "bad_signature")]
    );
    assert_eq!(version(&v, "battery"), "1.0.0");

    // The store after a restart: an unsigned v2 went in while unsigned
    // libraries were allowed; with signatures required again, the restart
    // refuses it (naming the store's file) and runs the plugin directory's
    // signed battery instead.
    sign::sign_file(&key, &plugins.join("libtcu_plugin_battery.so")).unwrap();
    sign::sign_file(&key, &plugins.join("libtcu_plugin_abs.so")).unwrap();
    let store_dir = dir.join("store");
    let mut dev = config(Some(&store_dir), true, keys.clone());
    dev.plugins_dir = Some(plugins.clone());
    let mut v = vehicle(&dev);
    let v2 = variants::battery_variant("v2", &dir.join("v2.so"));
    let (o, _) = swap_and_wait(&mut v, &dev, &[("battery", v2)]);
    assert!(matches!(o, SwapOutcome::Passed(_)), "{o:?}");
    v.swap_engine().flush_store();
    drop(v);
    let mut strict = config(Some(&store_dir), false, keys);
    strict.plugins_dir = Some(plugins);
    let (mut v, rejected) = build_vehicle(&strict, catalog).unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(version(&v, "battery"), "1.0.0");
    assert!(v.swap_engine().active().is_empty());
    let warnings = kinds(&mut v, "plugin.store");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(&store_dir.join("libs").display().to_string())
            && warnings[0].contains("unsigned"),
        "{warnings:?}"
    );
}
