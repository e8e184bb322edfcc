//! Who is in this process's part of the fleet: each member's VIN, seed and
//! start offset, all derived from the fleet seed so that a fleet is the
//! same fleet every time it is started.

use crate::shard::Shard;
use crate::vin;
use std::time::Duration;
use tcu_sdk::rng::derive_seed;

/// One vehicle of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Position in the whole fleet, from 0.
    pub index: u64,
    /// Its VIN.
    pub vin: String,
    /// Seed of every random source of this vehicle.
    pub seed: u64,
    /// When its first tick is due after the fleet starts: spread over one
    /// publish period so that the vehicles do not tick and publish in lock
    /// step.
    pub offset: Duration,
}

/// The members of `shard` of a fleet of `vehicles` numbered from `prefix`.
pub fn members(
    vehicles: u64,
    prefix: &str,
    seed: u64,
    shard: Shard,
    spread: Duration,
) -> Result<Vec<Member>, String> {
    vin::check_prefix(prefix)?;
    if vehicles == 0 || vehicles > vin::MAX_VEHICLES {
        return Err(format!(
            "{vehicles} vehicles: a fleet has 1 to {} vehicles",
            vin::MAX_VEHICLES
        ));
    }
    Ok((0..vehicles)
        .filter(|&i| shard.contains(i))
        .map(|index| {
            let vin = vin::derive(prefix, index);
            let phase = derive_seed(seed, &format!("start/{vin}")) % 1_000_000;
            Member {
                index,
                seed: derive_seed(seed, &vin),
                offset: spread.mul_f64(phase as f64 / 1e6),
                vin,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_is_the_same_fleet_every_time_and_its_seeds_differ_per_vehicle() {
        let a = members(100, "WTCUZ", 7, Shard::ALL, Duration::from_secs(1)).unwrap();
        let b = members(100, "WTCUZ", 7, Shard::ALL, Duration::from_secs(1)).unwrap();
        assert_eq!(a, b);
        let seeds: std::collections::BTreeSet<_> = a.iter().map(|m| m.seed).collect();
        assert_eq!(seeds.len(), 100);
        let c = members(100, "WTCUZ", 8, Shard::ALL, Duration::from_secs(1)).unwrap();
        assert_ne!(
            a[0].seed, c[0].seed,
            "another fleet seed, other vehicle seeds"
        );
        assert_eq!(
            a[0].vin, c[0].vin,
            "the VINs depend on the prefix and index only"
        );
        assert!(a.iter().all(|m| m.offset < Duration::from_secs(1)));
        let offsets: std::collections::BTreeSet<_> = a.iter().map(|m| m.offset).collect();
        assert!(offsets.len() > 90, "start times are spread");
    }

    #[test]
    fn two_shards_hold_the_whole_fleets_vins_once() {
        let all = members(51, "WTCUZ", 1, Shard::ALL, Duration::ZERO).unwrap();
        let one = members(51, "WTCUZ", 1, "1/2".parse().unwrap(), Duration::ZERO).unwrap();
        let two = members(51, "WTCUZ", 1, "2/2".parse().unwrap(), Duration::ZERO).unwrap();
        assert_eq!(one.len() + two.len(), 51);
        let mut joined: Vec<_> = one.iter().chain(&two).cloned().collect();
        joined.sort_by_key(|m| m.index);
        assert_eq!(joined, all);
    }

    #[test]
    fn fleet_sizes_outside_the_vin_space_are_refused() {
        let e = members(0, "WTCUZ", 1, Shard::ALL, Duration::ZERO).unwrap_err();
        assert!(e.contains("1 to 999999"), "{e}");
        assert!(members(1_000_000, "WTCUZ", 1, Shard::ALL, Duration::ZERO).is_err());
    }
}
