//! The pack's main contactors and their crash disconnect.
//!
//! An electric car opens the high-voltage circuit when the airbag unit
//! reports a crash, so that no live conductor is exposed in a deformed car
//! (UN ECE R94 / R137 and FMVSS 305 judge the post-crash electrical safety;
//! manufacturers' emergency response guides describe the automatic
//! disconnect on airbag deployment). Here the airbag unit's
//! `Sim.Airbag.CrashSignal` opens both contactors; they latch open, so the
//! pack delivers and accepts 0 W, until the `reset_contactors` command
//! closes them, which is refused while the crash signal is still present
//! (reset the airbag unit first, as a workshop would). An open
//! high-voltage interlock (the injectable `fault.hv_disconnect`) holds them
//! open as well, for as long as it lasts; either way the battery raises
//! P0A0A while they are open (`faults.rs`).
//!
//! Self-contained like the model that includes it: only `tcu_sdk`, `serde`
//! and `std`.

use serde::{Deserialize, Serialize};
use tcu_sdk::physics::{as_bool, finite_or, from_bool};
use tcu_sdk::{CommandError, PluginError};

/// State of the contactors; part of the battery's snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contactor {
    /// True once a crash opened the contactors, until reset.
    open: bool,
    /// The crash signal as last read.
    crash_signal: bool,
    /// The interlock as last read: open holds the contactors open. Derived
    /// from the faults every tick, so not part of the snapshot.
    #[serde(skip)]
    interlock_open: bool,
}

impl Contactor {
    /// Reads the crash signal (a non-finite reading counts as no crash: the
    /// latch keeps an open circuit open anyway) and the interlock.
    pub fn update(&mut self, crash_signal: f64, interlock_open: bool) {
        self.crash_signal = as_bool(finite_or(crash_signal, 0.0));
        self.open |= self.crash_signal;
        self.interlock_open = interlock_open;
    }

    /// True while the high-voltage circuit is open.
    pub fn is_open(&self) -> bool {
        self.open || self.interlock_open
    }

    /// The power that can flow at the terminals (W, either sign) for a
    /// `demanded` one: none while open.
    pub fn limit(&self, demanded: f64) -> f64 {
        if self.is_open() { 0.0 } else { demanded }
    }

    /// `IsPowerConnected` / `IsGroundConnected` as a bus value.
    pub fn connected(&self) -> f64 {
        from_bool(!self.is_open())
    }

    /// Closes the contactors again; refused while the crash signal is on.
    pub fn reset(&mut self) -> Result<(), CommandError> {
        if self.crash_signal {
            return Err(CommandError::Failed(PluginError::from(
                "battery: reset_contactors refused while Sim.Airbag.CrashSignal is true \
                 (reset the airbag unit first)",
            )));
        }
        self.open = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Battery, inputs, outputs};
    use super::*;
    use tcu_sdk::Subsystem;

    #[test]
    fn a_crash_signal_opens_the_contactors_and_they_stay_open_after_it() {
        let mut c = Contactor::default();
        c.update(0.0, false);
        assert!(!c.is_open());
        assert_eq!(c.limit(-50_000.0), -50_000.0);
        assert_eq!(c.connected(), 1.0);
        c.update(1.0, false);
        assert!(c.is_open());
        for signal in [0.0, f64::NAN, 1.0, 0.0] {
            c.update(signal, false);
            assert!(c.is_open());
            assert_eq!(c.limit(-50_000.0), 0.0);
            assert_eq!(c.limit(30_000.0), 0.0);
            assert_eq!(c.connected(), 0.0);
        }
    }

    #[test]
    fn reset_is_refused_while_the_crash_signal_is_on_and_closes_after_it() {
        let mut c = Contactor::default();
        c.update(1.0, false);
        assert!(matches!(c.reset(), Err(CommandError::Failed(_))));
        assert!(c.is_open());
        c.update(0.0, false);
        assert_eq!(c.reset(), Ok(()));
        assert!(!c.is_open());
        c.update(0.0, false);
        assert_eq!(c.limit(12_000.0), 12_000.0);
    }

    /// One battery tick with `traction` W drawn and the crash signal.
    fn tick(b: &mut Battery, traction: f64, crash: bool) -> [f64; outputs::COUNT] {
        let mut i = [0.0; inputs::COUNT];
        i[inputs::TRACTION_POWER] = traction;
        i[inputs::HVAC_POWER] = 2_000.0;
        i[inputs::AIR_TEMPERATURE] = 20.0;
        i[inputs::CRASH_SIGNAL] = from_bool(crash);
        let mut o = [0.0; outputs::COUNT];
        b.tick(0.01, &i, &mut o).expect("tick");
        o
    }

    #[test]
    fn after_a_crash_the_pack_delivers_and_accepts_nothing_until_reset() {
        let mut b = Battery::create(0).expect("create");
        let o = tick(&mut b, 40_000.0, false);
        assert!(o[outputs::POWER] < -40_000.0);
        assert_eq!(o[outputs::POWER_CONNECTED], 1.0);
        assert_eq!(o[outputs::GROUND_CONNECTED], 1.0);
        tick(&mut b, 40_000.0, true);
        let soc = tick(&mut b, 40_000.0, false)[outputs::SOC];
        // Drive, regenerate, auxiliaries: nothing flows, the charge stays.
        for traction in [80_000.0, -30_000.0, 0.0] {
            for _ in 0..100 {
                let o = tick(&mut b, traction, false);
                assert_eq!(o[outputs::POWER], 0.0);
                assert_eq!(o[outputs::CURRENT], 0.0);
                assert_eq!(o[outputs::POWER_CONNECTED], 0.0);
                assert_eq!(o[outputs::GROUND_CONNECTED], 0.0);
                assert_eq!(o[outputs::SOC], soc);
                assert_eq!(o[outputs::BRAKING_ENERGY], 0.0);
            }
        }
        // The latch survives a hot swap.
        let mut swapped = Battery::create(1).expect("create");
        swapped.restore(&b.snapshot()).expect("restore");
        assert_eq!(tick(&mut swapped, 40_000.0, false)[outputs::POWER], 0.0);
        assert_eq!(b.command("reset_contactors", 0.0), Ok(()));
        assert!(tick(&mut b, 40_000.0, false)[outputs::POWER] < -40_000.0);
    }

    #[test]
    fn reset_contactors_is_refused_while_the_airbag_unit_still_signals_a_crash() {
        let mut b = Battery::create(0).expect("create");
        tick(&mut b, 10_000.0, true);
        assert!(matches!(
            b.command("reset_contactors", 0.0),
            Err(CommandError::Failed(e)) if e.0.contains("Sim.Airbag.CrashSignal")
        ));
        assert_eq!(tick(&mut b, 10_000.0, true)[outputs::POWER], 0.0);
    }

    #[test]
    fn a_snapshot_without_contactors_restores_them_closed() {
        let mut b = Battery::create(0).expect("create");
        b.restore(
            br#"{"energy_kwh":30.0,"temperature_c":20.0,"consumed_kwh":1.0,"braking_kwh":0.5}"#,
        )
        .expect("restore");
        let o = tick(&mut b, 10_000.0, false);
        assert!(o[outputs::POWER] < 0.0);
        assert_eq!(o[outputs::POWER_CONNECTED], 1.0);
    }

    #[test]
    fn a_broken_crash_signal_never_opens_the_circuit() {
        let mut c = Contactor::default();
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.49] {
            c.update(bad, false);
            assert!(!c.is_open(), "{bad}");
        }
    }

    #[test]
    fn a_crash_disconnect_raises_the_high_voltage_dtc_until_reset_contactors_clears_it() {
        let mask = |o: &[f64; outputs::COUNT]| o[outputs::ACTIVE_FAULTS];
        let mut b = Battery::create(0).expect("create");
        assert_eq!(mask(&tick(&mut b, 10_000.0, false)), 0.0);
        assert_eq!(mask(&tick(&mut b, 10_000.0, true)), 2.0);
        // The code stays while the contactors stay open, across a swap.
        assert_eq!(mask(&tick(&mut b, 10_000.0, false)), 2.0);
        let mut swapped = Battery::create(1).expect("create");
        swapped.restore(&b.snapshot()).expect("restore");
        assert_eq!(mask(&tick(&mut swapped, 10_000.0, false)), 2.0);
        b.command("reset_contactors", 0.0).expect("reset");
        assert_eq!(mask(&tick(&mut b, 10_000.0, false)), 0.0);
    }

    #[test]
    fn an_injected_interlock_fault_opens_the_contactors_while_active_and_heals() {
        let mut b = Battery::create(0).expect("create");
        b.command("fault.hv_disconnect", 1.0).expect("inject");
        let o = tick(&mut b, 40_000.0, false);
        assert_eq!(
            (
                o[outputs::ACTIVE_FAULTS],
                o[outputs::POWER],
                o[outputs::POWER_CONNECTED]
            ),
            (2.0, 0.0, 0.0)
        );
        // A reset does not close an open interlock; healing does.
        b.command("reset_contactors", 0.0).expect("reset");
        assert_eq!(tick(&mut b, 40_000.0, false)[outputs::POWER], 0.0);
        b.command("fault.hv_disconnect", 0.0).expect("heal");
        let o = tick(&mut b, 40_000.0, false);
        assert_eq!(
            (o[outputs::ACTIVE_FAULTS], o[outputs::POWER_CONNECTED]),
            (0.0, 1.0)
        );
        assert!(o[outputs::POWER] < -40_000.0);
    }
}
