//! The fast path of NDJSON records: one pass of serde over the line straight into typed
//! values, without building a `serde_json::Value` per line. It only decides the easy
//! case — every key a schema field, once, every value of the right type. Anything else
//! returns `None`, and the caller parses the line again on the slow path, which produces
//! the precise error (so the two paths cannot disagree on what is accepted).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{geo_from_json, parse_timestamp};
use regio_query::schema::{Field, FieldType, Schema, Value};

/// Any failure: fall back to the slow path.
fn bail<E: serde::de::Error>() -> E {
    E::custom("fallback")
}

/// Types one line, or `None` when the slow path must decide.
pub(super) fn row(schema: &Schema, text: &[u8]) -> Option<Vec<Value>> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let row = RowSeed(schema).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(row)
}

struct RowSeed<'s>(&'s Schema);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Vec<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let fields = &self.0.fields;
        let mut slots: Vec<Option<Value>> = vec![None; fields.len()];
        while let Some(i) = map.next_key_seed(KeySeed(fields))? {
            let slot = slots.get_mut(i).ok_or_else(bail::<A::Error>)?;
            if slot.is_some() {
                return Err(bail());
            }
            *slot = Some(map.next_value_seed(ValueSeed(&fields[i]))?);
        }
        fields
            .iter()
            .zip(slots)
            .map(|(f, v)| match v {
                Some(v) => Ok(v),
                None if f.nullable => Ok(Value::Null),
                None => Err(bail()),
            })
            .collect()
    }
}

/// A key, as the index of its field.
struct KeySeed<'s>(&'s [Field]);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<usize, E> {
        self.0.iter().position(|f| f.name == v).ok_or_else(bail)
    }
}

/// A value, typed as its field.
struct ValueSeed<'s>(&'s Field);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(super::type_name(self.0.ty))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        if self.0.nullable {
            Ok(Value::Null)
        } else {
            Err(bail())
        }
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        match self.0.ty {
            FieldType::String => Ok(Value::Str(v.to_string())),
            FieldType::Timestamp => parse_timestamp(v).map(Value::Ts).ok_or_else(bail),
            _ => Err(bail()),
        }
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        match self.0.ty {
            FieldType::Integer => Ok(Value::Int(v)),
            FieldType::Float => Ok(Value::Float(v as f64)),
            _ => Err(bail()),
        }
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        match (self.0.ty, i64::try_from(v)) {
            (FieldType::Integer, Ok(i)) => Ok(Value::Int(i)),
            (FieldType::Float, _) => Ok(Value::Float(v as f64)),
            _ => Err(bail()),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        match self.0.ty {
            FieldType::Float => Ok(Value::Float(v)),
            _ => Err(bail()),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        if self.0.ty != FieldType::GeoPoint {
            return Err(bail());
        }
        let v: serde_json::Value =
            serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        geo_from_json(&v).ok_or_else(bail)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        // The line is rejected either way (`bail`): whether the rest of the sequence reads
        // changes nothing.
        let _ = IgnoredAny::deserialize(serde::de::value::SeqAccessDeserializer::new(seq));
        Err(bail())
    }
}

use serde::Deserialize as _;
