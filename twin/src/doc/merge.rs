//! Merging another twin's copy of a document into this twin's, for
//! several twins on one shared store: each ingests a share of the
//! telemetry and events, every one reads every status and command
//! response, and each merges the others' checkpoints, so that every twin
//! shows every vehicle whole.
//!
//! Per part, the rule that makes merging in any order and any number of
//! times give the same document:
//! - a reported value: the newer vehicle time (then seq) wins, per path;
//! - a desired value: the later change wins (then the state further along,
//!   then the larger command id), and a removal wins over a copy older than
//!   it; `desired_version` is the larger one;
//! - `last_seen`, the newest telemetry: the later one;
//! - presence and plugin versions: taken only while this twin has none
//!   (each twin reads every status itself);
//! - OTA state: the later event; the last events: the union, by time.
//!
//! Loss counters stay each twin's own: they count what that twin received.

use super::Document;
use serde_json::Value as Json;
use std::collections::HashSet;

impl Document {
    /// Merges `peer` (the same vehicle's document of another twin); true
    /// when this document changed (its version is bumped then).
    pub fn merge(&mut self, peer: &Document, events_kept: usize) -> bool {
        let mut changed = false;
        for (p, r) in &peer.reported {
            let newer = self
                .reported
                .get(p)
                .is_none_or(|l| (r.ts, r.seq) > (l.ts, l.seq));
            if newer {
                self.reported.insert(p.clone(), r.clone());
                changed = true;
            }
        }
        changed |= self.merge_desired(peer);
        if peer.last_seen > self.last_seen {
            self.last_seen = peer.last_seen;
            changed = true;
        }
        if peer.last_telemetry > self.last_telemetry {
            self.last_telemetry = peer.last_telemetry;
            changed = true;
        }
        if self.presence == super::Presence::Unknown && peer.presence != super::Presence::Unknown {
            self.presence = peer.presence;
            self.presence_ts = peer.presence_ts;
            changed = true;
        }
        if self.plugins.is_empty() && !peer.plugins.is_empty() {
            self.plugins = peer.plugins.clone();
            changed = true;
        }
        let ts = |m: &serde_json::Map<String, Json>| {
            m.get("ts").and_then(Json::as_str).map(str::to_owned)
        };
        // RFC 3339 times of one writer compare as text.
        if ts(&peer.ota) > ts(&self.ota) {
            self.ota = peer.ota.clone();
            changed = true;
        }
        changed |= self.merge_events(peer, events_kept);
        if changed {
            self.bump();
        }
        changed
    }

    fn merge_desired(&mut self, peer: &Document) -> bool {
        let mut changed = false;
        for (p, &t) in &peer.removed {
            if self.desired.get(p).is_some_and(|l| l.updated <= t) {
                self.desired.remove(p);
                changed = true;
            }
            if self.removed.get(p).is_none_or(|&l| l < t) {
                self.removed.insert(p.clone(), t);
            }
        }
        for (p, d) in &peer.desired {
            if self.removed.get(p).is_some_and(|&t| t >= d.updated) {
                continue;
            }
            // The command id last: two patches at the same millisecond
            // through two twins still end the same in both.
            let later = self.desired.get(p).is_none_or(|l| {
                (d.updated, d.state.rank(), &d.command_id)
                    > (l.updated, l.state.rank(), &l.command_id)
            });
            if later {
                self.desired.insert(p.clone(), d.clone());
                self.removed.remove(p);
                changed = true;
            }
        }
        if peer.desired_version > self.desired_version {
            self.desired_version = peer.desired_version;
            changed = true;
        }
        changed
    }

    fn merge_events(&mut self, peer: &Document, kept: usize) -> bool {
        let mine: HashSet<String> = self.events.iter().map(Json::to_string).collect();
        let new: Vec<&Json> = peer
            .events
            .iter()
            .filter(|e| !mine.contains(&e.to_string()))
            .collect();
        if new.is_empty() {
            return false;
        }
        let before = self.events.clone();
        let mut all: Vec<Json> = self.events.drain(..).collect();
        all.extend(new.into_iter().cloned());
        let key = |e: &Json| e.get("ts").and_then(Json::as_str).unwrap_or("").to_owned();
        all.sort_by_key(key);
        let skip = all.len().saturating_sub(kept);
        self.events = all.into_iter().skip(skip).collect();
        self.events != before
    }
}
