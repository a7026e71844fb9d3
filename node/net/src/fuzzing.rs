//! Fuzzing entry points (`integration-tests/fuzz`, target `rr_cbor`): the request-response
//! CBOR codec exactly as the swarm runs it (the sizes of [`NetConfig::default`]), over a byte
//! buffer instead of a stream. Not part of the API.

use std::io;

use libp2p::request_response::{cbor::codec::Codec as Cbor, Codec};

use super::protocol::{Payload, WireRequest, WireResponse, QUERY_PROTOCOL};
use super::{NetConfig, Refusal};

/// What a response carries: the answer's bytes, or a refusal.
pub type Response = Result<Vec<u8>, Refusal>;

fn codec() -> Cbor<WireRequest, WireResponse> {
    let config = NetConfig::default();
    Cbor::default()
        .set_request_size_maximum(config.max_request_bytes)
        .set_response_size_maximum(config.max_response_bytes)
}

/// Reads `bytes` as an inbound request stream: the request's body.
pub fn read_request(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = futures::io::Cursor::new(bytes);
    futures::executor::block_on(codec().read_request(&QUERY_PROTOCOL, &mut stream))
        .map(|r| r.body.0)
}

/// Reads `bytes` as a response stream.
pub fn read_response(bytes: &[u8]) -> io::Result<Response> {
    let mut stream = futures::io::Cursor::new(bytes);
    futures::executor::block_on(codec().read_response(&QUERY_PROTOCOL, &mut stream)).map(
        |r| match r {
            WireResponse::Answer(p) => Ok(p.0),
            WireResponse::Refused(refusal) => Err(refusal),
        },
    )
}

/// Writes a request with `body` as the swarm sends it.
pub fn write_request(body: Vec<u8>) -> io::Result<Vec<u8>> {
    let mut out = futures::io::Cursor::new(Vec::new());
    let request = WireRequest {
        body: Payload(body),
    };
    futures::executor::block_on(codec().write_request(&QUERY_PROTOCOL, &mut out, request))?;
    Ok(out.into_inner())
}

/// Writes a response as the swarm sends it.
pub fn write_response(response: Response) -> io::Result<Vec<u8>> {
    let mut out = futures::io::Cursor::new(Vec::new());
    let response = match response {
        Ok(body) => WireResponse::Answer(Payload(body)),
        Err(refusal) => WireResponse::Refused(refusal),
    };
    futures::executor::block_on(codec().write_response(&QUERY_PROTOCOL, &mut out, response))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip_through_the_codec() {
        let body = br#"{"type":"Query"}"#.to_vec();
        assert_eq!(
            read_request(&write_request(body.clone()).unwrap()).unwrap(),
            body
        );
        for response in [Ok(body), Err(Refusal::node_error("disk full"))] {
            let bytes = write_response(response.clone()).unwrap();
            assert_eq!(read_response(&bytes).unwrap(), response);
        }
        // Not CBOR: an error, not a panic.
        assert!(read_request(&[0xff, 0x00]).is_err());
        assert!(read_response(&[]).is_err());
    }
}
