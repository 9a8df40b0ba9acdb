//! A run's page: params, tags, metric charts with zoom to one metric, artifacts, inputs,
//! git, lineage and replay verdicts.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::response::Response;

use crate::tracking::{Tracking, TrackingError, state::stage_name};

use super::*;

pub(super) fn kv_table(id: &str, m: &BTreeMap<String, String>) -> String {
    let mut s = format!("<table id={id}><tr><th>key</th><th>value</th></tr>");
    for (k, v) in m {
        let _ = write!(s, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(v));
    }
    s.push_str("</table>");
    s
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
    let mut b = format!(
        r#"<p><a href="/?exp={}">{}</a> / run</p><h2 id=run-name>{}</h2><p>id <code>{}</code> · <span class="{st}">{st}</span> · started {} {} · recipe {} · user {}</p>"#,
        enc(&r.experiment_id),
        esc(&exp_name),
        esc(&r.name),
        esc(&r.id),
        fmt_ms(r.start_ms),
        r.end_ms
            .map(|e| format!(
                "· ended {} ({:.1} s)",
                fmt_ms(e),
                (e - r.start_ms) as f64 / 1e3
            ))
            .unwrap_or_default(),
        esc(&r.recipe),
        esc(&r.user_id),
        st = esc(&r.status)
    );
    if let Some(c) = r.tags.get("mlflow.source.git.commit") {
        let _ = write!(b, "<p>git commit <code>{}</code></p>", esc(c));
    }
    // Metrics: charts by step, one metric zoomed when asked.
    let keys = t.metric_keys(id)?;
    b.push_str("<h3>Metrics</h3>");
    if !metric.is_empty() {
        let pts = t.metric_history(id, metric)?;
        let _ = write!(
            b,
            r#"<p><a href="/runs/{}">all metrics</a></p><div id=zoom>{}</div>"#,
            enc(id),
            chart(&[(metric.to_string(), pts)], 900, 420)
        );
    } else {
        b.push_str("<div class=charts id=charts>");
        for k in &keys {
            let pts = t.metric_history(id, k)?;
            let last = r
                .metrics
                .get(k)
                .map(|l| fmt_num(l.value))
                .unwrap_or_default();
            let _ = write!(
                b,
                r#"<div class=chart><a href="/runs/{}?metric={}">{}</a> = {last} ({} points)<br>{}</div>"#,
                enc(id),
                enc(k),
                esc(k),
                pts.len(),
                chart(&[(k.clone(), pts)], 320, 180)
            );
        }
        b.push_str("</div>");
    }
    b.push_str("<h3>Parameters</h3>");
    b.push_str(&kv_table("params", &r.params));
    b.push_str("<h3>Tags</h3>");
    b.push_str(&kv_table("tags", &r.tags));
    // Inputs.
    if !r.lab_inputs.is_empty() || !r.inputs.is_empty() {
        b.push_str("<h3>Inputs</h3><table id=inputs><tr><th>role</th><th>name</th><th>hash / digest</th></tr>");
        for (role, name, h) in &r.lab_inputs {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(role),
                esc(name),
                h.short()
            );
        }
        for i in &r.inputs {
            let d = &i["dataset"];
            let _ = write!(
                b,
                "<tr><td>mlflow dataset</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(d["name"].as_str().unwrap_or("")),
                esc(d["digest"].as_str().unwrap_or(""))
            );
        }
        b.push_str("</table>");
    }
    if !models.is_empty() {
        let _ = write!(
            b,
            "<h3>Models</h3><p>{}</p>",
            models.iter().map(|m| esc(m)).collect::<Vec<_>>().join(", ")
        );
    }
    // Artifacts.
    let path = path.trim_matches('/');
    let full = if path.is_empty() {
        root.clone()
    } else {
        format!("{root}/{path}")
    };
    let _ = write!(b, "<h3>Artifacts</h3><p>/{}</p>", esc(path));
    let entries = t.list_artifacts(&full)?;
    let is_file =
        entries.len() == 1 && !entries[0].1 && full.ends_with(&format!("/{}", entries[0].0));
    if is_file {
        let url = format!("/api/2.0/mlflow-artifacts/artifacts/{}", esc(&full));
        let _ = write!(b, r#"<p><a href="{url}" download>download</a></p>"#);
        let ct = crate::serve::ui::api::content_type(&full);
        if ct.starts_with("image/") {
            let _ = write!(
                b,
                r#"<img id=artifact-view src="{url}" style="max-width:900px">"#
            );
        } else if entries[0].2.unwrap_or(0) <= 512 << 10 {
            let data = t.get_artifact(&full)?;
            match std::str::from_utf8(&data) {
                Ok(text) => {
                    let _ = write!(b, "<pre id=artifact-view>{}</pre>", esc(text));
                }
                Err(_) => b.push_str("<p class=muted>binary file</p>"),
            }
        }
    } else {
        b.push_str("<table id=artifacts><tr><th>name</th><th>size</th></tr>");
        if !path.is_empty() {
            let up = path.rsplit_once('/').map_or("", |(a, _)| a);
            let _ = write!(
                b,
                r#"<tr><td><a href="/runs/{}?path={}">..</a></td><td></td></tr>"#,
                enc(id),
                enc(up)
            );
        }
        for (n, dir, size) in &entries {
            let rel = if path.is_empty() {
                n.clone()
            } else {
                format!("{path}/{n}")
            };
            let _ = write!(
                b,
                r#"<tr><td><a href="/runs/{}?path={}">{}{}</a></td><td>{}</td></tr>"#,
                enc(id),
                enc(&rel),
                esc(n),
                if *dir { "/" } else { "" },
                size.map(crate::event::human_bytes).unwrap_or_default()
            );
        }
        b.push_str("</table>");
    }
    Ok(html(&r.name, &b, seq))
}
