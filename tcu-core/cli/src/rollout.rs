//! `tcu ota package` and `tcu ota publish`: bundling a plugin library (and
//! its signature) as an SWU, vetting the library a bundle carries against
//! the running one on recorded traces (the gate in front of a publish), and
//! handing a bundle to a management server.

use crate::inspect::{InspectError, inspect_isolated};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tcu_engine::swap::sign;
use tcu_ota_client::OtaError;
use tcu_ota_client::publish::hawkbit::{Hawkbit, Rollout};
use tcu_ota_client::publish::{Goosebit, ManagementApi};

/// How long reading a library's descriptor may take.
const INSPECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A rollout step failed.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The library's descriptor could not be read.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// The running executable, which reads the descriptor in a child
    /// process, could not be found.
    #[error("finding the tcu executable to inspect {path}: {source}")]
    Executable {
        /// The library.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The bundle could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The bundle file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The management server refused or failed.
    #[error(transparent)]
    Server(#[from] OtaError),
    /// The bundle's library could not be vetted (its report, when vetting
    /// ran, is printed before).
    #[error("not published: vetting {bundle}: {reason}")]
    Vetting {
        /// The bundle.
        bundle: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// Largest bundle the vetting gate unpacks.
pub const MAX_VETTED_BUNDLE: u64 = 512 << 20;

/// What a bundle is vetted against before it is published.
#[derive(Debug, Clone)]
pub struct VetGate {
    /// The library the vehicles run now.
    pub current: PathBuf,
    /// Trace files or directories of them.
    pub traces: Vec<PathBuf>,
    /// Tolerance file.
    pub tolerances: Option<PathBuf>,
}

/// Vets the one library `bundle` carries against `gate.current` on
/// `gate.traces`; the report, whatever its verdict. A bundle of more or
/// fewer than one library, or one that cannot be unpacked, is an error.
pub fn vet_bundle(bundle: &Path, gate: &VetGate) -> Result<tcu_vet::Report, RolloutError> {
    let fail = |reason: String| RolloutError::Vetting {
        bundle: bundle.to_owned(),
        reason,
    };
    let dir = tempfile::tempdir().map_err(|e| fail(format!("a directory to unpack into: {e}")))?;
    let images =
        tcu_ota_client::swu::unpack(bundle, dir.path(), MAX_VETTED_BUNDLE).map_err(fail)?;
    let [image] = images.as_slice() else {
        return Err(fail(format!(
            "the gate vets a bundle of one library; this one holds {}",
            images.len()
        )));
    };
    crate::vet::report(&crate::vet::Args {
        current: gate.current.clone(),
        candidate: image.path.clone(),
        traces: gate.traces.clone(),
        tolerances: gate.tolerances.clone(),
        junit: None,
        json: false,
    })
    .map_err(|e| fail(e.to_string()))
}

/// Bundles `plugin` (with `sig`, or `PLUGIN.sig` when it exists) into the
/// SWU `out`, versioned `version` (default: the plugin's own) for
/// `hw_revisions`; returns what was written, for the user.
pub fn package(
    plugin: &Path,
    sig: Option<PathBuf>,
    version: Option<String>,
    hw_revisions: &[String],
    out: &Path,
) -> Result<String, RolloutError> {
    // Opening a library runs its initialisers: read its descriptor in a
    // child process, as `tcu plugin inspect` does.
    let exe = std::env::current_exe().map_err(|source| RolloutError::Executable {
        path: plugin.to_owned(),
        source,
    })?;
    let info = inspect_isolated(&exe, plugin, INSPECT_TIMEOUT)?;
    let sig = sig.or_else(|| Some(sign::sig_path(plugin)).filter(|p| p.is_file()));
    let version = version.unwrap_or_else(|| info.version.clone());
    tcu_ota_client::swu::write(
        out,
        &version,
        hw_revisions,
        &[tcu_ota_client::swu::Image {
            name: info.name.clone(),
            version: info.version.clone(),
            file: plugin.to_owned(),
            sig: sig.clone(),
        }],
    )
    .map_err(|source| RolloutError::Write {
        path: out.to_owned(),
        source,
    })?;
    Ok(format!(
        "wrote {} ({} {}, {})",
        out.display(),
        info.name,
        info.version,
        if sig.is_some() { "signed" } else { "unsigned" }
    ))
}

/// Which management API a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    /// goosebit's REST API.
    Goosebit,
    /// hawkBit's Management API (`/rest/v1`).
    Hawkbit,
}

/// Uploads `bundle` to the server at `server` (speaking `api`) and assigns
/// it to `device`; returns what was done, for the user.
pub fn publish(
    api: Api,
    server: &str,
    bundle: &Path,
    device: &str,
    user: &str,
    password: &str,
) -> Result<String, RolloutError> {
    let mut api: Box<dyn ManagementApi> = match api {
        Api::Goosebit => Box::new(Goosebit::login(server, user, password)?),
        Api::Hawkbit => Box::new(Hawkbit::new(server, user, password)?),
    };
    let id = api.upload(bundle)?;
    api.assign(device, &id)?;
    Ok(format!(
        "uploaded {} as software {id}; assigned to {device}",
        bundle.display()
    ))
}

/// What `tcu ota rollout` creates on a hawkBit server.
#[derive(Debug, Clone)]
pub struct RolloutRequest {
    /// The bundle to roll out.
    pub bundle: PathBuf,
    /// The rollout's name.
    pub name: String,
    /// Which targets (hawkBit's query, e.g. `controllerId==WTCUZ*`).
    pub filter: String,
    /// Groups the targets are split into.
    pub groups: u32,
    /// Percent of a group that must succeed before the next one starts.
    pub success_percent: u8,
    /// Percent of a group failing that pauses the rollout.
    pub error_percent: u8,
}

/// Uploads the bundle to the hawkBit server at `server` (a software module,
/// its artifact and a distribution set), then creates and starts a rollout
/// of it over the targets the filter matches, in groups; what was done.
pub fn hawkbit_rollout(
    server: &str,
    user: &str,
    password: &str,
    r: &RolloutRequest,
) -> Result<String, RolloutError> {
    let mut api = Hawkbit::new(server, user, password)?;
    let targets = api.targets(Some(&r.filter))?;
    if targets.is_empty() {
        return Err(RolloutError::Server(OtaError::Api {
            what: format!("finding the targets of `{}`", r.filter),
            status: 200,
            body: "no target matches".into(),
        }));
    }
    let set = api.upload(&r.bundle)?;
    let id = api.start_rollout(&Rollout {
        name: r.name.clone(),
        distribution_set: set.clone(),
        filter: r.filter.clone(),
        groups: r.groups,
        success_percent: r.success_percent,
        error_percent: r.error_percent,
    })?;
    Ok(format!(
        "rollout {id} started: distribution set {set} to {} targets in {} groups (next group at {} % success, paused at {} % errors)",
        targets.len(),
        r.groups,
        r.success_percent,
        r.error_percent
    ))
}
