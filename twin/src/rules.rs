//! The catalog's rules for values that come from outside: a reported value
//! must be of a known path, of its datatype and in its range; a desired
//! value must also be of an actuator. These are the checks the vehicle's
//! bus makes (`Bus::check_actuator`), made here on JSON, with the same
//! reasons, so that the twin refuses before sending what the car would
//! refuse after.

use serde_json::Value as Json;
use tcu_engine::catalog::{Catalog, DataType, SignalId, SignalKind, Value};

/// Most strings a reported `string[]` value may hold, and their longest
/// length: `DTCList` holds a handful of five-letter codes.
const MAX_STRINGS: usize = 256;
/// See [`MAX_STRINGS`].
const MAX_STRING_LEN: usize = 64;

/// A reported `string[]` value: an array of short strings. Its slot is the
/// number of strings.
fn string_array(v: &Json) -> Result<f64, String> {
    let Json::Array(items) = v else {
        return Err("expected an array of strings".to_owned());
    };
    if items.len() > MAX_STRINGS {
        return Err(format!("more than {MAX_STRINGS} strings"));
    }
    if !items
        .iter()
        .all(|s| s.as_str().is_some_and(|s| s.len() <= MAX_STRING_LEN))
    {
        return Err(format!(
            "expected an array of strings of at most {MAX_STRING_LEN} bytes"
        ));
    }
    Ok(items.len() as f64)
}

/// The typed value of a JSON number or boolean (anything else: `None`).
pub fn typed(v: &Json) -> Option<Value> {
    Value::from_json(v)
}

/// A typed value as JSON (a value that is not finite becomes `null`).
pub fn to_json(v: Value) -> Json {
    match v {
        Value::Bool(b) => Json::Bool(b),
        Value::Int(i) => Json::from(i),
        Value::Float(x) => serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number),
    }
}

/// Checks `v` for the signal `path`: known, of its datatype, in range.
/// Returns the signal, its slot value and the value as the vehicle would
/// print it (an integer signal's `80.0` becomes `80`).
pub fn check_value(
    catalog: &Catalog,
    path: &str,
    v: &Json,
) -> Result<(SignalId, f64, Json), String> {
    let id = catalog
        .id(path)
        .ok_or_else(|| "unknown signal".to_owned())?;
    let meta = catalog.meta(id);
    if meta.datatype == DataType::StringArray {
        return string_array(v).map(|n| (id, n, v.clone()));
    }
    let value = typed(v).ok_or_else(|| "expected a number or a boolean".to_owned())?;
    let slot = value.slot_for(meta.datatype)?;
    let slot = meta.check(slot).map_err(|e| e.to_string())?;
    Ok((id, slot, to_json(meta.datatype.value(slot))))
}

/// Checks a desired value: as [`check_value`], and the path must be an
/// actuator.
pub fn check_desired(catalog: &Catalog, path: &str, v: &Json) -> Result<(f64, Json), String> {
    let meta = catalog
        .get(path)
        .ok_or_else(|| "unknown signal".to_owned())?;
    if meta.kind != SignalKind::Actuator {
        return Err(format!("is a {}, not an actuator", meta.kind.as_str()));
    }
    check_value(catalog, path, v).map(|(_, slot, json)| (slot, json))
}

/// The slot value of a stored JSON value of `path` (for comparing desired
/// with reported values).
pub fn slot_of(catalog: &Catalog, path: &str, v: &Json) -> Option<f64> {
    let meta = catalog.get(path)?;
    typed(v)?.slot_for(meta.datatype).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SETPOINT: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";
    const FAN: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";

    #[test]
    fn desired_values_follow_the_buses_rules_and_reasons() {
        let c = Catalog::builtin();
        assert_eq!(
            check_desired(&c, SETPOINT, &json!(23.5)).unwrap().1,
            json!(23.5)
        );
        assert_eq!(check_desired(&c, FAN, &json!(80.0)).unwrap().1, json!(80));
        let cases = [
            (FAN, json!(150), "outside"),
            (FAN, json!(50.5), "not a whole number"),
            (FAN, json!(true), "got a boolean"),
            (FAN, json!("80"), "expected a number or a boolean"),
            ("Vehicle.Speed", json!(10), "not an actuator"),
            ("Vehicle.Nope", json!(1), "unknown signal"),
            (
                "Vehicle.Cabin.HVAC.IsAirConditioningActive",
                json!(1),
                "expected a boolean",
            ),
        ];
        for (path, v, why) in cases {
            let e = check_desired(&c, path, &v).unwrap_err();
            assert!(e.contains(why), "{path}={v}: {e}");
        }
    }

    #[test]
    fn reported_values_may_be_sensors_but_must_fit_their_type() {
        let c = Catalog::builtin();
        assert!(check_value(&c, "Vehicle.Speed", &json!(12.5)).is_ok());
        assert!(check_value(&c, "Vehicle.Speed", &json!(true)).is_err());
        assert!(check_value(&c, "Vehicle.Speed", &Json::Null).is_err());
        assert_eq!(slot_of(&c, FAN, &json!(80)), Some(80.0));
        assert_eq!(
            slot_of(
                &c,
                "Vehicle.Cabin.HVAC.IsAirConditioningActive",
                &json!(true)
            ),
            Some(1.0)
        );
    }
}
