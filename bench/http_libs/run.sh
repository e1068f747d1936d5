#!/usr/bin/env bash
# Builds the four HTTP library trial servers and compares them on loopback:
#   closed loop: wrk -t1 -cN -d${DUR}s --latency -s post.lua  (N in $CONNS), immediate and deferred
#   open loop:   loadgen at a fixed $RATE req/s over $RATE_CONNS connections (p99 target)
# Every configuration runs $RUNS times. Raw rows go to build/results.tsv, the summary
# table to build/results.md (and stdout).
#   bash bench/http_libs/run.sh                 # everything (~25 min on a quiet machine)
#   DUR=3 RUNS=1 LIBS="h2o mhd" bash bench/http_libs/run.sh   # quick look
#   CONNS= EXTRA_CONNS= RUNS=3 bash bench/http_libs/run.sh    # fixed-rate runs only
set -euo pipefail
cd "$(dirname "$0")"
DUR=${DUR:-10}
RUNS=${RUNS:-2}
CONNS=${CONNS-"16 64 256"}      # empty: no wrk runs
EXTRA_CONNS=${EXTRA_CONNS-64}
RATE=${RATE-20000}              # empty: no fixed-rate runs
RATE_CONNS=${RATE_CONNS:-128}
LIBS=${LIBS:-"mhd libevent h2o civetweb"}
# lib:threads:variant. MAIN: each library's natural multi-threaded model on 2 cores;
# EXTRA: alternatives, measured at $EXTRA_CONNS connections and at the fixed rate.
MAIN=${MAIN:-"mhd:2:pool libevent:2:reuseport h2o:2:reuseport civetweb:300:threads"}
EXTRA=${EXTRA-"mhd:2:turbo mhd:2:tpc libevent:1:reuseport h2o:1:reuseport civetweb:300:raw"}
PORT=${PORT:-18100}
OUT=build
mkdir -p "$OUT"

# --- dependencies (Debian packages) ---
need=()
pkg-config --exists libmicrohttpd || need+=(libmicrohttpd-dev)
pkg-config --exists libevent_pthreads || need+=(libevent-dev)
pkg-config --exists libh2o-evloop || need+=(libh2o-evloop-dev)
[ -f /usr/include/civetweb.h ] || need+=(libcivetweb-dev)
command -v wrk >/dev/null || need+=(wrk)
pkg-config --exists openssl || need+=(libssl-dev)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}"
    else echo "missing: sudo apt-get install -y ${need[*]}" >&2; exit 1; fi
fi

# --- build (warning-free at -Wall -Wextra -Werror) ---
CC=${CC:-cc}
CF="-std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror"
$CC $CF mhd_server.c -o $OUT/mhd_server $(pkg-config --cflags --libs libmicrohttpd) -lpthread
$CC $CF libevent_server.c -o $OUT/libevent_server $(pkg-config --cflags --libs libevent_pthreads) -lpthread
$CC $CF h2o_server.c -o $OUT/h2o_server $(pkg-config --cflags --libs libh2o-evloop openssl) -lpthread
$CC $CF civetweb_server.c -o $OUT/civetweb_server -lcivetweb -lpthread
$CC $CF loadgen.c -o $OUT/loadgen
echo "built: $(ls $OUT | grep -E '_server$|loadgen' | tr '\n' ' ')"


HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
sys_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; } # busy total
sys_cores() { awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN{split(a,x," "); split(b,y," "); printf "%.2f", (y[1]-x[1])/(y[2]-x[2])*n}'; }
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; else print "NA" }'; }

RES=${RES:-$OUT/results.tsv}
[ -f "$RES" ] && [ "${APPEND:-0}" = 1 ] || printf 'lib\tvariant\tthreads\tmode\tload\tconns\trun\trps\tp50_ms\tp90_ms\tp99_ms\tmax_ms\terrors\tsrv_cores\tcli_cores\tall_cores\tbg_cores\tother_cores\ttries\n' > "$RES"

# Other work on the machine skews a 2-core benchmark: before each measurement wait (up to
# QUIET_WAIT s) until the idle machine is below 0.25 busy cores; the level seen is recorded.
QUIET_WAIT=${QUIET_WAIT:-10}
BG=0
wait_quiet() {
    local a b i
    for i in $(seq 0 2 "$QUIET_WAIT"); do
        a=$(sys_ticks); sleep 0.5; b=$(sys_ticks); BG=$(sys_cores "$a" "$b")
        awk -v x="$BG" 'BEGIN{exit !(x < 0.25)}' && return 0
        sleep 1.5
    done
}

SRV=""
start_server() { # lib threads variant mode
    PORT=$((PORT + 1))
    if ss -ltnH "sport = :$PORT" | grep -q .; then echo "port $PORT busy" >&2; exit 1; fi
    "$OUT/$1_server" "$PORT" "$4" "$2" "$3" 2>/dev/null &
    SRV=$!
    for _ in $(seq 50); do
        curl -fs -o /dev/null -X POST -d '{}' "http://127.0.0.1:$PORT/echo" && return 0
        sleep 0.1
    done
    echo "server $1 did not start" >&2; exit 1
}
stop_server() { kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; SRV=""; }
trap stop_server EXIT

run_wrk() { # lib threads variant mode conns run
    local c0 t0 c1 t1 out s0 s1
    wait_quiet
    c0=$(cpu_ticks "$SRV"); t0=$(date +%s.%N); s0=$(sys_ticks)
    out=$( { /usr/bin/time -f 'CLI %U %S' wrk -t1 -c"$5" -d"${DUR}s" --latency -s post.lua "http://127.0.0.1:$PORT/echo"; } 2>&1 )
    c1=$(cpu_ticks "$SRV"); t1=$(date +%s.%N); s1=$(sys_ticks)
    local rps p50 p90 p99 max err cli srv
    rps=$(awk '/^Requests\/sec/{printf "%.0f", $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
    p90=$(to_ms "$(awk '$1=="90%"{print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
    max=$(to_ms "$(awk '$1=="Latency"{print $4; exit}' <<<"$out")")
    err=$(awk '/Socket errors/{gsub(",","");s+=$4+$6+$8+$10} /Non-2xx/{s+=$NF} END{print s+0}' <<<"$out")
    local w; w=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')
    cli=$(awk -v w="$w" '/^CLI/{printf "%.2f", ($2+$3)/w}' <<<"$out")
    srv=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v w="$w" 'BEGIN{printf "%.2f", (b-a)/hz/w}')
    printf '%s\t%s\t%s\t%s\twrk\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$3" "$2" "$4" "$5" "$6" \
        "$rps" "$p50" "$p90" "$p99" "$max" "$err" "$srv" "$cli" "$(sys_cores "$s0" "$s1")" "$BG"
}

run_rate() { # lib threads variant mode run
    local c0 t0 c1 t1 out j s0 s1
    wait_quiet
    c0=$(cpu_ticks "$SRV"); t0=$(date +%s.%N); s0=$(sys_ticks)
    out=$( { /usr/bin/time -f 'CLI %U %S' "$OUT/loadgen" "$PORT" "$RATE" "$RATE_CONNS" "$DUR"; } 2>&1 )
    c1=$(cpu_ticks "$SRV"); t1=$(date +%s.%N); s1=$(sys_ticks)
    j=$(grep '^{' <<<"$out")
    local w; w=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')
    python3 - "$j" "$1" "$3" "$2" "$4" "$5" "$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v w="$w" 'BEGIN{printf "%.2f", (b-a)/hz/w}')" \
        "$(awk -v w="$w" '/^CLI/{printf "%.2f", ($2+$3)/w}' <<<"$out")" "$(sys_cores "$s0" "$s1")" "$BG" <<'PY'
import json, sys
j = json.loads(sys.argv[1]); lib, var, thr, mode, run, srv, cli, allc, bg = sys.argv[2:11]
print("\t".join(map(str, [lib, var, thr, mode, "rate%d" % j["rate"], j["conns"], run, j["rps"],
      j["p50_ms"], j["p90_ms"], j["p99_ms"], j["max_ms"], j["errors"] + j["missing"], srv, cli, allc, bg])))
PY
}

# measure run_wrk|run_rate ARGS...: the machine is shared, so a measurement during which
# other processes used more than MAX_OTHER cores (all busy - server - client) is taken
# again, up to RETRIES times; the least disturbed try is kept and its "other" recorded.
MAX_OTHER=${MAX_OTHER:-0.3}
RETRIES=${RETRIES:-3}
measure() {
    local best="" best_o=99 row o t
    for t in $(seq "$RETRIES"); do
        row=$("$@")
        o=$(awk -F'\t' '{o=$16-$14-$15; printf "%.2f", o < 0 ? 0 : o}' <<<"$row")
        if awk -v o="$o" -v b="$best_o" 'BEGIN{exit !(o < b)}'; then best="$row"; best_o="$o"; fi
        awk -v o="$o" -v m="$MAX_OTHER" 'BEGIN{exit !(o <= m)}' && break
        sleep 5
    done
    printf '%s\t%s\t%s\n' "$best" "$best_o" "$t" | tee -a "$RES"
}

# Runs are interleaved (run 1 of every configuration, then run 2, ...) so that background
# noise on the machine is spread over all libraries rather than landing on one.
for r in $(seq "$RUNS"); do
    for set in main extra; do
        if [ $set = main ]; then cfgs=$MAIN; conns=$CONNS; else cfgs=$EXTRA; conns=$EXTRA_CONNS; fi
        for cfg in $cfgs; do
            IFS=: read -r lib thr var <<<"$cfg"
            [[ " $LIBS " == *" $lib "* ]] || continue
            for mode in imm def; do
                start_server "$lib" "$thr" "$var" "$mode"
                for c in $conns; do measure run_wrk "$lib" "$thr" "$var" "$mode" "$c" "$r"; done
                [ -z "$RATE" ] || measure run_rate "$lib" "$thr" "$var" "$mode" "$r"
                stop_server
            done
        done
    done
done
python3 summarize.py "$RES" | tee "$OUT/results.md"
