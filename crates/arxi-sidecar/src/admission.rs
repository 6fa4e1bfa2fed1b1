//! Bounded admission per worker thread: at most `active_max` requests are
//! handled at once; up to `waiting_max` more wait for a slot (until their
//! deadline); anything beyond is refused at once (429). Workers are
//! single-threaded runtimes, so this needs no locks; the global counters in
//! [`Saturation`] let readiness report saturation across workers.
//!
//! The gate also keeps how long a slot is held (a moving average), from
//! which a refusal's `retry_after_ms` is computed: the queue ahead drains
//! `active_max` requests per holding time.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

/// Totals over every worker, for readiness and metrics.
#[derive(Debug, Default)]
pub struct Saturation {
    /// Requests being handled.
    pub active: AtomicUsize,
    /// Requests waiting for a slot.
    pub waiting: AtomicUsize,
}

/// One worker's admission gate.
#[derive(Debug)]
pub struct Admission {
    active_max: usize,
    waiting_max: usize,
    active: Cell<usize>,
    waiting: Cell<usize>,
    waiters: RefCell<Vec<Waker>>,
    totals: std::sync::Arc<Saturation>,
    /// How long a slot is held, in µs (moving average, weight 1/8).
    hold_micros_average: Cell<u64>,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every slot and the queue are full.
    Full,
}

impl Admission {
    /// A gate with the given bounds.
    pub fn new(
        active_max: usize,
        waiting_max: usize,
        totals: std::sync::Arc<Saturation>,
    ) -> Rc<Self> {
        Rc::new(Self {
            active_max: active_max.max(1),
            waiting_max,
            active: Cell::new(0),
            waiting: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
            totals,
            hold_micros_average: Cell::new(0),
        })
    }

    /// When a refused request may find a slot: the queue ahead plus itself,
    /// `active_max` at a time, at the average holding time; within
    /// 1..=5000 ms.
    pub fn retry_after_ms(&self) -> u64 {
        let rounds = (self.waiting.get() as u64 + 1).div_ceil(self.active_max as u64);
        (rounds.saturating_mul(self.hold_micros_average.get()) / 1_000).clamp(1, 5_000)
    }

    fn record_hold(&self, held: std::time::Duration) {
        let micros = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
        let average = self.hold_micros_average.get();
        self.hold_micros_average.set(if average == 0 {
            micros
        } else {
            average - average / 8 + micros / 8
        });
    }

    /// True when every slot and queue place of this worker is taken.
    pub fn saturated(&self) -> bool {
        self.active.get() >= self.active_max && self.waiting.get() >= self.waiting_max
    }

    /// Takes a slot now, or queues for one; refuses when the queue is full.
    pub fn admit(self: &Rc<Self>) -> Result<Admit, Refused> {
        if self.active.get() < self.active_max && self.waiting.get() == 0 {
            return Ok(Admit::Ready(self.take_slot()));
        }
        if self.waiting.get() >= self.waiting_max {
            return Err(Refused::Full);
        }
        self.waiting.set(self.waiting.get() + 1);
        self.totals.waiting.fetch_add(1, Ordering::Relaxed);
        Ok(Admit::Wait(WaitForSlot {
            gate: Rc::clone(self),
            queued: true,
        }))
    }

    fn take_slot(self: &Rc<Self>) -> Permit {
        self.active.set(self.active.get() + 1);
        self.totals.active.fetch_add(1, Ordering::Relaxed);
        Permit {
            gate: Rc::clone(self),
            since: std::time::Instant::now(),
        }
    }

    /// Wakes every waiter; one takes the free slot, the others wait again.
    /// (Waking only the first could wake a task that already gave up.)
    fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters {
            waker.wake();
        }
    }

    fn leave_queue(&self) {
        self.waiting.set(self.waiting.get() - 1);
        self.totals.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Admission granted now, or a wait for a slot.
#[derive(Debug)]
pub enum Admit {
    /// A slot is held.
    Ready(Permit),
    /// Await this for a slot (bound it with the request deadline).
    Wait(WaitForSlot),
}

/// Holds a slot until dropped.
#[derive(Debug)]
pub struct Permit {
    gate: Rc<Admission>,
    since: std::time::Instant,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.record_hold(self.since.elapsed());
        self.gate.active.set(self.gate.active.get() - 1);
        self.gate.totals.active.fetch_sub(1, Ordering::Relaxed);
        self.gate.wake_all();
    }
}

/// Waits for a slot; leaves the queue when dropped.
#[derive(Debug)]
pub struct WaitForSlot {
    gate: Rc<Admission>,
    queued: bool,
}

impl Future for WaitForSlot {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Permit> {
        if self.gate.active.get() < self.gate.active_max {
            self.queued = false;
            self.gate.leave_queue();
            let permit = self.gate.take_slot();
            return Poll::Ready(permit);
        }
        let mut waiters = self.gate.waiters.borrow_mut();
        if !waiters.iter().any(|waker| waker.will_wake(context.waker())) {
            waiters.push(context.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for WaitForSlot {
    fn drop(&mut self) {
        if self.queued {
            self.gate.leave_queue();
            // Pass a possible wake-up on to the others.
            if self.gate.active.get() < self.gate.active_max {
                self.gate.wake_all();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_queues_and_refuses() {
        let totals = std::sync::Arc::new(Saturation::default());
        let gate = Admission::new(2, 1, std::sync::Arc::clone(&totals));
        let first = match gate.admit() {
            Ok(Admit::Ready(permit)) => permit,
            other => panic!("{other:?}"),
        };
        let _second = match gate.admit() {
            Ok(Admit::Ready(permit)) => permit,
            other => panic!("{other:?}"),
        };
        let mut waiting = match gate.admit() {
            Ok(Admit::Wait(wait)) => wait,
            other => panic!("{other:?}"),
        };
        assert_eq!(gate.admit().map(drop), Err(Refused::Full));
        assert!(gate.saturated());
        assert_eq!(totals.active.load(Ordering::Relaxed), 2);
        assert_eq!(totals.waiting.load(Ordering::Relaxed), 1);
        let waker = Waker::noop();
        let mut context = Context::from_waker(waker);
        assert!(Pin::new(&mut waiting).poll(&mut context).is_pending());
        drop(first);
        let third = match Pin::new(&mut waiting).poll(&mut context) {
            Poll::Ready(permit) => permit,
            Poll::Pending => panic!("a slot was freed"),
        };
        drop(waiting);
        assert_eq!(totals.waiting.load(Ordering::Relaxed), 0);
        drop(third);
        assert_eq!(totals.active.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_abandoned_wait_leaves_the_queue() {
        let totals = std::sync::Arc::new(Saturation::default());
        let gate = Admission::new(1, 4, std::sync::Arc::clone(&totals));
        let _held = gate.admit();
        let waiting = gate.admit();
        assert!(matches!(waiting, Ok(Admit::Wait(_))));
        drop(waiting);
        assert_eq!(totals.waiting.load(Ordering::Relaxed), 0);
    }
}
