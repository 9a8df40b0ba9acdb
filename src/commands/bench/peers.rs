//! Baselines measured with the peers' own tools when they are installed (`dvc`, the `mlflow`
//! Python package); otherwise the store benchmark prints the figures it quotes and says so.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Seconds for `dvc add` of an unchanged `tree` (the median of 3, after a first add), with
/// the repository made in `tree`'s parent; `None` when `dvc` is not on the PATH or fails.
pub fn dvc_readd(tree: &Path) -> Option<f64> {
    let run = |args: &[&str]| -> Option<()> {
        let ok = Command::new("dvc")
            .args(args)
            .current_dir(tree.parent()?)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        ok.then_some(())
    };
    run(&["--version"])?;
    run(&["init", "--no-scm", "-q", "-f"])?;
    let name = tree.file_name()?.to_str()?;
    run(&["add", "-q", name])?;
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        run(&["add", "-q", name])?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Some(times[1])
}

/// MLflow's own client against a SQLite store: points logged per second in batches of 1,000
/// (`log_batch`) and read back per second (`get_metric_history`); `None` when no Python with
/// `mlflow` is found (`LAB_MLFLOW_PYTHON`, else `python3`).
pub fn mlflow_points(points: u64) -> Option<(f64, f64)> {
    let python = std::env::var("LAB_MLFLOW_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!(
        r#"
import tempfile, time, warnings
warnings.filterwarnings("ignore")
import mlflow
from mlflow.entities import Metric
d = tempfile.mkdtemp()
c = mlflow.MlflowClient(tracking_uri="sqlite:///" + d + "/m.db")
r = c.create_run(c.create_experiment("bench")).info.run_id
n = {points}
t = time.time()
for i in range(0, n, 1000):
    c.log_batch(r, metrics=[Metric("loss", float(j), 0, j) for j in range(i, i + 1000)])
t_in = time.time() - t
t = time.time()
h = c.get_metric_history(r, "loss")
t_out = time.time() - t
print(n / t_in, len(h) / t_out)
"#
    );
    let out = Command::new(python)
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok());
    Some((it.next()?, it.next()?))
}
