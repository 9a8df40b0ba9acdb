//! The web UI: server-rendered HTML with inline SVG charts and a few lines of inline script
//! (no build step, no CDN: it works offline). Pages: experiments and their runs (filter with
//! MLflow's search syntax, sort, pick columns), a run (params, tags, metric charts, artifacts,
//! inputs, models), a comparison of 2–5 runs, and the models. Pages poll `/ui/seq` and reload
//! when the log moved, so a training run's curves grow while it trains.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::api::parse_query;
use crate::event::MetricPoint;
use crate::tracking::{Run, Tracking, TrackingError, state::stage_name};

const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1d3557;color:#fff;padding:8px 16px;display:flex;gap:18px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:12px 16px}
table{border-collapse:collapse;background:#fff;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f7}
th a{color:#1d3557}
.side{float:left;width:220px;margin-right:16px}
.side a{display:block;padding:2px 4px}
.side a.cur{background:#e3ecf7;font-weight:600}
.content{overflow:auto}
.err{background:#fde8e8;color:#8a1c1c;padding:6px 10px;border:1px solid #f5c2c2}
.charts{display:flex;flex-wrap:wrap;gap:10px}
.chart{background:#fff;border:1px solid #ddd;padding:4px}
input[type=text]{width:520px;font-family:monospace}
pre{background:#fff;border:1px solid #ddd;padding:8px;max-height:480px;overflow:auto}
.muted{color:#777}
.RUNNING{color:#1f77b4}.FINISHED{color:#2ca02c}.FAILED{color:#d62728}.KILLED{color:#8c564b}
"#;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Encodes a query-string value.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn html(title: &str, body: &str, seq: u64) -> Response {
    let doc = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>{t} · lab</title><style>{STYLE}</style></head>
<body><header><a href="/">lab</a><a href="/">Experiments</a><a href="/models">Models</a><span class="muted" id="live" data-seq="{seq}">live · event #{seq}</span></header>
<main>{body}</main>
<script>
(function(){{var el=document.getElementById('live');var seq=el.dataset.seq;
setInterval(function(){{fetch('/ui/seq',{{credentials:'same-origin'}}).then(function(r){{return r.json()}}).then(function(j){{
if(String(j.seq)!==seq){{if(document.activeElement&&document.activeElement.tagName==='INPUT'){{el.textContent='live · new events (reload)';}}else{{location.reload();}}}}}}).catch(function(){{el.textContent='offline';}});}},2000);}})();
function sel(){{var ids=[];document.querySelectorAll('input.pick:checked').forEach(function(c){{ids.push(c.value)}});
if(ids.length<2||ids.length>5){{alert('pick 2 to 5 runs');return false;}}location.href='/compare?runs='+ids.join(',');return false;}}
</script></body></html>"#,
        t = esc(title)
    );
    let mut r = Response::new(Body::from(doc));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn error_page(e: &TrackingError) -> Response {
    let mut r = html("error", &format!("<p class=err>{}</p>", esc(&e.message)), 0);
    *r.status_mut() = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    r
}

/// The login form (only meaningful with --token): sets the `lab_token` cookie.
pub fn login(method: &Method, body: &[u8], needs: bool) -> Response {
    if method == Method::POST {
        let form = parse_query(&String::from_utf8_lossy(body));
        let tok = form
            .get("token")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        return (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/".to_string()),
                (
                    header::SET_COOKIE,
                    format!("lab_token={}; Path=/; HttpOnly; SameSite=Strict", enc(&tok)),
                ),
            ],
            "",
        )
            .into_response();
    }
    let note = if needs {
        "This server needs its token (lab ui --token)."
    } else {
        "This server has no token: no login needed."
    };
    html(
        "login",
        &format!(
            r#"<h2>Log in</h2><p>{note}</p><form method=post action="/login"><input type=password name=token id=token> <button>Log in</button></form>"#
        ),
        0,
    )
}

pub fn route(t: &Tracking, path: &str, query: Option<&str>) -> Response {
    let q = parse_query(query.unwrap_or(""));
    let get = |k: &str| q.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let r = match path {
        "/" | "/index.html" => index(t, &get("exp"), &get("filter"), &get("order"), &get("cols")),
        "/ui/seq" => {
            let seq = t.state().map(|s| s.seq).unwrap_or(0);
            let mut r = Response::new(Body::from(format!("{{\"seq\":{seq}}}")));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return r;
        }
        "/compare" => compare(t, &get("runs")),
        "/models" => models(t),
        p if p.starts_with("/runs/") => run_page(t, &p[6..], &get("path"), &get("metric")),
        _ => return (StatusCode::NOT_FOUND, "no such page").into_response(),
    };
    r.unwrap_or_else(|e| error_page(&e))
}

fn fmt_ms(ms: i64) -> String {
    crate::event::fmt_time(ms.saturating_mul(1_000_000))
}

fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        format!("{v:.4e}")
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn index(
    t: &Tracking,
    exp: &str,
    filter: &str,
    order: &str,
    cols: &str,
) -> Result<Response, TrackingError> {
    let (exps, seq) = {
        let s = t.state()?;
        let e: Vec<_> = s
            .experiments
            .values()
            .filter(|e| e.lifecycle == "active")
            .cloned()
            .collect();
        (e, s.seq)
    };
    let cur = if exp.is_empty() {
        // The experiment with the newest run, else Default.
        let s = t.state()?;
        s.runs
            .values()
            .filter(|r| r.lifecycle == "active")
            .max_by_key(|r| r.start_ms)
            .map(|r| r.experiment_id.clone())
            .unwrap_or_else(|| "0".into())
    } else {
        exp.to_string()
    };
    let mut b = String::from("<div class=side><h3>Experiments</h3>");
    for e in &exps {
        let _ = write!(
            b,
            r#"<a class="{c}" href="/?exp={id}">{n}</a>"#,
            c = if e.id == cur { "cur" } else { "" },
            id = enc(&e.id),
            n = esc(&e.name)
        );
    }
    b.push_str("</div><div class=content>");
    let name = exps
        .iter()
        .find(|e| e.id == cur)
        .map(|e| e.name.clone())
        .unwrap_or_else(|| cur.clone());
    let _ = write!(b, "<h2 id=exp-name>{}</h2>", esc(&name));
    let _ = write!(
        b,
        r#"<form method=get action="/"><input type=hidden name=exp value="{e}"><input type=hidden name=order value="{o}">
<input type=text name=filter id=filter placeholder="metrics.accuracy > 0.9 and params.lr = '0.01'" value="{f}">
<input type=text name=cols id=cols style="width:220px" placeholder="columns: params.lr,metrics.acc" value="{c}"> <button>Search</button></form>"#,
        e = esc(&cur),
        o = esc(order),
        f = esc(filter),
        c = esc(cols)
    );
    let orders: Vec<String> = if order.is_empty() {
        Vec::new()
    } else {
        vec![order.to_string()]
    };
    let runs = match t.search_runs(
        std::slice::from_ref(&cur),
        filter,
        crate::tracking::ViewType::Active,
        50_000,
        &orders,
        None,
    ) {
        Ok((r, _)) => r,
        Err(e) => {
            let _ = write!(b, "<p class=err id=filter-error>{}</p>", esc(&e.message));
            Vec::new()
        }
    };
    // Columns: chosen ones, else every param and metric key (up to 6 each).
    let (pcols, mcols): (Vec<String>, Vec<String>) = if cols.trim().is_empty() {
        let p: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
        let m: BTreeSet<&String> = runs.iter().flat_map(|r| r.metrics.keys()).collect();
        (
            p.into_iter().take(6).cloned().collect(),
            m.into_iter().take(6).cloned().collect(),
        )
    } else {
        let mut p = Vec::new();
        let mut m = Vec::new();
        for c in cols.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if let Some(k) = c.strip_prefix("params.") {
                p.push(k.to_string());
            } else if let Some(k) = c.strip_prefix("metrics.") {
                m.push(k.to_string());
            }
        }
        (p, m)
    };
    let sort_link = |label: &str, key: &str| {
        let desc = format!("{key} DESC");
        let next = if order == desc {
            format!("{key} ASC")
        } else {
            desc
        };
        let arrow = if order == format!("{key} DESC") {
            " ▼"
        } else if order == format!("{key} ASC") {
            " ▲"
        } else {
            ""
        };
        format!(
            r#"<a href="/?exp={}&filter={}&cols={}&order={}">{}{arrow}</a>"#,
            enc(&cur),
            enc(filter),
            enc(cols),
            enc(&next),
            esc(label)
        )
    };
    let _ = write!(
        b,
        "<p>{} runs · <a href=# onclick='return sel()' id=compare>compare selected</a></p><table id=runs><tr><th></th><th>{}</th><th>{}</th><th>{}</th>",
        runs.len(),
        sort_link("Run", "attributes.run_name"),
        sort_link("Status", "attributes.status"),
        sort_link("Started", "attributes.start_time")
    );
    for p in &pcols {
        let _ = write!(b, "<th>{}</th>", sort_link(p, &format!("params.`{p}`")));
    }
    for m in &mcols {
        let _ = write!(b, "<th>{}</th>", sort_link(m, &format!("metrics.`{m}`")));
    }
    b.push_str("</tr>");
    for r in &runs {
        let _ = write!(
            b,
            r#"<tr><td><input type=checkbox class=pick value="{id}"></td><td><a href="/runs/{id}">{n}</a></td><td class="{st}">{st}</td><td>{t}</td>"#,
            id = esc(&r.id),
            n = esc(&r.name),
            st = esc(&r.status),
            t = fmt_ms(r.start_ms)
        );
        for p in &pcols {
            let _ = write!(b, "<td>{}</td>", esc(r.params.get(p).map_or("", |v| v)));
        }
        for m in &mcols {
            let v = r
                .metrics
                .get(m)
                .map(|l| fmt_num(l.value))
                .unwrap_or_default();
            let _ = write!(b, "<td>{v}</td>");
        }
        b.push_str("</tr>");
    }
    b.push_str("</table></div>");
    Ok(html(&name, &b, seq))
}

/// An SVG line chart of one or more series (label, points by step).
pub fn chart(series: &[(String, Vec<MetricPoint>)], w: u32, h: u32) -> String {
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|m| (m.step as f64, m.value)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    if pts.is_empty() {
        return format!(
            r#"<svg class=chart width="{w}" height="{h}"><text x=10 y=20>no finite values</text></svg>"#
        );
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in &pts {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if x1 == x0 {
        x1 = x0 + 1.0;
    }
    if y1 == y0 {
        y1 = y0 + 1.0;
        y0 -= 1.0;
    }
    let (l, r, tp, bt) = (56.0, 10.0, 10.0, 24.0);
    let (wf, hf) = (w as f64, h as f64);
    let sx = |x: f64| l + (x - x0) / (x1 - x0) * (wf - l - r);
    let sy = |y: f64| tp + (1.0 - (y - y0) / (y1 - y0)) * (hf - tp - bt);
    let mut s = format!(
        r##"<svg class=chart xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><rect x="{l}" y="{tp}" width="{}" height="{}" fill="#fff" stroke="#ccc"/>"##,
        wf - l - r,
        hf - tp - bt
    );
    for (i, frac) in [0.0, 0.5, 1.0].iter().enumerate() {
        let yv = y0 + (y1 - y0) * frac;
        let _ = write!(
            s,
            r##"<text x="2" y="{:.1}" font-size="10" fill="#555">{}</text>"##,
            sy(yv) + 3.0,
            esc(&fmt_num(yv))
        );
        let xv = x0 + (x1 - x0) * frac;
        let anchor = ["start", "middle", "end"][i];
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{}" font-size="10" fill="#555" text-anchor="{anchor}">{}</text>"##,
            sx(xv),
            h - 8,
            fmt_num(xv)
        );
    }
    for (i, (label, p)) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let mut sorted: Vec<&MetricPoint> = p.iter().filter(|m| m.value.is_finite()).collect();
        sorted.sort_by_key(|m| m.step);
        let d: Vec<String> = sorted
            .iter()
            .map(|m| format!("{:.1},{:.1}", sx(m.step as f64), sy(m.value)))
            .collect();
        if d.len() == 1 {
            let _ = write!(
                s,
                r#"<circle cx="{}" r="3" cy="{}" fill="{c}"/>"#,
                d[0].split(',').next().unwrap_or("0"),
                d[0].split(',').nth(1).unwrap_or("0")
            );
        } else {
            let _ = write!(
                s,
                r#"<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{}"/>"#,
                d.join(" ")
            );
        }
        if series.len() > 1 {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" font-size="10" fill="{c}">{}</text>"#,
                l + 6.0,
                tp + 12.0 + 12.0 * i as f64,
                esc(label)
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn kv_table(id: &str, m: &BTreeMap<String, String>) -> String {
    let mut s = format!("<table id={id}><tr><th>key</th><th>value</th></tr>");
    for (k, v) in m {
        let _ = write!(s, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(v));
    }
    s.push_str("</table>");
    s
}

fn run_page(t: &Tracking, id: &str, path: &str, metric: &str) -> Result<Response, TrackingError> {
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
        let ct = super::api::content_type(&full);
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

fn compare(t: &Tracking, ids: &str) -> Result<Response, TrackingError> {
    let ids: Vec<&str> = ids.split(',').filter(|s| !s.is_empty()).collect();
    if ids.len() < 2 || ids.len() > 5 {
        return Err(crate::tracking::invalid(
            "compare takes 2 to 5 runs: /compare?runs=ID,ID",
        ));
    }
    let runs: Vec<Run> = ids.iter().map(|i| t.get_run(i)).collect::<Result<_, _>>()?;
    let seq = t.state()?.seq;
    let mut b = String::from("<h2>Compare runs</h2><table id=param-diff><tr><th>param</th>");
    for (i, r) in runs.iter().enumerate() {
        let _ = write!(
            b,
            r#"<th style="color:{}"><a href="/runs/{}">{}</a></th>"#,
            COLORS[i % COLORS.len()],
            enc(&r.id),
            esc(&r.name)
        );
    }
    b.push_str("</tr>");
    let keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    for k in keys {
        let vals: Vec<Option<&String>> = runs.iter().map(|r| r.params.get(k)).collect();
        let differs = vals.iter().any(|v| *v != vals[0]);
        let _ = write!(
            b,
            "<tr{}><td>{}</td>",
            if differs {
                " style=\"background:#fff6d6\""
            } else {
                ""
            },
            esc(k)
        );
        for v in vals {
            let _ = write!(b, "<td>{}</td>", esc(v.map_or("", |s| s)));
        }
        b.push_str("</tr>");
    }
    b.push_str("</table><h3>Metrics</h3><div class=charts id=charts>");
    let mkeys: BTreeSet<String> = runs
        .iter()
        .flat_map(|r| r.metrics.keys().cloned())
        .collect();
    for k in mkeys {
        let mut series = Vec::new();
        for r in &runs {
            series.push((r.name.clone(), t.metric_history(&r.id, &k)?));
        }
        let _ = write!(
            b,
            "<div class=chart>{}<br>{}</div>",
            esc(&k),
            chart(&series, 420, 220)
        );
    }
    b.push_str("</div>");
    Ok(html("compare", &b, seq))
}

fn models(t: &Tracking) -> Result<Response, TrackingError> {
    let s = t.state()?;
    let deployments = t
        .lab
        .store
        .read_views(|v| {
            use crate::store::views::Query;
            v.deployments()
        })
        .unwrap_or_default();
    let mut b = String::from("<h2>Models</h2>");
    if s.models.is_empty() {
        b.push_str("<p class=muted>no registered models yet</p>");
    }
    for m in s.models.values() {
        let _ = write!(
            b,
            "<h3>{}</h3><p>{}</p><table class=versions><tr><th>version</th><th>stage</th><th>aliases</th><th>run</th><th>source</th><th>deployed</th></tr>",
            esc(&m.name),
            esc(&m.description)
        );
        for v in s.versions.values().filter(|v| v.name == m.name).rev() {
            let dep: Vec<String> = deployments
                .iter()
                .filter(|d| d.model == m.name && d.version == v.version)
                .map(|d| d.env.clone())
                .collect();
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                v.version,
                stage_name(v.stage),
                esc(&s.aliases_of(&v.name, v.version).join(", ")),
                v.run_id
                    .as_ref()
                    .map(|r| format!(
                        r#"<a href="/runs/{}">{}</a>"#,
                        enc(r),
                        esc(&r[..r.len().min(8)])
                    ))
                    .unwrap_or_default(),
                esc(&v.source),
                esc(&dep.join(", "))
            );
        }
        b.push_str("</table>");
    }
    Ok(html("models", &b, s.seq))
}
