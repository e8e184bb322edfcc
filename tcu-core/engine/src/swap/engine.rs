//! The second half of a swap, on the tick thread: compatibility checks,
//! state transfer, canary, commit, probation and rollback. Owned by
//! [`crate::sim::Vehicle`], which calls it around every plugin tick and once
//! between ticks; nothing here blocks or touches the disk (manifests go to
//! the store's writer thread).

use super::store::{Entry, Manifest, ManifestState, ManifestWriter, PluginSet, Store};
use super::{Change, PreparedSwap, SwapError, SwapOutcome};
use crate::bus::{Bus, Writer};
use crate::plugin::{PluginInstance, PluginLibrary, TickError};
use crate::reply::Reply;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tcu_sdk::rng::derive_seed;

/// Swap timing and seeding.
#[derive(Debug, Clone)]
pub struct SwapSettings {
    /// Shadow ticks before commit.
    pub canary_ticks: u32,
    /// Ticks of probation after commit.
    pub probation_ticks: u64,
    /// The vehicle's seed (new instances get the same per-subsystem seed as
    /// the loader gives).
    pub seed: u64,
}

/// An event the vehicle should raise: kind, detail, fields.
pub(crate) type Raised = (&'static str, String, BTreeMap<String, String>);

struct Request {
    prepared: Result<PreparedSwap, SwapError>,
    reply: Option<Reply<SwapOutcome>>,
}

struct Candidate {
    subsystem: String,
    instance: PluginInstance,
    entry: Entry,
    /// Ran in shadow since the last tick boundary.
    ran: bool,
}

struct Canary {
    candidates: Vec<Candidate>,
    /// Ticks in which every candidate ran in shadow.
    done: u32,
    failure: Option<SwapError>,
    reply: Option<Reply<SwapOutcome>>,
}

impl Canary {
    fn targets(&self, plugins: &[PluginInstance]) -> Targets {
        targets_of(
            self.candidates
                .iter()
                .map(|c| (c.subsystem.clone(), c.entry.version.clone())),
            plugins,
        )
    }
}

struct Previous {
    subsystem: String,
    library: Arc<PluginLibrary>,
    snapshot: Option<Vec<u8>>,
}

struct Probation {
    until_tick: u64,
    previous: Vec<Previous>,
    changes: Vec<Change>,
    failure: Option<String>,
    prev_active: PluginSet,
    reply: Option<Reply<SwapOutcome>>,
}

/// Swap state of one vehicle.
pub struct SwapEngine {
    settings: SwapSettings,
    queue: VecDeque<Request>,
    canary: Option<Canary>,
    probation: Option<Probation>,
    writer: Option<ManifestWriter>,
    active: PluginSet,
}

impl std::fmt::Debug for SwapEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwapEngine")
            .field("settings", &self.settings)
            .field("queued", &self.queue.len())
            .field("in_canary", &self.canary.is_some())
            .field("in_probation", &self.probation.is_some())
            .field("active", &self.active)
            .finish()
    }
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl SwapEngine {
    /// An engine; `store` (persistent or not) records the active set, which
    /// starts as `active` (what the vehicle was loaded with from the store).
    pub fn new(settings: SwapSettings, store: Option<Store>, active: PluginSet) -> Self {
        Self {
            settings,
            queue: VecDeque::new(),
            canary: None,
            probation: None,
            writer: store
                .filter(Store::is_persistent)
                .map(ManifestWriter::start),
            active,
        }
    }

    /// Queues a transaction (or a preparation failure, to be reported).
    pub fn request(
        &mut self,
        prepared: Result<PreparedSwap, SwapError>,
        reply: Option<Reply<SwapOutcome>>,
    ) {
        self.queue.push_back(Request { prepared, reply });
    }

    /// True while a transaction is queued, in canary or in probation.
    pub fn busy(&self) -> bool {
        !self.queue.is_empty() || self.canary.is_some() || self.probation.is_some()
    }

    /// Store entries of the subsystems not running their plugin-directory
    /// library.
    pub fn active(&self) -> &PluginSet {
        &self.active
    }

    /// Waits until every manifest written so far is on disk.
    pub fn flush_store(&self) {
        if let Some(w) = &self.writer {
            w.flush();
        }
    }

    /// Before the live tick of `name`: its canary, if any, ticks in shadow on
    /// the same bus state.
    #[inline]
    pub(crate) fn shadow(&mut self, name: &str, dt: f64, bus: &Bus) {
        let Some(c) = &mut self.canary else { return };
        if c.failure.is_some() {
            return;
        }
        let Some(cand) = c.candidates.iter_mut().find(|x| x.subsystem == name) else {
            return;
        };
        cand.ran = true;
        if let Err(e) = cand.instance.tick_shadow(dt, bus) {
            c.failure = Some(SwapError::Canary {
                subsystem: cand.subsystem.clone(),
                version: cand.entry.version.clone(),
                tick: c.done + 1,
                reason: e.to_string(),
            });
        }
    }

    /// A live tick of `name` failed: on probation, that fails the transaction.
    pub(crate) fn live_error(&mut self, name: &str, error: &TickError) {
        if let Some(p) = &mut self.probation
            && p.failure.is_none()
            && p.changes.iter().any(|c| c.subsystem == name)
        {
            p.failure = Some(error.to_string());
        }
    }

    /// Between two ticks (`tick` ticks done): advances the transaction.
    /// Returns true when the set of plugins changed (the caller re-sorts).
    pub(crate) fn between_ticks(
        &mut self,
        tick: u64,
        plugins: &mut [PluginInstance],
        bus: &mut Bus,
        raised: &mut Vec<Raised>,
    ) -> bool {
        let mut changed = false;
        if let Some(p) = self.probation.take() {
            if let Some(reason) = p.failure.clone() {
                self.roll_back(p, reason, plugins, bus, raised);
                changed = true;
            } else if tick >= p.until_tick {
                self.pass(p, raised);
            } else {
                self.probation = Some(p);
            }
        }
        if let Some(mut c) = self.canary.take() {
            if let Some(e) = c.failure.take() {
                let targets = c.targets(plugins);
                reject(e, c.reply.take(), raised, &targets);
            } else {
                // A tick counts only when every candidate really ran on
                // this tick's live inputs.
                if c.candidates.iter().all(|x| x.ran) {
                    c.done += 1;
                }
                for cand in &mut c.candidates {
                    cand.ran = false;
                }
                if c.done >= self.settings.canary_ticks {
                    changed |= self.commit(c, tick, plugins, bus, raised);
                } else {
                    self.canary = Some(c);
                }
            }
        }
        if self.canary.is_none()
            && self.probation.is_none()
            && let Some(req) = self.queue.pop_front()
        {
            match req.prepared {
                Err(e) => reject(e, req.reply, raised, &Targets::new()),
                Ok(prepared) => {
                    let targets = targets_of(
                        prepared
                            .libs
                            .iter()
                            .map(|l| (l.subsystem.clone(), l.entry.version.clone())),
                        plugins,
                    );
                    match begin(prepared, &self.settings, plugins, bus) {
                        Err(e) => reject(e, req.reply, raised, &targets),
                        Ok(candidates) => {
                            let c = Canary {
                                candidates,
                                done: 0,
                                failure: None,
                                reply: req.reply,
                            };
                            if self.settings.canary_ticks == 0 {
                                changed |= self.commit(c, tick, plugins, bus, raised);
                            } else {
                                self.canary = Some(c);
                            }
                        }
                    }
                }
            }
        }
        changed
    }

    fn commit(
        &mut self,
        mut c: Canary,
        tick: u64,
        plugins: &mut [PluginInstance],
        bus: &mut Bus,
        raised: &mut Vec<Raised>,
    ) -> bool {
        // Re-sync every candidate with the live state first; only when all
        // succeed is anything replaced.
        let targets = c.targets(plugins);
        let mut snapshots = Vec::with_capacity(c.candidates.len());
        for cand in &mut c.candidates {
            let Some(live) = plugins.iter_mut().find(|p| p.name() == cand.subsystem) else {
                reject(
                    SwapError::NotRunning(cand.subsystem.clone()),
                    c.reply.take(),
                    raised,
                    &targets,
                );
                return false;
            };
            let snapshot = if live.is_poisoned() {
                None
            } else {
                match live.snapshot() {
                    Ok(s) => Some(s),
                    Err(e) => {
                        let err = SwapError::State {
                            subsystem: cand.subsystem.clone(),
                            reason: e.to_string(),
                        };
                        reject(err, c.reply.take(), raised, &targets);
                        return false;
                    }
                }
            };
            if let Some(s) = &snapshot
                && let Err(e) = cand.instance.restore(s)
            {
                let err = SwapError::State {
                    subsystem: cand.subsystem.clone(),
                    reason: e.to_string(),
                };
                reject(err, c.reply.take(), raised, &targets);
                return false;
            }
            snapshots.push(snapshot);
        }
        let prev_active = self.active.clone();
        let mut previous = Vec::new();
        let mut changes = Vec::new();
        for (cand, snapshot) in c.candidates.into_iter().zip(snapshots) {
            let Some(slot) = plugins.iter_mut().find(|p| p.name() == cand.subsystem) else {
                continue;
            };
            let writer = Writer::Plugin(cand.subsystem.clone());
            bus.release(&writer);
            for id in cand.instance.library().writes() {
                // Compatibility was checked when the transaction began.
                let _ = bus.claim(*id, writer.clone());
            }
            let change = Change {
                subsystem: cand.subsystem.clone(),
                from: slot.library().info().version.clone(),
                to: cand.entry.version.clone(),
            };
            previous.push(Previous {
                subsystem: cand.subsystem.clone(),
                library: slot.library().clone(),
                snapshot,
            });
            // The old instance is destroyed here; its library stays mapped.
            *slot = cand.instance;
            self.active.insert(cand.subsystem.clone(), cand.entry);
            raised.push((
                "plugin.swapped",
                format!("{} {} -> {}", change.subsystem, change.from, change.to),
                fields(&[
                    ("subsystem", &change.subsystem),
                    ("from", &change.from),
                    ("to", &change.to),
                ]),
            ));
            changes.push(change);
        }
        let p = Probation {
            until_tick: tick + self.settings.probation_ticks,
            previous,
            changes,
            failure: None,
            prev_active: prev_active.clone(),
            reply: c.reply,
        };
        if self.settings.probation_ticks == 0 {
            self.pass(p, raised);
        } else {
            self.write_manifest(ManifestState::Probation, prev_active);
            self.probation = Some(p);
        }
        true
    }

    fn pass(&mut self, p: Probation, raised: &mut Vec<Raised>) {
        for c in &p.changes {
            raised.push((
                "plugin.probation_passed",
                format!("{} {} passed probation", c.subsystem, c.to),
                fields(&[("subsystem", &c.subsystem), ("version", &c.to)]),
            ));
        }
        self.write_manifest(ManifestState::Good, p.prev_active);
        if let Some(reply) = p.reply {
            reply(SwapOutcome::Passed(p.changes));
        }
    }

    fn roll_back(
        &mut self,
        p: Probation,
        reason: String,
        plugins: &mut [PluginInstance],
        bus: &mut Bus,
        raised: &mut Vec<Raised>,
    ) {
        let mut rolled_back = Vec::new();
        let mut kept = Vec::new();
        let mut errors = Vec::new();
        for (prev, change) in p.previous.into_iter().zip(p.changes) {
            let Some(slot) = plugins.iter_mut().find(|x| x.name() == prev.subsystem) else {
                continue;
            };
            let seed = derive_seed(self.settings.seed, &prev.subsystem);
            let restored = PluginInstance::create(prev.library.clone(), seed)
                .map_err(|e| e.to_string())
                .and_then(|mut inst| {
                    if let Some(s) = &prev.snapshot {
                        inst.restore(s).map_err(|e| e.to_string())?;
                    }
                    Ok(inst)
                });
            match restored {
                Ok(inst) => {
                    let writer = Writer::Plugin(prev.subsystem.clone());
                    bus.release(&writer);
                    for id in inst.library().writes() {
                        let _ = bus.claim(*id, writer.clone());
                    }
                    let from = slot.library().info().version.clone();
                    let to = inst.library().info().version.clone();
                    *slot = inst;
                    // The subsystem runs what it ran before the commit again:
                    // its store entry, or the plugin directory's library.
                    match p.prev_active.get(&prev.subsystem) {
                        Some(entry) => self.active.insert(prev.subsystem.clone(), entry.clone()),
                        None => self.active.remove(&prev.subsystem),
                    };
                    raised.push((
                        "plugin.rollback",
                        format!("{} {from} -> {to}: {reason}", prev.subsystem),
                        fields(&[
                            ("subsystem", &prev.subsystem),
                            ("from", &from),
                            ("to", &to),
                            ("reason", &reason),
                        ]),
                    ));
                    rolled_back.push(change);
                }
                Err(e) => {
                    // The new version keeps running, and stays in the active
                    // set: every record says what actually runs.
                    raised.push((
                        "plugin.rollback_failed",
                        format!(
                            "rolling {} {} back to {} failed: {e}; {} keeps running",
                            change.subsystem, change.to, change.from, change.to
                        ),
                        fields(&[
                            ("subsystem", &change.subsystem),
                            ("running", &change.to),
                            ("wanted", &change.from),
                            ("reason", &reason),
                            ("error", &e),
                        ]),
                    ));
                    errors.push(format!("{} {}: {e}", change.subsystem, change.from));
                    kept.push(change);
                }
            }
        }
        if kept.is_empty() {
            self.write_manifest(ManifestState::Good, p.prev_active);
            if let Some(reply) = p.reply {
                reply(SwapOutcome::RolledBack {
                    changes: rolled_back,
                    reason,
                });
            }
        } else {
            // What runs did not pass probation: a restart goes back to the
            // last good set.
            self.write_manifest(ManifestState::RollbackFailed, p.prev_active);
            if let Some(reply) = p.reply {
                reply(SwapOutcome::RollbackFailed {
                    rolled_back,
                    kept,
                    reason,
                    error: errors.join("; "),
                });
            }
        }
    }

    fn write_manifest(&self, state: ManifestState, previous: PluginSet) {
        if let Some(w) = &self.writer {
            w.submit(Manifest {
                format: 1,
                state,
                active: self.active.clone(),
                previous,
            });
        }
    }
}

/// Subsystem, running version and refused version of each library of a
/// transaction, for the rejection event.
type Targets = Vec<(String, String, String)>;

fn targets_of(libs: impl Iterator<Item = (String, String)>, plugins: &[PluginInstance]) -> Targets {
    libs.map(|(name, to)| {
        let from = plugins
            .iter()
            .find(|p| p.name() == name)
            .map_or_else(String::new, |p| p.library().info().version.clone());
        (name, from, to)
    })
    .collect()
}

fn reject(
    e: SwapError,
    reply: Option<Reply<SwapOutcome>>,
    raised: &mut Vec<Raised>,
    targets: &Targets,
) {
    let join = |f: fn(&(String, String, String)) -> &String| {
        targets
            .iter()
            .map(|t| f(t).as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut f = fields(&[("kind", e.kind()), ("reason", &e.to_string())]);
    if !targets.is_empty() {
        f.insert("subsystem".into(), join(|t| &t.0));
        f.insert("from".into(), join(|t| &t.1));
        f.insert("to".into(), join(|t| &t.2));
    }
    raised.push(("plugin.rejected", e.to_string(), f));
    if let Some(reply) = reply {
        reply(SwapOutcome::Rejected(e));
    }
}

/// Checks the transaction against the running vehicle and creates the new
/// instances with the live state restored into them.
fn begin(
    prepared: PreparedSwap,
    settings: &SwapSettings,
    plugins: &mut [PluginInstance],
    bus: &Bus,
) -> Result<Vec<Candidate>, SwapError> {
    if prepared.libs.is_empty() {
        return Err(SwapError::Empty);
    }
    let mut out: Vec<Candidate> = Vec::new();
    for staged in prepared.libs {
        let name = staged.subsystem.clone();
        if out.iter().any(|c| c.subsystem == name) {
            return Err(SwapError::Duplicate(name));
        }
        let Some(live) = plugins.iter_mut().find(|p| p.name() == name) else {
            return Err(SwapError::NotRunning(name));
        };
        let version = staged.entry.version.clone();
        let incompatible = |reason: String| SwapError::Incompatible {
            subsystem: name.clone(),
            version: version.clone(),
            reason,
        };
        for id in live.library().writes() {
            if !staged.library.writes().contains(id) {
                return Err(incompatible(format!(
                    "does not write `{}`, which the running version writes",
                    bus.meta(*id).path
                )));
            }
        }
        let me = Writer::Plugin(name.clone());
        for id in staged.library.writes() {
            if let Some(owner) = bus.owner_conflict(*id, &me) {
                return Err(incompatible(format!(
                    "`{}` is already written by {owner}",
                    bus.meta(*id).path
                )));
            }
        }
        let seed = derive_seed(settings.seed, &name);
        let mut instance = PluginInstance::create(Arc::new(staged.library), seed)?;
        if !live.is_poisoned() {
            let snap = live.snapshot().map_err(|e| SwapError::State {
                subsystem: name.clone(),
                reason: e.to_string(),
            })?;
            instance.restore(&snap).map_err(|e| SwapError::State {
                subsystem: name.clone(),
                reason: format!("restoring into {version}: {e}"),
            })?;
        }
        out.push(Candidate {
            subsystem: name,
            instance,
            entry: staged.entry,
            ran: false,
        });
    }
    Ok(out)
}
