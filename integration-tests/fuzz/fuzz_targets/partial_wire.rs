//! PartialAnswer wire decode (`regio_query::PartialResult`, columnar groups), as the
//! coordinator reads an answer's `result`: `{"schema": …, "partial": …}`. The first byte picks
//! the query (`regio_fuzz::PLANS`), planned over the answer's schema; a partial result that
//! decodes is checked against the plan and, when it fits, merged and finalized.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regio_fuzz::{merge_and_finalize, readings_schema_or, PLANS};
use regio_query::schema::Schema;
use regio_query::PartialResult;
use serde::Deserialize;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&which, json)) = data.split_first() else {
        return;
    };
    let Ok(result) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let schema = readings_schema_or(Schema::deserialize(&result["schema"]).ok());
    let sql = PLANS[usize::from(which) % PLANS.len()];
    let Ok((plan, _)) = regio_query::plan(sql, |d| (d == schema.dataset).then(|| schema.clone()))
    else {
        return;
    };
    let Ok(partial) = PartialResult::deserialize(&result["partial"]) else {
        return;
    };
    let _ = serde_json::to_vec(&partial);
    if partial.check(&plan).is_ok() {
        merge_and_finalize(&plan, &partial);
    }
});
