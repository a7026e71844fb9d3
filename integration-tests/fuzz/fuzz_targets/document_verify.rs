//! Signed-document decode + Data Integrity verification (`regio_policy::signed`): the first
//! byte picks the document type, the rest is the JSON a node receives. Every document goes
//! through the generic decode (envelope, schema version, fields, the type's rules) and
//! through `Signed::verify` (every proof, then the decode).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regio_policy::doc::{bundle, cert, charter, checkpoint, consent, manifest, query};
use regio_policy::signed::{decode_body, parse_json};
use regio_policy::{Document, Signed};
use serde_json::Value;

fn check<T: Document>(value: Value) {
    let _ = decode_body::<T>(&value);
    if let Ok(signed) = Signed::<T>::verify(value) {
        let _ = signed.hash();
        let _ = signed.signers();
        let _ = signed.to_json_pretty();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, json)) = data.split_first() else {
        return;
    };
    let Ok(value) = parse_json(json) else {
        return;
    };
    match kind % 9 {
        0 => check::<query::Query>(value),
        1 => check::<query::PartialAnswer>(value),
        2 => check::<bundle::PolicyBundle>(value),
        3 => check::<consent::ConsentRecord>(value),
        4 => check::<cert::EthicsCertificate>(value),
        5 => check::<cert::Revocation>(value),
        6 => check::<charter::InclusionCharter>(value),
        7 => check::<manifest::RegionManifest>(value),
        _ => check::<checkpoint::AuditCheckpoint>(value),
    }
});
