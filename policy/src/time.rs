//! Timestamps in documents: RFC 3339 / W3C dateTimeStamp, UTC, whole seconds on output
//! (`2026-11-27T13:00:00Z`); any RFC 3339 offset is accepted on input.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Serde for `DateTime<Utc>` fields.
pub mod ts {
    use super::*;
    /// Writes `YYYY-MM-DDTHH:MM:SSZ` (sub-seconds kept only when present).
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }
    /// Reads any RFC 3339 date-time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde for `Option<DateTime<Utc>>` fields (absent or null = `None`).
pub mod ts_opt {
    use super::*;
    /// Writes the time or null.
    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format(t)),
            None => s.serialize_none(),
        }
    }
    /// Reads an RFC 3339 date-time or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => parse(&text).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// RFC 3339, UTC, `Z`, seconds unless the instant has sub-seconds.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Parses RFC 3339 with a clear message.
pub fn parse(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 date-time ({e})"))
}
