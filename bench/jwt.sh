#!/usr/bin/env bash
# JWT overhead benchmark: the same single-subgraph query through the release
# router with JWT off, JWT on (RS256, verification cache on) without and with
# claim forwarding, and JWT on with the cache off. Every run sends the same
# Authorization header; "off" ignores it. Loopback only; each run is bounded by DURATION.
# Usage: bench/jwt.sh   (env: DURATION=10s CONNECTIONS=16 WARMUP=3s ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-3}
ROUTER_PORT=${ROUTER_PORT:-4000}
DEMO_PORT=${DEMO_PORT:-4100}

# shellcheck source=bench/lib.sh
source bench/lib.sh
"$BIN/tollgate-demo" --listen "127.0.0.1:$DEMO_PORT" >"$work/demo.log" 2>&1 &
pids+=($!)
wait_health "http://127.0.0.1:$DEMO_PORT/health"

write_config() { # name jwt_block
  cat >"$work/$1.yaml" <<YAML
supergraph: { path: $PWD/schemas/supergraph.graphql }
http: { listen: "127.0.0.1:$ROUTER_PORT" }
subgraphs:
  accounts: { url: "http://127.0.0.1:$DEMO_PORT/accounts" }
  products: { url: "http://127.0.0.1:$DEMO_PORT/products" }
  reviews: { url: "http://127.0.0.1:$DEMO_PORT/reviews" }
  inventory: { url: "http://127.0.0.1:$DEMO_PORT/inventory" }
log: { level: warn }
$2
YAML
}
JWT_BASE="jwt:
  require_authentication: true
  jwks_providers: [{ source: file, path: $PWD/dev/dev-jwks.json }]
  forward_claims_to_upstream_extensions: { enabled: true }"
write_config off ""
write_config cached "$JWT_BASE"
write_config uncached "$JWT_BASE
  verification_cache: { enabled: false }"
write_config cached_noforward "jwt:
  require_authentication: true
  jwks_providers: [{ source: file, path: $PWD/dev/dev-jwks.json }]"

export BENCH_TOKEN
BENCH_TOKEN=$("$BIN/tollgate" dev-token --config "$work/cached.yaml" --ttl-secs 3600)
export BENCH_BODY='{"query":"query Top { topProducts { upc name price } }","operationName":"Top"}'

run_one() { # config -> prints RESULT line
  "$BIN/tollgate" --config "$work/$1.yaml" >"$work/$1.log" 2>&1 &
  local pid=$!
  wait_health "http://127.0.0.1:$ROUTER_PORT/health"
  # Check the query answers what we expect before measuring.
  curl -sf "http://127.0.0.1:$ROUTER_PORT/graphql" -H 'content-type: application/json' \
    -H "authorization: Bearer $BENCH_TOKEN" -d "$BENCH_BODY" | grep -q '"topProducts"' || { echo "bad response from $1" >&2; kill $pid; return 1; }
  wrk -t1 -c"$CONNECTIONS" -d"$WARMUP" -s bench/post.lua "http://127.0.0.1:$ROUTER_PORT/graphql" >/dev/null
  local result
  result=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/post.lua "http://127.0.0.1:$ROUTER_PORT/graphql" | grep '^RESULT')
  if ! grep -q ' errors=0$' <<<"$result"; then
    echo "$1: requests failed during the run: $result" >&2; kill $pid; return 1
  fi
  echo "$result"
  kill -TERM $pid; wait $pid 2>/dev/null || true
}

declare -A rps p99
for round in $(seq 1 "$ROUNDS"); do
  for mode in off cached_noforward cached uncached; do
    line=$(run_one $mode)
    echo "round $round $mode: $line" >&2
    rps[$mode]+="$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line") "
    p99[$mode]+="$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line") "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2==1)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
echo
echo "| JWT mode | requests/s (median of $ROUNDS) | p99 ms (median) | throughput vs off |"
echo "| --- | --- | --- | --- |"
base=$(median <<<"${rps[off]}")
for mode in off cached_noforward cached uncached; do
  r=$(median <<<"${rps[$mode]}"); p=$(median <<<"${p99[$mode]}")
  ratio=$(awk -v r="$r" -v b="$base" 'BEGIN {printf "%.1f%%", (r/b-1)*100}')
  echo "| $mode | $r | $p | $ratio |"
done
echo
echo "(loopback, $CONNECTIONS connections, $DURATION per run after $WARMUP warm-up, wrk and router and subgraphs share $(nproc) cores)"
