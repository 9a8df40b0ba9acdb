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
# Set BASELINE=0 to skip the MLflow server (its start-up alone is ~20 s here), MEMORY=0 to skip
# the million-point memory phase (~45 s).
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
# Memory: a million points logged (4 runs x 2 keys, batches of 1,000) and read back; the
# server's peak resident memory is the "peak rss" of server_bench's ingest line (target <= 100 MB).
if [[ "${MEMORY:-1}" == 1 ]]; then
  echo "== lab ui, 1,000,000 points: the server's memory"
  "$PY" "$BENCH/server_bench.py" --label "lab ui 1M" --port 5093 --wait-quiet 5 \
    --cmd "sh -c '$LAB init >/dev/null 2>&1; exec $LAB ui --addr 127.0.0.1:{port}'" \
    --startup-trials 1 --ingest --ingest-args "--runs 4 --single 0 --batch-points 1000000" \
    --json-out "$OUT/lab_ui_1m.json"
fi
if [[ "${BASELINE:-1}" == 1 ]]; then
  MLFLOW_BIN="$(dirname "$PY")/mlflow"
  echo "== mlflow server (sqlite)"
  "$PY" "$BENCH/server_bench.py" --label "mlflow sqlite" --port 5092 --wait-quiet 5 \
    --cmd "$MLFLOW_BIN server --backend-store-uri sqlite:///{workdir}/mlflow.db --host 127.0.0.1 --port {port}" \
    --startup-trials 1 --ingest --ingest-args "$INGEST" --json-out "$OUT/mlflow.json"
fi

# A lean HTTP client: wrk posting single log-metric calls (each a new step) for $WRK_SECS s on
# $WRK_CONNS (default 32) connections, then the history is read back and counted against wrk's responses.
if command -v wrk >/dev/null; then
  echo "== lab ui, single log-metric calls from wrk ($LAB)"
  W="$(mktemp -d)"
  trap 'kill $UIPID 2>/dev/null; rm -rf "$W"' EXIT
  (cd "$W" && "$LAB" init >/dev/null 2>&1)
  "$LAB" -C "$W" ui --addr 127.0.0.1:5094 >"$W/ui.log" 2>&1 &
  UIPID=$!
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:5094/version && break; sleep 0.05; done
  API=http://127.0.0.1:5094/api/2.0/mlflow
  EXP=$(curl -s -X POST "$API/experiments/create" -d '{"name":"wrk"}' | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["experiment_id"])')
  RUN=$(curl -s -X POST "$API/runs/create" -d "{\"experiment_id\":\"$EXP\",\"start_time\":1}" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["run"]["info"]["run_id"])')
  cat >"$W/log_metric.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local step = n * 1000 + (id or 0)
  return wrk.format(nil, "/api/2.0/mlflow/runs/log-metric",
    nil, string.format('{"run_id":"$RUN","key":"wrk","value":%d,"timestamp":%d,"step":%d}', n, n, step))
end
setup = function(thread) thread:set("id", math.random(0, 999)) end
LUA
  wrk -t2 -c"${WRK_CONNS:-32}" -d"${WRK_SECS:-10}s" -s "$W/log_metric.lua" http://127.0.0.1:5094 | tee "$W/wrk.txt"
  sleep 0.5
  "$PY" - "$API" "$RUN" "$W/wrk.txt" <<'PYEOF'
import json, re, sys, urllib.request
api, run, out = sys.argv[1:4]
text = open(out).read()
done = int(re.search(r"(\d+) requests in", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
hist = json.load(urllib.request.urlopen(f"{api}/metrics/get-history?run_id={run}&metric_key=wrk"))
n = len(hist.get("metrics", []))
print(f"wrk completed {done} calls ({bad.group(1) if bad else 0} not 2xx); the history holds {n} points"
      f" ({n - done} answered after wrk stopped counting)")
sys.exit(0 if n >= done and not bad else 1)
PYEOF
fi
