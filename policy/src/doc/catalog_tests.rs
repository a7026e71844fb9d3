use super::*;
use crate::key::Key;
use crate::signed::SignDocError;

fn facts(name: &str) -> Facts {
    Facts {
        name: name.into(),
        classification: Classification::Open,
        records: 120,
        records_exact: true,
        temporal: None,
        policy_version: Some(2),
        fields: vec!["ts".into(), "pm25".into()],
        schema_hash: "ab".repeat(32),
    }
}

fn entry(name: &str) -> DatasetEntry {
    DatasetEntry {
        name: name.into(),
        title: Text {
            nl: "Luchtkwaliteit".into(),
            en: "Air quality".into(),
        },
        description: Text {
            nl: "Fijnstof per uur".into(),
            en: "Particulate matter per hour".into(),
        },
        keywords: vec!["fijnstof".into()],
        themes: vec![Theme::ENVI],
        frequency: Frequency::Hourly,
        licence: "https://creativecommons.org/licenses/by/4.0/".into(),
    }
}

fn catalog(key: &Key) -> Catalog {
    Catalog {
        municipality: Municipality {
            nis: "44021".into(),
            name: "Gent".into(),
            did: key.did().clone(),
        },
        version: 1,
        issued: Utc::now(),
        homepage: Some("https://regio.gent.be".into()),
        entries: Entries {
            contact: Some(Contact {
                name: "Data team".into(),
                email: "data@stad.gent".into(),
            }),
            datasets: vec![entry("air")],
            initiatives: vec![Initiative {
                id: "living-lab".into(),
                name: Text {
                    nl: "Leefstraat".into(),
                    en: "Living street".into(),
                },
                description: Text {
                    nl: "Meten".into(),
                    en: "Measuring".into(),
                },
                status: Status::Active,
                start: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
                end: None,
                partners: vec!["UGent".into()],
                datasets: vec!["air".into()],
                keywords: vec![],
                themes: vec![Theme::REGI],
                contact: Contact {
                    name: "Leefstraat".into(),
                    email: "leef@stad.gent".into(),
                },
            }],
        },
        facts: vec![facts("air")],
    }
}

fn invalid_field(doc: Catalog, key: &Key) -> String {
    match Signed::sign(doc, key, Utc::now()) {
        Err(SignDocError::Invalid(i)) => i.field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn signs_verifies_and_refuses_another_signer_or_a_change() {
    let key = Key::from_secret([3; 32]);
    let signed = Signed::sign(catalog(&key), &key, Utc::now()).unwrap();
    assert!(check_signer(&signed).is_ok());
    let back = Signed::<Catalog>::verify(signed.raw().clone()).unwrap();
    assert_eq!(back.doc(), signed.doc());

    let other = Key::from_secret([4; 32]);
    let forged = Signed::sign(catalog(&key), &other, Utc::now()).unwrap();
    assert_eq!(check_signer(&forged).unwrap_err().field, "proof");

    let mut altered = signed.raw().clone();
    altered["entries"]["datasets"][0]["title"]["en"] = "Something else".into();
    assert!(Signed::<Catalog>::verify(altered).is_err());
}

#[test]
fn names_the_field_that_breaks_a_rule() {
    let key = Key::from_secret([3; 32]);
    let mut c = catalog(&key);
    c.entries.datasets[0].name = "nope".into();
    assert_eq!(invalid_field(c, &key), "entries.datasets[0].name");

    let mut c = catalog(&key);
    c.entries.datasets.push(entry("air"));
    assert_eq!(invalid_field(c, &key), "entries.datasets[1].name");

    let mut c = catalog(&key);
    c.entries.datasets[0].title.nl = " ".into();
    assert_eq!(invalid_field(c, &key), "entries.datasets[0].title.nl");

    let mut c = catalog(&key);
    c.entries.datasets[0].description.en = "x".repeat(MAX_TEXT + 1);
    assert_eq!(invalid_field(c, &key), "entries.datasets[0].description.en");

    let mut c = catalog(&key);
    c.entries.datasets[0].licence = "CC-BY".into();
    assert_eq!(invalid_field(c, &key), "entries.datasets[0].licence");

    let mut c = catalog(&key);
    c.entries.datasets[0].keywords = vec!["a\nb".into()];
    assert_eq!(invalid_field(c, &key), "entries.datasets[0].keywords[0]");

    let mut c = catalog(&key);
    c.entries.initiatives[0].id = "Living Lab".into();
    assert_eq!(invalid_field(c, &key), "entries.initiatives[0].id");

    let mut c = catalog(&key);
    c.entries.initiatives[0].end = NaiveDate::from_ymd_opt(2024, 1, 1);
    assert_eq!(invalid_field(c, &key), "entries.initiatives[0].end");

    let mut c = catalog(&key);
    c.entries.initiatives[0].datasets = vec!["other".into()];
    assert_eq!(invalid_field(c, &key), "entries.initiatives[0].datasets[0]");

    let mut c = catalog(&key);
    c.entries.initiatives[0].contact.email = "not an address".into();
    assert_eq!(
        invalid_field(c, &key),
        "entries.initiatives[0].contact.email"
    );

    let mut c = catalog(&key);
    c.homepage = Some("javascript:alert(1)".into());
    assert_eq!(invalid_field(c, &key), "homepage");

    let mut c = catalog(&key);
    c.facts.push(facts("air"));
    assert_eq!(invalid_field(c, &key), "facts[1].name");
}

#[test]
fn entries_decode_from_their_json_form_and_codes_parse() {
    let entries: Entries = serde_json::from_value(entries_json()).unwrap();
    assert_eq!(entries.datasets[0].themes, vec![Theme::ENVI, Theme::HEAL]);
    assert_eq!(entries.initiatives[0].status, Status::Active);
    entries.validate(&[facts("air")]).unwrap();
    assert_eq!(Theme::parse("tran"), Some(Theme::TRAN));
    assert_eq!(Frequency::UpdateCont.code(), "UPDATE_CONT");
}

/// The JSON form of an operator's entries (the node and the CLI read the same from TOML).
fn entries_json() -> serde_json::Value {
    serde_json::json!({
        "contact": {"name": "Data team", "email": "data@stad.gent"},
        "datasets": [{
            "name": "air",
            "title": {"nl": "Luchtkwaliteit", "en": "Air quality"},
            "description": {"nl": "Fijnstof", "en": "Particulate matter"},
            "keywords": ["fijnstof", "pm2.5"],
            "themes": ["ENVI", "HEAL"],
            "frequency": "HOURLY",
            "licence": "https://creativecommons.org/licenses/by/4.0/"
        }],
        "initiatives": [{
            "id": "leefstraat",
            "name": {"nl": "Leefstraat", "en": "Living street"},
            "description": {"nl": "Meten", "en": "Measuring"},
            "status": "active",
            "start": "2025-03-01",
            "datasets": ["air"],
            "contact": {"name": "Leefstraat", "email": "leef@stad.gent"}
        }]
    })
}
