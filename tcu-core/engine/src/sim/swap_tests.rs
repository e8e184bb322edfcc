//! Hot-swap transactions driven through a vehicle's step loop, with probe
//! plugins linked into the test binary (no library files): what the step
//! loop and the swap engine do together when a live instance is disabled
//! or when rolling back fails.

#![allow(clippy::unwrap_used)]

use super::Vehicle;
use crate::bus::Bus;
use crate::catalog::Catalog;
use crate::plugin::{PluginLibrary, admit_library};
use crate::swap::store::{Entry, ManifestState, PluginSet, Store};
use crate::swap::{PreparedSwap, Staged, SwapEngine, SwapOutcome, SwapSettings};
use crate::world::World;
use crate::world::driver::DriverProfile;
use crate::world::dynamics::VehicleParams;
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use tcu_sdk::abi::{TCU_TYPE_UINT32, TcuPluginDescriptor, TcuSignalDecl};
use tcu_sdk::{PluginError, Subsystem};

const NAME: &CStr = c"probe";
const WRITES: &[TcuSignalDecl] = &[TcuSignalDecl::new(
    c"Vehicle.Powertrain.Range",
    TCU_TYPE_UINT32,
)];
const CANARY: u32 = 5;
const PROBATION: u64 = 50;

/// Implements the parts every probe shares (no inputs, an empty snapshot).
macro_rules! probe {
    ($ty:ident, $version:literal, create: $create:expr, tick: $tick:expr) => {
        struct $ty {
            ticks: u64,
        }
        impl Subsystem for $ty {
            const NAME: &'static CStr = NAME;
            const VERSION: &'static CStr = $version;
            const READS: &'static [TcuSignalDecl] = &[];
            const WRITES: &'static [TcuSignalDecl] = WRITES;
            fn create(_seed: u64) -> Result<Self, PluginError> {
                let create: fn() -> Result<(), PluginError> = $create;
                create().map(|()| Self { ticks: 0 })
            }
            fn tick(&mut self, _dt: f64, _i: &[f64], out: &mut [f64]) -> Result<(), PluginError> {
                self.ticks += 1;
                let tick: fn(u64, &mut [f64]) -> Result<(), PluginError> = $tick;
                tick(self.ticks, out)
            }
            fn snapshot(&self) -> Vec<u8> {
                Vec::new()
            }
            fn restore(&mut self, _bytes: &[u8]) -> Result<(), PluginError> {
                Ok(())
            }
        }
    };
}

fn ok() -> Result<(), PluginError> {
    Ok(())
}

fn range(_tick: u64, out: &mut [f64]) -> Result<(), PluginError> {
    out[0] = 1000.0;
    Ok(())
}

static ONCE_CREATED: AtomicBool = AtomicBool::new(false);
// Version 1.0.0 that can be created once only: rolling back to it fails.
probe!(OnceOnly, c"1.0.0", create: || {
    if ONCE_CREATED.swap(true, Ordering::SeqCst) {
        Err("this probe can be created once only".into())
    } else {
        Ok(())
    }
}, tick: range);
static ONCE_ONLY: TcuPluginDescriptor = tcu_sdk::descriptor::<OnceOnly>();

// Version 2.0.0 that passes its canary, then fails in probation.
probe!(FailsLater, c"2.0.0", create: ok, tick: |ticks, out| {
    out[0] = 1000.0;
    if ticks > u64::from(CANARY) + 10 {
        Err(format!("probe failed at its tick {ticks}").into())
    } else {
        Ok(())
    }
});
static FAILS_LATER: TcuPluginDescriptor = tcu_sdk::descriptor::<FailsLater>();

// Version 1.0.0 that panics on its first tick: the live instance is disabled.
probe!(Panics, c"1.0.0", create: ok, tick: |_, _| panic!("probe panics in tick"));
static PANICS: TcuPluginDescriptor = tcu_sdk::descriptor::<Panics>();

// Version 2.0.0 whose every output is NaN: any canary that runs refuses it.
probe!(Nan, c"2.0.0", create: ok, tick: |_, out| {
    out[0] = f64::NAN;
    Ok(())
});
static NAN: TcuPluginDescriptor = tcu_sdk::descriptor::<Nan>();

static GOOD_TICKS: AtomicU64 = AtomicU64::new(0);
// A healthy 2.0.0 counting every tick it runs, live or in shadow.
probe!(Good, c"2.0.0", create: ok, tick: |_, out| {
    GOOD_TICKS.fetch_add(1, Ordering::SeqCst);
    out[0] = 1000.0;
    Ok(())
});
static GOOD: TcuPluginDescriptor = tcu_sdk::descriptor::<Good>();

fn settings() -> SwapSettings {
    SwapSettings {
        canary_ticks: CANARY,
        probation_ticks: PROBATION,
        seed: 1,
    }
}

/// A vehicle running the probe of `desc` alone, its swaps recorded in `store`.
fn vehicle(desc: &'static TcuPluginDescriptor, store: Option<Store>) -> Vehicle {
    let catalog = Arc::new(Catalog::builtin());
    let mut bus = Bus::new(catalog.clone());
    let world = World::new(&mut bus, VehicleParams::default(), 1).unwrap();
    let lib = PluginLibrary::from_static(desc, &catalog).unwrap();
    let probe = admit_library(lib, &mut bus, 1, &[]).unwrap();
    let mut v = Vehicle::new(bus, world, vec![probe], DriverProfile::Idle, 100.0);
    v.set_swap_engine(SwapEngine::new(settings(), store, PluginSet::new()));
    v
}

fn staged(desc: &'static TcuPluginDescriptor, version: &str) -> PreparedSwap {
    let library = PluginLibrary::from_static(desc, &Catalog::builtin()).unwrap();
    PreparedSwap {
        libs: vec![Staged {
            subsystem: "probe".into(),
            library,
            entry: Entry {
                version: version.into(),
                file: format!("probe-{version}-000000000000.so"),
                sha256: "00".repeat(32),
            },
        }],
    }
}

/// Requests the swap and steps until its outcome (bounded).
fn swap(v: &mut Vehicle, prepared: PreparedSwap) -> SwapOutcome {
    let (tx, rx) = mpsc::channel();
    v.request_swap(Ok(prepared), Some(Box::new(move |o| tx.send(o).unwrap())));
    for _ in 0..u64::from(CANARY) + PROBATION + 20 {
        v.step();
        if let Ok(o) = rx.try_recv() {
            return o;
        }
    }
    panic!("no outcome");
}

fn running_version(v: &Vehicle) -> String {
    v.plugins()[0].library().info().version.clone()
}

#[test]
fn a_failed_rollback_is_reported_as_failed_not_as_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut v = vehicle(&ONCE_ONLY, Some(store.clone()));
    v.step();
    v.drain_events();
    let outcome = swap(&mut v, staged(&FAILS_LATER, "2.0.0"));

    // Rolling back needed a new 1.0.0 instance, which could not be made:
    // 2.0.0 still runs, and everything says so.
    assert_eq!(running_version(&v), "2.0.0");
    let SwapOutcome::RollbackFailed {
        rolled_back,
        kept,
        reason,
        error,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert!(rolled_back.is_empty(), "{rolled_back:?}");
    assert_eq!(
        (kept[0].subsystem.as_str(), kept[0].to.as_str()),
        ("probe", "2.0.0")
    );
    assert!(reason.contains("tick"), "{reason}");
    assert!(error.contains("created once only"), "{error}");
    assert_eq!(v.swap_engine().active()["probe"].version, "2.0.0");
    v.swap_engine().flush_store();
    let m = store.manifest().unwrap().unwrap();
    assert_eq!(m.active["probe"].version, "2.0.0", "{m:?}");
    assert_eq!(m.state, ManifestState::RollbackFailed, "{m:?}");
    let events = v.drain_events();
    assert!(
        !events.iter().any(|e| e.kind == "plugin.rollback"),
        "{events:?}"
    );
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "plugin.rollback_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(failed[0].fields["running"], "2.0.0");
    assert!(
        failed[0].detail.contains("2.0.0 keeps running"),
        "{failed:?}"
    );
    // A restart does not trust what failed probation: it goes back to the
    // last good set (here the plugin directory's library).
    let (set, warnings) = store.known_good().unwrap();
    assert!(set.is_empty(), "{set:?}");
    assert!(
        warnings[0].contains("could not be rolled back"),
        "{warnings:?}"
    );
}

#[test]
fn a_replacement_for_a_disabled_plugin_commits_only_after_a_canary_that_really_ran() {
    let mut v = vehicle(&PANICS, None);
    v.step();
    assert!(v.plugins()[0].is_poisoned(), "the live probe is disabled");

    // A candidate that fails whenever it runs must be refused by its canary.
    let outcome = swap(&mut v, staged(&NAN, "2.0.0"));
    assert!(
        matches!(&outcome, SwapOutcome::Rejected(e) if e.kind() == "canary"),
        "{outcome:?}"
    );
    assert_eq!(running_version(&v), "1.0.0");

    // A healthy one replaces the disabled instance after CANARY shadow ticks
    // on the live inputs, then PROBATION live ones.
    GOOD_TICKS.store(0, Ordering::SeqCst);
    let outcome = swap(&mut v, staged(&GOOD, "2.0.0"));
    assert!(matches!(outcome, SwapOutcome::Passed(_)), "{outcome:?}");
    assert_eq!(running_version(&v), "2.0.0");
    assert!(!v.plugins()[0].is_poisoned());
    let ran = GOOD_TICKS.load(Ordering::SeqCst);
    assert!(
        ran >= u64::from(CANARY) + PROBATION,
        "the candidate ran {ran} ticks"
    );
}
