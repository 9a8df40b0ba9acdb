//! `lab log` and `lab show`.

use anyhow::{Result, bail};
use serde_json::json;

use crate::event::{GitState, KINDS, Record};
use crate::lab::Lab;

/// Filters of `lab log`.
#[derive(Debug, Default)]
pub struct Filter {
    pub kinds: Vec<String>,
    pub since_ns: Option<i64>,
    pub run: Option<String>,
    pub limit: Option<usize>,
}

/// Parses `--since`: an RFC 3339 time (`2026-11-27T10:00:00Z`, `2026-11-27 10:00:00`), a date
/// (`2026-11-27`), or an age (`90s`, `15m`, `2h`, `3days`).
pub fn parse_since(s: &str) -> Result<i64> {
    let s = s.trim();
    if let Ok(d) = humantime::parse_duration(s) {
        let ago = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        return Ok(crate::store::now_ns().saturating_sub(ago));
    }
    let with_time = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    match humantime::parse_rfc3339_weak(&with_time) {
        // Times past 2262 do not fit in i64 nanoseconds: they are "after every event".
        Ok(t) => Ok(t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0)),
        Err(_) => bail!(
            "bad --since `{s}`: give a time (2026-11-27T10:00:00Z), a date (2026-11-27) or an age (15m, 2h, 3days)"
        ),
    }
}

/// Validates `--kind` values against the closed set of kinds.
pub fn parse_kinds(values: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for v in values.iter().flat_map(|v| v.split(',')) {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        if !KINDS.contains(&v) {
            bail!("unknown event kind `{v}`; kinds are: {}", KINDS.join(", "));
        }
        out.push(v.to_string());
    }
    Ok(out)
}

/// Matching events, newest first.
pub fn events(lab: &Lab, f: &Filter) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let limit = f.limit.unwrap_or(usize::MAX);
    if limit == 0 {
        return Ok(out);
    }
    lab.store.scan_rev(|rec| {
        let env = &rec.envelope;
        if let Some(since) = f.since_ns {
            if env.time_ns < since {
                return Ok(false);
            }
        }
        let kind_ok = f.kinds.is_empty() || f.kinds.iter().any(|k| k == env.body.kind());
        let run_ok = match &f.run {
            None => true,
            Some(r) => env.body.run().is_some_and(|id| id.starts_with(r.as_str())),
        };
        if kind_ok && run_ok {
            out.push(rec);
        }
        Ok(out.len() < limit)
    })?;
    Ok(out)
}

pub use crate::event::fmt_time;

fn git_short(g: &GitState) -> String {
    match g {
        GitState::NoRepo => "no git".into(),
        GitState::Repo { commit, dirty, .. } => format!(
            "{}{}",
            commit.as_deref().map_or("unborn", |c| &c[..c.len().min(8)]),
            if *dirty { "+dirty" } else { "" }
        ),
    }
}

/// One line per event.
pub fn text(records: &[Record]) -> String {
    if records.is_empty() {
        return "no events".into();
    }
    records
        .iter()
        .map(|r| {
            let e = &r.envelope;
            format!(
                "#{:<6} {}  {}  {:<14} {:<15} {}",
                e.seq,
                r.hash.short(),
                fmt_time(e.time_ns),
                git_short(&e.git),
                e.body.kind(),
                e.body.summary()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON object of one event: seq, hash, prev, time, kind, actor, git, lab version, body.
pub fn json(r: &Record) -> serde_json::Value {
    let e = &r.envelope;
    json!({
        "seq": e.seq,
        "hash": r.hash,
        "prev": e.prev,
        "time": humantime::format_rfc3339_nanos(
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(e.time_ns.max(0) as u64)
        ).to_string(),
        "time_ns": e.time_ns,
        "kind": e.body.kind(),
        "actor": e.actor,
        "git": e.git,
        "lab_version": e.lab_version,
        "body": e.body,
    })
}

/// `lab show SEQ|HASH`: by sequence number, `#N`, or a hash prefix of at least 4 hex digits.
/// A short all-digit argument is a sequence number when that event exists, else a hash prefix.
pub fn show(lab: &Lab, what: &str) -> Result<Record> {
    let w = what.trim_start_matches('#');
    let digits = !w.is_empty() && w.chars().all(|c| c.is_ascii_digit());
    let is_seq = what.starts_with('#') || (digits && w.len() < 8);
    let mut missing_seq = None;
    if is_seq {
        let Ok(seq) = w.parse::<u64>() else {
            bail!("`{what}` is not a sequence number: write `lab show 12` or `lab show '#12'`");
        };
        if let Some(r) = lab.store.get(seq)? {
            return Ok(r);
        }
        let (head, _) = lab.store.head()?;
        let range = if head == 0 {
            "the log is empty".to_string()
        } else {
            format!("the log has events #1..#{head}")
        };
        if what.starts_with('#') || w.len() < 4 {
            bail!("no event #{seq}: {range}");
        }
        missing_seq = Some(format!("no event #{seq} ({range}), and "));
    }
    if w.len() < 4 || !w.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("`{what}` is neither a sequence number nor a hash prefix (≥ 4 hex digits)");
    }
    let prefix = w.to_ascii_lowercase();
    let mut hits = Vec::new();
    lab.store.scan(1, |r| {
        if r.hash.to_hex().starts_with(&prefix) {
            hits.push(r);
        }
        Ok(hits.len() < 2)
    })?;
    match hits.len() {
        0 => bail!(
            "{}no event's hash starts with `{w}` (see `lab log`)",
            missing_seq.unwrap_or_default()
        ),
        1 => Ok(hits.pop().unwrap()),
        _ => bail!("`{what}` matches several events — give more digits"),
    }
}

/// A git state for people: `commit 3fa9… on main, dirty (diff blob …)` or `not a git repository`.
pub fn git_text(g: &GitState) -> String {
    match g {
        GitState::NoRepo => "not a git repository".to_string(),
        GitState::Repo {
            commit,
            branch,
            dirty,
            diff,
        } => format!(
            "commit {} on {}{}",
            commit.as_deref().unwrap_or("(none yet)"),
            branch.as_deref().unwrap_or("(detached)"),
            match (dirty, diff) {
                (true, Some(d)) => format!(", dirty (diff blob {d})"),
                (true, None) => ", dirty".into(),
                _ => String::new(),
            }
        ),
    }
}

/// The full text of one event.
pub fn show_text(r: &Record) -> String {
    let e = &r.envelope;
    let git = git_text(&e.git);
    format!(
        "event #{}  {}\nhash    {}\nprev    {}\ntime    {}\nactor   {}\ngit     {}\nlab     {}\n\n{}\n\n{}",
        e.seq,
        e.body.kind(),
        r.hash,
        e.prev,
        fmt_time(e.time_ns),
        e.actor,
        git,
        e.lab_version,
        e.body.summary(),
        serde_json::to_string_pretty(&e.body).unwrap_or_default()
    )
}
