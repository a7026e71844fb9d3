//! SQL parse + plan (`regio_query::plan`, as the engine calls it with its stored schemas),
//! then, when the query plans, execution over a chunk of demo rows, the coordinator's check,
//! merge and finalize.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regio_fuzz::{lookup, run_plan};

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((plan, _shape)) = regio_query::plan(sql, lookup) {
        let _ = run_plan(&plan);
    }
});
