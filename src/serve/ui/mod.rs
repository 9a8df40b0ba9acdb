//! `lab ui`: one tokio + axum server answering the MLflow tracking + registry REST API (so the
//! official `mlflow` client logs into lab), the `mlflow-artifacts` proxy, and the web UI.
//! Every call is recorded through `tracking` as lab events. Loopback by default; a
//! non-loopback address needs a token (`Authorization: Bearer TOKEN`, or the `lab_token`
//! cookie the login form sets).

pub mod api;
mod page;
mod quickack;

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::lab::Lab;
use crate::tracking::{Tracking, percent_decode};
use api::{Answer, Params};

/// The default largest request body: 512 MiB (artifact uploads).
pub const DEFAULT_MAX_BODY: usize = 512 << 20;

/// How `lab ui` runs.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: String,
    pub token: Option<String>,
    pub max_body: usize,
}

struct Ui {
    t: Tracking,
    token: Option<String>,
    max_body: usize,
}

/// What a `lab ui` run did.
#[derive(Debug, serde::Serialize)]
pub struct UiOut {
    pub addr: String,
}

/// Requests handled at once (each on a blocking thread: the tracking calls read and write
/// the store synchronously).
const HANDLER_THREADS: usize = 16;

/// Runs the server until Ctrl-C or SIGTERM.
pub fn run(lab: Lab, cfg: Config) -> Result<UiOut> {
    let addr = super::check_bind(&cfg.addr, cfg.token.as_deref())?;
    let t = Tracking::open(lab)?;
    // A fixed set of handler threads that live as long as the server: a thread that exits
    // leaves its allocator pages behind (abandoned), and tokio's default retires idle
    // blocking threads after 10 s and starts up to 512 of them.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(HANDLER_THREADS)
        .thread_keep_alive(std::time::Duration::from_secs(24 * 3600))
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!(
                "cannot listen on {addr} (is another server on that port? pick one with --addr)"
            )
        })?;
        let bound = listener.local_addr()?;
        let ui = Arc::new(Ui {
            t,
            token: cfg.token.clone(),
            max_body: cfg.max_body,
        });
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "lab ui: listening on http://{bound}")?;
            out.flush()?;
        }
        let app = axum::Router::new().fallback(move |m, u, h, b| handle(ui.clone(), m, u, h, b));
        axum::serve(quickack::QuickAckListener(listener), app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the server failed")?;
        Ok::<_, anyhow::Error>(UiOut {
            addr: bound.to_string(),
        })
    })
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

fn authorized(ui: &Ui, headers: &HeaderMap) -> bool {
    let Some(tok) = &ui.token else {
        return true;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer.is_some_and(|b| b == tok) {
        return true;
    }
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    cookie
        .split(';')
        .filter_map(|c| c.trim().strip_prefix("lab_token="))
        .any(|c| percent_decode(c) == *tok)
}

fn answer(a: Answer) -> Response {
    let mut r = Response::new(Body::from(a.body));
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if let Some(name) = &a.filename {
        let plain = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b));
        let v = if plain {
            format!("attachment; filename={name}")
        } else {
            format!("attachment; filename=\"{name}\"")
        };
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
    }
    r
}

async fn handle(ui: Arc<Ui>, method: Method, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().map(str::to_string);
    if path == "/health" || path == "/healthz" {
        return (StatusCode::OK, "OK").into_response();
    }
    if path == "/version" {
        return (StatusCode::OK, "3.17.2").into_response();
    }
    if path == "/login" {
        let bytes = axum::body::to_bytes(body, 64 << 10)
            .await
            .unwrap_or_default();
        return page::login(&method, &bytes, ui.token.is_some());
    }
    if !authorized(&ui, &headers) {
        if path.starts_with("/api/") || path.starts_with("/ajax-api/") {
            return answer(Answer::code(
                401,
                "UNAUTHENTICATED",
                "this server needs `Authorization: Bearer TOKEN` (MLFLOW_TRACKING_TOKEN=TOKEN for the mlflow client)",
            ));
        }
        return (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/login")],
            "log in first",
        )
            .into_response();
    }
    let bytes = match axum::body::to_bytes(body, ui.max_body).await {
        Ok(b) => b,
        Err(e) => {
            let too_big = format!("{e:?}").contains("LengthLimit");
            return answer(if too_big {
                Answer::code(
                    413,
                    "INVALID_PARAMETER_VALUE",
                    &format!(
                        "the request body exceeds the limit of {} bytes (lab ui --max-body)",
                        ui.max_body
                    ),
                )
            } else {
                Answer::code(
                    400,
                    "BAD_REQUEST",
                    &format!("the request body could not be read: {e}"),
                )
            });
        }
    };
    let m = method.as_str().to_string();
    let ui2 = ui.clone();
    let r =
        tokio::task::spawn_blocking(move || route(&ui2, &m, &path, query.as_deref(), &bytes)).await;
    match r {
        Ok(resp) => resp,
        Err(e) => answer(Answer::code(
            500,
            "INTERNAL_ERROR",
            &format!("the handler failed: {e}"),
        )),
    }
}

fn route(ui: &Ui, method: &str, path: &str, query: Option<&str>, body: &[u8]) -> Response {
    let t = &ui.t;
    for prefix in [
        "/api/2.0/mlflow-artifacts/artifacts",
        "/ajax-api/2.0/mlflow-artifacts/artifacts",
    ] {
        if let Some(rest) = path.strip_prefix(prefix) {
            if !rest.is_empty() && !rest.starts_with('/') {
                break;
            }
            let p = match Params::new(b"", query) {
                Ok(p) => p,
                Err(e) => return answer(Answer::error(&e)),
            };
            let rel = percent_decode(rest.strip_prefix('/').unwrap_or(rest));
            return answer(api::artifacts(t, method, &rel, &p, body));
        }
    }
    for prefix in [
        "/api/2.0/mlflow/",
        "/ajax-api/2.0/mlflow/",
        "/api/2.0/preview/mlflow/",
    ] {
        if let Some(endpoint) = path.strip_prefix(prefix) {
            let body = if method == "GET" { &b""[..] } else { body };
            let r = Params::new(body, query).and_then(|p| api::call_bytes(t, method, endpoint, &p));
            return answer(match r {
                Ok(body) => Answer::json_bytes(body),
                Err(e) if e.message.starts_with("ENDPOINT_NOT_FOUND") => {
                    Answer::code(404, "ENDPOINT_NOT_FOUND", &e.message)
                }
                Err(e) => Answer::error(&e),
            });
        }
    }
    let trimmed = path.trim_start_matches('/');
    if trimmed == "get-artifact" || trimmed == "model-versions/get-artifact" {
        return answer(match Params::new(b"", query) {
            Ok(p) => api::get_artifact(t, trimmed, &p),
            Err(e) => Answer::error(&e),
        });
    }
    if path.starts_with("/api/") || path.starts_with("/ajax-api/") {
        return answer(Answer::code(
            404,
            "ENDPOINT_NOT_FOUND",
            &format!("no endpoint {method} {path}"),
        ));
    }
    if method != "GET" {
        return (StatusCode::METHOD_NOT_ALLOWED, "GET only").into_response();
    }
    page::route(t, path, query)
}
