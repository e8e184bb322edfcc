//! Wire formats: topics and the JSON payloads of telemetry (both profiles),
//! events, status and command responses.
//!
//! Telemetry holds every signal that has been written at least once, keyed
//! by its VSS path, typed by its datatype (booleans as `true`/`false`,
//! integers without a fraction). `Vehicle.Diagnostics.DTCList`, which the
//! bus cannot hold, is derived from the plugins' fault masks: a JSON array
//! of the active codes, present whenever `DTCCount` is. The legacy layout ([`legacy`]) is the proof
//! of concept's: its groups, nesting and field names, mapped from the
//! catalog's signals.

pub mod legacy;

use crate::config::MqttConfig;
use serde_json::{Map, Value as Json, json};
use std::sync::Arc;
use std::time::SystemTime;
use tcu_engine::bus::Bus;
use tcu_engine::catalog::{Catalog, DTC_COUNT, DTC_LIST, DtcTable, SignalId, Value};
use tcu_engine::sim::Vehicle;

/// The topics of one vehicle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Periodic snapshot.
    pub telemetry: String,
    /// Discrete events.
    pub events: String,
    /// Retained `online`/`offline`.
    pub status: String,
    /// Command requests (subscribed).
    pub cmd_req: String,
    /// Command responses.
    pub cmd_res: String,
}

impl Topics {
    /// Topics under `root` (already expanded); `legacy_vin` moves telemetry
    /// to the legacy `device/{VIN}/telemetry`.
    pub fn new(root: &str, legacy_vin: Option<&str>) -> Self {
        Self {
            telemetry: match legacy_vin {
                Some(vin) => format!("device/{vin}/telemetry"),
                None => format!("{root}/telemetry"),
            },
            events: format!("{root}/events"),
            status: format!("{root}/status"),
            cmd_req: format!("{root}/cmd/req"),
            cmd_res: format!("{root}/cmd/res"),
        }
    }

    /// Topics of a configuration.
    pub fn for_config(config: &MqttConfig, vin: &str) -> Self {
        let legacy = (config.profile == crate::config::Profile::Legacy).then_some(vin);
        Self::new(&config.topic_root, legacy)
    }
}

/// RFC 3339 wall-clock time with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

pub(crate) fn json_value(v: Value) -> Json {
    match v {
        Value::Bool(b) => Json::Bool(b),
        Value::Int(i) => Json::from(i),
        // NaN or infinite becomes null rather than invalid JSON.
        Value::Float(x) => serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number),
    }
}

/// Builds telemetry snapshots; knows which signals to include.
///
/// The default layout is written straight into the payload's buffer: every
/// signal's `"path":` is rendered once, here, in the order a JSON object
/// with sorted keys has (what `serde_json` writes for the same document),
/// so that a snapshot costs its values and not a map of a hundred owned
/// keys. On the tick thread at 100 Hz this is the telemetry path's largest
/// cost.
#[derive(Debug, Clone)]
pub struct TelemetryEncoder {
    vin: String,
    /// `"vin":"…"}`, the document's end.
    vin_json: Vec<u8>,
    /// Every signal with its rendered key, sorted by path.
    keys: Arc<Keys>,
    /// The legacy layout, when that is the profile.
    legacy: Option<legacy::Layout>,
    /// The codes behind the fault masks, and the `DTCList` and `DTCCount`
    /// signals (when the catalog has them).
    dtc: (Arc<DtcTable>, Option<SignalId>, Option<SignalId>),
}

/// A catalog's signals with their keys rendered (`"path":`), sorted by
/// path, in one buffer. Built once per catalog and shared by every encoder
/// of it: a fleet's thousands of vehicles read one copy, which stays in the
/// caches, rather than each its own hundred small allocations, which a
/// vehicle's snapshot once a second always found cold.
#[derive(Debug)]
struct Keys {
    /// The rendered keys, one after the other.
    text: Box<[u8]>,
    /// Each signal and where its key ends in `text`.
    ids: Box<[(SignalId, u32)]>,
}

/// The keys of the catalogs in use (a dead catalog's entry is dropped when
/// another one is added).
static KEYS: std::sync::Mutex<Vec<(std::sync::Weak<Catalog>, Arc<Keys>)>> =
    std::sync::Mutex::new(Vec::new());

impl Keys {
    /// The shared keys of `catalog`.
    fn of(catalog: &Arc<Catalog>) -> Arc<Self> {
        let mut memo = KEYS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, keys)) = memo
            .iter()
            .find(|(c, _)| std::ptr::eq(c.as_ptr(), Arc::as_ptr(catalog)))
        {
            return Arc::clone(keys);
        }
        memo.retain(|(c, _)| c.strong_count() > 0);
        let keys = Arc::new(Self::render(catalog));
        memo.push((Arc::downgrade(catalog), Arc::clone(&keys)));
        keys
    }

    fn render(catalog: &Catalog) -> Self {
        let mut sorted: Vec<(SignalId, &str)> = catalog
            .iter()
            .map(|(id, m)| (id, m.path.as_str()))
            .collect();
        sorted.sort_unstable_by(|a, b| a.1.cmp(b.1));
        let mut text = Vec::new();
        let mut ids = Vec::with_capacity(sorted.len());
        for (id, path) in sorted {
            write_json(&mut text, &path);
            text.push(b':');
            // A catalog's paths come to kilobytes, far below u32::MAX.
            ids.push((id, u32::try_from(text.len()).unwrap_or(u32::MAX)));
        }
        Self {
            text: text.into(),
            ids: ids.into(),
        }
    }

    /// Each signal with its rendered key, in path order.
    fn iter(&self) -> impl Iterator<Item = (&SignalId, &[u8])> {
        let mut start = 0;
        self.ids.iter().map(move |(id, end)| {
            let end = *end as usize;
            let key = &self.text[start..end];
            start = end;
            (id, key)
        })
    }
}

/// `value` as JSON text: numbers as `serde_json` writes them (non-finite
/// floats as `null`).
fn write_json(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    // Writing into a Vec cannot fail, and these values always serialize.
    let _ = serde_json::to_writer(out, value);
}

impl TelemetryEncoder {
    /// An encoder for `vehicle`'s catalog.
    pub fn new(vehicle: &Vehicle, vin: &str, legacy: bool) -> Self {
        let catalog = vehicle.bus().catalog();
        let keys = Keys::of(catalog);
        let mut vin_json = b"\"vin\":".to_vec();
        write_json(&mut vin_json, &vin);
        vin_json.push(b'}');
        Self {
            vin: vin.to_owned(),
            vin_json,
            keys,
            legacy: legacy.then(|| legacy::Layout::new(catalog)),
            dtc: (
                Arc::clone(vehicle.dtc_table()),
                catalog.id(DTC_LIST),
                catalog.id(DTC_COUNT),
            ),
        }
    }

    /// The snapshot payload.
    pub fn encode(&self, bus: &Bus, seq: u64, now: SystemTime) -> Vec<u8> {
        let ts = rfc3339(now);
        if let Some(layout) = &self.legacy {
            return serde_json::to_vec(&layout.encode(bus, ts, &self.vin)).unwrap_or_default();
        }
        // {"seq":…,"signals":{…},"ts":"…","vin":"…"}: sorted keys.
        let mut out = Vec::with_capacity(64 + self.keys.text.len() + self.keys.ids.len() * 24);
        out.extend_from_slice(b"{\"seq\":");
        write_json(&mut out, &seq);
        out.extend_from_slice(b",\"signals\":{");
        let mut first = true;
        let (table, list, count) = &self.dtc;
        for (id, key) in self.keys.iter() {
            if Some(*id) == *list {
                if count.is_some_and(|c| bus.is_written(c)) {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(key);
                    let codes: Vec<&str> = table
                        .active(|m| bus.get(m))
                        .map(|f| f.code.as_str())
                        .collect();
                    write_json(&mut out, &codes);
                }
                continue;
            }
            if !bus.is_written(*id) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(key);
            match bus.value(*id) {
                Value::Bool(b) => write_json(&mut out, &b),
                Value::Int(i) => write_json(&mut out, &i),
                Value::Float(x) => write_json(&mut out, &x),
            }
        }
        out.extend_from_slice(b"},\"ts\":");
        write_json(&mut out, &ts);
        out.push(b',');
        out.extend_from_slice(&self.vin_json);
        out
    }
}

/// An event payload: `{"ts", "type", "t", "detail", ...extra}`.
pub fn event(
    kind: &str,
    t: Option<f64>,
    detail: &str,
    extra: Map<String, Json>,
    now: SystemTime,
) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("ts".into(), Json::String(rfc3339(now)));
    m.insert("type".into(), Json::String(kind.to_owned()));
    if let Some(t) = t {
        m.insert("t".into(), json!(t));
    }
    m.insert("detail".into(), Json::String(detail.to_owned()));
    m.extend(extra);
    serde_json::to_vec(&Json::Object(m)).unwrap_or_default()
}

/// The name and version of every plugin `vehicle` runs, as the status
/// lists them.
pub fn plugin_versions(vehicle: &Vehicle) -> Vec<(String, String)> {
    vehicle
        .plugins()
        .iter()
        .map(|p| (p.name().to_owned(), p.library().info().version.clone()))
        .collect()
}

/// The retained status: `online` with plugin versions, or `offline`.
pub fn status(online: bool, vin: &str, plugins: &[(String, String)], now: SystemTime) -> Vec<u8> {
    let plugins: Map<String, Json> = plugins
        .iter()
        .map(|(n, v)| (n.clone(), Json::String(v.clone())))
        .collect();
    let state = if online { "online" } else { "offline" };
    serde_json::to_vec(
        &json!({"status": state, "vin": vin, "ts": rfc3339(now), "plugins": plugins}),
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_the_json_document_of_the_contract() {
        use tcu_engine::config::{VehicleConfig, VehicleOverrides};
        let catalog = std::sync::Arc::new(tcu_engine::catalog::Catalog::builtin());
        let config = VehicleConfig::defaults_with(&VehicleOverrides::default(), &catalog).unwrap();
        let (mut v, _) =
            tcu_engine::build::build_vehicle_with(&config, catalog, |_| Ok(Default::default()))
                .unwrap();
        for _ in 0..500 {
            v.step();
        }
        let enc = TelemetryEncoder::new(&v, "V\"1", false);
        let bytes = enc.encode(v.bus(), 7, SystemTime::UNIX_EPOCH);
        let bus = v.bus();
        let mut signals: Map<String, Json> = bus
            .catalog()
            .iter()
            .filter(|(id, _)| bus.is_written(*id))
            .map(|(id, m)| (m.path.clone(), json_value(bus.value(id))))
            .collect();
        assert!(signals.len() > 10, "{}", signals.len());
        signals.insert(DTC_LIST.into(), json!([]));
        let doc =
            json!({"vin": "V\"1", "seq": 7, "ts": "1970-01-01T00:00:00.000Z", "signals": signals});
        // Byte for byte what serde_json writes for the same document.
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            serde_json::to_string(&doc).unwrap()
        );
    }

    #[test]
    fn encoders_of_one_catalog_share_its_rendered_keys_and_another_catalog_gets_its_own() {
        let tsv = |rows: &str| {
            let text =
                format!("path\ttype\tdatatype\tunit\tmin\tmax\tallowed\tdescription\n{rows}");
            Arc::new(Catalog::from_sources(&[("t.tsv", &text, false)]).unwrap())
        };
        let a = tsv(
            "Vehicle.Speed\tsensor\tfloat\tkm/h\t\t\t\tSpeed.\nVehicle.A\tsensor\tboolean\t\t\t\t\tA.\n",
        );
        let b = tsv("Vehicle.B\tsensor\tboolean\t\t\t\t\tB.\n");
        let (ka, ka2, kb) = (Keys::of(&a), Keys::of(&a), Keys::of(&b));
        assert!(Arc::ptr_eq(&ka, &ka2));
        let keys = |k: &Keys| -> Vec<(u32, String)> {
            k.iter()
                .map(|(id, key)| (id.0, String::from_utf8(key.to_vec()).unwrap()))
                .collect()
        };
        // Sorted by path, each `"path":`.
        assert_eq!(
            keys(&ka),
            [
                (1, "\"Vehicle.A\":".to_owned()),
                (0, "\"Vehicle.Speed\":".to_owned())
            ]
        );
        assert_eq!(keys(&kb), [(0, "\"Vehicle.B\":".to_owned())]);
        // A catalog dropped and another made (perhaps at the same address)
        // is rendered afresh.
        drop((a, ka, ka2));
        let c = tsv("Vehicle.C\tsensor\tboolean\t\t\t\t\tC.\n");
        assert_eq!(keys(&Keys::of(&c)), [(0, "\"Vehicle.C\":".to_owned())]);
    }

    #[test]
    fn dtc_list_is_a_json_array_of_the_active_code_strings() {
        use tcu_engine::config::{VehicleConfig, VehicleOverrides};
        let catalog = std::sync::Arc::new(tcu_engine::catalog::Catalog::builtin());
        let config = VehicleConfig::defaults_with(&VehicleOverrides::default(), &catalog).unwrap();
        let (mut v, _) =
            tcu_engine::build::build_vehicle_with(&config, catalog, |_| Ok(Default::default()))
                .unwrap();
        let bus = v.bus_mut();
        for (path, mask) in [
            ("Sim.Diagnostics.ABS.ActiveFaults", 1.0),
            ("Sim.Diagnostics.HeatedSeats.ActiveFaults", 6.0),
        ] {
            let id = bus.id(path).unwrap();
            bus.write(id, mask).unwrap();
        }
        v.step();
        let enc = TelemetryEncoder::new(&v, "V1", false);
        let doc: Json =
            serde_json::from_slice(&enc.encode(v.bus(), 1, SystemTime::UNIX_EPOCH)).unwrap();
        assert_eq!(doc["signals"][DTC_LIST], json!(["C0035", "B1A11", "B1A12"]));
        assert_eq!(doc["signals"][DTC_COUNT], json!(3));
    }

    #[test]
    fn topics_follow_the_contract() {
        let t = Topics::new("vehicle/V1", None);
        assert_eq!(t.telemetry, "vehicle/V1/telemetry");
        assert_eq!(t.cmd_req, "vehicle/V1/cmd/req");
        assert_eq!(
            Topics::new("vehicle/V1", Some("V1")).telemetry,
            "device/V1/telemetry"
        );
    }

    #[test]
    fn events_carry_type_ts_and_extra_fields() {
        let mut extra = Map::new();
        extra.insert("count".into(), json!(3));
        let v: Json = serde_json::from_slice(&event(
            "outbox.dropped",
            None,
            "x",
            extra,
            SystemTime::UNIX_EPOCH,
        ))
        .unwrap();
        assert_eq!(v["type"], "outbox.dropped");
        assert_eq!(v["count"], 3);
        assert_eq!(v["ts"], "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn status_has_state_and_plugins() {
        let v: Json = serde_json::from_slice(&status(
            true,
            "V",
            &[("abs".into(), "1.0.0".into())],
            SystemTime::UNIX_EPOCH,
        ))
        .unwrap();
        assert_eq!(v["status"], "online");
        assert_eq!(v["plugins"]["abs"], "1.0.0");
    }
}
