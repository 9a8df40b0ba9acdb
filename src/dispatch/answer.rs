//! What every verb returns: its stdout (text for people, one JSON object — or one per line
//! for a listing — with `--json`, or raw bytes), lines for stderr after it, and its exit code.
//! Printed in one place ([`Answer::print`]) after progress bars are gone, so no verb prints
//! past the reporter and no verb works out an exit code in dispatch.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

/// A verb's result, ready to print.
#[must_use]
pub struct Answer {
    out: Vec<u8>,
    notes: Vec<String>,
    code: u8,
}

impl Answer {
    /// Nothing on stdout (the verb streamed its own output, or has none).
    pub fn none() -> Answer {
        Answer {
            out: Vec::new(),
            notes: Vec::new(),
            code: 0,
        }
    }

    /// Bytes for stdout as they are (CSV, iCalendar, shell completions).
    pub fn raw(out: impl Into<Vec<u8>>) -> Answer {
        Answer {
            out: out.into(),
            ..Answer::none()
        }
    }

    /// One value: `text()` and a newline, or the value as one JSON object with `--json`.
    /// Only the form asked for is built.
    pub fn one<T: Serialize + ?Sized>(
        json: bool,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> Result<Answer> {
        let mut out = if json {
            serde_json::to_vec(value)?
        } else {
            text().into_bytes()
        };
        out.push(b'\n');
        Ok(Answer::raw(out))
    }

    /// A listing: `text()` and a newline, or one JSON object per row with `--json`.
    pub fn lines<T: Serialize>(
        json: bool,
        rows: &[T],
        text: impl FnOnce() -> String,
    ) -> Result<Answer> {
        if !json {
            let mut out = text().into_bytes();
            out.push(b'\n');
            return Ok(Answer::raw(out));
        }
        let mut out = Vec::new();
        for r in rows {
            serde_json::to_writer(&mut out, r)?;
            out.push(b'\n');
        }
        Ok(Answer::raw(out))
    }

    /// Adds a line for stderr, printed after stdout.
    pub fn note(mut self, line: impl Into<String>) -> Answer {
        self.notes.push(line.into());
        self
    }

    /// Sets the exit code (0 unless set).
    pub fn code(mut self, code: u8) -> Answer {
        self.code = code;
        self
    }

    /// Exit code 1 when `failed`.
    pub fn failed_if(self, failed: bool) -> Answer {
        if failed { self.code(1) } else { self }
    }

    /// Writes stdout, then the notes to stderr; the exit code. A closed stdout is an error
    /// the caller recognises (`lab log | head`).
    pub fn print(self) -> Result<ExitCode> {
        if !self.out.is_empty() {
            let mut out = std::io::stdout().lock();
            out.write_all(&self.out)?;
            out.flush()?;
        }
        for n in &self.notes {
            eprintln!("{n}");
        }
        Ok(ExitCode::from(self.code))
    }
}
