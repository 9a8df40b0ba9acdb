//! `lab runs ls|show|diff` and `lab metrics RUN KEY`.

pub mod artifacts;
mod diff;
pub use diff::{DiffOut, diff, diff_text};

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::tracking::filter::{Entity, Field};

use crate::event::{MetricPoint, RunStatus};
use crate::lab::{Lab, run_process_dead};
use crate::store::RunRow;
use crate::store::views::Query;
use crate::table::Table;

use super::log::fmt_time;

/// A run's status as people should see it: a `running` run whose process is gone is `killed`.
pub fn effective_status(r: &RunRow) -> RunStatus {
    if r.status == RunStatus::Running && run_process_dead(&r.host, r.pid, r.pid_start) {
        RunStatus::Killed
    } else {
        r.status
    }
}

/// A run row with its effective status, for output.
#[derive(Debug, Serialize)]
pub struct RunOut {
    #[serde(flatten)]
    pub row: RunRow,
    pub effective_status: RunStatus,
    pub duration_s: Option<f64>,
    /// The run's tags (MLflow's, and those lab derives: `mlflow.runName`, `lab.recipe`, …),
    /// read only when a filter, sort or column names one.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

fn out(row: RunRow) -> RunOut {
    let status = effective_status(&row);
    let duration_s = row
        .finished_ns
        .map(|f| (f - row.started_ns) as f64 / 1e9)
        .or_else(|| {
            (status == RunStatus::Running)
                .then(|| (crate::store::now_ns() - row.started_ns) as f64 / 1e9)
        });
    RunOut {
        row,
        effective_status: status,
        duration_s,
        tags: BTreeMap::new(),
    }
}

/// One column of `lab runs ls --columns`: an attribute (`name`, `status`…), `params.KEY`,
/// `metrics.KEY` or `tags.KEY`, in the syntax of `--filter`.
#[derive(Clone, Debug)]
pub struct Column {
    pub entity: Entity,
    pub key: String,
    /// The header: the key as `--filter` spells it (`params.lr`, `status`).
    pub label: String,
}

/// The attributes a column may show, as `--columns` takes them.
const ATTRS: &[&str] = &[
    "id",
    "run_id",
    "name",
    "run_name",
    "experiment",
    "recipe",
    "status",
    "start_time",
    "end_time",
    "duration",
];

/// Parses `--columns name,status,params.lr,metrics.val_accuracy,tags.x`.
pub fn parse_columns(list: &str) -> Result<Vec<Column>> {
    let keys =
        crate::tracking::filter::parse_keys(list).map_err(|e| anyhow::anyhow!("--columns: {e}"))?;
    let mut out = Vec::new();
    for (entity, key, label) in keys {
        match entity {
            Entity::Dataset => bail!(
                "--columns: `{label}`: datasets are not a column — use an attribute ({}), params.KEY, metrics.KEY or tags.KEY",
                ATTRS.join(", ")
            ),
            Entity::Attr if !ATTRS.contains(&key.as_str()) => bail!(
                "--columns: `{label}` is not an attribute of a run — attributes: {}; or give params.KEY, metrics.KEY, tags.KEY",
                ATTRS.join(", ")
            ),
            _ => {}
        }
        out.push(Column { entity, key, label });
    }
    Ok(out)
}

/// What run `r` holds in column `c`, as JSON (null when it has nothing there): numbers for
/// metrics, times (ms since the epoch) and the duration (seconds), strings otherwise.
pub fn column_value(r: &RunOut, c: &Column) -> serde_json::Value {
    use serde_json::Value;
    let row = &r.row;
    let s = |v: &str| Value::String(v.to_string());
    match c.entity {
        Entity::Metric => row
            .latest
            .get(&c.key)
            .map_or(Value::Null, |p| serde_json::json!(p.value)),
        Entity::Param => row.params.get(&c.key).map_or(Value::Null, |v| s(v)),
        Entity::Tag => r.tags.get(&c.key).map_or(Value::Null, |v| s(v)),
        Entity::Dataset => Value::Null,
        Entity::Attr => match c.key.as_str() {
            "id" | "run_id" => s(&row.id),
            "name" | "run_name" => s(&row.name),
            "experiment" => s(&row.experiment),
            "recipe" => s(&row.recipe),
            "status" => s(r.effective_status.as_str()),
            "start_time" => serde_json::json!(row.started_ns / 1_000_000),
            "end_time" => row
                .finished_ns
                .map_or(Value::Null, |t| serde_json::json!(t / 1_000_000)),
            "duration" => r.duration_s.map_or(Value::Null, |d| serde_json::json!(d)),
            _ => Value::Null,
        },
    }
}

/// One run's chosen columns: a JSON object whose keys keep the order asked for.
#[derive(Debug)]
pub struct ColumnsRow(pub Vec<(String, serde_json::Value)>);

impl Serialize for ColumnsRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// The chosen columns of each run, one JSON object per run keyed by the columns' headers.
pub fn columns_json(runs: &[RunOut], cols: &[Column]) -> Vec<ColumnsRow> {
    runs.iter()
        .map(|r| {
            ColumnsRow(
                cols.iter()
                    .map(|c| (c.label.clone(), column_value(r, c)))
                    .collect(),
            )
        })
        .collect()
}

/// The chosen columns as a table: a header of the keys, `-` where a run has nothing.
pub fn columns_text(runs: &[RunOut], cols: &[Column]) -> String {
    if runs.is_empty() {
        return "no runs yet".into();
    }
    let cell = |r: &RunOut, c: &Column| -> String {
        match (c.entity, c.key.as_str()) {
            (Entity::Attr, "id" | "run_id") => r.row.id[..8.min(r.row.id.len())].to_string(),
            (Entity::Attr, "start_time") => fmt_time(r.row.started_ns),
            (Entity::Attr, "end_time") => r.row.finished_ns.map_or("-".into(), fmt_time),
            (Entity::Attr, "duration") => r.duration_s.map_or("-".into(), |d| format!("{d:.1}s")),
            _ => match column_value(r, c) {
                serde_json::Value::Null => "-".into(),
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => fmt_value(n.as_f64().unwrap_or(f64::NAN)),
                v => v.to_string(),
            },
        }
    };
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| cols.iter().map(|c| cell(r, c)).collect())
        .collect();
    let mut t = Table::new(cols.iter().map(|c| c.label.to_uppercase()));
    for r in rows {
        t.row(r);
    }
    t.render()
}

/// Every run's tags, as the MLflow view of the log has them (one pass over the log).
fn run_tags(lab: &Lab) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut st = crate::tracking::state::State::new();
    lab.store.scan(1, |rec| {
        st.apply(&rec);
        Ok(true)
    })?;
    Ok(st.runs.into_iter().map(|(id, r)| (id, r.tags)).collect())
}

/// Runs, newest first, optionally of one experiment, kept by `filter` and ordered by `sort`
/// (MLflow's search syntax, the same parser `lab ui` uses: `metrics.val_accuracy > 0.9 and
/// params.train.epochs = '4' and attributes.status = 'FINISHED'`; `metrics.val_loss ASC`).
pub fn list(
    lab: &Lab,
    experiment: Option<&str>,
    filter: Option<&str>,
    sort: Option<&str>,
    columns: &[Column],
) -> Result<Vec<RunOut>> {
    use crate::tracking::filter as f;
    let conds = match filter {
        Some(x) => f::parse(x).map_err(|e| anyhow::anyhow!("--filter: {e}"))?,
        None => Vec::new(),
    };
    let order = sort
        .map(f::parse_order)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--sort: {e}"))?;
    let mut rows = lab.store.read_views(|v| v.runs_all())?;
    if let Some(e) = experiment {
        rows.retain(|r| r.experiment == e);
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.started_seq));
    // Tags live in the MLflow view of the log: read only when something names one.
    let tags = if conds.iter().any(|c| c.entity == Entity::Tag)
        || order.as_ref().is_some_and(|o| o.entity == Entity::Tag)
        || columns.iter().any(|c| c.entity == Entity::Tag)
    {
        run_tags(lab)?
    } else {
        BTreeMap::new()
    };
    let with_tags = |row: RunRow| {
        let mut o = out(row);
        if let Some(t) = tags.get(&o.row.id) {
            o.tags = t.clone();
        }
        o
    };
    // Ties keep newest first.
    Ok(f::select(
        rows.into_iter().map(with_tags),
        &conds,
        order.as_slice(),
        field,
        f::matches,
        |a, b| b.row.started_seq.cmp(&a.row.started_seq),
    ))
}

/// What a run holds under `entity.key` for filtering and sorting: its last metric value, a
/// param, a tag (read when one is named), or an attribute (`status` as MLflow spells it, `run_name`/`name`, `run_id`,
/// `experiment`, `start_time` and `end_time` in ms).
fn field(r: &RunOut, entity: Entity, key: &str) -> Option<Field> {
    let row = &r.row;
    match entity {
        Entity::Metric => row.latest.get(key).map(|p| Field::Num(p.value)),
        Entity::Param => row.params.get(key).map(|v| Field::Str(v.clone())),
        Entity::Attr => match key {
            "status" => Some(Field::Str(r.effective_status.as_str().to_ascii_uppercase())),
            "run_name" | "name" => Some(Field::Str(row.name.clone())),
            "run_id" | "id" => Some(Field::Str(row.id.clone())),
            "experiment" => Some(Field::Str(row.experiment.clone())),
            "start_time" => Some(Field::Num((row.started_ns / 1_000_000) as f64)),
            "end_time" => row.finished_ns.map(|t| Field::Num((t / 1_000_000) as f64)),
            _ => None,
        },
        Entity::Tag => r.tags.get(key).map(|v| Field::Str(v.clone())),
        Entity::Dataset => None,
    }
}

pub fn list_text(runs: &[RunOut]) -> String {
    if runs.is_empty() {
        return "no runs yet".into();
    }
    let mut t = Table::new([
        "RUN",
        "NAME",
        "EXPERIMENT",
        "STATUS",
        "STARTED",
        "DURATION",
        "METRICS",
    ])
    .right(&[5]);
    for r in runs {
        let mut keys: Vec<(&String, f64)> =
            r.row.latest.iter().map(|(k, p)| (k, p.value)).collect();
        keys.sort_by_key(|(k, _)| (headline_rank(k), k.to_string()));
        let metrics: Vec<String> = keys
            .iter()
            .take(4)
            .map(|(k, v)| format!("{k}={}", fmt_value(*v)))
            .collect();
        t.row([
            r.row.id[..8.min(r.row.id.len())].to_string(),
            r.row.name.clone(),
            r.row.experiment.clone(),
            r.effective_status.as_str().to_string(),
            fmt_time(r.row.started_ns),
            r.duration_s.map(|d| format!("{d:.1}s")).unwrap_or_default(),
            metrics.join(" "),
        ]);
    }
    t.render()
}

/// Which metrics a listing shows first: validation and test scores, then losses, then the
/// rest (learning rate, throughput), alphabetically within each.
fn headline_rank(key: &str) -> u8 {
    if key.starts_with("val_") || key.starts_with("val.") || key.starts_with("test") {
        0
    } else if key.contains("accuracy") || key.contains("f1") || key.contains("cer") {
        1
    } else if key.contains("loss") {
        2
    } else {
        3
    }
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}

/// Finds a run by id, id prefix (≥ 4 characters) or name; a name that several runs carry is an
/// error listing them (newest first), not a silent choice of the newest.
pub fn find(lab: &Lab, what: &str) -> Result<RunRow> {
    if let Some(r) = lab.store.read_views(|v| v.run(what))? {
        return Ok(r);
    }
    let rows = lab.store.read_views(|v| v.runs_all())?;
    let by_prefix: Vec<&RunRow> = if what.len() >= 4 {
        rows.iter().filter(|r| r.id.starts_with(what)).collect()
    } else {
        Vec::new()
    };
    match by_prefix.len() {
        1 => return Ok(by_prefix[0].clone()),
        n if n > 1 => bail!("run id prefix `{what}` is ambiguous — give more characters"),
        _ => {}
    }
    let mut named: Vec<&RunRow> = rows.iter().filter(|r| r.name == what).collect();
    match named.len() {
        0 => {}
        1 => return Ok(named[0].clone()),
        n => {
            named.sort_by_key(|r| std::cmp::Reverse(r.started_seq));
            let list: Vec<String> = named
                .iter()
                .take(5)
                .map(|r| {
                    format!(
                        "{} ({}, {})",
                        &r.id[..8.min(r.id.len())],
                        fmt_time(r.started_ns),
                        out((*r).clone()).effective_status.as_str()
                    )
                })
                .collect();
            bail!(
                "`{what}` names {n} runs — give a run id (or a prefix of 4+ characters): {}{}",
                list.join(", "),
                if n > 5 { ", … (lab runs ls)" } else { "" }
            );
        }
    }
    bail!("no run `{what}` (by id, id prefix or name) — see `lab runs ls`")
}

pub fn show(lab: &Lab, what: &str) -> Result<RunOut> {
    Ok(out(find(lab, what)?))
}

pub fn show_text(r: &RunOut) -> String {
    let row = &r.row;
    let mut s = format!(
        "run {}\nname        {}\nexperiment  {}\nrecipe      {}\nstatus      {}\nstarted     {} (event #{})\nduration    {}\nseed        {}\nprocess     pid {} on {}\n",
        row.id,
        row.name,
        row.experiment,
        row.recipe,
        r.effective_status.as_str(),
        fmt_time(row.started_ns),
        row.started_seq,
        r.duration_s
            .map(|d| format!("{d:.2}s"))
            .unwrap_or_else(|| "-".into()),
        row.seed
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into()),
        row.pid,
        row.host
    );
    s.push_str(&format!("git         {}\n", super::log::git_text(&row.git)));
    if let Some(e) = &row.error {
        s.push_str(&format!("error       {e}\n"));
    }
    let section = |s: &mut String, title: &str, items: Vec<String>| {
        if !items.is_empty() {
            s.push_str(&format!("{title}\n"));
            for i in items {
                s.push_str(&format!("  {i}\n"));
            }
        }
    };
    section(
        &mut s,
        "params",
        row.params
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect(),
    );
    section(
        &mut s,
        "metrics (latest)",
        row.latest
            .iter()
            .map(|(k, p)| format!("{k} = {} (step {})", fmt_value(p.value), p.step))
            .collect(),
    );
    let refs = |v: &[crate::event::DataRef]| -> Vec<String> {
        v.iter()
            .map(|d| format!("{:<10} {} {}", d.role, d.name, d.hash.short()))
            .collect()
    };
    section(&mut s, "inputs", refs(&row.inputs));
    section(&mut s, "outputs", refs(&row.outputs));
    section(&mut s, "artifacts", refs(&row.artifacts));
    s.pop();
    s
}

/// The full series of one metric of one run, by step.
pub fn metric(lab: &Lab, run: &str, key: &str) -> Result<(RunRow, Vec<MetricPoint>)> {
    let row = find(lab, run)?;
    let (points, keys) = lab
        .store
        .read_views(|v| Ok((v.metric_series(&row.id, key)?, v.metric_keys(&row.id)?)))?;
    if points.is_empty() {
        if keys.is_empty() {
            bail!("run {} logged no metrics", row.id);
        }
        bail!(
            "run {} has no metric `{key}`; it logged: {}",
            row.id,
            keys.join(", ")
        );
    }
    Ok((row, points))
}

pub fn metric_text(points: &[MetricPoint]) -> String {
    let mut t = Table::new(["STEP", "VALUE", "TIME"]).right(&[0]);
    for p in points {
        t.row([
            p.step.to_string(),
            p.value.to_string(),
            fmt_time(p.time_ms.saturating_mul(1_000_000)),
        ]);
    }
    t.render()
}
