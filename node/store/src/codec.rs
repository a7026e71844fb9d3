//! Stored encodings shared by the backends: a version byte, then postcard; key layouts
//! that keep chunks ordered by time; the chunk header that lets a scan skip a chunk
//! without decoding its columns. Enum variants are encoded by index: append new variants
//! at the end, or bump the version.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::audit::{self, Kind};
use regio_query::chunk::Chunk;

/// Version of every value layout this build writes (but the dataset's, [`DATASET_V`]).
pub(crate) const V1: u8 = 1;

/// Version of the stored dataset record: 2 keeps the schema as JSON text, because the
/// schema's optional field attributes (bounds, bins, categories) are skipped when absent,
/// which postcard (not self-describing) cannot read back.
pub(crate) const DATASET_V: u8 = 2;

/// A dataset's schema and counters as stored (`ds\0<name>` in sled's `meta`).
#[derive(Serialize, Deserialize)]
struct StoredDataset {
    schema: String,
    records: u64,
    chunks: u64,
    next_chunk: u64,
}

/// Encodes a dataset record: `[DATASET_V][postcard]`, the schema as JSON.
pub(crate) fn encode_dataset(
    schema: &regio_query::schema::Schema,
    records: u64,
    chunks: u64,
    next_chunk: u64,
) -> Result<Vec<u8>, StoreError> {
    const WHAT: &str = "dataset";
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt {
        what: WHAT,
        detail: e.to_string(),
    };
    let stored = StoredDataset {
        schema: serde_json::to_string(schema).map_err(|e| corrupt(&e))?,
        records,
        chunks,
        next_chunk,
    };
    postcard::to_extend(&stored, vec![DATASET_V]).map_err(|e| corrupt(&e))
}

/// Decodes a dataset record: `(schema, records, chunks, next_chunk)`.
pub(crate) fn decode_dataset(
    bytes: &[u8],
) -> Result<(regio_query::schema::Schema, u64, u64, u64), StoreError> {
    const WHAT: &str = "dataset";
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt {
        what: WHAT,
        detail: e.to_string(),
    };
    match bytes.split_first() {
        Some((&DATASET_V, rest)) => {
            let s: StoredDataset = postcard::from_bytes(rest).map_err(|e| corrupt(&e))?;
            let schema = serde_json::from_str(&s.schema).map_err(|e| corrupt(&e))?;
            Ok((schema, s.records, s.chunks, s.next_chunk))
        }
        Some((&found, _)) => Err(StoreError::UnknownVersion {
            what: WHAT,
            found,
            supported: DATASET_V,
        }),
        None => Err(corrupt(&"empty value")),
    }
}

/// `[version][postcard]`.
pub(crate) fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_extend(value, vec![V1]).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// Reads `[version][postcard]`, refusing unknown versions.
pub(crate) fn decode<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&V1, rest)) => postcard::from_bytes(rest).map_err(|e| StoreError::Corrupt {
            what,
            detail: e.to_string(),
        }),
        Some((&found, _)) => Err(StoreError::UnknownVersion {
            what,
            found,
            supported: V1,
        }),
        None => Err(StoreError::Corrupt {
            what,
            detail: "empty value".into(),
        }),
    }
}

/// An `i64` as 8 bytes whose byte order is the numeric order.
pub(crate) fn sortable(x: i64) -> [u8; 8] {
    ((x as u64) ^ (1 << 63)).to_be_bytes()
}

/// Key prefix of a dataset's chunks (names are `[a-z0-9_]`, so `\0` cannot occur in them).
pub(crate) fn chunk_prefix(dataset: &str) -> Vec<u8> {
    let mut k = dataset.as_bytes().to_vec();
    k.push(0);
    k
}

/// Key of a chunk: dataset, lower time bound (or `i64::MIN`), chunk number.
pub(crate) fn chunk_key(dataset: &str, lo: Option<i64>, number: u64) -> Vec<u8> {
    let mut k = chunk_prefix(dataset);
    k.extend_from_slice(&sortable(lo.unwrap_or(i64::MIN)));
    k.extend_from_slice(&number.to_be_bytes());
    k
}

/// End (exclusive) of the key range holding chunks whose lower bound is `< to`.
pub(crate) fn chunk_range_end(dataset: &str, to: Option<i64>) -> Vec<u8> {
    let mut k = chunk_prefix(dataset);
    match to {
        Some(t) => k.extend_from_slice(&sortable(t)),
        None => {
            k.pop();
            k.push(1);
        }
    }
    k
}

const CHUNK_HEADER: usize = 1 + 1 + 8 + 8 + 4;

/// `[version][has bounds][lo][hi][rows]` then the chunk's own encoding.
pub(crate) fn encode_chunk(chunk: &Chunk) -> Vec<u8> {
    let body = chunk.encode();
    let mut out = Vec::with_capacity(CHUNK_HEADER + body.len());
    out.push(V1);
    let (flag, (lo, hi)) = chunk.time_bounds.map_or((0u8, (0, 0)), |b| (1, b));
    out.push(flag);
    out.extend_from_slice(&lo.to_be_bytes());
    out.extend_from_slice(&hi.to_be_bytes());
    out.extend_from_slice(&chunk.rows.to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A stored chunk's header, read without decoding its columns.
pub(crate) struct ChunkHeader<'a> {
    /// Time bounds.
    pub bounds: Option<(i64, i64)>,
    /// Rows in the chunk.
    pub rows: u32,
    /// The chunk's own encoding.
    pub body: &'a [u8],
}

/// Reads a chunk header.
pub(crate) fn chunk_header(bytes: &[u8]) -> Result<ChunkHeader<'_>, StoreError> {
    const WHAT: &str = "chunk";
    match bytes.first() {
        Some(&V1) => {}
        Some(&found) => {
            return Err(StoreError::UnknownVersion {
                what: WHAT,
                found,
                supported: V1,
            })
        }
        None => {
            return Err(StoreError::Corrupt {
                what: WHAT,
                detail: "empty value".into(),
            })
        }
    }
    if bytes.len() < CHUNK_HEADER {
        return Err(StoreError::Corrupt {
            what: WHAT,
            detail: format!("{} bytes, shorter than its header", bytes.len()),
        });
    }
    let int = |r: std::ops::Range<usize>| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[r]);
        i64::from_be_bytes(b)
    };
    let bounds = (bytes[1] == 1).then(|| (int(2..10), int(10..18)));
    let mut rows = [0u8; 4];
    rows.copy_from_slice(&bytes[18..22]);
    Ok(ChunkHeader {
        bounds,
        rows: u32::from_be_bytes(rows),
        body: &bytes[CHUNK_HEADER..],
    })
}

/// Decodes a stored chunk if it overlaps `[from, to)`.
pub(crate) fn chunk_if_overlapping(
    bytes: &[u8],
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Option<Chunk>, StoreError> {
    let ChunkHeader { bounds, rows, body } = chunk_header(bytes)?;
    if let Some((lo, hi)) = bounds {
        if from.is_some_and(|f| hi < f) || to.is_some_and(|t| lo >= t) {
            return Ok(None);
        }
    }
    let chunk = Chunk::decode(body)?;
    if chunk.rows != rows || chunk.time_bounds != bounds {
        return Err(StoreError::Corrupt {
            what: "chunk",
            detail: "header does not match the chunk".into(),
        });
    }
    Ok(Some(chunk))
}

/// An audit entry as stored (its JSON body as text: postcard cannot hold `serde_json::Value`).
#[derive(Serialize, Deserialize)]
struct StoredAudit {
    seq: u64,
    at: i64,
    kind: Kind,
    body: String,
    prev: [u8; 32],
    hash: [u8; 32],
}

/// Encodes an audit entry.
pub(crate) fn encode_audit(e: &audit::Entry) -> Result<Vec<u8>, StoreError> {
    let stored = StoredAudit {
        seq: e.seq,
        at: e.at,
        kind: e.kind,
        body: e.body.to_string(),
        prev: e.prev,
        hash: e.hash,
    };
    encode("audit entry", &stored)
}

/// Decodes an audit entry.
pub(crate) fn decode_audit(bytes: &[u8]) -> Result<audit::Entry, StoreError> {
    let s: StoredAudit = decode("audit entry", bytes)?;
    let body = serde_json::from_str(&s.body).map_err(|e| StoreError::Corrupt {
        what: "audit entry",
        detail: e.to_string(),
    })?;
    Ok(audit::Entry {
        seq: s.seq,
        at: s.at,
        kind: s.kind,
        body,
        prev: s.prev,
        hash: s.hash,
    })
}

/// Fixed-width big-endian `u64` from a key or value.
pub(crate) fn be_u64(what: &'static str, bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        what,
        detail: format!("{} bytes, expected 8", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(arr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent;
    use proptest::prelude::*;

    #[test]
    fn unknown_version_is_typed() {
        let mut bytes = encode("schema", &7u32).unwrap();
        bytes[0] = 9;
        assert!(matches!(
            decode::<u32>("schema", &bytes),
            Err(StoreError::UnknownVersion {
                what: "schema",
                found: 9,
                supported: 1
            })
        ));
        assert!(matches!(
            chunk_header(&[2, 0, 0]),
            Err(StoreError::UnknownVersion {
                what: "chunk",
                found: 2,
                supported: 1
            })
        ));
        assert!(matches!(
            chunk_header(&[1, 0, 0]),
            Err(StoreError::Corrupt { what: "chunk", .. })
        ));
        assert!(matches!(
            decode::<u32>("x", &[]),
            Err(StoreError::Corrupt { .. })
        ));
    }

    proptest! {
        #[test]
        fn sortable_preserves_order(a: i64, b: i64) {
            prop_assert_eq!(a.cmp(&b), sortable(a).cmp(&sortable(b)));
        }

        #[test]
        fn chunk_keys_order_by_bound(a: i64, b: i64, n: u64, m: u64) {
            prop_assume!(a != b);
            prop_assert_eq!(a.cmp(&b), chunk_key("d", Some(a), n).cmp(&chunk_key("d", Some(b), m)));
            prop_assert!(chunk_key("d", Some(a), n) < chunk_range_end("d", None));
            prop_assert_eq!(chunk_key("d", Some(a), n) < chunk_range_end("d", Some(b)), a < b);
        }

        #[test]
        fn consent_round_trips(id in "[a-z0-9/]{1,20}", subject in ".{0,20}", given: bool, given_at: i64,
                               withdrawn_at: Option<i64>, raw: Option<Vec<u8>>, purposes in proptest::collection::vec("[A-Za-z]{1,12}", 0..4)) {
            let e = consent::Entry { id, subject, datasets: vec![], purposes, given, given_at, withdrawn_at, channel: "app".into(), raw };
            let back: consent::Entry = decode("consent", &encode("consent", &e).unwrap()).unwrap();
            prop_assert_eq!(back, e);
        }

        #[test]
        fn audit_round_trips(seq: u64, at: i64, text in ".{0,40}", n: i64, prev: [u8; 32]) {
            let e = audit::Entry { seq, at, kind: Kind::QueryRefused, body: serde_json::json!({ "reason": text, "n": n }), prev, hash: [3; 32] };
            prop_assert_eq!(decode_audit(&encode_audit(&e).unwrap()).unwrap(), e);
        }
    }
}
