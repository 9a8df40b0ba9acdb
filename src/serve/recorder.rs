//! The recorder task: every served inference and every feedback goes through an unbounded
//! channel (nothing is dropped under load) into batches appended to the log as
//! `InferencesRecorded` / `FeedbackRecorded` in one short write transaction — every second,
//! and as soon as a batch holds [`BATCH`] records. A SIGKILL loses at most the last second.
//!
//! When an append fails (disk full, say) the records are kept, the failure is reported on
//! stderr, and the next tick tries again — with a reopened database, since redb refuses every
//! transaction after an I/O error until it is reopened (`Store::db`). The first append that
//! works again says so. A commit that failed but reached the file is found by the store and
//! not appended twice. On shutdown the server stops accepting, then sends [`Msg::Stop`]:
//! everything queued before it is appended before the task ends, and the number of records
//! that could not be is its answer (a non-zero exit).
//!
//! Each tick also re-reads the deployments and A/B views (a read transaction, no lock held)
//! so that `lab deploy …` or `lab ab start|stop` in another process takes effect without a
//! restart.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::State;
use crate::event::{Event, FeedbackRecord, InferenceRecord};

/// Records per append at most; a full batch is appended at once.
pub const BATCH: usize = 1000;

/// What handlers send the recorder.
pub enum Msg {
    Inference(InferenceRecord),
    Feedback(FeedbackRecord),
    /// Append everything received so far, then answer (with the number of records lost) and
    /// end.
    Stop(oneshot::Sender<usize>),
}

/// The records not yet in the log.
#[derive(Default)]
struct Pending {
    inf: Vec<InferenceRecord>,
    fb: Vec<FeedbackRecord>,
    /// While appends fail: how many have, and the store's reopen count before the first.
    failing: Option<(u64, u64)>,
}

impl Pending {
    fn len(&self) -> usize {
        self.inf.len() + self.fb.len()
    }
}

/// The recorder loop (see the module doc).
pub async fn run(state: Arc<State>, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let mut p = Pending::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(Msg::Inference(r)) => {
                    p.inf.push(r);
                    if p.len() >= BATCH {
                        flush(&state, &mut p).await;
                    }
                }
                Some(Msg::Feedback(r)) => {
                    p.fb.push(r);
                    if p.len() >= BATCH {
                        flush(&state, &mut p).await;
                    }
                }
                Some(Msg::Stop(done)) => {
                    // Keep trying until --shutdown-timeout: a full disk may be freed.
                    let deadline = tokio::time::Instant::now() + state.limits.shutdown_timeout;
                    while !flush(&state, &mut p).await {
                        let next = tokio::time::Instant::now() + Duration::from_secs(1);
                        if next > deadline {
                            break;
                        }
                        tokio::time::sleep_until(next).await;
                    }
                    if p.len() > 0 {
                        eprintln!(
                            "lab serve: {} inference and {} feedback records could not be appended to {} and are lost",
                            p.inf.len(),
                            p.fb.len(),
                            state.lab.store.path().display()
                        );
                    }
                    let _ = done.send(p.len());
                    return;
                }
                None => {
                    flush(&state, &mut p).await;
                    return;
                }
            },
            _ = tick.tick() => {
                flush(&state, &mut p).await;
                let s = state.clone();
                let _ = tokio::task::spawn_blocking(move || s.refresh()).await;
            }
        }
    }
}

/// Appends the batches; on success empties them and returns true. On failure (or a panic in
/// the append) keeps them for the next try.
async fn flush(state: &Arc<State>, p: &mut Pending) -> bool {
    if p.len() == 0 {
        return true;
    }
    let mut events = Vec::new();
    if !p.inf.is_empty() {
        events.push(Event::InferencesRecorded {
            records: p.inf.clone(),
        });
    }
    if !p.fb.is_empty() {
        events.push(Event::FeedbackRecorded {
            records: p.fb.clone(),
        });
    }
    let s = state.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let recs = s.lab.append(events)?;
        if recs
            .iter()
            .any(|r| matches!(r.envelope.body, Event::InferencesRecorded { .. }))
        {
            s.after_flush();
        }
        anyhow::Ok(())
    })
    .await;
    let n = p.len();
    let err = match joined {
        Ok(Ok(())) => {
            p.inf.clear();
            p.fb.clear();
            state
                .metrics
                .recorded
                .fetch_add(n as u64, Ordering::Relaxed);
            state.metrics.pending.fetch_sub(n as u64, Ordering::Relaxed);
            if let Some((failures, reopens)) = p.failing.take() {
                let reopened = state.lab.store.reopens() - reopens;
                eprintln!(
                    "lab serve: the log {} is written again after {failures} failed appends (the database reopened {reopened} times); {n} kept records appended",
                    state.lab.store.path().display()
                );
            }
            return true;
        }
        Ok(Err(e)) => format!("{e:#}"),
        Err(e) => e.to_string(),
    };
    state.metrics.append_errors.fetch_add(1, Ordering::Relaxed);
    let reopens = state.lab.store.reopens();
    let (failures, _) = p.failing.get_or_insert((0, reopens));
    *failures += 1;
    // Said when appends start failing, then every minute while they keep failing.
    if *failures == 1 || *failures % 60 == 0 {
        eprintln!(
            "lab serve: cannot append {n} records to the log (kept in memory; reopening the log and retrying every second): {err}"
        );
    }
    false
}
