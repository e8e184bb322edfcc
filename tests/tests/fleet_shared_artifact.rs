//! Fleet OTA installs one artifact into many vehicles of one process: the
//! library is mapped once per content, each vehicle still prepares its own
//! swap into its own store, goes through its own canary and probation, and
//! runs its own instance.
//!
//! Alone in its test binary: it counts the process's plugin mappings.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;
use tcu_engine::build::build_vehicle_shared;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_engine::plugin::open_dir;
use tcu_engine::swap::store::Store;
use tcu_engine::swap::{SwapOutcome, SwapPolicy, prepare};
use tcu_integration_tests::{fixtures, variants};

const VEHICLES: usize = 20;

/// Distinct files behind the process's private plugin copies.
fn plugin_copies_mapped() -> BTreeSet<String> {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| l.contains("memfd:tcu-plugin"))
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_owned))
        .collect()
}

fn config(i: usize, store: &Path) -> VehicleConfig {
    let cli = VehicleOverrides {
        seed: Some(i as u64 + 1),
        vin: Some(tcu_fleet::vin::derive("WTCUZ", i as u64)),
        plugins_dir: Some(fixtures::workspace_plugins_dir()),
        store: Some(store.to_owned()),
        allow_unsigned: Some(true),
        ..Default::default()
    };
    let mut c = VehicleConfig::defaults_with(&cli, &Catalog::builtin()).unwrap();
    c.hotswap.canary_ticks = 5;
    c.hotswap.probation = Duration::from_millis(200);
    c
}

#[test]
fn twenty_vehicles_swapped_to_one_artifact_map_it_once_and_each_keeps_its_own_transaction_and_store()
 {
    let tmp = tempfile::tempdir().unwrap();
    let artifact = variants::battery_variant("v2", &tmp.path().join("battery-v2.so"));
    let catalog = Arc::new(Catalog::builtin());
    let (libs, rejected) = open_dir(&fixtures::workspace_plugins_dir(), &catalog).unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    let mut vehicles: Vec<_> = (0..VEHICLES)
        .map(|i| {
            let c = config(i, &tmp.path().join(format!("store-{i}")));
            (
                build_vehicle_shared(&c, catalog.clone(), &libs).unwrap().0,
                c,
            )
        })
        .collect();
    let before = plugin_copies_mapped();
    let (tx, rx) = mpsc::channel();
    for (i, (v, c)) in vehicles.iter_mut().enumerate() {
        let store = Store::open(c.hotswap.store.as_ref().unwrap()).unwrap();
        let policy = SwapPolicy::from_config(&c.hotswap).unwrap();
        let requests = [("battery".to_owned(), artifact.clone())];
        let prepared = prepare(&requests, &policy, &catalog, &store);
        let tx = tx.clone();
        v.request_swap(prepared, Some(Box::new(move |o| tx.send((i, o)).unwrap())));
    }
    let mut outcomes = Vec::new();
    for _ in 0..200 {
        for (v, _) in &mut vehicles {
            v.step();
        }
        outcomes.extend(rx.try_iter());
        if outcomes.len() == VEHICLES {
            break;
        }
    }
    assert_eq!(outcomes.len(), VEHICLES, "every swap ends: {outcomes:?}");
    for (i, o) in &outcomes {
        assert!(matches!(o, SwapOutcome::Passed(_)), "vehicle {i}: {o:?}");
    }
    let added: Vec<_> = plugin_copies_mapped()
        .difference(&before)
        .cloned()
        .collect();
    assert_eq!(
        added.len(),
        1,
        "one mapping of the artifact for {VEHICLES} vehicles: {added:?}"
    );
    for (i, (v, c)) in vehicles.iter().enumerate() {
        let battery = v.plugins().iter().find(|p| p.name() == "battery").unwrap();
        assert_eq!(battery.library().info().version, "2.0.0", "vehicle {i}");
        // Its own store holds the artifact and names it as running.
        let store_dir = c.hotswap.store.as_ref().unwrap();
        assert!(
            battery.library().path().starts_with(store_dir),
            "vehicle {i} runs it from its own store: {}",
            battery.library().path().display()
        );
    }
}
