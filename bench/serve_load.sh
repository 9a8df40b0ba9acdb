#!/usr/bin/env bash
# Load test of `lab serve`: a release server on a small trained + deployed OCR model (the
# student's architecture, trained one epoch on a tiny rendered dataset: throughput, not
# accuracy), driven with wrk on POST /v1/ocr with a real line image; then SIGTERM, and the
# inference records in the log are counted against the requests wrk completed.
#
#   bench/serve_load.sh                    (20 s, 16 connections, 2 wrk threads)
#   DURATION=30s CONNS=32 bench/serve_load.sh
#   LAB=/path/to/lab KEEP=1 bench/serve_load.sh      (KEEP: leave the project for a look)
#
# Needs wrk (apt-get install wrk) and python3. Builds the release binary unless LAB is given.
# wrk counts the responses it read; requests still in flight when it stops are answered (and
# recorded) after its count, so records − completed is between 0 and CONNS.
set -euo pipefail

DURATION=${DURATION:-20s}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "${LAB:-}" ]]; then
  (cd "$here" && cargo build --release --quiet)
  LAB=${CARGO_TARGET_DIR:-$here/target}/release/lab
fi
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

proj=$(mktemp -d /tmp/lab-serve-load.XXXXXX)
server=""
cleanup() {
  [[ -n "$server" ]] && kill "$server" 2>/dev/null || true
  [[ -z "${KEEP:-}" ]] && rm -rf "$proj"
  true
}
trap cleanup EXIT
cd "$proj"
"$LAB" init . >/dev/null
"$LAB" data synth tt --seed 5 --count 8 >/dev/null
"$LAB" data snapshot datasets/tt >/dev/null
cat > bench_ocr.toml <<'TOML'
[model]
height = 32
stem = 64
hidden = 64
layers = 2
heads = 2
ff = 128

[train]
dataset = "tt"
epochs = 1
batch_size = 32
learning_rate = 0.003
warmup_steps = 4
seed = 7
val_lines = 20
output = "ocr_student"
TOML
cat > configs/deploy.toml <<'TOML'
[validation]
dataset = "tt"
split = "val"
limit = 8

[[gate]]
metric = "accuracy"
op = ">="
threshold = 0.0
TOML
"$LAB" train ocr-teacher --config bench_ocr.toml >/dev/null 2>&1
"$LAB" deploy ocr_student@1 --env production >/dev/null
line=$(ls datasets/tt/lines/val/*.png | head -1)
cat > post.lua <<LUA
local f = assert(io.open("$line", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "image/png"
LUA

"$LAB" serve --addr 127.0.0.1:0 > serve.out 2> serve.err &
server=$!
for _ in $(seq 100); do grep -q "listening on" serve.out 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/.*listening on http:\/\///p' serve.out)
[[ -n "$addr" ]] || { echo "the server did not start:" >&2; cat serve.err >&2; exit 1; }
curl -sf "http://$addr/healthz" >/dev/null

load_before=$(cut -d' ' -f1 /proc/loadavg)
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s post.lua "http://$addr/v1/ocr" | tee wrk.out
load_after=$(cut -d' ' -f1 /proc/loadavg)
curl -s "http://$addr/metrics" > metrics.txt

kill -TERM "$server"
wait "$server"; rc=$?
server=""
[[ $rc == 0 ]] || { echo "lab serve exited $rc after SIGTERM" >&2; exit 1; }

"$LAB" --json log --kind inferences > inferences.jsonl
python3 - "$CONNS" "$load_before" "$load_after" <<'PY'
import json, re, sys
conns, lb, la = int(sys.argv[1]), sys.argv[2], sys.argv[3]
w = open("wrk.out").read()
done = int(re.search(r"(\d+) requests in", w).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", w)
bad = int(bad.group(1)) if bad else 0
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))
lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", w, re.M))
recs = sum(len(json.loads(l)["body"]["InferencesRecorded"]["records"])
           for l in open("inferences.jsonl") if l.strip())
ok = done - bad
extra = recs - ok
print(json.dumps({"requests_completed": done, "non_2xx": bad, "records": recs,
                  "in_flight_at_stop": extra, "requests_per_s": rps,
                  "latency_p50": lat.get("50"), "latency_p99": lat.get("99"),
                  "loadavg_1m_before": float(lb), "loadavg_1m_after": float(la),
                  "cores": __import__("os").cpu_count()}))
if bad or not (0 <= extra <= conns):
    sys.exit(f"FAIL: {recs} records for {ok} successful requests (at most {conns} may be in flight)")
print(f"OK: every completed request is in the log ({recs} records, {extra} answered after wrk stopped counting)")
PY
