//! Writes the seed corpora of the fuzz targets (`integration-tests/fuzz/corpus/<target>/`)
//! from real documents and data: the demo region's signed documents, a signed query and
//! partial answers over executed demo rows, the compose deployment's data and configs.
//!
//! `cargo run -p regio-integration-tests --example fuzz_seeds` (rewrites the `seed-*` files;
//! the corpora are then minimised with `cargo fuzz cmin`, see `fuzz/README.md`).
// A generator run by hand: a failure is reported with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/src/lib.rs"]
mod fixtures;

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use regio_demo::data::{municipality, readings_schema};
use regio_demo::region::{self, Actors};
use regio_net::fuzzing::{write_request, write_response};
use regio_net::Refusal;
use regio_node::config::Config;
use regio_policy::doc::checkpoint::AuditCheckpoint;
use regio_policy::doc::consent::{Channel, ConsentRecord, Status};
use regio_policy::doc::query::{Outcome, PartialAnswer};
use regio_policy::{Document, Signed};
use regio_query::schema::Value as Cell;
use serde_json::{json, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = root().join("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

/// `prefix` then `body`: the targets that pick a variant by their first byte.
fn with(prefix: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![prefix];
    out.extend_from_slice(body);
    out
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap()
}

fn doc<T: Document>(kind: u8, name: &str, signed: &Signed<T>) {
    write(
        "document_verify",
        name,
        &with(kind, &json_bytes(signed.raw())),
    );
}

fn main() {
    let now: DateTime<Utc> = "2026-11-27T00:00:00Z".parse().unwrap();
    let actors = Actors::new(3);
    let addresses: Vec<Vec<String>> = (0..3)
        .map(|i| vec![format!("/ip4/127.0.0.1/tcp/{}", 7481 + i)])
        .collect();
    let docs = region::documents(&actors, &addresses, now).unwrap();

    // sql_plan: the plans partial answers are decoded against, and a few more.
    let mut queries: Vec<String> = fixtures::PLANS.iter().map(|s| s.to_string()).collect();
    queries.extend([
        "SELECT municipality, date_trunc('hour', observed_at), avg(pm25) FROM readings \
         WHERE municipality IN ('44021', '11002') AND observed_at BETWEEN '2024-01-01' AND \
         '2024-01-02T12:00:00Z' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 3"
            .into(),
        "SELECT sensor_id, no2 FROM readings WHERE subject IS NULL AND NOT (no2 < 10 OR pm25 >= 40.5) LIMIT 20".into(),
        "SELECT count(*) AS n FROM sites WHERE kind LIKE 'pa%' OR location IS NOT NULL".into(),
    ]);
    for (i, q) in queries.iter().enumerate() {
        write("sql_plan", &i.to_string(), q.as_bytes());
    }

    // document_verify: every document kind, signed.
    let sql = fixtures::PLANS[0];
    let query = region::query(
        &actors.app,
        actors.nodes[0].did(),
        "ResearchAndDevelopment",
        sql,
        Some(docs.certificate.hash()),
        now,
    )
    .unwrap();
    let query_signed = Signed::<regio_policy::doc::query::Query>::verify(query.clone()).unwrap();
    doc(0, "query", &query_signed);
    for (i, plan_sql) in fixtures::PLANS.iter().enumerate() {
        let (plan, _) = regio_query::plan(plan_sql, fixtures::lookup).unwrap();
        let part = fixtures::run_plan(&plan).unwrap();
        let result = json!({"schema": plan.schema, "partial": part});
        write(
            "partial_wire",
            &i.to_string(),
            &with(i as u8, &json_bytes(&result)),
        );
        if i < 2 {
            let answer = PartialAnswer {
                query: query_signed.doc().id.clone(),
                query_hash: query_signed.hash(),
                region: region::REGION.into(),
                node: actors.nodes[0].did().clone(),
                policy_version: 1,
                policy_hash: Some(docs.policies[0].hash()),
                answered_at: now,
                outcome: Outcome::Answered {
                    rows_scanned: part.rows_scanned,
                    rows_excluded_by_consent: part.rows_excluded_by_consent,
                    groups_suppressed: part.groups_suppressed,
                    disclosure: None,
                    result,
                },
            };
            let answer = Signed::sign(answer, &actors.nodes[0], now).unwrap();
            doc(1, &format!("answer-{i}"), &answer);
            if i == 0 {
                let reply = write_response(Ok(serde_json::to_vec(answer.raw()).unwrap())).unwrap();
                write("rr_cbor", "answer", &with(1, &reply));
            }
        }
    }
    let refused = PartialAnswer {
        query: query_signed.doc().id.clone(),
        query_hash: query_signed.hash(),
        region: region::REGION.into(),
        node: actors.nodes[1].did().clone(),
        policy_version: 1,
        policy_hash: None,
        answered_at: now,
        outcome: Outcome::Refused {
            reason: "purpose.not_allowed".into(),
            message: "the policy does not allow this purpose".into(),
        },
    };
    doc(
        1,
        "refused",
        &Signed::sign(refused, &actors.nodes[1], now).unwrap(),
    );
    for (i, p) in docs.policies.iter().enumerate().take(2) {
        doc(2, &format!("policy-{i}"), p);
    }
    let consent = ConsentRecord {
        id: "subj-44021-000/ResearchAndDevelopment".into(),
        subject: "subj-44021-000".into(),
        subject_did: None,
        controller: actors.nodes[0].did().clone(),
        datasets: vec!["*".into()],
        purposes: vec!["ResearchAndDevelopment".into()],
        status: Status::Withdrawn,
        given_at: now - Duration::days(30),
        withdrawn_at: Some(now),
        channel: Channel::Desk,
        clerk: Some(actors.clerk.did().clone()),
        notice: Some("https://example.org/notice".into()),
        language: Some("nl".into()),
    };
    doc(
        3,
        "consent",
        &Signed::sign(consent, &actors.clerk, now).unwrap(),
    );
    doc(4, "certificate", &docs.certificate);
    let revocation = region::revocation(&actors, &docs, "withdrawn by the board", now).unwrap();
    doc(5, "revocation", &revocation);
    doc(6, "charter", &docs.charter);
    doc(7, "manifest", &docs.manifest);
    let checkpoint = AuditCheckpoint {
        node: actors.nodes[0].did().clone(),
        seq: 42,
        head: "ab".repeat(32),
        entries: 42,
        at: now,
    };
    doc(
        8,
        "checkpoint",
        &Signed::sign(checkpoint, &actors.nodes[0], now).unwrap(),
    );

    // rr_cbor: a query request, an answer (above) and a refusal.
    let request = write_request(serde_json::to_vec(&query).unwrap()).unwrap();
    write("rr_cbor", "query", &with(0, &request));
    let refusal = write_response(Err(Refusal::node_error("disk full"))).unwrap();
    write("rr_cbor", "refusal", &with(1, &refusal));
    let not_member = write_response(Err(Refusal {
        reason: "peer.not_member".into(),
        message: None,
    }))
    .unwrap();
    write("rr_cbor", "not-member", &with(1, &not_member));

    // config_toml: the compose deployment's configs and what `regio init` writes.
    for name in ["gent", "antwerpen"] {
        let path = root().join(format!("../deploy/compose/nodes/{name}/config.toml"));
        write("config_toml", name, &fs::read(path).unwrap());
    }
    let mut config = Config::new("44021", "Gent");
    config.clerks = vec![actors.clerk.did().clone()];
    config.otlp_endpoint = Some("http://127.0.0.1:4318".into());
    write("config_toml", "init", config.render().as_bytes());

    // Ingest: the demo's readings as NDJSON, CSV and NGSI-LD, and a batch of `sites`.
    let schema = readings_schema();
    let rows = municipality(0, 1, 5).rows;
    let ndjson: String = rows
        .iter()
        .take(12)
        .map(|r| format!("{}\n", record(&schema.fields, r)))
        .collect();
    write("ingest_ndjson", "readings", &with(0, ndjson.as_bytes()));
    write(
        "ingest_ndjson",
        "readings-skip",
        &with(2, b"{\"id\":\"x\",\"municipality\":\"44021\",\"sensor_id\":\"s\",\"observed_at\":\"2024-01-01 10:00:00.5+00\",\"no2\":1}\n{\"id\":2}\n"),
    );
    write(
        "ingest_ndjson",
        "sites",
        &with(
            1,
            br#"{"id":"a","kind":"park","count":3,"level":-1.5,"at":"2024-01-01T00:00:00Z","location":{"lat":51.05,"lon":3.72}}
{"id":"b","count":null,"at":"2024-01-02T10:00:00+02:00","location":{"type":"Point","coordinates":[3.7,51.1]}}
"#,
        ),
    );
    let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    let mut csv = format!("{}\n", names.join(","));
    for r in rows.iter().take(12) {
        let cells: Vec<String> = r.iter().map(csv_cell).collect();
        csv += &format!("{}\n", cells.join(","));
    }
    write("ingest_csv", "readings", &with(0, csv.as_bytes()));
    write(
        "ingest_csv",
        "sites",
        &with(
            3,
            b"id,kind,count,level,at,location\na,park,3,1.5,2024-01-01 00:00:00,\"{\"\"lat\"\":51.0,\"\"lon\"\":3.7}\"\nb,,,,2024-01-02T00:00:00Z,\n",
        ),
    );
    let entities: Vec<Value> = rows
        .iter()
        .take(6)
        .map(|r| ngsi(&schema.fields, r))
        .collect();
    write(
        "ingest_ngsild",
        "readings",
        &with(0, &json_bytes(&Value::from(entities.clone()))),
    );
    let lines: String = entities.iter().map(|e| format!("{e}\n")).collect();
    write(
        "ingest_ngsild",
        "readings-ndjson",
        &with(2, lines.as_bytes()),
    );
    write(
        "ingest_ngsild",
        "sites",
        &with(
            1,
            br#"{"id":"urn:ngsi-ld:Site:a","type":"Site","@context":"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
 "kind":{"type":"Property","value":"park"},"count":{"type":"Property","value":3},
 "level":{"type":"Property","value":1.5,"observedAt":"2024-01-01T00:00:00Z"},
 "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[3.7,51.1]}}}"#,
        ),
    );
    println!(
        "seeds written under {}",
        root().join("fuzz/corpus").display()
    );
}

fn json_cell(v: &Cell) -> Value {
    match v {
        Cell::Null => Value::Null,
        Cell::Str(s) => s.clone().into(),
        Cell::Int(i) => (*i).into(),
        Cell::Float(f) => (*f).into(),
        Cell::Ts(t) => DateTime::<Utc>::from_timestamp_micros(*t)
            .unwrap()
            .to_rfc3339()
            .into(),
        Cell::Geo(lat, lon) => json!({"lat": lat, "lon": lon}),
    }
}

fn record(fields: &[regio_query::schema::Field], row: &[Cell]) -> Value {
    let map = fields
        .iter()
        .zip(row)
        .map(|(f, v)| (f.name.clone(), json_cell(v)));
    Value::Object(map.collect())
}

fn csv_cell(v: &Cell) -> String {
    match json_cell(v) {
        Value::Null => String::new(),
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn ngsi(fields: &[regio_query::schema::Field], row: &[Cell]) -> Value {
    let mut entity = serde_json::Map::new();
    entity.insert("type".into(), "AirQualityObserved".into());
    for (f, v) in fields.iter().zip(row) {
        if f.name == "id" {
            entity.insert("id".into(), json_cell(v));
        } else if f.name == "observed_at" || v == &Cell::Null {
            continue;
        } else {
            entity.insert(
                f.name.clone(),
                json!({"type": "Property", "value": json_cell(v)}),
            );
        }
    }
    let at = fields.iter().position(|f| f.name == "observed_at").unwrap();
    entity.insert(
        "no2".into(),
        json!({"type": "Property", "value": json_cell(&row[5]), "observedAt": json_cell(&row[at])}),
    );
    Value::Object(entity)
}
