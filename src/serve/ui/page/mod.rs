//! The web UI: server-rendered HTML with inline SVG charts and a few lines of inline script
//! (no build step, no CDN: it works offline). Pages: experiments and their runs (filter with
//! MLflow's search syntax, sort, pick columns), a run (params, tags, metric charts, artifacts,
//! inputs, models), a comparison of 2–5 runs, and the models. Pages poll `/ui/seq` and reload
//! when the log moved, so a training run's curves grow while it trains. Built with `maud`,
//! which escapes every interpolated string by construction.

use std::collections::BTreeSet;
use std::fmt::Write;

use maud::{DOCTYPE, Markup, PreEscaped, html};

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

/// The page's script: polls `/ui/seq` and reloads when the log moved; `sel()` opens the
/// comparison of the runs picked.
const SCRIPT: &str = r#"
(function(){var el=document.getElementById('live');var seq=el.dataset.seq;
setInterval(function(){fetch('/ui/seq',{credentials:'same-origin'}).then(function(r){return r.json()}).then(function(j){
if(String(j.seq)!==seq){if(document.activeElement&&document.activeElement.tagName==='INPUT'){el.textContent='live · new events (reload)';}else{location.reload();}}}).catch(function(){el.textContent='offline';});},2000);})();
function sel(){var ids=[];document.querySelectorAll('input.pick:checked').forEach(function(c){ids.push(c.value)});
if(ids.length<2||ids.length>5){alert('pick 2 to 5 runs');return false;}location.href='/compare?runs='+ids.join(',');return false;}
"#;

fn html_page(title: &str, body: Markup, seq: u64) -> Response {
    let doc = html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                title { (title) " · lab" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a href="/" { "lab" }
                    a href="/" { "Experiments" }
                    a href="/models" { "Models" }
                    span.muted #live data-seq=(seq) { "live · event #" (seq) }
                }
                main { (body) }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    let mut r = Response::new(Body::from(doc.into_string()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn error_page(e: &TrackingError) -> Response {
    let mut r = html_page("error", html! { p.err { (e.message) } }, 0);
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
    html_page(
        "login",
        html! {
            h2 { "Log in" }
            p { (note) }
            form method="post" action="/login" {
                input type="password" name="token" #token;
                " "
                button { "Log in" }
            }
        },
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
    let name = exps
        .iter()
        .find(|e| e.id == cur)
        .map(|e| e.name.clone())
        .unwrap_or_else(|| cur.clone());
    let orders: Vec<String> = if order.is_empty() {
        Vec::new()
    } else {
        vec![order.to_string()]
    };
    let (runs, filter_error) = match t.search_runs(
        std::slice::from_ref(&cur),
        filter,
        crate::tracking::ViewType::Active,
        50_000,
        &orders,
        None,
    ) {
        Ok((r, _)) => (r, None),
        Err(e) => (Vec::new(), Some(e.message)),
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
        let asc = format!("{key} ASC");
        let (next, arrow) = if order == desc {
            (asc, " ▼")
        } else if order == asc {
            (desc, " ▲")
        } else {
            (desc, "")
        };
        let href = format!(
            "/?exp={}&filter={}&cols={}&order={}",
            enc(&cur),
            enc(filter),
            enc(cols),
            enc(&next)
        );
        html! { a href=(href) { (label) (arrow) } }
    };
    let body = html! {
        div.side {
            h3 { "Experiments" }
            @for e in &exps {
                a class=(if e.id == cur { "cur" } else { "" }) href={ "/?exp=" (enc(&e.id)) } { (e.name) }
            }
        }
        div.content {
            h2 #exp-name { (name) }
            form method="get" action="/" {
                input type="hidden" name="exp" value=(cur);
                input type="hidden" name="order" value=(order);
                input type="text" name="filter" #filter
                    placeholder="metrics.accuracy > 0.9 and params.lr = '0.01'" value=(filter);
                " "
                input type="text" name="cols" #cols style="width:220px"
                    placeholder="columns: params.lr,metrics.acc" value=(cols);
                " "
                button { "Search" }
            }
            @if let Some(message) = &filter_error {
                p.err #filter-error { (message) }
            }
            p {
                (runs.len()) " runs · "
                a href="#" onclick="return sel()" #compare { "compare selected" }
            }
            table #runs {
                tr {
                    th {}
                    th { (sort_link("Run", "attributes.run_name")) }
                    th { (sort_link("Status", "attributes.status")) }
                    th { (sort_link("Started", "attributes.start_time")) }
                    @for p in &pcols { th { (sort_link(p, &format!("params.`{p}`"))) } }
                    @for m in &mcols { th { (sort_link(m, &format!("metrics.`{m}`"))) } }
                }
                @for r in &runs {
                    tr {
                        td { input type="checkbox" class="pick" value=(r.id); }
                        td { a href={ "/runs/" (enc(&r.id)) } { (r.name) } }
                        td class=(r.status) { (r.status) }
                        td { (fmt_ms(r.start_ms)) }
                        @for p in &pcols { td { (r.params.get(p).map_or("", |v| v)) } }
                        @for m in &mcols {
                            td { (r.metrics.get(m).map(|l| fmt_num(l.value)).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    Ok(html_page(&name, body, seq))
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
    let keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    let mkeys: BTreeSet<String> = runs
        .iter()
        .flat_map(|r| r.metrics.keys().cloned())
        .collect();
    let mut charts = Vec::new();
    for k in mkeys {
        let series = runs
            .iter()
            .map(|r| Ok((r.name.clone(), t.metric_history(&r.id, &k)?)))
            .collect::<Result<Vec<_>, TrackingError>>()?;
        charts.push((k, chart(&series, 420, 220)));
    }
    let body = html! {
        h2 { "Compare runs" }
        table #param-diff {
            tr {
                th { "param" }
                @for (i, r) in runs.iter().enumerate() {
                    th style={ "color:" (COLORS[i % COLORS.len()]) } {
                        a href={ "/runs/" (enc(&r.id)) } { (r.name) }
                    }
                }
            }
            @for k in keys {
                @let vals: Vec<Option<&String>> = runs.iter().map(|r| r.params.get(k)).collect();
                @let differs = vals.iter().any(|v| *v != vals[0]);
                tr style=[differs.then_some("background:#fff6d6")] {
                    td { (k) }
                    @for v in vals { td { (v.map_or("", |s| s)) } }
                }
            }
        }
        h3 { "Metrics" }
        div.charts #charts {
            @for (k, c) in charts {
                div.chart { (k) br; (c) }
            }
        }
    };
    Ok(html_page("compare", body, seq))
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
    let body = html! {
        h2 { "Models" }
        @if s.models.is_empty() {
            p.muted { "no registered models yet" }
        }
        @for m in s.models.values() {
            h3 { (m.name) }
            p { (m.description) }
            table.versions {
                tr {
                    th { "version" } th { "stage" } th { "aliases" } th { "run" } th { "source" }
                    th { "deployed" }
                }
                @for v in s.versions.values().filter(|v| v.name == m.name).rev() {
                    @let dep: Vec<&str> = deployments
                        .iter()
                        .filter(|d| d.model == m.name && d.version == v.version)
                        .map(|d| d.env.as_str())
                        .collect();
                    tr {
                        td { (v.version) }
                        td { (stage_name(v.stage)) }
                        td { (s.aliases_of(&v.name, v.version).join(", ")) }
                        td {
                            @if let Some(r) = &v.run_id {
                                a href={ "/runs/" (enc(r)) } { (r[..r.len().min(8)]) }
                            }
                        }
                        td { code { (v.source) } }
                        td { (dep.join(", ")) }
                    }
                }
            }
        }
    };
    Ok(html_page("models", body, s.seq))
}
