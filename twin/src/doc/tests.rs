use super::*;
use crate::ingest::{self, EventMsg};
use serde_json::json;

const VIN: &str = "WTCUZ000000000001";
const SETPOINT: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";
const FAN: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";

struct Fixture {
    doc: Document,
    catalog: Catalog,
    settings: Settings,
    ids: u64,
    out: Vec<Outcome>,
}

impl Fixture {
    fn new() -> Self {
        let settings = Settings::default();
        Self {
            doc: Document::new(VIN, &settings),
            catalog: Catalog::builtin(),
            settings,
            ids: 0,
            out: Vec::new(),
        }
    }

    fn telemetry(&mut self, seq: u64, ts: Millis, now: Millis, signals: Json) -> Arrival {
        let p = json!({"vin": VIN, "seq": seq, "ts": rfc3339(ts), "signals": signals});
        let t = ingest::telemetry(p.to_string().as_bytes(), VIN, &self.catalog, 1 << 20).unwrap();
        self.doc
            .apply_telemetry(&t, &self.catalog, now, &mut self.out)
    }

    fn status(&mut self, online: bool, ts: Millis, now: Millis) -> Vec<Command> {
        let s = StatusMsg {
            online,
            ts: Some(ts),
            plugins: BTreeMap::from([("abs".to_owned(), "1.0.0".to_owned())]),
        };
        let ids = &mut self.ids;
        let mut next = || {
            *ids += 1;
            format!("c{ids}")
        };
        self.doc.apply_status(&s, now, &mut next, &mut self.out)
    }

    fn patch(&mut self, changes: Vec<(&str, Option<Json>)>, now: Millis) -> Vec<Command> {
        let ids = &mut self.ids;
        let mut next = || {
            *ids += 1;
            format!("c{ids}")
        };
        let changes = changes
            .into_iter()
            .map(|(p, v)| (p.to_owned(), v))
            .collect();
        self.doc
            .patch_desired(changes, now, &mut next, &mut self.out)
    }

    fn res(&mut self, id: &str, outcome: Result<(), BTreeMap<String, String>>, now: Millis) {
        let r = ingest::CmdRes {
            id: Some(id.to_owned()),
            outcome,
        };
        self.doc
            .apply_cmd_res(&r, &self.catalog, now, &mut self.out);
    }

    fn state(&self, path: &str) -> DesiredState {
        self.doc.desired[path].state
    }

    fn tick(&mut self, now: Millis) -> bool {
        self.doc
            .tick(now, &self.settings, &self.catalog, &mut self.out)
    }

    fn online(&mut self) {
        self.status(true, 0, 0);
        self.telemetry(1, 0, 0, json!({SETPOINT: 21.0, FAN: 40}));
    }
}

fn event(body: Json) -> EventMsg {
    ingest::event(body.to_string().as_bytes(), 1 << 16).unwrap()
}

#[test]
fn a_setpoint_goes_sent_accepted_applied_and_leaves_no_delta() {
    let mut f = Fixture::new();
    f.online();
    let cmds = f.patch(vec![(SETPOINT, Some(json!(23.5)))], 100);
    assert_eq!(cmds.len(), 1);
    let id = cmds[0].id.clone();
    assert_eq!(
        cmds[0].set,
        BTreeMap::from([(SETPOINT.to_owned(), json!(23.5))])
    );
    assert_eq!(f.state(SETPOINT), DesiredState::Sent);
    assert_eq!(f.doc.delta(&f.catalog).get(SETPOINT), Some(&json!(23.5)));
    f.res(&id, Ok(()), 200);
    assert_eq!(f.state(SETPOINT), DesiredState::Accepted);
    f.telemetry(2, 1000, 1000, json!({SETPOINT: 23.5}));
    assert_eq!(f.state(SETPOINT), DesiredState::Applied);
    assert!(f.doc.delta(&f.catalog).is_empty());
    let states: Vec<DesiredState> = f.out.iter().map(|o| o.state).collect();
    assert_eq!(
        states,
        [
            DesiredState::Pending,
            DesiredState::Sent,
            DesiredState::Accepted,
            DesiredState::Applied
        ]
    );
    let payload: Json = serde_json::from_slice(&cmds[0].payload()).unwrap();
    assert_eq!(payload, json!({"id": id, "set": {SETPOINT: 23.5}}));
}

#[test]
fn a_matching_report_applies_a_value_whose_reply_was_lost() {
    let mut f = Fixture::new();
    f.online();
    f.patch(vec![(FAN, Some(json!(70)))], 100);
    f.telemetry(2, 1000, 1000, json!({FAN: 70}));
    assert_eq!(f.state(FAN), DesiredState::Applied);
}

#[test]
fn a_rejection_reverts_desired_to_the_reported_value_with_the_vehicles_reason() {
    let mut f = Fixture::new();
    f.online();
    let before = f.doc.desired_version;
    let id = f.patch(
        vec![(FAN, Some(json!(90))), (SETPOINT, Some(json!(22.0)))],
        100,
    )[0]
    .id
    .clone();
    let after_patch = f.doc.desired_version;
    assert!(after_patch > before);
    let errors = BTreeMap::from([(FAN.to_owned(), "fan locked by the driver".to_owned())]);
    f.res(&id, Err(errors), 200);
    let fan = &f.doc.desired[FAN];
    assert_eq!(fan.state, DesiredState::Rejected);
    assert_eq!(fan.reason.as_deref(), Some("fan locked by the driver"));
    assert_eq!(fan.value, json!(40), "reverted to the reported value");
    let sp = &f.doc.desired[SETPOINT];
    assert_eq!(sp.state, DesiredState::Rejected);
    assert!(
        sp.reason.as_deref().unwrap().contains("fan locked"),
        "{sp:?}"
    );
    assert!(f.doc.desired_version > after_patch);
    assert!(f.doc.delta(&f.catalog).is_empty());
}

#[test]
fn no_answer_within_the_timeout_expires_unless_the_report_matches() {
    let mut f = Fixture::new();
    f.online();
    f.patch(vec![(FAN, Some(json!(55)))], 100);
    assert!(!f.tick(100 + f.settings.command_timeout_ms - 1) || f.state(FAN) == DesiredState::Sent);
    assert_eq!(f.state(FAN), DesiredState::Sent);
    f.tick(100 + f.settings.command_timeout_ms);
    assert_eq!(f.state(FAN), DesiredState::Expired);
    assert!(
        f.doc.desired[FAN]
            .reason
            .as_deref()
            .unwrap()
            .contains("no answer")
    );
    // An accepted value whose report never follows expires too ...
    let id = f.patch(vec![(SETPOINT, Some(json!(25.0)))], 20_000)[0]
        .id
        .clone();
    f.res(&id, Ok(()), 20_100);
    f.tick(31_000);
    assert_eq!(f.state(SETPOINT), DesiredState::Expired);
    assert!(
        f.doc.desired[SETPOINT]
            .reason
            .as_deref()
            .unwrap()
            .contains("did not follow")
    );
    // ... and a value whose report shows it by then is applied, reply or not.
    f.patch(vec![(SETPOINT, Some(json!(21.0)))], 40_000);
    f.tick(50_000);
    assert_eq!(f.state(SETPOINT), DesiredState::Applied);
}

#[test]
fn an_offline_vehicle_gets_its_pending_values_when_it_returns() {
    let mut f = Fixture::new();
    f.online();
    f.status(false, 10, 500);
    assert!(f.patch(vec![(FAN, Some(json!(65)))], 600).is_empty());
    assert_eq!(f.state(FAN), DesiredState::Pending);
    // Pending values never expire: they were not sent.
    f.tick(600 + 10 * f.settings.command_timeout_ms);
    assert_eq!(f.state(FAN), DesiredState::Pending);
    let cmds = f.status(true, 20, 200_000);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].set[FAN], json!(65));
    assert_eq!(f.doc.desired[FAN].command_id, cmds[0].id);
    assert_eq!(f.state(FAN), DesiredState::Sent);
}

#[test]
fn a_value_sent_to_a_vehicle_that_then_went_offline_is_sent_again() {
    let mut f = Fixture::new();
    f.online();
    let first = f.patch(vec![(FAN, Some(json!(65)))], 100)[0].id.clone();
    f.status(false, 10, 200);
    assert_eq!(f.state(FAN), DesiredState::Pending);
    let again = f.status(true, 20, 300);
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].id, first, "a fresh id");
    // The old id's answer no longer moves anything.
    f.res(&first, Ok(()), 400);
    assert_eq!(f.state(FAN), DesiredState::Sent);
}

#[test]
fn null_removes_a_desired_path() {
    let mut f = Fixture::new();
    f.online();
    f.patch(vec![(FAN, Some(json!(65)))], 100);
    f.patch(vec![(FAN, None)], 200);
    assert!(!f.doc.desired.contains_key(FAN));
    assert!(f.doc.delta(&f.catalog).is_empty());
}

#[test]
fn connectivity_is_stale_after_three_measured_periods_and_offline_by_status() {
    let mut f = Fixture::new();
    f.status(true, 0, 0);
    f.telemetry(1, 0, 0, json!({FAN: 40}));
    f.telemetry(2, 200, 200, json!({FAN: 40}));
    f.tick(400);
    assert_eq!(f.doc.connectivity(), Connectivity::Online);
    f.tick(200 + 3 * 200);
    assert_eq!(f.doc.connectivity(), Connectivity::Online);
    assert!(f.tick(200 + 3 * 200 + 1), "the change bumps the version");
    assert_eq!(f.doc.connectivity(), Connectivity::Stale);
    f.telemetry(3, 400, 1000, json!({FAN: 40}));
    f.tick(1000);
    assert_eq!(f.doc.connectivity(), Connectivity::Online);
    f.status(false, 5, 1100);
    f.tick(1100);
    assert_eq!(f.doc.connectivity(), Connectivity::Offline);
}

#[test]
fn a_last_will_composed_before_the_online_status_still_marks_the_vehicle_offline() {
    let mut f = Fixture::new();
    // The vehicle composes its will at start, then announces itself
    // online a moment later: the will's ts is the older one.
    f.status(true, 1_000, 1_000);
    f.telemetry(1, 1_000, 1_000, json!({FAN: 40}));
    f.status(false, 999, 5_000);
    f.tick(5_000);
    assert_eq!(f.doc.connectivity(), Connectivity::Offline);
}

#[test]
fn a_shared_twin_never_calls_a_vehicle_stale() {
    let mut f = Fixture::new();
    f.settings.shared = true;
    f.status(true, 0, 0);
    f.telemetry(1, 0, 0, json!({FAN: 40}));
    f.tick(3_600_000);
    assert_eq!(f.doc.connectivity(), Connectivity::Online);
}

#[test]
fn late_and_duplicate_telemetry_do_not_overwrite_newer_reported_values() {
    let mut f = Fixture::new();
    f.telemetry(1, 0, 0, json!({FAN: 10}));
    f.telemetry(3, 400, 400, json!({FAN: 30}));
    assert_eq!(f.telemetry(2, 200, 500, json!({FAN: 20})), Arrival::Late);
    assert_eq!(
        f.telemetry(3, 400, 600, json!({FAN: 99})),
        Arrival::Duplicate
    );
    let r = &f.doc.reported[FAN];
    assert_eq!(
        (r.value.clone(), r.seq, r.ts, r.received),
        (json!(30), 3, 400, 400)
    );
    let loss = f.doc.loss();
    assert_eq!(
        (loss.reordered, loss.duplicates, loss.silent_lost),
        (1, 1, 0)
    );
}

#[test]
fn events_set_ota_state_plugin_versions_and_reported_loss() {
    let mut f = Fixture::new();
    f.settings.events_kept = 2;
    let kept = f.settings.events_kept;
    let ts = "2026-01-01T00:00:00.000Z";
    for e in [
        json!({"ts": ts, "type": "ota.state", "t": 1.0, "state": "downloading", "action": "7"}),
        json!({"ts": ts, "type": "plugin.swapped", "subsystem": "abs", "from": "1.0.0", "to": "1.1.0"}),
        json!({"ts": ts, "type": "outbox.dropped", "count": 4, "telemetry_seqs": [[3, 5]]}),
    ] {
        f.doc.apply_event(&event(e), 0, kept).unwrap();
    }
    assert_eq!(f.doc.ota.get("state"), Some(&json!("downloading")));
    assert!(!f.doc.ota.contains_key("type"));
    assert_eq!(f.doc.plugins["abs"], "1.1.0");
    assert_eq!(f.doc.loss().reported_dropped, 3);
    assert_eq!(f.doc.events.len(), 2);
    assert_eq!(f.doc.events[1]["type"], "outbox.dropped");
    let bad = event(json!({"ts": ts, "type": "outbox.dropped", "telemetry_seqs": "all"}));
    assert_eq!(
        f.doc.apply_event(&bad, 0, kept).unwrap_err().key,
        "telemetry_seqs"
    );
}

#[test]
fn the_view_has_the_documented_shape() {
    let mut f = Fixture::new();
    f.online();
    f.patch(vec![(FAN, Some(json!(65)))], 100);
    let v = f.doc.view(&f.catalog);
    for key in [
        "vin",
        "version",
        "desired_version",
        "connectivity",
        "last_seen",
        "reported",
        "desired",
        "delta",
        "plugins",
        "ota",
        "events",
        "loss",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    assert_eq!(v["reported"][FAN]["value"], json!(40));
    assert_eq!(v["reported"][FAN]["seq"], json!(1));
    assert_eq!(v["reported"][FAN]["ts"], json!("1970-01-01T00:00:00.000Z"));
    assert_eq!(v["desired"][FAN]["state"], json!("sent"));
    assert_eq!(v["desired"][FAN]["reason"], Json::Null);
    assert_eq!(v["delta"], json!({FAN: 65}));
    for key in [
        "received",
        "gaps",
        "duplicates",
        "reported_dropped",
        "silent_lost",
        "invalid",
    ] {
        assert!(v["loss"].get(key).is_some(), "loss.{key} missing");
    }
}

#[test]
fn a_reported_dtc_list_shows_in_the_document_as_its_array_of_codes() {
    let mut f = Fixture::new();
    let list = "Vehicle.Diagnostics.DTCList";
    f.telemetry(
        1,
        1_000,
        1_000,
        json!({list: ["C0035", "B1A10"], "Vehicle.Diagnostics.DTCCount": 2}),
    );
    let v = f.doc.view(&f.catalog);
    assert_eq!(v["reported"][list]["value"], json!(["C0035", "B1A10"]));
    assert_eq!(
        v["reported"]["Vehicle.Diagnostics.DTCCount"]["value"],
        json!(2)
    );
    f.telemetry(2, 2_000, 2_000, json!({list: []}));
    assert_eq!(f.doc.view(&f.catalog)["reported"][list]["value"], json!([]));
}

#[test]
fn a_document_survives_a_round_trip_through_json() {
    let mut f = Fixture::new();
    f.online();
    f.patch(vec![(FAN, Some(json!(65)))], 100);
    let back: Document = serde_json::from_str(&serde_json::to_string(&f.doc).unwrap()).unwrap();
    assert_eq!(back.view(&f.catalog), f.doc.view(&f.catalog));
    assert_eq!(back, f.doc);
}

#[test]
fn invalid_input_is_counted_every_time_and_logged_once_per_key() {
    let mut f = Fixture::new();
    assert!(f.doc.refused("Vehicle.Nope"));
    assert!(!f.doc.refused("Vehicle.Nope"));
    assert!(f.doc.refused("payload"));
    assert_eq!(f.doc.loss().invalid, 3);
}

#[test]
fn made_up_paths_without_end_are_counted_but_logged_a_bounded_number_of_times() {
    let mut f = Fixture::new();
    let logged = (0..MAX_LOGGED_KEYS + 100)
        .filter(|i| f.doc.refused(&format!("telemetry:Vehicle.Made.Up{i}")))
        .count();
    assert_eq!(logged, MAX_LOGGED_KEYS);
    assert_eq!(f.doc.loss().invalid, (MAX_LOGGED_KEYS + 100) as u64);
}
