//! Longitudinal vehicle dynamics: drive, brake, aerodynamic drag and rolling
//! resistance acting on one mass, with tyre adhesion limits.
//!
//! Pure functions over plain numbers so that the physics is tested without a
//! bus. Brake pressures come from the ABS ECU; without one, the pedal maps
//! straight to pressure (a car with no ABS module).

use tcu_sdk::vehicle;
pub use tcu_sdk::vehicle::GRAVITY as G;

/// Physical parameters of the car.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VehicleParams {
    /// Mass including occupants, kg.
    pub mass: f64,
    /// Drag coefficient times frontal area, m².
    pub cd_a: f64,
    /// Air density, kg/m³.
    pub air_density: f64,
    /// Rolling resistance coefficient.
    pub rolling: f64,
    /// Brake force per bar of pressure at one wheel, N/bar.
    pub brake_gain: f64,
    /// Pressure per percent of brake pedal without ABS, bar.
    pub pedal_gain: f64,
    /// Sliding friction relative to peak friction once a wheel locks.
    pub slide_ratio: f64,
}

impl Default for VehicleParams {
    fn default() -> Self {
        Self {
            mass: vehicle::MASS_KG,
            // A mid-size EV: Cd 0.28 over 2.3 m².
            cd_a: 0.28 * 2.3,
            air_density: 1.2,
            rolling: 0.010,
            // Shared with the ABS ECU: a wheel locks above mu * 130 bar.
            brake_gain: vehicle::BRAKE_FORCE_N_PER_BAR,
            pedal_gain: 1.0,
            slide_ratio: 0.7,
        }
    }
}

/// Forces acting at one instant, N (positive forward).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Forces {
    /// Traction force after the adhesion limit of the driven axle.
    pub drive: f64,
    /// Total brake force (a magnitude, opposing motion).
    pub brake: f64,
    /// Aerodynamic drag (magnitude).
    pub drag: f64,
    /// Rolling resistance (magnitude).
    pub rolling: f64,
    /// Number of locked wheels.
    pub locked_wheels: u8,
}

impl VehicleParams {
    /// Forces at speed `v` (m/s, >= 0) for a motor force and four brake
    /// pressures on a road of friction `mu`.
    pub fn forces(&self, v: f64, motor_force: f64, pressures: [f64; 4], mu: f64) -> Forces {
        let wheel_load = self.mass * G / 4.0;
        let adhesion = mu * wheel_load;
        let mut brake = 0.0;
        let mut locked = 0;
        for p in pressures {
            let demand = self.brake_gain * p.max(0.0);
            if demand > adhesion {
                locked += 1;
                brake += self.slide_ratio * adhesion;
            } else {
                brake += demand;
            }
        }
        // Two driven wheels carry half the weight.
        let traction_limit = 2.0 * adhesion;
        Forces {
            drive: motor_force.clamp(-traction_limit, traction_limit),
            brake,
            drag: 0.5 * self.air_density * self.cd_a * v * v,
            rolling: if v > 0.0 {
                self.rolling * self.mass * G
            } else {
                0.0
            },
            locked_wheels: locked,
        }
    }

    /// Advances speed by `dt` under `f`. The car does not roll backwards:
    /// resistive forces stop it at zero instead of reversing it.
    pub fn step_speed(&self, v: f64, f: &Forces, dt: f64) -> (f64, f64) {
        let resist = f.brake + f.drag + f.rolling;
        if v <= 0.0 && f.drive <= resist {
            return (0.0, 0.0);
        }
        let a = (f.drive - resist) / self.mass;
        let next = (v + a * dt).max(0.0);
        // Report the acceleration actually realised over the step.
        (next, (next - v) / dt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_braking_on_dry_road_locks_no_wheel_but_ice_locks_all() {
        let p = VehicleParams::default();
        let dry = p.forces(20.0, 0.0, [100.0; 4], 0.9);
        assert_eq!(dry.locked_wheels, 0);
        let ice = p.forces(20.0, 0.0, [100.0; 4], 0.1);
        assert_eq!(ice.locked_wheels, 4);
        assert!(ice.brake < dry.brake / 5.0);
    }

    #[test]
    fn locked_wheels_brake_less_than_the_adhesion_limit() {
        let p = VehicleParams::default();
        for mu in [0.1, 0.3, 0.5, 0.9] {
            let limit = mu * p.mass * G;
            let at_limit = p.forces(20.0, 0.0, [mu * 129.9; 4], mu).brake;
            let locked = p.forces(20.0, 0.0, [mu * 131.0; 4], mu).brake;
            assert!(at_limit <= limit + 1e-6 && locked < at_limit, "mu {mu}");
        }
    }

    #[test]
    fn drag_grows_with_speed_squared_and_coasting_slows_the_car() {
        let p = VehicleParams::default();
        let mut last = 0.0;
        for v in [5.0, 10.0, 20.0, 40.0] {
            let f = p.forces(v, 0.0, [0.0; 4], 0.9);
            assert!(f.drag > last);
            last = f.drag;
            let (next, a) = p.step_speed(v, &f, 0.01);
            assert!(next < v && a < 0.0);
        }
    }

    #[test]
    fn a_stopped_car_with_brakes_on_stays_put() {
        let p = VehicleParams::default();
        let f = p.forces(0.0, 500.0, [50.0; 4], 0.9);
        assert_eq!(p.step_speed(0.0, &f, 0.01), (0.0, 0.0));
    }

    #[test]
    fn drive_force_is_limited_by_adhesion() {
        let p = VehicleParams::default();
        let f = p.forces(10.0, 20_000.0, [0.0; 4], 0.1);
        assert!((f.drive - 0.1 * p.mass * G / 2.0).abs() < 1e-6);
    }
}
