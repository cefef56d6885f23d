//! The HTTP accept loop of both listeners (API and metrics), with the limits `axum::serve` lacks
//! (`docs/http-api.md`, "Connections"):
//!
//! - a request's headers must arrive within `--http-header-timeout` of the connection opening,
//!   or of their first byte on a kept-alive connection (slow-loris);
//! - a kept-alive connection with no request is closed after `--http-idle-timeout`, and so is
//!   one whose client stops reading its response;
//! - every connection is drained after `--http-max-connection-age` (the request in progress
//!   finishes, for at most the request timeout) and then closed;
//! - at most `--http-max-connections` connections are open, and at most
//!   `--http-max-connections-per-ip` from one peer address, so that one pod cannot take every
//!   slot and starve the kubelet's `/healthz`. A connection over a cap is closed at once.
//!
//! The peer address is handed to the handlers as [`ConnectInfo`] (the rate limit's key).

use std::{
    collections::HashMap,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context as TaskContext, Poll},
    time::Duration,
};

use axum::{Router, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1, service::Service as _};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Notify,
    time::Instant,
};
use tracing::{info, warn};

use crate::metrics::{ConnectionCap, Metrics};

/// Connection limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest wait for a request's headers.
    pub header_timeout: Duration,
    /// Longest wait for the next request on a kept-alive connection.
    pub idle_timeout: Duration,
    /// Age after which a connection is drained and closed.
    pub max_age: Duration,
    /// Time a draining connection gets to finish its request.
    pub drain: Duration,
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one peer address.
    pub max_per_ip: usize,
}

/// A listen address that cannot be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}")]
pub struct BindError {
    /// The address, as bound.
    pub addr: String,
    /// Why not.
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr` (Go style: `:8080` means every interface).
pub async fn bind(addr: &str) -> Result<TcpListener, BindError> {
    let addr = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    };
    let listener = match TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(source) => return Err(BindError { addr, source }),
    };
    info!(%addr, "listening");
    Ok(listener)
}

/// Serves `router` on `listener` until the process ends.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
) {
    let slots = Arc::new(Slots::new(limits));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: the cause is outside this connection.
                warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(reason) => {
                metrics.connection_rejected(reason);
                continue;
            }
        };
        tokio::spawn(connection(stream, peer, slot, router.clone(), limits));
    }
}

/// Open connections, in all and per peer address.
#[derive(Debug)]
struct Slots {
    limits: ConnectionLimits,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// A connection's place under the caps, given back on drop.
#[derive(Debug)]
struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
}

impl Slots {
    fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            open: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, HashMap<IpAddr, usize>)> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a connection from `ip`, or which cap it is over (the metric label).
    fn take(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, ConnectionCap> {
        let ip = ip.to_canonical();
        let mut open = self.lock();
        if open.0 >= self.limits.max_connections {
            return Err(ConnectionCap::MaxConnections);
        }
        let from_ip = open.1.entry(ip).or_default();
        if *from_ip >= self.limits.max_per_ip {
            return Err(ConnectionCap::MaxConnectionsPerIp);
        }
        *from_ip += 1;
        open.0 += 1;
        Ok(Slot {
            slots: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        open.0 -= 1;
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

/// What a connection is doing, for its timeouts.
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

#[derive(Debug)]
struct ActivityState {
    /// Requests whose handler has not finished.
    in_flight: usize,
    /// Since when a request's headers are awaited: the connection's start, or the first byte
    /// read while no request was in flight.
    awaiting_headers: Option<Instant>,
    /// Since when nothing is in flight (the last response was produced).
    idle_since: Instant,
}

/// What the watchdog does now.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Nothing is due before this instant.
    Wait(Instant),
    /// A timeout passed: close the connection.
    Close,
}

impl Activity {
    fn new(now: Instant) -> Self {
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                awaiting_headers: Some(now),
                idle_since: now,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes arrived: if no request is in flight, they begin a request's headers.
    fn read(&self) {
        let mut s = self.lock();
        if s.in_flight == 0 && s.awaiting_headers.is_none() {
            s.awaiting_headers = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    /// A request's headers are complete and its handler starts.
    fn begin(self: &Arc<Self>) -> InFlight {
        let mut s = self.lock();
        s.in_flight += 1;
        s.awaiting_headers = None;
        drop(s);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// Whether a timeout has passed at `now`, and otherwise when the next one is due.
    fn verdict(&self, now: Instant, limits: &ConnectionLimits) -> Verdict {
        let s = self.lock();
        let due = if s.in_flight > 0 {
            // The handler's own timeout bounds a request in flight.
            return Verdict::Wait(now + limits.max_age);
        } else if let Some(since) = s.awaiting_headers {
            since + limits.header_timeout
        } else {
            s.idle_since + limits.idle_timeout
        };
        if now >= due {
            Verdict::Close
        } else {
            Verdict::Wait(due)
        }
    }
}

/// A request in flight; its end starts the idle time.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight -= 1;
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
        }
        drop(s);
        self.0.changed.notify_one();
    }
}

/// The socket, reporting reads to [`Activity`], and its place under the caps.
#[derive(Debug)]
struct Watched {
    /// Declared first, so dropped first: the slot is free before the peer sees the close.
    _slot: Slot,
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves one connection under `limits`; returns when it is closed.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    router: Router,
    limits: ConnectionLimits,
) {
    let _ = stream.set_nodelay(true);
    let born = Instant::now();
    let activity = Arc::new(Activity::new(born));
    let io = TokioIo::new(Watched {
        _slot: slot,
        stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        let router = TowerToHyperService::new(router);
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let in_flight = activity.begin();
            let response = router.call(request);
            async move {
                let response = response.await;
                drop(in_flight);
                response
            }
        })
    };
    // Header and idle timeouts are the watchdog's below: hyper's own header timer also runs
    // while a kept-alive connection waits, which would make the idle timeout the header one.
    let conn = http1::Builder::new()
        .header_read_timeout(None::<Duration>)
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let drain_at = born + limits.max_age;
    let mut close_at = None;
    loop {
        let now = Instant::now();
        let wake = match activity.verdict(now, &limits) {
            Verdict::Close => return,
            Verdict::Wait(due) => due,
        };
        if close_at.is_none() && now >= drain_at {
            // Closes an idle connection at once, and a busy one after its response.
            conn.as_mut().graceful_shutdown();
            close_at = Some(now + limits.drain);
        }
        if close_at.is_some_and(|t| now >= t) {
            return;
        }
        let wake = wake.min(close_at.unwrap_or(drain_at));
        tokio::select! {
            _ = conn.as_mut() => return,
            () = tokio::time::sleep_until(wake) => {}
            () = activity.changed.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests;
