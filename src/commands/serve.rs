//! `lab serve`: resolve what to serve, load it from the blob store, run the server of
//! `crate::serve` until Ctrl-C / SIGTERM. This file only adapts the loading of models by
//! reference (`train::load`) to the server's `Loader`.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use super::train::{load_doc_model, load_model};
use crate::ab;
use crate::lab::Lab;
use crate::models;
use crate::serve::{self, DocSlot, Loader, OcrEngine, OcrSlot, ServeOut};

/// Loads served models through the registry, and checks the monitor's rules after flushes.
#[derive(Default)]
struct LabLoader {
    /// When the monitor's rules were last checked (ms since the epoch).
    last_check: std::sync::atomic::AtomicI64,
}

fn split(label: &str) -> (String, u32) {
    match crate::store::registry::split_label(label) {
        Some((n, v)) => (n.to_string(), v),
        None => (label.to_string(), 0),
    }
}

impl Loader for LabLoader {
    fn ocr(&self, lab: &Lab, label: &str) -> Result<OcrSlot> {
        if label == ab::TESSERACT {
            let bin = super::eval::tesseract_path().ok_or_else(|| {
                anyhow!("the A/B arm ocr_tesseract needs tesseract on the PATH (Debian: apt-get install tesseract-ocr)")
            })?;
            let tmp = lab
                .project
                .lab_dir()
                .join("tmp")
                .join(format!("serve-{}", std::process::id()));
            std::fs::create_dir_all(&tmp)?;
            return Ok(OcrSlot {
                name: ab::TESSERACT.into(),
                version: 0,
                engine: OcrEngine::Tesseract { bin, tmp },
            });
        }
        let m = load_model(lab, label)?;
        let (name, version) = split(&m.name);
        Ok(OcrSlot {
            name,
            version,
            engine: OcrEngine::Model {
                model: m.loaded.model,
                vocab: m.loaded.vocab,
            },
        })
    }

    fn doc(&self, lab: &Lab, label: &str) -> Result<DocSlot> {
        let m = load_doc_model(lab, label)?;
        let (name, version) = split(&m.name);
        Ok(DocSlot {
            name,
            version,
            model: m.loaded.model,
            tok: m.loaded.tok,
        })
    }

    /// The monitor's rule check (`lab monitor check`), at most once every [`CHECK_EVERY_MS`];
    /// raised and resolved alerts are printed on stderr. It runs on the recorder's blocking
    /// thread (typically well under 0.2 s with the reference features cached); records that
    /// arrive meanwhile wait in the recorder's queue, none are dropped.
    fn after_flush(&self, lab: &Lab) {
        use std::sync::atomic::Ordering;
        let now = crate::store::now_ns() / 1_000_000;
        if now - self.last_check.load(Ordering::Relaxed) < CHECK_EVERY_MS {
            return;
        }
        self.last_check.store(now, Ordering::Relaxed);
        match super::monitor::check(lab, now) {
            Ok(out) => {
                for r in &out.raised {
                    eprintln!("lab serve: alert raised: {r}");
                }
                for r in &out.resolved {
                    eprintln!("lab serve: alert resolved: {r}");
                }
            }
            Err(e) => eprintln!("lab serve: monitor check failed: {e:#}"),
        }
    }

    /// `/metrics`' monitoring figures: `lab monitor`'s code over the rules' windows; a failure
    /// (configs/monitoring.toml broken, the log unreadable) becomes a note in the scrape.
    fn window_gauges(&self, lab: &Lab) -> serve::metrics::WindowGauges {
        let now = crate::store::now_ns() / 1_000_000;
        super::monitor::window_gauges(lab, now).unwrap_or_else(|e| serve::metrics::WindowGauges {
            notes: vec![format!("no monitoring figures: {e:#}")],
            ..Default::default()
        })
    }
}

/// How often the server runs the monitor's rules while inferences arrive (milliseconds).
const CHECK_EVERY_MS: i64 = 5_000;

/// `--ocr` / `--model`: resolved to a pinned `NAME@N` of the right family.
fn pin(lab: &Lab, reference: &str, doc: bool) -> Result<String> {
    let reg = lab.store.read_views(|v| {
        use crate::store::views::Query;
        v.registry()
    })?;
    let v = models::resolve_version(&reg, reference)
        .map_err(|e| anyhow!("cannot serve `{reference}`: {e}"))?;
    let kind = models::bundle(&lab.store.blobs, &v.model)?.kind;
    if kind.starts_with("doc") != doc {
        bail!(
            "cannot serve `{reference}` with {}: {} is a{} model",
            if doc { "--model" } else { "--ocr" },
            v.label(),
            if doc { "n OCR" } else { " document" }
        );
    }
    Ok(v.label())
}

/// The environment variable a token may come from instead of argv (seen by `ps`).
pub const TOKEN_ENV: &str = "LAB_SERVE_TOKEN";

/// The server's token: from --token, --token-file (its first line) or LAB_SERVE_TOKEN, at
/// most one of them.
pub fn token(arg: Option<String>, file: Option<&Path>) -> Result<Option<String>> {
    let env = std::env::var_os(TOKEN_ENV).filter(|v| !v.is_empty());
    if env.is_some() && (arg.is_some() || file.is_some()) {
        bail!(
            "the token is given twice: {TOKEN_ENV} is set and so is --token or --token-file — keep one"
        );
    }
    if let Some(v) = env {
        let t = v.into_string().map_err(|_| {
            anyhow!("{TOKEN_ENV} is not valid UTF-8: use letters, digits and punctuation")
        })?;
        return Ok(Some(t));
    }
    let Some(path) = file else {
        return Ok(arg);
    };
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the token file {} (--token-file): give a readable file holding the token on its first line",
            path.display()
        )
    })?;
    let t = text.lines().next().unwrap_or("").trim().to_string();
    if t.is_empty() {
        bail!(
            "the token file {} (--token-file) is empty: write the token on its first line",
            path.display()
        );
    }
    Ok(Some(t))
}

/// The connection limits of the server from their flags, each checked.
pub fn limits(
    max_connections: usize,
    header_timeout: u64,
    body_timeout: u64,
    shutdown_timeout: u64,
) -> Result<serve::Limits> {
    if max_connections == 0 {
        bail!("--max-connections 0 would refuse every client: give at least 1 (default 512)");
    }
    for (flag, v) in [
        ("--header-timeout", header_timeout),
        ("--body-timeout", body_timeout),
    ] {
        if v == 0 {
            bail!("{flag} 0 would close every connection at once: give seconds, at least 1");
        }
    }
    let secs = std::time::Duration::from_secs;
    Ok(serve::Limits {
        max_connections,
        header_timeout: secs(header_timeout),
        body_timeout: secs(body_timeout),
        shutdown_timeout: secs(shutdown_timeout),
    })
}

/// Runs the server (see `crate::serve`).
#[allow(clippy::too_many_arguments)]
pub fn serve(
    lab: Lab,
    addr: &str,
    env: &str,
    token: Option<String>,
    max_body: usize,
    limits: serve::Limits,
    ocr: Option<&str>,
    doc: Option<&str>,
) -> Result<ServeOut> {
    super::deploy::check_env(env)?;
    serve::check_bind(addr, token.as_deref())?;
    if max_body == 0 {
        bail!("--max-body 0 would refuse every request: give a size in bytes, e.g. 4194304");
    }
    let ocr = ocr.map(|r| pin(&lab, r, false)).transpose()?;
    let doc = doc.map(|r| pin(&lab, r, true)).transpose()?;
    let cfg = serve::Config {
        addr: addr.to_string(),
        env: env.to_string(),
        token,
        max_body,
        limits,
        ocr,
        doc,
    };
    serve::run(lab, cfg, Box::new(LabLoader::default()))
}
