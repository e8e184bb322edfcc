//! Commands received on `cmd/req`: parsing and the checks the bus cannot
//! make, and the responses sent on `cmd/res`.
//!
//! A request is `{"id": "...", "set": {"<VSS path>": value, ...}}`, or a
//! plugin's named command, `{"id": "...", "command": {"subsystem": "abs",
//! "name": "fault.wheel_sensor", "value": 1}}` (`reset`, `set_soc`,
//! `fault.<name>`, ...), or new capture rules, `{"id": "...",
//! "capture_rules": [{"rule": "abs.engaged", "before": 5, "after": 3}]}`.
//! What is checked here: the payload size, that it is a JSON object, that
//! it has a non-empty string `id` and exactly one of a non-empty object
//! `set`, a `command` (non-empty `subsystem` and `name`, a numeric `value`,
//! nothing else) or a `capture_rules` array (each a non-empty string `rule`
//! and optional numbers `before` and `after`, nothing else; refused keyed
//! `capture_rules[i]`) and nothing else, and that every value is a number
//! or a boolean. Whether the plugin knows the command is its own decision,
//! reported keyed `command`; whether a capture rule names a signal of the
//! catalog is the capturer's, keyed `capture_rules[i]`. Whether each path exists, is an
//! actuator and is in range is the bus's decision, made all or nothing on the
//! tick thread (`Bus::set_actuators`). A refused request names the `id` when
//! it could be read; reasons that concern the request rather than a path are
//! keyed by `payload`, `id`, `set` or the unknown field's name (none of which
//! can be confused with a VSS path).
//!
//! [`parse`] is a pure function of the payload's bytes that returns a
//! refusal for anything it cannot take and never panics: a fuzz target can
//! call it as it is.

use serde_json::{Map, Value as Json, json};
use tcu_engine::bus::SetErrors;
use tcu_engine::catalog::Value;
use tcu_engine::record::{DEFAULT_AFTER_S, DEFAULT_BEFORE_S, RuleSpec};

/// Largest accepted request payload.
pub const MAX_COMMAND_BYTES: usize = 16 * 1024;

/// A request that passed the checks of this module.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Correlation id.
    pub id: String,
    /// Paths and values, in the order given (empty for a plugin command).
    pub set: Vec<(String, Value)>,
    /// A plugin's named command instead of a write.
    pub plugin: Option<PluginCall>,
    /// New capture rules instead of a write (empty: none).
    pub capture_rules: Option<Vec<RuleSpec>>,
}

/// A plugin command of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginCall {
    /// Subsystem name.
    pub subsystem: String,
    /// Command name.
    pub name: String,
    /// Its argument.
    pub value: f64,
}

/// Reads the `command` object of a request.
fn plugin_call(v: &Json) -> Result<PluginCall, String> {
    let shape = "must be {\"subsystem\": \"...\", \"name\": \"...\", \"value\": number}";
    let Json::Object(m) = v else {
        return Err(shape.to_owned());
    };
    let text = |k: &str| {
        m.get(k)
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match (
        text("subsystem"),
        text("name"),
        m.get("value").and_then(Json::as_f64),
    ) {
        (Some(subsystem), Some(name), Some(value)) if m.len() == 3 && !name.contains('\0') => {
            Ok(PluginCall {
                subsystem,
                name,
                value,
            })
        }
        _ => Err(shape.to_owned()),
    }
}

/// Reads the `capture_rules` array of a request, or says what is wrong
/// with it (keyed `capture_rules`, or `capture_rules[i]` for one rule).
fn capture_rules(v: &Json, errors: &mut SetErrors) -> Vec<RuleSpec> {
    let shape = "must be {\"rule\": \"...\", \"before\": seconds, \"after\": seconds} (before and after optional)";
    let Json::Array(list) = v else {
        errors.insert(
            "capture_rules".into(),
            "must be an array of rules (empty: no captures)".into(),
        );
        return Vec::new();
    };
    let mut rules = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let seconds = |m: &Map<String, Json>, k: &str, default: f64| match m.get(k) {
            None => Some(default),
            Some(v) => v.as_f64(),
        };
        let spec = match r {
            Json::Object(m)
                if m.keys()
                    .all(|k| matches!(k.as_str(), "rule" | "before" | "after")) =>
            {
                match (
                    m.get("rule")
                        .and_then(Json::as_str)
                        .filter(|s| !s.is_empty()),
                    seconds(m, "before", DEFAULT_BEFORE_S),
                    seconds(m, "after", DEFAULT_AFTER_S),
                ) {
                    (Some(rule), Some(before_s), Some(after_s)) => Some(RuleSpec {
                        rule: rule.to_owned(),
                        before_s,
                        after_s,
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        match spec {
            Some(s) => rules.push(s),
            None => {
                errors.insert(format!("capture_rules[{i}]"), shape.to_owned());
            }
        }
    }
    rules
}

/// A request refused before it reached the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The id, when it could be read.
    pub id: Option<String>,
    /// Reasons.
    pub errors: SetErrors,
}

fn refuse(id: Option<String>, key: &str, reason: impl Into<String>) -> Refusal {
    let mut errors = SetErrors::new();
    errors.insert(key.to_owned(), reason.into());
    Refusal { id, errors }
}

fn readable_id(doc: &Json) -> Option<String> {
    doc.get("id")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Parses and checks a request payload.
pub fn parse(payload: &[u8]) -> Result<Command, Refusal> {
    if payload.len() > MAX_COMMAND_BYTES {
        // Still try to name the request: the id is what the sender waits on.
        let id = serde_json::from_slice::<Json>(payload)
            .ok()
            .as_ref()
            .and_then(readable_id);
        return Err(refuse(
            id,
            "payload",
            format!(
                "{} bytes is over the limit of {MAX_COMMAND_BYTES}",
                payload.len()
            ),
        ));
    }
    let doc: Json = serde_json::from_slice(payload)
        .map_err(|e| refuse(None, "payload", format!("malformed JSON: {e}")))?;
    let Json::Object(obj) = &doc else {
        return Err(refuse(None, "payload", "expected a JSON object"));
    };
    let id = readable_id(&doc);
    let mut errors = SetErrors::new();
    for key in obj
        .keys()
        .filter(|k| !matches!(k.as_str(), "id" | "set" | "command" | "capture_rules"))
    {
        errors.insert(
            key.clone(),
            "unknown field (expected `id` and `set`, `command` or `capture_rules`)".into(),
        );
    }
    match obj.get("id") {
        None => {
            errors.insert("id".into(), "missing".into());
        }
        Some(Json::String(s)) if !s.is_empty() => {}
        Some(_) => {
            errors.insert("id".into(), "must be a non-empty string".into());
        }
    }
    let mut set = Vec::new();
    let mut plugin = None;
    let mut rules = None;
    match (obj.get("set"), obj.get("command"), obj.get("capture_rules")) {
        (Some(_), Some(_), _) => {
            errors.insert(
                "command".into(),
                "give either `set` or `command`, not both".into(),
            );
        }
        (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => {
            errors.insert(
                "capture_rules".into(),
                "give `capture_rules` alone, without `set` or `command`".into(),
            );
        }
        (None, Some(c), None) => match plugin_call(c) {
            Ok(call) => plugin = Some(call),
            Err(reason) => {
                errors.insert("command".into(), reason);
            }
        },
        (None, None, Some(r)) => rules = Some(capture_rules(r, &mut errors)),
        (None, None, None) => {
            errors.insert("set".into(), "missing".into());
        }
        (Some(s), None, None) => set_values(s, &mut set, &mut errors),
    }
    match (id, errors.is_empty()) {
        (Some(id), true) => Ok(Command {
            id,
            set,
            plugin,
            capture_rules: rules,
        }),
        (id, _) => Err(Refusal { id, errors }),
    }
}

/// Reads the `set` object of a request into `set`, or says what is wrong.
fn set_values(v: &Json, set: &mut Vec<(String, Value)>, errors: &mut SetErrors) {
    match v {
        Json::Object(m) if !m.is_empty() => {
            for (path, v) in m {
                match Value::from_json(v) {
                    Some(v) => set.push((path.clone(), v)),
                    None => {
                        errors.insert(path.clone(), "expected a number or a boolean".into());
                    }
                }
            }
        }
        _ => {
            errors.insert(
                "set".into(),
                "must be a non-empty object of path: value".into(),
            );
        }
    }
}

/// The `cmd/res` payload for an outcome.
pub fn response(id: Option<&str>, outcome: &Result<(), SetErrors>) -> Vec<u8> {
    let doc = match outcome {
        Ok(()) => json!({"id": id, "status": "accepted"}),
        Err(errors) => {
            let errors: Map<String, Json> = errors
                .iter()
                .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                .collect();
            json!({"id": id, "status": "rejected", "errors": errors})
        }
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_request_parses_with_typed_values() {
        let c = parse(br#"{"id":"a1","set":{"X.Temp":22.5,"X.Fan":40,"X.AC":true}}"#).unwrap();
        assert_eq!(c.id, "a1");
        assert_eq!(
            c.set,
            vec![
                ("X.AC".into(), Value::Bool(true)),
                ("X.Fan".into(), Value::Int(40)),
                ("X.Temp".into(), Value::Float(22.5)),
            ]
        );
    }

    #[test]
    fn malformed_json_is_refused_without_an_id() {
        let r = parse(b"{\"id\": \"x\", ").unwrap_err();
        assert_eq!(r.id, None);
        assert!(r.errors["payload"].starts_with("malformed JSON"), "{r:?}");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused_with_the_id() {
        let r = parse(br#"{"id":"b","set":{"P":"hot"},"extra":1}"#).unwrap_err();
        assert_eq!(r.id.as_deref(), Some("b"));
        assert!(r.errors["extra"].contains("unknown field"));
        assert!(r.errors["P"].contains("number or a boolean"));
    }

    #[test]
    fn missing_id_or_empty_set_is_refused() {
        let r = parse(br#"{"set":{"P":1}}"#).unwrap_err();
        assert_eq!(r.errors["id"], "missing");
        let r = parse(br#"{"id":"c","set":{}}"#).unwrap_err();
        assert!(r.errors.contains_key("set"));
    }

    #[test]
    fn a_plugin_command_parses_and_bad_shapes_are_refused_keyed_command() {
        let c = parse(
            br#"{"id":"f","command":{"subsystem":"abs","name":"fault.wheel_sensor","value":1}}"#,
        )
        .unwrap();
        let call = PluginCall {
            subsystem: "abs".into(),
            name: "fault.wheel_sensor".into(),
            value: 1.0,
        };
        assert_eq!((c.set.len(), c.plugin), (0, Some(call)));
        for bad in [
            r#"{"id":"f","command":{"subsystem":"abs","name":"x"}}"#,
            r#"{"id":"f","command":{"subsystem":"","name":"x","value":1}}"#,
            r#"{"id":"f","command":{"subsystem":"abs","name":"x","value":"1"}}"#,
            r#"{"id":"f","command":{"subsystem":"abs","name":"x","value":1,"more":2}}"#,
            r#"{"id":"f","command":[1]}"#,
            r#"{"id":"f","command":{"subsystem":"abs","name":"x","value":1},"set":{"P":1}}"#,
        ] {
            let r = parse(bad.as_bytes()).unwrap_err();
            assert_eq!(r.id.as_deref(), Some("f"), "{bad}");
            assert!(r.errors.contains_key("command"), "{bad}: {r:?}");
        }
    }

    #[test]
    fn capture_rules_parse_with_the_default_window_and_an_empty_list_means_none() {
        let c = parse(
            br#"{"id":"r-7","capture_rules":[{"rule":"abs.engaged","before":5.0,"after":3},{"rule":"Vehicle.Speed > 130"}]}"#,
        )
        .unwrap();
        let spec = |rule: &str, before_s, after_s| RuleSpec {
            rule: rule.into(),
            before_s,
            after_s,
        };
        assert_eq!(
            (c.id.as_str(), c.set.len(), c.plugin, c.capture_rules),
            (
                "r-7",
                0,
                None,
                Some(vec![
                    spec("abs.engaged", 5.0, 3.0),
                    spec("Vehicle.Speed > 130", 10.0, 5.0)
                ])
            )
        );
        let c = parse(br#"{"id":"r-8","capture_rules":[]}"#).unwrap();
        assert_eq!(c.capture_rules, Some(Vec::new()));
    }

    #[test]
    fn bad_capture_rules_are_refused_naming_the_rule() {
        for (bad, key) in [
            (
                r#"{"id":"r","capture_rules":{"rule":"a"}}"#,
                "capture_rules",
            ),
            (
                r#"{"id":"r","capture_rules":"abs.engaged"}"#,
                "capture_rules",
            ),
            (
                r#"{"id":"r","capture_rules":[{"rule":""}]}"#,
                "capture_rules[0]",
            ),
            (
                r#"{"id":"r","capture_rules":[{"before":1}]}"#,
                "capture_rules[0]",
            ),
            (
                r#"{"id":"r","capture_rules":[{"rule":7}]}"#,
                "capture_rules[0]",
            ),
            (
                r#"{"id":"r","capture_rules":["abs.engaged"]}"#,
                "capture_rules[0]",
            ),
            (
                r#"{"id":"r","capture_rules":[{"rule":"a"},{"rule":"b","before":"5"}]}"#,
                "capture_rules[1]",
            ),
            (
                r#"{"id":"r","capture_rules":[{"rule":"a","after":null}]}"#,
                "capture_rules[0]",
            ),
            (
                r#"{"id":"r","capture_rules":[{"rule":"a","window":1}]}"#,
                "capture_rules[0]",
            ),
            (
                r#"{"id":"r","capture_rules":[],"set":{"P":1}}"#,
                "capture_rules",
            ),
            (
                r#"{"id":"r","capture_rules":[],"command":{"subsystem":"abs","name":"x","value":1}}"#,
                "capture_rules",
            ),
        ] {
            let r = parse(bad.as_bytes()).unwrap_err();
            assert_eq!(r.id.as_deref(), Some("r"), "{bad}");
            assert!(r.errors.contains_key(key), "{bad}: {r:?}");
            assert_eq!(r.errors.len(), 1, "{bad}: {r:?}");
        }
        let r = parse(br#"{"capture_rules":[]}"#).unwrap_err();
        assert_eq!(r.errors["id"], "missing");
    }

    #[test]
    fn oversized_payload_is_refused_and_still_named() {
        let big = format!(
            r#"{{"id":"big","set":{{"P":1}},"pad":"{}"}}"#,
            "x".repeat(MAX_COMMAND_BYTES)
        );
        let r = parse(big.as_bytes()).unwrap_err();
        assert_eq!(r.id.as_deref(), Some("big"));
        assert!(r.errors["payload"].contains("over the limit"));
    }

    #[test]
    fn arbitrary_payloads_are_refused_not_panicked_on() {
        // A small deterministic generator: the same inputs on every run.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pieces: [&[u8]; 13] = [
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"id\"",
            b"\"set\"",
            b"\"capture_rules\"",
            b":",
            b",",
            b"1e999",
            b"-0",
            b"\"\\u0000\"",
            b"true",
        ];
        for _ in 0..5000 {
            let mut p = Vec::new();
            for _ in 0..next() % 40 {
                if next() % 3 == 0 {
                    p.push(next() as u8);
                } else {
                    p.extend_from_slice(pieces[(next() % 13) as usize]);
                }
            }
            let _ = parse(&p);
        }
        // Nesting far deeper than any request: refused, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(8000), "]".repeat(8000));
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn responses_have_the_contract_shape() {
        let ok: Json = serde_json::from_slice(&response(Some("a"), &Ok(()))).unwrap();
        assert_eq!(ok, json!({"id": "a", "status": "accepted"}));
        let mut e = SetErrors::new();
        e.insert("P".into(), "bad".into());
        let no: Json = serde_json::from_slice(&response(None, &Err(e))).unwrap();
        assert_eq!(
            no,
            json!({"id": null, "status": "rejected", "errors": {"P": "bad"}})
        );
    }
}
