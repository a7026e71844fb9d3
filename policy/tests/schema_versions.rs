//! Documents whose meaning changed carry a new `schemaVersion`; an old one is refused with a
//! message that says what to do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use regio_policy::doc::charter::InclusionCharter;
use regio_policy::doc::query::PartialAnswer;
use regio_policy::{Document, Key, Signed};

fn charter() -> serde_json::Value {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../charters/inclusion-charter.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_version_1_charter_is_refused_with_what_to_do() {
    assert_eq!(InclusionCharter::SCHEMA_VERSION, 2);
    assert_eq!(PartialAnswer::SCHEMA_VERSION, 2);
    let key = Key::from_secret([7; 32]);
    let body = regio_policy::signed::decode_body::<InclusionCharter>(&charter()).unwrap();
    let signed = Signed::sign(body, &key, chrono::Utc::now()).unwrap();
    assert!(Signed::<InclusionCharter>::verify(signed.raw().clone()).is_ok());

    // The same clauses as a version-1 document (before the disclosure clause). Verification
    // checks the proof first, then decodes the body as `decode_body` does.
    let mut old = charter();
    old["schemaVersion"] = serde_json::json!(1);
    let err = regio_policy::signed::decode_body::<InclusionCharter>(&old)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`schemaVersion` 1 is not supported"), "{err}");
    assert!(err.contains("clauses.disclosure"), "{err}");
    assert!(err.contains("sign the charter again"), "{err}");

    // A version-2 charter without the clause names the missing field.
    let mut v = charter();
    v["clauses"].as_object_mut().unwrap().remove("disclosure");
    let err = regio_policy::signed::decode_body::<InclusionCharter>(&v)
        .unwrap_err()
        .to_string();
    assert!(err.contains("disclosure"), "{err}");
}
