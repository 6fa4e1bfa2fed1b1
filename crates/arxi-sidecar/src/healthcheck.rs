//! `arxi-sidecar healthcheck`: probes a running sidecar over TCP or its Unix
//! socket and exits 0 on a 2xx answer, 1 otherwise, with a one-line reason.
//! It is the Docker healthcheck (the runtime image has no curl), so it is
//! plain blocking std networking with a hard timeout.

use std::time::{Duration, Instant};

/// Where to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `host:port` from an `http://host:port[/path]` URL.
    Tcp(String),
    /// A Unix socket path.
    Unix(std::path::PathBuf),
}

/// Parses `http://host:port[/path]`; returns the authority and the path.
pub fn parse_url(url: &str) -> Result<(String, Option<String>), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(index) => (&rest[..index], Some(rest[index..].to_owned())),
        None => (rest, None),
    };
    if authority.is_empty() {
        return Err(format!("{url:?}: missing host"));
    }
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path))
}

/// Probes `path` and returns `Ok(status line)` for 2xx, `Err(reason)`
/// otherwise.
pub fn probe(target: &Target, path: &str, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: arxi-sidecar-healthcheck\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    let response = match target {
        Target::Tcp(authority) => {
            use std::net::ToSocketAddrs as _;
            let address = authority
                .to_socket_addrs()
                .map_err(|e| format!("{authority}: {e}"))?
                .next()
                .ok_or_else(|| format!("{authority}: no address"))?;
            let mut stream = std::net::TcpStream::connect_timeout(&address, timeout)
                .map_err(|e| format!("connect {address}: {e}"))?;
            exchange(&mut stream, &request, deadline, |s, t| {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            })?
        }
        Target::Unix(path) => {
            let mut stream = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| format!("connect {}: {e}", path.display()))?;
            exchange(&mut stream, &request, deadline, |s, t| {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            })?
        }
    };
    let status_line = response.lines().next().unwrap_or_default().to_owned();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {status_line:?}"))?;
    if (200..300).contains(&status) {
        Ok(status_line)
    } else {
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        let reason = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|value| {
                value
                    .get("code")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        Err(format!("{status_line} {reason}").trim().to_owned())
    }
}

fn exchange<S: std::io::Read + std::io::Write>(
    stream: &mut S,
    request: &str,
    deadline: Instant,
    set_timeouts: impl Fn(&S, Option<Duration>) -> std::io::Result<()>,
) -> Result<String, String> {
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    set_timeouts(stream, Some(left())).map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut response = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        if Instant::now() >= deadline {
            return Err("timed out".into());
        }
        set_timeouts(stream, Some(left())).map_err(|e| e.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&chunk[..n]);
                if response.len() > 64 * 1024 {
                    break;
                }
            }
            Err(error)
                if error.kind() == std::io::ErrorKind::WouldBlock
                    || error.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Err("timed out".into());
            }
            Err(error) => return Err(format!("receive: {error}")),
        }
    }
    Ok(String::from_utf8_lossy(&response).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:7878/ready"),
            Ok(("127.0.0.1:7878".into(), Some("/ready".into())))
        );
        assert_eq!(
            parse_url("http://localhost"),
            Ok(("localhost:80".into(), None))
        );
        assert_eq!(
            parse_url("http://[::1]:9/x"),
            Ok(("[::1]:9".into(), Some("/x".into())))
        );
        assert!(parse_url("https://x").is_err());
        assert!(parse_url("http:///x").is_err());
    }
}
