//! Admission control: the one path every GraphQL operation takes, whichever
//! transport brought it (HTTP POST or GET, alone or in a batch, or a WebSocket
//! message). In order, an operation is
//!
//! 1. checked again when it came over a WebSocket: a key revoked since
//!    `connection_init` runs nothing more;
//! 2. counted against its key's rate limit (one operation, one cell);
//! 3. priced before anything runs — the fields' costs from `cost`, over every alias
//!    and, in an HTTP batch, over every operation of the batch — and refused with
//!    QUERY_TOO_COMPLEX (its cost and the budget in `extensions`) over
//!    `graphql.max_cost`;
//! 4. when expensive (`graphql.expensive_cost` or more), run in one of its key's
//!    `graphql.max_expensive_per_key` slots, waiting for one if need be;
//! 5. stopped at `graphql.timeout_ms` when it is a query (the wait for a slot
//!    included); a mutation runs to completion, because a TIMEOUT answer must never
//!    hide a write that committed.
//!
//! A subscription over a WebSocket checks its key every [`RECHECK`] and ends with
//! UNAUTHENTICATED once the key is revoked.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextSubscribe, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{
    Data, Request, Response, ServerError, ServerResult, ValidationResult, Variables,
};
use futures_util::stream::{self, BoxStream, StreamExt as _};
use hourglass_storage::Store;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::AppState;
use super::parsed::operation_to_run;
use crate::access::Caller;
use crate::error::ApiError;
use crate::observability::meters::{self, Refusal};
use crate::settings::GraphqlSettings;

/// How often a subscription over a WebSocket checks that its key still stands. A
/// key revoked on this server ends its subscriptions within this; revoked on
/// another, within this plus `auth.key_cache_seconds`.
pub const RECHECK: Duration = Duration::from_secs(1);

/// The key a WebSocket connection authenticated with, kept in its session so each
/// of its operations can check the key again.
#[derive(Clone)]
pub struct ConnectionKey(pub String);

impl std::fmt::Debug for ConnectionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.write_str("ConnectionKey(…)")
    }
}

/// The schema extension; one per schema, its slots shared by every request.
pub struct Admission {
    gate: Arc<Gate>,
}

struct Gate {
    max_cost: usize,
    expensive_cost: usize,
    timeout: Duration,
    slots: KeySlots,
}

impl Admission {
    pub fn new(settings: &GraphqlSettings) -> Self {
        Self {
            gate: Arc::new(Gate {
                max_cost: settings.max_cost,
                expensive_cost: settings.expensive_cost,
                timeout: Duration::from_millis(settings.timeout_ms),
                slots: KeySlots::new(settings.max_expensive_per_key),
            }),
        }
    }
}

impl ExtensionFactory for Admission {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ForOperation {
            gate: Arc::clone(&self.gate),
            operation_name: Mutex::new(None),
            writes: AtomicBool::new(false),
            cost: AtomicUsize::new(0),
        })
    }
}

/// What admission learns about one operation as it goes through the stages.
struct ForOperation {
    gate: Arc<Gate>,
    operation_name: Mutex<Option<String>>,
    writes: AtomicBool,
    cost: AtomicUsize,
}

/// A refusal as a GraphQL error: `ErrorCodes` gives it its code and extensions
/// from the [`ApiError`] it carries.
fn refusal(error: ApiError) -> ServerError {
    let mut server_error = ServerError::new(error.to_string(), None);
    server_error.source = Some(Arc::new(error));
    server_error
}

/// An item of a request's own data (where the HTTP transport puts the caller and
/// the batch seat; the WebSocket's are in its session).
fn request_data<T: Any>(data: &Data) -> Option<&T> {
    data.get(&TypeId::of::<T>())?.downcast_ref()
}

/// Whether the operation a request runs is a mutation: the one `operation_name`
/// names, or the document's only one (anything else runs nothing and fails).
fn selects_mutation(document: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    operation_to_run(document, operation_name)
        .is_some_and(|(_, kind)| kind == OperationType::Mutation)
}

/// Whether a presented key still authenticates (read through the key cache).
async fn still_valid(store: &Store, key: &ConnectionKey) -> Result<bool, ApiError> {
    Ok(store.authenticate(&key.0).await?.is_some())
}

fn revoked() -> ApiError {
    ApiError::Unauthenticated("the connection's API key is no longer valid (revoked)".into())
}

#[async_graphql::async_trait::async_trait]
impl Extension for ForOperation {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Some(state) = ctx.data_opt::<AppState>() {
            if let Some(key) = ctx.data_opt::<ConnectionKey>() {
                match still_valid(&state.store, key).await {
                    Ok(true) => {}
                    Ok(false) => {
                        meters::refused(Refusal::Auth);
                        return Err(refusal(revoked()));
                    }
                    Err(e) => return Err(refusal(e)),
                }
            }
            let caller = request_data::<Caller>(&request.data).or_else(|| ctx.data_opt());
            if let Some(caller) = caller {
                state.rate_limits.check(caller).map_err(refusal)?;
            }
        }
        *self
            .operation_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let name = self
            .operation_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.writes.store(
            selects_mutation(&document, name.as_deref()),
            Ordering::Relaxed,
        );
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let validated = next.run(ctx).await;
        // async-graphql adds up the fields' costs while it validates.
        let own = validated.as_ref().map_or(0, |v| v.complexity);
        let cost = match ctx.data_opt::<BatchSeat>() {
            Some(seat) => seat.price(own).await,
            None => own,
        };
        let validated = validated?;
        if cost > self.gate.max_cost {
            meters::refused(Refusal::Cost);
            return Err(vec![refusal(ApiError::TooExpensive {
                cost,
                budget: self.gate.max_cost,
            })]);
        }
        self.cost.store(own, Ordering::Relaxed);
        Ok(validated)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let expensive = self.cost.load(Ordering::Relaxed) >= self.gate.expensive_cost;
        let run = async {
            let _slot = match ctx.data_opt::<Caller>() {
                Some(caller) if expensive => {
                    self.gate
                        .slots
                        .acquire(&caller.principal().key.public_id)
                        .await
                }
                _ => None,
            };
            next.run(ctx, operation_name).await
        };
        if self.writes.load(Ordering::Relaxed) {
            return run.await;
        }
        match tokio::time::timeout(self.gate.timeout, run).await {
            Ok(response) => response,
            Err(_) => {
                meters::refused(Refusal::Timeout);
                Response::from_errors(vec![refusal(ApiError::Timeout {
                    limit_ms: self.gate.timeout.as_millis() as u64,
                })])
            }
        }
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let answers = next.run(ctx, stream);
        match (ctx.data_opt::<ConnectionKey>(), ctx.data_opt::<AppState>()) {
            (Some(key), Some(state)) => until_revoked(answers, key.clone(), state.store.clone()),
            _ => answers,
        }
    }
}

/// The answers of a WebSocket operation until its key is revoked, then one
/// UNAUTHENTICATED error and the end. A check that cannot read the key (the
/// database is away) lets the operation go on to the next check.
fn until_revoked<'s>(
    answers: BoxStream<'s, Response>,
    key: ConnectionKey,
    store: Store,
) -> BoxStream<'s, Response> {
    let checks = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    stream::unfold(Some((answers, checks)), move |state| {
        let (key, store) = (key.clone(), store.clone());
        async move {
            let (mut answers, mut checks) = state?;
            loop {
                tokio::select! {
                    answer = answers.next() => {
                        return answer.map(|answer| (answer, Some((answers, checks))));
                    }
                    _ = checks.tick() => {
                        if let Ok(false) = still_valid(&store, &key).await {
                            meters::refused(Refusal::Auth);
                            return Some((Response::from_errors(vec![refusal(revoked())]), None));
                        }
                    }
                }
            }
        }
    })
    .boxed()
}

/// One operation's seat in an HTTP batch: the batch is priced as a whole, so each
/// operation reports its cost and waits until every other has reported too (an
/// operation that fails before it is priced reports nothing when its seat is
/// dropped), then all are admitted or refused by the batch's total.
#[derive(Debug)]
pub struct BatchSeat {
    batch: Arc<BatchPrice>,
    reported: AtomicBool,
}

/// How many operations the batch has, and (reported, total cost) so far.
#[derive(Debug)]
struct BatchPrice {
    operations: usize,
    tally: watch::Sender<(usize, usize)>,
}

impl BatchSeat {
    /// The seats of a batch of `operations`, one for each operation's request data.
    pub fn for_batch(operations: usize) -> Vec<BatchSeat> {
        let batch = Arc::new(BatchPrice {
            operations,
            tally: watch::Sender::new((0, 0)),
        });
        (0..operations)
            .map(|_| BatchSeat {
                batch: Arc::clone(&batch),
                reported: AtomicBool::new(false),
            })
            .collect()
    }

    fn report(&self, cost: usize) {
        if !self.reported.swap(true, Ordering::AcqRel) {
            self.batch.tally.send_modify(|(reported, total)| {
                *reported += 1;
                *total = total.saturating_add(cost);
            });
        }
    }

    /// Reports this operation's cost; the batch's total once every operation has.
    async fn price(&self, cost: usize) -> usize {
        self.report(cost);
        let mut tally = self.batch.tally.subscribe();
        let operations = self.batch.operations;
        // The sender lives in `self.batch`, so the wait cannot fail.
        match tally
            .wait_for(|(reported, _)| *reported >= operations)
            .await
        {
            Ok(tally) => tally.1,
            Err(_) => cost,
        }
    }
}

impl Drop for BatchSeat {
    fn drop(&mut self) {
        self.report(0);
    }
}

/// Per key, how many expensive operations may run at once (0: no cap). The rate
/// limit bounds how often a key starts work; this bounds how much of it runs at
/// the same time, so that a few slow operations cannot pile up behind one key.
struct KeySlots {
    per_key: usize,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Keys remembered before idle ones are swept out.
const SWEEP_ABOVE: usize = 1024;

impl KeySlots {
    fn new(per_key: usize) -> Self {
        Self {
            per_key,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// One of the key's slots, waiting for it; `None` without a cap. Dropping the
    /// permit (the operation ended, was stopped, or its client went away) frees it.
    async fn acquire(&self, key_id: &str) -> Option<OwnedSemaphorePermit> {
        if self.per_key == 0 {
            return None;
        }
        let semaphore = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            if slots.len() > SWEEP_ABOVE {
                // Idle: nobody holds or waits for a permit.
                slots.retain(|_, s| Arc::strong_count(s) > 1);
            }
            Arc::clone(
                slots
                    .entry(key_id.to_owned())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.per_key))),
            )
        };
        // The semaphore is never closed.
        semaphore.acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_is_priced_once_every_operation_has_reported() {
        let mut seats = BatchSeat::for_batch(3);
        let third = seats.pop().expect("three seats");
        let second = seats.pop().expect("three seats");
        let first = seats.pop().expect("three seats");
        let (a, b, ()) = tokio::join!(first.price(5), second.price(7), async {
            // The third fails before it is priced: dropping its seat reports it.
            tokio::task::yield_now().await;
            drop(third);
        });
        assert_eq!((a, b), (12, 12));
    }

    #[tokio::test]
    async fn a_key_runs_at_most_its_slots_at_once_and_a_dropped_permit_frees_one() {
        let slots = KeySlots::new(2);
        let first = slots.acquire("k").await.expect("a cap of 2");
        let _second = slots.acquire("k").await.expect("a cap of 2");
        let third = tokio::time::timeout(Duration::from_millis(50), slots.acquire("k")).await;
        assert!(third.is_err(), "a third slot while two are held");
        // Another key is not affected.
        assert!(slots.acquire("other").await.is_some());
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), slots.acquire("k")).await;
        assert!(third.is_ok_and(|p| p.is_some()));
        assert!(KeySlots::new(0).acquire("k").await.is_none());
    }

    #[test]
    fn the_operation_that_runs_decides_whether_it_writes() {
        let document =
            async_graphql::parser::parse_query("query Q { __typename } mutation M { __typename }")
                .expect("parses");
        assert!(!selects_mutation(&document, Some("Q")));
        assert!(selects_mutation(&document, Some("M")));
        // Two operations and no name: nothing runs.
        assert!(!selects_mutation(&document, None));
        let single = async_graphql::parser::parse_query("mutation { __typename }").expect("parses");
        assert!(selects_mutation(&single, None));
    }
}
