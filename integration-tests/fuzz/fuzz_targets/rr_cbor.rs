//! Request-response CBOR decode (`regio_net`'s codec as the swarm runs it). The first byte
//! picks request or response; what decodes is written again and must read back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regio_net::fuzzing::{read_request, read_response, write_request, write_response};

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        if let Ok(body) = read_request(bytes) {
            let again = write_request(body.clone()).and_then(|b| read_request(&b));
            assert_eq!(again.ok(), Some(body), "a request does not round-trip");
        }
    } else if let Ok(response) = read_response(bytes) {
        let again = write_response(response.clone()).and_then(|b| read_response(&b));
        assert_eq!(again.ok(), Some(response), "a response does not round-trip");
    }
});
