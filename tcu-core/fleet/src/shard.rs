//! Shards: `K/M` takes every M-th vehicle of the fleet starting with the
//! K-th, so that M processes (on M machines) started with `1/M` … `M/M`
//! run one fleet together with no vehicle twice and none missing.

use std::fmt;
use std::str::FromStr;

/// One slice of a fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, from 1.
    pub k: u64,
    /// How many slices.
    pub m: u64,
}

impl Shard {
    /// The whole fleet.
    pub const ALL: Shard = Shard { k: 1, m: 1 };

    /// True when vehicle `index` (from 0) belongs to this slice.
    pub fn contains(&self, index: u64) -> bool {
        index % self.m == self.k - 1
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}`: a shard is K/M with 1 <= K <= M (e.g. 1/2)");
        let (k, m) = s.split_once('/').ok_or_else(bad)?;
        let k: u64 = k.trim().parse().map_err(|_| bad())?;
        let m: u64 = m.trim().parse().map_err(|_| bad())?;
        if k == 0 || m == 0 || k > m {
            return Err(bad());
        }
        Ok(Shard { k, m })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shards_of_a_fleet_cover_it_with_no_overlap_and_no_gap() {
        for m in 1..=7u64 {
            let shards: Vec<Shard> = (1..=m).map(|k| Shard { k, m }).collect();
            for index in 0..500 {
                let owners = shards.iter().filter(|s| s.contains(index)).count();
                assert_eq!(owners, 1, "vehicle {index} with {m} shards");
            }
        }
    }

    #[test]
    fn shards_parse_and_bad_ones_say_why() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { k: 2, m: 3 }));
        for bad in ["0/2", "3/2", "1", "a/b", "1/0", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("K/M"), "{bad}: {e}");
        }
    }
}
