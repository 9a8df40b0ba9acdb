//! `lab runs diff A B`: two runs side by side — the params that differ, every final metric
//! with its change, the inputs that differ (dataset, config, parents…), and the git state.

use std::collections::BTreeSet;

use anyhow::Result;
use serde::Serialize;

use super::find;
use crate::event::GitState;
use crate::lab::Lab;
use crate::store::RunRow;

#[derive(Debug, Serialize)]
pub struct DiffOut {
    pub a: Side,
    pub b: Side,
    /// Params whose values differ (absent on one side: `null`).
    pub params: Vec<Row<String>>,
    /// Every metric either run logged: its last value on each side.
    pub metrics: Vec<Row<f64>>,
    /// Inputs by role whose name or content differ.
    pub inputs: Vec<Row<String>>,
}

#[derive(Debug, Serialize)]
pub struct Side {
    pub id: String,
    pub name: String,
    pub status: String,
    pub git: String,
}

#[derive(Debug, Serialize)]
pub struct Row<T> {
    pub key: String,
    pub a: Option<T>,
    pub b: Option<T>,
}

fn git_text(g: &GitState) -> String {
    match g {
        GitState::NoRepo => "not a git repository".into(),
        GitState::Repo {
            commit,
            branch,
            dirty,
            ..
        } => format!(
            "{}{}{}",
            commit
                .as_deref()
                .map(|c| c[..c.len().min(10)].to_string())
                .unwrap_or_else(|| "no commit".into()),
            branch
                .as_deref()
                .map(|b| format!(" ({b})"))
                .unwrap_or_default(),
            if *dirty { " dirty" } else { "" }
        ),
    }
}

fn side(r: &RunRow) -> Side {
    Side {
        id: r.id.clone(),
        name: r.name.clone(),
        status: super::out(r.clone()).effective_status.as_str().to_string(),
        git: git_text(&r.git),
    }
}

/// Compares runs `a` and `b` (ids, id prefixes or names that one run carries).
pub fn diff(lab: &Lab, a: &str, b: &str) -> Result<DiffOut> {
    let (ra, rb) = (find(lab, a)?, find(lab, b)?);
    let keys: BTreeSet<&String> = ra.params.keys().chain(rb.params.keys()).collect();
    let params = keys
        .into_iter()
        .filter(|k| ra.params.get(*k) != rb.params.get(*k))
        .map(|k| Row {
            key: k.clone(),
            a: ra.params.get(k).cloned(),
            b: rb.params.get(k).cloned(),
        })
        .collect();
    let keys: BTreeSet<&String> = ra.latest.keys().chain(rb.latest.keys()).collect();
    let metrics = keys
        .into_iter()
        .map(|k| Row {
            key: k.clone(),
            a: ra.latest.get(k).map(|p| p.value),
            b: rb.latest.get(k).map(|p| p.value),
        })
        .collect();
    let input = |r: &RunRow, role: &str| -> Option<String> {
        let v: Vec<String> = r
            .inputs
            .iter()
            .filter(|i| i.role == role)
            .map(|i| format!("{} {}", i.name, &i.hash.to_hex()[..12]))
            .collect();
        (!v.is_empty()).then(|| v.join(", "))
    };
    let roles: BTreeSet<&String> = ra
        .inputs
        .iter()
        .chain(&rb.inputs)
        .map(|i| &i.role)
        .collect();
    let inputs = roles
        .into_iter()
        .filter_map(|role| {
            let (x, y) = (input(&ra, role), input(&rb, role));
            (x != y).then(|| Row {
                key: role.clone(),
                a: x,
                b: y,
            })
        })
        .collect();
    Ok(DiffOut {
        a: side(&ra),
        b: side(&rb),
        params,
        metrics,
        inputs,
    })
}

fn cell<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|v| v.to_string())
        .unwrap_or_else(|| "-".into())
}

pub fn diff_text(d: &DiffOut) -> String {
    let short = |s: &Side| format!("{} ({})", &s.id[..8.min(s.id.len())], s.name);
    let (ha, hb) = (short(&d.a), short(&d.b));
    let mut s = format!(
        "{:<28} {:<28} {}\n{:<28} {:<28} {}\n{:<28} {:<28} {}\n",
        "", ha, hb, "status", d.a.status, d.b.status, "git", d.a.git, d.b.git
    );
    s.push_str("\nparams that differ\n");
    if d.params.is_empty() {
        s.push_str("  (none)\n");
    }
    for r in &d.params {
        s.push_str(&format!(
            "  {:<26} {:<28} {}\n",
            r.key,
            cell(&r.a),
            cell(&r.b)
        ));
    }
    s.push_str("\ninputs that differ\n");
    if d.inputs.is_empty() {
        s.push_str("  (none)\n");
    }
    for r in &d.inputs {
        s.push_str(&format!(
            "  {}\n    {:<8} {}\n    {:<8} {}\n",
            r.key,
            &d.a.id[..8.min(d.a.id.len())],
            cell(&r.a),
            &d.b.id[..8.min(d.b.id.len())],
            cell(&r.b)
        ));
    }
    s.push_str("\nmetrics (last value)\n");
    if d.metrics.is_empty() {
        s.push_str("  (none)\n");
    }
    for r in &d.metrics {
        let f = |v: &Option<f64>| v.map(super::fmt_value).unwrap_or_else(|| "-".into());
        let delta = match (r.a, r.b) {
            (Some(x), Some(y)) if x != y => format!("  ({:+.4})", y - x),
            _ => String::new(),
        };
        s.push_str(&format!(
            "  {:<26} {:<28} {}{delta}\n",
            r.key,
            f(&r.a),
            f(&r.b)
        ));
    }
    s.pop();
    s
}
