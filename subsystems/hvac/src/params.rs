//! Every tuning parameter of the climate control in one place, each with
//! the published figure it is tuned to and where that figure comes from.
//! The model (`model.rs`) uses nothing else; a figure changes here only.

/// Lumped heat capacity of one zone (air plus the trim it exchanges with),
/// J/K. The air of a cabin is only ~3 kg (3 kJ/K); what makes a cabin slow
/// is the trim, seats and glazing that exchange heat with the air within
/// minutes. Not a published figure: 150 kJ/K for the three zones is fitted
/// so that a cold-soaked cabin warms within the envelope of
/// `tests/fidelity/comfort.rs` and cools passively with a time constant of
/// tens of minutes, as parked cars do.
pub const ZONE_HEAT_CAPACITY_J_PER_K: f64 = 50_000.0;
/// Conductance from one zone to the outside at standstill, W/K: 105 W/K for
/// the cabin (a fitted figure like the capacity, of the order of a
/// mid-size car's glazing and body shell). The passive time constant C/UA
/// is then about 24 minutes.
pub const UA_STANDSTILL_W_PER_K: f64 = 35.0;
/// Extra conductance per km/h of vehicle speed, per zone, W/K: the outer
/// film coefficient grows with airspeed, ~+40 % at 100 km/h.
pub const UA_PER_KMH_W_PER_K: f64 = 0.15;
/// Conductance between two zones (air exchange), W/K: there is no
/// partition, the air circulates.
pub const MIXING_W_PER_K: f64 = 20.0;
/// Heating or cooling capacity of one zone at full fan, W (thermal): 7.5 kW
/// for the cabin, the size of the PTC heaters of EVs (5-7 kW high-voltage
/// units); the paper on the secondary-loop pump below measured 4.2 kW from
/// the pump alone at -1 C, and the PTC heater tops the pump up.
pub const MAX_HEAT_W: f64 = 2500.0;
/// Proportional gain of the zone controller, W per kelvin of error. The
/// high gain drives a zone at full power until it is within a degree, like
/// a production automatic climate control; the P-offset
/// `UA |setpoint - ambient| / (GAIN + UA)` stays below 0.9 K for every
/// reachable setpoint with ambient -20..40 C.
pub const GAIN_W_PER_K: f64 = 3000.0;

/// Heating COP of the heat pump against the ambient temperature: (ambient
/// C, COP) points, interpolated linearly and held flat beyond the warm
/// end. The pump lifts heat from the outside air, so the colder the air
/// the more compressor work per kilowatt of heat:
///
/// - -20 C: 1.7. Qin, Shao, Tian, Yang, "Experimental investigation on
///   heating performance of heat pump for electric vehicles in low ambient
///   temperature", Energy Procedia 61 (ICAE 2014): COP above 1.7 at -20 C
///   at the largest heating capacity, tested at -10, -15 and -20 C.
/// - -10 C: 2.0, 0 C: 2.4. Above the 1.9 that a pump with a secondary
///   water-glycol loop reaches at -1 C (Advances in Mechanical Engineering
///   11(5), 2019, doi 10.1177/1687814019845806: 4.2 kW at COP 1.9); a
///   direct refrigerant-to-air pump, as modelled, does somewhat better.
/// - 10 C: 2.9, 20 C: 3.2: the 2.5-3.5 of automotive R134a / R1234yf heat
///   pumps in mild weather reported across the same literature.
pub const COP_HEATING_CURVE: [(f64, f64); 5] = [
    (-20.0, 1.7),
    (-10.0, 2.0),
    (0.0, 2.4),
    (10.0, 2.9),
    (20.0, 3.2),
];
/// Lowest ambient the heat pump works at, C: the coldest point Qin et al.
/// tested, and the usual operating limit of EV heat pumps. Below it the
/// pump stops and the PTC heater takes over alone.
pub const HEAT_PUMP_MIN_AMBIENT_C: f64 = -20.0;
/// Efficiency of the PTC heater (electrical to thermal): a resistive heater
/// turns all its power into heat, so its COP is 1.
pub const COP_PTC: f64 = 1.0;
/// Coefficient of performance while cooling: ~3 for automotive A/C at
/// moderate condenser temperatures (the 1.8 the paper above measured at a
/// 45 C condenser inlet is the hot end).
pub const COP_COOLING: f64 = 3.0;
/// Electrical power of one zone's blower at full speed, W: HVAC blowers of
/// mid-size cars draw 100-250 W at full speed; the fan affinity law makes
/// the power grow with the cube of the speed.
pub const FAN_MAX_POWER_W: f64 = 150.0;
/// Lowest setpoint the controller accepts, Celsius: the range of
/// production climate controls (the catalog has no bounds).
pub const SETPOINT_MIN_C: f64 = 16.0;
/// Highest setpoint the controller accepts, Celsius.
pub const SETPOINT_MAX_C: f64 = 30.0;
/// Range of the zone temperature signals, Celsius (catalog min/max).
pub const TEMP_MIN_C: f64 = -50.0;
/// See [`TEMP_MIN_C`].
pub const TEMP_MAX_C: f64 = 100.0;
/// Upper bound of the power signal, W (catalog max).
pub const POWER_MAX_W: f64 = 20_000.0;

/// Heating COP at `ambient_c`: the heat pump's curve down to its limit,
/// the PTC heater's below it.
pub fn cop_heating(ambient_c: f64) -> f64 {
    if ambient_c < HEAT_PUMP_MIN_AMBIENT_C {
        return COP_PTC;
    }
    let curve = &COP_HEATING_CURVE;
    let last = curve[curve.len() - 1];
    if ambient_c >= last.0 {
        return last.1;
    }
    curve
        .windows(2)
        .find(|w| ambient_c < w[1].0)
        .map_or(curve[0].1, |w| {
            let ((t0, c0), (t1, c1)) = (w[0], w[1]);
            c0 + (c1 - c0) * (ambient_c - t0) / (t1 - t0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heating_cop_falls_with_the_ambient_and_the_ptc_heater_takes_over_below_the_limit() {
        let mut last = f64::INFINITY;
        for step in 0..=80 {
            let ambient = 30.0 - 0.625 * f64::from(step);
            let cop = cop_heating(ambient);
            assert!(cop <= last + 1e-12, "{ambient}: {cop} above {last}");
            assert!((1.5..=3.5).contains(&cop), "{ambient}: {cop}");
            last = cop;
        }
        for (ambient, cop) in COP_HEATING_CURVE {
            assert!((cop_heating(ambient) - cop).abs() < 1e-12);
        }
        for below in [-20.01, -25.0, -40.0] {
            assert_eq!(cop_heating(below), COP_PTC);
        }
    }
}
