//! The plugin host's load-error matrix: every way a library can be bad,
//! built for real by the test setup, each yielding its own typed error while
//! the good plugins in the same directory load and run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tcu_engine::bus::Bus;
use tcu_engine::catalog::Catalog;
use tcu_engine::plugin::{LoadError, load_dir};
use tcu_engine::sim::Vehicle;
use tcu_engine::world::World;
use tcu_engine::world::driver::DriverProfile;
use tcu_engine::world::dynamics::VehicleParams;
use tcu_integration_tests::fixtures;

/// Copies the six real plugins into `dir`.
fn copy_real_plugins(dir: &Path) {
    let src = fixtures::workspace_plugins_dir();
    for name in ["battery", "abs", "engine", "airbag", "hvac", "heated_seats"] {
        let file = format!("libtcu_plugin_{name}.so");
        std::fs::copy(src.join(&file), dir.join(&file))
            .unwrap_or_else(|e| panic!("copying {file} into {}: {e}", dir.display()));
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .expect("fixture path ends in a file name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn each_broken_library_gets_its_typed_error_and_the_good_ones_still_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_real_plugins(dir);
    for src in [
        "abi_mismatch",
        "no_symbol",
        "unknown_signal",
        "type_mismatch",
        "second_writer",
        "create_fails",
        "truncated_descriptor",
    ] {
        fixtures::build_c(src, dir);
    }
    fixtures::write_not_a_library(dir);
    fixtures::build_panicky("panic_in_create", dir);
    // The same subsystem again, under another file name.
    std::fs::copy(
        dir.join("libtcu_plugin_battery.so"),
        dir.join("libtcu_plugin_battery_copy.so"),
    )
    .unwrap();

    let catalog = Arc::new(Catalog::builtin());
    let mut bus = Bus::new(catalog);
    let world = World::new(&mut bus, VehicleParams::default(), 1).unwrap();
    let report = load_dir(dir, &mut bus, 1).unwrap();

    let mut loaded: Vec<&str> = report.plugins.iter().map(|p| p.name()).collect();
    loaded.sort_unstable();
    assert_eq!(
        loaded,
        ["abs", "airbag", "battery", "engine", "heated-seats", "hvac"]
    );

    let rejected: Vec<(String, &LoadError)> = report
        .rejected
        .iter()
        .map(|r| (file_name(&r.path), &r.error))
        .collect();
    let find = |name: &str| -> &LoadError {
        rejected
            .iter()
            .find(|(f, _)| f == name)
            .unwrap_or_else(|| panic!("{name} was not rejected; rejected: {rejected:#?}"))
            .1
    };
    assert_eq!(rejected.len(), 10, "{rejected:#?}");

    assert!(matches!(
        find("libnot_a_library.so"),
        LoadError::NotALibrary { .. }
    ));
    assert!(matches!(
        find("libno_symbol.so"),
        LoadError::SymbolMissing { .. }
    ));
    assert!(matches!(
        find("libabi_mismatch.so"),
        LoadError::AbiMismatch {
            found: 99,
            expected: 1,
            ..
        }
    ));
    assert!(matches!(
        find("libtruncated_descriptor.so"),
        LoadError::TruncatedDescriptor { found: 16, .. }
    ));
    assert!(matches!(
        find("libunknown_signal.so"),
        LoadError::UnknownSignal { signal, .. } if signal == "Vehicle.DoesNotExist"
    ));
    assert!(matches!(
        find("libtype_mismatch.so"),
        LoadError::TypeMismatch { signal, declared, catalog, .. }
            if signal == "Vehicle.Speed" && declared == "boolean" && catalog == "float"
    ));
    assert!(matches!(
        find("libsecond_writer.so"),
        LoadError::SecondWriter { signal, owner, .. } if signal == "Vehicle.Speed" && owner == "the world model"
    ));
    assert!(matches!(
        find("libcreate_fails.so"),
        LoadError::CreateFailed { message, .. } if message == "battery calibration table missing"
    ));
    assert!(matches!(
        find("libpanicky_panic_in_create.so"),
        LoadError::Panic { plugin, message, .. } if plugin == "panicky" && message.contains("panicked")
    ));
    assert!(matches!(
        find("libtcu_plugin_battery_copy.so"),
        LoadError::DuplicateSubsystem { plugin, .. } if plugin == "battery"
    ));
    // Every message names the file it is about.
    for (name, e) in &rejected {
        assert!(e.to_string().contains(name.as_str()), "{e}");
    }

    // The admitted plugins run normally beside the rejects.
    let mut v = Vehicle::new(bus, world, report.plugins, DriverProfile::Demo, 100.0);
    for _ in 0..500 {
        v.step();
    }
    assert_eq!(v.faults(), 0);
    assert!(v.status().speed_kmh > 0.0);
}

#[test]
fn inspect_reads_a_descriptor_and_reports_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    let good: PathBuf = fixtures::build_c("range", tmp.path());
    let info = tcu_engine::plugin::inspect(&good).unwrap();
    assert_eq!(
        (info.name.as_str(), info.version.as_str(), info.abi_version),
        ("range", "1.0.0", 1)
    );
    assert_eq!(info.writes[0].path, "Vehicle.Powertrain.Range");
    assert_eq!(info.writes[0].datatype, "uint32");
    // inspect reports ABI and layout problems, but not catalog ones: it runs
    // without a vehicle.
    let bad = fixtures::build_c("abi_mismatch", tmp.path());
    assert!(matches!(
        tcu_engine::plugin::inspect(&bad),
        Err(LoadError::AbiMismatch { .. })
    ));
    let missing = tcu_engine::plugin::inspect(&tmp.path().join("libnothing.so")).unwrap_err();
    assert!(matches!(missing, LoadError::NotALibrary { .. }));
}
