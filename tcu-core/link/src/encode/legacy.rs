//! The legacy profile's telemetry: the proof of concept's nesting and
//! names (`ABS.Wheel1.Speed`, `AirConditioning.Zone2.Temperature`, ...),
//! each field mapped from a catalog signal. The table is [`fields`]; the
//! README's MQTT section shows it with units.
//!
//! Numbering follows the plugins' order: zones and heated seats 1 = row 1
//! driver, 2 = row 1 passenger, 3 = row 2 driver; airbag seats add
//! 4 = row 2 middle and 5 = row 2 passenger side; wheels 1 = front left,
//! 2 = front right, 3 = rear left, 4 = rear right. A field appears once its
//! signals have been written; a field the proof of concept had but no
//! signal of the catalog measures (zone humidity, brake fluid temperature)
//! is always `null`, so that the layout is complete.

use super::json_value;
use serde_json::{Map, Value as Json};
use tcu_engine::bus::Bus;
use tcu_engine::catalog::{Catalog, SignalId, Value};

/// Requested brake line pressure per percent of brake pedal: the ABS
/// model's 1 bar per percent (100 bar at full pedal).
pub const BAR_PER_PEDAL_PERCENT: f64 = 1.0;

/// The groups at the top, in the proof of concept's order.
pub const GROUPS: [&str; 6] = [
    "Battery",
    "ABS",
    "Engine",
    "AirConditioning",
    "Airbag",
    "HeatSeats",
];

/// How a field's value is made from its signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The one signal's value.
    Same,
    /// No signal measures it: `null`.
    Absent,
    /// Brake pedal percent times [`BAR_PER_PEDAL_PERCENT`].
    PedalBar,
    /// The mean of the signals.
    Mean,
    /// `"On"` while the one signal is above zero, else `"Off"`.
    OnWhenPositive,
    /// `"Deployed"` or `"Ready"` from the one airbag's `IsDeployed`.
    AirbagState,
    /// Occupied (first signal) and not deployed (second): the bag would
    /// fire in a crash.
    Armed,
}

/// One field of the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Dotted path in the JSON document, e.g. `ABS.Wheel1.Speed`.
    pub key: String,
    /// Catalog paths it is made from.
    pub signals: Vec<String>,
    /// How.
    pub rule: Rule,
}

fn field(key: impl Into<String>, signals: &[String], rule: Rule) -> Field {
    Field {
        key: key.into(),
        signals: signals.to_vec(),
        rule,
    }
}

fn same(key: impl Into<String>, signal: impl Into<String>) -> Field {
    field(key, &[signal.into()], Rule::Same)
}

const BATTERY: &str = "Vehicle.Powertrain.TractionBattery";
const MOTOR: &str = "Vehicle.Powertrain.ElectricMotor";
const ZONES: [&str; 3] = ["Row1.Driver", "Row1.Passenger", "Row2.Driver"];
const SEATS: [&str; 5] = [
    "Row1.DriverSide",
    "Row1.PassengerSide",
    "Row2.DriverSide",
    "Row2.Middle",
    "Row2.PassengerSide",
];
const WHEELS: [&str; 4] = [
    "Row1.Wheel.Left",
    "Row1.Wheel.Right",
    "Row2.Wheel.Left",
    "Row2.Wheel.Right",
];

/// The whole mapping, group by group.
pub fn fields() -> Vec<Field> {
    let mut f = vec![
        same(
            "Battery.StateOfCharge",
            format!("{BATTERY}.StateOfCharge.Current"),
        ),
        same(
            "Battery.Energy",
            format!("{BATTERY}.StateOfCharge.CurrentEnergy"),
        ),
        same("Battery.Voltage", format!("{BATTERY}.CurrentVoltage")),
        same("Battery.Current", format!("{BATTERY}.CurrentCurrent")),
        same("Battery.Power", format!("{BATTERY}.CurrentPower")),
        same(
            "Battery.BatteryTemperature",
            format!("{BATTERY}.Temperature.Average"),
        ),
        same(
            "Battery.EnergyAdded",
            "Vehicle.Powertrain.AccumulatedBrakingEnergy",
        ),
        same(
            "Battery.EnergyUsed",
            format!("{BATTERY}.AccumulatedConsumedEnergy"),
        ),
        field(
            "ABS.BrakePedalPressure",
            &["Vehicle.Chassis.Brake.PedalPosition".into()],
            Rule::PedalBar,
        ),
        field(
            "ABS.BrakeActualPressure",
            &WHEELS.map(|w| format!("Sim.Chassis.Axle.{w}.Brake.Pressure")),
            Rule::Mean,
        ),
        same("ABS.TractionControl", "Vehicle.ADAS.ABS.IsEnabled"),
        same("ABS.Engaged", "Vehicle.ADAS.ABS.IsEngaged"),
        same("ABS.Error", "Vehicle.ADAS.ABS.IsError"),
    ];
    for (i, w) in WHEELS.iter().enumerate() {
        let n = i + 1;
        f.push(same(
            format!("ABS.Wheel{n}.Speed"),
            format!("Vehicle.Chassis.Axle.{w}.Speed"),
        ));
        f.push(same(
            format!("ABS.Wheel{n}.Pressure"),
            format!("Sim.Chassis.Axle.{w}.Brake.Pressure"),
        ));
        f.push(field(
            format!("ABS.Wheel{n}.FluidTemperature"),
            &[],
            Rule::Absent,
        ));
        f.push(same(
            format!("ABS.Wheel{n}.DiskTemperature"),
            format!("Sim.Chassis.Axle.{w}.Brake.DiscTemperature"),
        ));
    }
    f.extend([
        same("Engine.Speed", format!("{MOTOR}.Speed")),
        same("Engine.Torque", format!("{MOTOR}.Torque")),
        same("Engine.Power", format!("{MOTOR}.Power")),
        same("Engine.Temperature", format!("{MOTOR}.Temperature")),
        same(
            "Engine.CoolantTemperature",
            format!("{MOTOR}.CoolantTemperature"),
        ),
        same("Engine.Running", "Sim.Powertrain.ElectricMotor.IsRunning"),
        same(
            "Engine.AcceleratorPosition",
            "Vehicle.Chassis.Accelerator.PedalPosition",
        ),
        same(
            "AirConditioning.ACActive",
            "Vehicle.Cabin.HVAC.IsAirConditioningActive",
        ),
        same(
            "AirConditioning.CabinTemperature",
            "Vehicle.Cabin.HVAC.AmbientAirTemperature",
        ),
        same("AirConditioning.Power", "Sim.Cabin.HVAC.Power"),
    ]);
    for (i, z) in ZONES.iter().enumerate() {
        let n = i + 1;
        let station = format!("Vehicle.Cabin.HVAC.Station.{z}");
        f.push(field(
            format!("AirConditioning.Zone{n}.State"),
            &[format!("{station}.FanSpeed")],
            Rule::OnWhenPositive,
        ));
        f.push(same(
            format!("AirConditioning.Zone{n}.Temperature"),
            format!("Sim.Cabin.HVAC.Station.{z}.AirTemperature"),
        ));
        f.push(field(
            format!("AirConditioning.Zone{n}.Humidity"),
            &[],
            Rule::Absent,
        ));
        f.push(same(
            format!("AirConditioning.Zone{n}.TargetTemperature"),
            format!("{station}.Temperature"),
        ));
        f.push(same(
            format!("AirConditioning.Zone{n}.FanSpeed"),
            format!("{station}.FanSpeed"),
        ));
    }
    for (i, s) in SEATS.iter().enumerate() {
        let n = i + 1;
        let seat = format!("Vehicle.Cabin.Seat.{s}");
        let deployed = format!("{seat}.Airbag.IsDeployed");
        let occupied = format!("{seat}.IsOccupied");
        f.push(field(
            format!("Airbag.Seat{n}.State"),
            std::slice::from_ref(&deployed),
            Rule::AirbagState,
        ));
        f.push(same(format!("Airbag.Seat{n}.Triggered"), deployed.clone()));
        f.push(field(
            format!("Airbag.Seat{n}.Active"),
            &[occupied.clone(), deployed],
            Rule::Armed,
        ));
        f.push(same(
            format!("Airbag.Seat{n}.SeatbeltFastened"),
            format!("{seat}.IsBelted"),
        ));
        f.push(same(format!("Airbag.Seat{n}.PassengerPresent"), occupied));
    }
    f.push(same("Airbag.CrashPulse", "Sim.Crash.Pulse"));
    for (i, s) in SEATS[..3].iter().enumerate() {
        let n = i + 1;
        let level = format!("Vehicle.Cabin.Seat.{s}.HeatingCooling");
        f.push(field(
            format!("HeatSeats.HeatedSeat{n}.State"),
            std::slice::from_ref(&level),
            Rule::OnWhenPositive,
        ));
        f.push(same(
            format!("HeatSeats.HeatedSeat{n}.Temperature"),
            format!("Sim.Cabin.Seat.{s}.Temperature"),
        ));
        f.push(same(format!("HeatSeats.HeatedSeat{n}.Level"), level));
    }
    f.push(same("HeatSeats.Power", "Sim.Cabin.Seat.Heating.Power"));
    f
}

fn number(v: Value) -> f64 {
    match v {
        Value::Bool(b) => f64::from(u8::from(b)),
        Value::Int(i) => i as f64,
        Value::Float(x) => x,
    }
}

fn on_off(on: bool) -> Json {
    Json::String(if on { "On" } else { "Off" }.to_owned())
}

impl Rule {
    fn apply(self, values: &[Value]) -> Json {
        let first = values.first().copied().map_or(0.0, number);
        let float = |x: f64| serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number);
        match self {
            Rule::Same => values.first().copied().map_or(Json::Null, json_value),
            Rule::Absent => Json::Null,
            Rule::PedalBar => float(first * BAR_PER_PEDAL_PERCENT),
            Rule::Mean => {
                float(values.iter().copied().map(number).sum::<f64>() / values.len().max(1) as f64)
            }
            Rule::OnWhenPositive => on_off(first > 0.0),
            Rule::AirbagState => {
                Json::String(if first > 0.0 { "Deployed" } else { "Ready" }.to_owned())
            }
            Rule::Armed => {
                Json::Bool(first > 0.0 && values.get(1).copied().map_or(0.0, number) == 0.0)
            }
        }
    }
}

/// A field with its signals looked up.
#[derive(Debug, Clone)]
struct Resolved {
    keys: Vec<String>,
    signals: Vec<SignalId>,
    rule: Rule,
}

/// The mapping resolved against a catalog: fields whose signals the
/// catalog lacks are left out.
#[derive(Debug, Clone)]
pub struct Layout {
    fields: Vec<Resolved>,
}

impl Layout {
    /// Looks every field's signals up in `catalog`.
    pub fn new(catalog: &Catalog) -> Self {
        let fields = fields()
            .into_iter()
            .filter_map(|f| {
                let signals = f
                    .signals
                    .iter()
                    .map(|p| catalog.id(p))
                    .collect::<Option<Vec<_>>>()?;
                Some(Resolved {
                    keys: f.key.split('.').map(str::to_owned).collect(),
                    signals,
                    rule: f.rule,
                })
            })
            .collect();
        Self { fields }
    }

    /// The document: the six groups (each present, maybe empty), then
    /// `Timestamp` and `DeviceID`.
    pub fn encode(&self, bus: &Bus, ts: String, vin: &str) -> Json {
        let mut top = Map::new();
        for g in GROUPS {
            top.insert(g.to_owned(), Json::Object(Map::new()));
        }
        let mut values = Vec::with_capacity(4);
        for f in &self.fields {
            if !f.signals.iter().all(|&id| bus.is_written(id)) {
                continue;
            }
            values.clear();
            values.extend(f.signals.iter().map(|&id| bus.value(id)));
            insert(&mut top, &f.keys, f.rule.apply(&values));
        }
        top.insert("Timestamp".into(), Json::String(ts));
        top.insert("DeviceID".into(), Json::String(vin.to_owned()));
        Json::Object(top)
    }
}

/// Puts `v` at the nested path `keys`, creating objects on the way.
fn insert(map: &mut Map<String, Json>, keys: &[String], v: Json) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut m = map;
    for k in parents {
        let entry = m
            .entry(k.clone())
            .or_insert_with(|| Json::Object(Map::new()));
        let Json::Object(next) = entry else {
            return;
        };
        m = next;
    }
    m.insert(last.clone(), v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_legacy_field_maps_signals_of_the_catalog() {
        let catalog = Catalog::builtin();
        for f in fields() {
            assert_eq!(
                f.signals.is_empty(),
                f.rule == Rule::Absent,
                "{}: only an absent field has no signal",
                f.key
            );
            for s in &f.signals {
                assert!(
                    catalog.get(s).is_some(),
                    "{}: `{s}` is not in the catalog",
                    f.key
                );
            }
            assert!(
                GROUPS.iter().any(|g| f.key.starts_with(&format!("{g}."))),
                "{} is outside the six groups",
                f.key
            );
        }
        let n = fields().len();
        assert_eq!(Layout::new(&catalog).fields.len(), n);
    }

    #[test]
    fn derived_fields_follow_their_rules() {
        use Value::{Bool, Float, Int};
        assert_eq!(Rule::PedalBar.apply(&[Int(40)]), serde_json::json!(40.0));
        assert_eq!(
            Rule::Mean.apply(&[Float(10.0), Float(20.0), Float(30.0), Float(40.0)]),
            serde_json::json!(25.0)
        );
        assert_eq!(
            Rule::OnWhenPositive.apply(&[Int(0)]),
            serde_json::json!("Off")
        );
        assert_eq!(
            Rule::OnWhenPositive.apply(&[Int(-20)]),
            serde_json::json!("Off")
        );
        assert_eq!(
            Rule::OnWhenPositive.apply(&[Int(30)]),
            serde_json::json!("On")
        );
        assert_eq!(
            Rule::AirbagState.apply(&[Bool(true)]),
            serde_json::json!("Deployed")
        );
        assert_eq!(
            Rule::Armed.apply(&[Bool(true), Bool(false)]),
            serde_json::json!(true)
        );
        assert_eq!(
            Rule::Armed.apply(&[Bool(true), Bool(true)]),
            serde_json::json!(false)
        );
        assert_eq!(
            Rule::Armed.apply(&[Bool(false), Bool(false)]),
            serde_json::json!(false)
        );
        assert_eq!(Rule::Absent.apply(&[]), Json::Null);
    }
}
