//! Training progress into the log (batched `MetricsLogged`, checkpoints as artifacts) and onto
//! the terminal (the reporter's bar and status line).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::event::{Event, MetricBatch, MetricPoint};
use crate::lab::Lab;
use crate::ml::observe::{EpochInfo, Observer, StepInfo};
use crate::progress::Reporter;

/// How often buffered step metrics are appended.
const FLUSH_EVERY: Duration = Duration::from_secs(2);

pub struct LogObserver<'a> {
    lab: &'a Lab,
    run: &'a str,
    reporter: &'a dyn Reporter,
    epochs: u32,
    pending: BTreeMap<String, Vec<MetricPoint>>,
    last_flush: Instant,
    started: bool,
    pub steps: u64,
    /// Fault hook for tests: abort the process after this epoch's checkpoint is logged.
    kill_after: Option<u32>,
    error: Option<anyhow::Error>,
}

fn now_ms() -> i64 {
    crate::store::now_ns() / 1_000_000
}

impl<'a> LogObserver<'a> {
    pub fn new(lab: &'a Lab, run: &'a str, reporter: &'a dyn Reporter, epochs: u32) -> Self {
        LogObserver {
            lab,
            run,
            reporter,
            epochs,
            pending: BTreeMap::new(),
            last_flush: Instant::now(),
            started: false,
            steps: 0,
            kill_after: crate::faults::kill_after_epoch(),
            error: None,
        }
    }

    fn point(&mut self, key: &str, step: i64, value: f64) {
        self.pending
            .entry(key.to_string())
            .or_default()
            .push(MetricPoint {
                step,
                value,
                time_ms: now_ms(),
            });
    }

    fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        if self.pending.is_empty() {
            return Ok(());
        }
        let metrics = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(key, points)| MetricBatch { key, points })
            .collect();
        self.lab.append(vec![Event::MetricsLogged {
            run: self.run.to_string(),
            metrics,
        }])?;
        Ok(())
    }

    /// Appends what is still buffered; reports an error a callback could not return.
    pub fn finish(&mut self) -> Result<()> {
        self.reporter.end();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.flush()
    }
}

impl Observer for LogObserver<'_> {
    fn step(&mut self, s: &StepInfo) {
        if !self.started {
            self.reporter.begin("train", s.total_steps, false);
            self.reporter.advance(s.step.saturating_sub(1));
            self.started = true;
        }
        self.steps += 1;
        let step = s.step as i64;
        self.point("train_loss", step, s.loss);
        self.point("lr", step, s.lr);
        self.point("samples_per_s", step, s.samples_per_s);
        self.reporter.advance(1);
        self.reporter.status(&format!(
            "epoch {}/{} step {}/{} loss {:.3} lr {:.1e} {:.0} samples/s",
            s.epoch + 1,
            self.epochs,
            s.step,
            s.total_steps,
            s.loss,
            s.lr,
            s.samples_per_s
        ));
        if self.last_flush.elapsed() >= FLUSH_EVERY && self.error.is_none() {
            if let Err(e) = self.flush() {
                self.error = Some(e);
            }
        }
    }

    fn epoch(&mut self, e: &EpochInfo, checkpoint: Vec<u8>) -> Result<()> {
        let step = e.step as i64;
        self.point("epoch_train_loss", step, e.train_loss);
        self.point("val_loss", step, e.val_loss);
        for (k, v) in &e.val {
            self.point(&format!("val_{k}"), step, *v);
        }
        self.flush()?;
        let hash = self.lab.store.blobs.put(&checkpoint)?;
        self.lab.append(vec![Event::ArtifactLogged {
            run: self.run.to_string(),
            path: format!("checkpoint/epoch-{}.safetensors", e.epoch + 1),
            hash,
            size: checkpoint.len() as u64,
        }])?;
        self.reporter.status(&format!(
            "epoch {}/{} done: train loss {:.3}, val loss {:.3}{}",
            e.epoch + 1,
            self.epochs,
            e.train_loss,
            e.val_loss,
            e.val
                .iter()
                .map(|(k, v)| format!(", val {k} {v:.4}"))
                .collect::<String>()
        ));
        if self.kill_after == Some(e.epoch + 1) {
            std::process::abort();
        }
        if let Some(err) = self.error.take() {
            return Err(err);
        }
        Ok(())
    }
}
