//! What arrives from the broker, checked: topics under the configured root
//! (`vehicle/{vin}/telemetry`, `events`, `status`, `cmd/res`, `captures`) and their
//! payloads as the vehicle's MQTT contract defines them (README "MQTT").
//!
//! Nothing here trusts its input: a payload over the size limit, malformed
//! JSON, a missing field, a VIN that does not match the topic, an unknown
//! VSS path, a wrong datatype or an out-of-range value is a [`Refusal`]
//! (for the message) or a refused value (for one signal of a telemetry
//! snapshot, whose other signals still count).

use crate::clock::{Millis, parse_rfc3339};
use crate::rules::check_value;
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use tcu_engine::catalog::{Catalog, SignalId};

/// A topic of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `{root}/telemetry`
    Telemetry,
    /// `{root}/events`
    Events,
    /// `{root}/status` (retained)
    Status,
    /// `{root}/cmd/req` (the twin publishes here)
    CmdReq,
    /// `{root}/cmd/res`
    CmdRes,
    /// `{root}/captures` (chunks of capture files, [`crate::capture`])
    Captures,
}

impl Kind {
    /// The topic's leaf below the root.
    pub fn leaf(self) -> &'static str {
        match self {
            Self::Telemetry => "telemetry",
            Self::Events => "events",
            Self::Status => "status",
            Self::CmdReq => "cmd/req",
            Self::CmdRes => "cmd/res",
            Self::Captures => "captures",
        }
    }

    /// What the twin subscribes to.
    pub const SUBSCRIBED: [Kind; 5] = [
        Self::Telemetry,
        Self::Events,
        Self::Status,
        Self::CmdRes,
        Self::Captures,
    ];
}

/// The topic root template (`vehicle/{vin}`) split around the VIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicScheme {
    prefix: String,
    suffix: String,
}

impl TopicScheme {
    /// Parses a template: `{vin}` exactly once, as a whole topic level; no
    /// wildcards, no empty levels.
    pub fn new(template: &str) -> Result<Self, String> {
        if template.matches("{vin}").count() != 1 {
            return Err(format!("`{template}` must contain `{{vin}}` exactly once"));
        }
        if template.contains(['+', '#']) || template.starts_with('$') {
            return Err(format!(
                "`{template}` may not contain wildcards or start with `$`"
            ));
        }
        if template.split('/').any(str::is_empty) {
            return Err(format!("`{template}` has an empty topic level"));
        }
        let (prefix, suffix) = template.split_once("{vin}").unwrap_or_default();
        if !(prefix.is_empty() || prefix.ends_with('/'))
            || !(suffix.is_empty() || suffix.starts_with('/'))
        {
            return Err(format!(
                "`{template}`: `{{vin}}` must be a whole topic level"
            ));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    /// The topic of `kind` for `vin`.
    pub fn topic(&self, vin: &str, kind: Kind) -> String {
        format!("{}{vin}{}/{}", self.prefix, self.suffix, kind.leaf())
    }

    /// The subscription filter of `kind` for every VIN.
    pub fn filter(&self, kind: Kind) -> String {
        self.topic("+", kind)
    }

    /// The VIN and kind of a topic, if it is one of the contract's.
    pub fn parse<'t>(&self, topic: &'t str) -> Option<(&'t str, Kind)> {
        let rest = topic.strip_prefix(self.prefix.as_str())?;
        let (vin, rest) = rest.split_once('/').map_or((rest, ""), |(v, r)| (v, r));
        let rest = format!("/{rest}");
        let leaf = rest.strip_prefix(self.suffix.as_str())?.strip_prefix('/')?;
        let kind = [
            Kind::Telemetry,
            Kind::Events,
            Kind::Status,
            Kind::CmdReq,
            Kind::CmdRes,
            Kind::Captures,
        ]
        .into_iter()
        .find(|k| k.leaf() == leaf)?;
        (!vin.is_empty()).then_some((vin, kind))
    }
}

/// Why a whole message was refused: the key (`payload`, a field name) and
/// the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `payload` or the offending field.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

pub(crate) fn refuse(key: &str, reason: impl Into<String>) -> Refusal {
    Refusal {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// The JSON object of a payload within `max` bytes.
pub(crate) fn object(payload: &[u8], max: usize) -> Result<Map<String, Json>, Refusal> {
    if payload.len() > max {
        return Err(refuse(
            "payload",
            format!("{} bytes is over the limit of {max}", payload.len()),
        ));
    }
    match serde_json::from_slice::<Json>(payload) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(_) => Err(refuse("payload", "expected a JSON object")),
        Err(e) => Err(refuse("payload", format!("malformed JSON: {e}"))),
    }
}

fn time_field(m: &Map<String, Json>, key: &str) -> Result<Millis, Refusal> {
    let s = m
        .get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| refuse(key, "missing or not a string"))?;
    parse_rfc3339(s).ok_or_else(|| refuse(key, format!("`{s}` is not an RFC 3339 time")))
}

pub(crate) fn vin_matches(m: &Map<String, Json>, vin: &str) -> Result<(), Refusal> {
    match m.get("vin") {
        None => Ok(()),
        Some(Json::String(v)) if v == vin => Ok(()),
        Some(other) => Err(refuse(
            "vin",
            format!("{other} does not match the topic's `{vin}`"),
        )),
    }
}

/// A checked telemetry snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Telemetry {
    /// Sequence number.
    pub seq: u64,
    /// The vehicle's timestamp.
    pub ts: Millis,
    /// The values that passed the catalog's checks: signal, slot value,
    /// value as JSON.
    pub values: Vec<(SignalId, f64, Json)>,
    /// Refused values: path and reason.
    pub refused: Vec<(String, String)>,
}

/// Checks a telemetry payload of `vin`.
pub fn telemetry(
    payload: &[u8],
    vin: &str,
    catalog: &Catalog,
    max: usize,
) -> Result<Telemetry, Refusal> {
    let m = object(payload, max)?;
    vin_matches(&m, vin)?;
    let seq = m
        .get("seq")
        .and_then(Json::as_u64)
        .ok_or_else(|| refuse("seq", "missing or not a whole number"))?;
    let ts = time_field(&m, "ts")?;
    let Some(Json::Object(signals)) = m.get("signals") else {
        return Err(refuse("signals", "missing or not an object"));
    };
    let mut values = Vec::with_capacity(signals.len());
    let mut refused = Vec::new();
    for (path, v) in signals {
        match check_value(catalog, path, v) {
            Ok((id, slot, json)) => values.push((id, slot, json)),
            Err(reason) => refused.push((path.clone(), reason)),
        }
    }
    Ok(Telemetry {
        seq,
        ts,
        values,
        refused,
    })
}

/// A checked event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventMsg {
    /// The vehicle's timestamp.
    pub ts: Millis,
    /// `type`.
    pub kind: String,
    /// The whole event object.
    pub body: Map<String, Json>,
}

impl EventMsg {
    /// A string field of the event.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.body.get(key).and_then(Json::as_str)
    }

    /// The `telemetry_seqs` ranges of an `outbox.dropped` event.
    pub fn dropped_seqs(&self) -> Result<Vec<(u64, u64)>, Refusal> {
        let bad = || refuse("telemetry_seqs", "expected an array of [first, last] pairs");
        let Some(Json::Array(ranges)) = self.body.get("telemetry_seqs") else {
            return match self.body.get("telemetry_seqs") {
                None => Ok(Vec::new()),
                Some(_) => Err(bad()),
            };
        };
        ranges
            .iter()
            .map(|r| match r.as_array().map(Vec::as_slice) {
                Some([a, b]) => Ok((a.as_u64().ok_or_else(bad)?, b.as_u64().ok_or_else(bad)?)),
                _ => Err(bad()),
            })
            .collect()
    }
}

/// Checks an event payload.
pub fn event(payload: &[u8], max: usize) -> Result<EventMsg, Refusal> {
    let body = object(payload, max)?;
    let ts = time_field(&body, "ts")?;
    let kind = body
        .get("type")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refuse("type", "missing or not a string"))?
        .to_owned();
    Ok(EventMsg { ts, kind, body })
}

/// A checked status.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusMsg {
    /// `online` (else `offline`).
    pub online: bool,
    /// The vehicle's timestamp.
    pub ts: Option<Millis>,
    /// Running plugin versions.
    pub plugins: BTreeMap<String, String>,
}

/// Checks a status payload of `vin`.
pub fn status(payload: &[u8], vin: &str, max: usize) -> Result<StatusMsg, Refusal> {
    let m = object(payload, max)?;
    vin_matches(&m, vin)?;
    let online = match m.get("status").and_then(Json::as_str) {
        Some("online") => true,
        Some("offline") => false,
        _ => return Err(refuse("status", "expected \"online\" or \"offline\"")),
    };
    let ts = m.get("ts").map(|_| time_field(&m, "ts")).transpose()?;
    let plugins = match m.get("plugins") {
        None => BTreeMap::new(),
        Some(Json::Object(p)) => p
            .iter()
            .map(|(k, v)| match v {
                Json::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(refuse(
                    "plugins",
                    format!("version of `{k}` is not a string"),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(refuse("plugins", "expected an object of name: version")),
    };
    Ok(StatusMsg {
        online,
        ts,
        plugins,
    })
}

/// A checked command response.
#[derive(Debug, Clone, PartialEq)]
pub struct CmdRes {
    /// The correlation id (`null` when the vehicle could not read it).
    pub id: Option<String>,
    /// Accepted, or rejected with reasons by path (or `payload`, `id`,
    /// `set`).
    pub outcome: Result<(), BTreeMap<String, String>>,
}

/// Checks a `cmd/res` payload.
pub fn cmd_res(payload: &[u8], max: usize) -> Result<CmdRes, Refusal> {
    let m = object(payload, max)?;
    let id = match m.get("id") {
        Some(Json::String(s)) => Some(s.clone()),
        Some(Json::Null) | None => None,
        Some(_) => return Err(refuse("id", "expected a string or null")),
    };
    let outcome = match m.get("status").and_then(Json::as_str) {
        Some("accepted") => Ok(()),
        Some("rejected") => {
            let errors = match m.get("errors") {
                Some(Json::Object(e)) => e
                    .iter()
                    .map(|(k, v)| {
                        let reason = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                        (k.clone(), reason)
                    })
                    .collect(),
                _ => BTreeMap::new(),
            };
            Err(errors)
        }
        _ => return Err(refuse("status", "expected \"accepted\" or \"rejected\"")),
    };
    Ok(CmdRes { id, outcome })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VIN: &str = "WTCUZ000000000001";

    #[test]
    fn topics_parse_under_any_root_template() {
        let s = TopicScheme::new("vehicle/{vin}").unwrap();
        assert_eq!(s.filter(Kind::Telemetry), "vehicle/+/telemetry");
        assert_eq!(s.topic(VIN, Kind::CmdReq), format!("vehicle/{VIN}/cmd/req"));
        assert_eq!(
            s.parse(&format!("vehicle/{VIN}/cmd/res")),
            Some((VIN, Kind::CmdRes))
        );
        assert_eq!(s.parse("vehicle/V/other"), None);
        assert_eq!(s.parse("other/V/telemetry"), None);
        assert_eq!(s.parse("vehicle//telemetry"), None);
        let s = TopicScheme::new("fleet/eu/{vin}/car").unwrap();
        assert_eq!(s.filter(Kind::Status), "fleet/eu/+/car/status");
        assert_eq!(
            s.parse("fleet/eu/V1/car/events"),
            Some(("V1", Kind::Events))
        );
        assert_eq!(s.parse("fleet/eu/V1/events"), None);
        for bad in [
            "vehicle",
            "vehicle/{vin}/{vin}",
            "v/+/{vin}",
            "v{vin}",
            "a//{vin}",
            "$SYS/{vin}",
        ] {
            assert!(TopicScheme::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn telemetry_keeps_good_values_and_names_the_refused_ones() {
        let c = Catalog::builtin();
        let p = json!({"vin": VIN, "seq": 7, "ts": "2026-01-01T00:00:01.500Z", "signals": {
            "Vehicle.Speed": 12.5, "Vehicle.Nope": 1, "Vehicle.ADAS.ABS.IsEngaged": 3,
            "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed": 400}});
        let t = telemetry(p.to_string().as_bytes(), VIN, &c, 1 << 16).unwrap();
        assert_eq!((t.seq, t.ts), (7, 1_767_225_601_500));
        assert_eq!(t.values.len(), 1);
        let refused: Vec<&str> = t.refused.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            refused,
            [
                "Vehicle.ADAS.ABS.IsEngaged",
                "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed",
                "Vehicle.Nope"
            ]
        );
    }

    #[test]
    fn a_dtc_list_of_code_strings_is_ingested_and_other_shapes_are_refused() {
        let c = Catalog::builtin();
        let p = json!({"vin": VIN, "seq": 1, "ts": "2026-01-01T00:00:01.500Z", "signals": {
            "Vehicle.Diagnostics.DTCList": ["C0035", "P0A7E"],
            "Vehicle.Diagnostics.DTCCount": 2}});
        let t = telemetry(p.to_string().as_bytes(), VIN, &c, 1 << 16).unwrap();
        assert!(t.refused.is_empty(), "{:?}", t.refused);
        let list = c.id("Vehicle.Diagnostics.DTCList").unwrap();
        let (_, slot, json) = t.values.iter().find(|(id, _, _)| *id == list).unwrap();
        assert_eq!((*slot, json), (2.0, &json!(["C0035", "P0A7E"])));
        for bad in [
            json!("C0035"),
            json!([1]),
            json!(3),
            json!(["x".repeat(65)]),
        ] {
            let p = json!({"vin": VIN, "seq": 2, "ts": "2026-01-01T00:00:01.500Z",
                "signals": {"Vehicle.Diagnostics.DTCList": bad}});
            let t = telemetry(p.to_string().as_bytes(), VIN, &c, 1 << 16).unwrap();
            assert_eq!(t.refused.len(), 1, "{bad}");
        }
    }

    #[test]
    fn bad_messages_are_refused_with_the_field_named() {
        let c = Catalog::builtin();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{not json".to_vec(), "payload"),
            (b"[1]".to_vec(), "payload"),
            (vec![b' '; 100], "payload"),
            (
                json!({"seq": 1, "ts": "x", "signals": {}})
                    .to_string()
                    .into_bytes(),
                "ts",
            ),
            (
                json!({"ts": "2026-01-01T00:00:00Z", "signals": {}})
                    .to_string()
                    .into_bytes(),
                "seq",
            ),
            (
                json!({"vin": "OTHER", "seq": 1}).to_string().into_bytes(),
                "vin",
            ),
            (
                json!({"seq": 1, "ts": "2026-01-01T00:00:00Z"})
                    .to_string()
                    .into_bytes(),
                "signals",
            ),
        ];
        for (p, key) in cases {
            let e = telemetry(&p, VIN, &c, 64).unwrap_err();
            assert_eq!(e.key, key, "{}: {e:?}", String::from_utf8_lossy(&p));
        }
        assert!(
            telemetry(&[b'{'; 65], VIN, &c, 64)
                .unwrap_err()
                .reason
                .contains("over the limit")
        );
    }

    #[test]
    fn status_events_and_responses_parse() {
        let s = status(
            json!({"status": "online", "vin": VIN, "ts": "2026-01-01T00:00:00.000Z", "plugins": {"abs": "1.0.0"}})
                .to_string()
                .as_bytes(),
            VIN,
            4096,
        )
        .unwrap();
        assert!(s.online);
        assert_eq!(s.plugins["abs"], "1.0.0");
        assert_eq!(
            status(b"{\"status\": \"maybe\"}", VIN, 4096)
                .unwrap_err()
                .key,
            "status"
        );
        let e = event(
            json!({"ts": "2026-01-01T00:00:00.000Z", "type": "outbox.dropped", "count": 3,
                "telemetry_seqs": [[3, 4], [9, 9]]})
            .to_string()
            .as_bytes(),
            4096,
        )
        .unwrap();
        assert_eq!(e.kind, "outbox.dropped");
        assert_eq!(e.dropped_seqs().unwrap(), vec![(3, 4), (9, 9)]);
        let r = cmd_res(
            json!({"id": "7", "status": "rejected", "errors": {"Vehicle.Speed": "is a sensor, not an actuator"}})
                .to_string()
                .as_bytes(),
            4096,
        )
        .unwrap();
        assert_eq!(r.id.as_deref(), Some("7"));
        assert!(r.outcome.unwrap_err()["Vehicle.Speed"].contains("sensor"));
        assert_eq!(
            cmd_res(b"{\"id\": \"1\", \"status\": \"accepted\"}", 64)
                .unwrap()
                .outcome,
            Ok(())
        );
    }
}
