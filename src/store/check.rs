//! Checking the views against the log (for `lab verify`): the whole log is folded into fresh
//! views in a scratch, in-memory database, and those are compared with the live views row by
//! row. The views are a cache of the log, so any difference is damage (or a bug) that
//! `lab reindex` cures.

use std::collections::BTreeMap;

use redb::{Database, ReadableDatabase};

use super::{Store, StoreError, guard, views};

/// Differences listed per view before the rest is summarised.
const SHOWN_PER_VIEW: usize = 3;

type Rows = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

fn by_view(rows: Vec<(String, String, Vec<u8>)>) -> Rows {
    let mut out: Rows = BTreeMap::new();
    for (table, key, value) in rows {
        out.entry(table).or_default().insert(key, value);
    }
    out
}

impl Store {
    /// The views as folding the log makes them, from a scratch in-memory database.
    fn rebuilt_views(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let scratch = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(self.err("rebuilt in memory"))?;
        let tx = scratch
            .begin_write()
            .map_err(self.err("rebuilt in memory"))?;
        views::create_all(&tx).map_err(self.err("rebuilt in memory"))?;
        {
            let mut tables = views::Tables::open(&tx).map_err(self.err("rebuilt in memory"))?;
            let err = self.err("rebuilt in memory");
            self.scan(1, |rec| {
                tables.apply(&rec).map_err(&err)?;
                Ok(true)
            })?;
            tables.flush().map_err(self.err("rebuilt in memory"))?;
        }
        tx.commit().map_err(self.err("rebuilt in memory"))?;
        let r = scratch
            .begin_read()
            .map_err(self.err("rebuilt in memory"))?;
        views::dump(&r).map_err(self.err("rebuilt in memory"))
    }

    /// Compares the live views with the log folded afresh. Returns one line per problem
    /// (empty: the views agree with the log). A live view that cannot be read (damaged pages,
    /// a panic inside redb) is a problem too, not an error.
    pub fn check_views(&self) -> Result<Vec<String>, StoreError> {
        let rebuilt = by_view(self.rebuilt_views()?);
        let cure = "run `lab reindex` to rebuild the views from the log";
        let live = match guard::guard(|| self.dump_views()) {
            Ok(Ok(rows)) => by_view(rows),
            Ok(Err(e)) => return Ok(vec![format!("the views are unreadable ({e}) — {cure}")]),
            Err(detail) => {
                return Ok(vec![format!(
                    "the views in {} are damaged ({detail}) — {cure}",
                    self.path.display()
                )]);
            }
        };
        let empty = BTreeMap::new();
        let mut problems = Vec::new();
        let names: std::collections::BTreeSet<&String> =
            live.keys().chain(rebuilt.keys()).collect();
        for view in names {
            let (l, r) = (
                live.get(view).unwrap_or(&empty),
                rebuilt.get(view).unwrap_or(&empty),
            );
            let mut diffs = Vec::new();
            for (k, v) in r {
                match l.get(k) {
                    None => diffs.push(format!("row {k} is missing")),
                    Some(lv) if lv != v => diffs.push(format!("row {k} differs from the log")),
                    Some(_) => {}
                }
            }
            for k in l.keys().filter(|k| !r.contains_key(*k)) {
                diffs.push(format!("row {k} is not in the log"));
            }
            if diffs.is_empty() {
                continue;
            }
            let more = diffs.len().saturating_sub(SHOWN_PER_VIEW);
            let mut line = format!("view `{view}`: ");
            line.push_str(&diffs[..diffs.len().min(SHOWN_PER_VIEW)].join("; "));
            if more > 0 {
                line.push_str(&format!(" (and {more} more)"));
            }
            line.push_str(&format!(" — {cure}"));
            problems.push(line);
        }
        Ok(problems)
    }
}
