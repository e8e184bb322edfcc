//! `tcu fleet --ota-server`: makes every vehicle of a fleet its own DDI
//! controller (controller id = VIN) with the client and installer `tcu run`
//! uses, its staging directory in the vehicle's state directory, and one
//! artifact cache for the whole process, so an artifact many vehicles need
//! is downloaded and verified once and then installed per vehicle through
//! its own swap transaction and probation.

use crate::config::Config;
use crate::ota::{OtaHook, VehicleInstaller, Versions, client_config, versions_of};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tcu_engine::catalog::Catalog;
use tcu_engine::swap::SwapPolicy;
use tcu_fleet::ota::{Attached, OtaAttach, OtaMember, Poller};
use tcu_ota_client::{ArtifactCache, Client, OtaError};

/// Makes the fleet's vehicles DDI controllers of one server.
#[derive(Debug)]
pub struct FleetClients {
    config: Config,
    server: String,
    policy: SwapPolicy,
    catalog: Arc<Catalog>,
    cache: Arc<ArtifactCache>,
}

impl FleetClients {
    /// Clients of `server` configured as `config` says (its `[ota]` and
    /// `[hotswap]`), sharing the artifact cache in `cache_dir`.
    pub fn new(config: &Config, server: &str, cache_dir: &Path) -> Result<Self, OtaError> {
        let policy =
            SwapPolicy::from_config(&config.vehicle.hotswap).map_err(|e| OtaError::Config {
                field: "hotswap.trusted_keys".into(),
                message: e.to_string(),
            })?;
        Ok(Self {
            config: config.clone(),
            server: server.to_owned(),
            policy,
            catalog: Arc::new(Catalog::builtin()),
            cache: Arc::new(ArtifactCache::open(cache_dir)?),
        })
    }
}

/// One vehicle's client, as the fleet's pool polls it.
struct Polled(Client<VehicleInstaller>);

impl Poller for Polled {
    fn poll(&mut self, stop: &AtomicBool) -> Duration {
        self.0.step(stop)
    }
}

impl OtaAttach for FleetClients {
    fn attach(&self, m: OtaMember<'_>) -> Result<Attached, String> {
        let mut config = self.config.clone();
        config.vehicle.vin = m.vin.to_owned();
        config.vehicle.seed = m.seed;
        config.ota.controller_id = m.vin.to_owned();
        config.ota.staging_dir = m.dir.join("ota");
        let versions: Versions = Arc::new(Mutex::new(versions_of(m.vehicle)));
        let installer = VehicleInstaller::new(
            self.policy.clone(),
            self.catalog.clone(),
            m.store,
            m.control,
            versions.clone(),
        );
        // A vehicle with a link of its own downloads through it.
        let mut cfg = client_config(&config, m.link.unwrap_or(&self.server));
        if m.link.is_none() {
            cfg.cache = Some(self.cache.clone());
        }
        let (tx, rx) = mpsc::channel();
        let client = Client::new(cfg, installer)
            .map_err(|e| e.to_string())?
            .with_events(tx);
        let hook = OtaHook::new(rx, versions, client.waker());
        Ok(Attached {
            poller: Box::new(Polled(client)),
            hook: Box::new(hook),
        })
    }

    fn downloads(&self) -> u64 {
        self.cache.fetches()
    }
}
