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
pub(crate) const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/regio/kad/1");
/// Identify's protocol version string.
pub(crate) const IDENTIFY_PROTOCOL: &str = "/regio/id/1";

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
pub(crate) struct Payload(pub Vec<u8>);

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
pub(crate) struct WireRequest {
    /// The signed document (or chain-fetch request) as the node wrote it.
    pub body: Payload,
}

/// The reason code of a [`Refusal`] sent when the answering node took the request but could
/// not answer it (its engine or store failed); its `message` says why.
pub const NODE_ERROR: &str = "node.error";

/// A refusal instead of an answer: by the network layer, before any work was done for the
/// requester (`peer.not_member`, no `message`), or by the node when it failed to answer
/// ([`NODE_ERROR`], with a `message` naming the cause).
///
/// `message` is optional on the wire and omitted when absent, so a refusal without one is
/// encoded exactly as before it existed, and a node that predates it decodes a refusal with
/// one (the unknown field is skipped) and reports its reason code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// A reason code of `regio_policy::decision::Reason`, e.g. `peer.not_member`, or
    /// [`NODE_ERROR`].
    pub reason: String,
    /// What went wrong, when the node failed to answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Refusal {
    /// The node failed to answer the request: [`NODE_ERROR`] with the cause.
    pub fn node_error(message: impl Into<String>) -> Refusal {
        Refusal {
            reason: NODE_ERROR.to_owned(),
            message: Some(message.into()),
        }
    }
}

/// A response on either protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub(crate) enum WireResponse {
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
            message: None,
        });
        let back: WireResponse =
            serde_json::from_slice(&serde_json::to_vec(&refused).unwrap()).unwrap();
        assert_eq!(back, refused);
    }

    /// The response types of a node built before refusals carried a message.
    mod before {
        use super::super::Payload;
        use serde::{Deserialize, Serialize};
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        pub(super) struct Refusal {
            pub reason: String,
        }
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        pub(super) enum WireResponse {
            Answer(Payload),
            Refused(Refusal),
        }
    }

    /// Encodes `response` with the CBOR codec of the request-response behaviour and decodes
    /// it as `R`.
    fn through_cbor<W, R>(response: W) -> R
    where
        W: Serialize + serde::de::DeserializeOwned + Send + 'static,
        R: Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        use libp2p::request_response::{cbor::codec::Codec as Cbor, Codec};
        let mut bytes = Vec::new();
        futures::executor::block_on(async {
            let mut out = futures::io::Cursor::new(&mut bytes);
            Cbor::<WireRequest, W>::default()
                .write_response(&QUERY_PROTOCOL, &mut out, response)
                .await
                .unwrap();
            let mut back = futures::io::Cursor::new(bytes);
            Cbor::<WireRequest, R>::default()
                .read_response(&QUERY_PROTOCOL, &mut back)
                .await
                .unwrap()
        })
    }

    #[test]
    fn refusals_with_a_message_stay_decodable_by_older_nodes_and_vice_versa() {
        // A node error reaches an older node as a refusal with its reason code.
        let old: before::WireResponse =
            through_cbor(WireResponse::Refused(Refusal::node_error("disk full")));
        assert_eq!(
            old,
            before::WireResponse::Refused(before::Refusal {
                reason: NODE_ERROR.into()
            })
        );
        // An older node's refusal decodes here, without a message.
        let new: WireResponse = through_cbor(before::WireResponse::Refused(before::Refusal {
            reason: "peer.not_member".into(),
        }));
        assert_eq!(
            new,
            WireResponse::Refused(Refusal {
                reason: "peer.not_member".into(),
                message: None
            })
        );
        // And a refusal without a message is encoded exactly as an older node encodes it.
        let plain = |r: WireResponse| serde_json::to_string(&r).unwrap();
        assert_eq!(
            plain(WireResponse::Refused(Refusal {
                reason: "peer.not_member".into(),
                message: None
            })),
            r#"{"Refused":{"reason":"peer.not_member"}}"#
        );
    }

    #[test]
    fn topics_are_per_region() {
        assert_eq!(region_topic("kempen").to_string(), "regio/region/kempen/1");
    }
}
