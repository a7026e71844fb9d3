//! A small region for tests and benchmarks: one node (Gent), two more members, a certifier,
//! an application, and their signed documents.
#![allow(dead_code)]
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use regio_policy::decision::{access::Rules, Context, Limits};
use regio_policy::doc::bundle::*;
use regio_policy::doc::cert::*;
use regio_policy::doc::charter::InclusionCharter;
use regio_policy::doc::manifest::{Member, RegionManifest};
use regio_policy::doc::query::Query;
use regio_policy::signed::decode_body;
use regio_policy::{Key, QueryKind, QueryShape, Signed};

pub(crate) fn key(n: u8) -> Key {
    Key::from_secret([n; 32])
}

pub(crate) fn now() -> DateTime<Utc> {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

pub(crate) struct World {
    pub gent: Key,
    pub brugge: Key,
    pub leuven: Key,
    pub outsider: Key,
    pub certifier: Key,
    pub rogue_certifier: Key,
    pub app: Key,
    pub other_app: Key,
    pub bundle: Signed<PolicyBundle>,
    pub rules: Rules,
    pub charter: Signed<InclusionCharter>,
    pub manifest: Signed<RegionManifest>,
    pub cert: Signed<EthicsCertificate>,
}

pub(crate) fn member(k: &Key, nis: &str, name: &str) -> Member {
    Member {
        did: k.did().clone(),
        nis: nis.into(),
        name: name.into(),
        addresses: vec![],
    }
}

pub(crate) fn bundle_doc(gent: &Key, certifier: &Key) -> PolicyBundle {
    let line = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    PolicyBundle {
        municipality: Municipality {
            nis: "44021".into(),
            name: "Gent".into(),
            did: gent.did().clone(),
        },
        version: 1,
        previous: None,
        issued: now() - Duration::days(30),
        datasets: vec![
            DatasetPolicy {
                name: "readings".into(),
                classification: Classification::Personal,
                subject_field: Some("subject".into()),
                sensitive_fields: vec!["subject".into()],
                categories: BTreeMap::from([
                    ("geboortejaar".into(), "age".into()),
                    ("etniciteit".into(), "ethnicity".into()),
                ]),
            },
            DatasetPolicy {
                name: "parking".into(),
                classification: Classification::Open,
                subject_field: None,
                sensitive_fields: vec![],
                categories: BTreeMap::new(),
            },
        ],
        access: Access {
            model: None,
            policy: vec![
                line(&[
                    "p",
                    "researcher",
                    "vlaanderen",
                    "readings",
                    "aggregate",
                    "ResearchAndDevelopment",
                ]),
                line(&[
                    "p",
                    "researcher",
                    "vlaanderen",
                    "readings",
                    "aggregate",
                    "ServiceProvision",
                ]),
                line(&["p", "analyst", "vlaanderen", "*", "raw", "PublicBenefit"]),
                line(&[
                    "p",
                    "analyst",
                    "vlaanderen",
                    "*",
                    "aggregate",
                    "PublicBenefit",
                ]),
                line(&[
                    "p",
                    "narrow",
                    "vlaanderen",
                    "readings",
                    "aggregate",
                    "AcademicResearch",
                ]),
                line(&["g", "ROLE_APP", "researcher", "vlaanderen"]),
                line(&["g", "ROLE_APP", "analyst", "vlaanderen"]),
            ]
            .into_iter()
            .map(|mut l| {
                if l[1] == "ROLE_APP" {
                    l[1] = key(50).did().to_string();
                }
                l
            })
            .collect(),
        },
        certification: vec![CertRequirement {
            dataset: "readings".into(),
            purpose: "*".into(),
            certifiers: vec![certifier.did().clone()],
        }],
        charters: vec![],
        disclosure: Disclosure {
            min_group_size: 5,
            raw_datasets: vec!["parking".into()],
        },
    }
}

pub(crate) fn charter_doc() -> InclusionCharter {
    let text = include_str!("../../../charters/inclusion-charter.json");
    decode_body::<InclusionCharter>(&serde_json::from_str(text).unwrap()).unwrap()
}

pub(crate) fn cert_doc(certifier: &Key, app: &Key) -> EthicsCertificate {
    EthicsCertificate {
        id: "urn:uuid:7b0e4f5e-0000-4000-8000-000000000001".into(),
        issuer: certifier.did().clone(),
        valid_from: now() - Duration::days(10),
        valid_until: now() + Duration::days(355),
        credential_subject: CertSubject {
            id: app.did().clone(),
            name: "Luchtkwaliteit Dashboard".into(),
            organisation: "Universiteit Gent".into(),
            purposes: vec!["ResearchAndDevelopment".into()],
            datasets: vec!["readings".into()],
            algorithm: Algorithm {
                name: "daily-no2".into(),
                description: "Averages NO2 per municipality per day.".into(),
                source: "https://example.org/src/daily-no2".into(),
                hash: format!("sha256:{}", "ab".repeat(32)),
            },
            assessment: Assessment {
                criteria: "urn:regio:certification-criteria:1".into(),
                level: "standard".into(),
                risk_category: "limited".into(),
                report: "https://example.org/report".into(),
            },
            register: Register::default(),
        },
    }
}

impl World {
    pub(crate) fn new() -> World {
        let (gent, brugge, leuven, outsider) = (key(1), key(2), key(3), key(4));
        let (certifier, rogue_certifier, app, other_app) = (key(10), key(11), key(50), key(51));
        let bundle = Signed::sign(bundle_doc(&gent, &certifier), &gent, now()).unwrap();
        let rules = Rules::compile(&bundle.doc().access).unwrap();
        let mut charter = Signed::sign(charter_doc(), &gent, now()).unwrap();
        for k in [&brugge, &leuven] {
            charter = charter.cosign(k, now()).unwrap();
        }
        let manifest_doc = RegionManifest {
            region: "vlaanderen".into(),
            name: "Vlaanderen test".into(),
            version: 1,
            previous: None,
            issued: now() - Duration::days(40),
            members: vec![
                member(&gent, "44021", "Gent"),
                member(&brugge, "31005", "Brugge"),
                member(&leuven, "24062", "Leuven"),
            ],
            charter: charter.hash(),
            certifiers: vec![certifier.did().clone()],
            threshold: 2,
        };
        let mut manifest = Signed::sign(manifest_doc, &gent, now()).unwrap();
        for k in [&brugge, &leuven] {
            manifest = manifest.cosign(k, now()).unwrap();
        }
        let cert = Signed::sign(cert_doc(&certifier, &app), &certifier, now()).unwrap();
        World {
            gent,
            brugge,
            leuven,
            outsider,
            certifier,
            rogue_certifier,
            app,
            other_app,
            bundle,
            rules,
            charter,
            manifest,
            cert,
        }
    }

    pub(crate) fn query_doc(&self, purpose: &str) -> Query {
        Query {
            id: "urn:uuid:00000000-0000-4000-8000-000000000042".into(),
            region: "vlaanderen".into(),
            origin: self.brugge.did().clone(),
            purpose: purpose.into(),
            sql: "SELECT count(*) FROM readings".into(),
            certificate: Some(self.cert.hash()),
            issued: now() - Duration::seconds(5),
            expires: now() + Duration::seconds(55),
            nonce: "n0nce-0123456789abcdef".into(),
            traceparent: None,
        }
    }

    pub(crate) fn query(&self, purpose: &str) -> Signed<Query> {
        Signed::sign(self.query_doc(purpose), &self.app, now()).unwrap()
    }

    pub(crate) fn ctx(&self) -> Context<'_> {
        Context {
            now: now(),
            policy: &self.bundle,
            rules: &self.rules,
            region: Some(&self.manifest),
            charter: Some(&self.charter),
            certificate: Some(&self.cert),
            revocations: &[],
            sender: Some(self.brugge.did()),
            nonce_seen: false,
            quota_used: 0,
            budget_spent: 0.0,
            limits: Limits::default(),
        }
    }
}

pub(crate) fn shape(dataset: &str) -> QueryShape {
    QueryShape {
        dataset: dataset.into(),
        kind: QueryKind::Aggregate,
        filters: vec![],
        groups: vec![],
        fields: vec!["no2".into()],
        aggregates: vec![],
        subject: Some("subject".into()),
    }
}
