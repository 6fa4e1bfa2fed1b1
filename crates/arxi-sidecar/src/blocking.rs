//! A small bounded pool of threads for blocking work (SQLite reads), so the
//! runtime threads never block on the database. A full queue is a refusal,
//! not unbounded memory.

use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send>;

/// The pool.
#[derive(Debug)]
pub struct BlockingPool {
    jobs: Mutex<Option<SyncSender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolFull;

impl BlockingPool {
    /// Starts `threads` workers named `name-N` sharing a queue of `queue`
    /// jobs.
    pub fn new(name: &str, threads: usize, queue: usize) -> std::io::Result<Arc<Self>> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let mut handles = Vec::new();
        for index in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("{name}-{index}"))
                    .spawn(move || {
                        loop {
                            let job = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                            match job {
                                Ok(job) => job(),
                                Err(_) => break,
                            }
                        }
                    })?,
            );
        }
        Ok(Arc::new(Self {
            jobs: Mutex::new(Some(sender)),
            threads: Mutex::new(handles),
        }))
    }

    /// Queues `work`; the returned receiver resolves (await or block) with
    /// its result.
    pub fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>, PoolFull> {
        let (sender, receiver) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = sender.send(work());
        });
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(jobs) = jobs.as_ref() else {
            return Err(PoolFull);
        };
        match jobs.try_send(job) {
            Ok(()) => Ok(receiver),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(PoolFull),
        }
    }

    /// Stops accepting work and joins the threads after the queued jobs.
    pub fn shutdown(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_bounds() {
        let pool = BlockingPool::new("test", 1, 1).expect("pool");
        let gate = Arc::new(std::sync::Barrier::new(2));
        let held = Arc::clone(&gate);
        let first = pool.run(move || {
            held.wait();
            1
        });
        assert!(first.is_ok());
        // The worker is busy (blocked at the barrier); one job can queue,
        // the next is refused.
        let mut refused = false;
        for _ in 0..3 {
            if pool.run(|| 2).is_err() {
                refused = true;
            }
        }
        assert!(refused, "a full queue refuses");
        gate.wait();
        assert_eq!(first.expect("queued").recv(), Ok(1));
        pool.shutdown();
        assert!(pool.run(|| 3).is_err(), "a stopped pool refuses");
    }
}
