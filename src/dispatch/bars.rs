//! The progress reporter of the command line: bars on a terminal, a plain status line every
//! few seconds (and every end-of-epoch line) otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::Reporter;

/// Progress bars on a terminal, nothing otherwise.
pub struct Bars {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    enabled: bool,
    /// When the last plain status line went out (not a terminal).
    last_line: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            bar: std::sync::Mutex::new(None),
            enabled: std::io::stderr().is_terminal(),
            last_line: std::sync::Mutex::new(None),
        }
    }
}

impl Reporter for Bars {
    fn begin(&self, label: &str, total: u64, bytes: bool) {
        if !self.enabled {
            return;
        }
        let pb = ProgressBar::new(total);
        let tmpl = if bytes {
            "{prefix:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}"
        } else {
            "{prefix:>14} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}"
        };
        pb.set_style(
            ProgressStyle::with_template(tmpl)
                .unwrap()
                .progress_chars("=> "),
        );
        pb.set_prefix(label.to_string());
        *self.bar.lock().unwrap() = Some(pb);
    }
    fn advance(&self, n: u64) {
        if let Some(b) = self.bar.lock().unwrap().as_ref() {
            b.inc(n);
        }
    }
    fn end(&self) {
        if let Some(b) = self.bar.lock().unwrap().take() {
            b.finish_and_clear();
        }
    }
    fn status(&self, line: &str) {
        if self.enabled {
            match self.bar.lock().unwrap().as_ref() {
                Some(b) => b.set_message(line.to_string()),
                None => eprintln!("{line}"),
            }
            return;
        }
        // Not a terminal: a plain line every few seconds, and every end-of-epoch line.
        let mut last = self.last_line.lock().unwrap();
        let due = last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(5));
        if due || line.contains("done:") {
            eprintln!("{line}");
            *last = Some(std::time::Instant::now());
        }
    }
}
