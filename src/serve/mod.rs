//! `lab serve`: the inference server (tokio + axum). It serves the models deployed to an
//! environment (read from the deployments view, re-read every second), routes `/v1/ocr`
//! between the arms of a running A/B test, records every inference (`recorder`), takes
//! ground truth back (`/v1/feedback`) and exposes Prometheus metrics.
//!
//! Model inference is CPU-bound: it runs on tokio's blocking pool, at most one inference per
//! core at a time (a semaphore), so the async workers stay free and `/healthz` answers at once.
//!
//! Endpoints: `POST /v1/ocr`, `POST /v1/extract`, `POST /v1/feedback`, `GET /healthz`,
//! `GET /metrics`. With a token, all but `/healthz` need `Authorization: Bearer TOKEN`. Every
//! error is JSON `{"error": "...", "status": N}`.

pub mod conns;
mod handlers;
mod input;
pub mod metrics;
pub mod models;
pub mod recorder;
pub mod ui;

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::lab::Lab;
pub use conns::Limits;
pub use models::{DocSlot, Loader, OcrEngine, OcrSlot, Plan, Planner, Served};

/// The default body limit: 4 MiB.
pub const DEFAULT_MAX_BODY: usize = 4 << 20;

/// Recent answers kept for feedback.
const ANSWERS: usize = 100_000;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: String,
    pub env: String,
    pub token: Option<String>,
    pub max_body: usize,
    /// What clients may hold, and how long a stop may take.
    pub limits: Limits,
    /// Fixed versions (`NAME@N`) overriding the deployments.
    pub ocr: Option<String>,
    pub doc: Option<String>,
}

/// What a served OCR answer was, for scoring feedback.
#[derive(Clone, Debug)]
pub struct Answer {
    pub model: String,
    pub version: u32,
    pub arm: Option<String>,
    pub prediction: String,
    /// The truth of the last feedback recorded for it.
    pub truth: Option<String>,
}

/// A bounded map of recent answers: the oldest is forgotten first.
#[derive(Default)]
pub struct Answers {
    map: HashMap<String, Answer>,
    order: VecDeque<String>,
}

impl Answers {
    pub fn insert(&mut self, id: String, a: Answer) {
        if self.map.insert(id.clone(), a).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > ANSWERS {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    /// Inserts an answer under a new id; false (and nothing changed) when the id is taken.
    pub fn insert_new(&mut self, id: String, a: Answer) -> bool {
        if self.map.contains_key(&id) {
            return false;
        }
        self.insert(id, a);
        true
    }

    pub fn get(&self, id: &str) -> Option<&Answer> {
        self.map.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Answer> {
        self.map.get_mut(id)
    }
}

/// Shared by every handler and the recorder.
pub struct State {
    pub lab: Lab,
    pub metrics: metrics::Metrics,
    pub env: String,
    served: RwLock<Arc<Served>>,
    planner: Mutex<Planner>,
    loader: Box<dyn Loader>,
    /// The last refresh error, to report each distinct one once.
    last_error: Mutex<Option<String>>,
    tx: mpsc::UnboundedSender<recorder::Msg>,
    answers: Mutex<Answers>,
    token: Option<String>,
    max_body: usize,
    pub limits: Limits,
    start_ns: i64,
    counter: AtomicU64,
    /// One inference per core at a time.
    workers: Semaphore,
}

impl State {
    /// After a batch of inferences is in the log: the loader's hook (the monitor's rule check).
    pub fn after_flush(&self) {
        self.loader.after_flush(&self.lab);
    }

    /// The monitoring window's figures for `/metrics` (reads the log: call off the async
    /// workers).
    pub fn window_gauges(&self) -> metrics::WindowGauges {
        self.loader.window_gauges(&self.lab)
    }

    /// The models served now.
    pub fn served(&self) -> Arc<Served> {
        self.served.read().unwrap().clone()
    }

    /// Re-reads the views; loads and swaps in new models when the plan changed.
    pub fn refresh(&self) {
        let r = (|| -> Result<()> {
            let mut planner = self.planner.lock().unwrap();
            let plan = planner.plan(&self.lab.store)?;
            let current = self.served();
            if plan == current.plan {
                return Ok(());
            }
            let next = Served::load(&self.lab, plan, Some(&current), self.loader.as_ref())?;
            eprintln!("lab serve: now serving {}", next.describe());
            *self.served.write().unwrap() = Arc::new(next);
            Ok(())
        })();
        let mut last = self.last_error.lock().unwrap();
        match r {
            Ok(()) => *last = None,
            Err(e) => {
                let msg = format!("{e:#}");
                if last.as_deref() != Some(&msg) {
                    eprintln!(
                        "lab serve: cannot reload the deployed models (still serving the previous ones): {msg}"
                    );
                    *last = Some(msg);
                }
            }
        }
    }

    /// A new request id: the server's start time and a counter, hashed (16 hex digits).
    pub fn request_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let h = crate::event::Hash::of(format!("{}:{n}", self.start_ns).as_bytes());
        h.to_hex()[..16].to_string()
    }

    /// Queues a record for the log.
    pub fn record(&self, m: recorder::Msg) {
        self.metrics.pending.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(m).is_err() {
            eprintln!("lab serve: the recorder has stopped; a record was not queued");
        }
    }
}

/// What a server run did, printed when it stops.
#[derive(Debug, Serialize)]
pub struct ServeOut {
    pub addr: String,
    pub recorded: u64,
}

/// Checks the address and token: a non-loopback bind needs a token.
pub fn check_bind(addr: &str, token: Option<&str>) -> Result<SocketAddr> {
    let a: SocketAddr = addr
        .parse()
        .map_err(|e| anyhow!("bad --addr `{addr}` ({e}): use IP:PORT, e.g. 127.0.0.1:5000"))?;
    if token.is_some_and(|t| t.trim().is_empty()) {
        bail!("--token is empty: give a secret clients send as `Authorization: Bearer TOKEN`");
    }
    if !a.ip().is_loopback() && token.is_none() {
        bail!(
            "refusing to serve on {a} without --token: a non-loopback address is reachable from other machines — add --token SECRET (clients send `Authorization: Bearer SECRET`) or bind 127.0.0.1"
        );
    }
    Ok(a)
}

/// Runs the server until Ctrl-C or SIGTERM; then stops accepting, appends every pending
/// record and returns.
pub fn run(lab: Lab, cfg: Config, loader: Box<dyn Loader>) -> Result<ServeOut> {
    let addr = check_bind(&cfg.addr, cfg.token.as_deref())?;
    let mut planner = Planner::new(&cfg.env, cfg.ocr.clone(), cfg.doc.clone());
    let plan = planner.plan(&lab.store)?;
    if plan.is_empty() {
        bail!(
            "nothing to serve: no model is deployed to `{}` — deploy one (lab deploy ocr_student@1 --env {}) or name one with --ocr / --model",
            cfg.env,
            cfg.env
        );
    }
    let served = Served::load(&lab, plan, None, loader.as_ref())?;
    eprintln!("lab serve: serving {}", served.describe());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let state = Arc::new(State {
            lab,
            metrics: metrics::Metrics::default(),
            env: cfg.env.clone(),
            served: RwLock::new(Arc::new(served)),
            planner: Mutex::new(planner),
            loader,
            last_error: Mutex::new(None),
            tx,
            answers: Mutex::new(Answers::default()),
            token: cfg.token.clone(),
            max_body: cfg.max_body,
            limits: cfg.limits,
            start_ns: crate::store::now_ns(),
            counter: AtomicU64::new(0),
            workers: Semaphore::new(cores),
        });
        let rec = tokio::spawn(recorder::run(state.clone(), rx));
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "lab serve: listening on http://{bound}")?;
            out.flush()?;
        }
        conns::serve(
            listener,
            handlers::router(state.clone()),
            state.clone(),
            shutdown_signal(),
        )
        .await;
        eprintln!("lab serve: stopping — appending the pending records");
        let (done, wait) = oneshot::channel();
        state.record_stop(done);
        let lost = wait.await.unwrap_or(0);
        let _ = rec.await;
        if lost > 0 {
            bail!(
                "{lost} served inference or feedback records could not be appended to {} (see the errors above): free space or fix the file, then serve again",
                state.lab.store.path().display()
            );
        }
        Ok::<_, anyhow::Error>(ServeOut {
            addr: bound.to_string(),
            recorded: state.metrics.recorded.load(Ordering::Relaxed),
        })
    })
}

impl State {
    fn record_stop(&self, done: oneshot::Sender<usize>) {
        let _ = self.tx.send(recorder::Msg::Stop(done));
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_needs_a_token() {
        assert!(check_bind("127.0.0.1:0", None).is_ok());
        assert!(check_bind("[::1]:0", None).is_ok());
        let e = check_bind("0.0.0.0:5000", None).unwrap_err().to_string();
        assert!(e.contains("--token"), "{e}");
        assert!(check_bind("0.0.0.0:5000", Some("s3cret")).is_ok());
        assert!(check_bind("0.0.0.0:5000", Some(" ")).is_err());
        assert!(
            check_bind("localhost", None)
                .unwrap_err()
                .to_string()
                .contains("--addr")
        );
    }

    #[test]
    fn answers_forget_the_oldest() {
        let mut a = Answers::default();
        let ans = |p: &str| Answer {
            model: "m".into(),
            version: 1,
            arm: None,
            prediction: p.into(),
            truth: None,
        };
        for i in 0..ANSWERS + 5 {
            a.insert(i.to_string(), ans("x"));
        }
        assert!(a.get("0").is_none());
        assert!(a.get("5").is_some());
        assert_eq!(a.map.len(), ANSWERS);
    }
}
