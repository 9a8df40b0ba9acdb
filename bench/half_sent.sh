#!/usr/bin/env bash
# Issue 18, B7 and B8 measured: a server on a tiny trained + deployed OCR model gets N
# half-sent requests (no token needed: a head cut off mid-header, never finished), while
# /healthz is asked every 50 connections; then SIGTERM with half-sent clients still
# connected. Prints the server's most open file descriptors, /healthz latencies, the
# connections closed to make room, and the seconds from SIGTERM to exit.
#
#   bench/half_sent.sh                         (N=19000, --max-connections 512)
#   N=5000 MAXCONN=128 LAB=target/debug/lab bench/half_sent.sh
#
# Needs python3 and `ulimit -n` above N + 100 (the client holds every connection open).
# Builds the release binary unless LAB is given.
set -euo pipefail

N=${N:-19000}
MAXCONN=${MAXCONN:-512}
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "${LAB:-}" ]]; then
  (cd "$here" && cargo build --release --quiet)
  LAB=${CARGO_TARGET_DIR:-$here/target}/release/lab
fi
LAB=$(cd "$(dirname "$LAB")" && pwd)/$(basename "$LAB")

proj=$(mktemp -d /tmp/lab-half-sent.XXXXXX)
server=""
cleanup() {
  [[ -n "$server" ]] && kill -9 "$server" 2>/dev/null || true
  rm -rf "$proj"
}
trap cleanup EXIT
cd "$proj"
"$LAB" init . >/dev/null
"$LAB" data synth tt --seed 5 --count 8 --text-lines 4 >/dev/null
"$LAB" data snapshot datasets/tt >/dev/null
cat > configs/ocr_teacher.toml <<'TOML'
[model]
height = 32
stem = 16
hidden = 16
layers = 1
heads = 2
ff = 32

[train]
dataset = "tt"
epochs = 1
batch_size = 32
learning_rate = 0.003
warmup_steps = 4
seed = 7
val_lines = 20
output = "ocr_teacher"
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
"$LAB" train ocr-teacher >/dev/null 2>&1
"$LAB" deploy ocr_teacher@1 --env production >/dev/null

"$LAB" serve --addr 127.0.0.1:0 --max-connections "$MAXCONN" > serve.out 2> serve.err &
server=$!
for _ in $(seq 100); do grep -q "listening on" serve.out 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/.*listening on http:\/\///p' serve.out)
[[ -n "$addr" ]] || { echo "the server did not start:" >&2; cat serve.err >&2; exit 1; }

python3 - "$addr" "$N" "$server" <<'PY'
import json, os, signal, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
n, pid = int(sys.argv[2]), int(sys.argv[3])
def fds():
    return len(os.listdir(f"/proc/{pid}/fd"))
def healthz():
    t = time.monotonic()
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = s.recv(4096)
    s.close()
    assert b" 200 " in data.split(b"\r\n")[0], data
    return time.monotonic() - t
base = fds()
held, lat, most, failed = [], [], base, 0
t0 = time.monotonic()
for i in range(n):
    try:
        s = socket.create_connection((host, int(port)), timeout=30)
        s.sendall(b"POST /v1/ocr HTTP/1.1\r\nHost: lab\r\nContent-Le")
        held.append(s)
    except OSError:
        failed += 1
    if i % 50 == 49:
        lat.append(healthz())
        most = max(most, fds())
flood = time.monotonic() - t0
metrics = socket.create_connection((host, int(port)), timeout=30)
metrics.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
m = b""
while chunk := metrics.recv(65536):
    m += chunk
evicted = [l for l in m.decode().splitlines() if l.startswith("lab_connections_evicted_total ")]
os.kill(pid, signal.SIGTERM)
t = time.monotonic()
while True:
    try:
        os.kill(pid, 0)
        if open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z":
            break
    except (ProcessLookupError, FileNotFoundError):
        break
    if time.monotonic() - t > 60:
        break
    time.sleep(0.02)
stop = time.monotonic() - t
lat.sort()
print(json.dumps({
    "half_sent": n, "connect_failures": failed, "flood_seconds": round(flood, 1),
    "server_fds_before": base, "server_fds_most": most,
    "healthz_answered": len(lat), "healthz_p50_ms": round(lat[len(lat) // 2] * 1e3, 2),
    "healthz_max_ms": round(lat[-1] * 1e3, 2),
    "evicted": int(evicted[0].split()[1]) if evicted else None,
    "sigterm_to_exit_s": round(stop, 2),
}))
PY
wait "$server" && rc=0 || rc=$?
server=""
echo "lab serve exited $rc after SIGTERM"
