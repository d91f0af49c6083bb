#!/usr/bin/env bash
# Webhook ingest measured from outside the process with `wrk` (Debian: apt-get install wrk):
# the ingest bench serves the router (GitFlic plugin verifying each delivery, SQLite storing
# it before the 202), wrk posts distinct deliveries (post.lua) with THREADS x CONNECTIONS for
# SECONDS, and the server says how many it stored, to compare with wrk's count of answers.
#   tests/benches/wrk_ingest.sh [SECONDS] [THREADS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}" threads="${2:-2}" conns="${3:-16}" port=18080
if ! command -v wrk >/dev/null; then
  echo "wrk is missing: apt-get install -y wrk (skipping the outside ingest run)"
  exit 0
fi
cargo bench -q -p exlogare-conformance-tests --bench ingest --no-run
out="$(mktemp)"
cargo bench -q -p exlogare-conformance-tests --bench ingest -- serve "$port" "$((secs + 8))" >"$out" 2>&1 &
server=$!
for _ in $(seq 1 600); do grep -q "^serving on" "$out" && break; sleep 0.1; done
grep -q "^serving on" "$out" || { cat "$out"; kill "$server"; exit 1; }
wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s tests/benches/post.lua "http://127.0.0.1:$port"
wait "$server"
grep "^stored:" "$out"
rm -f "$out"
