//! Tests of the catalog files and their parser.

use super::*;
use tcu_sdk::catalog::HEADER;

#[test]
fn builtin_catalog_parses_and_has_both_parts() {
    let c = Catalog::builtin();
    assert!(c.get("Vehicle.Speed").is_some_and(|m| !m.overlay));
    assert!(c.get("Sim.Road.Friction").is_none());
    assert!(
        c.get("Sim.Environment.RoadFriction")
            .is_some_and(|m| m.overlay)
    );
}

/// Every shipped VSS row must be a verbatim row of the VSS 5.0 catalog
/// (the whole catalog is kept in `subsystems/sdk/catalog/upstream`).
#[test]
fn shipped_vss_rows_match_the_vss_5_catalog() {
    let full = include_str!("../../../../subsystems/sdk/catalog/upstream/vss-5.0.tsv");
    let rows: std::collections::HashSet<&str> = full.lines().collect();
    for (i, line) in VSS_TSV.lines().enumerate().skip(1) {
        assert!(
            rows.contains(line),
            "catalog/vss.tsv line {} is not a VSS 5.0 row: {line}",
            i + 1
        );
    }
}

#[test]
fn malformed_rows_are_reported_with_file_and_line() {
    let text = format!(
        "{HEADER}\nVehicle.Speed\tsensor\tfloat\tkm/h\t\t\t\tok\nVehicle.X\tsensor\tstring\t\t\t\t\tbad\n"
    );
    let e = parse_tsv("x.tsv", &text, false).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("x.tsv", 3));
    assert!(e.message.contains("string"), "{e}");

    let text = format!("{HEADER}\nSim.A\tsensor\tfloat\t\t5\t1\t\tinverted\n");
    let e = parse_tsv("o.tsv", &text, true).unwrap_err();
    assert!(e.to_string().starts_with("o.tsv:2:"), "{e}");

    let text = format!("{HEADER}\nVehicle.A\tsensor\tfloat\n");
    assert!(
        parse_tsv("v.tsv", &text, false)
            .unwrap_err()
            .message
            .contains("8 tab-separated")
    );

    let text = format!("{HEADER}\nVehicle.A\tsensor\tfloat\t\t\t\t\tx\n");
    assert!(
        parse_tsv("o.tsv", &text, true)
            .unwrap_err()
            .message
            .contains("Sim.")
    );
}

#[test]
fn check_enforces_datatype_and_bounds() {
    let c = Catalog::builtin();
    let soc = c
        .get("Vehicle.Powertrain.TractionBattery.StateOfCharge.Current")
        .unwrap();
    assert!(soc.check(50.0).is_ok());
    assert!(matches!(
        soc.check(100.5),
        Err(RangeError::OutOfRange { .. })
    ));
    assert!(matches!(
        soc.check(f64::NAN),
        Err(RangeError::NotFinite { .. })
    ));
    let fan = c
        .get("Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed")
        .unwrap();
    assert!(matches!(fan.check(50.5), Err(RangeError::NotWhole { .. })));
    assert!(fan.check(101.0).is_err());
    let rpm = c.get("Vehicle.Powertrain.ElectricMotor.Speed").unwrap();
    assert!(
        rpm.check(-3000.0).is_ok(),
        "int32 has no catalog bounds but allows negatives"
    );
    assert!(rpm.check(3e9).is_err(), "beyond int32");
}

/// VSS leaves some actuators without a range (the cabin setpoints, the
/// switches); the vehicle's own limits close every one, so nothing from
/// outside can set a value the car would not accept.
#[test]
fn every_actuator_has_a_finite_min_and_max_after_the_overlay() {
    let c = Catalog::builtin();
    let actuators: Vec<&SignalMeta> = c
        .iter()
        .map(|(_, m)| m)
        .filter(|m| m.kind == SignalKind::Actuator)
        .collect();
    assert!(actuators.len() >= 20, "{} actuators", actuators.len());
    for m in actuators {
        assert!(
            m.min.is_some_and(f64::is_finite) && m.max.is_some_and(f64::is_finite),
            "actuator {} has no finite limits: min {:?}, max {:?}",
            m.path,
            m.min,
            m.max
        );
    }
}

#[test]
fn a_limit_only_narrows_a_known_signal_once_and_names_its_line() {
    use tcu_sdk::catalog::LIMITS_HEADER;
    let apply = |rows: &str| {
        let mut c = Catalog::builtin();
        c.apply_limits("l.tsv", &format!("{LIMITS_HEADER}\n{rows}"))
            .map(|()| c)
    };
    let fan = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";
    let c = apply(&format!("{fan}\t0\t80\tquiet blower\n")).unwrap();
    let m = c.get(fan).unwrap();
    assert_eq!((m.min, m.max), (Some(0.0), Some(80.0)));
    assert_eq!(m.limit_note.as_deref(), Some("quiet blower"));
    assert!(m.check(90.0).is_err());

    let e = apply("Vehicle.Nope\t0\t1\tx\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "l.tsv:2: `Vehicle.Nope`: no such signal in the catalog"
    );
    let e = apply(&format!("{fan}\t0\t80\ta\n{fan}\t0\t90\tb\n")).unwrap_err();
    assert_eq!(
        (e.line, e.message.contains("limited twice")),
        (3, true),
        "{e}"
    );
    let e = apply(&format!("{fan}\t0\t120\twide\n")).unwrap_err();
    assert!(
        e.message.contains("wider than the signal's [0, 100]"),
        "{e}"
    );
    let e = apply(&format!("{fan}\t0\t50.5\thalf\n")).unwrap_err();
    assert!(e.message.contains("not whole numbers"), "{e}");
}

#[test]
fn a_string_array_is_only_a_host_derived_sensor_that_no_plugin_can_declare() {
    let text = format!("{HEADER}\nVehicle.L\tsensor\tstring[]\t\t\t\t\tlist\n");
    let rows = parse_tsv("x.tsv", &text, false).unwrap();
    assert_eq!(rows[0].datatype, DataType::StringArray);
    assert_eq!(rows[0].bounds(), (0.0, 0.0));
    let text = format!("{HEADER}\nVehicle.L\tactuator\tstring[]\t\t\t\t\tlist\n");
    let e = parse_tsv("x.tsv", &text, false).unwrap_err();
    assert!(e.message.contains("only be a sensor"), "{e}");
    // No ABI code maps to it, so a plugin declaration can never match.
    assert!(tcu_sdk::abi::datatype_from_name("string[]").is_none());
    let list = Catalog::builtin().get(DTC_LIST).cloned().unwrap();
    assert_eq!(list.datatype, DataType::StringArray);
}
