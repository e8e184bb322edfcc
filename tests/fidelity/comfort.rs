//! Cabin and seat comfort through a whole parked vehicle: how fast a
//! cold-soaked cabin and a cold seat warm up, what the heat pump's COP is at
//! three ambients, and what a seat heating level aims at. Each test names
//! the figure it checks, its source and its tolerance.

use tcu_engine::catalog::Value;
use tcu_engine::sim::Vehicle;
use tcu_engine::world::driver::DriverProfile;
use tcu_integration_tests::harness::{get, run_for, vehicle};

const ZONES: [&str; 3] = ["Row1.Driver", "Row1.Passenger", "Row2.Driver"];
const SEATS: [&str; 3] = ["Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide"];
const CABIN: &str = "Vehicle.Cabin.HVAC.AmbientAirTemperature";
const HVAC_POWER: &str = "Sim.Cabin.HVAC.Power";
const DRIVER_SEAT: &str = "Sim.Cabin.Seat.Row1.DriverSide.Temperature";

/// A parked car soaked at `ambient` celsius, every zone asking for
/// `setpoint` at fan `fan` %, the seats at `levels` %.
fn parked(ambient: f64, setpoint: f64, fan: i64, levels: [i64; 3]) -> Vehicle {
    let mut signals = vec![
        ("Sim.Environment.AirTemperature", Value::Float(ambient)),
        (
            "Vehicle.Cabin.HVAC.IsAirConditioningActive",
            Value::Bool(true),
        ),
    ];
    let paths: Vec<(String, Value)> = ZONES
        .iter()
        .flat_map(|z| {
            [
                (
                    format!("Vehicle.Cabin.HVAC.Station.{z}.Temperature"),
                    Value::Float(setpoint),
                ),
                (
                    format!("Vehicle.Cabin.HVAC.Station.{z}.FanSpeed"),
                    Value::Int(fan),
                ),
            ]
        })
        .chain(SEATS.iter().zip(levels).map(|(s, l)| {
            (
                format!("Vehicle.Cabin.Seat.{s}.HeatingCooling"),
                Value::Int(l),
            )
        }))
        .collect();
    signals.extend(paths.iter().map(|(p, v)| (p.as_str(), *v)));
    vehicle(11, DriverProfile::Idle, &signals)
}

/// Seconds until `signal` first reaches `threshold`, within `limit` s.
fn time_to_reach(v: &mut Vehicle, signal: &str, threshold: f64, limit: f64) -> Option<f64> {
    let ticks = (limit / v.dt()).round() as u64;
    (1..=ticks).find_map(|k| {
        v.step();
        (get(v, signal) >= threshold).then(|| k as f64 * v.dt())
    })
}

/// Cabin warm-up from a cold soak. Envelope: within 1 K of a 21 celsius
/// setpoint 8 to 20 minutes after a soak at -10 celsius, at full fan.
/// Source: manufacturers' winter preconditioning guidance (owners' manuals
/// of EVs advise starting the climate control 10 to 20 minutes before
/// departure so the cabin is warm on arrival); faster than 8 minutes would
/// need more than the 7.5 kW of heating the car has, slower than 20 a
/// heater too weak to demist on a cold morning.
#[test]
fn a_cabin_soaked_at_minus_ten_reaches_the_setpoint_in_eight_to_twenty_minutes() {
    let mut v = parked(-10.0, 21.0, 100, [0; 3]);
    v.step();
    assert!(get(&v, CABIN) < -9.0, "the soak: {}", get(&v, CABIN));
    let t = time_to_reach(&mut v, CABIN, 20.0, 1800.0).expect("never within 1 K");
    assert!((480.0..=1200.0).contains(&t), "within 1 K after {t} s");
}

/// Seat warm-up. Envelope: the surface reaches a perceptibly warm 30
/// celsius 2 to 5 minutes after switching on at the top level in a -10
/// celsius cabin (the climate off, so the cabin stays cold). Source:
/// heated-seat instructions of Chrysler and Fiat owners' manuals, "heat
/// will be felt within two to five minutes".
#[test]
fn a_seat_at_full_level_in_a_minus_ten_cabin_is_warm_within_two_to_five_minutes() {
    let mut v = parked(-10.0, 21.0, 0, [100, 0, 0]);
    let t = time_to_reach(&mut v, DRIVER_SEAT, 30.0, 600.0).expect("never warm");
    assert!((120.0..=300.0).contains(&t), "30 C after {t} s");
    assert!(get(&v, CABIN) < -9.0, "the cabin stayed cold");
}

/// Mean HVAC power and mean cabin temperature over the last ten of
/// `minutes` minutes of holding 22 celsius at `ambient`, full fan.
fn steady_hold(ambient: f64, minutes: f64) -> (f64, f64) {
    let mut v = parked(ambient, 22.0, 100, [0; 3]);
    run_for(&mut v, (minutes - 10.0) * 60.0);
    let ticks = (600.0 / v.dt()).round() as u64;
    let (mut power, mut cabin) = (0.0, 0.0);
    for _ in 0..ticks {
        v.step();
        power += get(&v, HVAC_POWER);
        cabin += get(&v, CABIN);
    }
    (power / ticks as f64, cabin / ticks as f64)
}

/// The heat pump's heating COP at -10, 0 and 10 celsius. The test measures
/// it as a calorimeter would: the fans' draw from a cabin already at the
/// setpoint, the cabin's heat loss per kelvin from a hold at -25 celsius,
/// where the pump is off and the PTC heater turns power into heat 1:1, and
/// then COP = loss / (power - fans) at each ambient. Envelope: -10 C
/// 1.5-2.6, 0 C 1.9-3.0, 10 C 2.3-3.6, and falling with the ambient.
/// Sources: Qin et al., Energy Procedia 61 (2014), COP above 1.7 at -20 C
/// (so above 1.5 at -10 C); a secondary-loop pump measured at COP 1.9 at
/// -1 C (Advances in Mechanical Engineering 11(5), 2019), the lower end
/// at 0 C; 2.5-3.5 in mild weather across the same literature.
#[test]
fn the_heat_pump_cop_at_minus_ten_zero_and_ten_is_in_the_published_range_and_falls() {
    let (fans, at_setpoint) = steady_hold(22.0, 20.0);
    assert!((at_setpoint - 22.0).abs() < 0.5, "{at_setpoint}");
    let (ptc_power, ptc_cabin) = steady_hold(-25.0, 40.0);
    let loss_w_per_k = (ptc_power - fans) / (ptc_cabin + 25.0);
    let envelopes = [(-10.0, 1.5, 2.6), (0.0, 1.9, 3.0), (10.0, 2.3, 3.6)];
    let mut cops = Vec::new();
    for (ambient, lo, hi) in envelopes {
        let (power, cabin) = steady_hold(ambient, 40.0);
        let cop = loss_w_per_k * (cabin - ambient) / (power - fans);
        assert!((lo..=hi).contains(&cop), "COP {cop} at {ambient} C");
        cops.push(cop);
    }
    assert!(cops.windows(2).all(|w| w[1] > w[0]), "{cops:?}");
}

/// What a level aims at. Level 50 is one surface temperature whatever the
/// cabin: above 30 celsius in a -10 celsius cabin (it used to aim a fraction
/// of the way from the cabin to 42, 16 celsius there), the same as in a
/// 15 celsius one, below the 42 celsius top. Source: production heaters'
/// steps are thermostat settings (low / medium / high surface
/// temperatures), 42 C the usual top setting.
#[test]
fn level_fifty_in_a_minus_ten_cabin_aims_above_thirty_and_where_it_aims_in_a_mild_one() {
    let mut finals = Vec::new();
    for ambient in [-10.0, 15.0] {
        let mut v = parked(ambient, 21.0, 0, [50, 0, 0]);
        run_for(&mut v, 1800.0);
        let seat = get(&v, DRIVER_SEAT);
        assert!(seat > 30.0 && seat < 42.0, "{ambient} C: seat at {seat}");
        finals.push(seat);
    }
    assert!((finals[0] - finals[1]).abs() < 0.5, "{finals:?}");
}
