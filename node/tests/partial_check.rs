//! The coordinator checks every member's partial result against its own plan before merging
//! (issue 20): a member whose signed answer carries a partial that does not fit (another
//! width, another state, a key of another type) is `invalid` with the cause, and the
//! others' totals stay exact. Three engines in one process, over an in-memory transport,
//! under a charter that answers personal data exactly (so totals compare).
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use regio_demo::region::{self, Actors};
use regio_node::engine::Engine;
use regio_node::federation::{coordinate, FederatedResult, Status, Transport, TransportError};
use regio_policy::decision::Limits;
use regio_policy::doc::query::{Outcome, PartialAnswer};
use regio_policy::{Did, Key, Signed};
use regio_query::{AggState, PartialBody, PartialResult};
use regio_store::Store;
use serde_json::Value;

const SQL: &str = "SELECT municipality, count(*) AS n FROM readings GROUP BY 1";

/// A change to a member's partial result.
type Edit = fn(&mut PartialResult);

/// How the transport treats the last member.
#[derive(Clone, Copy)]
enum Last {
    Silent,
    Tampered(Edit),
}

struct InProcess {
    engines: Vec<Arc<Engine>>,
    keys: Vec<Key>,
    coordinator: Did,
    last: Last,
}

impl InProcess {
    fn answer(&self, member: &Did, query: &[u8]) -> Result<Vec<u8>, TransportError> {
        let i = self.engines.iter().position(|e| e.did() == member).unwrap();
        let value: Value = serde_json::from_slice(query).unwrap();
        let answer = self.engines[i]
            .answer(value, Some(&self.coordinator), Utc::now())
            .unwrap();
        let mut doc: PartialAnswer = answer.signed.doc().clone();
        if i == self.engines.len() - 1 {
            match self.last {
                Last::Silent => return Err(TransportError::Unreachable("silent".into())),
                Last::Tampered(edit) => {
                    if let Outcome::Answered { result, .. } = &mut doc.outcome {
                        let mut partial: PartialResult =
                            serde_json::from_value(result["partial"].clone()).unwrap();
                        edit(&mut partial);
                        result["partial"] = serde_json::to_value(&partial).unwrap();
                    }
                }
            }
        }
        let signed = Signed::sign(doc, &self.keys[i], Utc::now()).unwrap();
        Ok(serde_json::to_vec(signed.raw()).unwrap())
    }
}

impl Transport for InProcess {
    fn request(
        &self,
        member: &Did,
        query: Vec<u8>,
        _deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, TransportError>> + Send + '_>> {
        let reply = self.answer(member, &query);
        Box::pin(async move { reply })
    }
}

fn region_of(n: usize) -> (Actors, Vec<Arc<Engine>>, region::Documents) {
    let actors = Actors::new(n);
    let now = Utc::now();
    // Exact mode (said explicitly by the charter), so that totals can be compared.
    let charter = region::exact_charter();
    let docs =
        region::documents_with(region::REGION, &charter, &actors, &vec![vec![]; n], now).unwrap();
    let engines: Vec<_> = actors
        .nodes
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let e = Engine::open(
                Store::memory(),
                k.clone(),
                [actors.clerk.did().clone()],
                Limits::default(),
            )
            .unwrap();
            region::load(&e, i, &docs, 3, 60, now).unwrap();
            Arc::new(e)
        })
        .collect();
    (actors, engines, docs)
}

async fn ask(
    actors: &Actors,
    engines: &[Arc<Engine>],
    docs: &region::Documents,
    last: Last,
) -> FederatedResult {
    let transport = InProcess {
        engines: engines.to_vec(),
        keys: actors.nodes.clone(),
        coordinator: engines[0].did().clone(),
        last,
    };
    let q = region::query(
        &actors.app,
        engines[0].did(),
        "ResearchAndDevelopment",
        SQL,
        Some(docs.certificate.hash()),
        Utc::now(),
    )
    .unwrap();
    coordinate(
        engines[0].clone(),
        &transport,
        q,
        Duration::from_secs(10),
        Utc::now(),
    )
    .await
    .unwrap()
}

fn groups(p: &mut PartialResult) -> &mut Vec<regio_query::PartialGroup> {
    match &mut p.body {
        PartialBody::Groups(g) => g,
        _ => panic!("an aggregate answer"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_that_does_not_fit_the_plan_is_invalid_and_the_others_stay_exact() {
    let (actors, engines, docs) = region_of(3);
    let baseline = ask(&actors, &engines, &docs, Last::Silent).await;
    let answered = baseline
        .provenance
        .iter()
        .filter(|p| p.status == Status::Answered)
        .count();
    assert_eq!(answered, 2, "{:#?}", baseline.provenance);
    let rows = baseline.result.as_ref().unwrap()["rows"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        rows, 2,
        "a group per answering member: {:?}",
        baseline.result
    );
    let tampers: [(Edit, &str); 4] = [
        (
            |p| {
                groups(p)
                    .iter_mut()
                    .for_each(|g| g.states.push(AggState::Count(1)))
            },
            "aggregate states",
        ),
        (
            |p| groups(p).iter_mut().for_each(|g| g.key.clear()),
            "key values",
        ),
        (
            |p| {
                groups(p)
                    .iter_mut()
                    .for_each(|g| g.key[0] = regio_query::schema::Value::Int(7))
            },
            "does not fit its column",
        ),
        (
            |p| p.body = PartialBody::Rows(vec![vec![]]),
            "rows for an aggregate query",
        ),
    ];
    for (edit, cause) in tampers {
        let r = ask(&actors, &engines, &docs, Last::Tampered(edit)).await;
        let last = r.provenance.last().unwrap();
        match &last.status {
            Status::Invalid { error } => assert!(error.contains(cause), "{error}"),
            other => panic!("expected invalid ({cause}), got {other:?}"),
        }
        assert_eq!(r.coverage, (answered, 3));
        assert_eq!(r.result, baseline.result, "the others' totals stay exact");
    }
}
