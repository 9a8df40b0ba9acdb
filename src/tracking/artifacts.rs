//! The `mlflow-artifacts` proxy over the blob store: artifacts by path under the proxy root
//! (`EXP/RUN/artifacts/PATH`), recorded as `ArtifactLogged` / `ArtifactDeleted`, and the path
//! checks that keep every path inside the store (MLflow's path-traversal CVEs as tests).

use std::collections::BTreeMap;

use super::{State, TResult, Tracking, internal, invalid, not_found};
use crate::event::Event;

impl Tracking {
    // ---- artifacts (the mlflow-artifacts proxy) ----

    /// The run whose artifact root holds `path`, and the path relative to it.
    fn owner(s: &State, path: &str) -> Option<(String, String)> {
        let mut parts = path.splitn(4, '/');
        let _exp = parts.next()?;
        let run = parts.next()?;
        if parts.next()? != "artifacts" {
            return None;
        }
        let rest = parts.next()?;
        if s.runs.contains_key(run) && path.starts_with(&format!("{}/", s.run_root(run))) {
            Some((run.to_string(), rest.to_string()))
        } else {
            None
        }
    }

    pub fn put_artifact(&self, path: &str, data: &[u8]) -> TResult<()> {
        check_artifact_path(path)?;
        if path.is_empty() {
            return Err(invalid("an artifact upload needs a file path"));
        }
        let hash = self.lab.store.blobs.put(data).map_err(internal)?;
        let mut s = self.state()?;
        if s.artifacts
            .keys()
            .any(|k| k.starts_with(&format!("{path}/")))
        {
            return Err(invalid(format!("'{path}' is a directory of artifacts")));
        }
        let (run, rel) = Self::owner(&s, path).unwrap_or_else(|| (String::new(), path.to_string()));
        self.append(
            &mut s,
            vec![Event::ArtifactLogged {
                run,
                path: rel,
                hash,
                size: data.len() as u64,
            }],
        )
    }

    pub fn get_artifact(&self, path: &str) -> TResult<Vec<u8>> {
        check_artifact_path(path)?;
        let hash = {
            let s = self.state()?;
            s.artifacts
                .get(path)
                .map(|(h, _)| *h)
                .ok_or_else(|| not_found(format!("No such artifact: '{path}'")))?
        };
        self.lab.store.blobs.get(&hash).map_err(internal)
    }

    /// The entries directly under `path` (name, is_dir, size); a file lists itself.
    pub fn list_artifacts(&self, path: &str) -> TResult<Vec<(String, bool, Option<u64>)>> {
        check_artifact_path(path)?;
        let s = self.state()?;
        if let Some((_, size)) = s.artifacts.get(path) {
            let name = path.rsplit('/').next().unwrap_or(path).to_string();
            return Ok(vec![(name, false, Some(*size))]);
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut out: BTreeMap<String, (bool, Option<u64>)> = BTreeMap::new();
        for (k, (_, size)) in s.artifacts.range(prefix.clone()..) {
            let Some(rest) = k.strip_prefix(&prefix) else {
                break;
            };
            match rest.split_once('/') {
                Some((dir, _)) => {
                    out.insert(dir.to_string(), (true, None));
                }
                None => {
                    out.insert(rest.to_string(), (false, Some(*size)));
                }
            }
        }
        Ok(out.into_iter().map(|(k, (d, n))| (k, d, n)).collect())
    }

    pub fn delete_artifact(&self, path: &str) -> TResult<()> {
        check_artifact_path(path)?;
        let mut s = self.state()?;
        let under = format!("{path}/");
        let any = s
            .artifacts
            .keys()
            .any(|k| k == path || k.starts_with(&under) || path.is_empty());
        if !any {
            return Ok(());
        }
        let (run, rel) = Self::owner(&s, path).unwrap_or_else(|| (String::new(), path.to_string()));
        self.append(&mut s, vec![Event::ArtifactDeleted { run, path: rel }])
    }
}

/// Decodes `%XX` escapes repeatedly (a double-encoded `%252e` becomes `.`).
pub fn percent_decode_all(s: &str) -> String {
    let mut cur = s.to_string();
    for _ in 0..4 {
        let next = percent_decode(&cur);
        if next == cur {
            break;
        }
        cur = next;
    }
    cur
}

/// One round of `%XX` decoding (invalid escapes are kept).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(x), Some(y)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((x * 16 + y) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An artifact path under the proxy root: relative, no `.`/`..` components (also when
/// percent-decoded, once or more), no `\`, NUL, `?`, `#`, no scheme. Empty is the root.
pub fn check_artifact_path(path: &str) -> TResult<()> {
    let decoded = percent_decode_all(path);
    // MLflow's exact message (its clients and tests match on it).
    let bad = |_why: &str| invalid("Invalid path");
    for p in [path, decoded.as_str()] {
        if p.starts_with('/') || p.starts_with('\\') {
            return Err(bad("absolute paths are not allowed"));
        }
        if p.len() >= 2 && p.as_bytes()[1] == b':' {
            return Err(bad("drive paths are not allowed"));
        }
        if p.contains("://") || p.starts_with("file:") {
            return Err(bad("URIs are not allowed"));
        }
        if p.contains('\\') || p.contains('\0') || p.contains('?') || p.contains('#') {
            return Err(bad("'\\', NUL, '?' and '#' are not allowed"));
        }
        if p.split('/').any(|c| c == ".." || c == ".") {
            return Err(bad("'.' and '..' components are not allowed"));
        }
        if p.contains("//") {
            return Err(bad("empty components are not allowed"));
        }
    }
    if path.contains('%') {
        return Err(bad("percent-encoded characters are not allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_payloads_are_refused() {
        for p in [
            "../x",
            "a/../../x",
            "%2e%2e%2fx",
            "%2e%2e/x",
            "%252e%252e%252fx",
            "/etc/passwd",
            "file:///etc/passwd",
            "a/b#/../../c",
            "a?x=../y",
            "..\\x",
            "C:\\x",
            "a//b",
            "./a",
        ] {
            assert!(check_artifact_path(p).is_err(), "{p} passed");
        }
        for p in ["", "1/abc/artifacts/model/MLmodel", "a.b/c..d"] {
            assert!(check_artifact_path(p).is_ok(), "{p} refused");
        }
    }
}
