//! `lab serve`'s connections: its own accept loop over hyper's HTTP/1, so that what clients
//! can hold is bounded (issue 18, B7 and B8).
//!
//! - **Header timeout**: a request's head must arrive in full within `header_timeout` of the
//!   connection waiting for it — when it opens and again between requests of a kept-alive
//!   connection — or the connection is closed (hyper's `header_read_timeout`).
//! - **Connection limit**: at `max_connections`, a new connection closes the oldest one that is
//!   not inside a request (a half-sent head or an idle keep-alive); when every one is inside a
//!   request, the new one is closed at once. So a flood of half-sent requests never keeps
//!   `/healthz` from answering and never runs the process out of file descriptors. An accept
//!   that fails (out of file descriptors after all) also closes such a connection, then waits a
//!   moment.
//! - **Shutdown**: accepting stops; connections outside a request are closed, those inside one
//!   finish it (hyper's graceful shutdown); whatever is left after `shutdown_timeout` is closed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper::service::{Service as _, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::State;

/// What one client may hold, and how long a stop may take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// The time a request head may take to arrive (also the idle time of a kept-alive one).
    pub header_timeout: Duration,
    /// The time a request body may take to arrive.
    pub body_timeout: Duration,
    /// The time SIGTERM waits for requests in progress and for the last appends.
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// One open connection.
struct Conn {
    /// Its place in [`Conns`] (accept order).
    id: u64,
    /// Requests in progress on it (0: a head is awaited).
    busy: AtomicUsize,
    /// Told to close.
    close: Notify,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Conns {
    map: Mutex<BTreeMap<u64, Arc<Conn>>>,
    next: AtomicU64,
}

impl Conns {
    fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }

    fn add(&self) -> Arc<Conn> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let c = Arc::new(Conn {
            id,
            busy: AtomicUsize::new(0),
            close: Notify::new(),
        });
        self.map.lock().unwrap().insert(id, c.clone());
        c
    }

    fn remove(&self, id: u64) {
        self.map.lock().unwrap().remove(&id);
    }

    /// Closes the oldest connection outside a request; false when every one is inside one.
    fn close_oldest_idle(&self) -> bool {
        let mut map = self.map.lock().unwrap();
        let Some(id) = map
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id)
        else {
            return false;
        };
        if let Some(c) = map.remove(&id) {
            c.close.notify_one();
        }
        true
    }

    /// Closes every connection outside a request; returns how many are inside one.
    fn close_idle(&self) -> usize {
        let mut map = self.map.lock().unwrap();
        map.retain(|_, c| {
            let idle = c.busy.load(Ordering::Acquire) == 0;
            if idle {
                c.close.notify_one();
            }
            !idle
        });
        map.len()
    }
}

/// Serves `app` on `listener` within the server's limits until `shutdown` resolves, then
/// stops as the module doc says.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    st: Arc<State>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limits = st.limits;
    let conns = Arc::new(Conns::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut last_accept_error: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        while tasks.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of file descriptors (EMFILE, ENFILE), or a connection gone before it was
                // accepted: make room and pause rather than spin.
                conns.close_oldest_idle();
                if last_accept_error.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    eprintln!(
                        "lab serve: cannot accept a connection ({e}); closing an idle one ({} open)",
                        conns.len()
                    );
                    last_accept_error = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        if conns.len() >= limits.max_connections {
            if conns.close_oldest_idle() {
                st.metrics.conns_evicted.fetch_add(1, Ordering::Relaxed);
            } else {
                st.metrics.conns_refused.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        let _ = stream.set_nodelay(true);
        let conn = conns.add();
        st.metrics.conns_open.fetch_add(1, Ordering::Relaxed);
        tasks.spawn(one(
            stream,
            app.clone(),
            conn,
            stop_rx.clone(),
            conns.clone(),
            st.clone(),
        ));
    }
    drop(listener);
    let busy = conns.close_idle();
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    if !drained {
        eprintln!(
            "lab serve: {} connections still open after {:?} (of {busy} inside a request at the stop): closed",
            tasks.len(),
            limits.shutdown_timeout
        );
        tasks.shutdown().await;
    }
}

/// One connection until it ends, is told to close, or the server stops.
async fn one(
    stream: TcpStream,
    app: Router,
    conn: Arc<Conn>,
    mut stop: watch::Receiver<bool>,
    conns: Arc<Conns>,
    st: Arc<State>,
) {
    let tower = TowerToHyperService::new(app);
    let c2 = conn.clone();
    let svc = service_fn(move |req| {
        c2.busy.fetch_add(1, Ordering::AcqRel);
        let done = Busy(c2.clone());
        let fut = tower.call(req);
        async move {
            let r = fut.await;
            drop(done);
            r
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(st.limits.header_timeout)
        .keep_alive(true);
    let served = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(served);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = served.as_mut() => break,
            // Dropping the connection closes its socket.
            _ = conn.close.notified() => break,
            _ = stop.wait_for(|s| *s), if !stopping => {
                served.as_mut().graceful_shutdown();
                stopping = true;
            }
        }
    }
    conns.remove(conn.id);
    st.metrics.conns_open.fetch_sub(1, Ordering::Relaxed);
}

/// Marks a request in progress until dropped.
struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}
