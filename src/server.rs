//! The HTTP server: accept loop, HTTP/1.1 and HTTP/2 (cleartext) connections, limits, graceful shutdown.

use crate::service::{self, AppState};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Pause after a failed accept (e.g. EMFILE) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

fn builder(state: &AppState) -> auto::Builder<TokioExecutor> {
    let limits = &state.config.limits;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .max_concurrent_streams(256)
        // HTTP/2 has no header timeout; pinging closes connections whose peer went silent.
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    builder
}

/// The HTTP/2 connection preface a cleartext (prior knowledge) client starts with.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// How often a partly received preface is looked at again.
const SNIFF_POLL: Duration = Duration::from_millis(5);

/// Tells HTTP/2 from HTTP/1 by the first bytes, within `timeout`. `None`: the peer sent nothing
/// usable in time (or closed), and the connection should be dropped. Doing this here, instead of
/// letting the auto builder read the preface, puts a deadline on connections that never speak.
async fn sniff_http2(stream: &TcpStream, timeout: Duration) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 24];
    let mut seen = 0;
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if buf[..n] != H2_PREFACE[..n] {
            return Some(false);
        }
        if n == H2_PREFACE.len() {
            return Some(true);
        }
        if n == seen {
            // Part of the preface, nothing new yet: peek would return at once, so wait a little.
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(SNIFF_POLL).await;
        }
        seen = n;
    }
}

/// Serves until `shutdown` resolves, then stops accepting and waits (up to the grace period) for
/// in-flight requests to finish.
pub async fn run(listener: TcpListener, state: Arc<AppState>, shutdown: impl Future<Output = ()>) {
    let http1 = builder(&state).http1_only();
    let http2 = builder(&state).http2_only();
    let header_timeout = state.config.limits.header_read_timeout;
    let graceful = GracefulShutdown::new();
    // Connections still deciding their protocol hold a graceful watcher; this tells them to give up.
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let (http1, http2) = (http1.clone(), http2.clone());
                let watcher = graceful.watcher();
                let mut stopping = stopping.clone();
                tokio::spawn(async move {
                    let sniffed = tokio::select! {
                        sniffed = sniff_http2(&stream, header_timeout) => sniffed,
                        _ = stopping.wait_for(|stop| *stop) => None,
                    };
                    let Some(is_http2) = sniffed else {
                        tracing::debug!(%peer, "closing a connection that sent no request in time");
                        return;
                    };
                    let builder = if is_http2 { http2 } else { http1 };
                    let svc = service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(service::Peer(peer));
                        service::handle(state.clone(), req)
                    });
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    let grace = state.config.limits.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "shutdown grace period over; dropping remaining connections"
        );
    }
    if let Err(e) = state.store.flush().await {
        tracing::warn!(error = %e, "could not flush last-used records");
    }
}
