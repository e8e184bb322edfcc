//! Every vehicle's document, and what a message, a patch or the passing of
//! time does to them. Each entry point fills [`Effects`]: commands to
//! publish, records for the store, the VINs whose documents changed (for
//! the event streams). The caller owns the broker connection, the store
//! and the streams; this module owns the decisions, so it runs the same in
//! the service and in a test without any of them.

use crate::capture::{self, Assembler, Offer};
use crate::clock::Millis;
use crate::doc::{Command, Connectivity, Document, Outcome, Settings};
use crate::ingest::{self, Kind, Refusal, TopicScheme};
use crate::loss::{Arrival, LossCounters};
use crate::rules::check_desired;
use crate::store::Record;
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::validate_vin;

/// What a call asks the caller to do.
#[derive(Debug, Default)]
pub struct Effects {
    /// `cmd/req` messages to publish: topic, payload.
    pub commands: Vec<(String, Vec<u8>)>,
    /// Records for the store.
    pub records: Vec<Record>,
    /// VINs whose documents changed.
    pub changed: Vec<Arc<str>>,
}

/// Ingest counters (the fleet is behind one lock, so plain numbers).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FleetStats {
    /// Messages by topic kind: telemetry, events, status, cmd/res,
    /// captures.
    pub messages: [u64; 5],
    /// Captures completed.
    pub captures_complete: u64,
    /// Messages on topics outside the contract.
    pub ignored: u64,
    /// Messages whose topic VIN is not a VIN.
    pub bad_vins: u64,
    /// Messages of new VINs refused because the fleet is full.
    pub over_capacity: u64,
    /// Refused payloads and values.
    pub invalid: u64,
    /// Reported values applied to documents.
    pub signal_updates: u64,
    /// Sum and count of (received - vehicle timestamp), for the mean lag.
    pub lag_ms_sum: i64,
    /// See `lag_ms_sum`.
    pub lag_count: u64,
    /// The latest lag.
    pub lag_ms_last: i64,
    /// Commands published.
    pub commands_sent: u64,
}

/// Why a desired-state patch was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchError {
    /// No such vehicle.
    UnknownVehicle,
    /// `If-Match` named another desired version; the current document.
    Stale(Box<Json>),
    /// The body is not a JSON object.
    NotAnObject,
    /// Values refused, by path.
    Invalid(BTreeMap<String, String>),
}

/// Every document.
#[derive(Debug)]
pub struct Fleet {
    catalog: Arc<Catalog>,
    scheme: TopicScheme,
    settings: Settings,
    max_payload: usize,
    max_vehicles: usize,
    docs: BTreeMap<String, Document>,
    vins: HashMap<String, Arc<str>>,
    dirty: BTreeSet<String>,
    id_prefix: String,
    next_id: u64,
    bad_vins_logged: u64,
    captures: Assembler,
    /// Counters.
    pub stats: FleetStats,
}

fn base36(mut n: u64) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

impl Fleet {
    /// An empty fleet. Command ids start with `started` (base 36) so that
    /// a restarted twin never reuses one.
    pub fn new(
        catalog: Arc<Catalog>,
        scheme: TopicScheme,
        settings: Settings,
        max_payload: usize,
        max_vehicles: usize,
        started: Millis,
    ) -> Self {
        Self {
            catalog,
            scheme,
            settings,
            max_payload,
            max_vehicles,
            docs: BTreeMap::new(),
            vins: HashMap::new(),
            dirty: BTreeSet::new(),
            id_prefix: base36(u64::try_from(started).unwrap_or_default()),
            next_id: 0,
            bad_vins_logged: 0,
            captures: Assembler::default(),
            stats: FleetStats::default(),
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The topic scheme.
    pub fn scheme(&self) -> &TopicScheme {
        &self.scheme
    }

    /// Restores documents from their checkpoints; returns how many.
    pub fn restore(&mut self, bodies: &[String]) -> usize {
        let mut n = 0;
        for body in bodies {
            match serde_json::from_str::<Document>(body) {
                Ok(d) => {
                    let d = d.restored(&self.settings);
                    self.vins.insert(d.vin.clone(), Arc::from(d.vin.as_str()));
                    self.docs.insert(d.vin.clone(), d);
                    n += 1;
                }
                Err(e) => tracing::warn!("a stored document could not be read and is skipped: {e}"),
            }
        }
        n
    }

    /// Takes up joining the captures the store kept incomplete; returns
    /// how many.
    pub fn restore_captures(&mut self, pending: Vec<crate::store::PendingCapture>) -> usize {
        let n = pending.len();
        for p in pending {
            let vin = self.vin_arc(&p.vin);
            self.captures.restore(vin, p.meta, p.parts);
        }
        n
    }

    fn vin_arc(&mut self, vin: &str) -> Arc<str> {
        if let Some(a) = self.vins.get(vin) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(vin);
        self.vins.insert(vin.to_owned(), a.clone());
        a
    }

    fn next_id(prefix: &str, counter: &mut u64) -> String {
        *counter += 1;
        format!("twin-{prefix}-{counter}")
    }

    fn finish(
        &mut self,
        vin: &str,
        outcomes: Vec<Outcome>,
        commands: Vec<Command>,
        fx: &mut Effects,
    ) {
        let arc = self.vin_arc(vin);
        for outcome in outcomes {
            fx.records.push(Record::Command {
                vin: arc.clone(),
                outcome,
            });
        }
        for c in commands {
            tracing::info!(vin, id = %c.id, paths = ?c.set.keys().collect::<Vec<_>>(), "command sent");
            fx.commands
                .push((self.scheme.topic(vin, Kind::CmdReq), c.payload()));
            self.stats.commands_sent += 1;
        }
        self.dirty.insert(vin.to_owned());
        fx.changed.push(arc);
    }

    /// Handles one message from the broker.
    pub fn ingest(&mut self, topic: &str, payload: &[u8], now: Millis, fx: &mut Effects) {
        let Some((vin, kind)) = self.scheme.parse(topic) else {
            self.stats.ignored += 1;
            return;
        };
        if kind == Kind::CmdReq {
            self.stats.ignored += 1;
            return;
        }
        if let Err(e) = validate_vin(vin) {
            self.stats.bad_vins += 1;
            // Bounded: a flood of made-up topics must not flood the log.
            if self.bad_vins_logged < 10 {
                self.bad_vins_logged += 1;
                tracing::warn!(topic, "message ignored: {e}");
            }
            return;
        }
        if !self.docs.contains_key(vin) {
            if self.docs.len() >= self.max_vehicles {
                self.stats.over_capacity += 1;
                return;
            }
            self.docs
                .insert(vin.to_owned(), Document::new(vin, &self.settings));
        }
        let arc = self.vin_arc(vin);
        let Some(doc) = self.docs.get_mut(vin) else {
            return;
        };
        let (catalog, settings, max) = (&*self.catalog, &self.settings, self.max_payload);
        let mut outcomes = Vec::new();
        let mut commands = Vec::new();
        match kind {
            Kind::Telemetry => {
                self.stats.messages[0] += 1;
                match ingest::telemetry(payload, vin, catalog, max) {
                    Ok(t) => {
                        for (path, reason) in &t.refused {
                            let r = Refusal {
                                key: path.clone(),
                                reason: reason.clone(),
                            };
                            refused(&mut self.stats.invalid, doc, "telemetry", &r);
                        }
                        let arrival = doc.apply_telemetry(&t, catalog, now, &mut outcomes);
                        tracing::trace!(vin, seq = t.seq, arrival = ?arrival, "telemetry ingested");
                        if arrival.is_newest() {
                            self.stats.signal_updates += t.values.len() as u64;
                            let lag = now - t.ts;
                            self.stats.lag_ms_sum += lag;
                            self.stats.lag_count += 1;
                            self.stats.lag_ms_last = lag;
                        }
                        if arrival != Arrival::Duplicate {
                            fx.records.push(Record::Samples {
                                vin: arc.clone(),
                                t: t.ts,
                                seq: t.seq,
                                values: t.values.iter().map(|(id, slot, _)| (*id, *slot)).collect(),
                            });
                        }
                    }
                    Err(r) => refused(&mut self.stats.invalid, doc, "telemetry", &r),
                }
            }
            Kind::Events => {
                self.stats.messages[1] += 1;
                match ingest::event(payload, max) {
                    Ok(e) => match doc.apply_event(&e, now, settings.events_kept) {
                        Ok(()) => fx.records.push(Record::Event {
                            vin: arc.clone(),
                            t: e.ts,
                            kind: e.kind.clone(),
                            body: Json::Object(e.body.clone()).to_string(),
                        }),
                        Err(r) => refused(&mut self.stats.invalid, doc, "events", &r),
                    },
                    Err(r) => refused(&mut self.stats.invalid, doc, "events", &r),
                }
            }
            Kind::Status => {
                self.stats.messages[2] += 1;
                match ingest::status(payload, vin, max) {
                    Ok(s) => {
                        let (prefix, counter) = (&self.id_prefix, &mut self.next_id);
                        let mine = format!("twin-{prefix}-");
                        let mut next = || Self::next_id(prefix, counter);
                        commands = doc.apply_status_of(
                            &s,
                            now,
                            &mut next,
                            &|id| id.starts_with(&mine),
                            &mut outcomes,
                        );
                        tracing::info!(vin, online = s.online, "status");
                    }
                    Err(r) => refused(&mut self.stats.invalid, doc, "status", &r),
                }
            }
            Kind::CmdRes => {
                self.stats.messages[3] += 1;
                match ingest::cmd_res(payload, max) {
                    Ok(r) => doc.apply_cmd_res(&r, catalog, now, &mut outcomes),
                    Err(r) => refused(&mut self.stats.invalid, doc, "cmd/res", &r),
                }
            }
            Kind::Captures => {
                self.stats.messages[4] += 1;
                let offered = capture::chunk(payload, vin, max)
                    .and_then(|c| self.captures.offer(&arc, c, now, &mut fx.records));
                match offered {
                    Ok(Offer::Complete) => self.stats.captures_complete += 1,
                    Ok(_) => {}
                    Err(r) => refused(&mut self.stats.invalid, doc, "captures", &r),
                }
            }
            Kind::CmdReq => {}
        }
        doc.refresh_connectivity(now, settings);
        self.finish(vin, outcomes, commands, fx);
    }

    /// Applies a JSON merge patch of desired values to `vin`'s document.
    /// Nested objects name paths by their dotted keys; `null` removes a
    /// path. With `if_match`, the document's desired version must match.
    pub fn patch(
        &mut self,
        vin: &str,
        patch: &Json,
        if_match: Option<u64>,
        now: Millis,
        fx: &mut Effects,
    ) -> Result<Json, PatchError> {
        let catalog = self.catalog.clone();
        let doc = self.docs.get_mut(vin).ok_or(PatchError::UnknownVehicle)?;
        if if_match.is_some_and(|v| v != doc.desired_version) {
            return Err(PatchError::Stale(Box::new(doc.view(&catalog))));
        }
        let Json::Object(top) = patch else {
            return Err(PatchError::NotAnObject);
        };
        let mut flat = Vec::new();
        flatten("", top, &mut flat);
        let mut errors = BTreeMap::new();
        let mut changes = Vec::new();
        for (path, v) in flat {
            match v {
                Json::Null if catalog.get(&path).is_some() => changes.push((path, None)),
                Json::Null => {
                    errors.insert(path, "unknown signal".to_owned());
                }
                v => match check_desired(&catalog, &path, v) {
                    Ok((_, typed)) => changes.push((path, Some(typed))),
                    Err(reason) => {
                        errors.insert(path, reason);
                    }
                },
            }
        }
        if !errors.is_empty() {
            return Err(PatchError::Invalid(errors));
        }
        if changes.is_empty() {
            return Ok(doc.view(&catalog));
        }
        let mut outcomes = Vec::new();
        let (prefix, counter) = (&self.id_prefix, &mut self.next_id);
        let mut next = || Self::next_id(prefix, counter);
        let commands = doc.patch_desired(changes, now, &mut next, &mut outcomes);
        doc.refresh_connectivity(now, &self.settings);
        let view = doc.view(&catalog);
        self.finish(vin, outcomes, commands, fx);
        Ok(view)
    }

    /// Other twins' document checkpoints, read (before taking the fleet's
    /// lock: ingest waits while it is held); unreadable ones are skipped.
    pub fn parse_peers(bodies: &[String]) -> Vec<Document> {
        bodies
            .iter()
            .filter_map(|body| match serde_json::from_str::<Document>(body) {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!("another twin's document could not be read and is skipped: {e}");
                    None
                }
            })
            .collect()
    }

    /// Merges other twins' documents (from a shared store) into these,
    /// creating those of vehicles this twin has not seen yet; the merged
    /// documents are not checkpointed again (their twins have them).
    /// Returns how many documents changed.
    pub fn merge(&mut self, peers: &[Document], now: Millis, fx: &mut Effects) -> usize {
        let mut changed = Vec::new();
        for peer in peers {
            if !self.docs.contains_key(&peer.vin) {
                if self.docs.len() >= self.max_vehicles {
                    self.stats.over_capacity += 1;
                    continue;
                }
                self.docs
                    .insert(peer.vin.clone(), Document::new(&peer.vin, &self.settings));
            }
            if let Some(doc) = self.docs.get_mut(&peer.vin)
                && doc.merge(peer, self.settings.events_kept)
            {
                doc.refresh_connectivity(now, &self.settings);
                changed.push(peer.vin.clone());
            }
        }
        let n = changed.len();
        for vin in changed {
            let arc = self.vin_arc(&vin);
            fx.changed.push(arc);
        }
        n
    }

    /// Time passing: expiry and connectivity of every document.
    pub fn tick(&mut self, now: Millis, fx: &mut Effects) {
        let mut changed = Vec::new();
        for (vin, doc) in &mut self.docs {
            let mut outcomes = Vec::new();
            if doc.tick(now, &self.settings, &self.catalog, &mut outcomes) {
                changed.push((vin.clone(), outcomes));
            }
        }
        for (vin, outcomes) in changed {
            self.finish(&vin, outcomes, Vec::new(), fx);
        }
    }

    /// Document checkpoints of what changed since the last call.
    pub fn checkpoint(&mut self, fx: &mut Effects) {
        for vin in std::mem::take(&mut self.dirty) {
            if let Some(doc) = self.docs.get(&vin)
                && let Ok(body) = serde_json::to_string(doc)
            {
                let vin = self.vin_arc(&vin);
                fx.records.push(Record::Document { vin, body });
            }
        }
    }

    /// A document as the API shows it.
    pub fn view(&self, vin: &str) -> Option<Json> {
        self.docs.get(vin).map(|d| d.view(&self.catalog))
    }

    /// A document.
    pub fn get(&self, vin: &str) -> Option<&Document> {
        self.docs.get(vin)
    }

    /// The fleet list, optionally only vehicles of one connectivity.
    pub fn list(&self, only: Option<Connectivity>) -> Vec<Json> {
        self.docs
            .values()
            .filter(|d| only.is_none_or(|c| d.connectivity() == c))
            .map(Document::summary)
            .collect()
    }

    /// Vehicles by connectivity: online, offline, stale.
    pub fn connectivity_counts(&self) -> [u64; 3] {
        let mut n = [0; 3];
        for d in self.docs.values() {
            n[match d.connectivity() {
                Connectivity::Online => 0,
                Connectivity::Offline => 1,
                Connectivity::Stale => 2,
            }] += 1;
        }
        n
    }

    /// Loss counters summed over the fleet.
    pub fn loss_totals(&self) -> LossCounters {
        let mut t = LossCounters::default();
        for d in self.docs.values() {
            let c = d.loss();
            t.received += c.received;
            t.gaps += c.gaps;
            t.duplicates += c.duplicates;
            t.reordered += c.reordered;
            t.reported_dropped += c.reported_dropped;
            t.silent_lost += c.silent_lost;
            t.invalid += c.invalid;
        }
        t
    }

    /// Number of vehicles.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True without vehicles.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }
}

/// Counts a refusal; logs it the first time its key is refused.
fn refused(invalid: &mut u64, doc: &mut Document, what: &str, r: &Refusal) {
    *invalid += 1;
    if doc.refused(&format!("{what}:{}", r.key)) {
        tracing::warn!(vin = %doc.vin, topic = what, key = %r.key, "refused: {}", r.reason);
    }
}

/// Dotted paths of a (possibly nested) merge patch.
fn flatten<'a>(prefix: &str, m: &'a Map<String, Json>, out: &mut Vec<(String, &'a Json)>) {
    for (k, v) in m {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Json::Object(inner) if !inner.is_empty() => flatten(&path, inner, out),
            v => out.push((path, v)),
        }
    }
}

#[cfg(test)]
mod merge_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VIN: &str = "WTCUZ000000000001";
    const FAN: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";

    fn fleet() -> Fleet {
        Fleet::new(
            Arc::new(Catalog::builtin()),
            TopicScheme::new("vehicle/{vin}").unwrap(),
            Settings::default(),
            1 << 16,
            3,
            1_000,
        )
    }

    fn online(f: &mut Fleet, vin: &str, fx: &mut Effects) {
        let status = json!({"status": "online", "vin": vin, "ts": "2026-01-01T00:00:00.000Z", "plugins": {}});
        f.ingest(
            &format!("vehicle/{vin}/status"),
            status.to_string().as_bytes(),
            0,
            fx,
        );
        let tel = json!({"vin": vin, "seq": 1, "ts": "2026-01-01T00:00:00.000Z", "signals": {FAN: 40, "Vehicle.Speed": 1.5}});
        f.ingest(
            &format!("vehicle/{vin}/telemetry"),
            tel.to_string().as_bytes(),
            0,
            fx,
        );
    }

    #[test]
    fn a_patch_is_validated_all_or_nothing_and_sent_when_valid() {
        let mut f = fleet();
        let mut fx = Effects::default();
        online(&mut f, VIN, &mut fx);
        let mut fx = Effects::default();
        let e = f
            .patch(VIN, &json!({FAN: 150, "Vehicle.Speed": 3, "Vehicle.Cabin.HVAC.IsAirConditioningActive": true}), None, 10, &mut fx)
            .unwrap_err();
        let PatchError::Invalid(errors) = e else {
            panic!("{e:?}")
        };
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            [&FAN.to_owned(), &"Vehicle.Speed".to_owned()]
        );
        assert!(
            fx.commands.is_empty() && fx.changed.is_empty(),
            "nothing is sent or changed"
        );
        assert!(f.get(VIN).unwrap().desired.is_empty());
        let nested = json!({"Vehicle": {"Cabin": {"HVAC": {"Station": {"Row1": {"Driver": {"FanSpeed": 70}}}}}}});
        let v = f.patch(VIN, &nested, Some(0), 20, &mut fx).unwrap();
        assert_eq!(v["desired"][FAN]["state"], "sent");
        assert_eq!(fx.commands.len(), 1);
        assert_eq!(fx.commands[0].0, format!("vehicle/{VIN}/cmd/req"));
        let sent: Json = serde_json::from_slice(&fx.commands[0].1).unwrap();
        assert_eq!(sent["set"], json!({FAN: 70}));
        assert!(
            sent["id"].as_str().unwrap().starts_with("twin-rs-"),
            "{sent}"
        );
        // The version the patch was made against is gone now.
        let stale = f
            .patch(VIN, &json!({FAN: 60}), Some(0), 30, &mut fx)
            .unwrap_err();
        assert!(matches!(stale, PatchError::Stale(ref d) if d["desired"][FAN]["value"] == 70));
        assert_eq!(
            f.patch("WTCUZ000000000009", &json!({}), None, 0, &mut fx),
            Err(PatchError::UnknownVehicle)
        );
        assert_eq!(
            f.patch(VIN, &json!([1]), None, 0, &mut fx),
            Err(PatchError::NotAnObject)
        );
    }

    #[test]
    fn hostile_messages_are_counted_and_never_stop_ingest() {
        let mut f = fleet();
        let mut fx = Effects::default();
        online(&mut f, VIN, &mut fx);
        let t = format!("vehicle/{VIN}/telemetry");
        f.ingest(&t, b"{oops", 1, &mut fx);
        f.ingest(&t, &vec![b'x'; 1 << 17], 1, &mut fx);
        f.ingest(&format!("vehicle/{VIN}/events"), b"[]", 1, &mut fx);
        f.ingest(
            &format!("vehicle/{VIN}/cmd/res"),
            b"{\"status\": 3}",
            1,
            &mut fx,
        );
        f.ingest("vehicle/not-a-vin/telemetry", b"{}", 1, &mut fx);
        f.ingest("elsewhere/x", b"{}", 1, &mut fx);
        let d = f.get(VIN).unwrap();
        assert_eq!(d.loss().invalid, 4);
        assert_eq!(f.stats.invalid, 4);
        assert_eq!((f.stats.bad_vins, f.stats.ignored), (1, 1));
        let good =
            json!({"vin": VIN, "seq": 2, "ts": "2026-01-01T00:00:01.000Z", "signals": {FAN: 41}});
        f.ingest(&t, good.to_string().as_bytes(), 2, &mut fx);
        assert_eq!(f.get(VIN).unwrap().reported[FAN].value, json!(41));
    }

    #[test]
    fn capture_chunks_are_kept_and_a_spoiled_one_is_counted_as_a_bad_payload() {
        use crate::capture::tests::{file, payloads};
        let mut f = fleet();
        let mut fx = Effects::default();
        online(&mut f, VIN, &mut fx);
        let topic = format!("vehicle/{VIN}/captures");
        let p = payloads(&file(), 1000);
        let mut fx = Effects::default();
        for c in &p[..p.len() - 1] {
            f.ingest(&topic, c, 1, &mut fx);
        }
        let mut last: Json = serde_json::from_slice(&p[p.len() - 1]).unwrap();
        last["data"] = json!("spoiled");
        f.ingest(&topic, last.to_string().as_bytes(), 1, &mut fx);
        assert_eq!(f.stats.invalid, 1);
        assert_eq!(f.get(VIN).unwrap().loss().invalid, 1);
        assert_eq!(fx.records.len(), p.len() - 1);
        f.ingest(&topic, &p[p.len() - 1], 1, &mut fx);
        assert_eq!(
            (f.stats.messages[4], f.stats.captures_complete),
            (p.len() as u64 + 1, 1)
        );
        assert!(
            fx.records
                .iter()
                .any(|r| matches!(r, Record::CaptureComplete { .. }))
        );
    }

    #[test]
    fn the_fleet_stops_growing_at_its_capacity() {
        let mut f = fleet();
        let mut fx = Effects::default();
        for i in 1..=5 {
            online(&mut f, &format!("WTCUZ00000000000{i}"), &mut fx);
        }
        assert_eq!(f.len(), 3);
        assert!(f.stats.over_capacity > 0);
    }

    #[test]
    fn checkpoints_restore_every_document() {
        let mut f = fleet();
        let mut fx = Effects::default();
        online(&mut f, VIN, &mut fx);
        f.patch(VIN, &json!({FAN: 70}), None, 5, &mut fx).unwrap();
        let mut fx = Effects::default();
        f.checkpoint(&mut fx);
        let bodies: Vec<String> = fx
            .records
            .iter()
            .filter_map(|r| match r {
                Record::Document { body, .. } => Some(body.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(bodies.len(), 1);
        let mut g = fleet();
        assert_eq!(g.restore(&bodies), 1);
        assert_eq!(g.view(VIN), f.view(VIN));
        let mut fx = Effects::default();
        f.checkpoint(&mut fx);
        assert!(fx.records.is_empty(), "nothing changed since");
    }

    #[test]
    fn the_list_filters_by_connectivity() {
        let mut f = fleet();
        let mut fx = Effects::default();
        online(&mut f, VIN, &mut fx);
        online(&mut f, "WTCUZ000000000002", &mut fx);
        let off = json!({"status": "offline", "vin": "WTCUZ000000000002", "ts": "2026-01-01T00:00:01.000Z"});
        f.ingest(
            "vehicle/WTCUZ000000000002/status",
            off.to_string().as_bytes(),
            1,
            &mut fx,
        );
        assert_eq!(f.list(None).len(), 2);
        let online = f.list(Some(Connectivity::Online));
        assert_eq!(online.len(), 1);
        assert_eq!(online[0]["vin"], VIN);
        assert_eq!(online[0]["speed"], json!(1.5));
        assert_eq!(f.connectivity_counts(), [1, 1, 0]);
    }
}
