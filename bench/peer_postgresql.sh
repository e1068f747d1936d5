#!/usr/bin/env bash
# PostgreSQL 15 peer for `jiaozi bench ledger`: the same workload — uniform
# random transfers between N wallets, one transfer per transaction — run by
# pgbench against a private, durable (fsync, synchronous_commit and
# full_page_writes on) PostgreSQL cluster reached over a Unix socket.
#
#   bash bench/peer_postgresql.sh [--wallets N] [--transfers M] [--clients C] [--json]
#
# Defaults: --wallets 1000000 --transfers 200000 --clients 8. M must be a
# multiple of C (pgbench runs M/C transactions per client). The figure is a
# rate, so M need not match jiaozi's own --transfers.
#
# Result lines go to stdout:
#   postgresql: transfers_per_s=... clients=C wallets=N transfers=M
#   postgresql: conservation ok
# and, with --json, a last line holding one JSON object. Progress goes to
# stderr. The cluster lives in a temp dir that is stopped and removed on exit,
# whatever the exit. As root the server runs as the system user $JZ_PG_USER
# (default jzbench, created if missing); otherwise as the calling user.
# PG_BIN may name the directory holding initdb, pg_ctl, psql and pgbench.
set -euo pipefail

WALLETS=1000000
TRANSFERS=200000
CLIENTS=8
JSON=0
INITIAL_BALANCE=1000000

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "postgresql: error: $*" >&2; exit 1; }
say() { echo "postgresql: $*" >&2; }

while (($#)); do
  case "$1" in
    --wallets)   [[ $# -ge 2 ]] || die "--wallets needs a value";   WALLETS=$2; shift 2 ;;
    --transfers) [[ $# -ge 2 ]] || die "--transfers needs a value"; TRANSFERS=$2; shift 2 ;;
    --clients)   [[ $# -ge 2 ]] || die "--clients needs a value";   CLIENTS=$2; shift 2 ;;
    --wallets=*)   WALLETS=${1#*=}; shift ;;
    --transfers=*) TRANSFERS=${1#*=}; shift ;;
    --clients=*)   CLIENTS=${1#*=}; shift ;;
    --json) JSON=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (try --help)" ;;
  esac
done

for v in WALLETS TRANSFERS CLIENTS; do
  [[ ${!v} =~ ^[1-9][0-9]{0,11}$ ]] || die "--${v,,} must be a positive integer, got '${!v}'"
done
((WALLETS >= 2)) || die "--wallets must be at least 2 (a transfer needs two wallets)"
((CLIENTS <= 45)) || die "--clients must be at most 45 (max_connections = 50)"
((TRANSFERS % CLIENTS == 0)) ||
  die "--transfers ($TRANSFERS) must be a multiple of --clients ($CLIENTS): pgbench runs -t M/C per client"
PER_CLIENT=$((TRANSFERS / CLIENTS))
THREADS=$((CLIENTS < 2 ? CLIENTS : 2))

# ---------------------------------------------------------------- binaries
find_pg_bin() {
  local d
  for d in "${PG_BIN:-}" /usr/lib/postgresql/15/bin; do
    if [[ -n $d && -x $d/initdb && -x $d/pg_ctl && -x $d/postgres && -x $d/psql && -x $d/pgbench ]]; then
      echo "$d"; return 0
    fi
  done
  return 1
}

if ! PGBIN=$(find_pg_bin); then
  [[ $(id -u) -eq 0 ]] || die "PostgreSQL 15 binaries not found and not root: apt-get install postgresql-15"
  say "installing PostgreSQL 15 (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y postgresql-15 >&2
  if ! PGBIN=$(find_pg_bin); then
    apt-get install -y postgresql-contrib >&2
  fi
  PGBIN=$(find_pg_bin) || die "PostgreSQL 15 binaries still missing after apt-get install"
fi

# --------------------------------------------------------- who runs the server
if [[ $(id -u) -eq 0 ]]; then
  PG_OS_USER=${JZ_PG_USER:-jzbench}
  if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    say "creating system user $PG_OS_USER"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$PG_OS_USER" 2>/dev/null ||
      id -u "$PG_OS_USER" >/dev/null 2>&1 || die "cannot create user $PG_OS_USER"
  fi
else
  PG_OS_USER=$(id -un)
fi

TMP=""
STARTED=0
CHILD=""

# Runs a command as the server's user, from inside the temp dir.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    if command -v runuser >/dev/null 2>&1; then
      (cd "$TMP" && runuser -u "$PG_OS_USER" -- "$@")
    else
      (cd "$TMP" && setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups -- "$@")
    fi
  else
    (cd "$TMP" && "$@")
  fi
}

cleanup() {
  local rc=$?
  set +e
  [[ -n $CHILD ]] && kill "$CHILD" 2>/dev/null
  if ((STARTED)) && [[ -n $TMP && -d $TMP/data ]]; then
    as_pg "$PGBIN/pg_ctl" -D "$TMP/data" -m immediate -w -t 30 stop >/dev/null 2>&1
    if [[ -f $TMP/data/postmaster.pid ]]; then
      local pid
      pid=$(head -n1 "$TMP/data/postmaster.pid" 2>/dev/null)
      [[ $pid =~ ^[0-9]+$ ]] && kill -9 "$pid" 2>/dev/null
    fi
  fi
  if ((rc != 0)) && [[ -n $TMP && -f $TMP/server.log ]]; then
    echo "postgresql: --- last lines of the server log ---" >&2
    tail -n 20 "$TMP/server.log" >&2
  fi
  [[ -n $CHILD ]] && wait "$CHILD" 2>/dev/null
  [[ -n $TMP && -d $TMP ]] && rm -rf -- "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TMP=$(mktemp -d "${TMPDIR:-/tmp}/jzpg.XXXXXX")
if [[ $(id -u) -eq 0 ]]; then
  chown "$PG_OS_USER:" "$TMP"
fi
chmod 700 "$TMP"
as_pg test -w "$TMP" || die "$PG_OS_USER cannot write $TMP (set TMPDIR to a directory it can reach)"

# A random port: with listen_addresses = '' it only names the socket file
# .s.PGSQL.<port> in the private temp dir, but keep clear of TCP ports in use.
PORT=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 40000))
  if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q . && [[ ! -e $TMP/.s.PGSQL.$p ]]; then
    PORT=$p; break
  fi
done
[[ -n $PORT ]] || die "no free port found"

# ----------------------------------------------------------------- cluster
say "initdb in $TMP (server user $PG_OS_USER, socket port $PORT)"
as_pg "$PGBIN/initdb" -D "$TMP/data" -U bench --auth=trust -E UTF8 --locale=C \
  --no-instructions >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log" >&2; die "initdb failed"; }

cat >>"$TMP/data/postgresql.conf" <<EOF

# jiaozi bench/peer_postgresql.sh
listen_addresses = ''
unix_socket_directories = '$TMP'
port = $PORT
max_connections = 50
shared_buffers = 512MB
fsync = on
synchronous_commit = on
full_page_writes = on
EOF

as_pg "$PGBIN/pg_ctl" -D "$TMP/data" -l "$TMP/server.log" -w -t 120 start >/dev/null ||
  die "pg_ctl start failed"
STARTED=1

psql_pg() {
  as_pg "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$TMP" -p "$PORT" -U bench -d postgres "$@"
}

VERSION=$(psql_pg -c "SHOW server_version")
for s in fsync synchronous_commit full_page_writes; do
  [[ $(psql_pg -c "SHOW $s") == on ]] || die "$s is not on"
done

# ------------------------------------------------------------ schema + data
say "loading $WALLETS wallets"
t0=$(date +%s.%N)
psql_pg -v nwallets="$WALLETS" -v balance="$INITIAL_BALANCE" <<'SQL'
CREATE TABLE wallets (
  id      bigint NOT NULL,
  balance bigint NOT NULL CHECK (balance >= 0)
);
CREATE TABLE transfers (
  id     uuid PRIMARY KEY,
  debit  bigint NOT NULL,
  credit bigint NOT NULL,
  amount bigint NOT NULL,
  ts     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO wallets (id, balance) SELECT g, :balance FROM generate_series(1, :nwallets) AS g;
ALTER TABLE wallets ADD PRIMARY KEY (id);

-- One transfer: lock both wallets in id order (no deadlocks between
-- concurrent transfers), check the debit's balance, move the amount, record
-- the transfer under a fresh 128-bit id. Returns false (and changes nothing)
-- when funds are insufficient.
CREATE FUNCTION transfer(p_debit bigint, p_credit bigint, p_amount bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  r   record;
  n   int := 0;
  bal bigint;
BEGIN
  IF p_debit = p_credit OR p_amount <= 0 THEN
    RAISE EXCEPTION 'bad transfer % -> % (%)', p_debit, p_credit, p_amount;
  END IF;
  FOR r IN SELECT id, balance FROM wallets WHERE id IN (p_debit, p_credit)
           ORDER BY id FOR UPDATE LOOP
    n := n + 1;
    IF r.id = p_debit THEN bal := r.balance; END IF;
  END LOOP;
  IF n <> 2 THEN
    RAISE EXCEPTION 'unknown wallet in % -> %', p_debit, p_credit;
  END IF;
  IF bal < p_amount THEN
    RETURN false;
  END IF;
  UPDATE wallets
     SET balance = balance + CASE WHEN id = p_credit THEN p_amount ELSE -p_amount END
   WHERE id IN (p_debit, p_credit);
  INSERT INTO transfers (id, debit, credit, amount)
  VALUES (gen_random_uuid(), p_debit, p_credit, p_amount);
  RETURN true;
END
$$;
SQL
psql_pg -c "VACUUM ANALYZE" -c "CHECKPOINT"
t1=$(date +%s.%N)
LOAD_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
say "loaded in ${LOAD_S}s"

# Debit and credit uniform in 1..N and always distinct: credit is drawn from
# the N-1 wallets other than debit.
cat >"$TMP/transfer.pgbench" <<'EOF'
\set debit random(1, :nwallets)
\set credit random(1, :nwallets - 1)
\set credit :credit + case when :credit >= :debit then 1 else 0 end
\set amount random(1, 1000)
SELECT transfer(:debit, :credit, :amount);
EOF
if [[ $(id -u) -eq 0 ]]; then chown "$PG_OS_USER:" "$TMP/transfer.pgbench"; fi

# ------------------------------------------------------------------ run
say "pgbench: $CLIENTS clients, $THREADS threads, $PER_CLIENT transfers each ($TRANSFERS total)"
# In the background, so that a TERM or INT to this script runs the trap at
# once (bash defers traps until a foreground child exits); stopping the server
# in cleanup then ends pgbench too.
as_pg "$PGBIN/pgbench" -n -M prepared -h "$TMP" -p "$PORT" -U bench \
  -c "$CLIENTS" -j "$THREADS" -t "$PER_CLIENT" -D nwallets="$WALLETS" \
  -f "$TMP/transfer.pgbench" postgres >"$TMP/pgbench.out" 2>&1 &
CHILD=$!
rc=0
wait "$CHILD" || rc=$?
CHILD=""
((rc == 0)) || { cat "$TMP/pgbench.out" >&2; die "pgbench failed (exit $rc)"; }
cat "$TMP/pgbench.out" >&2

TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$TMP/pgbench.out")
[[ $TPS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "cannot find tps in pgbench output"
PROCESSED=$(sed -n 's|^number of transactions actually processed: \([0-9]*\)/.*|\1|p' "$TMP/pgbench.out")
[[ $PROCESSED =~ ^[0-9]+$ ]] || die "cannot find the processed count in pgbench output"
((PROCESSED == TRANSFERS)) || die "pgbench processed $PROCESSED of $TRANSFERS transactions"
FAILED=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$TMP/pgbench.out")
[[ -z $FAILED || $FAILED == 0 ]] || die "pgbench reports $FAILED failed transactions"
LATENCY=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$TMP/pgbench.out")
[[ $LATENCY =~ ^[0-9]+(\.[0-9]+)?$ ]] || LATENCY=null
TPS1=$(awk -v t="$TPS" 'BEGIN { printf "%.1f", t }')

echo "postgresql: transfers_per_s=$TPS1 clients=$CLIENTS wallets=$WALLETS transfers=$TRANSFERS"

# ------------------------------------------------------------- verification
read -r SUM NW MINB < <(psql_pg -F ' ' -c "SELECT sum(balance), count(*), min(balance) FROM wallets")
NT=$(psql_pg -c "SELECT count(*) FROM transfers")
BAD=$(psql_pg -v balance="$INITIAL_BALANCE" <<'SQL'
SELECT count(*)
  FROM wallets w
  LEFT JOIN (SELECT id, sum(delta) AS delta
               FROM (SELECT debit AS id, -amount AS delta FROM transfers
                     UNION ALL
                     SELECT credit, amount FROM transfers) AS m
              GROUP BY id) AS t USING (id)
 WHERE w.balance <> :balance + coalesce(t.delta, 0);
SQL
)
EXPECTED=$((WALLETS * INITIAL_BALANCE))
[[ $NW == "$WALLETS" ]] || die "wallet count $NW != $WALLETS"
[[ $SUM == "$EXPECTED" ]] || die "conservation broken: sum of balances $SUM != $EXPECTED"
((MINB >= 0)) || die "negative balance $MINB"
[[ $NT == "$PROCESSED" ]] ||
  die "transfers recorded $NT != committed transactions $PROCESSED (insufficient funds rejections?)"
[[ $BAD == 0 ]] || die "$BAD wallets whose balance does not match their recorded transfers"
echo "postgresql: conservation ok (sum=$SUM, transfers=$NT, every balance matches its transfers)"

if ((JSON)); then
  printf '{"peer":"postgresql","transfers_per_s":%s,"clients":%d,"wallets":%d,"transfers":%d,"fsync":"on","synchronous_commit":"on","full_page_writes":"on","latency_ms_avg":%s,"load_s":%s,"server_version":"%s"}\n' \
    "$TPS1" "$CLIENTS" "$WALLETS" "$TRANSFERS" "$LATENCY" "$LOAD_S" "$VERSION"
fi
