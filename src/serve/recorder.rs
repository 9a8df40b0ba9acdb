//! The recorder task: every served inference and every feedback goes through an unbounded
//! channel (nothing is dropped under load) into batches appended to the log as
//! `InferencesRecorded` / `FeedbackRecorded` in one short write transaction — every second,
//! and as soon as a batch holds [`BATCH`] records. A SIGKILL loses at most the last second.
//!
//! When an append fails (disk full, say) the records are kept, the failure is reported on
//! stderr, and the next tick tries again. On shutdown the server stops accepting, then sends
//! [`Msg::Stop`]: everything queued before it is appended before the task ends.
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
    /// Append everything received so far, then answer and end.
    Stop(oneshot::Sender<()>),
}

/// The recorder loop (see the module doc).
pub async fn run(state: Arc<State>, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let mut inf: Vec<InferenceRecord> = Vec::new();
    let mut fb: Vec<FeedbackRecord> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(Msg::Inference(r)) => {
                    inf.push(r);
                    if inf.len() + fb.len() >= BATCH {
                        flush(&state, &mut inf, &mut fb).await;
                    }
                }
                Some(Msg::Feedback(r)) => {
                    fb.push(r);
                    if inf.len() + fb.len() >= BATCH {
                        flush(&state, &mut inf, &mut fb).await;
                    }
                }
                Some(Msg::Stop(done)) => {
                    // Keep trying for a while: a full disk may be freed.
                    for attempt in 0..30 {
                        if flush(&state, &mut inf, &mut fb).await {
                            break;
                        }
                        if attempt == 29 {
                            eprintln!(
                                "lab serve: {} inference and {} feedback records could not be appended and are lost",
                                inf.len(),
                                fb.len()
                            );
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    let _ = done.send(());
                    return;
                }
                None => {
                    flush(&state, &mut inf, &mut fb).await;
                    return;
                }
            },
            _ = tick.tick() => {
                flush(&state, &mut inf, &mut fb).await;
                let s = state.clone();
                let _ = tokio::task::spawn_blocking(move || s.refresh()).await;
            }
        }
    }
}

/// Appends the batches; on success empties them and returns true. On failure (or a panic in
/// the append) keeps them for the next try.
async fn flush(
    state: &Arc<State>,
    inf: &mut Vec<InferenceRecord>,
    fb: &mut Vec<FeedbackRecord>,
) -> bool {
    if inf.is_empty() && fb.is_empty() {
        return true;
    }
    let mut events = Vec::new();
    if !inf.is_empty() {
        events.push(Event::InferencesRecorded {
            records: inf.clone(),
        });
    }
    if !fb.is_empty() {
        events.push(Event::FeedbackRecorded {
            records: fb.clone(),
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
    let n = inf.len() + fb.len();
    let err = match joined {
        Ok(Ok(())) => {
            inf.clear();
            fb.clear();
            state
                .metrics
                .recorded
                .fetch_add(n as u64, Ordering::Relaxed);
            state.metrics.pending.fetch_sub(n as u64, Ordering::Relaxed);
            return true;
        }
        Ok(Err(e)) => format!("{e:#}"),
        Err(e) => e.to_string(),
    };
    state.metrics.append_errors.fetch_add(1, Ordering::Relaxed);
    eprintln!(
        "lab serve: cannot append {n} records to the log (kept; retrying every second): {err}"
    );
    false
}
