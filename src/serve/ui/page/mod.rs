//! The web UI: server-rendered HTML with inline SVG charts and a few lines of inline script
//! (no build step, no CDN: it works offline). Pages: experiments and their runs (filter with
//! MLflow's search syntax, sort, pick columns), a run (params, tags, metric charts, artifacts,
//! inputs, models), a comparison of 2–5 runs, and the models. Pages poll `/ui/seq` and reload
//! when the log moved, so a training run's curves grow while it trains.

use std::collections::BTreeSet;
use std::fmt::Write;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

mod chart;
mod run;
pub use chart::chart;
use run::run_page;

use super::api::parse_query;
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
