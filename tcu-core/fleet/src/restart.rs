//! A fleet vehicle with OTA starts from its own plugin store, as `tcu run
//! --store` does: the store's known-good set (the previous one when the
//! last swap had not passed probation) in place of the shared libraries of
//! those subsystems, its swap engine recording into that store. The same
//! start serves a vehicle the fleet file powers off during probation
//! (`[ota.misbehave] power_off`): it is dropped in the middle of its
//! probation and built again from its store with a new OTA client, which
//! finds the action it was installing in its persisted state and reports
//! its outcome, as a TCU does after a power cut. Its MQTT link and command
//! channel stay (the link models the modem, which this simulates as
//! staying up).

use crate::FleetError;
use crate::ota::{Attached, FleetOta, OtaMember, Pool};
use crate::plan::Member;
use crate::worker::{Restart, Slot};
use std::sync::Arc;
use tcu_engine::build::{build_vehicle_shared, start_check, swap_settings};
use tcu_engine::catalog::Catalog;
use tcu_engine::config::VehicleConfig;
use tcu_engine::control::ControlHandle;
use tcu_engine::plugin::PluginLibrary;
use tcu_engine::sim::TickHook;
use tcu_engine::sim::Vehicle;
use tcu_engine::swap::store::Store;
use tcu_engine::swap::{SwapEngine, SwapPolicy};

/// The vehicle `config` describes, started from its store in the fleet's
/// state directory, made a DDI controller.
pub(crate) fn start(
    ota: &FleetOta,
    m: &Member,
    config: &VehicleConfig,
    (catalog, libs): (&Arc<Catalog>, &[Arc<PluginLibrary>]),
    (control, link): (&ControlHandle, Option<&str>),
) -> Result<(Vehicle, Attached), FleetError> {
    let dir = ota.state_dir.join(&m.vin);
    let store = Store::open(&dir.join("store")).map_err(|e| FleetError::Build(e.into()))?;
    let (active, warnings) = store
        .known_good()
        .map_err(|e| FleetError::Build(e.into()))?;
    let policy =
        SwapPolicy::from_config(&config.hotswap).map_err(|e| FleetError::Build(e.into()))?;
    let check = start_check(&policy);
    let mut mine: Vec<Arc<PluginLibrary>> = libs.to_vec();
    let mut notes = warnings;
    for (name, entry) in &active {
        let path = store.path_of(entry);
        let opened = std::fs::read(&path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|bytes| {
                check(&path, &bytes).map_err(|e| e.to_string())?;
                PluginLibrary::open_bytes(&path, &bytes, catalog).map_err(|e| e.to_string())
            });
        match opened {
            Ok(lib) => {
                mine.retain(|l| l.name() != name);
                mine.push(Arc::new(lib));
            }
            Err(e) => notes.push(format!("{e}; using the plugin directory's {name}")),
        }
    }
    let (mut v, _) = build_vehicle_shared(config, catalog.clone(), &mine)?;
    v.set_swap_engine(SwapEngine::new(
        swap_settings(config),
        Some(store.clone()),
        active,
    ));
    for n in notes {
        v.raise("plugin.store", n);
    }
    let attached = ota
        .attach
        .attach(OtaMember {
            vin: &m.vin,
            seed: m.seed,
            vehicle: &v,
            control: control.clone(),
            store,
            dir: &dir,
            link,
        })
        .map_err(|message| FleetError::Ota {
            vin: m.vin.clone(),
            message,
        })?;
    Ok((v, attached))
}

/// What a power-off needs to start a vehicle again.
pub(crate) struct Restarter {
    /// Per slot index: member, configuration (with its draw), control,
    /// its own link.
    pub members: Vec<(Member, VehicleConfig, ControlHandle, Option<String>)>,
    pub catalog: Arc<Catalog>,
    pub libs: Vec<Arc<PluginLibrary>>,
    pub ota: FleetOta,
    pub pool: Pool,
}

impl Restart for Restarter {
    fn restart(&self, slot: &mut Slot) {
        let Some((m, config, control, link)) = self.members.get(slot.index) else {
            return;
        };
        // What the store has recorded so far is what survives the cut.
        slot.vehicle.swap_engine().flush_store();
        tracing::warn!(vin = %m.vin, "powered off during probation; starting again from its store");
        match start(
            &self.ota,
            m,
            config,
            (&self.catalog, &self.libs),
            (control, link.as_deref()),
        ) {
            Ok((v, attached)) => {
                // The new client replaces the old one before the old one
                // polls again; dropping the old vehicle ends the old
                // client's wait for its swap.
                self.pool.replace(slot.index, attached.poller);
                // The vehicle stays counted in its last OTA state until
                // the new client says otherwise.
                slot.ota = Some(attached.hook);
                let old = std::mem::replace(&mut slot.vehicle, v);
                drop(old);
                // Its plugin loads go out as events, and the link learns
                // the versions that run now (its retained status).
                let events = slot.vehicle.drain_events();
                slot.mqtt.after_tick(&slot.vehicle, &events);
            }
            Err(e) => tracing::error!(vin = %m.vin, "starting again after the power-off: {e}"),
        }
    }
}
