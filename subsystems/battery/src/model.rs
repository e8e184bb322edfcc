// Self-contained on purpose: a benchmark includes this file with
// `#[path = ...] mod x;`, so it may only use `tcu_sdk` (with its
// `snapshot` feature), `serde` and `std` (see the crate docs for the model).

use serde::{Deserialize, Serialize};
use std::ffi::CStr;
use tcu_sdk::abi::{TCU_TYPE_BOOLEAN, TCU_TYPE_FLOAT, TCU_TYPE_UINT32, TcuSignalDecl};
use tcu_sdk::physics::{approach, finite_or};
use tcu_sdk::{CommandError, PluginError, Subsystem};

#[path = "contactor.rs"]
pub mod contactor;
use contactor::Contactor;
#[path = "faults.rs"]
pub mod faults;

/// Net (usable) capacity, kWh.
pub const CAPACITY_KWH: f64 = 75.0;
/// State of charge of a newly created battery, percent.
pub const INITIAL_SOC_PERCENT: f64 = 80.0;
/// Open-circuit voltage at 0 % state of charge, V.
pub const OCV_EMPTY_V: f64 = 340.0;
/// Open-circuit voltage at 100 % state of charge, V.
pub const OCV_FULL_V: f64 = 403.0;
/// Pack internal resistance, ohm.
pub const INTERNAL_RESISTANCE_OHM: f64 = 0.08;
/// Constant draw of the 12 V system through the DC/DC converter, W (the
/// shared vehicle parameter).
pub use tcu_sdk::vehicle::LOW_VOLTAGE_LOAD_W as AUXILIARY_LOAD_W;
/// Largest power the pack delivers, W (about 2.7 C; loads beyond it are not
/// served, and the reported power is what actually flows).
pub const MAX_DISCHARGE_POWER_W: f64 = 200_000.0;
/// Largest power the pack accepts, W (2 C).
pub const MAX_CHARGE_POWER_W: f64 = 150_000.0;
/// Below this state of charge the discharge limit falls linearly to zero at
/// 0 %, percent: the BMS keeps the weakest cell above its cut-off voltage.
/// An empty pack delivers nothing, the auxiliaries included.
pub const DISCHARGE_TAPER_SOC_PERCENT: f64 = 5.0;
/// Above this state of charge the charge limit falls linearly to zero at
/// 100 %, percent: the cells are in the constant-voltage phase of CC-CV
/// charging. The VW ID.3 owner's manual states the behaviour: recuperation
/// decreases as the charge level rises and stops on a full battery.
pub const CHARGE_TAPER_SOC_PERCENT: f64 = 90.0;
/// Cell temperature at or below which the pack accepts no charge, celsius:
/// lithium-ion cell datasheets allow charging from 0 to 45 celsius
/// (e.g. Panasonic NCR18650B), as charging a cold cell plates lithium.
pub const CHARGE_MIN_TEMP_C: f64 = 0.0;
/// Cell temperature from which the full charge power is accepted, celsius
/// (the charge limit rises linearly from [`CHARGE_MIN_TEMP_C`]; packs limit
/// regeneration while cold).
pub const CHARGE_FULL_TEMP_C: f64 = 15.0;
/// Cell temperature above which the charge limit falls, celsius, reaching
/// zero at the datasheets' 45 celsius ([`CHARGE_MAX_TEMP_C`]).
pub const CHARGE_HOT_TEMP_C: f64 = 40.0;
/// See [`CHARGE_HOT_TEMP_C`].
pub const CHARGE_MAX_TEMP_C: f64 = 45.0;
/// Cell temperature at or below which the pack delivers nothing, celsius
/// (the world's coldest air).
pub const DISCHARGE_MIN_TEMP_C: f64 = -40.0;
/// Cell temperature from which the full discharge power is available,
/// celsius (linear from [`DISCHARGE_MIN_TEMP_C`]): the datasheets' discharge
/// range is -20 to 60 celsius.
pub const DISCHARGE_FULL_TEMP_C: f64 = -20.0;
/// Cell temperature above which the discharge limit falls, celsius
/// (thermal derating), reaching zero at [`DISCHARGE_MAX_TEMP_C`].
pub const DISCHARGE_HOT_TEMP_C: f64 = 55.0;
/// See [`DISCHARGE_HOT_TEMP_C`]: the datasheets' upper discharge limit.
pub const DISCHARGE_MAX_TEMP_C: f64 = 60.0;
/// Distance over which the range estimate averages the recent consumption,
/// km (an exponential moving average of Wh/km, as trip computers keep).
pub const RANGE_WINDOW_KM: f64 = 25.0;
/// Consumption the range estimate starts from, Wh/km: about the WLTP
/// figure of a mid-size EV (Tesla Model 3 RWD: 14.4 kWh/100 km).
pub const INITIAL_CONSUMPTION_WH_PER_KM: f64 = 144.0;
/// Bounds of the averaged consumption, Wh/km: regeneration downhill or a
/// long wait with the heating on must not make the estimate absurd.
pub const CONSUMPTION_RANGE_WH_PER_KM: (f64, f64) = (50.0, 1000.0);
/// Largest distance step taken as driven, km; a larger jump (a reset or a
/// bad reading) restarts the distance tracking.
const MAX_DISTANCE_STEP_KM: f64 = 1.0;

/// Energy below which the pack counts as empty (or, from the top, full),
/// kWh: the tapers approach the ends exponentially and would never reach
/// them.
const ENERGY_SNAP_KWH: f64 = 1e-9;
/// Heat capacity of the pack (cells, busbars, coolant plate), J/K.
pub const THERMAL_MASS_J_PER_K: f64 = 350_000.0;
/// Thermal conductance from the pack to ambient (liquid loop and
/// radiator), W/K.
pub const COOLING_W_PER_K: f64 = 150.0;
/// Ambient used until a finite air temperature arrives, celsius.
pub const DEFAULT_AMBIENT_C: f64 = 20.0;
/// Plausible outside air temperatures, celsius; beyond them the sensor is
/// taken as faulty and clamped (the world's range is -40..60).
pub const MIN_AMBIENT_C: f64 = -50.0;
/// See [`MIN_AMBIENT_C`].
pub const MAX_AMBIENT_C: f64 = 70.0;
/// Largest plausible draw of one load input, W; larger values are clamped.
pub const MAX_LOAD_INPUT_W: f64 = 1_000_000.0;

const JOULES_PER_KWH: f64 = 3.6e6;
/// Catalog maximum of the two available-power signals, W.
const AVAILABLE_POWER_LIMIT_W: f64 = 250_000.0;

/// Positions of the inputs in `READS`.
pub mod inputs {
    /// `Sim.Powertrain.HighVoltage.DrivePower`, W drawn by the traction drive.
    pub const TRACTION_POWER: usize = 0;
    /// `Sim.Cabin.HVAC.Power`, W.
    pub const HVAC_POWER: usize = 1;
    /// `Sim.Cabin.Seat.Heating.Power`, W.
    pub const SEAT_HEATING_POWER: usize = 2;
    /// `Vehicle.Exterior.AirTemperature`, celsius.
    pub const AIR_TEMPERATURE: usize = 3;
    /// `Vehicle.TraveledDistance`, km.
    pub const DISTANCE: usize = 4;
    /// `Sim.Airbag.CrashSignal`: opens the contactors.
    pub const CRASH_SIGNAL: usize = 5;
    /// Number of inputs.
    pub const COUNT: usize = 6;
}

/// Positions of the outputs in `WRITES`.
pub mod outputs {
    /// `Vehicle.Powertrain.TractionBattery.StateOfCharge.Current`, percent.
    pub const SOC: usize = 0;
    /// `Vehicle.Powertrain.TractionBattery.StateOfCharge.CurrentEnergy`, kWh.
    pub const ENERGY: usize = 1;
    /// `Vehicle.Powertrain.TractionBattery.CurrentVoltage`, V.
    pub const VOLTAGE: usize = 2;
    /// `Vehicle.Powertrain.TractionBattery.CurrentCurrent`, A (positive in).
    pub const CURRENT: usize = 3;
    /// `Vehicle.Powertrain.TractionBattery.CurrentPower`, W (positive in).
    pub const POWER: usize = 4;
    /// `Vehicle.Powertrain.TractionBattery.Temperature.Average`, celsius.
    pub const TEMPERATURE: usize = 5;
    /// `Vehicle.Powertrain.TractionBattery.AccumulatedConsumedEnergy`, kWh.
    pub const CONSUMED_ENERGY: usize = 6;
    /// `Vehicle.Powertrain.AccumulatedBrakingEnergy`, kWh.
    pub const BRAKING_ENERGY: usize = 7;
    /// `Vehicle.Powertrain.TractionBattery.PowerLoss`, W (I^2 R heat).
    pub const POWER_LOSS: usize = 8;
    /// `Sim.Powertrain.TractionBattery.AvailableDischargePower`, W.
    pub const AVAILABLE_DISCHARGE: usize = 9;
    /// `Sim.Powertrain.TractionBattery.AvailableChargePower`, W.
    pub const AVAILABLE_CHARGE: usize = 10;
    /// `Vehicle.Powertrain.TractionBattery.Range`, m.
    pub const RANGE: usize = 11;
    /// `Vehicle.Powertrain.TractionBattery.IsPowerConnected`.
    pub const POWER_CONNECTED: usize = 12;
    /// `Vehicle.Powertrain.TractionBattery.IsGroundConnected`.
    pub const GROUND_CONNECTED: usize = 13;
    /// `Sim.Diagnostics.Battery.ActiveFaults`: the DTC mask.
    pub const ACTIVE_FAULTS: usize = 14;
    /// Number of outputs.
    pub const COUNT: usize = 15;
}

/// The consumption a snapshot from before the range estimate starts from.
fn initial_consumption() -> f64 {
    INITIAL_CONSUMPTION_WH_PER_KM
}

/// State that survives a hot swap. Fields added after 1.0.0 carry a serde
/// default, so that the snapshot of a running 1.0.0 restores into this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BatteryState {
    /// Energy stored in the cells, kWh (0..=CAPACITY_KWH).
    energy_kwh: f64,
    /// Cell temperature, celsius; `None` until the first tick sees ambient.
    temperature_c: Option<f64>,
    /// Energy delivered at the terminals over the battery's life, kWh.
    consumed_kwh: f64,
    /// Energy recovered by regenerative braking over the life, kWh.
    braking_kwh: f64,
    /// Recent consumption, Wh/km (the range estimate's moving average).
    #[serde(default = "initial_consumption")]
    consumption_wh_per_km: f64,
    /// Distance at the last tick, km; `None` before the first.
    last_distance_km: Option<f64>,
    /// The main contactors (closed in snapshots that predate them).
    #[serde(default)]
    contactor: Contactor,
    #[serde(default)]
    faults: tcu_sdk::dtc::ActiveFaults,
}

/// The battery management system of the traction battery.
#[derive(Debug, Clone)]
pub struct Battery {
    state: BatteryState,
    /// Cell temperature from which the full charge power is accepted,
    /// celsius: a calibration of the BMS software (an update may lower it
    /// as the cell supplier qualifies faster cold charging), not state.
    charge_full_temp_c: f64,
}

/// Open-circuit voltage at a state of charge in percent, V.
pub fn open_circuit_voltage(soc_percent: f64) -> f64 {
    OCV_EMPTY_V + (OCV_FULL_V - OCV_EMPTY_V) * soc_percent.clamp(0.0, 100.0) / 100.0
}

/// Current for a terminal power `p` (W, positive into the battery) at open
/// circuit voltage `ocv`, solving `p = (ocv + i R) i` exactly. The root is
/// written in the form that does not cancel for small `p`.
pub fn terminal_current(p: f64, ocv: f64) -> f64 {
    let disc = (ocv * ocv + 4.0 * INTERNAL_RESISTANCE_OHM * p).max(0.0);
    2.0 * p / (ocv + disc.sqrt())
}

/// 0 at or below `zero`, 1 at or beyond `full`, linear between (either order).
fn ramp(x: f64, zero: f64, full: f64) -> f64 {
    ((x - zero) / (full - zero)).clamp(0.0, 1.0)
}

/// Largest power the pack delivers at a state of charge (percent) and cell
/// temperature (celsius), W.
pub fn discharge_limit(soc_percent: f64, temp_c: f64) -> f64 {
    MAX_DISCHARGE_POWER_W
        * ramp(soc_percent, 0.0, DISCHARGE_TAPER_SOC_PERCENT)
        * ramp(temp_c, DISCHARGE_MIN_TEMP_C, DISCHARGE_FULL_TEMP_C)
        * ramp(temp_c, DISCHARGE_MAX_TEMP_C, DISCHARGE_HOT_TEMP_C)
}

/// Largest power the pack accepts at a state of charge (percent) and cell
/// temperature (celsius), W.
/// `full_temp_c` is the temperature from which the full power is accepted
/// (normally [`CHARGE_FULL_TEMP_C`]).
pub fn charge_limit(soc_percent: f64, temp_c: f64, full_temp_c: f64) -> f64 {
    MAX_CHARGE_POWER_W
        * ramp(soc_percent, 100.0, CHARGE_TAPER_SOC_PERCENT)
        * ramp(
            temp_c,
            CHARGE_MIN_TEMP_C,
            full_temp_c.max(CHARGE_MIN_TEMP_C + 1.0),
        )
        * ramp(temp_c, CHARGE_MAX_TEMP_C, CHARGE_HOT_TEMP_C)
}

impl Battery {
    fn new() -> Self {
        Self {
            state: BatteryState {
                energy_kwh: CAPACITY_KWH * INITIAL_SOC_PERCENT / 100.0,
                temperature_c: None,
                consumed_kwh: 0.0,
                braking_kwh: 0.0,
                consumption_wh_per_km: INITIAL_CONSUMPTION_WH_PER_KM,
                last_distance_km: None,
                contactor: Contactor::default(),
                faults: Default::default(),
            },
            charge_full_temp_c: CHARGE_FULL_TEMP_C,
        }
    }

    /// The same battery with another cold-charging calibration: full charge
    /// power from `celsius` (at least 1 celsius above [`CHARGE_MIN_TEMP_C`]).
    pub fn with_charge_full_temp(mut self, celsius: f64) -> Self {
        self.charge_full_temp_c = celsius;
        self
    }

    fn soc_percent(&self) -> f64 {
        self.state.energy_kwh / CAPACITY_KWH * 100.0
    }

    /// Folds one tick into the recent consumption: `distance_km` is the
    /// odometer now, `used_wh` what the cells gave since the last tick
    /// (negative while regeneration refills them). Energy used at a
    /// standstill counts too: it is spent on the way.
    fn track_consumption(&mut self, distance_km: f64, used_wh: f64) {
        let last = self.state.last_distance_km.unwrap_or(distance_km);
        let step = distance_km - last;
        self.state.last_distance_km = Some(distance_km);
        if !(0.0..=MAX_DISTANCE_STEP_KM).contains(&step) {
            return;
        }
        let avg = self.state.consumption_wh_per_km;
        self.state.consumption_wh_per_km = (avg + (used_wh - avg * step) / RANGE_WINDOW_KM)
            .clamp(CONSUMPTION_RANGE_WH_PER_KM.0, CONSUMPTION_RANGE_WH_PER_KM.1);
    }

    /// Remaining range at the recent consumption, m.
    fn range_m(&self) -> f64 {
        (self.state.energy_kwh * 1000.0 / self.state.consumption_wh_per_km * 1000.0)
            .round()
            .min(f64::from(u32::MAX))
    }
}

fn check_state(s: &BatteryState) -> Result<(), PluginError> {
    let ok = s.energy_kwh.is_finite()
        && (0.0..=CAPACITY_KWH).contains(&s.energy_kwh)
        && s.temperature_c.is_none_or(|t| t.is_finite())
        && s.consumed_kwh.is_finite()
        && s.consumed_kwh >= 0.0
        && s.braking_kwh.is_finite()
        && s.braking_kwh >= 0.0
        && (CONSUMPTION_RANGE_WH_PER_KM.0..=CONSUMPTION_RANGE_WH_PER_KM.1)
            .contains(&s.consumption_wh_per_km)
        && s.last_distance_km.is_none_or(|d| d.is_finite() && d >= 0.0);
    if ok {
        Ok(())
    } else {
        Err(PluginError::from(
            "battery snapshot holds a non-finite or out-of-range value",
        ))
    }
}

fn load_input(v: f64) -> f64 {
    finite_or(v, 0.0).clamp(0.0, MAX_LOAD_INPUT_W)
}

impl Subsystem for Battery {
    const NAME: &'static CStr = c"battery";
    const VERSION: &'static CStr = c"1.0.0";
    const READS: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(c"Sim.Powertrain.HighVoltage.DrivePower", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Cabin.HVAC.Power", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Cabin.Seat.Heating.Power", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Vehicle.Exterior.AirTemperature", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Vehicle.TraveledDistance", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Airbag.CrashSignal", TCU_TYPE_BOOLEAN),
    ];
    const WRITES: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.StateOfCharge.CurrentEnergy",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.CurrentVoltage",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.CurrentCurrent",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.CurrentPower",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.Temperature.Average",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.AccumulatedConsumedEnergy",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.AccumulatedBrakingEnergy",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.PowerLoss",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Powertrain.TractionBattery.AvailableDischargePower",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Powertrain.TractionBattery.AvailableChargePower",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(c"Vehicle.Powertrain.TractionBattery.Range", TCU_TYPE_UINT32),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.IsPowerConnected",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.IsGroundConnected",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(c"Sim.Diagnostics.Battery.ActiveFaults", TCU_TYPE_UINT32),
    ];

    fn create(_seed: u64) -> Result<Self, PluginError> {
        // The model is deterministic and noise-free, so the seed is unused.
        Ok(Self::new())
    }

    fn tick(&mut self, dt: f64, inputs: &[f64], outputs: &mut [f64]) -> Result<(), PluginError> {
        tcu_sdk::check_tick::<Self>(dt, inputs, outputs)?;
        let inputs = &faults::inputs(self.state.faults, inputs);
        let traction = finite_or(inputs[inputs::TRACTION_POWER], 0.0)
            .clamp(-MAX_LOAD_INPUT_W, MAX_LOAD_INPUT_W);
        let hvac = load_input(inputs[inputs::HVAC_POWER]);
        let seats = load_input(inputs[inputs::SEAT_HEATING_POWER]);
        let ambient = finite_or(inputs[inputs::AIR_TEMPERATURE], DEFAULT_AMBIENT_C)
            .clamp(MIN_AMBIENT_C, MAX_AMBIENT_C);

        let auxiliaries = hvac + seats + AUXILIARY_LOAD_W;
        let load = traction + auxiliaries;
        let energy = self.state.energy_kwh;
        let temp_now = self.state.temperature_c.unwrap_or(ambient);
        // What flows is what the loads ask for within the pack's limits; an
        // empty pack (limit 0) serves nothing, a full or frozen one takes
        // nothing.
        let demanded = -load;
        let power = demanded.clamp(
            -discharge_limit(self.soc_percent(), temp_now),
            charge_limit(self.soc_percent(), temp_now, self.charge_full_temp_c),
        );
        // A crash opens the contactors: nothing flows until they are reset.
        self.state.contactor.update(
            inputs[inputs::CRASH_SIGNAL],
            faults::interlock_open(self.state.faults),
        );
        faults::write(self.state.faults, &self.state.contactor, outputs);
        let power = self.state.contactor.limit(power);
        let ocv = open_circuit_voltage(self.soc_percent());
        let current = terminal_current(power, ocv);
        let voltage = ocv + current * INTERNAL_RESISTANCE_OHM;

        // The cells exchange `ocv * i`; the rest of the terminal power is the
        // I^2 R heat. Charge is stored whole: lithium-ion coulombic
        // efficiency is above 99 % (Linden's Handbook of Batteries), so the
        // resistive loss is the only charging loss modelled.
        let cell_power = ocv * current;
        let mut next = (energy + cell_power * dt / JOULES_PER_KWH).clamp(0.0, CAPACITY_KWH);
        if next < ENERGY_SNAP_KWH {
            next = 0.0;
        } else if CAPACITY_KWH - next < ENERGY_SNAP_KWH {
            next = CAPACITY_KWH;
        }
        self.state.energy_kwh = next;
        self.track_consumption(
            finite_or(inputs[inputs::DISTANCE], 0.0).max(0.0),
            (energy - next) * 1000.0,
        );
        if power < 0.0 {
            self.state.consumed_kwh += -power * dt / JOULES_PER_KWH;
        }
        if traction < 0.0 && !self.state.contactor.is_open() {
            // Regen the pack turned away was not recovered (the drive limits
            // itself to what the pack accepts, so this is the rare case of a
            // limit that fell within the tick).
            let refused = (demanded - power).max(0.0);
            let recovered = (-traction - refused).max(0.0);
            self.state.braking_kwh += recovered * dt / JOULES_PER_KWH;
        }

        let heat = current * current * INTERNAL_RESISTANCE_OHM;
        let temperature = approach(
            temp_now,
            ambient + heat / COOLING_W_PER_K,
            dt,
            THERMAL_MASS_J_PER_K / COOLING_W_PER_K,
        );
        self.state.temperature_c = Some(temperature);
        // The budget for the next tick: auxiliaries are served first, and
        // regeneration feeds them directly before the cells take the rest.
        let soc = self.soc_percent();
        let available_discharge = (discharge_limit(soc, temperature) - auxiliaries).max(0.0);
        let available_charge =
            charge_limit(soc, temperature, self.charge_full_temp_c) + auxiliaries;

        outputs[outputs::SOC] = self.soc_percent().clamp(0.0, 100.0);
        outputs[outputs::ENERGY] = self.state.energy_kwh;
        outputs[outputs::VOLTAGE] = voltage;
        // `+ 0.0` keeps an idle pack from reporting -0.0.
        outputs[outputs::CURRENT] = current + 0.0;
        outputs[outputs::POWER] = power + 0.0;
        outputs[outputs::TEMPERATURE] = temperature;
        outputs[outputs::CONSUMED_ENERGY] = self.state.consumed_kwh;
        outputs[outputs::BRAKING_ENERGY] = self.state.braking_kwh;
        // Open contactors offer the drive nothing either way.
        let (available_discharge, available_charge) = if self.state.contactor.is_open() {
            (0.0, 0.0)
        } else {
            (available_discharge, available_charge)
        };
        outputs[outputs::POWER_LOSS] = heat;
        outputs[outputs::AVAILABLE_DISCHARGE] = available_discharge.min(AVAILABLE_POWER_LIMIT_W);
        outputs[outputs::AVAILABLE_CHARGE] = available_charge.min(AVAILABLE_POWER_LIMIT_W);
        outputs[outputs::RANGE] = self.range_m();
        outputs[outputs::POWER_CONNECTED] = self.state.contactor.connected();
        outputs[outputs::GROUND_CONNECTED] = self.state.contactor.connected();
        Ok(())
    }

    fn command(&mut self, name: &str, value: f64) -> Result<(), CommandError> {
        match name {
            // Scenarios start from a chosen charge level with this.
            "set_soc" => {
                if !(value.is_finite() && (0.0..=100.0).contains(&value)) {
                    return Err(CommandError::Failed(PluginError(format!(
                        "battery: set_soc needs a percentage in 0..=100, got {value}"
                    ))));
                }
                self.state.energy_kwh = CAPACITY_KWH * value / 100.0;
                Ok(())
            }
            "reset_contactors" => self.state.contactor.reset(),
            _ => (self.state.faults.command(&faults::FAULTS, name, value))
                .unwrap_or_else(|| Err(CommandError::Unsupported(name.to_owned()))),
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        tcu_sdk::snapshot::encode(&self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        tcu_sdk::snapshot::restore(
            &mut self.state,
            "battery: unreadable snapshot",
            bytes,
            check_state,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcu_sdk::testing::path;

    const DT: f64 = 0.01;

    fn input(traction: f64, hvac: f64, seats: f64, ambient: f64) -> [f64; inputs::COUNT] {
        input_at(traction, hvac, seats, ambient, 0.0)
    }

    fn input_at(
        traction: f64,
        hvac: f64,
        seats: f64,
        ambient: f64,
        distance_km: f64,
    ) -> [f64; inputs::COUNT] {
        let mut i = [0.0; inputs::COUNT];
        i[inputs::TRACTION_POWER] = traction;
        i[inputs::HVAC_POWER] = hvac;
        i[inputs::SEAT_HEATING_POWER] = seats;
        i[inputs::AIR_TEMPERATURE] = ambient;
        i[inputs::DISTANCE] = distance_km;
        i
    }

    fn fresh() -> Battery {
        Battery::create(1).expect("create")
    }

    fn at_soc(soc: f64) -> Battery {
        let mut b = fresh();
        b.command("set_soc", soc).expect("set_soc");
        b
    }

    fn tick(b: &mut Battery, i: &[f64; inputs::COUNT]) -> [f64; outputs::COUNT] {
        let mut o = [0.0; outputs::COUNT];
        b.tick(DT, i, &mut o).expect("tick");
        assert_in_range(&o);
        o
    }

    fn run(b: &mut Battery, i: &[f64; inputs::COUNT], n: usize) -> [f64; outputs::COUNT] {
        let mut o = [0.0; outputs::COUNT];
        for _ in 0..n {
            o = tick(b, i);
        }
        o
    }

    /// Catalog ranges of the written signals; where the catalog has none, a
    /// physically sensible range.
    fn assert_in_range(o: &[f64; outputs::COUNT]) {
        let ranges: [(usize, f64, f64); outputs::COUNT] = [
            (outputs::SOC, 0.0, 100.0),
            (outputs::ENERGY, 0.0, CAPACITY_KWH),
            (outputs::VOLTAGE, 150.0, 500.0),
            (outputs::CURRENT, -1000.0, 1000.0),
            (outputs::POWER, -MAX_DISCHARGE_POWER_W, MAX_CHARGE_POWER_W),
            (outputs::TEMPERATURE, -50.0, 150.0),
            (outputs::CONSUMED_ENERGY, 0.0, 1e9),
            (outputs::BRAKING_ENERGY, 0.0, 1e9),
            (outputs::POWER_LOSS, 0.0, 1e6),
            (outputs::AVAILABLE_DISCHARGE, 0.0, MAX_DISCHARGE_POWER_W),
            (outputs::AVAILABLE_CHARGE, 0.0, 250_000.0),
            (outputs::RANGE, 0.0, f64::from(u32::MAX)),
            (outputs::POWER_CONNECTED, 0.0, 1.0),
            (outputs::GROUND_CONNECTED, 0.0, 1.0),
            (outputs::ACTIVE_FAULTS, 0.0, 1.0),
        ];
        for (idx, lo, hi) in ranges {
            let v = o[idx];
            assert!(v.is_finite(), "output {idx} not finite: {v}");
            assert!(
                (lo..=hi).contains(&v),
                "output {idx} = {v} outside {lo}..{hi}"
            );
        }
    }

    /// A grid of net loads built from every input, W.
    fn load_grid() -> Vec<[f64; inputs::COUNT]> {
        let mut v = Vec::new();
        for traction in [0.0, 2_000.0, 10_000.0, 30_000.0, 80_000.0, 163_000.0] {
            for hvac in [0.0, 1_500.0, 6_000.0] {
                for seats in [0.0, 300.0] {
                    v.push(input(traction, hvac, seats, 20.0));
                }
            }
        }
        v
    }

    fn net_load(i: &[f64; inputs::COUNT]) -> f64 {
        i[inputs::TRACTION_POWER]
            + i[inputs::HVAC_POWER]
            + i[inputs::SEAT_HEATING_POWER]
            + AUXILIARY_LOAD_W
    }

    #[test]
    fn every_declared_signal_exists_in_the_catalog_with_its_datatype() {
        tcu_sdk::testing::assert_declarations_in_catalog::<Battery>();
    }

    #[test]
    fn index_constants_match_the_declared_paths() {
        let reads = [
            (
                inputs::TRACTION_POWER,
                "Sim.Powertrain.HighVoltage.DrivePower",
            ),
            (inputs::HVAC_POWER, "Sim.Cabin.HVAC.Power"),
            (inputs::SEAT_HEATING_POWER, "Sim.Cabin.Seat.Heating.Power"),
            (inputs::AIR_TEMPERATURE, "Vehicle.Exterior.AirTemperature"),
            (inputs::DISTANCE, "Vehicle.TraveledDistance"),
            (inputs::CRASH_SIGNAL, "Sim.Airbag.CrashSignal"),
        ];
        assert_eq!(Battery::READS.len(), inputs::COUNT);
        for (i, p) in reads {
            assert_eq!(path(&Battery::READS[i]), p);
        }
        let writes = [
            (
                outputs::SOC,
                "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
            ),
            (
                outputs::ENERGY,
                "Vehicle.Powertrain.TractionBattery.StateOfCharge.CurrentEnergy",
            ),
            (
                outputs::VOLTAGE,
                "Vehicle.Powertrain.TractionBattery.CurrentVoltage",
            ),
            (
                outputs::CURRENT,
                "Vehicle.Powertrain.TractionBattery.CurrentCurrent",
            ),
            (
                outputs::POWER,
                "Vehicle.Powertrain.TractionBattery.CurrentPower",
            ),
            (
                outputs::TEMPERATURE,
                "Vehicle.Powertrain.TractionBattery.Temperature.Average",
            ),
            (
                outputs::CONSUMED_ENERGY,
                "Vehicle.Powertrain.TractionBattery.AccumulatedConsumedEnergy",
            ),
            (
                outputs::BRAKING_ENERGY,
                "Vehicle.Powertrain.AccumulatedBrakingEnergy",
            ),
            (
                outputs::POWER_LOSS,
                "Vehicle.Powertrain.TractionBattery.PowerLoss",
            ),
            (
                outputs::AVAILABLE_DISCHARGE,
                "Sim.Powertrain.TractionBattery.AvailableDischargePower",
            ),
            (
                outputs::AVAILABLE_CHARGE,
                "Sim.Powertrain.TractionBattery.AvailableChargePower",
            ),
            (outputs::RANGE, "Vehicle.Powertrain.TractionBattery.Range"),
            (
                outputs::POWER_CONNECTED,
                "Vehicle.Powertrain.TractionBattery.IsPowerConnected",
            ),
            (
                outputs::GROUND_CONNECTED,
                "Vehicle.Powertrain.TractionBattery.IsGroundConnected",
            ),
        ];
        assert_eq!(Battery::WRITES.len(), outputs::COUNT);
        for (i, p) in writes {
            assert_eq!(path(&Battery::WRITES[i]), p);
        }
    }

    #[test]
    fn a_new_battery_starts_at_the_initial_charge_for_every_seed() {
        for seed in [0, 1, 42, u64::MAX] {
            let mut b = Battery::create(seed).expect("create");
            let o = tick(&mut b, &input(0.0, 0.0, 0.0, 20.0));
            assert!((o[outputs::SOC] - INITIAL_SOC_PERCENT).abs() < 1e-6);
            assert!((o[outputs::ENERGY] - 60.0).abs() < 1e-6);
        }
    }

    #[test]
    fn soc_never_rises_under_load_and_falls_in_proportion_to_it() {
        for soc in [95.0, 50.0, 10.0] {
            let mut rates = Vec::new();
            for i in load_grid() {
                let mut b = at_soc(soc);
                let start = b.soc_percent();
                let mut last = start;
                for _ in 0..1000 {
                    let o = tick(&mut b, &i);
                    assert!(
                        o[outputs::SOC] <= last,
                        "SOC rose under a {} W load",
                        net_load(&i)
                    );
                    last = o[outputs::SOC];
                }
                let rate = (start - last) / 10.0; // percent per second
                rates.push((net_load(&i), rate));
            }
            // Proportional: percent per second per watt is the same for every
            // load, up to the I^2 R losses (0.08 ohm costs about 12 % at
            // 170 kW from a nearly empty pack, under 1 % at 10 kW).
            let ideal = 100.0 / (CAPACITY_KWH * JOULES_PER_KWH);
            for (load, rate) in rates {
                let k = rate / load;
                assert!(
                    k >= ideal * (1.0 - 1e-6) && k <= ideal * 1.15,
                    "SOC slope {k} vs ideal {ideal} at {load} W, SOC {soc}"
                );
            }
        }
    }

    #[test]
    fn regen_braking_charges_the_battery_at_every_power_level() {
        for soc in [20.0, 60.0, 95.0] {
            for regen in [-3_000.0, -10_000.0, -30_000.0, -60_000.0] {
                let mut b = at_soc(soc);
                let before = tick(&mut b, &input(0.0, 0.0, 0.0, 20.0));
                let mut last_braking = before[outputs::BRAKING_ENERGY];
                let mut last_soc = before[outputs::SOC];
                for _ in 0..500 {
                    let o = tick(&mut b, &input(regen, 500.0, 0.0, 20.0));
                    assert!(o[outputs::SOC] > last_soc);
                    assert!(o[outputs::BRAKING_ENERGY] > last_braking);
                    assert!(o[outputs::CURRENT] > 0.0 && o[outputs::POWER] > 0.0);
                    last_soc = o[outputs::SOC];
                    last_braking = o[outputs::BRAKING_ENERGY];
                }
                let recovered = last_braking - before[outputs::BRAKING_ENERGY];
                let expect = -regen * 5.0 / JOULES_PER_KWH;
                assert!((recovered - expect).abs() < 1e-9 * expect.max(1.0));
            }
        }
    }

    #[test]
    fn braking_energy_only_grows_while_the_drive_regenerates() {
        let mut b = fresh();
        let mut last = 0.0;
        for step in 0..20_000u32 {
            let traction = 40_000.0 * (f64::from(step) * 0.003).sin();
            let o = tick(&mut b, &input(traction, 2_000.0, 0.0, 20.0));
            if traction >= 0.0 {
                assert_eq!(o[outputs::BRAKING_ENERGY], last);
            } else {
                assert!(o[outputs::BRAKING_ENERGY] >= last);
            }
            last = o[outputs::BRAKING_ENERGY];
        }
        assert!(last > 0.0);
    }

    #[test]
    fn current_and_power_have_the_sign_of_the_net_flow() {
        for soc in [5.0, 50.0, 95.0] {
            for traction in (-60..=160).step_by(5) {
                let traction = f64::from(traction) * 1000.0;
                for hvac in [0.0, 4_000.0] {
                    let mut b = at_soc(soc);
                    let i = input(traction, hvac, 0.0, 20.0);
                    let o = tick(&mut b, &i);
                    let into = -net_load(&i);
                    assert_eq!(o[outputs::POWER].signum(), into.signum());
                    assert_eq!(o[outputs::CURRENT].signum(), into.signum());
                    // The terminal relation holds exactly.
                    let p = o[outputs::VOLTAGE] * o[outputs::CURRENT];
                    assert!((p - o[outputs::POWER]).abs() < 1e-6 * into.abs().max(1.0));
                    // Discharging sags the voltage, charging lifts it.
                    let ocv = open_circuit_voltage(soc);
                    assert!((o[outputs::VOLTAGE] - ocv) * into >= 0.0);
                }
            }
        }
    }

    #[test]
    fn stored_energy_matches_the_integrated_terminal_power() {
        for traction in [-50_000.0, -20_000.0, -5_000.0, 5_000.0, 30_000.0, 100_000.0] {
            let mut b = at_soc(50.0);
            let start = b.state.energy_kwh;
            let mut integral = 0.0; // kWh at the terminals
            for _ in 0..60_000 {
                let o = tick(&mut b, &input(traction, 1_000.0, 100.0, 20.0));
                let p = o[outputs::POWER];
                integral += p * DT / JOULES_PER_KWH;
            }
            let delta = b.state.energy_kwh - start;
            // The cells always end up with less than the terminals saw (the
            // I^2 R heat), but only by a few percent at these currents
            // (about 7 % at 100 kW).
            assert!(
                delta < integral,
                "delta {delta} vs {integral} at {traction} W"
            );
            assert!(
                (delta - integral).abs() <= 0.08 * integral.abs(),
                "delta {delta} vs {integral} at {traction} W"
            );
        }
    }

    #[test]
    fn soc_stays_within_bounds_under_extreme_loads_for_hours() {
        for traction in [250_000.0, 163_000.0, -60_000.0, -250_000.0] {
            let mut b = fresh();
            let mut o = [0.0; outputs::COUNT];
            // Two simulated hours at 0.1 s steps.
            for _ in 0..72_000 {
                let mut out = [0.0; outputs::COUNT];
                b.tick(0.1, &input(traction, 20_000.0, 1_000.0, 20.0), &mut out)
                    .expect("tick");
                assert_in_range(&out);
                o = out;
            }
            let discharging = traction > 0.0;
            let expect_soc = if discharging { 0.0 } else { 100.0 };
            assert_eq!(o[outputs::SOC], expect_soc, "at {traction} W");
            // The clamp is reported honestly: nothing flows any more.
            assert_eq!(o[outputs::CURRENT], 0.0);
            assert_eq!(o[outputs::POWER], 0.0);
            assert_eq!(o[outputs::VOLTAGE], open_circuit_voltage(expect_soc));
            // Refusal is one-sided: the opposite flow is accepted at once.
            let o = tick(
                &mut b,
                &input(
                    if discharging { -30_000.0 } else { 30_000.0 },
                    0.0,
                    0.0,
                    20.0,
                ),
            );
            assert_ne!(o[outputs::CURRENT], 0.0);
        }
    }

    #[test]
    fn regenerated_charge_is_stored_whole_less_only_the_resistive_loss() {
        let mut b = at_soc(50.0);
        let start = b.state.energy_kwh;
        let (mut terminal, mut loss) = (0.0, 0.0);
        for _ in 0..10_000 {
            let o = tick(&mut b, &input(-40_000.0, 0.0, 0.0, 20.0));
            terminal += o[outputs::POWER] * DT / JOULES_PER_KWH;
            loss += o[outputs::POWER_LOSS] * DT / JOULES_PER_KWH;
        }
        let stored = b.state.energy_kwh - start;
        assert!(terminal > 0.1 && loss > 0.0);
        assert!(
            (stored - (terminal - loss)).abs() < 1e-6 * terminal,
            "stored {stored} kWh of {terminal} kWh less {loss} kWh of heat"
        );
    }

    #[test]
    fn an_empty_battery_serves_nothing_and_offers_the_drive_no_power() {
        let mut b = at_soc(0.0);
        let o = tick(&mut b, &input(30_000.0, 2_000.0, 100.0, 20.0));
        assert_eq!(o[outputs::POWER], 0.0);
        assert_eq!(o[outputs::AVAILABLE_DISCHARGE], 0.0);
        assert!(o[outputs::AVAILABLE_CHARGE] > 0.0);
        // Just above empty the limit is small and grows with the charge.
        let mut last = 0.0;
        for soc in [1.0, 2.5, 4.0, 6.0] {
            let o = tick(&mut at_soc(soc), &input(0.0, 0.0, 0.0, 20.0));
            assert!(o[outputs::AVAILABLE_DISCHARGE] > last, "at {soc} %");
            last = o[outputs::AVAILABLE_DISCHARGE];
        }
        assert!((last - (MAX_DISCHARGE_POWER_W - AUXILIARY_LOAD_W)).abs() < 1e-6);
    }

    #[test]
    fn a_full_battery_accepts_no_regeneration_beyond_the_auxiliaries() {
        let mut b = at_soc(100.0);
        let o = tick(&mut b, &input(-30_000.0, 1_000.0, 0.0, 20.0));
        assert_eq!(o[outputs::POWER], 0.0);
        assert!((o[outputs::AVAILABLE_CHARGE] - (1_000.0 + AUXILIARY_LOAD_W)).abs() < 1e-6);
        // The charge limit falls from 90 % to nothing at 100 %.
        let at = |soc: f64| {
            tick(&mut at_soc(soc), &input(0.0, 0.0, 0.0, 20.0))[outputs::AVAILABLE_CHARGE]
                - AUXILIARY_LOAD_W
        };
        assert!((at(80.0) - MAX_CHARGE_POWER_W).abs() < 1e-6);
        assert!(at(95.0) < 0.6 * MAX_CHARGE_POWER_W && at(95.0) > 0.4 * MAX_CHARGE_POWER_W);
    }

    #[test]
    fn a_cold_pack_limits_regeneration_and_a_frozen_one_refuses_it() {
        let limit = |ambient: f64| {
            tick(&mut at_soc(50.0), &input(0.0, 0.0, 0.0, ambient))[outputs::AVAILABLE_CHARGE]
                - AUXILIARY_LOAD_W
        };
        assert!(limit(-10.0).abs() < 1e-6);
        assert!(limit(5.0) > 0.0 && limit(5.0) < 0.5 * MAX_CHARGE_POWER_W);
        assert!((limit(20.0) - MAX_CHARGE_POWER_W).abs() < 1e-6);
        let mut b = at_soc(50.0);
        let o = tick(&mut b, &input(-20_000.0, 0.0, 0.0, -10.0));
        assert_eq!(o[outputs::POWER], 0.0, "a frozen pack took charge");
    }

    #[test]
    fn range_follows_the_recent_consumption_and_the_remaining_energy() {
        let mut b = at_soc(50.0);
        let o = tick(&mut b, &input(0.0, 0.0, 0.0, 20.0));
        let start = 37.5e3 / INITIAL_CONSUMPTION_WH_PER_KM * 1000.0;
        assert!(
            (o[outputs::RANGE] - start).abs() <= 1.0,
            "{}",
            o[outputs::RANGE]
        );
        assert_eq!(o[outputs::RANGE].fract(), 0.0);
        // 100 km at 30 kW and 120 km/h (250 Wh/km at the wheels): the
        // estimate converges to what the cells really gave per km.
        let (mut km, mut o) = (0.0, o);
        let e0 = b.state.energy_kwh;
        for _ in 0..300_000 {
            km += 120.0 / 3600.0 * DT;
            o = tick(&mut b, &input_at(30_000.0, 0.0, 0.0, 20.0, km));
        }
        let used = (e0 - b.state.energy_kwh) * 1000.0 / km;
        assert!((b.state.consumption_wh_per_km - used).abs() < 0.02 * used);
        let expect = b.state.energy_kwh * 1e6 / used;
        assert!((o[outputs::RANGE] - expect).abs() < 0.02 * expect);
        // Parked with nothing on, the estimate stays.
        let before = o[outputs::RANGE];
        for _ in 0..1000 {
            o = tick(&mut b, &input_at(0.0, 0.0, 0.0, 20.0, km));
        }
        assert!((o[outputs::RANGE] - before).abs() < 0.01 * before);
    }

    #[test]
    fn consumed_energy_counts_every_discharged_joule_and_never_falls() {
        let mut b = fresh();
        let mut expect = 0.0;
        let mut last = 0.0;
        for step in 0..30_000u32 {
            let traction = 30_000.0 * (f64::from(step) * 0.002).sin();
            let o = tick(&mut b, &input(traction, 1_000.0, 0.0, 20.0));
            if o[outputs::POWER] < 0.0 {
                expect += -o[outputs::POWER] * DT / JOULES_PER_KWH;
            }
            assert!(o[outputs::CONSUMED_ENERGY] >= last);
            last = o[outputs::CONSUMED_ENERGY];
        }
        assert!((last - expect).abs() < 1e-9);
    }

    #[test]
    fn the_pack_warms_under_load_and_never_drops_below_ambient() {
        for ambient in [-30.0, 0.0, 25.0, 45.0] {
            let mut b = fresh();
            let mut o = tick(&mut b, &input(0.0, 0.0, 0.0, ambient));
            // The 12 V auxiliary load alone barely warms it.
            assert!((o[outputs::TEMPERATURE] - ambient).abs() < 1e-3);
            // Ten minutes at 120 kW, then an hour parked.
            for _ in 0..600 {
                let before = o[outputs::TEMPERATURE];
                o = run(&mut b, &input(120_000.0, 0.0, 0.0, ambient), 100);
                assert!(o[outputs::TEMPERATURE] > before);
            }
            assert!(o[outputs::TEMPERATURE] > ambient + 5.0);
            for _ in 0..3600 {
                let before = o[outputs::TEMPERATURE];
                o = run(&mut b, &input(0.0, 0.0, 0.0, ambient), 100);
                assert!(o[outputs::TEMPERATURE] <= before);
                assert!(o[outputs::TEMPERATURE] >= ambient - 1e-9);
            }
        }
    }

    #[test]
    fn bad_inputs_do_not_poison_the_state() {
        let mut b = fresh();
        let bad = [f64::NAN, f64::INFINITY, -f64::INFINITY, -5.0, 1e12];
        for a in bad {
            for c in bad {
                let o = run(&mut b, &input(a, c, a, c), 3);
                assert!(o.iter().all(|v| v.is_finite()));
            }
        }
        assert!(
            b.tick(-1.0, &input(0.0, 0.0, 0.0, 20.0), &mut [0.0; 8])
                .is_err()
        );
        assert!(b.tick(DT, &[0.0; 4], &mut [0.0; 7]).is_err());
    }

    #[test]
    fn set_soc_accepts_percentages_and_refuses_the_rest() {
        for soc in [0.0, 12.5, 100.0] {
            let mut b = at_soc(soc);
            let o = tick(&mut b, &input(0.0, 0.0, 0.0, 20.0));
            assert!((o[outputs::SOC] - soc).abs() < 1e-3);
        }
        let mut b = fresh();
        for bad in [-1.0, 100.5, f64::NAN] {
            assert!(matches!(
                b.command("set_soc", bad),
                Err(CommandError::Failed(_))
            ));
        }
        assert!(matches!(
            b.command("nope", 1.0),
            Err(CommandError::Unsupported(_))
        ));
    }

    #[test]
    fn snapshot_round_trip_continues_identically() {
        let mut a = fresh();
        run(&mut a, &input(40_000.0, 3_000.0, 200.0, 5.0), 5_000);
        run(&mut a, &input(-30_000.0, 3_000.0, 200.0, 5.0), 1_000);
        let mut b = Battery::create(7).expect("create");
        b.restore(&a.snapshot()).expect("restore");
        for step in 0..5_000u32 {
            let i = input(
                50_000.0 * (f64::from(step) * 0.01).sin(),
                2_000.0,
                100.0,
                5.0,
            );
            let (mut oa, mut ob) = ([0.0; outputs::COUNT], [0.0; outputs::COUNT]);
            a.tick(DT, &i, &mut oa).expect("tick");
            b.tick(DT, &i, &mut ob).expect("tick");
            assert_eq!(oa, ob);
        }
    }

    #[test]
    fn restore_refuses_bad_bytes() {
        let mut b = fresh();
        for bad in [
            &b""[..],
            b"\xff\x00",
            b"{}",
            br#"{"energy_kwh":80.0,"temperature_c":null,"consumed_kwh":0.0,"braking_kwh":0.0,"consumption_wh_per_km":144.0,"last_distance_km":null}"#,
            br#"{"energy_kwh":10.0,"temperature_c":null,"consumed_kwh":-1.0,"braking_kwh":0.0,"consumption_wh_per_km":144.0,"last_distance_km":null}"#,
            br#"{"energy_kwh":10.0,"temperature_c":null,"consumed_kwh":1.0,"braking_kwh":0.0,"consumption_wh_per_km":0.0,"last_distance_km":null}"#,
        ] {
            let err = b.restore(bad).expect_err("must refuse");
            assert!(err.0.contains("battery"), "{err}");
        }
        // A refused restore leaves the state alone.
        assert!((b.soc_percent() - INITIAL_SOC_PERCENT).abs() < 1e-9);
    }

    #[test]
    fn a_snapshot_of_battery_1_0_0_without_the_range_estimate_restores_and_starts_it_from_the_default()
     {
        let mut b = Battery::create(0).expect("create");
        // Exactly the fields battery 1.0.0 snapshots.
        b.restore(
            br#"{"energy_kwh":30.0,"temperature_c":20.0,"consumed_kwh":1.0,"braking_kwh":0.5}"#,
        )
        .expect("a 1.0.0 snapshot restores");
        assert_eq!(b.state.consumption_wh_per_km, INITIAL_CONSUMPTION_WH_PER_KM);
        assert_eq!(b.state.last_distance_km, None);
        assert!((b.state.energy_kwh - 30.0).abs() < 1e-12);
    }
}
