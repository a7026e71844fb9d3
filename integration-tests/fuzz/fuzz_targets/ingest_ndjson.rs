//! The store's ndjson ingest parser (`regio_store::ingest::parse_ndjson`) against a dataset
//! schema, then cutting the rows into chunks and their codec. The first byte picks the
//! schema (the demo's `readings` or `sites`, every field type) and the mode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regio_fuzz::ingest_then_chunk;
use regio_store::ingest::parse_ndjson;

fuzz_target!(|data: &[u8]| ingest_then_chunk(data, parse_ndjson));
