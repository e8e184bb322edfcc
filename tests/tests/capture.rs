//! Condition-based captures (`tcu_engine::record::Capturer`): a rule keeps
//! the seconds before its trigger from the ring buffer and the seconds after
//! it, and writes them as a trace that `tcu vet` takes like any recording.

use std::sync::Arc;
use std::time::Duration;
use tcu_engine::catalog::{Catalog, Value};
use tcu_engine::record::{CaptureRule, Capturer, TraceReader};
use tcu_engine::sim::TickHook;
use tcu_engine::world::driver::DriverProfile;
use tcu_integration_tests::{fixtures, harness};

#[test]
fn hard_braking_on_ice_captures_the_seconds_around_abs_engaging_and_the_capture_vets() {
    let dir = tempfile::tempdir().expect("tmp");
    let catalog = Catalog::builtin();
    let rules = vec![
        CaptureRule::parse("abs.engaged", 2.0, 1.0, &catalog).expect("event rule"),
        CaptureRule::parse("Vehicle.Speed > 40", 1.0, 0.5, &catalog).expect("signal rule"),
    ];
    let mut v = harness::vehicle(3, DriverProfile::Idle, &[]);
    let mut c = Capturer::new(dir.path(), rules, &v, "WTCUZ000000000003", 3).expect("capturer");
    let step = |v: &mut tcu_engine::sim::Vehicle, c: &mut Capturer, seconds: f64| {
        for _ in 0..(seconds * 100.0) as u64 {
            v.step();
            let events = v.drain_events();
            c.after_tick(v, &events);
        }
    };
    harness::set(&mut v, "Sim.Driver.AcceleratorPedal", Value::Float(60.0));
    step(&mut v, &mut c, 8.0);
    assert!(harness::get(&v, "Vehicle.Speed") > 50.0);
    harness::set(&mut v, "Sim.Driver.AcceleratorPedal", Value::Float(0.0));
    harness::set(&mut v, "Sim.Environment.RoadFriction", Value::Float(0.1));
    harness::set(&mut v, "Sim.Driver.BrakePedal", Value::Float(100.0));
    step(&mut v, &mut c, 4.0);
    let files: Vec<_> = c
        .finish()
        .into_iter()
        .map(|r| r.expect("capture written"))
        .collect();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    let abs: Vec<&std::path::PathBuf> = files
        .iter()
        .zip(&names)
        .filter(|(_, n)| n.ends_with("-abs.engaged.trace"))
        .map(|(p, _)| p)
        .collect();
    assert!(!abs.is_empty(), "no ABS capture: {names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("-Vehicle.Speed___40.trace")),
        "{names:?}"
    );
    // 2 s before, the trigger tick, 1 s after: 301 consecutive rows.
    let mut r = TraceReader::open(abs[0]).expect("capture opens");
    let mut ticks = Vec::new();
    while let Some(t) = r.next_row().expect("row") {
        ticks.push(t);
    }
    assert_eq!(ticks.len(), 301, "{}", abs[0].display());
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1));
    let trigger: u64 = names[files.iter().position(|p| p == abs[0]).expect("found")]
        ["capture-".len().."capture-".len() + 10]
        .parse()
        .expect("trigger tick in the name");
    assert_eq!(ticks[200], trigger);

    let catalog = Arc::new(catalog);
    let lib = fixtures::workspace_plugins_dir().join(tcu_scenario::runner::library_file("abs"));
    let copy = dir.path().join("abs-candidate.so");
    std::fs::copy(&lib, &copy).expect("copy");
    let pair = tcu_vet::Pair::open(&lib, &copy, &catalog).expect("libraries");
    let report = tcu_vet::vet(
        &pair,
        &[abs[0].clone()],
        &tcu_vet::Tolerances::default(),
        &catalog,
        &mut || Duration::ZERO,
    )
    .expect("the capture vets");
    assert!(report.passed, "{}", report.to_table());
    assert_eq!(report.traces[0].ticks, 301);
}

#[test]
fn a_capture_rule_that_does_not_parse_says_why() {
    let catalog = Catalog::builtin();
    let e = CaptureRule::parse("Vehicle.Sped > 1", 1.0, 1.0, &catalog).expect_err("unknown");
    assert!(
        e.contains("`Vehicle.Sped` is not a signal of the catalog"),
        "{e}"
    );
    let e = CaptureRule::parse("Vehicle.Speed => 1", 1.0, 1.0, &catalog).expect_err("op");
    assert!(e.contains("`=>` is not one of"), "{e}");
    let e = CaptureRule::parse("abs.engaged", -1.0, 1.0, &catalog).expect_err("window");
    assert!(e.contains("before = -1"), "{e}");
}
