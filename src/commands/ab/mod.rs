//! `lab ab start|ls|results|stop`: A/B tests of two model versions (or a version against
//! tesseract) on `lab serve`'s `/v1/ocr`. A test is an `AbStarted` event (arms pinned to
//! `NAME@N`, split, metrics, a seed derived from the project seed and the name); the server
//! routes requests by it; `stop` concludes it (`AbConcluded`) with the winner the statistics
//! name and can promote the winner to production through the registry.

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

mod results;
pub use results::{AbResults, analyse, results, results_text};

use super::deploy::DeployOut;
use crate::ab;
use crate::event::Event;
use crate::lab::Lab;
use crate::models;
use crate::progress::Reporter;
use crate::store::views::Query;
use crate::store::{AbRow, StoreError, VersionRow};

#[derive(Debug, Serialize)]
pub struct StartOut {
    pub name: String,
    pub a: String,
    pub b: String,
    pub split: f64,
    pub metrics: Vec<String>,
    pub seed: u64,
    /// `ocr` or `doc`: the endpoint family the arms serve.
    pub kind: String,
}

/// The family of a bundle kind (`ocr`, `ocr-lora` → `ocr`).
fn family(kind: &str) -> &str {
    if kind.starts_with("doc") {
        "doc"
    } else {
        "ocr"
    }
}

/// An arm reference → (pinned label, family).
fn arm(lab: &Lab, reg: &[VersionRow], which: &str, r: &str) -> Result<(String, String)> {
    if r == ab::TESSERACT {
        if super::eval::tesseract_path().is_none() {
            bail!(
                "--{which} ocr_tesseract: tesseract is not on the PATH (Debian: apt-get install tesseract-ocr), so it cannot be an arm"
            );
        }
        return Ok((r.to_string(), "ocr".into()));
    }
    let v = models::resolve_version(reg, r).map_err(|e| anyhow!("--{which} `{r}`: {e}"))?;
    let kind = models::bundle(&lab.store.blobs, &v.model)?.kind;
    Ok((v.label(), family(&kind).to_string()))
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        bail!("bad A/B test name `{name}`: use 1 to 64 letters, digits, `_`, `-` or `.`");
    }
    Ok(())
}

/// Starts a test (see the module doc).
pub fn start(
    lab: &Lab,
    name: &str,
    a: &str,
    b: &str,
    split: f64,
    metrics: &[String],
) -> Result<StartOut> {
    check_name(name)?;
    if !(split > 0.0 && split < 1.0) {
        bail!("--split {split}: give the fraction of requests for b, between 0 and 1 (e.g. 0.5)");
    }
    if metrics.is_empty() {
        bail!("--metrics is empty: name accuracy, latency or both");
    }
    for m in metrics {
        if !ab::METRICS.contains(&m.as_str()) {
            bail!("--metrics: unknown metric `{m}` — use accuracy, latency or both");
        }
    }
    let reg = lab.store.read_views(|v| v.registry())?;
    let (la, fa) = arm(lab, &reg, "a", a)?;
    let (lb, fb) = arm(lab, &reg, "b", b)?;
    if fa != fb {
        bail!("the arms serve different things: {la} is an {fa} model, {lb} a {fb} model");
    }
    if fa != "ocr" {
        bail!("A/B tests route /v1/ocr: {la} and {lb} are document models");
    }
    if la == lb {
        bail!("both arms are {la}: an A/B test compares two different versions");
    }
    let seed = ab::test_seed(lab.project.config.project.seed, name);
    let blobs = &lab.store.blobs;
    let family_of = |reg: &[VersionRow], label: &str| -> String {
        if label == ab::TESSERACT {
            return "ocr".into();
        }
        crate::store::registry::split_label(label)
            .and_then(|(n, v)| reg.iter().find(|r| r.name == n && r.version == v))
            .and_then(|r| models::bundle(blobs, &r.model).ok())
            .map_or("ocr".into(), |b| family(&b.kind).to_string())
    };
    let metrics = metrics.to_vec();
    lab.append_with(|v| {
        let tests = v.ab_tests()?;
        if let Some(t) = tests.iter().find(|t| t.name == name) {
            return Err(StoreError::Rejected(format!(
                "an A/B test named `{name}` already exists ({}): test names are never reused — pick another",
                if t.running() { "running" } else { "concluded" }
            )));
        }
        let reg = v.registry()?;
        if let Some(t) = tests
            .iter()
            .filter(|t| t.running())
            .find(|t| family_of(&reg, &t.a) == fa)
        {
            return Err(StoreError::Rejected(format!(
                "A/B test `{}` already runs on /v1/ocr ({} vs {}): stop it first (lab ab stop {})",
                t.name, t.a, t.b, t.name
            )));
        }
        Ok((
            vec![Event::AbStarted {
                name: name.to_string(),
                a: la.clone(),
                b: lb.clone(),
                split,
                metrics: metrics.clone(),
                seed,
            }],
            (),
        ))
    })?;
    Ok(StartOut {
        name: name.to_string(),
        a: la,
        b: lb,
        split,
        metrics,
        seed,
        kind: fa,
    })
}

/// Every test.
pub fn ls(lab: &Lab) -> Result<Vec<AbRow>> {
    Ok(lab.store.read_views(|v| v.ab_tests())?)
}

pub fn ls_text(rows: &[AbRow]) -> String {
    if rows.is_empty() {
        return "no A/B tests yet — lab ab start NAME --a MODEL@V --b MODEL@V".into();
    }
    let mut s = format!(
        "{:<16} {:<10} {:<20} {:<20} {:>6} {:<20} {}\n",
        "NAME", "STATUS", "A", "B", "SPLIT", "STARTED", "WINNER"
    );
    for t in rows {
        s.push_str(&format!(
            "{:<16} {:<10} {:<20} {:<20} {:>6.2} {:<20} {}\n",
            t.name,
            if t.running() { "running" } else { "concluded" },
            t.a,
            t.b,
            t.split,
            crate::event::fmt_time(t.time_ns),
            t.ended
                .as_ref()
                .map(|e| e.winner.clone().unwrap_or_else(|| "none".into()))
                .unwrap_or_else(|| "-".into())
        ));
    }
    s.trim_end().to_string()
}

#[derive(Debug, Serialize)]
pub struct StopOut {
    pub name: String,
    pub winner: Option<String>,
    /// `--promote`: the arm deployed to production through the gates (or refused by them).
    pub deployed: Option<DeployOut>,
    pub results: AbResults,
}

impl StopOut {
    pub fn text(&self) -> String {
        let mut s = results_text(&self.results);
        s.push_str(&format!("\nconcluded A/B test {}", self.name));
        if let Some(d) = &self.deployed {
            s.push('\n');
            s.push_str(&d.text());
        }
        s
    }
}

/// Concludes a running test; `promote` is `winner`, `a` or `b`: that arm's model is deployed to
/// production through the gates of configs/deploy.toml (`lab deploy`), which may refuse it.
pub fn stop(
    lab: &Lab,
    name: &str,
    promote: Option<&str>,
    reporter: &dyn Reporter,
) -> Result<StopOut> {
    let t = results::find(lab, name)?;
    if !t.running() {
        bail!("A/B test `{name}` is already concluded");
    }
    let r = results(lab, name)?;
    let target = match promote {
        None => None,
        Some("winner") => Some(r.winner.clone().ok_or_else(|| {
            anyhow!(
                "--promote winner: the statistics name no winner yet ({}) — stop without --promote, or promote an arm with --promote a|b",
                r.verdict.join("; ")
            )
        })?),
        Some("a") => Some(t.a.clone()),
        Some("b") => Some(t.b.clone()),
        Some(o) => bail!("--promote `{o}`: use winner, a or b"),
    };
    let target = match target {
        Some(l) if l == ab::TESSERACT => {
            bail!("--promote: the arm is ocr_tesseract, which is not a registry model")
        }
        Some(l) => Some(
            crate::store::registry::split_label(&l)
                .map(|(n, v)| (n.to_string(), v))
                .ok_or_else(|| anyhow!("arm `{l}` is not NAME@N"))?,
        ),
        None => None,
    };
    let winner = r.winner.clone();
    lab.append_with(|v| {
        if !v.ab_tests()?.iter().any(|x| x.name == name && x.running()) {
            return Err(StoreError::Rejected(format!(
                "A/B test `{name}` was concluded meanwhile"
            )));
        }
        Ok((
            vec![Event::AbConcluded {
                name: name.to_string(),
                winner: winner.clone(),
                promoted: target.is_some(),
            }],
            (),
        ))
    })?;
    let deployed = match target {
        Some((n, v)) => Some(
            super::deploy::deploy(lab, &format!("{n}@{v}"), "production", None, reporter)
                .with_context(|| format!("A/B test {name} is concluded; deploying {n}@{v}"))?,
        ),
        None => None,
    };
    Ok(StopOut {
        name: name.to_string(),
        winner,
        deployed,
        results: r,
    })
}
