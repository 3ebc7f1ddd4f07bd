//! Slots shared fairly between tenants: at most `total` held at once, at most
//! `per_tenant` by any one tenant, and a freed slot goes to the waiting tenant that
//! holds the fewest (the earliest arrival among equals). One agency that floods
//! the server with script queries therefore keeps at most its share, and another
//! agency's query starts as soon as a slot frees — not after the flood.
//!
//! A slot is released when its [`Slot`] is dropped, and a waiter that gives up
//! (its request was abandoned) leaves the queue by being dropped: nothing stays
//! taken after its client has gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// Who a slot is counted against: an agency's id.
pub type Tenant = i64;

#[derive(Debug, Clone)]
pub struct FairSlots {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    total: usize,
    per_tenant: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    in_use: usize,
    held: HashMap<Tenant, usize>,
    /// In order of arrival.
    waiting: Vec<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    tenant: Tenant,
    handover: oneshot::Sender<Slot>,
}

/// One held slot; dropping it frees it for the next waiter.
#[derive(Debug)]
pub struct Slot {
    /// `None` once the slot was taken back without being anyone's.
    shared: Option<Arc<Shared>>,
    tenant: Tenant,
}

impl FairSlots {
    /// `total` slots, `per_tenant` of them at most for one tenant (each at least 1).
    pub fn new(total: usize, per_tenant: usize) -> Self {
        let total = total.max(1);
        Self {
            shared: Arc::new(Shared {
                total,
                per_tenant: per_tenant.clamp(1, total),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// A slot for `tenant`, waiting for one if need be. Dropping the future while
    /// it waits gives up its place. `None` only if the slots went away meanwhile,
    /// which they do not while `self` lives.
    pub async fn acquire(&self, tenant: Tenant) -> Option<Slot> {
        let waiting = {
            let mut state = self.shared.lock();
            let queued_ahead = state.waiting.iter().any(|w| w.tenant == tenant);
            if !queued_ahead && self.shared.may_take(&state, tenant) {
                return Some(self.shared.take(&mut state, tenant));
            }
            let (handover, waiting) = oneshot::channel();
            state.waiting.push(Waiter { tenant, handover });
            waiting
        };
        // A sender is only dropped unsent once its receiver is gone (see
        // `Shared::release`), so this waits for a slot.
        waiting.await.ok()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change leaves the counts consistent, so a panic elsewhere while the
        // lock was held does not make them wrong.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn may_take(&self, state: &State, tenant: Tenant) -> bool {
        state.in_use < self.total && state.held.get(&tenant).copied().unwrap_or(0) < self.per_tenant
    }

    fn take(self: &Arc<Self>, state: &mut State, tenant: Tenant) -> Slot {
        state.in_use += 1;
        *state.held.entry(tenant).or_default() += 1;
        Slot {
            shared: Some(Arc::clone(self)),
            tenant,
        }
    }

    /// Undoes `take` without handing over (the lock is held by the caller).
    fn untake(state: &mut State, tenant: Tenant) {
        state.in_use -= 1;
        if let Some(held) = state.held.get_mut(&tenant) {
            *held -= 1;
            if *held == 0 {
                state.held.remove(&tenant);
            }
        }
    }

    /// Frees `tenant`'s slot and hands free slots to the waiters that may take
    /// them: the tenant holding the fewest first, the earliest among equals.
    fn release(self: &Arc<Self>, tenant: Tenant) {
        let mut state = self.lock();
        Self::untake(&mut state, tenant);
        // Waiters that gave up leave no trace.
        state.waiting.retain(|w| !w.handover.is_closed());
        while state.in_use < self.total {
            let next = state
                .waiting
                .iter()
                .enumerate()
                .filter(|(_, w)| self.may_take(&state, w.tenant))
                .min_by_key(|(at, w)| (state.held.get(&w.tenant).copied().unwrap_or(0), *at))
                .map(|(at, _)| at);
            let Some(at) = next else { break };
            let waiter = state.waiting.remove(at);
            let slot = self.take(&mut state, waiter.tenant);
            if let Err(mut slot) = waiter.handover.send(slot) {
                // It gave up just now: the slot was never anyone's.
                slot.shared = None;
                Self::untake(&mut state, slot.tenant);
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.release(self.tenant);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn held_within(acquire: impl Future<Output = Option<Slot>>) -> Option<Slot> {
        tokio::time::timeout(Duration::from_millis(50), acquire)
            .await
            .ok()
            .flatten()
    }

    #[tokio::test]
    async fn one_tenant_keeps_to_its_share_and_another_starts_at_once() {
        let slots = FairSlots::new(2, 1);
        let a = slots.acquire(1).await.unwrap();
        // A's second query waits though a slot is free…
        assert!(held_within(slots.acquire(1)).await.is_none());
        // …because the free one is B's to take.
        let b = slots.acquire(2).await.unwrap();
        drop((a, b));
        assert!(held_within(slots.acquire(1)).await.is_some());
    }

    #[tokio::test]
    async fn a_freed_slot_goes_to_the_tenant_holding_fewest_not_the_earliest() {
        let slots = FairSlots::new(2, 2);
        let a1 = slots.acquire(1).await.unwrap();
        let a2 = slots.acquire(1).await.unwrap();
        // A queues a third, then B arrives.
        let a3 = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire(1).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let b = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire(2).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(a1);
        let b = tokio::time::timeout(Duration::from_secs(5), b)
            .await
            .expect("B gets the freed slot")
            .expect("no panic");
        assert!(
            !a3.is_finished(),
            "A's third waits while A holds one and B one"
        );
        drop(a2);
        let a3 = tokio::time::timeout(Duration::from_secs(5), a3).await;
        assert!(a3.is_ok());
        drop(b);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_takes_no_slot_with_it() {
        let slots = FairSlots::new(1, 1);
        let held = slots.acquire(1).await.unwrap();
        // Tenant 2 waits, then its request is abandoned.
        assert!(held_within(slots.acquire(2)).await.is_none());
        drop(held);
        // The slot is free for anyone, nothing leaked to the one that left.
        assert!(held_within(slots.acquire(3)).await.is_some());
        let state = slots.shared.lock();
        assert_eq!((state.in_use, state.waiting.len()), (0, 0));
    }
}
