//! The ledger: counters reserved atomically and durably before work is done — the
//! fair-share quota of each origin member and the privacy budget of each application, per
//! region and window (DESIGN.md, "Trust rules of a region" and "Disclosure control").
//!
//! One mechanism serves both. A [`Key`] names a counter: its [`Kind`], the region, the party
//! charged (the origin member's DID for a quota, the application's DID for a budget) and the
//! window index (`now / window_seconds`, windows aligned to the Unix epoch). Amounts are
//! integers — queries for a quota, micro-epsilon for a budget ([`micro`]) — so totals are
//! exact sums.
//!
//! [`Backend::reserve`](crate::Backend::reserve) takes one or more [`Request`]s and either
//! adds every amount (when each counter stays within its limit) or adds nothing and says
//! which counter refused with its current total ([`Reservation`]). It is atomic under
//! concurrency (sled: one transaction over the ledger tree; memory: one mutex) and durable
//! when it returns (sled: flushed), so an acknowledged reservation survives a SIGKILL and two
//! racing queries never overspend. Stored values carry the codec's version byte. Windows
//! before a given one may be pruned ([`Backend::prune_ledger`](crate::Backend::prune_ledger)).

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// Queries served for one origin member (charter `clauses.quota`).
    Quota,
    /// Micro-epsilon spent by one application (charter `clauses.disclosure.budget`).
    Budget,
}

impl Kind {
    fn tag(self) -> u8 {
        match self {
            Kind::Quota => 1,
            Kind::Budget => 2,
        }
    }
}

/// One counter: kind, region, party charged, window index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    /// What it counts.
    pub kind: Kind,
    /// The region id.
    pub region: String,
    /// The DID charged: the origin member (quota) or the application (budget).
    pub party: String,
    /// Window index: seconds since the epoch divided by the window length.
    pub window: i64,
}

impl Key {
    /// The stored key: kind tag, length-prefixed region and party, then the window in
    /// sortable order (so one party's windows are adjacent and ordered).
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut k = self.prefix();
        k.extend_from_slice(&crate::codec::sortable(self.window));
        k
    }

    /// The stored key without the window.
    pub(crate) fn prefix(&self) -> Vec<u8> {
        let mut k = vec![self.kind.tag()];
        for part in [&self.region, &self.party] {
            k.extend_from_slice(&(part.len() as u32).to_be_bytes());
            k.extend_from_slice(part.as_bytes());
        }
        k
    }
}

/// One reservation asked for: add `amount` to `key` if the total stays `<= limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The counter.
    pub key: Key,
    /// What to add.
    pub amount: u64,
    /// The most the counter may hold.
    pub limit: u64,
}

/// A counter's state, as stored and listed (for the audit export).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counter {
    /// The counter.
    pub key: Key,
    /// Total reserved in the window.
    pub spent: u64,
    /// The limit of the last granted reservation.
    pub limit: u64,
}

/// Totals of one granted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Total before this reservation.
    pub before: u64,
    /// Total after it.
    pub after: u64,
    /// The limit it was checked against.
    pub limit: u64,
}

/// The outcome of [`Backend::reserve`](crate::Backend::reserve).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Every amount was added; totals in request order.
    Granted(Vec<Totals>),
    /// Nothing was added: request `index` would exceed its limit.
    Refused {
        /// Which request refused (the first that did).
        index: usize,
        /// Its counter's current total.
        spent: u64,
    },
}

/// Epsilon as an integer number of micro-epsilon (rounded; negative and NaN are 0).
pub fn micro(epsilon: f64) -> u64 {
    (epsilon * 1e6).round().max(0.0) as u64
}

/// Micro-epsilon back as epsilon.
pub fn epsilon(micro: u64) -> f64 {
    micro as f64 / 1e6
}

/// Checks `requests` against the `current` total of each (same order): the totals and
/// counters after, or the refusal. Shared by the backends so that both decide alike. Two
/// requests on one key are checked cumulatively.
pub(crate) fn apply(
    requests: &[Request],
    current: &[u64],
) -> Result<Vec<(Totals, Counter)>, Reservation> {
    let mut out: Vec<(Totals, Counter)> = Vec::with_capacity(requests.len());
    for (index, (r, now)) in requests.iter().zip(current).enumerate() {
        let before = out
            .iter()
            .rev()
            .find(|(_, c)| c.key == r.key)
            .map_or(*now, |(_, c)| c.spent);
        match before.checked_add(r.amount).filter(|t| *t <= r.limit) {
            Some(after) => out.push((
                Totals {
                    before,
                    after,
                    limit: r.limit,
                },
                Counter {
                    key: r.key.clone(),
                    spent: after,
                    limit: r.limit,
                },
            )),
            None => {
                return Err(Reservation::Refused {
                    index,
                    spent: before,
                })
            }
        }
    }
    Ok(out)
}

impl crate::Store {
    /// Reserves every request or none, durably ([`crate::Backend::reserve`]).
    pub fn reserve(&self, requests: &[Request]) -> Result<Reservation, StoreError> {
        self.backend().reserve(requests)
    }

    /// Reserves `amount` on `key` if its total stays `<= limit`: the totals before and
    /// after, or the refusal with the current total.
    pub fn reserve_one(
        &self,
        key: &Key,
        amount: u64,
        limit: u64,
    ) -> Result<Reservation, StoreError> {
        self.reserve(&[Request {
            key: key.clone(),
            amount,
            limit,
        }])
    }

    /// A counter's total (0 when never charged).
    pub fn spent(&self, key: &Key) -> Result<u64, StoreError> {
        self.backend().spent(key)
    }

    /// Every counter kept (for the audit export).
    pub fn ledger(&self) -> Result<Vec<Counter>, StoreError> {
        self.backend().ledger()
    }

    /// Removes the counters of `kind` whose window is before `before`; returns how many.
    pub fn prune_ledger(&self, kind: Kind, before: i64) -> Result<u64, StoreError> {
        self.backend().prune_ledger(kind, before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_is_exact_for_decimal_epsilons() {
        assert_eq!(micro(0.1) * 3, micro(0.3));
        assert_eq!(micro(1.0), 1_000_000);
        assert_eq!(micro(-1.0), 0);
        assert_eq!(micro(f64::NAN), 0);
        assert_eq!(epsilon(micro(2.5)), 2.5);
    }

    #[test]
    fn keys_order_windows_within_a_party() {
        let k = |party: &str, window| Key {
            kind: Kind::Budget,
            region: "r".into(),
            party: party.into(),
            window,
        };
        assert!(k("a", -1).bytes() < k("a", 0).bytes());
        assert!(k("a", 5).bytes() < k("a", 6).bytes());
        assert!(k("a", 6).bytes().starts_with(&k("a", 0).prefix()));
        assert!(!k("ab", 6).bytes().starts_with(&k("a", 0).prefix()));
    }
}
