//! A fully signed demo region: five municipality nodes, an ethics board, a certified and an
//! uncertified application, a desk clerk; the charter signed by every member, the founding
//! manifest, each node's policy bundle and the application's certificate. Keys are derived
//! from fixed seeds so that runs are reproducible (never use them outside the demo).

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::data::{self, MUNICIPALITIES};
use regio_node::engine::{DocError, Engine};
use regio_policy::doc::bundle::*;
use regio_policy::doc::cert::*;
use regio_policy::doc::charter::InclusionCharter;
use regio_policy::doc::manifest::{Member, RegionManifest};
use regio_policy::doc::query::Query;
use regio_policy::key::KeyError;
use regio_policy::signed::{decode_body, DocumentError, SignDocError};
use regio_policy::{Did, DocHash, Key, Signed};
use regio_store::StoreError;

/// The demo region's id.
pub const REGION: &str = "vlaanderen-demo";

/// The default inclusion charter shipped in `charters/`.
pub const CHARTER_JSON: &str = include_str!("../../../charters/inclusion-charter.json");

/// Everyone in the demo.
pub struct Actors {
    /// One key per municipality node, in [`MUNICIPALITIES`] order.
    pub nodes: Vec<Key>,
    /// The ethics board.
    pub certifier: Key,
    /// The certified research application.
    pub app: Key,
    /// An application without a certificate.
    pub uncertified: Key,
    /// A desk clerk (authorised at every node).
    pub clerk: Key,
    /// A second certified application, which tries to single out one citizen (demo step 7;
    /// its own key, so its privacy budget is its own).
    pub curious: Key,
}

impl Actors {
    /// The demo's fixed keys for `n` nodes.
    pub fn new(n: usize) -> Actors {
        Actors {
            nodes: (0..n)
                .map(|i| Key::from_secret([i as u8 + 1; 32]))
                .collect(),
            certifier: Key::from_secret([100; 32]),
            app: Key::from_secret([101; 32]),
            uncertified: Key::from_secret([102; 32]),
            clerk: Key::from_secret([103; 32]),
            curious: Key::from_secret([104; 32]),
        }
    }

    /// Fresh random keys for `n` nodes and every other actor (nothing reproducible).
    pub fn random(n: usize) -> Result<Actors, KeyError> {
        Ok(Actors {
            nodes: (0..n).map(|_| Key::generate()).collect::<Result<_, _>>()?,
            certifier: Key::generate()?,
            app: Key::generate()?,
            uncertified: Key::generate()?,
            clerk: Key::generate()?,
            curious: Key::generate()?,
        })
    }
}

/// The region's signed documents.
pub struct Documents {
    /// The inclusion charter, signed by every member.
    pub charter: Signed<InclusionCharter>,
    /// The founding manifest, signed by every member.
    pub manifest: Signed<RegionManifest>,
    /// Each node's policy bundle (version 1).
    pub policies: Vec<Signed<PolicyBundle>>,
    /// The application's ethics certificate.
    pub certificate: Signed<EthicsCertificate>,
}

/// Why the demo region could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A document could not be signed.
    #[error("signing: {0}")]
    Sign(#[from] SignDocError),
    /// The shipped charter does not decode.
    #[error("charters/inclusion-charter.json: {0}")]
    Charter(#[from] DocumentError),
    /// A node refused a document.
    #[error(transparent)]
    Doc(#[from] DocError),
    /// A node's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn line(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Node `i`'s policy bundle: any registered researcher app may aggregate `readings` for any
/// purpose the charter allows, with a certificate from a region-trusted certifier.
pub fn policy(i: usize, actors: &Actors, now: DateTime<Utc>) -> PolicyBundle {
    policy_in(REGION, i, actors, now)
}

/// [`policy`] for the region `region`.
pub fn policy_in(region: &str, i: usize, actors: &Actors, now: DateTime<Utc>) -> PolicyBundle {
    let (nis, name) = MUNICIPALITIES[i % MUNICIPALITIES.len()];
    PolicyBundle {
        municipality: Municipality {
            nis: nis.into(),
            name: name.into(),
            did: actors.nodes[i].did().clone(),
        },
        version: 1,
        previous: None,
        issued: now,
        datasets: vec![DatasetPolicy {
            name: "readings".into(),
            classification: Classification::Personal,
            subject_field: Some("subject".into()),
            sensitive_fields: vec!["subject".into()],
            categories: Default::default(),
        }],
        access: Access {
            model: None,
            policy: vec![
                line(&["p", "researcher", region, "readings", "aggregate", "*"]),
                line(&["g", actors.app.did().as_str(), "researcher", region]),
                line(&["g", actors.uncertified.did().as_str(), "researcher", region]),
                line(&["g", actors.curious.did().as_str(), "researcher", region]),
            ],
        },
        certification: vec![CertRequirement {
            dataset: "readings".into(),
            purpose: "*".into(),
            certifiers: vec![],
        }],
        charters: vec![],
        disclosure: Disclosure {
            min_group_size: 10,
            raw_datasets: vec![],
        },
    }
}

/// Signs every document of the region. `addresses[i]` are node `i`'s multiaddresses.
pub fn documents(
    actors: &Actors,
    addresses: &[Vec<String>],
    now: DateTime<Utc>,
) -> Result<Documents, BuildError> {
    documents_in(REGION, actors, addresses, now)
}

/// [`documents`] for a region with id `region`, under [`exact_charter`] (fixtures that
/// assert exact arithmetic; the demo itself and the attack suite use [`default_charter`]).
pub fn documents_in(
    region: &str,
    actors: &Actors,
    addresses: &[Vec<String>],
    now: DateTime<Utc>,
) -> Result<Documents, BuildError> {
    documents_with(region, &exact_charter(), actors, addresses, now)
}

/// The default charter (`charters/inclusion-charter.json`): differential privacy for
/// personal datasets.
pub fn default_charter() -> Value {
    serde_json::from_str(CHARTER_JSON).unwrap_or(Value::Null)
}

/// The default charter in explicit exact mode (`clauses.disclosure.personal = "exact"`):
/// the rules that hold in every mode, exact values. For test fixtures and benchmarks that
/// compare exact results; such a region's answers say that they do not resist differencing.
pub fn exact_charter() -> Value {
    let mut c = default_charter();
    c["id"] = Value::from("urn:regio:charter:default-exact:1");
    c["clauses"]["disclosure"]["personal"] = Value::from("exact");
    c
}

/// [`documents_in`] with `charter` (the body of an inclusion charter, e.g. [`CHARTER_JSON`]
/// with a clause changed) instead of the region's default charter.
pub fn documents_with(
    region: &str,
    charter: &Value,
    actors: &Actors,
    addresses: &[Vec<String>],
    now: DateTime<Utc>,
) -> Result<Documents, BuildError> {
    let charter_body = decode_body::<InclusionCharter>(charter)?;
    let mut charter = Signed::sign(charter_body, &actors.nodes[0], now)?;
    for k in &actors.nodes[1..] {
        charter = charter.cosign(k, now)?;
    }
    let members = actors
        .nodes
        .iter()
        .enumerate()
        .map(|(i, k)| Member {
            did: k.did().clone(),
            nis: MUNICIPALITIES[i % MUNICIPALITIES.len()].0.into(),
            name: MUNICIPALITIES[i % MUNICIPALITIES.len()].1.into(),
            addresses: addresses.get(i).cloned().unwrap_or_default(),
        })
        .collect();
    let manifest = RegionManifest {
        region: region.into(),
        name: if region == REGION {
            "Vlaanderen demo region".into()
        } else {
            format!("demo region {region}")
        },
        version: 1,
        previous: None,
        issued: now,
        members,
        charter: charter.hash(),
        certifiers: vec![actors.certifier.did().clone()],
        threshold: (actors.nodes.len() / 2 + 1) as u32,
    };
    let mut manifest = Signed::sign(manifest, &actors.nodes[0], now)?;
    for k in &actors.nodes[1..] {
        manifest = manifest.cosign(k, now)?;
    }
    let policies = (0..actors.nodes.len())
        .map(|i| Signed::sign(policy_in(region, i, actors, now), &actors.nodes[i], now))
        .collect::<Result<Vec<_>, _>>()?;
    let certificate = certificate(actors, 1, now)?;
    Ok(Documents {
        charter,
        manifest,
        policies,
        certificate,
    })
}

/// The ethics board's certificate number `serial` for the research application: the daily
/// NO2 algorithm, for `ResearchAndDevelopment` on `readings`, valid from a day before `now`
/// for a year.
pub fn certificate(
    actors: &Actors,
    serial: u32,
    now: DateTime<Utc>,
) -> Result<Signed<EthicsCertificate>, SignDocError> {
    let algorithm = Algorithm {
        name: "daily-no2".into(),
        description: "Counts readings and averages NO2 per municipality per day; no individual is singled out.".into(),
        source: "https://example.org/regio/daily-no2".into(),
        hash: format!("sha256:{}", "0f".repeat(32)),
    };
    let subject = (
        &actors.app,
        "Luchtkwaliteit Vlaanderen",
        "Universiteit Gent, vakgroep Milieu",
    );
    certificate_of(actors, subject, serial, algorithm, now)
}

/// The ethics board's certificate number `serial` for the second application
/// ([`Actors::curious`]): readings per municipality, for `ResearchAndDevelopment`.
pub fn curious_certificate(
    actors: &Actors,
    serial: u32,
    now: DateTime<Utc>,
) -> Result<Signed<EthicsCertificate>, SignDocError> {
    let algorithm = Algorithm {
        name: "readings-per-municipality".into(),
        description: "Counts readings per municipality.".into(),
        source: "https://example.org/regio/readings-per-municipality".into(),
        hash: format!("sha256:{}", "1e".repeat(32)),
    };
    let subject = (&actors.curious, "Sensordekking", "Data-adviesbureau Noord");
    certificate_of(actors, subject, serial, algorithm, now)
}

/// A certificate of the ethics board for `(key, name, organisation)` and `algorithm`.
fn certificate_of(
    actors: &Actors,
    (key, name, organisation): (&Key, &str, &str),
    serial: u32,
    algorithm: Algorithm,
    now: DateTime<Utc>,
) -> Result<Signed<EthicsCertificate>, SignDocError> {
    let cert = EthicsCertificate {
        id: format!("urn:uuid:0b9c1d3e-7a52-4d1e-9f00-{serial:012}"),
        issuer: actors.certifier.did().clone(),
        valid_from: now - Duration::days(1),
        valid_until: now + Duration::days(365),
        credential_subject: CertSubject {
            id: key.did().clone(),
            name: name.into(),
            organisation: organisation.into(),
            purposes: vec!["ResearchAndDevelopment".into()],
            datasets: vec!["readings".into()],
            assessment: Assessment {
                criteria: "urn:regio:certification-criteria:1".into(),
                level: "standard".into(),
                risk_category: "limited".into(),
                report: format!("https://example.org/regio/assessment/{}", algorithm.name),
            },
            register: Register {
                goal: Some("Evidence for low-emission-zone policy.".into()),
                ..Register::default()
            },
            algorithm,
        },
    };
    Signed::sign(cert, &actors.certifier, now)
}

/// The ethics board's signed revocation of the region's certificate, `reason` given.
pub fn revocation(
    actors: &Actors,
    docs: &Documents,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Signed<Revocation>, SignDocError> {
    let rev = Revocation {
        certificate: docs.certificate.hash(),
        certificate_id: docs.certificate.doc().id.clone(),
        issuer: actors.certifier.did().clone(),
        reason: reason.into(),
        revoked_at: now,
    };
    Signed::sign(rev, &actors.certifier, now)
}

/// Loads node `i`: its dataset and synthetic data, consent, its policy, the charter, the
/// manifest and the certificate.
pub fn load(
    engine: &Engine,
    i: usize,
    docs: &Documents,
    days: usize,
    sensors: usize,
    now: DateTime<Utc>,
) -> Result<(), BuildError> {
    let store = engine.store();
    store.create_dataset(&data::readings_schema())?;
    let d = data::municipality(i, days, sensors);
    store.append_rows("readings", d.rows)?;
    store.put_consents(d.consent, now.timestamp_micros())?;
    engine.publish_policy(docs.policies[i].raw().clone(), now)?;
    engine.put_charter(docs.charter.raw().clone(), now)?;
    engine.put_manifest(docs.manifest.raw().clone(), now)?;
    engine.put_certificate(docs.certificate.raw().clone(), now)?;
    Ok(())
}

/// A signed query of `app` in the demo region, sent to `origin`.
pub fn query(
    app: &Key,
    origin: &Did,
    purpose: &str,
    sql: &str,
    certificate: Option<DocHash>,
    now: DateTime<Utc>,
) -> Result<Value, SignDocError> {
    query_in(REGION, app, origin, purpose, sql, certificate, now)
}

/// [`query`] in the region `region`.
pub fn query_in(
    region: &str,
    app: &Key,
    origin: &Did,
    purpose: &str,
    sql: &str,
    certificate: Option<DocHash>,
    now: DateTime<Utc>,
) -> Result<Value, SignDocError> {
    let mut nonce = [0u8; 16];
    if let Err(e) = getrandom::fill(&mut nonce) {
        // Still unique per call (the clock), so the query is not refused as a replay.
        tracing::warn!(error = %e, "no randomness for the query nonce; using the clock");
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        nonce.copy_from_slice(&t.to_be_bytes());
    }
    let q = Query {
        id: format!("urn:uuid:{}", hex::encode(&nonce[..8])),
        region: region.into(),
        origin: origin.clone(),
        purpose: purpose.into(),
        sql: sql.into(),
        certificate,
        issued: now,
        expires: now + Duration::seconds(60),
        nonce: hex::encode(nonce),
        traceparent: None,
    };
    Ok(Signed::sign(q, app, now)?.raw().clone())
}
