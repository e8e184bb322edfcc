//! The vehicle's side of OTA: the [`Installer`] of the DDI client, which
//! turns the verified artifacts of an action into one hot-swap transaction
//! and waits for its final outcome (after probation), and a tick hook that
//! raises the client's state changes as `ota.state` events and keeps the
//! installed versions current for the client's configData. The hook also
//! carries the client's [`Waker`], which the dashboard's "poll OTA now" key
//! uses.
//!
//! Before anything is swapped, every library must be what its chunk says:
//! the subsystem and version the chunk (or SWU image) declares must be the
//! ones in the library's own descriptor. The descriptor is the one the
//! hot-swap preparation read after it checked the signature, never one
//! read earlier: opening a library runs its ELF initialisers, which an
//! unverified download must not get to do. One disagreeing chunk refuses
//! the whole action, naming both sides.

use crate::config::Config;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, mpsc};
use tcu_engine::catalog::Catalog;
use tcu_engine::control::{ControlHandle, ControlMsg};
use tcu_engine::sim::{Event, TickHook, Vehicle};
use tcu_engine::swap::store::Store;
use tcu_engine::swap::{PreparedSwap, SwapOutcome, SwapPolicy, prepare};
use tcu_ota_client::{
    Client, ClientConfig, InstallChunk, InstallError, Installer, OtaEvent, Waker,
};

/// Running subsystem versions, shared between the tick thread and the
/// client.
pub type Versions = Arc<Mutex<BTreeMap<String, String>>>;

/// Installs through the hot-swap transaction.
#[derive(Debug)]
pub struct VehicleInstaller {
    policy: SwapPolicy,
    catalog: Arc<Catalog>,
    store: Store,
    control: ControlHandle,
    versions: Versions,
}

impl VehicleInstaller {
    /// An installer sending swaps to `control`.
    pub fn new(
        policy: SwapPolicy,
        catalog: Arc<Catalog>,
        store: Store,
        control: ControlHandle,
        versions: Versions,
    ) -> Self {
        Self {
            policy,
            catalog,
            store,
            control,
            versions,
        }
    }
}

impl Installer for VehicleInstaller {
    fn install(
        &mut self,
        chunks: Vec<InstallChunk>,
    ) -> Result<Vec<(String, String)>, InstallError> {
        let requests: Vec<(String, PathBuf)> = chunks
            .iter()
            .map(|c| (c.subsystem.clone(), c.library.clone()))
            .collect();
        let prepared = prepare(&requests, &self.policy, &self.catalog, &self.store);
        if let Ok(p) = &prepared {
            check_declared(&chunks, p).map_err(InstallError::Failed)?;
        }
        let (tx, rx) = mpsc::channel();
        self.control
            .send(ControlMsg::Swap {
                prepared,
                reply: Some(Box::new(move |o| {
                    let _ = tx.send(o);
                })),
            })
            .map_err(|e| InstallError::Interrupted(e.to_string()))?;
        match rx.recv() {
            Ok(SwapOutcome::Passed(changes)) => {
                Ok(changes.into_iter().map(|c| (c.subsystem, c.to)).collect())
            }
            Ok(SwapOutcome::Rejected(e)) => Err(InstallError::Failed(format!(
                "swap rejected ({}): {e}",
                e.kind()
            ))),
            Ok(SwapOutcome::RolledBack { changes, reason }) => {
                let what: Vec<String> = changes
                    .iter()
                    .map(|c| format!("{} {} back to {}", c.subsystem, c.to, c.from))
                    .collect();
                Err(InstallError::Failed(format!(
                    "rolled back during probation ({}): {reason}",
                    what.join(", ")
                )))
            }
            Ok(SwapOutcome::RollbackFailed {
                rolled_back,
                kept,
                reason,
                error,
            }) => {
                let back: Vec<String> = rolled_back
                    .iter()
                    .map(|c| format!(", {} back to {}", c.subsystem, c.from))
                    .collect();
                let running: Vec<String> = kept
                    .iter()
                    .map(|c| format!("{} {}", c.subsystem, c.to))
                    .collect();
                Err(InstallError::RollbackFailed(format!(
                    "failed during probation ({reason}) and rolling back failed ({error}): \
                     the new {} keeps running{}",
                    running.join(", "),
                    back.concat()
                )))
            }
            Err(_) => Err(InstallError::Interrupted(
                "the vehicle stopped before the swap finished".into(),
            )),
        }
    }

    fn installed_versions(&self) -> BTreeMap<String, String> {
        self.versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Refuses a prepared transaction in which a library is not what its
/// chunk declares (subsystem, and version when the chunk gives one);
/// the message names every disagreeing chunk and what its library says.
pub fn check_declared(chunks: &[InstallChunk], prepared: &PreparedSwap) -> Result<(), String> {
    let mut wrong = Vec::new();
    for c in chunks {
        let Some(lib) = prepared.libs.iter().find(|l| l.subsystem == c.subsystem) else {
            wrong.push(format!("chunk `{}` has no prepared library", declared(c)));
            continue;
        };
        let info = lib.library.info();
        let version_ok = c.version.as_deref().is_none_or(|v| v == info.version);
        if info.name != c.subsystem || !version_ok {
            wrong.push(format!(
                "chunk `{}`, library says `{} {}` ({})",
                declared(c),
                info.name,
                info.version,
                c.library.display()
            ));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "refused before installing anything: {}",
            wrong.join("; ")
        ))
    }
}

/// `battery 2.0.0`, or `battery` when the chunk declares no version.
fn declared(c: &InstallChunk) -> String {
    match &c.version {
        Some(v) => format!("{} {v}", c.subsystem),
        None => c.subsystem.clone(),
    }
}

/// The running versions of `vehicle`.
pub fn versions_of(vehicle: &Vehicle) -> BTreeMap<String, String> {
    vehicle
        .plugins()
        .iter()
        .map(|p| (p.name().to_owned(), p.library().info().version.clone()))
        .collect()
}

/// Raises the client's state changes as `ota.state` events, and refreshes
/// the shared versions after every plugin event.
#[derive(Debug)]
pub struct OtaHook {
    events: mpsc::Receiver<OtaEvent>,
    versions: Versions,
    waker: Waker,
    /// The client's thread and its stop flag: dropping the hook (the run
    /// is over) stops the client and waits for it, so that an open action
    /// is left with its state saved, not cut off by the process exiting.
    client: Option<(std::thread::JoinHandle<()>, Arc<AtomicBool>)>,
}

/// How long the end of a run waits for the OTA client to stop (it checks
/// its stop flag every 50 ms, between download chunks and around installs).
pub const OTA_STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl OtaHook {
    /// A hook fed by `events`, for the client that `waker` wakes.
    pub fn new(events: mpsc::Receiver<OtaEvent>, versions: Versions, waker: Waker) -> Self {
        Self {
            events,
            versions,
            waker,
            client: None,
        }
    }

    /// The hook of the client running on `thread`, which stops when `stop`
    /// is set.
    pub fn with_client(
        mut self,
        thread: std::thread::JoinHandle<()>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        self.client = Some((thread, stop));
        self
    }

    /// Makes the client poll now (on the user's behalf).
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }
}

impl Drop for OtaHook {
    fn drop(&mut self) {
        let Some((thread, stop)) = self.client.take() else {
            return;
        };
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let until = std::time::Instant::now() + OTA_STOP_WAIT;
        while !thread.is_finished() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if thread.is_finished() {
            let _ = thread.join();
            tracing::debug!("OTA client stopped");
        } else {
            tracing::warn!(
                "OTA client still busy after {OTA_STOP_WAIT:?}; exiting without it (its action state is on disk)"
            );
        }
    }
}

impl TickHook for OtaHook {
    fn before_tick(&mut self, vehicle: &mut Vehicle) {
        while let Ok(e) = self.events.try_recv() {
            let mut fields = BTreeMap::new();
            let state = serde_json::to_value(e.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            fields.insert("state".to_owned(), state);
            if let Some(a) = &e.action {
                fields.insert("action".to_owned(), a.clone());
            }
            if let Some((n, of)) = e.progress {
                fields.insert("bytes".to_owned(), n.to_string());
                fields.insert("of".to_owned(), of.to_string());
            }
            let versions = self
                .versions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(s, v)| format!("{s}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            fields.insert("versions".to_owned(), versions);
            vehicle.raise_with("ota.state", e.detail, fields);
        }
    }

    fn after_tick(&mut self, vehicle: &Vehicle, events: &[Event]) {
        if events.iter().any(|e| e.kind.starts_with("plugin.")) {
            *self.versions.lock().unwrap_or_else(|p| p.into_inner()) = versions_of(vehicle);
        }
    }
}

/// The client configuration from the vehicle's.
pub fn client_config(config: &Config, server: &str) -> ClientConfig {
    let o = &config.ota;
    let mut c = ClientConfig::new(server, &o.tenant, &o.controller_id, o.staging_dir.clone());
    c.auth = o.auth.clone();
    c.ca_file = o.ca_file.clone();
    c.poll_override = o.poll_interval;
    c.action_poll = o.action_poll_interval;
    c.limits.max_size = o.max_artifact_size;
    c.seed = tcu_sdk::rng::derive_seed(config.vehicle.seed, "ota");
    c.soft_updates = o.soft_updates;
    c.confirmation = o.confirm;
    c.attributes = BTreeMap::from([
        ("VIN".to_owned(), config.vehicle.vin.clone()),
        // hawkBit's usual key, and the one goosebit files the device's
        // hardware revision under.
        ("hwRevision".to_owned(), o.hw_revision.clone()),
        ("hw_revision".to_owned(), o.hw_revision.clone()),
        (
            "abiVersion".to_owned(),
            tcu_sdk::abi::TCU_ABI_VERSION.to_string(),
        ),
    ]);
    c
}

/// Starts the client on a thread of its own when a server is configured.
/// Returns the hook to run in the tick loop.
pub fn start(
    config: &Config,
    vehicle: &Vehicle,
    policy: SwapPolicy,
    catalog: Arc<Catalog>,
    store: Store,
    control: ControlHandle,
    stop: Arc<AtomicBool>,
) -> Result<Option<OtaHook>, tcu_ota_client::OtaError> {
    let Some(server) = &config.ota.server else {
        return Ok(None);
    };
    let versions: Versions = Arc::new(Mutex::new(versions_of(vehicle)));
    let installer = VehicleInstaller::new(policy, catalog, store, control, versions.clone());
    let (tx, rx) = mpsc::channel();
    let mut client = Client::new(client_config(config, server), installer)?.with_events(tx);
    let waker = client.waker();
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("tcu-ota".into())
        .spawn(move || client.run(&flag))
        .map_err(|e| tcu_ota_client::OtaError::Io {
            what: "starting the OTA thread".into(),
            message: e.to_string(),
        })?;
    Ok(Some(
        OtaHook::new(rx, versions, waker).with_client(thread, stop),
    ))
}
