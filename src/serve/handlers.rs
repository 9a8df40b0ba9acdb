//! The HTTP handlers: each parses, validates, runs one inference off the async workers,
//! records it and serialises the answer. Errors are JSON `{"error", "status"}` with a 4xx for
//! anything the client did (a bad upload never reaches a model and never poisons the server).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as S};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::input::{
    EXTRACT_MAX_PIXELS, OCR_MAX_PIXELS, decode, id_taken, read_body, read_limited, request_id,
};
use super::recorder::Msg;
use super::{Answer, OcrEngine, State};
use crate::ab;
use crate::event::{FeedbackRecord, InferenceRecord};
use crate::ml::extract::{self, ExtractError};
use crate::ml::features::image_features;

/// An error answer.
pub struct ApiError {
    status: StatusCode,
    msg: String,
}

pub(super) fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError {
        status,
        msg: msg.into(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.msg, "status": self.status.as_u16()});
        (self.status, Json(body)).into_response()
    }
}

const ENDPOINTS: [&str; 5] = [
    "/v1/ocr",
    "/v1/extract",
    "/v1/feedback",
    "/healthz",
    "/metrics",
];

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/v1/ocr", post(ocr))
        .route("/v1/extract", post(extract_h))
        .route("/v1/feedback", post(feedback))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Authentication (all but /healthz when a token is set) and request metrics.
async fn guard(S(st): S<Arc<State>>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let path = req.uri().path().to_string();
    let endpoint = if ENDPOINTS.contains(&path.as_str()) {
        path.clone()
    } else {
        "other".to_string()
    };
    let resp = match &st.token {
        Some(t) if path != "/healthz" && !authorised(req.headers(), t) => err(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token: send `Authorization: Bearer TOKEN` (the --token of lab serve)",
        )
        .into_response(),
        _ => next.run(req).await,
    };
    st.metrics.observe(
        &endpoint,
        resp.status().as_u16(),
        t0.elapsed().as_secs_f64(),
    );
    resp
}

fn authorised(h: &HeaderMap, token: &str) -> bool {
    let Some(v) = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(given) = v.strip_prefix("Bearer ") else {
        return false;
    };
    // Compare in time independent of where the first difference is.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn not_found(req: Request) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint {} — use POST /v1/ocr, POST /v1/extract, POST /v1/feedback, GET /healthz, GET /metrics",
            req.uri().path()
        ),
    )
}

async fn not_allowed(req: Request) -> ApiError {
    err(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {}", req.uri().path(), req.method()),
    )
}

/// Liveness for anyone; what is served (model names and versions) only for a client with the
/// token, when there is one.
async fn healthz(S(st): S<Arc<State>>, headers: HeaderMap) -> Json<Value> {
    match &st.token {
        Some(t) if !authorised(&headers, t) => Json(json!({"status": "ok"})),
        _ => Json(json!({"status": "ok", "env": st.env, "serving": st.served().describe()})),
    }
}

async fn metrics(S(st): S<Arc<State>>) -> Response {
    let s = st.served();
    let mut rows = Vec::new();
    if let Some(o) = &s.ocr {
        rows.push((
            "/v1/ocr".to_string(),
            o.name.clone(),
            o.version,
            String::new(),
        ));
    }
    if let Some(r) = &s.ab {
        for (arm, slot) in [(ab::Arm::A, &r.a), (ab::Arm::B, &r.b)] {
            rows.push((
                "/v1/ocr".to_string(),
                slot.name.clone(),
                slot.version,
                ab::arm_label(&r.plan.name, arm),
            ));
        }
    }
    if let Some(d) = &s.doc {
        rows.push((
            "/v1/extract".to_string(),
            d.name.clone(),
            d.version,
            String::new(),
        ));
    }
    // The window's figures read the log: off the async workers (not behind the inference
    // semaphore, so a scrape is not queued behind inferences).
    let st2 = st.clone();
    let window = tokio::task::spawn_blocking(move || st2.window_gauges())
        .await
        .unwrap_or_else(|e| super::metrics::WindowGauges {
            notes: vec![format!("the monitoring figures failed: {e}")],
            ..Default::default()
        });
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(&rows, &window),
    )
        .into_response()
}

/// The largest feedback body: a request id and the text of one line.
pub const FEEDBACK_MAX_BODY: usize = 16 << 10;

fn internal(e: impl std::fmt::Display) -> ApiError {
    err(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("inference failed: {e}"),
    )
}

/// Runs `f` on the blocking pool, one per core at a time.
async fn blocking<T: Send + 'static>(
    st: &State,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = st.workers.acquire().await.map_err(internal)?;
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

fn now_ms() -> i64 {
    crate::store::now_ns() / 1_000_000
}

async fn ocr(
    S(st): S<Arc<State>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let t0 = Instant::now();
    let bytes = read_body(&st, &headers, body).await?;
    let id = request_id(&st, &headers)?;
    if st.answers.lock().unwrap().get(&id).is_some() {
        return Err(id_taken(&id));
    }
    let served = st.served();
    let (slot, arm) = if let Some(r) = &served.ab {
        let key = headers
            .get("x-lab-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(&id);
        let (arm, slot) = r.pick(key);
        (slot.clone(), Some(ab::arm_label(&r.plan.name, arm)))
    } else if let Some(s) = &served.ocr {
        (s.clone(), None)
    } else {
        return Err(err(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "no OCR model is deployed to `{}`: lab deploy NAME@N --env {}",
                st.env, st.env
            ),
        ));
    };
    let s2 = slot.clone();
    let (text, confidence, features) = blocking(&st, move || {
        let img = decode(&bytes, OCR_MAX_PIXELS, "/v1/ocr")?;
        let grey = img.to_luma8();
        let features = image_features(&grey);
        let (text, conf) = s2.read(&grey, &bytes).map_err(internal)?;
        Ok((text, conf, features))
    })
    .await?;
    let latency = t0.elapsed();
    let fresh = st.answers.lock().unwrap().insert_new(
        id.clone(),
        Answer {
            model: slot.name.clone(),
            version: slot.version,
            arm: arm.clone(),
            prediction: text.clone(),
            truth: None,
        },
    );
    if !fresh {
        // Another request with this id was answered meanwhile.
        return Err(id_taken(&id));
    }
    if let Some((test, letter)) = arm.as_deref().and_then(|a| a.rsplit_once('/')) {
        st.metrics
            .arm_request(test, letter, &slot.name, slot.version);
    }
    st.record(Msg::Inference(InferenceRecord {
        request_id: id.clone(),
        model: slot.name.clone(),
        version: slot.version,
        arm: arm.clone(),
        time_ms: now_ms(),
        latency_us: latency.as_micros() as u64,
        features,
        confidence,
    }));
    Ok(Json(json!({
        "request_id": id,
        "text": text,
        "confidence": confidence,
        "model": slot.name,
        "version": slot.version,
        "arm": arm,
        "latency_ms": latency.as_secs_f64() * 1e3,
    })))
}

async fn extract_h(
    S(st): S<Arc<State>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let t0 = Instant::now();
    let bytes = read_body(&st, &headers, body).await?;
    let id = request_id(&st, &headers)?;
    let served = st.served();
    let (Some(doc), Some(ocr)) = (served.doc.clone(), served.ocr.clone()) else {
        return Err(err(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "extraction needs an OCR and a document model deployed to `{}`: lab deploy doc_base@N --env {}",
                st.env, st.env
            ),
        ));
    };
    let (o2, d2) = (ocr.clone(), doc.clone());
    let (x, features) = blocking(&st, move || {
        let OcrEngine::Model { model, vocab } = &o2.engine else {
            return Err(err(
                StatusCode::SERVICE_UNAVAILABLE,
                "extraction needs a trained OCR model, not tesseract",
            ));
        };
        let m = extract::Models {
            ocr: model,
            vocab,
            doc: &d2.model,
            tok: &d2.tok,
        };
        if crate::timetable::pdf::is_pdf(&bytes) {
            return extract_pdf_body(&bytes, &m);
        }
        let img = decode(&bytes, EXTRACT_MAX_PIXELS, "/v1/extract")?;
        let features = image_features(&img.to_luma8());
        match extract::extract(&img, &m) {
            Ok(x) => Ok((serde_json::to_value(&x).map_err(internal)?, features)),
            Err(ExtractError::NoTimetable(why)) => Err(err(StatusCode::UNPROCESSABLE_ENTITY, why)),
            Err(e) => Err(internal(e)),
        }
    })
    .await?;
    let latency = t0.elapsed();
    st.record(Msg::Inference(InferenceRecord {
        request_id: id.clone(),
        model: doc.name.clone(),
        version: doc.version,
        arm: None,
        time_ms: now_ms(),
        latency_us: latency.as_micros() as u64,
        features,
        confidence: None,
    }));
    let mut v = x;
    if let Value::Object(m) = &mut v {
        m.insert("request_id".into(), json!(id));
        m.insert(
            "models".into(),
            json!(format!("{} + {}@{}", ocr.label(), doc.name, doc.version)),
        );
        m.insert("model".into(), json!(doc.name));
        m.insert("version".into(), json!(doc.version));
        m.insert("latency_ms".into(), json!(latency.as_secs_f64() * 1e3));
    }
    Ok(Json(v))
}

/// The most pages one `/v1/extract` PDF may have.
const EXTRACT_MAX_PAGES: usize = 50;

/// A PDF body: `{"pages": [{"page": 1, "entries": …} | {"page": 2, "error": "…"}]}` — each page
/// as `lab extract` reads it (the text layer, else the scan). 422 when no page gave entries.
fn extract_pdf_body(
    bytes: &[u8],
    m: &extract::Models,
) -> Result<(Value, std::collections::BTreeMap<String, f64>), ApiError> {
    let n = crate::timetable::pdf::pages(bytes)
        .map_err(|e| {
            err(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("/v1/extract: {e}"),
            )
        })?
        .len();
    if n > EXTRACT_MAX_PAGES {
        return Err(err(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "/v1/extract: the PDF has {n} pages; at most {EXTRACT_MAX_PAGES} per request — split it"
            ),
        ));
    }
    let pages = extract::extract_pdf(bytes, m).map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("/v1/extract: {e}"),
        )
    })?;
    if pages.iter().all(|(r, _)| r.is_err()) {
        let why: Vec<String> = pages
            .iter()
            .enumerate()
            .filter_map(|(i, (r, _))| r.as_ref().err().map(|e| format!("page {}: {e}", i + 1)))
            .collect();
        return Err(err(StatusCode::UNPROCESSABLE_ENTITY, why.join("; ")));
    }
    let list: Vec<Value> = pages
        .into_iter()
        .enumerate()
        .map(|(i, (r, ms))| match r {
            Ok(x) => {
                let mut v = serde_json::to_value(&x).unwrap_or(Value::Null);
                if let Value::Object(o) = &mut v {
                    o.insert("page".into(), json!(i + 1));
                    o.insert("ms".into(), json!(ms));
                }
                v
            }
            Err(e) => json!({"page": i + 1, "error": e, "ms": ms}),
        })
        .collect();
    // No image features for a text PDF: drift is measured on images.
    Ok((json!({ "pages": list }), std::collections::BTreeMap::new()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackIn {
    request_id: String,
    truth: String,
}

async fn feedback(
    S(st): S<Arc<State>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let limit = FEEDBACK_MAX_BODY.min(st.max_body);
    let bytes = read_limited(
        &st,
        &headers,
        body,
        limit,
        "feedback: a request id and one line's text",
    )
    .await?;
    let f: FeedbackIn = serde_json::from_slice(&bytes).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            format!("bad feedback JSON ({e}): send {{\"request_id\": \"…\", \"truth\": \"…\"}}"),
        )
    })?;
    let (a, recorded) = {
        let mut answers = st.answers.lock().unwrap();
        let Some(a) = answers.get_mut(&f.request_id) else {
            return Err(err(
                StatusCode::NOT_FOUND,
                format!(
                    "unknown request_id `{}`: not an OCR answer of this server (recent answers are kept in memory, up to 100000)",
                    f.request_id
                ),
            ));
        };
        // One feedback per answer: the same truth again changes nothing; another one replaces
        // it (recorded, and counted instead of the first).
        let changed = a.truth.as_deref() != Some(f.truth.as_str());
        a.truth = Some(f.truth.clone());
        (a.clone(), changed)
    };
    let correct = a.prediction == f.truth;
    let out = json!({
        "request_id": f.request_id,
        "correct": correct,
        "prediction": a.prediction,
        "truth": f.truth,
        "model": a.model,
        "version": a.version,
        "arm": a.arm,
        "recorded": recorded,
    });
    if !recorded {
        return Ok(Json(out));
    }
    st.record(Msg::Feedback(FeedbackRecord {
        request_id: f.request_id.clone(),
        model: a.model.clone(),
        version: a.version,
        arm: a.arm.clone(),
        time_ms: now_ms(),
        prediction: a.prediction.clone(),
        truth: f.truth.clone(),
        correct,
    }));
    Ok(Json(out))
}
