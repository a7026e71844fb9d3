//! The wire: protocol names, the CBOR request/response envelopes, and gossip topics.
//!
//! Both request-response protocols carry opaque bytes — the signed JSON documents themselves
//! (a Query and its PartialAnswer; a chain-fetch request and the documents found) — so that the
//! answering node verifies signatures on exactly what was signed, never on a re-encoding. The
//! network layer adds one thing of its own: a typed [`Refusal`] sent *instead of* handing a
//! request to the node, when the peer shares no region with us.
//!
//! Payloads are CBOR byte strings (major type 2), not arrays of integers, so a 1 MiB document
//! costs 1 MiB plus a few bytes on the wire.

use std::fmt;

use libp2p::gossipsub::IdentTopic;
use libp2p::StreamProtocol;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Federated queries: a signed Query in, a signed PartialAnswer (or signed refusal) out.
pub const QUERY_PROTOCOL: StreamProtocol = StreamProtocol::new("/regio/query/1");
/// Document fetches: policy chain, manifest, charter, by hash or by "head of DID".
pub const CHAIN_PROTOCOL: StreamProtocol = StreamProtocol::new("/regio/chain/1");
/// Kademlia, on a private protocol name so Regio's DHT never mixes with a public one.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/regio/kad/1");
/// Identify's protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/regio/id/1";

/// Which request-response protocol a request travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// `/regio/query/1`.
    Query,
    /// `/regio/chain/1`.
    Chain,
}

impl Protocol {
    /// The libp2p protocol name.
    pub fn name(self) -> StreamProtocol {
        match self {
            Protocol::Query => QUERY_PROTOCOL,
            Protocol::Chain => CHAIN_PROTOCOL,
        }
    }
}

/// The gossipsub topic of a region: `regio/region/<region-id>/1`.
pub fn region_topic(region: &str) -> IdentTopic {
    IdentTopic::new(format!("regio/region/{region}/1"))
}

/// Opaque bytes, encoded as one CBOR byte string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload(pub Vec<u8>);

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Payload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Payload, E> {
                Ok(Payload(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Payload, E> {
                Ok(Payload(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(Payload(out))
            }
        }
        d.deserialize_bytes(BytesVisitor)
    }
}

/// A request on either protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRequest {
    /// The signed document (or chain-fetch request) as the node wrote it.
    pub body: Payload,
}

/// A refusal by the network layer, before any work was done for the requester.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// A reason code of `regio_policy::decision::Reason`, e.g. `peer.not_member`.
    pub reason: String,
}

/// A response on either protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WireResponse {
    /// What the answering node's handler produced.
    Answer(Payload),
    /// The network layer refused the request.
    Refused(Refusal),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_as_bytes_or_sequence() {
        // serde_json writes bytes as a sequence: this exercises the visitor's sequence path;
        // the CBOR byte-string path is exercised by every integration test.
        let req = WireRequest {
            body: Payload(vec![0, 7, 255]),
        };
        let json = serde_json::to_vec(&req).unwrap();
        let back: WireRequest = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, req);
        let refused = WireResponse::Refused(Refusal {
            reason: "peer.not_member".into(),
        });
        let back: WireResponse =
            serde_json::from_slice(&serde_json::to_vec(&refused).unwrap()).unwrap();
        assert_eq!(back, refused);
    }

    #[test]
    fn topics_are_per_region() {
        assert_eq!(region_topic("kempen").to_string(), "regio/region/kempen/1");
    }
}
