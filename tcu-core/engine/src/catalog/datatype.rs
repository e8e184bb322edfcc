//! Datatypes the bus carries and the typed value seen outside the tick path.
//!
//! On the bus and across the plugin ABI every value is an `f64` slot; this
//! module gives those slots their VSS type back at the edges (commands,
//! telemetry, the CLI).

use serde::Serialize;
use std::fmt;
use tcu_sdk::abi;

/// A VSS datatype the catalog knows. Every one but [`DataType::StringArray`]
/// is carried by the bus and the ABI; a string array (`string[]`) is a
/// sensor the host derives at the edge (the telemetry's
/// `Vehicle.Diagnostics.DTCList`), whose slot only ever holds 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `boolean`
    Boolean,
    /// `int8`
    Int8,
    /// `uint8`
    UInt8,
    /// `int16`
    Int16,
    /// `uint16`
    UInt16,
    /// `int32`
    Int32,
    /// `uint32`
    UInt32,
    /// `float`
    Float,
    /// `double`
    Double,
    /// `string[]`: never on the bus or across the ABI (see the type's docs).
    StringArray,
}

impl DataType {
    /// Parses the VSS spelling.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "string[]" {
            return Some(Self::StringArray);
        }
        Self::from_abi(abi::datatype_from_name(s)?)
    }

    /// From a `TCU_TYPE_*` code.
    pub fn from_abi(code: abi::TcuDataType) -> Option<Self> {
        Some(match code {
            abi::TCU_TYPE_BOOLEAN => Self::Boolean,
            abi::TCU_TYPE_INT8 => Self::Int8,
            abi::TCU_TYPE_UINT8 => Self::UInt8,
            abi::TCU_TYPE_INT16 => Self::Int16,
            abi::TCU_TYPE_UINT16 => Self::UInt16,
            abi::TCU_TYPE_INT32 => Self::Int32,
            abi::TCU_TYPE_UINT32 => Self::UInt32,
            abi::TCU_TYPE_FLOAT => Self::Float,
            abi::TCU_TYPE_DOUBLE => Self::Double,
            _ => return None,
        })
    }

    /// The VSS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Boolean => "boolean",
            Self::Int8 => "int8",
            Self::UInt8 => "uint8",
            Self::Int16 => "int16",
            Self::UInt16 => "uint16",
            Self::Int32 => "int32",
            Self::UInt32 => "uint32",
            Self::Float => "float",
            Self::Double => "double",
            Self::StringArray => "string[]",
        }
    }

    /// True for booleans and integers: slots hold whole numbers.
    pub fn is_integral(self) -> bool {
        !matches!(self, Self::Float | Self::Double)
    }

    /// The range the datatype itself allows.
    pub fn limits(self) -> (f64, f64) {
        match self {
            Self::Boolean => (0.0, 1.0),
            Self::Int8 => (i8::MIN.into(), i8::MAX.into()),
            Self::UInt8 => (0.0, u8::MAX.into()),
            Self::Int16 => (i16::MIN.into(), i16::MAX.into()),
            Self::UInt16 => (0.0, u16::MAX.into()),
            Self::Int32 => (i32::MIN.into(), i32::MAX.into()),
            Self::UInt32 => (0.0, u32::MAX.into()),
            Self::Float => (f32::MIN.into(), f32::MAX.into()),
            Self::Double => (f64::MIN, f64::MAX),
            Self::StringArray => (0.0, 0.0),
        }
    }

    /// The typed view of a slot value of this datatype.
    pub fn value(self, slot: f64) -> Value {
        match self {
            Self::Boolean => Value::Bool(slot >= 0.5),
            Self::Float | Self::Double => Value::Float(slot),
            _ => Value::Int(slot as i64),
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed signal value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// Any integer datatype.
    Int(i64),
    /// `float` or `double`.
    Float(f64),
}

impl Value {
    /// The typed value of a JSON number or boolean (anything else: `None`),
    /// as MQTT commands and the twin's desired values carry them.
    pub fn from_json(v: &serde_json::Value) -> Option<Self> {
        match v {
            serde_json::Value::Bool(b) => Some(Self::Bool(*b)),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(Self::Int)
                .or_else(|| n.as_f64().map(Self::Float)),
            _ => None,
        }
    }

    /// The slot representation.
    pub fn to_slot(self) -> f64 {
        match self {
            Self::Bool(b) => f64::from(u8::from(b)),
            Self::Int(i) => i as f64,
            Self::Float(x) => x,
        }
    }

    /// Checks the value's shape against a datatype (a bool for a boolean, a
    /// number for a number) and returns the slot value.
    pub fn slot_for(self, datatype: DataType) -> Result<f64, String> {
        match (self, datatype) {
            (Self::Bool(b), DataType::Boolean) => Ok(f64::from(u8::from(b))),
            (Self::Bool(_), dt) => Err(format!("expected a {dt} number, got a boolean")),
            (_, DataType::Boolean) => Err("expected a boolean".to_owned()),
            (v, _) => Ok(v.to_slot()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
        }
    }
}
