#!/usr/bin/env bash
# make bench: jiaozi's durable ledger throughput and its PostgreSQL peer, in one run,
# with the ratio. Sizes can be overridden: WALLETS=... TRANSFERS=... PG_TRANSFERS=...
set -euo pipefail
cd "$(dirname "$0")/.."
WALLETS=${WALLETS:-1000000}
TRANSFERS=${TRANSFERS:-10000000}
PG_TRANSFERS=${PG_TRANSFERS:-200000}
BATCH=${BATCH:-8190}

echo "== jiaozi bench ledger: $WALLETS wallets, $TRANSFERS transfers, batches of $BATCH"
jz_json=$(build/jiaozi bench ledger --wallets "$WALLETS" --transfers "$TRANSFERS" --batch "$BATCH" --json | tail -n 1)
echo "$jz_json"
echo "== PostgreSQL 15 peer: $WALLETS wallets, $PG_TRANSFERS transfers, 8 clients, one transfer a transaction"
pg_json=$(bash bench/peer_postgresql.sh --wallets "$WALLETS" --transfers "$PG_TRANSFERS" --clients 8 --json | tail -n 1)
echo "$pg_json"
python3 - "$jz_json" "$pg_json" <<'PY'
import json, sys
jz = json.loads(sys.argv[1]); pg = json.loads(sys.argv[2])
ratio = jz["transfers_per_s"] / pg["transfers_per_s"]
print("== side by side")
print(f"  jiaozi      {jz['transfers_per_s']:>12,.0f} durable transfers/s  (batch p99 {jz['batch_p99_ms']:.1f} ms, {jz['rss_bytes_per_wallet']:.0f} B/wallet)")
print(f"  postgresql  {pg['transfers_per_s']:>12,.0f} durable transfers/s")
print(f"  ratio       {ratio:>12.1f}x")
PY
