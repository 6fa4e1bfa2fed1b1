//! Outbound HTTP/1.1 to the enterprise control plane: hyper's client
//! connection API over the monoio adapter (`io`).
//!
//! - Every call (resolve, connect, handshake, send, read the whole answer)
//!   runs under one timeout.
//! - Each worker thread keeps a small pool of idle keep-alive connections
//!   ([`IDLE_MAX`]). A connection goes back to the pool only after a
//!   complete answer; after a timeout or any error it is closed (its
//!   driver task is stopped), never reused: a late answer can never be
//!   read as the answer to a later call.
//! - A call on a pooled connection that fails before any answer (the peer
//!   closed an idle connection) is retried once on a new connection, within
//!   the same deadline.
//! - Answers are read up to [`ANSWER_BYTES_MAX`].

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::client::conn::http1::SendRequest;

use crate::blocking::BlockingPool;
use crate::io::{self, LocalSignal};

/// Idle connections kept per worker thread.
pub const IDLE_MAX: usize = 4;
/// Largest answer body read.
pub const ANSWER_BYTES_MAX: usize = 64 * 1024;

/// Where calls go: parsed from `enterprise.control_plane_url`
/// (`http://host[:port][/base]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP literal (brackets removed).
    pub host: String,
    /// Port (80 when absent).
    pub port: u16,
    /// The `Host` header value.
    pub authority: String,
    /// Path prefix without a trailing slash (may be empty).
    pub base_path: String,
}

impl Target {
    /// Parses a validated control-plane URL.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, ""),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{authority:?}: unclosed '['"))?;
            let port = after.strip_prefix(':').unwrap_or("80");
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, port),
                None => (authority, "80"),
            }
        };
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("{authority:?}: the port is not a number"))?;
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            base_path: path.trim_end_matches('/').to_owned(),
        })
    }

    fn literal_address(&self) -> Option<SocketAddr> {
        if self.host.eq_ignore_ascii_case("localhost") {
            return Some(SocketAddr::from(([127, 0, 0, 1], self.port)));
        }
        self.host
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, self.port))
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No complete answer within the timeout.
    Timeout,
    /// Name resolution, connection or protocol failure.
    Failed(String),
    /// An answer whose body exceeds [`ANSWER_BYTES_MAX`]: the peer
    /// answered, but not with anything the sidecar reads.
    Oversized,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => write!(f, "no answer within the timeout"),
            Self::Failed(reason) => write!(f, "{reason}"),
            Self::Oversized => write!(f, "an answer over {ANSWER_BYTES_MAX} bytes"),
        }
    }
}

/// A complete answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body (at most [`ANSWER_BYTES_MAX`]).
    pub body: Bytes,
}

struct Pooled {
    authority: String,
    sender: SendRequest<Full<Bytes>>,
    kill: Rc<LocalSignal>,
}

/// One worker thread's client (not `Send`: it lives on its runtime).
#[derive(Default)]
pub struct Client {
    idle: RefCell<Vec<Pooled>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("idle", &self.idle.borrow().len())
            .finish()
    }
}

impl Client {
    /// Idle connections held now.
    pub fn idle_connections(&self) -> usize {
        self.idle.borrow().len()
    }

    /// Sends one request and reads the whole answer, all within `timeout`.
    #[allow(clippy::too_many_arguments)]
    pub async fn call(
        &self,
        target: &Target,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Bytes>,
        timeout: Duration,
        resolver: &BlockingPool,
    ) -> Result<Answer, CallError> {
        let deadline = Instant::now() + timeout;
        let uri = format!("{}{path}", target.base_path);
        let build = || -> Result<Request<Full<Bytes>>, CallError> {
            let mut request = Request::builder()
                .method(method.clone())
                .uri(uri.as_str())
                .header(header::HOST, target.authority.as_str())
                .header(header::ACCEPT, "application/json");
            if let Some(token) = bearer {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            if body.is_some() {
                request = request.header(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            request
                .body(Full::new(body.clone().unwrap_or_default()))
                .map_err(|error| CallError::Failed(format!("building the request: {error}")))
        };
        if let Some(pooled) = self.take_idle(&target.authority) {
            match self.attempt(pooled, build()?, deadline).await {
                Ok(answer) => return Ok(answer),
                // The peer closed the idle connection: once more, fresh.
                Err(Attempt::Unanswered(_)) if Instant::now() < deadline => {}
                Err(Attempt::Unanswered(error) | Attempt::Failed(error)) => return Err(error),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let pooled = match io::timeout(left, self.connect(target, resolver)).await {
            Ok(result) => result?,
            Err(io::Elapsed) => return Err(CallError::Timeout),
        };
        match self.attempt(pooled, build()?, deadline).await {
            Ok(answer) => Ok(answer),
            Err(Attempt::Unanswered(error) | Attempt::Failed(error)) => Err(error),
        }
    }

    fn take_idle(&self, authority: &str) -> Option<Pooled> {
        let mut idle = self.idle.borrow_mut();
        while let Some(position) = idle.iter().position(|p| p.authority == authority) {
            let pooled = idle.swap_remove(position);
            if pooled.sender.is_ready() && !pooled.sender.is_closed() {
                return Some(pooled);
            }
            pooled.kill.raise();
        }
        None
    }

    async fn connect(&self, target: &Target, resolver: &BlockingPool) -> Result<Pooled, CallError> {
        let address = match target.literal_address() {
            Some(address) => address,
            None => resolve(resolver, target.host.clone(), target.port).await?,
        };
        let stream = io::connect_tcp(address)
            .await
            .map_err(|error| CallError::Failed(format!("connecting to {address}: {error}")))?;
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(ANSWER_BYTES_MAX + 16 * 1024)
            .handshake(stream)
            .await
            .map_err(|error| CallError::Failed(format!("handshake with {address}: {error}")))?;
        let kill = LocalSignal::new();
        let stopper = Rc::clone(&kill);
        io::spawn(async move {
            // Ends when the peer closes, on a protocol error, or when the
            // connection is killed (timeout, pool eviction).
            let _ = io::race(connection, stopper.wait()).await;
        });
        Ok(Pooled {
            authority: target.authority.clone(),
            sender,
            kill,
        })
    }

    async fn attempt(
        &self,
        mut pooled: Pooled,
        request: Request<Full<Bytes>>,
        deadline: Instant,
    ) -> Result<Answer, Attempt> {
        let left = deadline.saturating_duration_since(Instant::now());
        let exchange = async {
            let response = pooled.sender.send_request(request).await.map_err(|error| {
                let reason = format!("sending: {error}");
                // No answer began: safe to try a fresh connection.
                if error.is_canceled() || error.is_closed() || error.is_incomplete_message() {
                    Attempt::Unanswered(CallError::Failed(reason))
                } else {
                    Attempt::Failed(CallError::Failed(reason))
                }
            })?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), ANSWER_BYTES_MAX)
                .collect()
                .await
                .map_err(|error| {
                    Attempt::Failed(
                        if error
                            .downcast_ref::<http_body_util::LengthLimitError>()
                            .is_some()
                        {
                            CallError::Oversized
                        } else {
                            CallError::Failed(format!("reading the answer: {error}"))
                        },
                    )
                })?
                .to_bytes();
            Ok(Answer { status, body })
        };
        match io::timeout(left, exchange).await {
            Ok(Ok(answer)) => {
                let mut idle = self.idle.borrow_mut();
                if idle.len() < IDLE_MAX && !pooled.sender.is_closed() {
                    idle.push(pooled);
                } else {
                    pooled.kill.raise();
                }
                Ok(answer)
            }
            Ok(Err(error)) => {
                pooled.kill.raise();
                Err(error)
            }
            Err(io::Elapsed) => {
                // Never reuse a connection whose answer may still arrive.
                pooled.kill.raise();
                Err(Attempt::Failed(CallError::Timeout))
            }
        }
    }
}

/// Resolves a host name on a blocking pool (the system resolver blocks).
async fn resolve(pool: &BlockingPool, host: String, port: u16) -> Result<SocketAddr, CallError> {
    let lookup = pool
        .run(move || {
            use std::net::ToSocketAddrs as _;
            (host.as_str(), port)
                .to_socket_addrs()
                .map_err(|error| format!("resolving {host}: {error}"))?
                .next()
                .ok_or_else(|| format!("resolving {host}: no address"))
        })
        .map_err(|_| CallError::Failed("the resolver queue is full".into()))?;
    lookup
        .await
        .map_err(|_| CallError::Failed("the resolver stopped".into()))?
        .map_err(CallError::Failed)
}

enum Attempt {
    /// Failed before an answer started (retry on a fresh connection).
    Unanswered(CallError),
    /// Failed otherwise.
    Failed(CallError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let target = Target::parse("http://127.0.0.1:9000/cp/").expect("valid");
        assert_eq!(
            target,
            Target {
                host: "127.0.0.1".into(),
                port: 9000,
                authority: "127.0.0.1:9000".into(),
                base_path: "/cp".into(),
            }
        );
        assert_eq!(
            target.literal_address(),
            Some("127.0.0.1:9000".parse().expect("addr"))
        );
        let named = Target::parse("http://control-plane").expect("valid");
        assert_eq!((named.port, named.base_path.as_str()), (80, ""));
        assert_eq!(named.literal_address(), None);
        let v6 = Target::parse("http://[::1]:7000").expect("valid");
        assert_eq!(v6.host, "::1");
        assert_eq!(
            v6.literal_address(),
            Some("[::1]:7000".parse().expect("addr"))
        );
        assert!(Target::parse("https://x").is_err());
        assert!(Target::parse("http://x:port").is_err());
        assert!(Target::parse("http://:80").is_err());
    }
}
