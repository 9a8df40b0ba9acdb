//! The alerts view: every alert raised, with when (and whether) it was resolved, keyed by
//! (rule, seq of its `AlertRaised`). Folded from the log like every view (see `views`),
//! rebuilt by `lab reindex`. An `AlertResolved` closes the rule's open alert; the monitor
//! never raises a rule that has one open (`monitor::alerts`).

use redb::{ReadableTable, Table, TableDefinition};
use serde::{Deserialize, Serialize};

use super::codec::{from_bytes, to_bytes};
use crate::event::{Event, Record};

/// (rule, seq of the AlertRaised) → `AlertRow`.
pub(super) const ALERTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("view_alerts");

/// One alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    pub rule: String,
    pub metric: String,
    /// The metric's value when it was raised.
    pub value: f64,
    pub threshold: f64,
    /// `above` or `below`.
    pub condition: String,
    pub raised_seq: u64,
    pub raised_ns: i64,
    pub resolved_seq: Option<u64>,
    pub resolved_ns: Option<i64>,
}

impl AlertRow {
    pub fn is_open(&self) -> bool {
        self.resolved_seq.is_none()
    }
}

type AlertT<'t> = Table<'t, (&'static str, u64), &'static [u8]>;

/// Folds one event into the alerts view.
pub(super) fn fold(t: &mut AlertT, rec: &Record) -> Result<(), redb::Error> {
    let env = &rec.envelope;
    match &env.body {
        Event::AlertRaised {
            rule,
            metric,
            value,
            threshold,
            condition,
        } => {
            let row = AlertRow {
                rule: rule.clone(),
                metric: metric.clone(),
                value: *value,
                threshold: *threshold,
                condition: condition.clone(),
                raised_seq: env.seq,
                raised_ns: env.time_ns,
                resolved_seq: None,
                resolved_ns: None,
            };
            t.insert((rule.as_str(), env.seq), to_bytes(&row).as_slice())?;
        }
        Event::AlertResolved { rule } => {
            let mut open = Vec::new();
            for item in t.range((rule.as_str(), 0u64)..=(rule.as_str(), u64::MAX))? {
                let (_, v) = item?;
                if let Ok(row) = from_bytes::<AlertRow>(v.value()) {
                    if row.is_open() {
                        open.push(row);
                    }
                }
            }
            for mut row in open {
                row.resolved_seq = Some(env.seq);
                row.resolved_ns = Some(env.time_ns);
                t.insert((rule.as_str(), row.raised_seq), to_bytes(&row).as_slice())?;
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

    fn author() -> Author {
        Author {
            actor: "test".into(),
            git: GitState::NoRepo,
            lab_version: "0".into(),
        }
    }

    fn raised(rule: &str, value: f64) -> Event {
        Event::AlertRaised {
            rule: rule.into(),
            metric: "drift".into(),
            value,
            threshold: 0.1,
            condition: "above".into(),
        }
    }

    #[test]
    fn raised_and_resolved_alerts_fold_and_rebuild_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let resolved = |rule: &str| Event::AlertResolved { rule: rule.into() };
        s.append(
            &author(),
            vec![
                raised("drift_detected", 0.3),
                raised("latency_increase", 0.9),
                resolved("drift_detected"),
                raised("drift_detected", 0.4),
                // Resolving a rule with nothing open changes nothing.
                resolved("accuracy_drop"),
            ],
        )
        .unwrap();
        let rows = s.read_views(|v| v.alerts()).unwrap();
        let summary: Vec<(&str, u64, Option<u64>)> = rows
            .iter()
            .map(|r| (r.rule.as_str(), r.raised_seq, r.resolved_seq))
            .collect();
        assert_eq!(
            summary,
            [
                ("drift_detected", 1, Some(3)),
                ("drift_detected", 4, None),
                ("latency_increase", 2, None),
            ]
        );
        assert_eq!(rows[1].value, 0.4);
        let open: Vec<String> = s
            .append_with(&author(), |v| Ok((Vec::new(), v.open_alerts()?)))
            .unwrap()
            .1
            .into_iter()
            .map(|r| r.rule)
            .collect();
        assert_eq!(open, ["drift_detected", "latency_increase"]);
        let live = s.dump_views().unwrap();
        s.reindex().unwrap();
        assert_eq!(s.dump_views().unwrap(), live);
    }
}
