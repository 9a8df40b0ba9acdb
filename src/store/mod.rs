//! The store: the hash-chained event log and its views in redb (`.lab/lab.redb`), and the blob
//! store (`.lab/objects`). This is the only code that writes redb. No ML, no HTTP.
//!
//! Every append runs in one redb write transaction: read the head, encode and chain the new
//! events, insert them, fold them into the views, commit. Appends from threads of one process
//! that arrive while a commit is in progress are committed together after it (`group`). The
//! database is opened in
//! `ConcurrencyMode::MultiWriter`, so any number of lab processes share it and redb serialises
//! their write transactions: the chain stays linear and nobody sees "already open".
//!
//! Beside the log, `.lab/HEAD` (see `head`) records the last committed event; every open
//! compares it with the log, so a deleted, emptied or replaced `lab.redb` is an error and not
//! a fresh, empty history. Opening never panics on a damaged file (see `guard`).

pub mod ab;
pub mod alerts;
pub mod backend;
pub mod blobs;
mod check;
pub mod codec;
mod group;
pub mod guard;
pub mod head;
mod inferences;
pub mod registry;
mod staging;
pub mod views;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use redb::{ConcurrencyMode, Database, ReadableDatabase, ReadableTable, TableDefinition};

pub use ab::{AbEnd, AbRow};
pub use alerts::AlertRow;
pub use blobs::{BlobError, BlobStore};
pub use registry::{DeploymentRow, Source, VersionRow};
pub use views::{DatasetRow, RunRow, ViewTx};

use crate::event::{Envelope, Event, GitState, Hash, Record};

/// seq → stored entry (see `codec`).
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

/// Errors of the store. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb could not open the log file.
    #[error(
        "cannot open the log {path}: {source} — if another program changed or truncated it, restore .lab/lab.redb from a backup (lab verify checks a log that opens)"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },
    /// redb panicked on the file: its pages are damaged.
    #[error(
        "the log {path} is damaged ({detail}) — restore .lab/lab.redb from a backup; if only \
         the views are damaged, `lab reindex` rebuilds them (`lab verify` tells which)"
    )]
    Damaged { path: PathBuf, detail: String },
    /// The log holds fewer events than the head record says it had.
    #[error(
        "the log {path} has {found} events but {head} records event #{recorded}: the log was \
         deleted, emptied or truncated — restore .lab/lab.redb from a backup (if you restored an \
         older backup on purpose, delete {head} to accept it)"
    )]
    Lost {
        path: PathBuf,
        head: PathBuf,
        found: u64,
        recorded: u64,
    },
    /// The log's event at the recorded head is not the recorded one.
    #[error(
        "event #{seq} of the log {path} is {found}, but {head} records {recorded}: the log was \
         replaced by another one — restore .lab/lab.redb from a backup (if you restored an older \
         backup on purpose, delete {head} to accept it)"
    )]
    Replaced {
        path: PathBuf,
        head: PathBuf,
        seq: u64,
        found: String,
        recorded: String,
    },
    /// The log file is missing or empty while the blob store holds data.
    #[error(
        "the log {path} is missing or empty, but {objects} holds blobs: the project had a \
         history — restore .lab/lab.redb from a backup (to start over on purpose, move .lab aside)"
    )]
    Missing { path: PathBuf, objects: PathBuf },
    /// `.lab/HEAD` cannot be read.
    #[error(
        "the head record {path} is unreadable ({detail}) — check the log with `lab verify` after \
         moving the file aside; lab writes a new one at the next command"
    )]
    HeadRecord { path: PathBuf, detail: String },
    /// A redb operation failed mid-way; nothing was committed.
    #[error("the log {path} could not be {what}: {detail}{}", disk_hint(detail))]
    Db {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    /// An entry in the log does not decode.
    #[error("event #{seq} in {path} is unreadable: {source}")]
    Codec {
        seq: u64,
        path: PathBuf,
        #[source]
        source: codec::CodecError,
    },
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Something the caller asked for is not there (a run, a snapshot…).
    #[error("{0}")]
    NotFound(String),
    /// The caller's closure refused to append (validation failed inside the transaction).
    #[error("{0}")]
    Rejected(String),
}

fn disk_hint(detail: &str) -> &'static str {
    if detail.contains("No space left") || detail.contains("os error 28") {
        " — the disk is full: free space and run the command again (the log is unchanged)"
    } else {
        ""
    }
}

/// Who appends: the envelope fields that stay the same for one process.
#[derive(Clone, Debug)]
pub struct Author {
    pub actor: String,
    pub git: GitState,
    pub lab_version: String,
}

/// The open store of one project.
pub struct Store {
    /// The open database. After an I/O error redb refuses every later transaction ("Previous
    /// I/O error occurred. Please close and re-open the database"), so it is replaced by a
    /// fresh handle before the next use (see [`Store::db`]).
    db: RwLock<Arc<Database>>,
    /// Set by an I/O error: the handle must be reopened before it is used again.
    broken: AtomicBool,
    /// How many times the handle was reopened after an I/O error.
    reopens: AtomicU64,
    path: PathBuf,
    lab_dir: PathBuf,
    pub blobs: BlobStore,
    /// Appends waiting to be committed together (see `group`).
    group: group::Group,
}

impl Store {
    /// Opens `.lab/` (creating the log and the blob store when missing) and checks the log
    /// against the head record: a log that lost history is an error, never an empty one.
    pub fn open(lab_dir: &Path) -> Result<Store, StoreError> {
        let path = lab_dir.join("lab.redb");
        guard::opened(&path);
        let blobs = BlobStore::open(&lab_dir.join("objects"))?;
        let recorded = head::read(lab_dir).map_err(|detail| StoreError::HeadRecord {
            path: head::path(lab_dir),
            detail,
        })?;
        let fresh = std::fs::metadata(&path).map_or(true, |m| m.len() == 0);
        if fresh {
            // Checked before redb creates a new, empty log in its place.
            if let Some(r) = recorded.filter(|r| r.seq > 0) {
                return Err(StoreError::Lost {
                    path,
                    head: head::path(lab_dir),
                    found: 0,
                    recorded: r.seq,
                });
            }
            if blobs.any() {
                return Err(StoreError::Missing {
                    path,
                    objects: lab_dir.join("objects"),
                });
            }
        }
        let damaged = |detail| StoreError::Damaged {
            path: path.clone(),
            detail,
        };
        let db = open_db(&path)?;
        let store = Store {
            db: RwLock::new(Arc::new(db)),
            broken: AtomicBool::new(false),
            reopens: AtomicU64::new(0),
            path: path.clone(),
            lab_dir: lab_dir.to_path_buf(),
            blobs,
            group: Default::default(),
        };
        guard::guard(|| store.ensure_tables()).map_err(damaged)??;
        guard::guard(|| store.check_head(recorded)).map_err(damaged)??;
        Ok(store)
    }

    /// The database handle; reopened first when the last operation hit an I/O error (a full
    /// disk, say), so that the store works again once the cause is gone.
    pub(crate) fn db(&self) -> Result<Arc<Database>, StoreError> {
        if self.broken.load(Ordering::Acquire) {
            let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
            if self.broken.load(Ordering::Acquire) {
                // The old handle closes when its last transaction ends.
                *db = Arc::new(open_db(&self.path)?);
                self.broken.store(false, Ordering::Release);
                self.reopens.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(db.clone());
        }
        Ok(self.db.read().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// How many times the database was reopened after an I/O error (see [`Store::db`]).
    pub fn reopens(&self) -> u64 {
        self.reopens.load(Ordering::Relaxed)
    }

    fn ensure_tables(&self) -> Result<(), StoreError> {
        // Cheap check first: a read transaction sees whether the tables exist.
        if let Ok(r) = self.db()?.begin_read() {
            if r.open_table(EVENTS).is_ok() && views::all_exist(&r) {
                return Ok(());
            }
        }
        let tx = self
            .db()?
            .begin_write()
            .map_err(self.err("opened for writing"))?;
        tx.open_table(EVENTS).map_err(self.err("initialised"))?;
        views::create_all(&tx).map_err(self.err("initialised"))?;
        tx.commit().map_err(self.err("committed"))?;
        // A view this binary added after the log was written: fold the log into it.
        if self.head()?.0 > 0 {
            self.reindex()?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A redb error as a [`StoreError::Db`]; an I/O error also marks the handle for reopening.
    pub(crate) fn err<E: std::fmt::Display>(
        &self,
        what: &'static str,
    ) -> impl Fn(E) -> StoreError + '_ {
        move |e| {
            let detail = e.to_string();
            // redb's StorageError::Io ("I/O error: …") and PreviousIo ("Previous I/O error…").
            if detail.contains("I/O error") {
                self.broken.store(true, Ordering::Release);
            }
            StoreError::Db {
                path: self.path.clone(),
                what,
                detail,
            }
        }
    }

    /// Appends the events `f` returns, atomically, after the current head. `f` runs inside the
    /// write transaction and may read the views (e.g. to number a new version); no other process
    /// can append between its reads and the commit. Returning an empty list appends nothing.
    pub fn append_with<T>(
        &self,
        author: &Author,
        f: impl FnOnce(&ViewTx) -> Result<(Vec<Event>, T), StoreError>,
    ) -> Result<(Vec<Record>, T), StoreError> {
        let tx = self
            .db()?
            .begin_write()
            .map_err(self.err("opened for writing"))?;
        let (events, out) = f(&ViewTx::new(&tx, self.path.clone()))?;
        if events.is_empty() {
            tx.abort().map_err(self.err("aborted"))?;
            return Ok((Vec::new(), out));
        }
        let mut parts = self.commit_parts(tx, vec![(author, events)])?;
        Ok((parts.pop().unwrap_or_default(), out))
    }

    /// Chains each part's events, in order, after the head inside `tx`, folds them into the
    /// views and commits; returns each part's records. One commit, one flush, for all parts
    /// (see `group`).
    fn commit_parts(
        &self,
        tx: redb::WriteTransaction,
        parts: Vec<(&Author, Vec<Event>)>,
    ) -> Result<Vec<Vec<Record>>, StoreError> {
        let mut out = Vec::with_capacity(parts.len());
        let mut last = None;
        {
            let mut table = tx.open_table(EVENTS).map_err(self.err("opened"))?;
            let (mut seq, mut prev) = match table.last().map_err(self.err("read"))? {
                Some((k, v)) => {
                    let (_, h) = codec::split(v.value()).map_err(|source| StoreError::Codec {
                        seq: k.value(),
                        path: self.path.clone(),
                        source,
                    })?;
                    (k.value(), h)
                }
                None => (0, Hash::ZERO),
            };
            let now = now_ns();
            let mut views = views::Tables::open(&tx).map_err(self.err("opened"))?;
            let mut bytes = Vec::with_capacity(256);
            for (author, events) in parts {
                let mut records = Vec::with_capacity(events.len());
                for body in events {
                    seq += 1;
                    let envelope = Envelope {
                        seq,
                        time_ns: now,
                        actor: author.actor.clone(),
                        git: author.git.clone(),
                        lab_version: author.lab_version.clone(),
                        prev,
                        body,
                    };
                    let hash = codec::encode_into(&envelope, &mut bytes);
                    table
                        .insert(seq, bytes.as_slice())
                        .map_err(self.err("written"))?;
                    let rec = Record { envelope, hash };
                    views.apply(&rec).map_err(self.err("updated"))?;
                    prev = hash;
                    records.push(rec);
                }
                if records.last().is_some() {
                    last = Some((seq, prev));
                }
                out.push(records);
            }
            views.flush().map_err(self.err("updated"))?;
        }
        if let Err(e) = tx.commit() {
            let err = self.err("committed")(e);
            // A commit that failed may still have reached the file (a sync that failed after
            // the write): look with a fresh handle, so that a caller who retries never appends
            // the same events twice.
            if last.is_none() || self.head().ok() != last {
                return Err(err);
            }
        }
        if let Some((seq, hash)) = last {
            // Best effort: the events are committed; a record left behind is harmless.
            let _ = head::advance(&self.lab_dir, head::HeadRecord { seq, hash });
        }
        Ok(out)
    }

    /// The last entry's (seq, hash), or (0, ZERO) for an empty log.
    pub fn head(&self) -> Result<(u64, Hash), StoreError> {
        let r = self.db()?.begin_read().map_err(self.err("read"))?;
        let t = r.open_table(EVENTS).map_err(self.err("read"))?;
        match t.last().map_err(self.err("read"))? {
            Some((k, v)) => {
                let (_, h) = codec::split(v.value()).map_err(|source| StoreError::Codec {
                    seq: k.value(),
                    path: self.path.clone(),
                    source,
                })?;
                Ok((k.value(), h))
            }
            None => Ok((0, Hash::ZERO)),
        }
    }

    /// Calls `f` with each entry's seq and stored bytes from `from` on, in order, until it
    /// returns false. One read transaction: a consistent snapshot.
    pub fn scan_raw(
        &self,
        from: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let r = self.db()?.begin_read().map_err(self.err("read"))?;
        let t = r.open_table(EVENTS).map_err(self.err("read"))?;
        for item in t.range(from..).map_err(self.err("read"))? {
            let (k, v) = item.map_err(self.err("read"))?;
            if !f(k.value(), v.value())? {
                break;
            }
        }
        Ok(())
    }

    /// Decoded entries from `from` on (see `scan_raw`).
    pub fn scan(
        &self,
        from: u64,
        mut f: impl FnMut(Record) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.scan_raw(from, |seq, bytes| {
            let rec = codec::decode(bytes).map_err(|source| StoreError::Codec {
                seq,
                path: path.clone(),
                source,
            })?;
            f(rec)
        })
    }

    /// Entries in reverse order (newest first), until `f` returns false.
    pub fn scan_rev(
        &self,
        mut f: impl FnMut(Record) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let r = self.db()?.begin_read().map_err(self.err("read"))?;
        let t = r.open_table(EVENTS).map_err(self.err("read"))?;
        for item in t.range(0u64..).map_err(self.err("read"))?.rev() {
            let (k, v) = item.map_err(self.err("read"))?;
            let rec = codec::decode(v.value()).map_err(|source| StoreError::Codec {
                seq: k.value(),
                path: self.path.clone(),
                source,
            })?;
            if !f(rec)? {
                break;
            }
        }
        Ok(())
    }

    /// One entry by seq.
    pub fn get(&self, seq: u64) -> Result<Option<Record>, StoreError> {
        let r = self.db()?.begin_read().map_err(self.err("read"))?;
        let t = r.open_table(EVENTS).map_err(self.err("read"))?;
        match t.get(seq).map_err(self.err("read"))? {
            Some(v) => codec::decode(v.value())
                .map(Some)
                .map_err(|source| StoreError::Codec {
                    seq,
                    path: self.path.clone(),
                    source,
                }),
            None => Ok(None),
        }
    }

    /// Runs `f` against the views in one read transaction (a consistent snapshot).
    pub fn read_views<T>(
        &self,
        f: impl FnOnce(&views::ViewRead) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let r = self.db()?.begin_read().map_err(self.err("read"))?;
        f(&views::ViewRead::new(&r, self.path.clone()))
    }

    /// Drops every view and rebuilds it by folding the whole log, in one transaction.
    /// Returns the number of events folded.
    pub fn reindex(&self) -> Result<u64, StoreError> {
        let tx = self
            .db()?
            .begin_write()
            .map_err(self.err("opened for writing"))?;
        views::drop_all(&tx).map_err(self.err("cleared"))?;
        views::create_all(&tx).map_err(self.err("initialised"))?;
        let mut n = 0;
        {
            let events = tx.open_table(EVENTS).map_err(self.err("read"))?;
            let mut views = views::Tables::open(&tx).map_err(self.err("opened"))?;
            for item in events.range(0u64..).map_err(self.err("read"))? {
                let (k, v) = item.map_err(self.err("read"))?;
                let rec = codec::decode(v.value()).map_err(|source| StoreError::Codec {
                    seq: k.value(),
                    path: self.path.clone(),
                    source,
                })?;
                views.apply(&rec).map_err(self.err("rebuilt"))?;
                n += 1;
            }
            views.flush().map_err(self.err("rebuilt"))?;
        }
        tx.commit().map_err(self.err("committed"))?;
        Ok(n)
    }

    /// Every view's rows as (table, key, value bytes), for comparing live and rebuilt views.
    pub fn dump_views(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let r = self.db()?.begin_read().map_err(self.err("read"))?;
        views::dump(&r).map_err(self.err("read"))
    }
}

/// Opens (creating when missing) the log at `path` for any number of processes; a panic of
/// redb on a damaged file is an error naming it.
/// redb's page cache. Its default (1 GiB) keeps every page a long-lived process (`lab ui`,
/// `lab serve`) ever wrote in memory: logging a million metric points grew the heap by
/// hundreds of megabytes, each new page faulted in and zeroed. The operating system caches the
/// file anyway; this cache only needs the hot B-tree pages and a transaction's dirty ones.
/// Measured (`bench/ui_bench.sh`'s million-point phase, `lab bench store`): 32 MiB held ~55 MB
/// of `lab ui`'s resident memory and was no faster than 4–8 MiB at writing, reading a series
/// or snapshotting; with 8 MiB `lab ui` peaks at ~64 MB over a million points.
const CACHE_BYTES: usize = 8 << 20;

fn open_db(path: &Path) -> Result<Database, StoreError> {
    let open = || -> Result<Database, redb::DatabaseError> {
        Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .set_cache_size(CACHE_BYTES)
            .create_with_backend(backend::LogBackend::open(path)?)
    };
    guard::guard(open)
        .map_err(|detail| StoreError::Damaged {
            path: path.to_path_buf(),
            detail,
        })?
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// Unix time in nanoseconds.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
