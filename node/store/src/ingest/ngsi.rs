//! NGSI-LD entities in normalized form into dataset rows. An entity
//! `{"id", "type", attr: {"type": "Property", "value": v, "observedAt": t}, …}` gives one
//! row: the field `id` (if the schema has one) takes the entity id, each other field the
//! `value` of the attribute of the same name (`GeoProperty` values are GeoJSON points),
//! and the schema's time field, when no attribute carries it, the first `observedAt`.
//! `type` and `@context` are not mapped; other unknown attributes are refused.

use super::records::{json_object, ndjson_lines, object_row};
use super::{collect, IngestError, LineError, Mode, Parsed};
use regio_query::schema::{Schema, Value};

fn entity_row(
    schema: &Schema,
    n: u64,
    entity: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<Value>, LineError> {
    let mut flat = serde_json::Map::new();
    let mut observed = None;
    for (k, v) in entity {
        match k.as_str() {
            "type" | "@context" => {}
            "id" => {
                if schema.field("id").is_some() {
                    flat.insert("id".into(), v.clone());
                }
            }
            _ => {
                let Some(attr) = v.as_object() else {
                    return Err(LineError::new(
                        n,
                        Some(k),
                        "an NGSI-LD attribute object",
                        super::describe_json(v),
                    ));
                };
                let kind = attr
                    .get("type")
                    .and_then(|t| t.as_str())
                    .unwrap_or_default();
                if !matches!(kind, "Property" | "GeoProperty") {
                    return Err(LineError::new(
                        n,
                        Some(k),
                        "an attribute of type Property or GeoProperty",
                        format!("type {kind:?}"),
                    ));
                }
                if observed.is_none() {
                    observed = attr.get("observedAt").cloned();
                }
                flat.insert(
                    k.clone(),
                    attr.get("value")
                        .cloned()
                        .unwrap_or(serde_json::Value::Null),
                );
            }
        }
    }
    if let (Some(t), Some(obs)) = (&schema.time, observed) {
        flat.entry(t.clone()).or_insert(obs);
    }
    object_row(schema, n, &flat)
}

/// Parses NGSI-LD entities: a JSON array (errors name the entity's 1-based position), a
/// single entity, or NDJSON of entities (errors name the line).
pub fn parse_ngsi_ld(
    schema: &Schema,
    input: &[u8],
    mode: Mode,
) -> Result<Parsed<Vec<Value>>, IngestError> {
    let trimmed = input.trim_ascii_start();
    if trimmed.first() == Some(&b'[') {
        let all: Vec<serde_json::Value> = serde_json::from_slice(trimmed).map_err(|e| {
            LineError::new(
                e.line() as u64,
                None,
                "a JSON array of NGSI-LD entities",
                format!("invalid JSON ({e})"),
            )
        })?;
        return collect(
            mode,
            all.iter().enumerate().map(|(i, v)| match v.as_object() {
                Some(entity) => entity_row(schema, i as u64 + 1, entity),
                None => Err(LineError::new(
                    i as u64 + 1,
                    None,
                    "an NGSI-LD entity object",
                    super::describe_json(v),
                )),
            }),
        );
    }
    if let Ok(serde_json::Value::Object(entity)) =
        serde_json::from_slice::<serde_json::Value>(trimmed)
    {
        return collect(mode, std::iter::once(entity_row(schema, 1, &entity)));
    }
    collect(
        mode,
        ndjson_lines(input).map(|(n, text)| entity_row(schema, n, &json_object(n, text)?)),
    )
}
