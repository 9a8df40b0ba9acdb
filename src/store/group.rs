//! Group commit: appends from threads of one process that arrive while another append is
//! committing wait for it and are then committed together, in one redb transaction with one
//! flush (and one head record), in the order they arrived. A durable commit costs about a
//! millisecond of flushing on this machine whatever it holds, so eight writers logging metric
//! batches at once (`lab ui` with eight clients) pay one flush per group instead of one each.
//!
//! Nothing changes for a lone writer: the first append to arrive commits at once, alone. Each
//! append's events stay contiguous in the log, and each caller gets its own records back only
//! once they are durable. When a group's commit fails, every member gets the error (the log is
//! unchanged: the transaction is all or nothing).

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::event::{Event, Record};

use super::{Author, Store, StoreError};

/// The queue of appends waiting for the commit in progress.
#[derive(Default)]
pub(super) struct Group {
    state: Mutex<State>,
    turn: Condvar,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// Someone is committing a group now.
    leading: bool,
    waiting: Vec<Waiting>,
    /// Outcomes of committed groups, by the id of the append, until its caller takes it.
    done: HashMap<u64, Result<Vec<Record>, StoreError>>,
}

struct Waiting {
    id: u64,
    author: Author,
    events: Vec<Event>,
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Hands the outcomes of a group back and the leadership on, also when the commit panicked
/// (then each member gets an error instead of waiting for ever).
struct Leading<'a> {
    group: &'a Group,
    ids: Vec<u64>,
    outcomes: Option<Vec<Result<Vec<Record>, StoreError>>>,
    path: &'a std::path::Path,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut g = self.group.lock();
        match self.outcomes.take() {
            Some(outcomes) => g.done.extend(self.ids.iter().copied().zip(outcomes)),
            None => {
                for &id in &self.ids {
                    g.done.insert(
                        id,
                        Err(StoreError::Db {
                            path: self.path.to_path_buf(),
                            what: "committed",
                            detail: "the append it was grouped with stopped unexpectedly".into(),
                        }),
                    );
                }
            }
        }
        g.leading = false;
        self.group.turn.notify_all();
    }
}

impl Store {
    /// Appends `events` after the head: durable when this returns. Concurrent appends from
    /// this process are committed together (see `group`).
    pub fn append(&self, author: &Author, events: Vec<Event>) -> Result<Vec<Record>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let group = &self.group;
        let mut g = group.lock();
        let id = g.next_id;
        g.next_id += 1;
        g.waiting.push(Waiting {
            id,
            author: author.clone(),
            events,
        });
        loop {
            if let Some(outcome) = g.done.remove(&id) {
                return outcome;
            }
            if g.leading {
                g = group.turn.wait(g).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            g.leading = true;
            let batch = std::mem::take(&mut g.waiting);
            drop(g);
            let mut lead = Leading {
                group,
                ids: batch.iter().map(|w| w.id).collect(),
                outcomes: None,
                path: &self.path,
            };
            lead.outcomes = Some(self.commit_group(batch));
            drop(lead);
            g = group.lock();
        }
    }

    /// Commits the appends of one group in one transaction; one outcome per append.
    fn commit_group(&self, batch: Vec<Waiting>) -> Vec<Result<Vec<Record>, StoreError>> {
        let n = batch.len();
        let (authors, events): (Vec<Author>, Vec<Vec<Event>>) =
            batch.into_iter().map(|w| (w.author, w.events)).unzip();
        let result = self
            .db()
            .and_then(|db| db.begin_write().map_err(self.err("opened for writing")))
            .and_then(|tx| self.commit_parts(tx, authors.iter().zip(events).collect()));
        match result {
            Ok(records) => records.into_iter().map(Ok).collect(),
            Err(first) => {
                let mut out: Vec<_> = (1..n).map(|_| Err(copy(&first, &self.path))).collect();
                out.insert(0, Err(first));
                out
            }
        }
    }
}

/// The same failure for another member of the group: its message and path.
fn copy(e: &StoreError, path: &std::path::Path) -> StoreError {
    match e {
        StoreError::Db { path, what, detail } => StoreError::Db {
            path: path.clone(),
            what,
            detail: detail.clone(),
        },
        other => StoreError::Db {
            path: path.to_path_buf(),
            what: "committed",
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::event::{Event, GitState, Hash};
    use crate::store::{Author, Store};

    #[test]
    fn concurrent_appends_are_all_chained_each_in_one_piece() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        const THREADS: usize = 8;
        const APPENDS: usize = 40;
        // Each append: three events naming its thread and number, so that the log shows
        // whose they are and in which order.
        let event = |t: usize, a: usize, i: usize| Event::AlertResolved {
            rule: format!("t{t}-a{a}-e{i}"),
        };
        let got: Vec<Vec<Vec<u64>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let store = &store;
                    s.spawn(move || {
                        let author = Author {
                            actor: format!("writer {t}"),
                            git: GitState::NoRepo,
                            lab_version: "0".into(),
                        };
                        (0..APPENDS)
                            .map(|a| {
                                let recs = store
                                    .append(&author, (0..3).map(|i| event(t, a, i)).collect())
                                    .unwrap();
                                recs.iter().map(|r| r.envelope.seq).collect()
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // Every append came back with three consecutive numbers, and no number twice.
        let mut all: Vec<u64> = got.iter().flatten().flatten().copied().collect();
        for seqs in got.iter().flatten() {
            assert_eq!(seqs.len(), 3);
            assert_eq!(seqs[2], seqs[0] + 2, "an append was split: {seqs:?}");
        }
        all.sort_unstable();
        assert_eq!(
            all,
            (1..=(THREADS * APPENDS * 3) as u64).collect::<Vec<_>>()
        );
        // The log holds exactly those events, chained, each where its caller was told, with its
        // own writer as the actor, and each thread's appends in the order it made them.
        let mut prev = Hash::ZERO;
        let mut next_of = [0usize; THREADS];
        let mut n = 0u64;
        store
            .scan(1, |rec| {
                n += 1;
                assert_eq!(rec.envelope.seq, n);
                assert_eq!(rec.envelope.prev, prev, "the chain breaks at #{n}");
                prev = rec.hash;
                let Event::AlertResolved { rule } = &rec.envelope.body else {
                    panic!("unexpected event #{n}");
                };
                let parts: Vec<usize> = rule.split('-').map(|p| p[1..].parse().unwrap()).collect();
                let (t, a, i) = (parts[0], parts[1], parts[2]);
                assert_eq!(rec.envelope.actor, format!("writer {t}"));
                assert_eq!(
                    got[t][a][i], n,
                    "event {rule} is not where its caller was told"
                );
                if i == 0 {
                    assert_eq!(a, next_of[t], "thread {t}'s appends are out of order");
                    next_of[t] += 1;
                }
                Ok(true)
            })
            .unwrap();
        assert_eq!(n, (THREADS * APPENDS * 3) as u64);
        assert_eq!(store.head().unwrap(), (n, prev));
    }
}
