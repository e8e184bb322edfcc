//! Several twins of one share group merging each other's documents (the
//! rules are in `crate::doc`'s merge module).

use super::{Effects, Fleet};
use crate::doc::Settings;
use crate::ingest::TopicScheme;
use crate::store::Record;
use serde_json::{Value as Json, json};
use std::sync::Arc;
use tcu_engine::catalog::Catalog;

const VIN: &str = "WTCUZ000000000001";
const FAN: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";

/// A twin of a share group, started at `started` (its command ids).
fn twin(started: i64) -> Fleet {
    let settings = Settings {
        shared: true,
        ..Settings::default()
    };
    let scheme = TopicScheme::new("vehicle/{vin}").unwrap();
    Fleet::new(
        Arc::new(Catalog::builtin()),
        scheme,
        settings,
        1 << 16,
        100,
        started,
    )
}

fn status(f: &mut Fleet, online: bool, now: i64) -> Effects {
    let mut fx = Effects::default();
    let s = if online { "online" } else { "offline" };
    let body = json!({"status": s, "vin": VIN, "ts": "2026-01-01T00:00:00.000Z", "plugins": {}});
    f.ingest(
        &format!("vehicle/{VIN}/status"),
        body.to_string().as_bytes(),
        now,
        &mut fx,
    );
    fx
}

fn telemetry(f: &mut Fleet, seq: u64, fan: u64, now: i64) -> Effects {
    let mut fx = Effects::default();
    let body = json!({"vin": VIN, "seq": seq, "ts": crate::clock::rfc3339(1_767_225_600_000 + 1000 * seq as i64),
        "signals": {FAN: fan, "Vehicle.Speed": seq as f64}});
    f.ingest(
        &format!("vehicle/{VIN}/telemetry"),
        body.to_string().as_bytes(),
        now,
        &mut fx,
    );
    fx
}

fn cmd_res(f: &mut Fleet, id: &str, now: i64) {
    let mut fx = Effects::default();
    let body = json!({"id": id, "status": "accepted"});
    f.ingest(
        &format!("vehicle/{VIN}/cmd/res"),
        body.to_string().as_bytes(),
        now,
        &mut fx,
    );
}

/// What `f` would checkpoint now (every document, dirty or not).
fn checkpoint(f: &mut Fleet) -> Vec<String> {
    let mut fx = Effects::default();
    f.checkpoint(&mut fx);
    fx.records
        .into_iter()
        .filter_map(|r| match r {
            Record::Document { body, .. } => Some(body),
            _ => None,
        })
        .collect()
}

/// Merges `from`'s whole document (as a checkpoint holds it) into `into`.
fn merged(into: &mut Fleet, from: &mut Fleet, now: i64) -> Effects {
    let mut fx = Effects::default();
    let body = serde_json::to_string(from.get(VIN).unwrap()).unwrap();
    into.merge(&Fleet::parse_peers(&[body]), now, &mut fx);
    fx
}

fn view(f: &Fleet) -> Json {
    f.view(VIN).unwrap()
}

#[test]
fn a_twin_shows_the_reported_values_and_desired_state_another_twin_of_the_group_ingested() {
    let (mut a, mut b) = (twin(1_000), twin(2_000));
    status(&mut a, true, 10);
    status(&mut b, true, 10);
    telemetry(&mut a, 1, 40, 20);
    telemetry(&mut b, 2, 40, 30);
    telemetry(&mut a, 3, 40, 40);
    // A desired value set through B, for a vehicle whose newest
    // telemetry A ingested.
    let mut fx = Effects::default();
    b.patch(VIN, &json!({FAN: 70}), None, 50, &mut fx).unwrap();
    assert_eq!(fx.commands.len(), 1, "B sends it");
    let id = view(&b)["desired"][FAN]["command_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fx = merged(&mut a, &mut b, 60);
    assert_eq!(fx.changed.len(), 1, "streams hear of the merge");
    assert!(fx.commands.is_empty(), "merging sends nothing");
    assert_eq!(view(&a)["desired"][FAN]["state"], "sent");
    // Every twin gets every command response.
    cmd_res(&mut a, &id, 70);
    cmd_res(&mut b, &id, 70);
    // The vehicle reports it; A ingests that and moves it to applied.
    let fx = telemetry(&mut a, 4, 70, 80);
    let applied: Vec<_> = fx
        .records
        .iter()
        .filter(
            |r| matches!(r, Record::Command { outcome, .. } if outcome.state.as_str() == "applied"),
        )
        .collect();
    assert_eq!(applied.len(), 1, "A records the outcome");
    assert_eq!(view(&a)["desired"][FAN]["state"], "applied");
    merged(&mut b, &mut a, 90);
    let (va, vb) = (view(&a), view(&b));
    assert_eq!(vb["desired"][FAN]["state"], "applied");
    assert_eq!(vb["reported"], va["reported"]);
    assert_eq!(vb["reported"]["Vehicle.Speed"]["seq"], 4);
    assert_eq!(vb["delta"], json!({}));
    assert_eq!(vb["desired_version"], va["desired_version"]);
    // Merging again, either way, changes nothing.
    assert!(merged(&mut b, &mut a, 95).changed.is_empty());
    assert!(merged(&mut a, &mut b, 95).changed.is_empty());
}

#[test]
fn a_desired_value_removed_through_one_twin_stays_removed_after_merging_the_others_copy() {
    let (mut a, mut b) = (twin(1_000), twin(2_000));
    status(&mut a, true, 10);
    status(&mut b, true, 10);
    let mut fx = Effects::default();
    a.patch(VIN, &json!({FAN: 70}), None, 20, &mut fx).unwrap();
    merged(&mut b, &mut a, 30);
    assert_eq!(view(&b)["desired"][FAN]["value"], 70);
    b.patch(VIN, &json!({FAN: null}), None, 40, &mut fx)
        .unwrap();
    // A's older copy does not bring it back to B; B's removal reaches A.
    merged(&mut b, &mut a, 50);
    assert_eq!(view(&b)["desired"], json!({}));
    merged(&mut a, &mut b, 60);
    assert_eq!(view(&a)["desired"], json!({}));
}

#[test]
fn a_pending_value_is_sent_only_by_the_twin_that_took_the_patch() {
    let (mut a, mut b) = (twin(1_000), twin(2_000));
    status(&mut a, false, 10);
    status(&mut b, false, 10);
    let mut fx = Effects::default();
    b.patch(VIN, &json!({FAN: 70}), None, 20, &mut fx).unwrap();
    assert!(fx.commands.is_empty(), "offline: pending");
    merged(&mut a, &mut b, 30);
    assert_eq!(view(&a)["desired"][FAN]["state"], "pending");
    // The vehicle comes back: each twin reads its status.
    assert!(
        status(&mut a, true, 40).commands.is_empty(),
        "not A's to send"
    );
    assert_eq!(status(&mut b, true, 40).commands.len(), 1);
}

#[test]
fn a_twin_lists_a_vehicle_only_another_twin_has_seen() {
    let (mut a, mut b) = (twin(1_000), twin(2_000));
    status(&mut a, true, 10);
    telemetry(&mut a, 1, 40, 20);
    merged(&mut b, &mut a, 30);
    let list = b.list(None);
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0]["vin"].as_str(), list[0]["connectivity"].as_str()),
        (Some(VIN), Some("online"))
    );
    assert_eq!(view(&b)["reported"][FAN]["value"], 40);
    assert!(
        checkpoint(&mut b).is_empty(),
        "a merged document is not checkpointed again"
    );
}

#[test]
fn two_patches_of_one_value_at_the_same_time_through_two_twins_end_the_same_in_both() {
    let (mut a, mut b) = (twin(1_000), twin(2_000));
    status(&mut a, true, 10);
    status(&mut b, true, 10);
    let mut fx = Effects::default();
    a.patch(VIN, &json!({FAN: 60}), None, 20, &mut fx).unwrap();
    b.patch(VIN, &json!({FAN: 70}), None, 20, &mut fx).unwrap();
    merged(&mut a, &mut b, 30);
    merged(&mut b, &mut a, 30);
    assert_eq!(view(&a)["desired"], view(&b)["desired"]);
}
