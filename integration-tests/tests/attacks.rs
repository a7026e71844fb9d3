//! The attack suite of disclosure control (issue 20): a curious application with a valid
//! ethics certificate and an allowed purpose tries, with ordinary queries, to learn one
//! citizen's data from a region of real nodes (in this process: each an engine on sled,
//! libp2p on loopback, through the production assembly) under the DEFAULT charter
//! (differential privacy for personal data), and from a second region whose charter chose
//! exact mode explicitly. Every attack asserts an exact refusal code at every member, or,
//! for answers under differential privacy, that the attacker's estimate does not converge
//! before the privacy budget runs out. The table printed at the end is the README's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use regio_demo::cluster::LiveRegion;
use regio_demo::data;
use regio_demo::region::{self, Actors};
use regio_node::federation::{FederatedResult, Status};
use regio_policy::doc::bundle::{Classification, DatasetPolicy};
use regio_policy::{Key, Signed};
use regio_query::schema::{Field, FieldType, Schema, Value};
use regio_store::{consent, Store};
use serde_json::Value as Json;
use tempfile::TempDir;

const DEADLINE: Duration = Duration::from_secs(10);
const PURPOSE: &str = "ResearchAndDevelopment";
/// Sensors per municipality: 24 citizens, of whom 13 consent (enough for groups of k = 10).
const SENSORS: usize = 60;
const DAYS: usize = 3;
const NODES: usize = 3;

struct Attacked {
    live: LiveRegion,
    _dirs: Vec<TempDir>,
}

/// The `households` dataset: one row per citizen with protected attributes.
fn households_schema() -> Schema {
    let bounded = |name: &str, ty, hi: f64| Field {
        bounds: Some([0.0, hi]),
        ..Field::new(name, ty, true)
    };
    Schema {
        dataset: "households".into(),
        fields: vec![
            Field::new("subject", FieldType::String, false),
            Field::new("municipality", FieldType::String, false),
            bounded("age", FieldType::Integer, 110.0),
            bounded("income", FieldType::Float, 200_000.0),
            Field::new("gender", FieldType::String, true),
            bounded("rooms", FieldType::Integer, 12.0),
        ],
        subject: Some("subject".into()),
        time: None,
    }
}

async fn start(charter: Json, actors: Actors) -> Attacked {
    let (stores, dirs): (Vec<Store>, Vec<TempDir>) = (0..NODES)
        .map(|_| {
            let d = tempfile::tempdir().unwrap();
            (Store::open_sled(d.path()).unwrap(), d)
        })
        .unzip();
    let now = Utc::now();
    let live = LiveRegion::start_full(
        region::REGION,
        &charter,
        actors,
        stores,
        (DAYS, SENSORS),
        now,
        |_, _| {},
    )
    .await
    .unwrap();
    // Each member adds `households` (personal, with age, income and gender) in a second
    // version of its policy.
    for (i, node) in live.nodes.iter().enumerate() {
        let store = node.engine.store();
        store.create_dataset(&households_schema()).unwrap();
        let nis = data::MUNICIPALITIES[i].0;
        let rows: Vec<Vec<Value>> = (0..200)
            .map(|k| {
                vec![
                    Value::Str(format!("hh-{nis}-{k}")),
                    Value::Str(nis.into()),
                    Value::Int(18 + (k * 7) % 70),
                    Value::Float(1000.0 * (k % 90) as f64 + 500.0),
                    Value::Str(if k % 2 == 0 { "f" } else { "m" }.into()),
                    Value::Int(1 + k % 6),
                ]
            })
            .collect();
        store.append_rows("households", rows).unwrap();
        let consent: Vec<consent::Entry> = (0..200)
            .map(|k| consent::Entry {
                id: format!("hh-{nis}-{k}/{PURPOSE}"),
                subject: format!("hh-{nis}-{k}"),
                datasets: Vec::new(),
                purposes: vec![PURPOSE.into()],
                given: true,
                given_at: now.timestamp_micros() - 86_400_000_000,
                withdrawn_at: None,
                channel: "desk".into(),
                raw: None,
            })
            .collect();
        store.put_consents(consent, now.timestamp_micros()).unwrap();
        let mut policy = region::policy(i, &live.actors, now);
        policy.version = 2;
        policy.previous = Some(live.docs.policies[i].hash());
        policy.datasets.push(DatasetPolicy {
            name: "households".into(),
            classification: Classification::Personal,
            subject_field: Some("subject".into()),
            sensitive_fields: vec!["subject".into()],
            categories: Default::default(),
        });
        policy.access.policy.push(
            [
                "p",
                "researcher",
                region::REGION,
                "households",
                "aggregate",
                "*",
            ]
            .map(String::from)
            .to_vec(),
        );
        let signed = Signed::sign(policy, &live.actors.nodes[i], now).unwrap();
        node.engine
            .publish_policy(signed.raw().clone(), now)
            .unwrap();
    }
    Attacked { live, _dirs: dirs }
}

impl Attacked {
    async fn ask_as(&self, app: &Key, at: usize, sql: &str) -> FederatedResult {
        let q = region::query(
            app,
            self.live.nodes[at].engine.did(),
            PURPOSE,
            sql,
            Some(self.live.docs.certificate.hash()),
            Utc::now(),
        )
        .unwrap();
        self.live.nodes[at].coordinate(q, DEADLINE).await.unwrap()
    }

    async fn ask(&self, at: usize, sql: &str) -> FederatedResult {
        self.ask_as(&self.live.actors.app, at, sql).await
    }
}

/// The reason code of every member ("answered" for an answer).
fn outcomes(r: &FederatedResult) -> Vec<String> {
    r.provenance
        .iter()
        .map(|p| match &p.status {
            Status::Answered => "answered".to_owned(),
            Status::Refused { reason, .. } => reason.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// One line of the report: what the attacker tried, what Regio answered.
struct Line {
    class: &'static str,
    tried: String,
    answered: String,
}

struct Report(Vec<Line>);

impl Report {
    fn add(&mut self, class: &'static str, tried: &str, answered: impl Into<String>) {
        self.0.push(Line {
            class,
            tried: tried.to_owned(),
            answered: answered.into(),
        });
    }

    /// Asserts every member refused `sql` with `code`, signed, with no result.
    async fn refused(&mut self, a: &Attacked, class: &'static str, sql: &str, code: &str) {
        let r = a.ask(0, sql).await;
        let seen = outcomes(&r);
        assert!(
            seen.iter().all(|c| c == code) && r.result.is_none(),
            "{class}: `{sql}`: expected {code} everywhere, saw {seen:?}"
        );
        assert!(
            r.provenance.iter().all(|p| p.answer.is_some()),
            "{sql}: every refusal is a signed answer"
        );
        self.add(
            class,
            &format!("`{sql}`"),
            format!("refused `{code}` by {}/{}", seen.len(), NODES),
        );
    }

    fn print(&self) {
        println!("\n| # | attack class | what the application tries | what Regio answers |\n|---|---|---|---|");
        for (i, l) in self.0.iter().enumerate() {
            println!("| {} | {} | {} | {} |", i + 1, l.class, l.tried, l.answered);
        }
        println!("\n{} attacks, all defeated\n", self.0.len());
    }
}

/// The first released value of column `c` and its interval.
fn value_and_interval(r: &FederatedResult, c: usize) -> (f64, [f64; 2]) {
    let res = r.result.as_ref().expect("a result");
    let v = res["rows"][0][c].as_f64().unwrap_or(0.0);
    let iv = &res["intervals"][0][c];
    (
        v,
        [
            iv[0].as_f64().expect("an interval"),
            iv[1].as_f64().expect("an interval"),
        ],
    )
}

/// Every signed PartialAnswer of `r`: counters withheld, no exact or sketch state.
fn nothing_raw(r: &FederatedResult) {
    for a in &r.answers {
        let o = &a["outcome"];
        if o["status"] != "answered" {
            continue;
        }
        assert_eq!(o["rowsExcludedByConsent"], 0, "{o}");
        assert_eq!(o["groupsSuppressed"], 0, "{o}");
        assert_eq!(o["rowsScanned"].as_u64().unwrap() % 1000, 0, "{o}");
        assert_eq!(o["disclosure"]["countersWithheld"], true, "{o}");
        let text = o["result"]["partial"].to_string();
        for raw in ["digest", "centroids", "\"distinct\"", "registers"] {
            assert!(
                !text.contains(raw),
                "a raw sketch ({raw}) left a node: {text}"
            );
        }
    }
}

fn citizen_sensor(nis: &str) -> String {
    // Sensor s < 2/5 of SENSORS belongs to citizen s (`regio_demo::data`).
    format!("{nis}-s000")
}

fn truth_rows_of_sensor(sensor: &str) -> u64 {
    data::municipality(0, DAYS, SENSORS)
        .rows
        .iter()
        .filter(|r| matches!(&r[2], Value::Str(s) if s == sensor))
        .count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_gives_away_one_citizen() {
    let mut report = Report(Vec::new());
    let a = start(region::default_charter(), Actors::new(NODES)).await;
    let x = data::subject("44021", 0);

    // 1. The subject field, in any position (also a sensitive field of the policy).
    let subject = "subject field";
    for sql in [
        format!("SELECT count(*) FROM readings WHERE subject = '{x}'"),
        format!("SELECT count(*) FROM readings WHERE subject <> '{x}'"),
        format!("SELECT count(*) FROM readings WHERE subject IN ('{x}', 'nobody')"),
        "SELECT count(*) FROM readings WHERE subject IS NULL".to_owned(),
        "SELECT subject, count(*) FROM readings GROUP BY 1".to_owned(),
        "SELECT count(DISTINCT subject) FROM readings".to_owned(),
        "SELECT count(subject) FROM readings".to_owned(),
        format!("SELECT avg(no2) FROM readings WHERE NOT (subject = '{x}') OR no2 > 1000"),
    ] {
        report
            .refused(&a, subject, &sql, "disclosure.subject_field")
            .await;
    }
    report
        .refused(
            &a,
            subject,
            "SELECT count(*) FROM households WHERE subject LIKE 'hh%'",
            "query.unsupported",
        )
        .await;

    // 2. Extremes and sketches of personal values.
    let extremes = "extremes and sketches";
    for sql in [
        "SELECT min(no2) FROM readings",
        "SELECT max(pm25) FROM readings",
        "SELECT municipality, max(no2) FROM readings GROUP BY 1",
    ] {
        report
            .refused(&a, extremes, sql, "disclosure.extreme_value")
            .await;
    }
    for sql in [
        "SELECT count(DISTINCT sensor_id) FROM readings",
        "SELECT count(DISTINCT municipality) FROM readings",
    ] {
        report
            .refused(&a, extremes, sql, "disclosure.not_private")
            .await;
    }

    // 3. Protected attributes (charter: age in bins of 10, income of 10,000, gender never).
    let protected = "protected attributes";
    for sql in [
        "SELECT count(*) FROM households WHERE age BETWEEN 0 AND 37 AND age BETWEEN 37 AND 74",
        "SELECT count(*) FROM households WHERE age = 37",
        "SELECT count(*) FROM households WHERE age >= 30 AND age <= 38",
        "SELECT age, count(*) FROM households GROUP BY 1",
        "SELECT min(income) FROM households",
        "SELECT max(income) FROM households",
        "SELECT avg(age) FROM households",
        "SELECT count(DISTINCT age) FROM households",
        "SELECT count(*) FROM households WHERE income >= 25000",
        "SELECT count(*) FROM households WHERE gender = 'f'",
        "SELECT count(*) FROM households WHERE gender IS NULL",
        "SELECT gender, count(*) FROM households GROUP BY 1",
    ] {
        report
            .refused(&a, protected, sql, "charter.protected_attribute")
            .await;
    }

    // 4. Malformed SQL never takes a member down: a signed refusal, not "unreachable".
    report
        .refused(
            &a,
            "malformed queries",
            "SELECT FROM readings",
            "query.unsupported",
        )
        .await;

    // 5. Under differential privacy: keys of one citizen are never released.
    let dp = "differential privacy";
    let r = a
        .ask(
            0,
            "SELECT sensor_id, count(*) AS n FROM readings GROUP BY 1",
        )
        .await;
    let keys: Vec<String> = r.result.as_ref().unwrap()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].as_str().unwrap().to_owned())
        .collect();
    let own = (0..SENSORS * 2 / 5)
        .map(|s| format!("44021-s{s:03}"))
        .collect::<Vec<_>>();
    assert!(
        keys.iter().all(|k| !own.contains(k)),
        "a citizen's sensor was released: {keys:?}"
    );
    assert!(!keys.is_empty(), "city sensors' groups are public");
    nothing_raw(&r);
    report.add(
        dp,
        "`GROUP BY sensor_id` (a citizen's own sensor is a quasi-identifier)",
        format!(
            "{} groups, all city sensors; no citizen's sensor is released (partition selection, threshold at least k = 10 citizens)",
            keys.len()
        ),
    );
    report.add(dp, "read the signed PartialAnswers for exact counters", "rowsExcludedByConsent and groupsSuppressed withheld, rowsScanned rounded to 1,000 (audit log keeps them exact)");

    // Percentiles: noisy histograms over declared bins, no centroid or hash leaves a node.
    let r = a
        .ask(
            1,
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY no2) AS p FROM readings",
        )
        .await;
    assert_eq!(outcomes(&r), vec!["answered"; NODES]);
    nothing_raw(&r);
    let mech = r.result.as_ref().unwrap()["columns"][0]["mechanism"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(mech.contains("histogram"), "{mech}");
    report.add(
        extremes,
        "`percentile_cont` to read raw t-digest centroids in the PartialAnswers",
        format!("answered as a {mech}; no centroid or hash in any answer"),
    );

    // The differencing pair through a quasi-identifier, then averaging until the budget ends.
    let sensor = citizen_sensor("44021");
    let truth = truth_rows_of_sensor(&sensor) as f64;
    let all = a.ask(2, "SELECT count(*) AS n FROM readings").await;
    let without = a
        .ask(
            0,
            &format!("SELECT count(*) AS n FROM readings WHERE sensor_id <> '{sensor}'"),
        )
        .await;
    let (v1, i1) = value_and_interval(&all, 0);
    let (v2, i2) = value_and_interval(&without, 0);
    let half = ((i1[1] - i1[0]) + (i2[1] - i2[0])) / 4.0;
    assert!(
        half > 10.0 * truth,
        "the noise ({half}) hides one citizen ({truth} rows)"
    );
    report.add(
        dp,
        "differencing pair `count(*)` minus `count(*) WHERE sensor_id <> <citizen's sensor>`",
        format!(
            "difference {:.0} ± {half:.0} (95 %) for a true {truth}",
            v1 - v2
        ),
    );

    // One citizen's sensor alone: the answer is noise around a handful of readings.
    let one = a
        .ask(
            1,
            &format!("SELECT count(*) AS n FROM readings WHERE sensor_id = '{sensor}'"),
        )
        .await;
    let (v, iv) = value_and_interval(&one, 0);
    assert!((iv[1] - iv[0]) / 2.0 > 10.0 * truth, "{v} {iv:?}");
    report.add(
        dp,
        "`count(*) WHERE sensor_id = <citizen's sensor>`",
        format!(
            "{v:.0}, 95 % interval [{:.0}, {:.0}], for a true {truth}",
            iv[0], iv[1]
        ),
    );

    // Averaging: the differencing pair again and again, through every member in turn,
    // until the budget is spent.
    let (mut with, mut without, mut halves) = (Vec::new(), Vec::new(), Vec::new());
    let mut refused_with = None;
    for k in 0..40 {
        let sql = if k % 2 == 0 {
            "SELECT count(*) AS n FROM readings".to_owned()
        } else {
            format!("SELECT count(*) AS n FROM readings WHERE sensor_id <> '{sensor}'")
        };
        let r = a.ask(k % NODES, &sql).await;
        let seen = outcomes(&r);
        if seen.iter().all(|c| c == "answered") {
            let (v, iv) = value_and_interval(&r, 0);
            if k % 2 == 0 {
                with.push(v);
            } else {
                without.push(v);
            }
            halves.push((iv[1] - iv[0]) / 2.0);
            for d in &r.answers {
                let left = d["outcome"]["disclosure"]["epsilonLeft"].as_f64().unwrap();
                assert!(left >= 0.0);
            }
        } else {
            refused_with = Some(seen);
            break;
        }
    }
    let seen = refused_with.expect("the budget runs out");
    assert!(
        seen.iter().all(|c| c == "disclosure.budget_exhausted"),
        "{seen:?}"
    );
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let estimate = mean(&with) - mean(&without);
    let pairs = with.len().min(without.len()).max(1) as f64;
    let spread = mean(&halves) / pairs.sqrt();
    assert!(
        spread > 5.0 * truth,
        "the attacker's average ({estimate:.0} ± {spread:.0}) must not pin down {truth}"
    );
    report.add(dp, "repeat the differencing pair through every member in turn and average", format!("{} answers, estimate {estimate:.0} ± {spread:.0} for a true {truth}; then `disclosure.budget_exhausted` at {}/{} (the budget is per application and region at each member, whatever the origin)", with.len() + without.len(), seen.len(), NODES));
    // A fresh application of the same organisation would need its own certificate and grant;
    // a new query id, nonce or origin buys nothing.
    let r = a.ask(1, "SELECT count(*) FROM readings").await;
    assert!(outcomes(&r)
        .iter()
        .all(|c| c == "disclosure.budget_exhausted"));
    report.add(
        dp,
        "a new query, id, nonce and origin after the budget ran out",
        format!("refused `disclosure.budget_exhausted` by {NODES}/{NODES}"),
    );
    // Refusals do not spend budget and give nothing: the refused attacks above came first.

    // 6. A region whose charter chose exact mode explicitly: the rules of every mode hold.
    // Other keys: the first region's nodes are still running in this process.
    let e = start(region::exact_charter(), Actors::random(NODES).unwrap()).await;
    let exact = "exact mode (explicit)";
    report
        .refused(
            &e,
            exact,
            &format!("SELECT count(*) FROM readings WHERE subject <> '{x}'"),
            "disclosure.subject_field",
        )
        .await;
    report
        .refused(
            &e,
            exact,
            "SELECT count(*) FROM households WHERE age BETWEEN 0 AND 37 AND age BETWEEN 37 AND 74",
            "charter.protected_attribute",
        )
        .await;
    report
        .refused(
            &e,
            exact,
            "SELECT count(DISTINCT sensor_id) FROM readings",
            "disclosure.not_private",
        )
        .await;
    let r = e
        .ask(
            0,
            "SELECT sensor_id, count(*) AS n FROM readings GROUP BY 1",
        )
        .await;
    let rows = r.result.as_ref().unwrap()["rows"]
        .as_array()
        .unwrap()
        .clone();
    assert!(rows
        .iter()
        .all(|row| !own.contains(&row[0].as_str().unwrap().to_owned())));
    for ans in &r.answers {
        let note = ans["outcome"]["disclosure"]["note"].as_str().unwrap();
        assert!(note.contains("NOT resist differencing"), "{note}");
    }
    report.add(exact, "`GROUP BY sensor_id`: a citizen's sensor has 24 rows (≥ k) but one subject", format!("{} groups, none a citizen's: k counts distinct subjects; every answer says exact mode does NOT resist differencing", rows.len()));

    report.print();
    assert!(report.0.len() >= 30, "{} attacks", report.0.len());
}
