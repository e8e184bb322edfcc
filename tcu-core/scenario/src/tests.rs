//! Parsing tests: what a scenario file resolves to, and that every mistake a
//! user can make is reported at the right line and column.

use super::expect::{Check, Predicate, Temporal};
use super::steps::{Action, Command, Fault, Trigger};
use super::*;
use std::path::Path;
use tcu_engine::catalog::{Catalog, Value};

fn parse_str(text: &str) -> Result<Scenario, ScenarioError> {
    parse(Path::new("dir/s.toml"), text, &Catalog::builtin())
}

fn err(text: &str) -> ScenarioError {
    parse_str(text).expect_err("must not parse")
}

const HEAD: &str = "name = \"t\"\nduration = 10.0\n";

#[test]
fn a_complete_file_resolves() {
    let sc = parse_str(&format!(
        r#"{HEAD}seed = 9
tick_rate_hz = 200
[vehicle]
vin = "WTCUZ000000000009"
plugins = ["abs", "battery@1.0.0"]
[occupants]
"Row1.PassengerSide" = "unbelted"
[signals]
"Vehicle.ADAS.ABS.IsEnabled" = false
[[environment]]
at = 2.0
road_friction = 0.1
over = 1.0
[[step]]
at = 1.0
set = {{ "Sim.Driver.BrakePedal" = 30 }}
[[step]]
when = {{ signal = "Vehicle.Speed", above = 20.0 }}
fault = {{ plugin_errors = "hvac", ticks = 5 }}
[[step]]
at = 3.0
command = {{ subsystem = "battery", name = "set_soc", value = 50 }}
[[expect]]
signal = "Vehicle.ADAS.ABS.IsEngaged"
equals = true
eventually = true
within = [1.0, 5.0]
[[expect]]
event = "airbag.deployed"
never = true
"#
    ))
    .expect("parses");
    assert_eq!((sc.seed, sc.tick_rate_hz, sc.duration), (9, 200.0, 10.0));
    assert_eq!(sc.plugins.len(), 2);
    assert_eq!(sc.plugins[1].spec, "battery");
    assert_eq!(sc.plugins[1].version.as_deref(), Some("1.0.0"));
    assert!(sc.signals.contains(&(
        "Sim.Cabin.Seat.Row1.PassengerSide.Occupant".into(),
        Value::Int(1)
    )));
    assert!(sc.signals.contains(&(
        "Sim.Cabin.Seat.Row1.DriverSide.Occupant".into(),
        Value::Int(0)
    )));
    assert_eq!(sc.steps.len(), 4);
    assert!(matches!(sc.steps[1].trigger, Trigger::At(t) if t == 1.0));
    assert!(
        matches!(&sc.steps[0].action, Action::Ramp { to, over, .. } if *to == 0.1 && *over == 1.0)
    );
    assert!(
        sc.steps
            .iter()
            .any(|s| s.action == Action::Fault(Fault::PluginErrors("hvac".into(), Some(5))))
    );
    assert!(sc.steps.iter().any(|s| matches!(&s.action, Action::Command { command: Command::Plugin { name, .. }, accept: true } if name == "set_soc")));
    assert_eq!(sc.expectations[0].window, (1.0, 5.0));
    assert!(matches!(
        sc.expectations[0].check,
        Check::Signal {
            predicate: Predicate::Equals { boolean: true, .. },
            temporal: Temporal::Eventually,
            ..
        }
    ));
    assert!(matches!(
        sc.expectations[1].check,
        Check::Event { count: Some(0), .. }
    ));
}

#[test]
fn bad_toml_names_the_position() {
    let e = err("name = \"t\"\nduration = \n");
    assert_eq!(e.pos.map(|p| p.line), Some(2), "{e}");
    assert!(e.to_string().starts_with("dir/s.toml:2:"), "{e}");
}

#[test]
fn an_unknown_field_is_refused_where_it_is() {
    let e = err(&format!("{HEAD}[[step]]\nat = 1.0\nsett = {{}}\n"));
    assert!(e.message.contains("sett"), "{e}");
    assert_eq!(e.pos.map(|p| p.line), Some(5), "{e}");
}

#[test]
fn an_unknown_signal_is_reported_at_its_name() {
    let e = err(&format!(
        "{HEAD}[[step]]\nat = 1.0\nset = {{ \"Vehicle.Nope\" = 1 }}\n"
    ));
    assert_eq!(e.message, "unknown signal `Vehicle.Nope`");
    assert_eq!(e.pos, Some(Pos { line: 5, col: 9 }), "{e}");
}

#[test]
fn an_out_of_range_value_is_reported_at_the_value() {
    let e = err(&format!(
        "{HEAD}[signals]\n\"Sim.Environment.RoadFriction\" = 3.0\n"
    ));
    assert!(e.message.contains("outside [0.05, 1.2]"), "{e}");
    assert_eq!(e.pos, Some(Pos { line: 4, col: 34 }), "{e}");
}

#[test]
fn a_time_past_the_end_is_reported() {
    let e = err(&format!("{HEAD}[[step]]\nat = 12.5\ncrash = 40.0\n"));
    assert!(e.message.contains("past the end"), "{e}");
    assert_eq!(e.pos, Some(Pos { line: 4, col: 6 }), "{e}");
    let e = err(&format!(
        "{HEAD}[[expect]]\nsignal = \"Vehicle.Speed\"\nabove = 1.0\neventually = true\nwithin = [1.0, 11.0]\n"
    ));
    assert!(e.message.contains("past the end"), "{e}");
    assert_eq!(e.pos.map(|p| p.line), Some(7), "{e}");
}

#[test]
fn an_unknown_plugin_is_reported() {
    let e = err(&format!(
        "{HEAD}[vehicle]\nplugins = [\"abs\", \"turbo\"]\n"
    ));
    assert!(e.message.contains("unknown plugin `turbo`"), "{e}");
    assert_eq!(e.pos, Some(Pos { line: 4, col: 19 }), "{e}");
}

#[test]
fn a_sensor_cannot_be_set_and_a_boolean_is_compared_with_equals() {
    let e = err(&format!("{HEAD}[signals]\n\"Vehicle.Speed\" = 3.0\n"));
    assert!(
        e.message.contains("is a sensor; only actuators can be set"),
        "{e}"
    );
    let e = err(&format!(
        "{HEAD}[[expect]]\nsignal = \"Vehicle.ADAS.ABS.IsEngaged\"\nabove = 0.5\nalways = true\n"
    ));
    assert!(e.message.contains("compare it with `equals`"), "{e}");
}

#[test]
fn a_step_needs_exactly_one_action() {
    let e = err(&format!(
        "{HEAD}[[step]]\nat = 1.0\ncrash = 40.0\nset = {{}}\n"
    ));
    assert!(e.message.contains("give only one of set, crash"), "{e}");
    let e = err(&format!("{HEAD}[[step]]\nat = 1.0\n"));
    assert!(e.message.starts_with("expected one of `set`"), "{e}");
}

#[test]
fn a_swap_step_is_parsed_and_checked() {
    let sc = parse_str(&format!(
        "{HEAD}[[step]]\nat = 1.0\nswap = {{ subsystem = \"battery\", library = \"libs/v2.so\" }}\n"
    ))
    .expect("parses");
    assert_eq!(
        sc.steps[0].action,
        Action::Swap {
            subsystem: "battery".into(),
            library: "dir/libs/v2.so".into()
        }
    );
    let e = err(&format!(
        "{HEAD}[[step]]\nat = 1.0\nswap = {{ subsystem = \"gearbox\", library = \"x.so\" }}\n"
    ));
    assert!(e.message.contains("unknown subsystem `gearbox`"), "{e}");
}

#[test]
fn wheels_and_seats_are_named() {
    let e = err(&format!(
        "{HEAD}[[step]]\nat = 1.0\nfault = {{ wheel_sensor = \"Row3.Left\" }}\n"
    ));
    assert!(e.message.contains("unknown wheel `Row3.Left`"), "{e}");
    let e = err(&format!(
        "{HEAD}[occupants]\n\"Row1.Middle\" = \"belted\"\n"
    ));
    assert!(e.message.contains("unknown seat"), "{e}");
    let sc = parse_str(&format!(
        "{HEAD}[[step]]\nat = 1.0\nfault = {{ noisy_wheel = \"Row1.Right\", amplitude = 20.0 }}\n"
    ))
    .expect("parses");
    assert_eq!(
        sc.steps[0].action,
        Action::Fault(Fault::NoisyWheel(2, 20.0))
    );
}

/// Every way a scenario puts a value on an actuator (`[signals]`, a `set`
/// step, a ramp's target, a command meant to be accepted) refuses a cabin
/// setpoint of 900 °C at the value, naming the signal and the vehicle's
/// limits.
#[test]
fn a_900_degree_setpoint_in_a_scenario_is_refused_naming_the_signal_and_its_limits() {
    let sp = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";
    let want = format!("`{sp}`: value 900 is outside [16, 28]");
    for (body, line) in [
        (format!("[signals]\n\"{sp}\" = 900.0\n"), 4),
        (
            format!("[[step]]\nat = 1.0\nset = {{ \"{sp}\" = 900.0 }}\n"),
            5,
        ),
        (
            format!("[[step]]\nat = 1.0\nramp = {{ signal = \"{sp}\", to = 900.0, over = 2.0 }}\n"),
            5,
        ),
        (
            format!("[[step]]\nat = 1.0\ncommand = {{ set = {{ \"{sp}\" = 900.0 }} }}\n"),
            5,
        ),
    ] {
        let e = err(&format!("{HEAD}{body}"));
        assert_eq!(e.message, want, "{body}");
        assert_eq!(e.pos.map(|p| p.line), Some(line), "{body}");
    }
}
