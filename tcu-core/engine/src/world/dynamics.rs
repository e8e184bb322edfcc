//! Longitudinal vehicle dynamics: one body on four wheels. Each wheel's
//! speed is integrated from its drive and brake torque and its tyre force;
//! the tyre force follows from the wheel's slip ([`super::tyre`]) and its
//! normal load, which shifts to the front axle under braking. The body
//! moves under the tyre forces, aerodynamic drag and rolling resistance.
//!
//! Pure functions over plain numbers so that the physics is tested without a
//! bus. Brake pressures come from the ABS ECU; without one, the pedal maps
//! straight to pressure (a car with no ABS module).
//!
//! A tyre is stiff: near zero slip its force changes by tens of kilonewtons
//! per m/s of wheel speed, which an explicit step of a few milliseconds
//! cannot follow. Wheels and body are therefore stepped together, linearly
//! implicitly (each tyre force linearised in its slip speed over the step);
//! past the friction peak, where the curve falls, the linearisation uses
//! the secant through zero slip, which keeps the step stable without hiding
//! a wheel's runaway into lock under its brake.

use super::tyre::Tyre;
use tcu_sdk::vehicle;
pub use tcu_sdk::vehicle::GRAVITY as G;

/// Wheels in ABS order: Row1.Left, Row1.Right, Row2.Left, Row2.Right. The
/// rear axle (Row2) is driven.
pub const DRIVEN: [bool; 4] = [false, false, true, true];

/// Sub-steps of one world step. One is enough: the coupled implicit step is
/// stable at 10 ms, and the stopping distances of the fidelity suite move by
/// under 5 % against two 5 ms steps, at half the cost.
const SUBSTEPS: u32 = 1;
/// Slip is measured against at least this speed, m/s, so that it stays
/// defined at standstill.
const SLIP_REFERENCE_MIN: f64 = 0.3;
/// Speeds below this snap to zero, m/s (no crawling through denormals).
const SPEED_SNAP: f64 = 1e-6;

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
    /// Dynamic rolling radius, m.
    pub wheel_radius: f64,
    /// Wheelbase, m.
    pub wheelbase: f64,
    /// Height of the centre of gravity, m.
    pub cg_height: f64,
    /// Share of the weight on the front axle at rest.
    pub front_share: f64,
    /// Moment of inertia of each wheel (driven ones with the drive's), kg m².
    pub wheel_inertia: [f64; 4],
    /// Brake force at the tyre per bar at each wheel, N/bar.
    pub brake_gain: [f64; 4],
    /// Pressure per percent of brake pedal without ABS, bar.
    pub pedal_gain: f64,
}

impl Default for VehicleParams {
    fn default() -> Self {
        let (front, rear) = (
            vehicle::FRONT_WHEEL_INERTIA_KG_M2,
            vehicle::REAR_WHEEL_INERTIA_KG_M2,
        );
        Self {
            mass: vehicle::MASS_KG,
            // A mid-size EV: Cd 0.28 over 2.3 m².
            cd_a: 0.28 * 2.3,
            air_density: 1.2,
            rolling: 0.010,
            wheel_radius: vehicle::WHEEL_RADIUS_M,
            wheelbase: vehicle::WHEELBASE_M,
            cg_height: vehicle::CG_HEIGHT_M,
            front_share: vehicle::FRONT_WEIGHT_SHARE,
            wheel_inertia: [front, front, rear, rear],
            brake_gain: vehicle::BRAKE_FORCE_N_PER_BAR,
            pedal_gain: vehicle::PRESSURE_PER_PEDAL_PERCENT,
        }
    }
}

/// The car's motion.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Motion {
    /// Body speed, m/s (never negative: the car does not roll backwards).
    pub speed: f64,
    /// Circumferential speed of each wheel (angular speed times radius),
    /// m/s, never negative.
    pub wheels: [f64; 4],
    /// Longitudinal acceleration realised in the last step, m/s².
    pub accel: f64,
}

/// What acts on the car during a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Controls {
    /// Force the drive applies at the driven wheels' tyre radius, N (the
    /// engine ECU's `Sim.Powertrain.WheelForce`; negative while
    /// regenerating), split evenly over the driven wheels.
    pub drive_force: f64,
    /// Brake pressure at each wheel, bar.
    pub pressures: [f64; 4],
}

/// Normal load on each wheel, N, for a longitudinal acceleration `accel`
/// (m/s², negative braking): braking moves `m a h / L` onto the front axle.
pub fn wheel_loads(p: &VehicleParams, accel: f64) -> [f64; 4] {
    let weight = p.mass * G;
    let transfer = -p.mass * accel.clamp(-1.5 * G, 1.5 * G) * p.cg_height / p.wheelbase;
    let front = ((weight * p.front_share + transfer) / 2.0).max(0.0);
    let rear = ((weight * (1.0 - p.front_share) - transfer) / 2.0).max(0.0);
    [front, front, rear, rear]
}

/// Signed slip of a wheel at circumferential speed `u` on a body at `v`:
/// positive while driving (the wheel turns faster), negative while braking
/// (-1 for a locked wheel), and the speed it is measured against.
pub fn slip(u: f64, v: f64) -> (f64, f64) {
    let reference = u.max(v).max(SLIP_REFERENCE_MIN);
    ((u - v) / reference, reference)
}

impl VehicleParams {
    /// Aerodynamic drag at `v`, N.
    pub fn drag(&self, v: f64) -> f64 {
        0.5 * self.air_density * self.cd_a * v * v
    }

    /// Rolling resistance while moving, N.
    pub fn rolling_resistance(&self, v: f64) -> f64 {
        if v > 0.0 {
            self.rolling * self.mass * G
        } else {
            0.0
        }
    }

    /// Advances `m` by `dt` seconds under `c` on a road with tyre curve
    /// `tyre`.
    pub fn step(&self, m: &mut Motion, ctl: &Controls, tyre: &Tyre, dt: f64) {
        let v0 = m.speed;
        let h = dt / f64::from(SUBSTEPS);
        let r = self.wheel_radius;
        let driven = DRIVEN.iter().filter(|d| **d).count() as f64;
        for _ in 0..SUBSTEPS {
            let loads = wheel_loads(self, m.accel);
            let v = m.speed;
            // Linearly implicit step of the coupled wheels and body: each
            // wheel's tyre force is linearised in its slip speed (u - v)
            // with slope g; the body's equation is solved first (the wheels
            // eliminated), then each wheel's.
            let mut fx = [0.0; 4];
            let mut g = [0.0; 4];
            let mut c = [0.0; 4];
            let mut k = [f64::INFINITY; 4];
            let (mut body_force, mut body_stiffness) = (0.0, 0.0);
            for i in 0..4 {
                let u = m.wheels[i];
                let (s, reference) = slip(u, v);
                let (mu, slope) = tyre.mu_and_slope(s.abs());
                fx[i] = mu * loads[i] * s.signum();
                // The curve's slope where it still rises; past the peak the
                // secant through zero slip, so that the tyre force alone
                // never swings the wheel past the body's speed (at walking
                // pace a wheel would otherwise chatter between lock and
                // spin). The brake's runaway into lock stays what it is.
                let local = loads[i] * slope / reference;
                let secant = if (u - v).abs() > 1e-9 {
                    fx[i] / (u - v)
                } else {
                    0.0
                };
                g[i] = local.max(secant).max(0.0);
                let drive = if DRIVEN[i] {
                    ctl.drive_force / driven
                } else {
                    0.0
                };
                let brake = self.brake_gain[i] * ctl.pressures[i].max(0.0);
                let free = drive - fx[i];
                // A brake only opposes rotation; a stopped wheel it holds
                // stays stopped, and no wheel turns backwards.
                let rolling = u > 0.0 || free > brake;
                if rolling {
                    c[i] = free - brake;
                    k[i] = self.wheel_inertia[i] / (r * r * h) + g[i];
                    body_stiffness += g[i] * (k[i] - g[i]) / k[i];
                    body_force += fx[i] + g[i] * c[i] / k[i];
                } else {
                    body_stiffness += g[i];
                    body_force += fx[i];
                }
            }
            let resist = self.drag(v) + self.rolling_resistance(v);
            let dv = h * (body_force - resist) / (self.mass + h * body_stiffness);
            let next = if v <= 0.0 && body_force <= resist {
                0.0
            } else {
                (v + dv).max(0.0)
            };
            let next = if next < SPEED_SNAP { 0.0 } else { next };
            let dv = next - v;
            for i in 0..4 {
                if k[i].is_finite() {
                    let u = (m.wheels[i] + (c[i] + g[i] * dv) / k[i]).max(0.0);
                    m.wheels[i] = if u < SPEED_SNAP { 0.0 } else { u };
                }
            }
            m.accel = dv / h;
            m.speed = next;
        }
        m.accel = (m.speed - v0) / dt;
    }
}

/// Number of wheels turning at under 10 % of the body's speed while it
/// moves faster than 1 m/s (locked or close to it).
pub fn locked_wheels(m: &Motion) -> u8 {
    if m.speed <= 1.0 {
        return 0;
    }
    m.wheels.iter().filter(|&&u| u < 0.1 * m.speed).count() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: f64 = 0.01;

    fn rolling_at(v: f64) -> Motion {
        Motion {
            speed: v,
            wheels: [v; 4],
            accel: 0.0,
        }
    }

    fn brake_to_stop(p: &VehicleParams, mu: f64, pressures: [f64; 4]) -> (f64, u8) {
        let tyre = Tyre::for_road(mu);
        let mut m = rolling_at(100.0 / 3.6);
        let c = Controls {
            drive_force: 0.0,
            pressures,
        };
        let (mut distance, mut locked) = (0.0, 0);
        for _ in 0..100_000 {
            let v0 = m.speed;
            p.step(&mut m, &c, &tyre, DT);
            distance += 0.5 * (v0 + m.speed) * DT;
            locked = locked.max(locked_wheels(&m));
            if m.speed == 0.0 {
                break;
            }
        }
        assert_eq!(m.speed, 0.0);
        (distance, locked)
    }

    #[test]
    fn no_amount_of_brake_pressure_stops_the_car_shorter_than_the_tyres_grip_allows() {
        let p = VehicleParams::default();
        let v: f64 = 100.0 / 3.6;
        for mu in [0.1, 0.2, 0.35, 0.5, 0.9, 1.2] {
            for bar in [20.0, 50.0, 100.0, 200.0] {
                let (distance, _) = brake_to_stop(&p, mu, [bar; 4]);
                // Drag and rolling resistance brake without using grip.
                let resist = (p.drag(v) + p.rolling_resistance(v)) / p.mass;
                let bound = v * v / (2.0 * (mu * G + resist));
                assert!(
                    distance >= bound,
                    "mu {mu}, {bar} bar: {distance:.1} m < {bound:.1} m"
                );
            }
        }
    }

    #[test]
    fn hard_braking_locks_the_wheels_on_every_surface_and_light_braking_on_none() {
        let p = VehicleParams::default();
        for mu in [0.1, 0.3, 0.5, 0.9] {
            let (_, locked) = brake_to_stop(&p, mu, [100.0; 4]);
            assert!(locked > 0, "full pedal locked nothing on mu {mu}");
        }
        let (_, locked) = brake_to_stop(&p, 0.9, [30.0; 4]);
        assert_eq!(locked, 0);
    }

    #[test]
    fn braking_moves_load_to_the_front_axle() {
        let p = VehicleParams::default();
        let still = wheel_loads(&p, 0.0);
        let braking = wheel_loads(&p, -8.0);
        assert!((still.iter().sum::<f64>() - p.mass * G).abs() < 1e-6);
        assert!((braking.iter().sum::<f64>() - p.mass * G).abs() < 1e-6);
        let moved = braking[0] + braking[1] - still[0] - still[1];
        assert!((moved - p.mass * 8.0 * p.cg_height / p.wheelbase).abs() < 1e-6);
    }

    #[test]
    fn drag_grows_with_speed_squared_and_coasting_slows_the_car() {
        let p = VehicleParams::default();
        let tyre = Tyre::for_road(0.9);
        let mut last = 0.0;
        for v in [5.0, 10.0, 20.0, 40.0] {
            assert!(p.drag(v) > last);
            last = p.drag(v);
            let mut m = rolling_at(v);
            let c = Controls {
                drive_force: 0.0,
                pressures: [0.0; 4],
            };
            p.step(&mut m, &c, &tyre, DT);
            assert!(m.speed < v && m.accel < 0.0);
        }
    }

    #[test]
    fn a_stopped_car_with_brakes_on_stays_put() {
        let p = VehicleParams::default();
        let mut m = Motion::default();
        let c = Controls {
            drive_force: 500.0,
            pressures: [50.0; 4],
        };
        for _ in 0..100 {
            p.step(&mut m, &c, &Tyre::for_road(0.9), DT);
        }
        assert_eq!(m, Motion::default());
    }

    #[test]
    fn drive_force_is_limited_by_the_driven_wheels_grip() {
        let p = VehicleParams::default();
        let tyre = Tyre::for_road(0.1);
        let mut m = rolling_at(10.0);
        let c = Controls {
            drive_force: 8_000.0,
            pressures: [0.0; 4],
        };
        for _ in 0..300 {
            p.step(&mut m, &c, &tyre, DT);
        }
        // The rear wheels spin; the body gains at most the rear axle's grip.
        let rear = wheel_loads(&p, m.accel)[2] * 2.0;
        assert!(m.wheels[2] > 1.5 * m.speed, "{m:?}");
        assert!(m.accel * p.mass <= 0.1 * rear + 1e-6, "{m:?}");
    }

    #[test]
    fn free_rolling_wheels_turn_with_the_body() {
        let p = VehicleParams::default();
        let mut m = rolling_at(20.0);
        let c = Controls {
            drive_force: 0.0,
            pressures: [0.0; 4],
        };
        for _ in 0..500 {
            p.step(&mut m, &c, &Tyre::for_road(0.9), DT);
            for u in m.wheels {
                assert!((u - m.speed).abs() < 0.01 * m.speed, "{m:?}");
            }
        }
    }
}
