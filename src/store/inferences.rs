//! The window index of served inferences and their feedback: every `InferenceRecord` and
//! `FeedbackRecord` keyed by (its time in ms, seq of the event, index in the batch), so a
//! monitor reads the records of a time window with one range scan instead of folding the
//! log. Folded from the log like every view (see `views`), rebuilt by `lab reindex`.

use redb::{Table, TableDefinition};

use super::StoreError;
use super::codec::to_bytes;
use super::views::{ViewRead, decode_row, rerr};
use crate::event::{Event, FeedbackRecord, InferenceRecord, Record};

/// (time_ms, seq, index) → `InferenceRecord`.
pub(super) const INFERENCES: TableDefinition<(i64, u64, u32), &[u8]> =
    TableDefinition::new("view_inferences");
/// (time_ms, seq, index) → `FeedbackRecord`.
pub(super) const FEEDBACK: TableDefinition<(i64, u64, u32), &[u8]> =
    TableDefinition::new("view_feedback");

type WinT<'t> = Table<'t, (i64, u64, u32), &'static [u8]>;

/// Folds one event into the window indexes.
pub(super) fn fold(inf: &mut WinT, fb: &mut WinT, rec: &Record) -> Result<(), redb::Error> {
    let seq = rec.envelope.seq;
    match &rec.envelope.body {
        Event::InferencesRecorded { records } => {
            for (i, r) in records.iter().enumerate() {
                inf.insert((r.time_ms, seq, i as u32), to_bytes(r).as_slice())?;
            }
        }
        Event::FeedbackRecorded { records } => {
            for (i, r) in records.iter().enumerate() {
                fb.insert((r.time_ms, seq, i as u32), to_bytes(r).as_slice())?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn between<T: serde::de::DeserializeOwned>(
    v: &ViewRead,
    def: TableDefinition<'static, (i64, u64, u32), &'static [u8]>,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<T>, StoreError> {
    let e = rerr(v.path());
    let t = v.tx().open_table(def).map_err(|x| e(x.into()))?;
    let mut out = Vec::new();
    if from_ms > to_ms {
        return Ok(out);
    }
    for item in t
        .range((from_ms, 0u64, 0u32)..=(to_ms, u64::MAX, u32::MAX))
        .map_err(|x| e(x.into()))?
    {
        let (_, val) = item.map_err(|x| e(x.into()))?;
        out.push(decode_row(val.value(), v.path())?);
    }
    Ok(out)
}

impl ViewRead<'_> {
    /// The inferences recorded with `from_ms <= time_ms <= to_ms`, oldest first.
    pub fn inferences_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<InferenceRecord>, StoreError> {
        between(self, INFERENCES, from_ms, to_ms)
    }

    /// The feedback recorded with `from_ms <= time_ms <= to_ms`, oldest first.
    pub fn feedback_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<FeedbackRecord>, StoreError> {
        between(self, FEEDBACK, from_ms, to_ms)
    }
}

#[cfg(test)]
mod tests {
    use crate::event::{Event, FeedbackRecord, GitState, InferenceRecord};
    use crate::store::{Author, Store};

    fn rec(id: &str, time_ms: i64) -> InferenceRecord {
        InferenceRecord {
            request_id: id.into(),
            model: "ocr".into(),
            version: 1,
            arm: None,
            time_ms,
            latency_us: 10,
            features: Default::default(),
            confidence: None,
        }
    }

    #[test]
    fn a_window_reads_only_its_records_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let author = Author {
            actor: "t".into(),
            git: GitState::NoRepo,
            lab_version: "0".into(),
        };
        s.append(
            &author,
            vec![
                Event::InferencesRecorded {
                    records: vec![rec("a", 100), rec("b", 300), rec("c", 200)],
                },
                Event::InferencesRecorded {
                    records: vec![rec("d", 150)],
                },
                Event::FeedbackRecorded {
                    records: vec![FeedbackRecord {
                        request_id: "a".into(),
                        model: "ocr".into(),
                        version: 1,
                        arm: None,
                        time_ms: 250,
                        prediction: "x".into(),
                        truth: "x".into(),
                        correct: true,
                    }],
                },
            ],
        )
        .unwrap();
        let (ids, fb) = s
            .read_views(|v| {
                let ids: Vec<String> = v
                    .inferences_between(150, 300)?
                    .into_iter()
                    .map(|r| r.request_id)
                    .collect();
                Ok((ids, v.feedback_between(0, 240)?.len()))
            })
            .unwrap();
        assert_eq!(ids, ["d", "c", "b"]);
        assert_eq!(fb, 0);
        let live = s.dump_views().unwrap();
        s.reindex().unwrap();
        assert_eq!(s.dump_views().unwrap(), live);
    }
}
