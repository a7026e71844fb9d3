//! Fixtures the fuzz targets share: the compose deployment's `readings` schema and data
//! (`deploy/compose/data/`, read with the store's own NDJSON parser), a `sites` dataset with
//! every field type, and the plans partial answers are decoded against. Nothing here is under
//! test; every target calls the crates' public entry points.

use std::sync::OnceLock;

use regio_query::chunk::Chunk;
use regio_query::schema::{Field, FieldType, Schema, Value};
use regio_query::{execute, finalize, ExecOptions, PartialResult, Plan};
use regio_store::ingest::{into_chunks, parse_ndjson, Mode, Parsed};

const READINGS_SCHEMA: &str = include_str!("../../../deploy/compose/data/readings.schema.json");
const READINGS: [&[u8]; 2] = [
    include_bytes!("../../../deploy/compose/data/readings-44021.ndjson"),
    include_bytes!("../../../deploy/compose/data/readings-11002.ndjson"),
];

/// The demo's `readings` schema, as the compose deployment declares it.
pub fn readings_schema() -> Schema {
    // The fixture itself is not under test: the shipped schema always decodes.
    serde_json::from_str(READINGS_SCHEMA).unwrap_or_else(|e| panic!("readings.schema.json: {e}"))
}

/// A public dataset with every field type (no subject): `sites`.
pub fn sites_schema() -> Schema {
    let f = |name: &str, ty, nullable| Field::new(name, ty, nullable);
    let mut level = f("level", FieldType::Float, true);
    level.bounds = Some([-50.0, 50.0]);
    Schema {
        dataset: "sites".into(),
        fields: vec![
            f("id", FieldType::String, false),
            f("kind", FieldType::String, true),
            f("count", FieldType::Integer, true),
            level,
            f("at", FieldType::Timestamp, false),
            f("location", FieldType::GeoPoint, true),
        ],
        subject: None,
        time: Some("at".into()),
    }
}

/// The schemas a fuzzed query or ingest batch is checked against.
pub fn schemas() -> [Schema; 2] {
    [readings_schema(), sites_schema()]
}

/// The schema of dataset `name`, as the engine's lookup gives it.
pub fn lookup(name: &str) -> Option<Schema> {
    schemas().into_iter().find(|s| s.dataset == name)
}

/// The chunks of the compose deployment's readings of Gent and Antwerpen (448 rows, of city
/// and citizens' sensors), built once.
pub fn readings_chunks() -> &'static [Chunk] {
    static CHUNKS: OnceLock<Vec<Chunk>> = OnceLock::new();
    CHUNKS.get_or_init(|| {
        let schema = readings_schema();
        let mut rows = Vec::new();
        for file in READINGS {
            match parse_ndjson(&schema, file, Mode::AllOrNothing) {
                Ok(parsed) => rows.extend(parsed.rows),
                Err(e) => panic!("fixture readings: {e}"),
            }
        }
        into_chunks(&schema, rows).unwrap_or_else(|e| panic!("fixture chunks: {e}"))
    })
}

/// A few rows of `sites` with edge values, built once.
pub fn sites_chunks() -> &'static [Chunk] {
    static CHUNKS: OnceLock<Vec<Chunk>> = OnceLock::new();
    CHUNKS.get_or_init(|| vec![sites_chunk()])
}

fn sites_chunk() -> Chunk {
    let rows = vec![
        vec![
            Value::Str("a".into()),
            Value::Str("park".into()),
            Value::Int(3),
            Value::Float(1.5),
            Value::Ts(1_704_067_200_000_000),
            Value::Geo(51.05, 3.72),
        ],
        vec![
            Value::Str("b".into()),
            Value::Null,
            Value::Int(i64::MAX),
            Value::Float(-0.0),
            Value::Ts(-1),
            Value::Null,
        ],
        vec![
            Value::Str(String::new()),
            Value::Str("park".into()),
            Value::Int(i64::MIN),
            Value::Null,
            Value::Ts(1_704_153_600_000_000),
            Value::Geo(-90.0, 180.0),
        ],
    ];
    Chunk::build(&sites_schema(), &rows).unwrap_or_else(|e| panic!("fixture chunk: {e}"))
}

/// Executes `plan` over its dataset's chunk as a member does (consent filter on the subject
/// column, minimum group size 2 in a personal dataset), checks that the node's own partial result fits its plan,
/// merges it with itself and finalizes it. Errors are fine, panics are not.
pub fn run_plan(plan: &Plan) -> Option<PartialResult> {
    let chunks = if plan.schema.dataset == "readings" {
        readings_chunks()
    } else {
        sites_chunks()
    };
    let subject = plan.schema.subject_index();
    let consent = |s: &str| !s.ends_with('1');
    let masked = ["subject".to_string()];
    let opts = ExecOptions {
        consent: subject.map(|_| &consent as &dyn Fn(&str) -> bool),
        masked: &masked,
        // Groups of one row are released from a public dataset (no subject).
        min_group_size: if subject.is_some() { 2 } else { 1 },
        subject,
        dp: None,
    };
    let part = execute(plan, chunks.iter().map(Ok::<_, std::io::Error>), &opts).ok()?;
    if let Err(e) = part.check(plan) {
        panic!("a node's own partial result does not fit its plan: {e}");
    }
    merge_and_finalize(plan, &part);
    Some(part)
}

/// Merges `part` with itself and finalizes both, writing the result as CSV and JSON.
pub fn merge_and_finalize(plan: &Plan, part: &PartialResult) {
    if let Ok(out) = finalize(plan, part) {
        let _ = out.to_csv();
        let _ = out.to_json();
    }
    let mut twice = part.clone();
    if twice.merge(part.clone()).is_ok() {
        if let Ok(out) = finalize(plan, &twice) {
            let _ = out.to_csv();
        }
    }
}

/// Queries partial answers are decoded against (`partial_wire` picks one by its first byte).
pub const PLANS: &[&str] = &[
    "SELECT municipality, count(*), avg(no2) FROM readings GROUP BY municipality",
    "SELECT date_trunc('day', observed_at) AS day, municipality, min(no2), max(pm25), \
     sum(no2), stddev(pm25) FROM readings GROUP BY 1, 2 ORDER BY day LIMIT 10",
    "SELECT municipality, percentile_cont(0.5) WITHIN GROUP (ORDER BY no2), \
     count(DISTINCT municipality) FROM readings GROUP BY municipality",
    "SELECT kind, location, count(*), min(at), max(level), sum(count) FROM sites GROUP BY kind, location",
    "SELECT id, kind, count, level, at, location FROM sites WHERE count > 0 ORDER BY at LIMIT 5",
    "SELECT count(*) FROM readings WHERE observed_at >= '2024-01-01' AND no2 > 20",
];

/// `schema` when the answer carried one that decodes, else the demo's `readings`.
pub fn readings_schema_or(schema: Option<Schema>) -> Schema {
    schema.unwrap_or_else(readings_schema)
}

/// An ingest parser of `regio_store::ingest`.
pub type Parser =
    fn(&Schema, &[u8], Mode) -> Result<Parsed<Vec<Value>>, regio_store::ingest::IngestError>;

/// Parses `data[1..]` with `parse` against the schema and mode `data[0]` picks, then cuts the
/// rows into chunks and encodes and decodes each, as the store does before it appends them.
pub fn ingest_then_chunk(data: &[u8], parse: Parser) {
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    let schema = &schemas()[usize::from(pick & 1)];
    let mode = if pick & 2 == 0 {
        Mode::AllOrNothing
    } else {
        Mode::SkipInvalid
    };
    let Ok(parsed) = parse(schema, input, mode) else {
        return;
    };
    let Ok(chunks) = into_chunks(schema, parsed.rows) else {
        return;
    };
    for chunk in chunks {
        let back = Chunk::decode(&chunk.encode());
        assert!(
            back.is_ok(),
            "a chunk of ingested rows does not decode: {back:?}"
        );
    }
}
