//! The ledger's part of the per-backend suite (`suite!` in `tests.rs`): exact totals, the
//! refusal at the limit, all-or-nothing requests, pruning, and racing reservations.

use std::sync::Arc;

use crate::ledger::{Key, Kind, Request, Reservation, Totals};
use crate::Store;

pub(super) fn key(kind: Kind, party: &str, window: i64) -> Key {
    Key {
        kind,
        region: "vl-demo".into(),
        party: party.into(),
        window,
    }
}

pub(super) fn ledger_totals_are_exact_and_refused_at_the_limit(store: &Store) {
    let k = key(Kind::Budget, "did:key:app", 7);
    assert_eq!(store.spent(&k).unwrap(), 0);
    let tenth = crate::ledger::micro(0.1);
    let mut before = 0;
    for _ in 0..10 {
        let r = store
            .reserve_one(&k, tenth, crate::ledger::micro(1.0))
            .unwrap();
        assert_eq!(
            r,
            Reservation::Granted(vec![Totals {
                before,
                after: before + tenth,
                limit: 1_000_000
            }])
        );
        before += tenth;
    }
    assert_eq!(
        store.spent(&k).unwrap(),
        1_000_000,
        "ten tenths are exactly one"
    );
    assert_eq!(
        store.reserve_one(&k, 1, 1_000_000).unwrap(),
        Reservation::Refused {
            index: 0,
            spent: 1_000_000
        }
    );
    assert_eq!(
        store.spent(&k).unwrap(),
        1_000_000,
        "a refusal adds nothing"
    );
    // Other windows, parties, kinds and regions are other counters.
    assert_eq!(
        store.spent(&key(Kind::Budget, "did:key:app", 8)).unwrap(),
        0
    );
    assert_eq!(store.spent(&key(Kind::Budget, "did:key:ap", 7)).unwrap(), 0);
    assert_eq!(store.spent(&key(Kind::Quota, "did:key:app", 7)).unwrap(), 0);
    let other_region = Key {
        region: "nl-demo".into(),
        ..k.clone()
    };
    assert_eq!(store.spent(&other_region).unwrap(), 0);
    let listed = store.ledger().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].key.clone(), listed[0].spent, listed[0].limit),
        (k, 1_000_000, 1_000_000)
    );
}

pub(super) fn ledger_reserves_all_or_nothing(store: &Store) {
    let quota = key(Kind::Quota, "did:key:origin", 1);
    let budget = key(Kind::Budget, "did:key:app", 1);
    let both = |eps: u64| {
        vec![
            Request {
                key: quota.clone(),
                amount: 1,
                limit: 5,
            },
            Request {
                key: budget.clone(),
                amount: eps,
                limit: 3_000_000,
            },
        ]
    };
    assert!(
        matches!(store.reserve(&both(2_000_000)).unwrap(), Reservation::Granted(t) if t.len() == 2)
    );
    // The budget refuses: the quota slot is not taken either.
    assert_eq!(
        store.reserve(&both(2_000_000)).unwrap(),
        Reservation::Refused {
            index: 1,
            spent: 2_000_000
        }
    );
    assert_eq!(store.spent(&quota).unwrap(), 1);
    assert_eq!(store.spent(&budget).unwrap(), 2_000_000);
    // Two requests on one counter are checked together.
    let twice = [
        Request {
            key: quota.clone(),
            amount: 3,
            limit: 5,
        },
        Request {
            key: quota.clone(),
            amount: 3,
            limit: 5,
        },
    ];
    assert_eq!(
        store.reserve(&twice).unwrap(),
        Reservation::Refused { index: 1, spent: 4 }
    );
    assert_eq!(store.spent(&quota).unwrap(), 1);
}

pub(super) fn ledger_prunes_old_windows(store: &Store) {
    for w in 0..5 {
        store.reserve_one(&key(Kind::Quota, "o", w), 1, 10).unwrap();
        store
            .reserve_one(&key(Kind::Budget, "a", w), 1, 10)
            .unwrap();
    }
    assert_eq!(store.prune_ledger(Kind::Quota, 3).unwrap(), 3);
    let left: Vec<(Kind, i64)> = store
        .ledger()
        .unwrap()
        .iter()
        .map(|c| (c.key.kind, c.key.window))
        .collect();
    assert_eq!(
        left,
        vec![
            (Kind::Quota, 3),
            (Kind::Quota, 4),
            (Kind::Budget, 0),
            (Kind::Budget, 1),
            (Kind::Budget, 2),
            (Kind::Budget, 3),
            (Kind::Budget, 4)
        ]
    );
}

/// 8 threads reserve on one counter at once: exactly `limit` units are granted, never more.
pub(super) fn ledger_racing_reservations_never_exceed_the_limit(store: &Store) {
    let k = Arc::new(key(Kind::Budget, "did:key:racer", 0));
    let limit = 50;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (store, k) = (store.clone(), k.clone());
            std::thread::spawn(move || {
                let mut granted = 0u64;
                for _ in 0..20 {
                    match store.reserve_one(&k, 1, limit).unwrap() {
                        Reservation::Granted(t) => {
                            assert!(t[0].after <= limit);
                            granted += 1;
                        }
                        Reservation::Refused { spent, .. } => assert_eq!(spent, limit),
                    }
                }
                granted
            })
        })
        .collect();
    let granted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(granted, limit, "8 × 20 attempts, {limit} granted");
    assert_eq!(store.spent(&k).unwrap(), limit);
}
