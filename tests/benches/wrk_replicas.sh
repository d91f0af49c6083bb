#!/usr/bin/env bash
# Webhook ingest with the service's database on PostgreSQL, one replica and three replicas on
# one database, against one host on SQLite, in the same run: `wrk` posts distinct deliveries
# (post.lua) to every replica at once, 16 connections in all, for SECONDS each; each delivery
# is stored durably (PostgreSQL with its default fsync and synchronous commit) before its 202.
#   tests/benches/wrk_replicas.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
if ! command -v wrk >/dev/null; then
  echo "wrk is missing: apt-get install -y wrk (skipping the replica ingest run)"
  exit 0
fi
cargo bench -q -p exlogare-conformance-tests --bench ingest --no-run
pg="$(tests/postgres/cluster.sh start --durable)"
pg_dir="$(echo "$pg" | tail -1)"
admin="$(echo "$pg" | head -1)"
trap 'tests/postgres/cluster.sh stop "$pg_dir"' EXIT

# run LABEL REPLICAS [DATABASE]: REPLICAS servers (on DATABASE, else each its own SQLite),
# one wrk per server, the 16 connections split between them.
run() {
  local label="$1" n="$2" db="${3:-}" work
  work="$(mktemp -d)"
  local servers=()
  for i in $(seq 1 "$n"); do
    EXLOGARE_BENCH_DB="$db" bash -c '[ -z "$EXLOGARE_BENCH_DB" ] && unset EXLOGARE_BENCH_DB; exec "$@"' _ \
      cargo bench -q -p exlogare-conformance-tests --bench ingest -- serve "$((18100 + i))" "$((secs + 10))" \
      >"$work/server-$i" 2>&1 &
    servers+=($!)
  done
  for i in $(seq 1 "$n"); do
    for _ in $(seq 1 900); do grep -q "^serving on" "$work/server-$i" && break; sleep 0.1; done
    grep -q "^serving on" "$work/server-$i" || { cat "$work/server-$i"; exit 1; }
  done
  local wrks=()
  for i in $(seq 1 "$n"); do
    wrk -t1 -c"$((16 / n))" -d"${secs}s" --latency -s tests/benches/post.lua \
      "http://127.0.0.1:$((18100 + i))" -- "$((i * 100000000))" >"$work/wrk-$i" 2>&1 &
    wrks+=($!)
  done
  wait "${wrks[@]}"
  wait "${servers[@]}"
  local total=0
  for i in $(seq 1 "$n"); do
    total=$((total + $(sed -n 's/^requests \([0-9]*\),.*/\1/p' "$work/wrk-$i")))
  done
  echo "== $label: $((total / secs)) deliveries/s ($total in ${secs} s)"
  for i in $(seq 1 "$n"); do
    echo "   replica $i: $(grep '^requests' "$work/wrk-$i"); $(grep -E '^p(50|99) ' "$work/wrk-$i" | tr '\n' ' ')"
  done
  echo "   stored (as the last replica counted): $(grep -h '^stored:' "$work"/server-* | tail -1)"
  rm -rf "$work"
}

new_database() {
  psql "$admin" -qAt -c "CREATE DATABASE $1" >/dev/null
  echo "host=$pg_dir user=exlogare dbname=$1"
}

run "one host, SQLite" 1
run "one replica, PostgreSQL" 1 "$(new_database bench_one)"
run "three replicas, one PostgreSQL" 3 "$(new_database bench_three)"
