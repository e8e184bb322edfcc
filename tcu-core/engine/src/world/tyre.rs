//! Tyre-road friction as a function of wheel slip: Burckhardt's curve
//! `mu(s) = c1 (1 - exp(-c2 s)) - c3 s` with his published coefficients per
//! surface (M. Burckhardt, Fahrwerktechnik: Radschlupf-Regelsysteme, Vogel,
//! 1993; tabulated in Kiencke & Nielsen, Automotive Control Systems,
//! Springer, 2005).
//!
//! The world's road is one number, `Sim.Environment.RoadFriction`: the peak
//! friction. A [`Tyre`] takes the curve shape of the published surfaces
//! bracketing that peak (coefficients interpolated between them) and scales
//! it so that its maximum is exactly the road's friction.

/// Burckhardt's coefficients of one surface.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Coefficients {
    c1: f64,
    c2: f64,
    c3: f64,
}

/// The published surfaces, by rising peak friction: ice, snow, wet
/// cobblestones, wet asphalt, dry asphalt (peaks 0.05, 0.19, 0.38, 0.80,
/// 1.17).
const SURFACES: [Coefficients; 5] = [
    Coefficients {
        c1: 0.05,
        c2: 306.39,
        c3: 0.0,
    },
    Coefficients {
        c1: 0.1946,
        c2: 94.129,
        c3: 0.0646,
    },
    Coefficients {
        c1: 0.4004,
        c2: 33.708,
        c3: 0.1204,
    },
    Coefficients {
        c1: 0.857,
        c2: 33.822,
        c3: 0.347,
    },
    Coefficients {
        c1: 1.2801,
        c2: 23.99,
        c3: 0.52,
    },
];

impl Coefficients {
    fn mu(&self, slip: f64) -> f64 {
        self.c1 * (1.0 - (-self.c2 * slip).exp()) - self.c3 * slip
    }

    /// Slip of the maximum (1 where the curve rises all the way).
    fn peak_slip(&self) -> f64 {
        if self.c3 <= 0.0 {
            return 1.0;
        }
        ((self.c1 * self.c2 / self.c3).ln() / self.c2).clamp(1e-3, 1.0)
    }

    fn peak(&self) -> f64 {
        self.mu(self.peak_slip())
    }

    fn lerp(a: Self, b: Self, t: f64) -> Self {
        Self {
            c1: a.c1 + (b.c1 - a.c1) * t,
            c2: a.c2 + (b.c2 - a.c2) * t,
            c3: a.c3 + (b.c3 - a.c3) * t,
        }
    }
}

/// The friction curve of the tyres on one road.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tyre {
    /// The road's peak friction the curve was made for.
    road: f64,
    shape: Coefficients,
    /// Factor that makes the shape's peak equal to `road`.
    scale: f64,
    peak_slip: f64,
}

impl Tyre {
    /// The curve whose maximum is `road_friction` (clamped to 0.01..2).
    pub fn for_road(road_friction: f64) -> Self {
        let road = if road_friction.is_finite() {
            road_friction.clamp(0.01, 2.0)
        } else {
            0.9
        };
        let peaks = SURFACES.map(|c| c.peak());
        let shape = match peaks.iter().position(|&p| p >= road) {
            Some(0) => SURFACES[0],
            Some(i) => {
                let t = (road - peaks[i - 1]) / (peaks[i] - peaks[i - 1]);
                Coefficients::lerp(SURFACES[i - 1], SURFACES[i], t)
            }
            None => SURFACES[SURFACES.len() - 1],
        };
        let peak_slip = shape.peak_slip();
        Self {
            road,
            shape,
            scale: road / shape.mu(peak_slip),
            peak_slip,
        }
    }

    /// The road friction this curve was made for.
    pub fn road(&self) -> f64 {
        self.road
    }

    /// Slip at which the friction peaks.
    pub fn peak_slip(&self) -> f64 {
        self.peak_slip
    }

    /// Friction coefficient at a slip magnitude `slip` (0..1), never above
    /// the road's peak (the friction circle with no lateral demand).
    pub fn mu(&self, slip: f64) -> f64 {
        self.mu_and_slope(slip).0
    }

    /// Slope of the curve at `slip`, per unit slip.
    pub fn slope(&self, slip: f64) -> f64 {
        self.mu_and_slope(slip).1
    }

    /// [`Tyre::mu`] and [`Tyre::slope`] together, for the price of one
    /// exponential (the costliest part of the world's step).
    pub fn mu_and_slope(&self, slip: f64) -> (f64, f64) {
        let s = slip.clamp(0.0, 1.0);
        let e = (-self.shape.c2 * s).exp();
        let c = &self.shape;
        let mu = (self.scale * (c.c1 * (1.0 - e) - c.c3 * s)).clamp(0.0, self.road);
        (mu, self.scale * (c.c1 * c.c2 * e - c.c3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_surfaces_peak_where_burckhardt_puts_them() {
        let expect = [
            (0.05, 1.0),
            (0.19, 0.06),
            (0.38, 0.14),
            (0.80, 0.13),
            (1.17, 0.17),
        ];
        for (c, (peak, slip)) in SURFACES.iter().zip(expect) {
            assert!((c.peak() - peak).abs() < 0.01, "{c:?}: {}", c.peak());
            assert!(
                (c.peak_slip() - slip).abs() < 0.01,
                "{c:?}: {}",
                c.peak_slip()
            );
        }
    }

    #[test]
    fn every_road_peaks_at_its_friction_and_slides_lower() {
        for road in [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0, 1.2] {
            let t = Tyre::for_road(road);
            let mut max: f64 = 0.0;
            for i in 0..=1000 {
                max = max.max(t.mu(f64::from(i) / 1000.0));
            }
            assert!((max - road).abs() < 1e-3 * road, "road {road}: peak {max}");
            assert!((t.mu(t.peak_slip()) - road).abs() < 1e-9);
            if road > 0.06 {
                assert!(t.mu(1.0) < 0.9 * road, "road {road}: sliding {}", t.mu(1.0));
            }
            assert_eq!(t.mu(0.0), 0.0);
            assert!(t.slope(0.0) > 0.0);
        }
    }
}
