#!/usr/bin/env bash
# bench/api_bench.sh: the HTTP API benchmark (bench/api_README.md). `jiaozi serve` on
# loopback, and in the same run nginx serving a small static JSON file on the same number of
# keep-alive connections (the ceiling of HTTP on this machine), both driven by
# bench/api_load. Prints one JSON line per run, then a side-by-side table and the targets.
# Everything listens on 127.0.0.1 only; everything started here is stopped on exit.
#
# Knobs (environment): DURATION (10 s) WARMUP (2 s) CONNS (64) RATE (20000)
#   BATCH (8190) BATCH_CONNS (4) WALLETS (10000) CLIENT_THREADS (1) NGINX_WORKERS (auto)
#   CLOSED_REQUESTS / OPEN_REQUESTS / BATCH_REQUESTS (pre-signed requests per run)
#   QUICKACK=1: the client ACKs every segment at once (TCP_QUICKACK), which hides a server's
#     Nagle/delayed-ACK stalls (diagnostic; a normal client does not)
#   API_BENCH_PERF=1: also record the server with perf during an extra closed-loop run.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-256}
RATE=${RATE:-20000}
BATCH=${BATCH:-8190}
BATCH_CONNS=${BATCH_CONNS:-4}
WALLETS=${WALLETS:-10000}
CLIENT_THREADS=${CLIENT_THREADS:-1}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
SECS=$((WARMUP + DURATION))
QA=""
[ "${QUICKACK:-0}" = 1 ] && QA=--quickack
# Enough pre-signed requests for the targets with room (70,000 req/s; 60 batches/s = 491,000
# transfers/s); a run that uses them all before its end says so and is timed to the last answer.
CLOSED_REQUESTS=${CLOSED_REQUESTS:-$((SECS * 70000))}
OPEN_REQUESTS=${OPEN_REQUESTS:-$((SECS * RATE + RATE / 10 + 16))}
BATCH_REQUESTS=${BATCH_REQUESTS:-$((SECS * 60))}
# and one more open-loop run below the target rate, to show jiaozi's latency when not saturated
RATE_LOW=${RATE_LOW:-$((RATE / 2))}
OPEN_LOW_REQUESTS=$((SECS * RATE_LOW + RATE_LOW / 10 + 16))

OUT=build/api_bench
LOAD=$OUT/api_load
mkdir -p "$OUT"

echo "== building $LOAD"
# shellcheck disable=SC2046
cc -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -iquote src $(pkg-config --cflags openssl jansson) \
    bench/api_load.c src/auth.c src/crypto.c src/common.c src/json.c \
    -o "$LOAD" -lssl -lcrypto -ljansson -lpthread
if [ ! -x build/jiaozi ]; then
    make
fi
NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || NGINX=/usr/sbin/nginx
if [ ! -x "$NGINX" ]; then
    echo "== installing nginx (Debian package)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
    fi
    # the package's own service is neither needed nor started here
    NGINX=/usr/sbin/nginx
fi

TMP=$(mktemp -d)
JZ_PID=""
NGX_PID=""
stop_jiaozi() {
    if [ -n "$JZ_PID" ] && kill -0 "$JZ_PID" 2>/dev/null; then
        kill -TERM "$JZ_PID"
        for _ in $(seq 1 600); do kill -0 "$JZ_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$JZ_PID" 2>/dev/null && kill -KILL "$JZ_PID"
        wait "$JZ_PID" 2>/dev/null
    fi
    JZ_PID=""
}
cleanup() {
    set +e
    stop_jiaozi
    if [ -n "$NGX_PID" ] && kill -0 "$NGX_PID" 2>/dev/null; then
        kill -QUIT "$NGX_PID"
        for _ in $(seq 1 100); do kill -0 "$NGX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$NGX_PID" 2>/dev/null && kill -KILL "$NGX_PID"
        wait "$NGX_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RESULTS=$OUT/api_bench.jsonl
: >"$RESULTS"
rm -rf "$OUT/metrics"
mkdir -p "$OUT/metrics"
# run LABEL ARGS...: one api_load run; its JSON line goes to the results with the label.
# Around each jiaozi run its /metrics are kept (fsync and batch histograms, for the summary).
run() {
    local label=$1
    shift
    local line
    if [ -n "$JZ_PID" ]; then
        "$LOAD" probe --url "http://127.0.0.1:$JZ_PORT/metrics" --print >"$OUT/metrics/$label.0" || true
    fi
    # shellcheck disable=SC2086
    line=$("$LOAD" "$@" --label "$label" --threads "$CLIENT_THREADS" $QA) || true
    if [ -n "$JZ_PID" ]; then
        "$LOAD" probe --url "http://127.0.0.1:$JZ_PORT/metrics" --print >"$OUT/metrics/$label.1" || true
    fi
    if [ -z "$line" ]; then
        line="{\"label\":\"$label\",\"failed\":true}"
    fi
    echo "$line" >>"$RESULTS"
    echo "$line"
}

# The history projector (SQLite) may still be catching up with the last run: let it, so
# that each run starts from a quiet server; report how long it took.
metric() {
    "$LOAD" probe --url "http://127.0.0.1:$JZ_PORT/metrics" --print 2>/dev/null |
        sed -n "s/^$1 //p"
}
settle() {
    local t0=$SECONDS lag
    while :; do
        lag=$(metric jiaozi_projector_lag_records)
        [ "${lag:-0}" = 0 ] && break
        if [ $((SECONDS - t0)) -ge 300 ]; then
            echo "   (history projector still $lag records behind after 300 s; going on)"
            return
        fi
        sleep 1
    done
    if [ $((SECONDS - t0)) -gt 0 ]; then
        echo "   (history projector caught up in $((SECONDS - t0)) s after the previous run)"
    fi
}

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)," \
    "$("$NGINX" -v 2>&1 | sed 's/.*: //')"
echo "   jiaozi: HEAD $(git rev-parse --short HEAD 2>/dev/null || echo '?'), build/jiaozi built $(date -u -r build/jiaozi '+%F %T UTC')"

# ---------------------------------------------------------------- jiaozi
# Idempotency table sized for every transfer this script can send (each run's pre-signed
# requests at most) so that no run meets 507 capacity_exceeded.
XFERS=$((2 * WALLETS + 2 * CLOSED_REQUESTS + OPEN_REQUESTS + OPEN_LOW_REQUESTS + BATCH_REQUESTS * BATCH + 100000))
JZ_PORT=$("$LOAD" freeport)
mkdir -p "$TMP/jz"
echo "== jiaozi serve on 127.0.0.1:$JZ_PORT (--threads 256, --transfers $XFERS)"
build/jiaozi serve --data "$TMP/jz/data" --listen "127.0.0.1:$JZ_PORT" --quiet --threads 256 \
    --transfers "$XFERS" >"$TMP/jz/serve.out" 2>"$TMP/jz/serve.err" &
JZ_PID=$!
for _ in $(seq 1 600); do
    if [ -s "$TMP/jz/data/central.json" ] && "$LOAD" probe --url "http://127.0.0.1:$JZ_PORT/healthz"; then
        break
    fi
    kill -0 "$JZ_PID" 2>/dev/null || { cat "$TMP/jz/serve.err"; exit 1; }
    sleep 0.1
done
"$LOAD" probe --url "http://127.0.0.1:$JZ_PORT/healthz" || { echo "jiaozi did not start"; exit 1; }

echo "== setup: operator, $WALLETS tier-1 wallets, each funded by exchange_in (batch endpoint)"
"$LOAD" setup --creds "$TMP/jz/data/central.json" --state "$TMP/state" --wallets "$WALLETS"
settle

ST=(--state "$TMP/state" --conns "$CONNS" --duration "$DURATION" --warmup "$WARMUP" --server-pid "$JZ_PID")
echo "== (a) jiaozi: closed loop, POST /v1/transfers (one transfer each), $CONNS connections"
run jz_closed transfer "${ST[@]}" --requests "$CLOSED_REQUESTS"
settle
echo "== (b) jiaozi: open loop at $RATE req/s, POST /v1/transfers, $CONNS connections"
run jz_open transfer "${ST[@]}" --rate "$RATE" --requests "$OPEN_REQUESTS"
settle
echo "== (b2) jiaozi: open loop at $RATE_LOW req/s (below the target rate)"
run jz_open_low transfer "${ST[@]}" --rate "$RATE_LOW" --requests "$OPEN_LOW_REQUESTS"
settle
echo "== (c) jiaozi: closed loop, POST /v1/transfers/batch, $BATCH transfers each, $BATCH_CONNS connections"
run jz_batch batch --state "$TMP/state" --conns "$BATCH_CONNS" --duration "$DURATION" \
    --warmup "$WARMUP" --server-pid "$JZ_PID" --batch "$BATCH" --requests "$BATCH_REQUESTS" --drain 30
settle
echo "== (d) jiaozi: closed loop, GET /healthz (no signature, no ledger: its HTTP layer alone)"
run jz_healthz get --url "http://127.0.0.1:$JZ_PORT/healthz" --conns "$CONNS" \
    --duration "$DURATION" --warmup "$WARMUP" --server-pid "$JZ_PID"
if [ "${API_BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
    settle
    echo "== perf: the server during a closed-loop transfer run"
    "$LOAD" transfer "${ST[@]}" --requests "$CLOSED_REQUESTS" $QA --label perf >/dev/null &
    LP=$!
    sleep "$WARMUP"
    perf record -q -F 499 -g -p "$JZ_PID" -o "$TMP/perf.data" -- sleep "$((DURATION - 1))" 2>/dev/null || true
    wait "$LP" || true
    echo "-- by thread"
    perf report -i "$TMP/perf.data" --no-children -s pid -g none 2>/dev/null | grep '%' | head -8 || true
    echo "-- by thread name and object"
    perf report -i "$TMP/perf.data" --no-children -s comm,dso -g none 2>/dev/null | grep '%' | head -12 || true
    echo "-- hottest symbols"
    perf report -i "$TMP/perf.data" --no-children -s comm,dso,sym -g none 2>/dev/null | grep '%' | head -25 || true
fi
T0=$SECONDS
stop_jiaozi # SIGTERM: drains, writes a snapshot; nothing of it runs beside nginx
echo "   (jiaozi stopped in $((SECONDS - T0)) s)"

# ---------------------------------------------------------------- nginx
NGX=$TMP/nginx
mkdir -p "$NGX/www" "$NGX/tmp"
chmod 755 "$TMP" "$NGX" "$NGX/www" # nginx's workers run as nobody when started by root
NGX_PORT=$("$LOAD" freeport)
# A transfer's answer as jiaozi gives it, as a static file.
printf '{"id":"556c52dd9699108373ebf47be7d86598","debit":"2fb359f90c2202344ea2833781267e99","credit":"c35750b7ab28c1aed68bada91fd205f2","amount":1,"kind":"p2p","status":"posted","timestamp":1767225600000}' \
    >"$NGX/www/transfer.json"
chmod 644 "$NGX/www/transfer.json"
cat >"$NGX/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    keepalive_requests 1000000000;
    keepalive_timeout 120s;
    open_file_cache max=64;
    server {
        listen 127.0.0.1:$NGX_PORT;
        root $NGX/www;
        location / { default_type application/json; }
    }
}
EOF
echo "== nginx on 127.0.0.1:$NGX_PORT (worker_processes $NGINX_WORKERS), GET /transfer.json ($(wc -c <"$NGX/www/transfer.json") bytes)"
"$NGINX" -e "$NGX/error.log" -p "$NGX" -c "$NGX/nginx.conf" &
NGX_PID=$!
for _ in $(seq 1 100); do
    "$LOAD" probe --url "http://127.0.0.1:$NGX_PORT/transfer.json" && break
    kill -0 "$NGX_PID" 2>/dev/null || { cat "$NGX/error.log"; exit 1; }
    sleep 0.1
done
"$LOAD" probe --url "http://127.0.0.1:$NGX_PORT/transfer.json" || { echo "nginx did not start"; exit 1; }
NGX_PIDS=$NGX_PID
for p in $(ps -o pid= --ppid "$NGX_PID"); do NGX_PIDS="$NGX_PIDS,$p"; done
NG=(--url "http://127.0.0.1:$NGX_PORT/transfer.json" --conns "$CONNS" --duration "$DURATION" --warmup "$WARMUP" --server-pid "$NGX_PIDS")
echo "== (a) nginx: closed loop, GET, $CONNS connections"
run ngx_closed get "${NG[@]}"
echo "== (b) nginx: open loop at $RATE req/s"
run ngx_open get "${NG[@]}" --rate "$RATE"
kill -QUIT "$NGX_PID" 2>/dev/null || true
wait "$NGX_PID" 2>/dev/null || true
NGX_PID=""

# ---------------------------------------------------------------- summary
python3 - "$RESULTS" "$CONNS" "$RATE" "$BATCH" "$BATCH_CONNS" "$RATE_LOW" "$OUT/metrics" <<'PY'
import json, os, re, sys
rows = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        r = json.loads(line)
        rows[r["label"]] = r
conns, rate, batch, bconns = sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]
rate_low = float(sys.argv[6])

def cell(r):
    if not r:
        return f"{'-':>9} {'-':>7} {'-':>7} {'-':>7}"
    if r.get("failed"):
        return f"{'failed':>9} {'':>7} {'':>7} {'':>7}"
    return (f"{r['req_per_s']:>9,.0f} {r['p50_us']/1e3:>7.2f} {r['p99_us']/1e3:>7.2f} "
            f"{r['p999_us']/1e3:>7.2f}")

def ratio(a, b):
    if not a or not b or a.get("failed") or b.get("failed") or not b["req_per_s"]:
        return "   -"
    return f"{a['req_per_s'] / b['req_per_s']:>7.3f}"

print()
print(f"== side by side: {conns} keep-alive connections on 127.0.0.1; latencies in ms "
      f"(open loop: from the scheduled send time)")
print(f"{'':42} {'---------- jiaozi ----------':>33} {'----------- nginx -----------':>33}")
print(f"{'run':42} {'req/s':>9} {'p50':>7} {'p99':>7} {'p999':>7} {'req/s':>9} {'p50':>7} "
      f"{'p99':>7} {'p999':>7} {'jz/nginx':>8}")
table = [
    ("closed loop, 1 transfer a request", "jz_closed", "ngx_closed"),
    (f"open loop at {rate:,.0f} req/s", "jz_open", "ngx_open"),
    (f"open loop at {rate_low:,.0f} req/s", "jz_open_low", None),
    ("GET /healthz (jiaozi's HTTP layer alone)", "jz_healthz", "ngx_closed"),
]
for name, j, n in table:
    print(f"{name:42} {cell(rows.get(j))} {cell(rows.get(n))} {ratio(rows.get(j), rows.get(n)):>8}")
b = rows.get("jz_batch")
if b and not b.get("failed"):
    print(f"batch endpoint, {batch} transfers a request, {bconns} connections: "
          f"{b['transfers_per_s']:,.0f} transfers/s ({b['req_per_s']:.1f} req/s, "
          f"p50 {b['p50_us']/1e3:.1f} ms, p99 {b['p99_us']/1e3:.1f} ms, "
          f"{b['item_errors']} refused items)")
print()
print("CPU in each measured window, in cores (the machine has 2): server, client, and the rest")
print("of the machine (other people's processes: a shared machine), and the server's threads:")
for k in ["jz_closed", "jz_open", "jz_open_low", "jz_batch", "jz_healthz", "ngx_closed", "ngx_open"]:
    r = rows.get(k)
    if r and not r.get("failed"):
        extra = f"  [{r['server_threads']}]" if r.get("server_threads") else ""
        bad = r["s4xx"] + r["s5xx"] + r["sother"] + r["conn_errors"]
        errs = f"  non-2xx/errors {bad}" if bad else ""
        if r.get("missing"):
            errs += f"  unanswered when the client gave up {r['missing']}"
        print(f"  {k:11} server {r['server_cpu']:.2f}  client {r['client_cpu']:.2f}  "
              f"others {r.get('other_cpu', 0):.2f}{errs}{extra}")

# Inside jiaozi: its own histograms over each run (warm-up and drain included).
def metrics(path):
    m = {}
    try:
        for line in open(path):
            if line.startswith("#"):
                continue
            k, _, v = line.rpartition(" ")
            try:
                m[k] = float(v)
            except ValueError:
                pass
    except OSError:
        pass
    return m

def over(d, name, labels, le):
    """share of observations above `le` seconds, from cumulative buckets"""
    count = d.get(f"{name}_count{labels}", 0)
    if not count:
        return 0.0
    inner = labels[1:-1] + "," if labels else ""
    below = d.get(f'{name}_bucket{{{inner}le="{le}"}}', 0)
    return 100.0 * (count - below) / count

print()
print("inside jiaozi (its /metrics, whole run): durable batches, fdatasync, and the time a request")
print("spends in the server (auth, parse, executor, waiting to be durable, answer):")
mdir = sys.argv[7]
for k, route in [("jz_closed", "/v1/transfers"), ("jz_open", "/v1/transfers"),
                 ("jz_open_low", "/v1/transfers"), ("jz_batch", "/v1/transfers/batch")]:
    m0, m1 = metrics(f"{mdir}/{k}.0"), metrics(f"{mdir}/{k}.1")
    if not m0 or not m1:
        continue
    d = {key: m1[key] - m0.get(key, 0) for key in m1}
    nb = d.get("jiaozi_batches_total", 0)
    if not nb:
        continue
    fs_n = d.get("jiaozi_journal_fsync_seconds_count", 0) or 1
    bt_n = d.get("jiaozi_batch_seconds_count", 0) or 1
    rl = f'{{route="{route}"}}'
    rq_n = d.get(f"jiaozi_http_request_duration_seconds_count{rl}", 0) or 1
    print(f"  {k:11} {nb:,.0f} batches of {d.get('jiaozi_commands_total', 0) / nb:,.1f} commands; "
          f"fdatasync mean {1e3 * d.get('jiaozi_journal_fsync_seconds_sum', 0) / fs_n:.2f} ms, "
          f"{over(d, 'jiaozi_journal_fsync_seconds', '', 0.005):.1f}% > 5 ms, "
          f"{over(d, 'jiaozi_journal_fsync_seconds', '', 0.01):.1f}% > 10 ms; "
          f"batch taken->durable mean {1e3 * d.get('jiaozi_batch_seconds_sum', 0) / bt_n:.2f} ms, "
          f"{over(d, 'jiaozi_batch_seconds', '', 0.005):.1f}% > 5 ms; "
          f"{route} in the server mean "
          f"{1e3 * d.get(f'jiaozi_http_request_duration_seconds_sum{rl}', 0) / rq_n:.2f} ms, "
          f"{over(d, 'jiaozi_http_request_duration_seconds', rl, 0.005):.1f}% > 5 ms")

print()
def verdict(ok):
    return "met" if ok else "MISSED"
a, o = rows.get("jz_closed"), rows.get("jz_open")
if a and not a.get("failed"):
    print(f"target: one transfer a request >= 50,000 req/s: {a['req_per_s']:,.0f} -> {verdict(a['req_per_s'] >= 50000)}")
if o and not o.get("failed"):
    ok = o["p99_us"] <= 5000 and o["req_per_s"] >= 0.99 * rate
    print(f"target: p99 <= 5 ms at {rate:,.0f} req/s: p99 {o['p99_us']/1e3:,.2f} ms at "
          f"{o['req_per_s']:,.0f} req/s achieved -> {verdict(ok)}")
if b and not b.get("failed"):
    print(f"target: batch endpoint >= 500,000 transfers/s: {b['transfers_per_s']:,.0f} -> "
          f"{verdict(b['transfers_per_s'] >= 500000)}")
PY
