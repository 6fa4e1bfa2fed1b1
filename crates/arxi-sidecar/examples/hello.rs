//! A bare hyper-on-monoio HTTP/1.1 server answering every request with a
//! short JSON body, through the same I/O adapter and worker layout as the
//! sidecar: the ceiling the sidecar's read path is compared with in
//! `scripts/bench/sidecar-http.sh`.
//!
//! Usage: `hello ADDRESS [WORKERS]`, e.g. `hello 127.0.0.1:18080 2`.

use std::convert::Infallible;

use arxi_sidecar::io::{self, Acceptor, Driver, DriverChoice};
use bytes::Bytes;
use http_body_util::Full;

fn main() {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:18080".into());
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(2);
    let listener = std::net::TcpListener::bind(&address).expect("bind");
    let (driver, _) = io::choose_driver(DriverChoice::Auto).expect("driver");
    eprintln!("hello: {address}, {workers} workers, {}", driver.name());
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let listener = listener.try_clone().expect("clone");
            std::thread::spawn(move || serve(driver, listener))
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

fn serve(driver: Driver, listener: std::net::TcpListener) {
    let _ = io::block_on(driver, async move {
        let acceptor = Acceptor::tcp(listener).expect("adopt");
        loop {
            let Ok((connection, _)) = acceptor.accept().await else {
                continue;
            };
            io::spawn(async move {
                let service = hyper::service::service_fn(|_request| async {
                    let mut response =
                        http::Response::new(Full::new(Bytes::from_static(b"{\"hello\":true}")));
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(io::HyperTimer)
                    .serve_connection(connection, service)
                    .await;
            });
        }
    });
}
