//! The twin document of one vehicle: what it reported (per VSS path: value,
//! the vehicle's timestamp, when the twin received it, seq), what is
//! desired of it and how far each desired value got, the delta between the
//! two, connectivity, plugin versions, OTA state, the last events and the
//! loss counters.
//!
//! Desired state lives through `pending` (not sent yet: the vehicle is
//! offline), `sent` (a `cmd/req` with a fresh id is out), `accepted` (the
//! vehicle answered `accepted`), `applied` (the reported value matches),
//! or `rejected` (the vehicle refused; the value reverts to the reported
//! one and the vehicle's reason is kept) and `expired` (no answer and no
//! matching report within the command timeout). A reply can be lost, so
//! the reported state decides too: a matching report applies a `sent`
//! value without waiting for the reply, and the timeout re-checks the
//! reported value before it gives up.
//!
//! Every change bumps `version`; a change of a desired value bumps
//! `desired_version`, which is what optimistic concurrency compares (so a
//! client's `If-Match` fails when someone else changed desired state, not
//! whenever telemetry arrives). Time comes in as `now` from the caller's
//! clock.

use crate::clock::{Millis, rfc3339};
use crate::ingest::{CmdRes, EventMsg, StatusMsg, Telemetry};
use crate::loss::{Arrival, LossCounters, SeqTracker};
use crate::rules::slot_of;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use std::collections::{BTreeMap, HashSet, VecDeque};
use tcu_engine::catalog::Catalog;

/// Distinct refused keys logged per vehicle at most.
pub const MAX_LOGGED_KEYS: usize = 256;

/// How documents behave; from the `[twin]` configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// A sent command without an answer (or an accepted one whose value
    /// does not show) expires after this long.
    pub command_timeout_ms: Millis,
    /// Telemetry stopped for this many publish periods: `stale`.
    pub stale_periods: u32,
    /// The publish period assumed until two messages measured it.
    pub default_period_ms: Millis,
    /// Events kept in the document.
    pub events_kept: usize,
    /// Part of a shared subscription: this twin sees a share of the
    /// telemetry, so neither gaps nor staleness can be judged from it.
    pub shared: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            command_timeout_ms: 10_000,
            stale_periods: 3,
            default_period_ms: 1000,
            events_kept: 50,
            shared: false,
        }
    }
}

/// What the retained status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// No status seen yet.
    #[default]
    Unknown,
    /// `online`.
    Online,
    /// `offline` (possibly the last will).
    Offline,
}

/// Connectivity as the document shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Connectivity {
    /// Online, and telemetry is coming.
    Online,
    /// The vehicle said `offline`, or its last will did.
    Offline,
    /// Telemetry stopped for longer than the stale window.
    #[default]
    Stale,
}

impl Connectivity {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Offline => "offline",
            Self::Stale => "stale",
        }
    }

    /// Parses the API's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Online, Self::Offline, Self::Stale]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// Where a desired value is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    /// Not sent yet (the vehicle is offline).
    Pending,
    /// Sent; no answer yet.
    Sent,
    /// The vehicle accepted it; its report does not show it yet.
    Accepted,
    /// The reported value matches.
    Applied,
    /// The vehicle refused it.
    Rejected,
    /// No answer and no matching report within the timeout.
    Expired,
}

impl DesiredState {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Accepted => "accepted",
            Self::Applied => "applied",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }

    /// Applied, rejected or expired: nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Applied | Self::Rejected | Self::Expired)
    }

    /// Sent or accepted: waiting for the vehicle.
    fn in_flight(self) -> bool {
        matches!(self, Self::Sent | Self::Accepted)
    }

    /// How far along the lifecycle: of two twins' copies changed at the
    /// same time, the one further along wins.
    fn rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Sent => 1,
            Self::Accepted => 2,
            Self::Expired => 3,
            Self::Rejected => 4,
            Self::Applied => 5,
        }
    }
}

/// One reported value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reported {
    /// The value, typed as the catalog says.
    pub value: Json,
    /// The vehicle's timestamp of the message.
    pub ts: Millis,
    /// When the twin received it.
    pub received: Millis,
    /// The message's seq.
    pub seq: u64,
}

/// One desired value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    /// The value.
    pub value: Json,
    /// The command that carries it.
    pub command_id: String,
    /// Lifecycle state.
    pub state: DesiredState,
    /// Why it was rejected or expired.
    pub reason: Option<String>,
    /// When the command was sent (the timeout counts from here).
    pub sent_at: Option<Millis>,
    /// When it last changed (value or state): of two twins' copies of a
    /// vehicle's desired value, the later one wins.
    #[serde(default)]
    pub updated: Millis,
}

/// A `cmd/req` to publish: `{"id", "set": {path: value}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Correlation id.
    pub id: String,
    /// Values by path.
    pub set: BTreeMap<String, Json>,
}

impl Command {
    /// The request payload.
    pub fn payload(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({"id": self.id, "set": self.set})).unwrap_or_default()
    }
}

/// A desired value's change of state, for the store's command history.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// When.
    pub t: Millis,
    /// The command.
    pub command_id: String,
    /// The path.
    pub path: String,
    /// The desired value.
    pub value: Json,
    /// The new state.
    pub state: DesiredState,
    /// Why, for rejected and expired.
    pub reason: Option<String>,
}

/// The twin document of one vehicle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The VIN.
    pub vin: String,
    /// Bumped on every change.
    pub version: u64,
    /// Bumped on every change of a desired value.
    pub desired_version: u64,
    presence: Presence,
    presence_ts: Option<Millis>,
    connectivity: Connectivity,
    /// When any message of the vehicle last arrived.
    pub last_seen: Option<Millis>,
    /// When the newest telemetry arrived.
    last_telemetry: Option<Millis>,
    /// Seq and timestamp of the newest telemetry (for the period).
    last_tel: Option<(u64, Millis)>,
    /// The measured publish period.
    period_ms: Option<Millis>,
    /// Reported values by path.
    pub reported: BTreeMap<String, Reported>,
    /// Desired values by path.
    pub desired: BTreeMap<String, Desired>,
    /// Running plugin versions.
    pub plugins: BTreeMap<String, String>,
    /// The last `ota.state` event, without its type.
    pub ota: Map<String, Json>,
    /// The last events, oldest first.
    pub events: VecDeque<Json>,
    /// Desired paths removed, and when: so that another twin's older copy
    /// does not bring them back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    removed: BTreeMap<String, Millis>,
    loss: SeqTracker,
    /// Keys (paths, fields) already logged as invalid: once each.
    #[serde(skip)]
    logged: HashSet<String>,
}

impl Document {
    /// An empty document for `vin`.
    pub fn new(vin: &str, settings: &Settings) -> Self {
        Self {
            vin: vin.to_owned(),
            version: 0,
            desired_version: 0,
            presence: Presence::Unknown,
            presence_ts: None,
            connectivity: Connectivity::Stale,
            last_seen: None,
            last_telemetry: None,
            last_tel: None,
            period_ms: None,
            reported: BTreeMap::new(),
            desired: BTreeMap::new(),
            plugins: BTreeMap::new(),
            ota: Map::new(),
            events: VecDeque::new(),
            removed: BTreeMap::new(),
            loss: SeqTracker::new(!settings.shared),
            logged: HashSet::new(),
        }
    }

    /// A document restored from the store, under the current settings.
    pub fn restored(mut self, settings: &Settings) -> Self {
        self.loss.set_gap_accounting(!settings.shared);
        self
    }

    /// The loss counters.
    pub fn loss(&self) -> LossCounters {
        self.loss.counters()
    }

    /// Connectivity as last computed.
    pub fn connectivity(&self) -> Connectivity {
        self.connectivity
    }

    /// The highest telemetry seq of the current run.
    pub fn highest_seq(&self) -> Option<u64> {
        self.loss.highest()
    }

    fn bump(&mut self) {
        self.version += 1;
    }

    /// Counts a refused payload or value; true the first time `key` is
    /// refused (the caller logs it then, and only then). A sender making
    /// up endless new paths is logged for the first [`MAX_LOGGED_KEYS`]
    /// only, so neither the log nor this set grows without bound.
    pub fn refused(&mut self, key: &str) -> bool {
        self.loss.count_invalid();
        self.bump();
        if self.logged.contains(key) || self.logged.len() >= MAX_LOGGED_KEYS {
            return false;
        }
        self.logged.insert(key.to_owned())
    }

    /// Any message arrived.
    pub fn seen(&mut self, now: Millis) {
        self.last_seen = Some(now);
    }

    /// Applies a telemetry snapshot; only the newest state updates the
    /// reported values (a late or duplicate message is history at most).
    pub fn apply_telemetry(
        &mut self,
        t: &Telemetry,
        catalog: &Catalog,
        now: Millis,
        out: &mut Vec<Outcome>,
    ) -> Arrival {
        let arrival = self.loss.observe(t.seq);
        self.seen(now);
        self.bump();
        if !arrival.is_newest() {
            return arrival;
        }
        if let (Arrival::InOrder, Some((seq, ts))) = (arrival, self.last_tel)
            && t.seq > seq
            && t.ts > ts
        {
            let per = (t.ts - ts) / i64::try_from(t.seq - seq).unwrap_or(i64::MAX);
            self.period_ms = Some(per.max(1));
        }
        self.last_tel = Some((t.seq, t.ts));
        self.last_telemetry = Some(now);
        for (id, _, value) in &t.values {
            let path = catalog.meta(*id).path.as_str();
            let r = Reported {
                value: value.clone(),
                ts: t.ts,
                received: now,
                seq: t.seq,
            };
            match self.reported.get_mut(path) {
                Some(slot) => *slot = r,
                None => {
                    self.reported.insert(path.to_owned(), r);
                }
            }
        }
        self.check_applied(catalog, now, out);
        arrival
    }

    /// Whether the reported value of `path` equals `value`.
    fn matches(&self, catalog: &Catalog, path: &str, value: &Json) -> bool {
        let Some(r) = self.reported.get(path) else {
            return false;
        };
        match (
            slot_of(catalog, path, &r.value),
            slot_of(catalog, path, value),
        ) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    fn check_applied(&mut self, catalog: &Catalog, now: Millis, out: &mut Vec<Outcome>) {
        let done: Vec<String> = self
            .desired
            .iter()
            .filter(|(p, d)| d.state.in_flight() && self.matches(catalog, p, &d.value))
            .map(|(p, _)| p.clone())
            .collect();
        for p in done {
            self.set_state(&p, DesiredState::Applied, None, now, out);
        }
    }

    fn set_state(
        &mut self,
        path: &str,
        state: DesiredState,
        reason: Option<String>,
        now: Millis,
        out: &mut Vec<Outcome>,
    ) {
        if let Some(d) = self.desired.get_mut(path) {
            tracing::info!(
                vin = %self.vin, path, state = state.as_str(), command = %d.command_id,
                reason = reason.as_deref().unwrap_or(""), "desired value"
            );
            d.state = state;
            d.reason = reason.clone();
            d.updated = now;
            out.push(Outcome {
                t: now,
                command_id: d.command_id.clone(),
                path: path.to_owned(),
                value: d.value.clone(),
                state,
                reason,
            });
            self.version += 1;
        }
    }

    /// Applies an event: kept in the document; `ota.state` sets the OTA
    /// state, plugin swaps and rollbacks the versions, `outbox.dropped`
    /// the reported loss.
    /// At most `kept` events stay in the document.
    pub fn apply_event(
        &mut self,
        e: &EventMsg,
        now: Millis,
        kept: usize,
    ) -> Result<(), crate::ingest::Refusal> {
        self.seen(now);
        self.bump();
        match e.kind.as_str() {
            "ota.state" => {
                let mut ota = e.body.clone();
                ota.remove("type");
                ota.remove("t");
                self.ota = ota;
            }
            "plugin.swapped" | "plugin.rollback" => {
                if let (Some(s), Some(to)) = (e.field("subsystem"), e.field("to")) {
                    self.plugins.insert(s.to_owned(), to.to_owned());
                }
            }
            "outbox.dropped" => {
                let ranges = e.dropped_seqs()?;
                self.loss.reported_dropped(&ranges);
            }
            _ => {}
        }
        self.events.push_back(Json::Object(e.body.clone()));
        while self.events.len() > kept {
            self.events.pop_front();
        }
        Ok(())
    }

    /// Applies a status. Online sends what is pending; offline puts what
    /// was sent and not answered back to pending, for when it returns.
    ///
    /// Statuses apply in the order they arrive, whatever their `ts`: the
    /// broker delivers one topic in order and the retained one is the
    /// latest, while the vehicle's last will carries the time it was
    /// composed (at start), older than the `online` it follows.
    pub fn apply_status(
        &mut self,
        s: &StatusMsg,
        now: Millis,
        next_id: &mut dyn FnMut() -> String,
        out: &mut Vec<Outcome>,
    ) -> Vec<Command> {
        self.apply_status_of(s, now, next_id, &|_| true, out)
    }

    /// [`Document::apply_status`] for one of several twins: only values
    /// whose command id `mine` says this twin made are sent (the others
    /// are another twin's to send; each twin sees every status).
    pub fn apply_status_of(
        &mut self,
        s: &StatusMsg,
        now: Millis,
        next_id: &mut dyn FnMut() -> String,
        mine: &dyn Fn(&str) -> bool,
        out: &mut Vec<Outcome>,
    ) -> Vec<Command> {
        self.seen(now);
        self.bump();
        self.presence_ts = s.ts.or(self.presence_ts);
        if !s.plugins.is_empty() {
            self.plugins = s.plugins.clone();
        }
        if s.online {
            self.presence = Presence::Online;
            self.loss.vehicle_online();
            self.send_pending(now, next_id, mine, out)
        } else {
            self.presence = Presence::Offline;
            for d in self.desired.values_mut() {
                if d.state == DesiredState::Sent {
                    d.state = DesiredState::Pending;
                    d.sent_at = None;
                    d.updated = now;
                }
            }
            Vec::new()
        }
    }

    /// Whether a command would reach the vehicle now: it said it is
    /// online, or it never said but sends telemetry.
    fn reachable(&self) -> bool {
        match self.presence {
            Presence::Online => true,
            Presence::Offline => false,
            Presence::Unknown => self.last_telemetry.is_some(),
        }
    }

    /// Sends every pending value, one command per command id (values
    /// patched together travel together), each with a fresh id.
    fn send_pending(
        &mut self,
        now: Millis,
        next_id: &mut dyn FnMut() -> String,
        mine: &dyn Fn(&str) -> bool,
        out: &mut Vec<Outcome>,
    ) -> Vec<Command> {
        if !self.reachable() {
            return Vec::new();
        }
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (p, d) in &self.desired {
            if d.state == DesiredState::Pending && mine(&d.command_id) {
                groups
                    .entry(d.command_id.clone())
                    .or_default()
                    .push(p.clone());
            }
        }
        let mut commands = Vec::new();
        for paths in groups.into_values() {
            let id = next_id();
            let mut set = BTreeMap::new();
            for p in paths {
                if let Some(d) = self.desired.get_mut(&p) {
                    d.command_id = id.clone();
                    d.sent_at = Some(now);
                    set.insert(p.clone(), d.value.clone());
                }
                self.set_state(&p, DesiredState::Sent, None, now, out);
            }
            commands.push(Command { id, set });
        }
        commands
    }

    /// Applies a command response to the values its id carries.
    pub fn apply_cmd_res(
        &mut self,
        r: &CmdRes,
        catalog: &Catalog,
        now: Millis,
        out: &mut Vec<Outcome>,
    ) {
        self.seen(now);
        self.bump();
        let Some(id) = &r.id else { return };
        let paths: Vec<String> = self
            .desired
            .iter()
            .filter(|(_, d)| &d.command_id == id && d.state.in_flight())
            .map(|(p, _)| p.clone())
            .collect();
        match &r.outcome {
            Ok(()) => {
                for p in &paths {
                    if self.desired[p].state == DesiredState::Sent {
                        self.set_state(p, DesiredState::Accepted, None, now, out);
                    }
                }
                self.check_applied(catalog, now, out);
            }
            Err(errors) => {
                // All or nothing: a path without its own reason was refused
                // for the others' (or the request's).
                let general = errors
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                for p in &paths {
                    let reason = errors.get(p).cloned().unwrap_or_else(|| {
                        format!("refused with the rest of command {id}: {general}")
                    });
                    self.set_state(p, DesiredState::Rejected, Some(reason), now, out);
                    // Revert: desired agrees with the vehicle again.
                    let back = self.reported.get(p).map(|r| r.value.clone());
                    if let (Some(d), Some(v)) = (self.desired.get_mut(p), back) {
                        d.value = v;
                    }
                }
                if !paths.is_empty() {
                    self.desired_version += 1;
                }
            }
        }
    }

    /// Replaces desired values (`None` removes a path); values are checked
    /// by the caller. Sends them at once when the vehicle is reachable.
    pub fn patch_desired(
        &mut self,
        changes: Vec<(String, Option<Json>)>,
        now: Millis,
        next_id: &mut dyn FnMut() -> String,
        out: &mut Vec<Outcome>,
    ) -> Vec<Command> {
        let group = next_id();
        // Ids are `<twin's prefix>-<counter>`: values another twin left
        // pending in this document are that twin's to send.
        let own = group
            .rsplit_once('-')
            .map_or_else(String::new, |(p, _)| format!("{p}-"));
        for (path, value) in changes {
            match value {
                Some(value) => {
                    self.removed.remove(&path);
                    self.desired.insert(
                        path.clone(),
                        Desired {
                            value,
                            command_id: group.clone(),
                            state: DesiredState::Pending,
                            reason: None,
                            sent_at: None,
                            updated: now,
                        },
                    );
                    self.set_state(&path, DesiredState::Pending, None, now, out);
                }
                None => {
                    self.desired.remove(&path);
                    self.removed.insert(path, now);
                }
            }
        }
        self.desired_version += 1;
        self.bump();
        self.send_pending(now, next_id, &|id| id.starts_with(&own), out)
    }

    /// Time passing: expiry of commands and connectivity. Returns whether
    /// the document changed.
    pub fn tick(
        &mut self,
        now: Millis,
        settings: &Settings,
        catalog: &Catalog,
        out: &mut Vec<Outcome>,
    ) -> bool {
        let before = self.version;
        let timeout = settings.command_timeout_ms;
        let due: Vec<(String, DesiredState)> = self
            .desired
            .iter()
            .filter(|(_, d)| d.state.in_flight() && d.sent_at.is_some_and(|t| now - t >= timeout))
            .map(|(p, d)| (p.clone(), d.state))
            .collect();
        let secs = timeout as f64 / 1000.0;
        for (p, state) in due {
            let value = self.desired[&p].value.clone();
            if self.matches(catalog, &p, &value) {
                self.set_state(&p, DesiredState::Applied, None, now, out);
            } else {
                let reason = match state {
                    DesiredState::Sent => format!("no answer from the vehicle within {secs}s"),
                    _ => format!("accepted, but the reported value did not follow within {secs}s"),
                };
                self.set_state(&p, DesiredState::Expired, Some(reason), now, out);
            }
        }
        let c = self.compute_connectivity(now, settings);
        if c != self.connectivity {
            self.connectivity = c;
            self.bump();
        }
        self.version != before
    }

    fn compute_connectivity(&self, now: Millis, s: &Settings) -> Connectivity {
        if self.presence == Presence::Offline {
            return Connectivity::Offline;
        }
        let period = self.period_ms.unwrap_or(s.default_period_ms);
        let window = period.saturating_mul(i64::from(s.stale_periods));
        match self.last_telemetry {
            Some(t) if s.shared || now - t <= window => Connectivity::Online,
            None if self.presence == Presence::Online => Connectivity::Online,
            _ => Connectivity::Stale,
        }
    }

    /// Recomputes connectivity at once (after a status or telemetry).
    pub fn refresh_connectivity(&mut self, now: Millis, s: &Settings) {
        self.connectivity = self.compute_connectivity(now, s);
    }

    /// Desired values the reported state does not match yet (rejected
    /// ones were reverted and do not count).
    pub fn delta(&self, catalog: &Catalog) -> Map<String, Json> {
        self.desired
            .iter()
            .filter(|(p, d)| {
                d.state != DesiredState::Rejected && !self.matches(catalog, p, &d.value)
            })
            .map(|(p, d)| (p.clone(), d.value.clone()))
            .collect()
    }

    fn loss_json(&self) -> Json {
        let c = self.loss.counters();
        json!({
            "received": c.received, "gaps": c.gaps, "duplicates": c.duplicates,
            "reordered": c.reordered, "reported_dropped": c.reported_dropped,
            "silent_lost": c.silent_lost, "invalid": c.invalid,
        })
    }

    /// The document as the API shows it.
    pub fn view(&self, catalog: &Catalog) -> Json {
        let reported: Map<String, Json> = self
            .reported
            .iter()
            .map(|(p, r)| {
                (
                    p.clone(),
                    json!({"value": r.value, "ts": rfc3339(r.ts), "received": rfc3339(r.received), "seq": r.seq}),
                )
            })
            .collect();
        let desired: Map<String, Json> = self
            .desired
            .iter()
            .map(|(p, d)| {
                (
                    p.clone(),
                    json!({"value": d.value, "command_id": d.command_id, "state": d.state.as_str(), "reason": d.reason}),
                )
            })
            .collect();
        json!({
            "vin": self.vin,
            "version": self.version,
            "desired_version": self.desired_version,
            "connectivity": self.connectivity.as_str(),
            "last_seen": self.last_seen.map(rfc3339),
            "reported": reported,
            "desired": desired,
            "delta": self.delta(catalog),
            "plugins": self.plugins,
            "ota": self.ota,
            "events": self.events,
            "loss": self.loss_json(),
        })
    }

    /// One row of the fleet list.
    pub fn summary(&self) -> Json {
        let value = |p: &str| self.reported.get(p).map(|r| r.value.clone());
        json!({
            "vin": self.vin,
            "version": self.version,
            "connectivity": self.connectivity.as_str(),
            "last_seen": self.last_seen.map(rfc3339),
            "plugins": self.plugins,
            "ota_state": self.ota.get("state"),
            "speed": value("Vehicle.Speed"),
            "state_of_charge": value("Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"),
            "loss": self.loss_json(),
        })
    }
}

mod merge;
#[cfg(test)]
mod tests;
