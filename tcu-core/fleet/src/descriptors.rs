//! File descriptors for a fleet: every vehicle holds two (its broker
//! connection and the lock of its outbox directory; with OTA a third, its
//! DDI client's HTTP connection, which it may keep alive), so a fleet of 10,000
//! needs more than the 20,000 a common hard limit allows, and a fleet
//! started without enough stalls once the process runs out: connects fail
//! with `EMFILE` and the fleet sits below its size, retrying. Before any
//! vehicle starts, the soft limit is raised as far as needed (to the hard
//! limit, or past it where the process may raise that), and a fleet the
//! limit cannot hold is refused with the figures.

use crate::FleetError;

/// Descriptors each vehicle holds: its socket and its outbox lock.
pub const PER_VEHICLE: u64 = 2;
/// What a vehicle's DDI client may add (an HTTP connection kept alive).
pub const PER_OTA_CLIENT: u64 = 1;
/// Descriptors the process needs besides its vehicles (plugins, runtime,
/// logs, stats, the in-process broker's listener, spill files being
/// rotated).
pub const RESERVE: u64 = 256;

/// Descriptors a fleet of `vehicles` needs (each with a DDI client when
/// `ota`).
pub fn needed(vehicles: usize, ota: bool) -> u64 {
    let per = PER_VEHICLE + if ota { PER_OTA_CLIENT } else { 0 };
    (vehicles as u64)
        .saturating_mul(per)
        .saturating_add(RESERVE)
}

/// The limit decision for `need` against `(soft, hard)`: the new soft (and
/// hard) limit to set, or the error when it cannot be had. `privileged`:
/// the process may raise its hard limit.
pub fn plan(
    need: u64,
    soft: u64,
    hard: u64,
    privileged: bool,
) -> Result<Option<(u64, u64)>, String> {
    if need <= soft {
        Ok(None)
    } else if need <= hard {
        Ok(Some((need, hard)))
    } else if privileged {
        Ok(Some((need, need)))
    } else {
        Err(format!(
            "needs about {need} file descriptors ({PER_VEHICLE} per vehicle, {PER_OTA_CLIENT} more \
             with OTA, + {RESERVE}), and the \
             hard limit is {hard}: raise it (`ulimit -Hn`, `LimitNOFILE=` in a systemd unit) or \
             run fewer vehicles per process (--shard)"
        ))
    }
}

/// Raises `RLIMIT_NOFILE` for a fleet of `vehicles` (with DDI clients
/// when `ota`); an error when it cannot be raised far enough.
pub fn ensure(vehicles: usize, ota: bool) -> Result<(), FleetError> {
    let need = needed(vehicles, ota);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Ok(());
    }
    let (soft, hard) = (lim.rlim_cur, lim.rlim_max);
    // SAFETY: geteuid has no preconditions.
    let privileged = unsafe { libc::geteuid() } == 0;
    let fail = |m: String| FleetError::Plan(format!("{vehicles} vehicles {m}"));
    let Some((cur, max)) = plan(need, soft, hard, privileged).map_err(fail)? else {
        return Ok(());
    };
    let new = libc::rlimit {
        rlim_cur: cur,
        rlim_max: max,
    };
    // SAFETY: setrlimit reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(fail(format!(
            "need about {need} file descriptors and the limit ({soft} soft, {hard} hard) could \
             not be raised: {e}"
        )));
    }
    tracing::info!(
        from = soft,
        to = cur,
        "raised the open-file limit for the fleet"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_of_ten_thousand_needs_more_descriptors_than_a_hard_limit_of_twenty_thousand() {
        assert!(needed(10_000, false) > 20_000);
        assert_eq!(needed(1_000, true) - needed(1_000, false), 1_000);
        assert_eq!(plan(needed(100, false), 1024, 20_000, false), Ok(None));
        assert_eq!(
            plan(needed(5_000, false), 1024, 20_000, false),
            Ok(Some((needed(5_000, false), 20_000)))
        );
        assert_eq!(
            plan(needed(10_000, false), 20_000, 20_000, true),
            Ok(Some((needed(10_000, false), needed(10_000, false))))
        );
        let e = plan(needed(10_000, false), 20_000, 20_000, false).unwrap_err();
        assert!(
            e.contains("20256") && e.contains("hard limit is 20000"),
            "{e}"
        );
    }
}
