//! The A/B tests view: one row per test name, from `AbStarted` (arms, split, metrics, seed) and
//! `AbConcluded` (winner, whether it was promoted). Folded from the log like every view (see
//! `views`), rebuilt by `lab reindex`. `lab serve` re-reads it to route requests of a running
//! test; `lab ab ls|results|stop` read it.

use redb::{ReadableTable, Table, TableDefinition};
use serde::{Deserialize, Serialize};

use super::codec::{from_bytes, to_bytes};
use crate::event::{Event, Record};

/// test name → `AbRow`.
pub(super) const AB: TableDefinition<&str, &[u8]> = TableDefinition::new("view_ab");

/// How a test ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbEnd {
    pub seq: u64,
    pub time_ns: i64,
    /// The winning arm's model (`NAME@N` or `ocr_tesseract`), `None` without a winner.
    pub winner: Option<String>,
    pub promoted: bool,
}

/// One A/B test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbRow {
    pub name: String,
    /// Arm a's model: `NAME@N` or `ocr_tesseract`.
    pub a: String,
    /// Arm b's model.
    pub b: String,
    /// The fraction of requests routed to b.
    pub split: f64,
    pub metrics: Vec<String>,
    pub seed: u64,
    /// The `AbStarted` event.
    pub seq: u64,
    pub time_ns: i64,
    /// `None` while the test runs.
    pub ended: Option<AbEnd>,
}

impl AbRow {
    pub fn running(&self) -> bool {
        self.ended.is_none()
    }
}

type AbT<'t> = Table<'t, &'static str, &'static [u8]>;

/// Folds one event into the A/B view.
pub(super) fn fold(t: &mut AbT, rec: &Record) -> Result<(), redb::Error> {
    let env = &rec.envelope;
    match &env.body {
        Event::AbStarted {
            name,
            a,
            b,
            split,
            metrics,
            seed,
        } => {
            // First writer wins: a name is never reused (`lab ab start` refuses it).
            let taken = t.get(name.as_str())?.is_some();
            if !taken {
                let row = AbRow {
                    name: name.clone(),
                    a: a.clone(),
                    b: b.clone(),
                    split: *split,
                    metrics: metrics.clone(),
                    seed: *seed,
                    seq: env.seq,
                    time_ns: env.time_ns,
                    ended: None,
                };
                t.insert(name.as_str(), to_bytes(&row).as_slice())?;
            }
        }
        Event::AbConcluded {
            name,
            winner,
            promoted,
        } => {
            let old: Option<AbRow> = match t.get(name.as_str())? {
                Some(v) => from_bytes(v.value()).ok(),
                None => None,
            };
            if let Some(mut row) = old.filter(|r| r.running()) {
                row.ended = Some(AbEnd {
                    seq: env.seq,
                    time_ns: env.time_ns,
                    winner: winner.clone(),
                    promoted: *promoted,
                });
                t.insert(name.as_str(), to_bytes(&row).as_slice())?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::event::{Event, GitState};
    use crate::store::views::Query;
    use crate::store::{Author, Store};

    #[test]
    fn tests_start_conclude_once_and_rebuild_equal() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let author = Author {
            actor: "t".into(),
            git: GitState::NoRepo,
            lab_version: "0".into(),
        };
        let start = |name: &str, a: &str| Event::AbStarted {
            name: name.into(),
            a: a.into(),
            b: "ocr@2".into(),
            split: 0.5,
            metrics: vec!["accuracy".into()],
            seed: 9,
        };
        let end = |winner: Option<&str>| Event::AbConcluded {
            name: "t1".into(),
            winner: winner.map(String::from),
            promoted: false,
        };
        s.append(
            &author,
            vec![
                start("t1", "ocr@1"),
                // A reused name does not overwrite the first test.
                start("t1", "other@1"),
                start("t2", "ocr@1"),
                end(Some("ocr@2")),
                // A second conclusion changes nothing.
                end(None),
            ],
        )
        .unwrap();
        let rows = s.read_views(|v| v.ab_tests()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].a, "ocr@1");
        let e = rows[0].ended.as_ref().expect("t1 concluded");
        assert_eq!(e.winner.as_deref(), Some("ocr@2"));
        assert!(rows[1].running());
        let live = s.dump_views().unwrap();
        s.reindex().unwrap();
        assert_eq!(s.dump_views().unwrap(), live);
    }
}
