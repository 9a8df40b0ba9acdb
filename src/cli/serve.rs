//! `lab serve` (the inference server) and `lab ab` (A/B tests): clap structs only.

use clap::{Args, Subcommand};

/// Serve the deployed models over HTTP: OCR, extraction, feedback, health, metrics
///
/// Serves what is deployed to --env (re-read every second: `lab deploy` and `lab ab start` in
/// another terminal take effect without a restart), or the versions --ocr / --model name.
/// Prints `lab serve: listening on http://ADDR` once bound. Ctrl-C or SIGTERM stops accepting,
/// lets requests in progress finish and appends every pending inference record, within
/// --shutdown-timeout, and exits 0 (1 when records could not be appended: a full disk, say).
/// The token may come from --token, --token-file or LAB_SERVE_TOKEN.
///
///   POST /v1/ocr       a line image (PNG/JPEG, at most 4 Mpx) → {request_id, text, confidence, model, version, arm, latency_ms}
///   POST /v1/extract   a timetable image (at most 40 Mpx) → {entries: [{day, start, end, subject, room, teacher}], …}
///   POST /v1/feedback  {"request_id": "…", "truth": "…"} → scored against the answer given
///                      (at most 16 KiB; one per answer: a different truth replaces the first)
///   GET  /healthz      liveness (never needs the token; names the served models only with it)
///   GET  /metrics      Prometheus text: requests, latency histogram, records, served versions
///
/// Confidence (OCR) is the mean, over the emitted characters, of the highest softmax
/// probability within each character's frames. Headers: X-Request-Id (else one is made),
/// X-Lab-Key (the A/B routing key; else the request id). Every inference is recorded
/// (InferencesRecorded, batched every second) with the input's image features. Example:
///
///   lab serve --addr 127.0.0.1:8000 &
///
///   curl -s --data-binary @line.png http://127.0.0.1:8000/v1/ocr
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// IP:PORT to listen on; port 0 picks a free port. A non-loopback address needs --token.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: String,
    /// The environment whose deployments are served.
    #[arg(long, default_value = "production")]
    pub env: String,
    /// Require `Authorization: Bearer TOKEN` on every endpoint but /healthz. A token on the
    /// command line is visible to other users (`ps`): prefer --token-file or the
    /// LAB_SERVE_TOKEN environment variable.
    #[arg(long, value_name = "TOKEN", conflicts_with = "token_file")]
    pub token: Option<String>,
    /// Read the token from this file (its first line).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<std::path::PathBuf>,
    /// The largest request body accepted, in bytes (larger: 413).
    #[arg(long, value_name = "BYTES", default_value_t = crate::serve::DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// Serve this OCR version instead of the deployed one (NAME@N, NAME@production…).
    #[arg(long, value_name = "REF")]
    pub ocr: Option<String>,
    /// Serve this document model for /v1/extract instead of the deployed one.
    #[arg(long, value_name = "REF")]
    pub model: Option<String>,
    /// Open client connections at most. At the limit a new connection closes the oldest one
    /// that is not inside a request (a half-sent or idle one).
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub max_connections: usize,
    /// Seconds a request's headers may take to arrive; also how long a kept-alive connection
    /// may idle. The connection is closed after it.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds a request's body may take to arrive (408 after it).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub body_timeout: u64,
    /// Seconds Ctrl-C / SIGTERM waits for requests in progress and for the last appends to
    /// the log; connections still open then are closed.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub shutdown_timeout: u64,
}

/// A/B tests of two model versions on `lab serve`'s /v1/ocr
///
/// Requests are routed by a hash of their key (X-Lab-Key, else the request id), the test's
/// seed and its name: a client with a fixed key always sees the same arm. Example:
///
///   lab ab start lora-vs-student --a ocr_student@1 --b ocr_lora@1 --split 0.5 && lab ab results lora-vs-student
#[derive(Debug, Subcommand)]
#[command(verbatim_doc_comment)]
pub enum AbCmd {
    /// Start a test: arms a and b, the fraction of requests sent to b, the metrics judged
    ///
    /// Arms are pinned to NAME@N when the test starts; `ocr_tesseract` (the tesseract binary)
    /// may be an arm when it is installed. One running test per endpoint; names are never
    /// reused. The seed comes from lab.toml's project.seed and the name. Example:
    ///
    ///   lab ab start t1 --a ocr_student@1 --b ocr_lora@1 --split 0.2 --metrics accuracy,latency
    #[command(verbatim_doc_comment)]
    Start {
        name: String,
        /// Arm a: NAME@N, NAME@production, NAME@ALIAS… or ocr_tesseract.
        #[arg(long, value_name = "MODEL@V")]
        a: String,
        /// Arm b.
        #[arg(long, value_name = "MODEL@V")]
        b: String,
        /// The fraction of requests routed to b (0 < split < 1).
        #[arg(long, default_value_t = 0.5)]
        split: f64,
        /// What decides the winner: accuracy (from /v1/feedback), latency, or both.
        #[arg(long, value_delimiter = ',', default_value = "accuracy,latency")]
        metrics: Vec<String>,
    },
    /// List A/B tests: arms, split, status, winner
    ///
    /// Example:
    ///
    ///   lab ab ls --json
    #[command(verbatim_doc_comment)]
    Ls,
    /// Per arm: requests, accuracy (from feedback), latency p50/p95; the tests and a verdict
    ///
    /// Accuracy: a two-proportion z-test (p-value, 95% CI of B − A). Latency: a Mann–Whitney U
    /// test and a seeded bootstrap 95% CI of the median difference. Verdicts need 30 feedback
    /// (accuracy) and 20 requests (latency) per arm. Example:
    ///
    ///   lab ab results t1 --json
    #[command(verbatim_doc_comment)]
    Results { name: String },
    /// Conclude a test (AbConcluded with the winner the statistics name)
    ///
    /// --promote winner|a|b moves that arm's model to the production stage of the registry.
    /// Example:
    ///
    ///   lab ab stop t1 --promote winner
    #[command(verbatim_doc_comment)]
    Stop {
        name: String,
        /// winner, a or b: promote that arm's model to production.
        #[arg(long, value_name = "WHICH")]
        promote: Option<String>,
    },
}

/// The MLflow tracking + registry REST API over the log, and a live web UI
///
/// The official `mlflow` client logs into lab: point it here with
/// `mlflow.set_tracking_uri("http://127.0.0.1:5000")`. Experiments, runs, params, metrics,
/// tags, artifacts (the `mlflow-artifacts` proxy, stored as blobs) and the model registry
/// (versions, stages, aliases) are recorded as lab events, so `lab runs ls`, `lab metrics`,
/// `lab models ls` and `lab verify` see them; `models:/NAME@ALIAS` works from Python. The web
/// UI (same address, no build step, works offline) shows experiments, runs (filter with
/// MLflow's search syntax, sort, compare), metric charts, artifacts and models, and updates
/// itself while runs log. Prints `lab ui: listening on http://ADDR` once bound. Example:
///
///   lab ui --addr 127.0.0.1:5000 &
///
///   python -c "import mlflow; mlflow.set_tracking_uri('http://127.0.0.1:5000'); mlflow.log_metric('x', 1)"
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct UiArgs {
    /// IP:PORT to listen on; port 0 picks a free port. A non-loopback address needs --token.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub addr: String,
    /// Require `Authorization: Bearer TOKEN` (MLFLOW_TRACKING_TOKEN for the mlflow client) or
    /// the login form's cookie on everything but /health.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The largest request body accepted (artifact uploads), in bytes (larger: 413).
    #[arg(long, value_name = "BYTES", default_value_t = crate::serve::ui::DEFAULT_MAX_BODY)]
    pub max_body: usize,
}
