#!/usr/bin/env bash
# bench/ui_bench.sh — `lab ui` against the official mlflow client, and the same client against
# a real `mlflow server` (SQLite) in the same run where mlflow is installed.
#
#   bash bench/ui_bench.sh [LAB_BINARY]        (default: target/release/lab, else target/debug/lab)
#
# Needs the shared harness (../shared/bench: server_bench.py + tracking_ingest.py, or
# $LAB_BENCH_DIR) and a Python with mlflow ($MLFLOW_PY, default /tmp/mlflowvenv/bin/python;
# `python3 -m venv /tmp/mlflowvenv && /tmp/mlflowvenv/bin/pip install mlflow==3.17.2`).
# Prints start-up (fresh / existing store), then per phase: single log_metric calls/s,
# log_batch points/s, get_metric_history points/s, search; and the server's memory.
# Set BASELINE=0 to skip the MLflow server (its start-up alone is ~20 s here).
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
LAB="${1:-}"
if [[ -z "$LAB" ]]; then
  if [[ -x "$HERE/target/release/lab" ]]; then LAB="$HERE/target/release/lab"; else LAB="$HERE/target/debug/lab"; fi
fi
LAB="$(cd "$(dirname "$LAB")" && pwd)/$(basename "$LAB")"
BENCH="${LAB_BENCH_DIR:-$HERE/../shared/bench}"
PY="${MLFLOW_PY:-/tmp/mlflowvenv/bin/python}"
[[ -f "$BENCH/server_bench.py" ]] || { echo "no $BENCH/server_bench.py (set LAB_BENCH_DIR)" >&2; exit 2; }
"$PY" -c 'import mlflow' || { echo "no mlflow in $PY (set MLFLOW_PY)" >&2; exit 2; }
OUT="${OUT:-$HERE/bench/results}"
mkdir -p "$OUT"
INGEST="${INGEST_ARGS:---runs 4 --single 500 --batch-points 50000}"
echo "== lab ui ($LAB)"
"$PY" "$BENCH/server_bench.py" --label "lab ui" --port 5091 --wait-quiet 5 \
  --cmd "sh -c '$LAB init >/dev/null 2>&1; exec $LAB ui --addr 127.0.0.1:{port}'" \
  --startup-trials 3 --ingest --ingest-args "$INGEST" --json-out "$OUT/lab_ui.json"
if [[ "${BASELINE:-1}" == 1 ]]; then
  MLFLOW_BIN="$(dirname "$PY")/mlflow"
  echo "== mlflow server (sqlite)"
  "$PY" "$BENCH/server_bench.py" --label "mlflow sqlite" --port 5092 --wait-quiet 5 \
    --cmd "$MLFLOW_BIN server --backend-store-uri sqlite:///{workdir}/mlflow.db --host 127.0.0.1 --port {port}" \
    --startup-trials 1 --ingest --ingest-args "$INGEST" --json-out "$OUT/mlflow.json"
fi
