//! What a query is charged at this node, through the store's durable ledger
//! ([`regio_store::ledger`]): one slot of the origin member's fair-share quota and, under
//! differential privacy, its epsilon against the application's privacy budget — both per
//! region and window. The counters are read before the decision (it refuses what is
//! already spent) and reserved together, atomically and durably, after it allowed the query
//! and before any data is read; a reservation that loses a race is a refusal.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use regio_policy::decision::{DpTerms, Obligations, Reason, Refusal};
use regio_policy::doc::charter::InclusionCharter;
use regio_policy::{Did, Signed};
use regio_store::ledger::{self, Key, Kind, Request, Reservation};
use regio_store::{Store, StoreError};

/// The charge of one answered query to its application's privacy budget (for the signed
/// answer and the audit entry). Epsilons are the ledger's exact micro-epsilon totals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Charge {
    /// Epsilon this query cost at this node.
    pub epsilon: f64,
    /// Spent in the window before this query.
    pub spent_before: f64,
    /// Spent in the window after it.
    pub spent_after: f64,
    /// The budget per window.
    pub limit: f64,
    /// The window length in seconds.
    pub window_seconds: u64,
}

impl Charge {
    /// Epsilon left in the window after this query.
    pub fn left(&self) -> f64 {
        ledger::epsilon(ledger::micro(self.limit).saturating_sub(ledger::micro(self.spent_after)))
    }
}

/// The ledger counters one query touches at this node.
pub(super) struct Counters {
    quota: Key,
    quota_limit: u64,
    budget: Key,
}

/// The counters of a query by `app` sent to `origin` in `region`, under the region's
/// `charter` (none without one: the decision refuses such a query anyway).
pub(super) fn counters(
    region: &str,
    origin: &Did,
    app: &Did,
    charter: Option<&Signed<InclusionCharter>>,
    now: DateTime<Utc>,
) -> Option<Counters> {
    let clauses = &charter?.doc().clauses;
    let window = |seconds: u64| now.timestamp().div_euclid(seconds.max(1) as i64);
    let key = |kind, party: &Did, window| Key {
        kind,
        region: region.to_owned(),
        party: party.to_string(),
        window,
    };
    Some(Counters {
        quota: key(Kind::Quota, origin, window(clauses.quota.window_seconds)),
        quota_limit: u64::from(clauses.quota.queries_per_member),
        budget: key(
            Kind::Budget,
            app,
            window(clauses.disclosure.budget.window_seconds),
        ),
    })
}

/// The counters as they stand: queries served to the origin in its quota window, and
/// epsilon spent by the application in its budget window (0 without counters).
pub(super) fn read(store: &Store, c: Option<&Counters>) -> Result<(u32, f64), StoreError> {
    let Some(c) = c else {
        return Ok((0, 0.0));
    };
    let used = u32::try_from(store.spent(&c.quota)?).unwrap_or(u32::MAX);
    Ok((used, ledger::epsilon(store.spent(&c.budget)?)))
}

/// Why a reservation was refused: the refusal, and the fresh counters for the audit entry
/// (`quotaUsed`, `budgetSpent`), with which the decision re-runs as this refusal.
pub(super) struct Lost {
    pub refusal: Refusal,
    pub quota_used: u32,
    pub budget_spent: f64,
}

/// Reserves the quota slot and, under DP, the budget — both or neither, durably. `Ok(Err)`
/// when a concurrent query took what was left.
pub(super) fn reserve(
    store: &Store,
    c: Option<&Counters>,
    o: &Obligations,
) -> Result<Result<Option<Charge>, Box<Lost>>, StoreError> {
    let Some(c) = c else {
        return Ok(Ok(None));
    };
    let mut requests = vec![Request {
        key: c.quota.clone(),
        amount: 1,
        limit: c.quota_limit,
    }];
    if let Some(dp) = &o.dp {
        requests.push(Request {
            key: c.budget.clone(),
            amount: ledger::micro(dp.epsilon),
            limit: ledger::micro(dp.budget.epsilon),
        });
    }
    match store.reserve(&requests)? {
        Reservation::Granted(totals) => Ok(Ok(o.dp.as_ref().and_then(|dp| {
            totals.get(1).map(|t| Charge {
                epsilon: ledger::epsilon(t.after - t.before),
                spent_before: ledger::epsilon(t.before),
                spent_after: ledger::epsilon(t.after),
                limit: ledger::epsilon(t.limit),
                window_seconds: dp.budget.window_seconds,
            })
        }))),
        Reservation::Refused { index, spent } => {
            let (quota_used, budget_spent) = read(store, Some(c))?;
            let refusal = match (index, &o.dp) {
                (1, Some(dp)) => budget_refusal(dp, ledger::epsilon(spent)),
                _ => Refusal::new(
                    Reason::QuotaExceeded,
                    format!(
                        "{} has used {spent} of {} queries in this window (a concurrent query took the last slot)",
                        c.quota.party, c.quota_limit
                    ),
                ),
            };
            Ok(Err(Box::new(Lost {
                refusal,
                quota_used,
                budget_spent,
            })))
        }
    }
}

fn budget_refusal(dp: &DpTerms, spent: f64) -> Refusal {
    Refusal::new(
        Reason::BudgetExhausted,
        format!(
            "the application has spent {spent} of its {} epsilon for this region at this node in the current {} s window; this query costs {} (a concurrent query spent the rest)",
            dp.budget.epsilon, dp.budget.window_seconds, dp.epsilon
        ),
    )
}

/// The audit entry's `budget` member: the charge, or null for a query answered exactly.
pub(super) fn audit_json(charge: Option<&Charge>) -> Value {
    charge.map_or(Value::Null, |c| {
        json!({
            "epsilon": c.epsilon, "spentBefore": c.spent_before, "spentAfter": c.spent_after,
            "limit": c.limit, "windowSeconds": c.window_seconds,
        })
    })
}
