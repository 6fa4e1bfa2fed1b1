//! The I/O adapter: the only module that names monoio.
//!
//! It chooses the kernel interface (io_uring, or epoll where io_uring is
//! refused, as under Docker >= 25's default seccomp profile), runs a
//! thread-per-core runtime on the current thread, turns accepted monoio
//! streams into hyper connections through monoio-compat's poll-io bridge
//! (measured: as fast as the alternatives, and the only option that passed
//! the request-smuggling, header-limit and timeout probes), and offers the
//! few async primitives the rest of the sidecar needs: spawn, sleep,
//! timeout, race, and a cross-thread shutdown signal.
//!
//! monoio has not released since 2024 and is pinned exactly; keeping it
//! behind this module means replacing it touches one file.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use monoio::io::IntoPollIo as _;
use monoio::net::tcp::stream_poll::TcpStreamPoll;
use monoio::net::unix::stream_poll::UnixStreamPoll;
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};
use monoio_compat::hyper::MonoioIo;

pub use monoio_compat::hyper::MonoioTimer as HyperTimer;

/// The kernel interface a runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// io_uring.
    IoUring,
    /// epoll (monoio's legacy driver).
    Epoll,
}

impl Driver {
    /// `io_uring` or `epoll`.
    pub fn name(self) -> &'static str {
        match self {
            Self::IoUring => "io_uring",
            Self::Epoll => "epoll",
        }
    }
}

/// What the configuration asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverChoice {
    /// io_uring, falling back to epoll when refused.
    Auto,
    /// io_uring or fail.
    IoUring,
    /// epoll.
    Epoll,
}

/// Decides the driver once at start-up by building (and dropping) an
/// io_uring runtime. `Err` only when io_uring was demanded and refused.
pub fn choose_driver(choice: DriverChoice) -> io::Result<(Driver, Option<io::Error>)> {
    choose_driver_with(choice, || {
        RuntimeBuilder::<IoUringDriver>::new().build().map(drop)
    })
}

/// [`choose_driver`] with the io_uring probe passed in (tests inject a
/// refusal).
pub fn choose_driver_with(
    choice: DriverChoice,
    probe: impl FnOnce() -> io::Result<()>,
) -> io::Result<(Driver, Option<io::Error>)> {
    match choice {
        DriverChoice::Epoll => Ok((Driver::Epoll, None)),
        DriverChoice::IoUring => probe().map(|()| (Driver::IoUring, None)),
        DriverChoice::Auto => match probe() {
            Ok(()) => Ok((Driver::IoUring, None)),
            // EPERM (seccomp, io_uring_disabled), ENOSYS (no io_uring),
            // ENOMEM (memlock): all mean "use epoll".
            Err(refusal) => Ok((Driver::Epoll, Some(refusal))),
        },
    }
}

/// Runs `future` to completion on a new runtime of `driver` on this thread.
pub fn block_on<F: Future>(driver: Driver, future: F) -> io::Result<F::Output> {
    match driver {
        Driver::IoUring => {
            let mut runtime = RuntimeBuilder::<IoUringDriver>::new()
                .enable_timer()
                .build()?;
            Ok(runtime.block_on(future))
        }
        Driver::Epoll => {
            let mut runtime = RuntimeBuilder::<LegacyDriver>::new()
                .enable_timer()
                .build()?;
            Ok(runtime.block_on(future))
        }
    }
}

/// Runs a task on the current thread's runtime, detached.
pub fn spawn<F>(future: F)
where
    F: Future + 'static,
    F::Output: 'static,
{
    drop(monoio::spawn(future));
}

/// Waits.
pub async fn sleep(duration: Duration) {
    monoio::time::sleep(duration).await;
}

/// The time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `future` for at most `duration`.
///
/// The future and the timer are boxed: this future is a few words, so the
/// futures that await it (every request's) do not grow by the wrapped
/// future twice over (an `async fn` keeps its argument beside what it
/// awaits) nor by the timer's entry, and moving them copies less.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Box::pin(future),
        sleep: Box::pin(monoio::time::sleep(duration)),
    }
}

/// The future of [`timeout`].
pub struct Timeout<F> {
    future: Pin<Box<F>>,
    sleep: Pin<Box<monoio::time::Sleep>>,
}

impl<F> std::fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeout").finish_non_exhaustive()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = self.future.as_mut().poll(context) {
            return Poll::Ready(Ok(output));
        }
        self.sleep.as_mut().poll(context).map(|()| Err(Elapsed))
    }
}

/// Which of two futures finished first.
#[derive(Debug)]
pub enum Either<A, B> {
    /// The first.
    Left(A),
    /// The second.
    Right(B),
}

/// Polls both futures; returns the first output (the other is dropped).
pub async fn race<A: Future, B: Future>(first: A, second: B) -> Either<A::Output, B::Output> {
    let mut first = std::pin::pin!(first);
    let mut second = std::pin::pin!(second);
    std::future::poll_fn(|context| {
        if let Poll::Ready(output) = first.as_mut().poll(context) {
            return Poll::Ready(Either::Left(output));
        }
        if let Poll::Ready(output) = second.as_mut().poll(context) {
            return Poll::Ready(Either::Right(output));
        }
        Poll::Pending
    })
    .await
}

/// Waker slots: each waiting future owns one slot, so a poll costs O(1)
/// however many futures wait (a shared list checked with `will_wake` grew
/// without bound under monoio, whose wakers do not compare equal across
/// polls, and cost 40% of the CPU under load).
#[derive(Debug, Default)]
struct Slots {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Slots {
    /// Stores `waker` in `slot` (allocating one the first time).
    fn register(&mut self, slot: &mut Option<usize>, waker: &Waker) {
        match *slot {
            Some(index) => match &mut self.wakers[index] {
                Some(existing) if existing.will_wake(waker) => {}
                entry => *entry = Some(waker.clone()),
            },
            None => {
                let index = self.free.pop().unwrap_or_else(|| {
                    self.wakers.push(None);
                    self.wakers.len() - 1
                });
                self.wakers[index] = Some(waker.clone());
                *slot = Some(index);
            }
        }
    }

    fn release(&mut self, slot: Option<usize>) {
        if let Some(index) = slot {
            self.wakers[index] = None;
            self.free.push(index);
        }
    }

    fn take_all(&mut self) -> Vec<Waker> {
        self.wakers.iter_mut().filter_map(Option::take).collect()
    }
}

/// A one-way signal any thread can raise and any task can await.
#[derive(Debug, Default)]
pub struct Signal {
    raised: AtomicBool,
    slots: Mutex<Slots>,
}

impl Signal {
    /// A new, unraised signal.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Raises it and wakes every waiter.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::Release);
        let wakers = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_all();
        for waker in wakers {
            waker.wake();
        }
    }

    /// True once raised.
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// Completes when raised.
    pub fn wait(&self) -> SignalWait<'_> {
        SignalWait {
            signal: self,
            slot: None,
        }
    }
}

/// The future of [`Signal::wait`].
#[derive(Debug)]
pub struct SignalWait<'a> {
    signal: &'a Signal,
    slot: Option<usize>,
}

impl Future for SignalWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if self.signal.is_raised() {
            return Poll::Ready(());
        }
        let this = &mut *self;
        let mut slots = this.signal.slots.lock().unwrap_or_else(|e| e.into_inner());
        // Checked again under the lock: `raise` takes the wakers under it.
        if this.signal.is_raised() {
            return Poll::Ready(());
        }
        slots.register(&mut this.slot, context.waker());
        Poll::Pending
    }
}

impl Drop for SignalWait<'_> {
    fn drop(&mut self) {
        if self.slot.is_some() {
            self.signal
                .slots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .release(self.slot.take());
        }
    }
}

/// A signal for the tasks of one runtime thread: no locks, no atomics.
/// A worker raises it when the cross-thread [`Signal`] fires, so each
/// connection waits on its own thread's signal.
#[derive(Debug, Default)]
pub struct LocalSignal {
    raised: std::cell::Cell<bool>,
    slots: std::cell::RefCell<Slots>,
}

impl LocalSignal {
    /// A new, unraised signal.
    pub fn new() -> std::rc::Rc<Self> {
        std::rc::Rc::new(Self::default())
    }

    /// Raises it and wakes every waiter.
    pub fn raise(&self) {
        self.raised.set(true);
        let wakers = self.slots.borrow_mut().take_all();
        for waker in wakers {
            waker.wake();
        }
    }

    /// True once raised.
    pub fn is_raised(&self) -> bool {
        self.raised.get()
    }

    /// Completes when raised.
    pub fn wait(&self) -> LocalWait<'_> {
        LocalWait {
            signal: self,
            slot: None,
        }
    }
}

/// The future of [`LocalSignal::wait`].
#[derive(Debug)]
pub struct LocalWait<'a> {
    signal: &'a LocalSignal,
    slot: Option<usize>,
}

impl Future for LocalWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if self.signal.is_raised() {
            return Poll::Ready(());
        }
        let this = &mut *self;
        this.signal
            .slots
            .borrow_mut()
            .register(&mut this.slot, context.waker());
        Poll::Pending
    }
}

impl Drop for LocalWait<'_> {
    fn drop(&mut self) {
        if self.slot.is_some() {
            self.signal.slots.borrow_mut().release(self.slot.take());
        }
    }
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
pub enum Peer {
    /// A TCP client.
    Tcp(std::net::SocketAddr),
    /// A Unix socket client.
    Unix,
}

/// A listening socket on this thread's runtime.
#[derive(Debug)]
pub enum Acceptor {
    /// TCP.
    Tcp(monoio::net::TcpListener),
    /// Unix socket.
    Unix(monoio::net::UnixListener),
}

impl Acceptor {
    /// Adopts a bound std TCP listener (each worker adopts its own clone).
    pub fn tcp(listener: std::net::TcpListener) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        monoio::net::TcpListener::from_std(listener).map(Self::Tcp)
    }

    /// Adopts a bound std Unix listener.
    pub fn unix(listener: std::os::unix::net::UnixListener) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        monoio::net::UnixListener::from_std(listener).map(Self::Unix)
    }

    /// Accepts one connection, ready for hyper.
    pub async fn accept(&self) -> io::Result<(Connection, Peer)> {
        match self {
            Self::Tcp(listener) => {
                let (stream, address) = listener.accept().await?;
                stream.set_nodelay(true)?;
                let stream = stream.into_poll_io()?;
                Ok((Connection::Tcp(MonoioIo::new(stream)), Peer::Tcp(address)))
            }
            Self::Unix(listener) => {
                let (stream, _) = listener.accept().await?;
                let stream = stream.into_poll_io()?;
                Ok((Connection::Unix(MonoioIo::new(stream)), Peer::Unix))
            }
        }
    }
}

/// Connects to a TCP address (outbound calls).
pub async fn connect_tcp(address: std::net::SocketAddr) -> io::Result<Connection> {
    let stream = monoio::net::TcpStream::connect_addr(address).await?;
    stream.set_nodelay(true)?;
    Ok(Connection::Tcp(MonoioIo::new(stream.into_poll_io()?)))
}

/// A byte stream speaking hyper's `Read`/`Write`.
#[derive(Debug)]
pub enum Connection {
    /// TCP.
    Tcp(MonoioIo<TcpStreamPoll>),
    /// Unix socket.
    Unix(MonoioIo<UnixStreamPoll>),
}

impl hyper::rt::Read for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_read(context, buffer),
            Self::Unix(io) => Pin::new(io).poll_read(context, buffer),
        }
    }
}

impl hyper::rt::Write for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_write(context, buffer),
            Self::Unix(io) => Pin::new(io).poll_write(context, buffer),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_flush(context),
            Self::Unix(io) => Pin::new(io).poll_flush(context),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_shutdown(context),
            Self::Unix(io) => Pin::new(io).poll_shutdown(context),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_falls_back_to_epoll_when_io_uring_is_refused() {
        let refused = choose_driver_with(DriverChoice::Auto, || {
            Err(io::Error::from_raw_os_error(1)) // EPERM, as seccomp answers
        })
        .expect("auto never fails");
        assert_eq!(refused.0, Driver::Epoll);
        assert_eq!(refused.1.map(|e| e.raw_os_error()), Some(Some(1)));
        let allowed = choose_driver_with(DriverChoice::Auto, || Ok(())).expect("ok");
        assert_eq!(allowed.0, Driver::IoUring);
        assert!(allowed.1.is_none());
        assert!(
            choose_driver_with(DriverChoice::IoUring, || Err(io::Error::from_raw_os_error(
                38
            )))
            .is_err(),
            "io_uring demanded and refused (ENOSYS) is an error"
        );
        assert_eq!(
            choose_driver_with(DriverChoice::Epoll, || panic!("not probed"))
                .expect("ok")
                .0,
            Driver::Epoll
        );
    }

    #[test]
    fn both_drivers_run_and_race_and_signal_work() {
        for driver in [Driver::IoUring, Driver::Epoll] {
            let signal = Signal::new();
            let raised = Arc::clone(&signal);
            let result = block_on(driver, async move {
                std::thread::spawn(move || raised.raise());
                let won = race(signal.wait(), sleep(Duration::from_secs(10))).await;
                let timed_out =
                    timeout(Duration::from_millis(5), sleep(Duration::from_secs(10))).await;
                (matches!(won, Either::Left(())), timed_out)
            })
            .unwrap_or_else(|e| panic!("{driver:?} runtime: {e}"));
            assert_eq!(result, (true, Err(Elapsed)), "{driver:?}");
        }
    }
}
