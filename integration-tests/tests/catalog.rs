//! The region catalog over a live three-node region (real libp2p, real HTTP): each member
//! publishes its entries; any member finds another member's dataset and initiative by
//! keyword, theme and municipality; a catalog altered in transit, or signed by a
//! non-member, is refused and logged; the node's and the region's DCAT-AP output passes the
//! official DCAT-AP 3 SHACL shapes (pyshacl, when the CI venv is there).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use regio_demo::cluster::{LiveNode, LiveRegion};
use regio_demo::region::{Actors, REGION};
use regio_node::federation::gossip::Gossip;
use regio_policy::doc::catalog::Catalog;
use regio_policy::{Key, Signed};
use regio_store::Store;
use serde_json::{json, Value};

/// Every log line of this test binary.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn capture() -> Logs {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            tracing_subscriber::fmt()
                .with_writer(logs.clone())
                .with_ansi(false)
                .with_env_filter(regio_node::telemetry::log_filter(None).unwrap())
                .init();
            logs
        })
        .clone()
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

async fn get(url: String, accept: &'static str) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let mut r = agent().get(&url).header("Accept", accept).call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    })
    .await
    .unwrap()
}

async fn publish(node: &LiveNode, entries: Value) -> (u16, Value) {
    let url = format!("{}/v1/catalog/entries", node.url);
    let token = node.token.as_str().to_string();
    tokio::task::spawn_blocking(move || {
        let mut r = agent()
            .post(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(entries.to_string())
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap(),
        )
    })
    .await
    .unwrap()
}

fn entries(keyword: &str, theme: &str, initiative: &str) -> Value {
    json!({
        "contact": {"name": "Dienst Data", "email": "data@example.be"},
        "datasets": [{
            "name": "readings",
            "title": {"nl": format!("Luchtmetingen {keyword}"), "en": format!("Air readings {keyword}")},
            "description": {"nl": "Fijnstof en NO2 van burgersensoren en stadsmeetpunten.", "en": "Particulate matter and NO2 from citizen sensors and city stations."},
            "keywords": [keyword, "luchtkwaliteit"],
            "themes": [theme],
            "frequency": "HOURLY",
            "licence": "https://creativecommons.org/licenses/by/4.0/"
        }],
        "initiatives": [{
            "id": initiative,
            "name": {"nl": format!("Proeftuin {keyword}"), "en": format!("Living lab {keyword}")},
            "description": {"nl": "Bewoners meten samen de luchtkwaliteit in hun straat.", "en": "Residents measure the air quality in their street together."},
            "status": "active",
            "start": "2025-09-01",
            "partners": ["Universiteit Gent", "Buurtcomité"],
            "datasets": ["readings"],
            "keywords": [keyword],
            "themes": [theme, "REGI"],
            "contact": {"name": "Proeftuin", "email": "proeftuin@example.be"}
        }]
    })
}

/// Polls a search at `node` until `check` holds (catalogs travel by gossip and sync).
async fn search_until(node: &LiveNode, query: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(
            format!("{}/v1/catalog?region={REGION}&{query}", node.url),
            "application/json",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        if check(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "search `{query}` never matched: {v:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn hit<'a>(v: &'a Value, kind: &str, nis: &str) -> Option<&'a Value> {
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == kind && h["member"]["nis"] == nis)
}

/// pyshacl against the vendored DCAT-AP 3.0.1 shapes; `None` when no pyshacl is installed
/// here (CI installs it: `.ci/shacl-venv.sh`; it is then required).
fn shacl(name: &str, turtle: &str) -> Option<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("../target"));
    let pyshacl = std::env::var("REGIO_PYSHACL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| target.join("shacl-venv/bin/pyshacl"));
    if !pyshacl.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must validate the catalog: no pyshacl at {}",
            pyshacl.display()
        );
        eprintln!(
            "pyshacl not installed at {} (bash .ci/shacl-venv.sh): {name} not validated",
            pyshacl.display()
        );
        return None;
    }
    let dir = target.join("shacl-samples");
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join(format!("{name}.ttl"));
    std::fs::write(&data, turtle).unwrap();
    let shapes = root.join("shacl/dcat-ap-3.0.1");
    // Every shapes file of the release's SHACL folder that applies to a catalog's own
    // content (imports.ttl and mdr_imports.ttl only fetch ontologies from the web; the
    // vocabularies' concepts are in the output itself), merged into one shapes graph.
    let merged = dir.join("dcat-ap-3.0.1-shapes.ttl");
    let mut all = String::new();
    for f in [
        "shapes.ttl",
        "range.ttl",
        "mdr-vocabularies.shape.ttl",
        "shapes_recommended.ttl",
    ] {
        all.push_str(&std::fs::read_to_string(shapes.join(f)).unwrap());
        all.push('\n');
    }
    std::fs::write(&merged, all).unwrap();
    let out = std::process::Command::new(&pyshacl)
        .args(["-s"])
        .arg(&merged)
        .args([
            "-df",
            "turtle",
            "-sf",
            "turtle",
            "-f",
            "human",
            "--allow-warnings",
        ])
        .arg(&data)
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Top-level results of a severity in pyshacl's human report (nested details of a warning's
/// `sh:node` are indented further and are not results of their own).
fn results(report: &str, severity: &str) -> usize {
    report
        .lines()
        .filter(|l| *l == format!("\tSeverity: sh:{severity}"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_find_each_others_datasets_and_initiatives_and_refuse_forged_catalogs() {
    let logs = Logs::capture();
    let stores = (0..3).map(|_| Store::memory()).collect();
    let live = LiveRegion::start(Actors::new(3), stores, 2, 10, Utc::now())
        .await
        .unwrap();
    let [gent, antwerpen, brugge] = [&live.nodes[0], &live.nodes[1], &live.nodes[2]];

    // Each member publishes its own entries (the operator's `regio catalog import`).
    for (node, kw, theme, id) in [
        (gent, "fietsstraat", "TRAN", "fietsstraat-gent"),
        (antwerpen, "havenlucht", "ENVI", "havenlucht"),
        (brugge, "reien", "HEAL", "reien-meten"),
    ] {
        let (status, reply) = publish(node, entries(kw, theme, id)).await;
        assert_eq!(status, 201, "{reply}");
        assert_eq!(reply["described"], 1);
        assert_eq!(reply["initiatives"], 1);
    }

    // Bad entries change nothing and name the field.
    let mut bad = entries("x", "TRAN", "x");
    bad["datasets"][0]["name"] = "nope".into();
    let (status, reply) = publish(gent, bad).await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["code"], "catalog.invalid", "{reply}");
    assert_eq!(
        reply["error"]["details"]["field"], "datasets[0].name",
        "{reply}"
    );

    // Gent finds Brugge's dataset and initiative by keyword, by theme, by municipality.
    let v = search_until(gent, "q=reien", |v| hit(v, "initiative", "31005").is_some()).await;
    let d = hit(&v, "dataset", "31005").expect("Brugge's dataset by keyword");
    assert_eq!(d["id"], "readings");
    assert_eq!(d["member"]["name"], "Brugge");
    assert_eq!(d["member"]["did"], brugge.engine.did().as_str());
    assert_eq!(hit(&v, "initiative", "31005").unwrap()["id"], "reien-meten");
    assert!(
        hit(&v, "dataset", "44021").is_none(),
        "only what matched: {v:#}"
    );
    assert_eq!(v["missing"], json!([]));
    assert_eq!(v["searched"], 3);

    let v = search_until(gent, "theme=ENVI", |v| hit(v, "dataset", "11002").is_some()).await;
    assert_eq!(
        v["hits"].as_array().unwrap().len(),
        2,
        "Antwerpen's dataset and initiative: {v:#}"
    );
    assert!(hit(&v, "initiative", "11002").is_some());

    let v = search_until(brugge, "municipality=Antwerpen", |v| {
        hit(v, "initiative", "11002").is_some()
    })
    .await;
    assert!(
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["member"]["nis"] == "11002"),
        "{v:#}"
    );
    let v = search_until(brugge, "municipality=44021&q=fietsstraat&theme=TRAN", |v| {
        hit(v, "initiative", "44021").is_some()
    })
    .await;
    assert_eq!(v["hits"].as_array().unwrap().len(), 2, "{v:#}");

    // A catalog altered in transit: Antwerpen's, with another title, relayed by a member over
    // the real gossip topic. Gent refuses it, logs why, and keeps the one it had.
    let (_, raw) = get(
        format!("{}/v1/catalog/signed", antwerpen.url),
        "application/json",
    )
    .await;
    let mut altered: Value = serde_json::from_str(&raw).unwrap();
    altered["version"] = json!(altered["version"].as_u64().unwrap() + 1);
    altered["entries"]["datasets"][0]["title"]["en"] = "Nothing to see here".into();
    brugge
        .net
        .publish(REGION, Gossip::Catalog { doc: altered }.to_bytes())
        .await
        .unwrap();

    // One signed by a non-member, naming itself, relayed the same way.
    let outsider = Key::from_secret([77; 32]);
    let mut forged = Signed::<Catalog>::verify(serde_json::from_str(&raw).unwrap())
        .unwrap()
        .doc()
        .clone();
    forged.municipality.did = outsider.did().clone();
    forged.municipality.name = "Nergensdorp".into();
    forged.version = 1;
    let forged = Signed::sign(forged, &outsider, Utc::now()).unwrap();
    brugge
        .net
        .publish(
            REGION,
            Gossip::Catalog {
                doc: forged.raw().clone(),
            }
            .to_bytes(),
        )
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = logs.text();
        let altered_logged = text
            .lines()
            .any(|l| l.contains("gossip not applied") && l.contains("catalog: signature"));
        let outsider_logged = text.lines().any(|l| {
            l.contains("gossip not applied")
                && l.contains(outsider.did().as_str())
                && l.contains("is not a member")
        });
        if altered_logged && outsider_logged {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the refusals were not logged:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v = search_until(gent, "q=nothing+to+see", |_| true).await;
    assert_eq!(v["hits"], json!([]), "{v:#}");
    let v = search_until(gent, "q=Nergensdorp", |_| true).await;
    assert_eq!(v["hits"], json!([]), "{v:#}");

    // DCAT-AP 3: this node's catalog and the region's merged catalog, as Turtle and as JSON-LD.
    let (status, node_ttl) = get(format!("{}/v1/catalog", gent.url), "text/turtle").await;
    assert_eq!(status, 200);
    assert!(
        node_ttl.contains("dcat:Catalog") && node_ttl.contains("prov:Activity"),
        "{node_ttl}"
    );
    let (status, region_ttl) = get(
        format!("{}/v1/catalog?region={REGION}", gent.url),
        "text/turtle",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        region_ttl.contains("Brugge")
            && region_ttl.contains("Antwerpen")
            && region_ttl.contains("dcat:catalog"),
        "{region_ttl}"
    );
    let (status, jsonld) = get(
        format!("{}/v1/catalog?region={REGION}", gent.url),
        "application/ld+json",
    )
    .await;
    assert_eq!(status, 200);
    let jsonld: Value = serde_json::from_str(&jsonld).unwrap();
    assert!(
        jsonld["@graph"].as_array().is_some_and(|g| g.len() > 10),
        "{jsonld:#}"
    );
    let (status, _) = get(format!("{}/v1/catalog", gent.url), "text/html").await;
    assert_eq!(status, 406);
    let (status, body) = get(
        format!("{}/v1/catalog?theme=CARS", gent.url),
        "application/json",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("catalog.bad_theme"), "{body}");
    let (status, body) = get(
        format!("{}/v1/catalog?region=elsewhere", gent.url),
        "application/json",
    )
    .await;
    assert_eq!(status, 404, "{body}");

    for (name, ttl) in [("node-catalog", &node_ttl), ("region-catalog", &region_ttl)] {
        if let Some(report) = shacl(name, ttl) {
            assert_eq!(
                results(&report, "Violation"),
                0,
                "{name}: pyshacl found violations:\n{report}"
            );
            assert!(report.contains("Conforms: True"), "{name}:\n{report}");
            eprintln!(
                "{name}: pyshacl DCAT-AP 3.0.1: Conforms: True, 0 violations, {} warnings",
                results(&report, "Warning")
            );
        }
    }
    live.stop().await;
}
