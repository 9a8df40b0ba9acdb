//! Views: redb tables folded from the log, written in the same transaction as the event that
//! changes them. A view is a cache — `Store::reindex` drops and rebuilds every one of them from
//! the log, and a test proves the rebuilt views equal the live ones byte for byte.
//!
//! This file is the write side (table definitions, rows, the folds); `query` is the read side.
//! To add a view: a table definition, a line in `ALL`, a fold in `Tables::apply`, and readers
//! in `Query` (`query.rs`). Row encodings use `codec::to_bytes`.

use std::collections::{BTreeMap, HashMap};

use redb::{
    ReadTransaction, ReadableTable, Table, TableDefinition, TableError, TableHandle,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};

use super::codec::{from_bytes, to_bytes};
use crate::event::{DataRef, Event, GitState, Hash, MetricPoint, Record, RunId, RunStatus};

/// (dataset name, version) → `DatasetRow`.
const DATASETS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("view_datasets");
/// run id → `RunRow`.
const RUNS: TableDefinition<&str, &[u8]> = TableDefinition::new("view_runs");
/// (run id, metric key, seq of the event) → packed points (see `pack`).
const METRICS: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("view_metrics");

use super::alerts::ALERTS;
use super::inferences::{FEEDBACK, INFERENCES};
use super::registry::{DEPLOYMENTS, REGISTRY};

use super::ab::AB;

mod query;
pub use query::{DatasetsTable, Query, ViewRead, ViewTx};
pub(super) use query::{decode_row, rerr};

const ALL: [&str; 9] = [
    "view_datasets",
    "view_runs",
    "view_metrics",
    "view_registry",
    "view_deployments",
    "view_alerts",
    "view_inferences",
    "view_feedback",
    "view_ab",
];

/// One dataset snapshot version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetRow {
    pub name: String,
    pub version: u32,
    pub seq: u64,
    pub time_ns: i64,
    pub root: String,
    pub files: u64,
    pub bytes: u64,
    pub manifest: Hash,
}

/// One run, as the runs view holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub id: RunId,
    pub name: String,
    pub experiment: String,
    pub recipe: String,
    pub status: RunStatus,
    pub params: BTreeMap<String, String>,
    pub inputs: Vec<DataRef>,
    pub outputs: Vec<DataRef>,
    pub artifacts: Vec<DataRef>,
    pub seed: Option<u64>,
    pub pid: u32,
    pub host: String,
    pub pid_start: u64,
    pub started_seq: u64,
    pub started_ns: i64,
    pub finished_ns: Option<i64>,
    pub git: GitState,
    pub error: Option<String>,
    /// Per metric key: the point with the highest step (the last logged on ties).
    pub latest: BTreeMap<String, MetricPoint>,
}

const POINT: usize = 24;

/// Packs points as little-endian (step i64, value f64, time_ms i64) triples.
#[cfg(test)]
fn pack(points: &[MetricPoint]) -> Vec<u8> {
    let mut out = Vec::new();
    pack_into(points, &mut out);
    out
}

/// [`pack`] into `out` (cleared first).
fn pack_into(points: &[MetricPoint], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(points.len() * POINT);
    for p in points {
        out.extend_from_slice(&p.step.to_le_bytes());
        out.extend_from_slice(&p.value.to_bits().to_le_bytes());
        out.extend_from_slice(&p.time_ms.to_le_bytes());
    }
}

fn unpack_into(bytes: &[u8], out: &mut Vec<MetricPoint>) {
    out.reserve(bytes.len() / POINT);
    for c in bytes.chunks_exact(POINT) {
        out.push(MetricPoint {
            step: i64::from_le_bytes(c[0..8].try_into().unwrap()),
            value: f64::from_bits(u64::from_le_bytes(c[8..16].try_into().unwrap())),
            time_ms: i64::from_le_bytes(c[16..24].try_into().unwrap()),
        });
    }
}

pub(super) fn create_all(tx: &WriteTransaction) -> Result<(), TableError> {
    tx.open_table(DATASETS)?;
    tx.open_table(RUNS)?;
    tx.open_table(METRICS)?;
    tx.open_table(REGISTRY)?;
    tx.open_table(DEPLOYMENTS)?;
    tx.open_table(ALERTS)?;
    tx.open_table(INFERENCES)?;
    tx.open_table(FEEDBACK)?;
    tx.open_table(AB)?;
    Ok(())
}

pub(super) fn all_exist(r: &ReadTransaction) -> bool {
    r.open_table(DATASETS).is_ok()
        && r.open_table(RUNS).is_ok()
        && r.open_table(METRICS).is_ok()
        && r.open_table(REGISTRY).is_ok()
        && r.open_table(DEPLOYMENTS).is_ok()
        && r.open_table(ALERTS).is_ok()
        && r.open_table(INFERENCES).is_ok()
        && r.open_table(FEEDBACK).is_ok()
        && r.open_table(AB).is_ok()
}

pub(super) fn drop_all(tx: &WriteTransaction) -> Result<(), TableError> {
    tx.delete_table(DATASETS)?;
    tx.delete_table(RUNS)?;
    tx.delete_table(METRICS)?;
    tx.delete_table(REGISTRY)?;
    tx.delete_table(DEPLOYMENTS)?;
    tx.delete_table(ALERTS)?;
    tx.delete_table(INFERENCES)?;
    tx.delete_table(FEEDBACK)?;
    tx.delete_table(AB)?;
    Ok(())
}

/// Every row of every view, for byte-for-byte comparison.
pub(super) fn dump(r: &ReadTransaction) -> Result<Vec<(String, String, Vec<u8>)>, redb::Error> {
    let mut out = Vec::new();
    let t = r.open_table(DATASETS)?;
    for item in t.iter()? {
        let (k, v) = item?;
        out.push((
            DATASETS.name().to_string(),
            format!("{:?}", k.value()),
            v.value().to_vec(),
        ));
    }
    let t = r.open_table(RUNS)?;
    for item in t.iter()? {
        let (k, v) = item?;
        out.push((
            RUNS.name().to_string(),
            format!("{:?}", k.value()),
            v.value().to_vec(),
        ));
    }
    let t = r.open_table(METRICS)?;
    for item in t.iter()? {
        let (k, v) = item?;
        out.push((
            METRICS.name().to_string(),
            format!("{:?}", k.value()),
            v.value().to_vec(),
        ));
    }
    let t = r.open_table(REGISTRY)?;
    for item in t.iter()? {
        let (k, v) = item?;
        out.push((
            REGISTRY.name().to_string(),
            format!("{:?}", k.value()),
            v.value().to_vec(),
        ));
    }
    let t = r.open_table(DEPLOYMENTS)?;
    for item in t.iter()? {
        let (k, v) = item?;
        out.push((
            DEPLOYMENTS.name().to_string(),
            format!("{:?}", k.value()),
            v.value().to_vec(),
        ));
    }
    let t = r.open_table(ALERTS)?;
    for item in t.iter()? {
        let (k, v) = item?;
        out.push((
            ALERTS.name().to_string(),
            format!("{:?}", k.value()),
            v.value().to_vec(),
        ));
    }
    let t = r.open_table(AB)?;
    for item in t.iter()? {
        let (k, v) = item?;
        out.push((
            AB.name().to_string(),
            format!("{:?}", k.value()),
            v.value().to_vec(),
        ));
    }
    for def in [INFERENCES, FEEDBACK] {
        let t = r.open_table(def)?;
        for item in t.iter()? {
            let (k, v) = item?;
            out.push((
                def.name().to_string(),
                format!("{:?}", k.value()),
                v.value().to_vec(),
            ));
        }
    }
    debug_assert_eq!(ALL.len(), 9);
    Ok(out)
}

/// The views opened for writing inside an append transaction.
///
/// Run rows are read and changed in memory (`runs_cache`) and written once, by
/// [`Tables::flush`], before the transaction commits: a batch of 1,000 metric events on one run
/// decodes and re-encodes its row once, not 1,000 times. The rows written are the same.
pub(super) struct Tables<'txn> {
    datasets: Table<'txn, (&'static str, u32), &'static [u8]>,
    runs: Table<'txn, &'static str, &'static [u8]>,
    metrics: Table<'txn, (&'static str, &'static str, u64), &'static [u8]>,
    registry: Table<'txn, (&'static str, u32), &'static [u8]>,
    deployments: Table<'txn, (&'static str, &'static str), &'static [u8]>,
    alerts: Table<'txn, (&'static str, u64), &'static [u8]>,
    inferences: Table<'txn, (i64, u64, u32), &'static [u8]>,
    feedback: Table<'txn, (i64, u64, u32), &'static [u8]>,
    ab: Table<'txn, &'static str, &'static [u8]>,
    /// run id → (row, or None when the run does not exist; whether it changed).
    runs_cache: HashMap<String, (Option<RunRow>, bool)>,
    /// Reused for packing metric points.
    packed: Vec<u8>,
}

impl<'txn> Tables<'txn> {
    pub(super) fn open(tx: &'txn WriteTransaction) -> Result<Tables<'txn>, TableError> {
        Ok(Tables {
            datasets: tx.open_table(DATASETS)?,
            runs: tx.open_table(RUNS)?,
            metrics: tx.open_table(METRICS)?,
            registry: tx.open_table(REGISTRY)?,
            deployments: tx.open_table(DEPLOYMENTS)?,
            alerts: tx.open_table(ALERTS)?,
            inferences: tx.open_table(INFERENCES)?,
            feedback: tx.open_table(FEEDBACK)?,
            ab: tx.open_table(AB)?,
            runs_cache: HashMap::new(),
            packed: Vec::new(),
        })
    }

    /// The row of run `id`, loaded into the cache on first use.
    fn run(&mut self, id: &str) -> Result<Option<&mut RunRow>, redb::Error> {
        if !self.runs_cache.contains_key(id) {
            let row = match self.runs.get(id)? {
                Some(v) => from_bytes(v.value()).ok(),
                None => None,
            };
            self.runs_cache.insert(id.to_string(), (row, false));
        }
        let (row, dirty) = self.runs_cache.get_mut(id).expect("just inserted");
        if row.is_some() {
            *dirty = true;
        }
        Ok(row.as_mut())
    }

    fn put_run(&mut self, row: RunRow) {
        self.runs_cache.insert(row.id.clone(), (Some(row), true));
    }

    /// Writes the changed run rows. Must run before the transaction commits.
    pub(super) fn flush(&mut self) -> Result<(), redb::Error> {
        for (id, (row, dirty)) in self.runs_cache.drain() {
            if let (Some(row), true) = (row, dirty) {
                self.runs.insert(id.as_str(), to_bytes(&row).as_slice())?;
            }
        }
        Ok(())
    }

    /// Folds one event into the views.
    pub(super) fn apply(&mut self, rec: &Record) -> Result<(), redb::Error> {
        let env = &rec.envelope;
        match &env.body {
            Event::DatasetSnapshotted {
                name,
                version,
                root,
                files,
                bytes,
                manifest,
            } => {
                let row = DatasetRow {
                    name: name.clone(),
                    version: *version,
                    seq: env.seq,
                    time_ns: env.time_ns,
                    root: root.clone(),
                    files: *files,
                    bytes: *bytes,
                    manifest: *manifest,
                };
                self.datasets
                    .insert((name.as_str(), *version), to_bytes(&row).as_slice())?;
            }
            Event::RunStarted {
                run,
                name,
                experiment,
                recipe,
                params,
                inputs,
                seed,
                pid,
                host,
                pid_start,
            } => {
                let row = RunRow {
                    id: run.clone(),
                    name: name.clone(),
                    experiment: experiment.clone(),
                    recipe: recipe.clone(),
                    status: RunStatus::Running,
                    params: params.clone(),
                    inputs: inputs.clone(),
                    outputs: Vec::new(),
                    artifacts: Vec::new(),
                    seed: *seed,
                    pid: *pid,
                    host: host.clone(),
                    pid_start: *pid_start,
                    started_seq: env.seq,
                    started_ns: env.time_ns,
                    finished_ns: None,
                    git: env.git.clone(),
                    error: None,
                    latest: BTreeMap::new(),
                };
                self.put_run(row);
            }
            Event::MetricsLogged { run, metrics } => {
                for batch in metrics {
                    if batch.points.is_empty() {
                        continue;
                    }
                    pack_into(&batch.points, &mut self.packed);
                    self.metrics.insert(
                        (run.as_str(), batch.key.as_str(), env.seq),
                        self.packed.as_slice(),
                    )?;
                }
                if let Some(row) = self.run(run)? {
                    for batch in metrics {
                        let Some(best) = batch
                            .points
                            .iter()
                            .copied()
                            .reduce(|a, b| if b.step >= a.step { b } else { a })
                        else {
                            continue;
                        };
                        match row.latest.get_mut(&batch.key) {
                            Some(e) if best.step >= e.step => *e = best,
                            Some(_) => {}
                            None => {
                                row.latest.insert(batch.key.clone(), best);
                            }
                        }
                    }
                }
            }
            Event::ArtifactLogged {
                run, path, hash, ..
            } => {
                if let Some(row) = self.run(run)? {
                    row.artifacts.push(DataRef {
                        role: "artifact".into(),
                        name: path.clone(),
                        hash: *hash,
                    });
                }
            }
            Event::RunFinished {
                run,
                status,
                outputs,
                error,
            } => {
                if let Some(row) = self.run(run)? {
                    row.status = *status;
                    row.outputs.extend(outputs.iter().cloned());
                    row.error = error.clone();
                    row.finished_ns = Some(env.time_ns);
                }
            }
            Event::RunUpdated {
                run, params, attrs, ..
            } => {
                if let Some(row) = self.run(run)? {
                    row.params
                        .extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));
                    if let Some(n) = attrs.get("run_name") {
                        row.name = n.clone();
                    }
                    if let Some(refs) = attrs.get(crate::event::LAB_INPUTS_ATTR) {
                        for d in serde_json::from_str::<Vec<DataRef>>(refs).unwrap_or_default() {
                            if !row.inputs.contains(&d) {
                                row.inputs.push(d);
                            }
                        }
                    }
                }
            }
            Event::ArtifactDeleted { run, path } => {
                if let Some(row) = self.run(run)? {
                    let under = format!("{path}/");
                    row.artifacts
                        .retain(|a| a.name != *path && !a.name.starts_with(&under));
                }
            }
            _ => {}
        }
        super::registry::fold(&mut self.registry, &mut self.deployments, rec)?;
        super::alerts::fold(&mut self.alerts, rec)?;
        super::inferences::fold(&mut self.inferences, &mut self.feedback, rec)?;
        super::ab::fold(&mut self.ab, rec)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trip() {
        let pts = vec![
            MetricPoint {
                step: -1,
                value: f64::NAN,
                time_ms: 5,
            },
            MetricPoint {
                step: 7,
                value: 0.25,
                time_ms: i64::MAX,
            },
        ];
        let mut out = Vec::new();
        unpack_into(&pack(&pts), &mut out);
        assert_eq!(out.len(), 2);
        assert!(out[0].value.is_nan());
        assert_eq!(out[1], pts[1]);
    }
}
