//! A run's page: params, tags, metric charts with zoom to one metric, artifacts, inputs,
//! git, lineage and replay verdicts.

use std::collections::BTreeMap;

use axum::response::Response;
use maud::{Markup, html};

use crate::tracking::{Tracking, TrackingError, state::stage_name};

use super::*;

pub(super) fn kv_table(id: &str, m: &BTreeMap<String, String>) -> Markup {
    html! {
        table id=(id) {
            tr { th { "key" } th { "value" } }
            @for (k, v) in m { tr { td { (k) } td { (v) } } }
        }
    }
}

/// An artifact's path as a URL path: each segment percent-encoded, the slashes kept.
fn enc_path(path: &str) -> String {
    path.split('/').map(enc).collect::<Vec<_>>().join("/")
}

pub(super) fn run_page(
    t: &Tracking,
    id: &str,
    path: &str,
    metric: &str,
) -> Result<Response, TrackingError> {
    let r = t.get_run(id)?;
    let (root, exp_name, seq, models) = {
        let s = t.state()?;
        let en = s
            .experiments
            .get(&r.experiment_id)
            .map(|e| e.name.clone())
            .unwrap_or_default();
        let models: Vec<String> = s
            .versions
            .values()
            .filter(|v| v.run_id.as_deref() == Some(id))
            .map(|v| format!("{}@{} ({})", v.name, v.version, stage_name(v.stage)))
            .collect();
        (s.run_root(id), en, s.seq, models)
    };
    // Metrics: charts by step, one metric zoomed when asked.
    let keys = t.metric_keys(id)?;
    let metrics = if !metric.is_empty() {
        let pts = t.metric_history(id, metric)?;
        html! {
            p { a href={ "/runs/" (enc(id)) } { "all metrics" } }
            div #zoom { (chart(&[(metric.to_string(), pts)], 900, 420)) }
        }
    } else {
        let mut charts = Vec::new();
        for k in &keys {
            let pts = t.metric_history(id, k)?;
            let last = r
                .metrics
                .get(k)
                .map(|l| fmt_num(l.value))
                .unwrap_or_default();
            let n = pts.len();
            charts.push((k, last, n, chart(&[(k.clone(), pts)], 320, 180)));
        }
        html! {
            div.charts #charts {
                @for (k, last, n, c) in charts {
                    div.chart {
                        a href={ "/runs/" (enc(id)) "?metric=" (enc(k)) } { (k) }
                        " = " (last) " (" (n) " points)" br;
                        (c)
                    }
                }
            }
        }
    };
    // Artifacts: a folder's listing, or one file (its download link and, for an image or a
    // text up to 512 KiB, the file itself).
    let path = path.trim_matches('/');
    let full = if path.is_empty() {
        root.clone()
    } else {
        format!("{root}/{path}")
    };
    let entries = t.list_artifacts(&full)?;
    let is_file =
        entries.len() == 1 && !entries[0].1 && full.ends_with(&format!("/{}", entries[0].0));
    let artifacts = if is_file {
        let url = format!("/api/2.0/mlflow-artifacts/artifacts/{}", enc_path(&full));
        let ct = crate::serve::ui::api::content_type(&full);
        let text = if !ct.starts_with("image/") && entries[0].2.unwrap_or(0) <= 512 << 10 {
            Some(String::from_utf8(t.get_artifact(&full)?).ok())
        } else {
            None
        };
        html! {
            p { a href=(url) download { "download" } }
            @if ct.starts_with("image/") {
                img #artifact-view src=(url) style="max-width:900px";
            } @else {
                @match text {
                    Some(Some(text)) => pre #artifact-view { (text) },
                    Some(None) => p.muted { "binary file" },
                    None => {},
                }
            }
        }
    } else {
        let up = path.rsplit_once('/').map_or("", |(a, _)| a);
        html! {
            table #artifacts {
                tr { th { "name" } th { "size" } }
                @if !path.is_empty() {
                    tr { td { a href={ "/runs/" (enc(id)) "?path=" (enc(up)) } { ".." } } td {} }
                }
                @for (n, dir, size) in &entries {
                    @let rel = if path.is_empty() { n.clone() } else { format!("{path}/{n}") };
                    tr {
                        td {
                            a href={ "/runs/" (enc(id)) "?path=" (enc(&rel)) } {
                                (n) @if *dir { "/" }
                            }
                        }
                        td { (size.map(crate::event::human_bytes).unwrap_or_default()) }
                    }
                }
            }
        }
    };
    let body = html! {
        p { a href={ "/?exp=" (enc(&r.experiment_id)) } { (exp_name) } " / run" }
        h2 #run-name { (r.name) }
        p {
            "id " code { (r.id) } " · " span class=(r.status) { (r.status) }
            " · started " (fmt_ms(r.start_ms))
            @if let Some(e) = r.end_ms {
                " · ended " (fmt_ms(e)) " (" (format!("{:.1}", (e - r.start_ms) as f64 / 1e3)) " s)"
            }
            " · recipe " (r.recipe) " · user " (r.user_id)
        }
        @if let Some(c) = r.tags.get("mlflow.source.git.commit") {
            p { "git commit " code { (c) } }
        }
        h3 { "Metrics" }
        (metrics)
        h3 { "Parameters" }
        (kv_table("params", &r.params))
        h3 { "Tags" }
        (kv_table("tags", &r.tags))
        @if !r.lab_inputs.is_empty() || !r.inputs.is_empty() {
            h3 { "Inputs" }
            table #inputs {
                tr { th { "role" } th { "name" } th { "hash / digest" } }
                @for (role, name, h) in &r.lab_inputs {
                    tr { td { (role) } td { (name) } td { code { (h.short()) } } }
                }
                @for i in &r.inputs {
                    @let d = &i["dataset"];
                    tr {
                        td { "mlflow dataset" }
                        td { (d["name"].as_str().unwrap_or("")) }
                        td { code { (d["digest"].as_str().unwrap_or("")) } }
                    }
                }
            }
        }
        @if !models.is_empty() {
            h3 { "Models" }
            p { (models.join(", ")) }
        }
        h3 { "Artifacts" }
        p { "/" (path) }
        (artifacts)
    };
    Ok(html_page(&r.name, body, seq))
}
