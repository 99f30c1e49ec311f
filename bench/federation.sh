#!/usr/bin/env bash
# Federation benchmark: requests/s and latency through the release router on
# the demo subgraphs for operations touching 1, 2 and 4 subgraphs (entity
# fetches, @requires, lists). No JWT. Loopback only; each run bounded by DURATION.
# Usage: bench/federation.sh   (env: DURATION=8s CONNECTIONS=16 WARMUP=3s LOG_LEVEL=warn)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-16}
ROUTER_PORT=${ROUTER_PORT:-4000}
DEMO_PORT=${DEMO_PORT:-4100}

# shellcheck source=bench/lib.sh
source bench/lib.sh

"$BIN/tollgate-demo" --listen "127.0.0.1:$DEMO_PORT" >"$work/demo.log" 2>&1 &
pids+=($!)
wait_health "http://127.0.0.1:$DEMO_PORT/health"

cat >"$work/router.yaml" <<YAML
supergraph: { path: $PWD/schemas/supergraph.graphql }
http: { listen: "127.0.0.1:$ROUTER_PORT" }
subgraphs:
  accounts: { url: "http://127.0.0.1:$DEMO_PORT/accounts" }
  products: { url: "http://127.0.0.1:$DEMO_PORT/products" }
  reviews: { url: "http://127.0.0.1:$DEMO_PORT/reviews" }
  inventory: { url: "http://127.0.0.1:$DEMO_PORT/inventory" }
log: { level: ${LOG_LEVEL:-warn} }
YAML
"$BIN/tollgate" --config "$work/router.yaml" >"$work/router.log" 2>&1 &
pids+=($!)
wait_health "http://127.0.0.1:$ROUTER_PORT/health"

declare -A queries=(
  [1_subgraph]='{ topProducts { upc name price } }'
  [2_subgraphs]='{ topProducts { name reviews { body } } }'
  [4_subgraphs]='{ users { name reviews { body product { name shippingEstimate inStock } } } }'
)
echo "| operation | requests/s | p50 ms | p99 ms |"
echo "| --- | --- | --- | --- |"
for name in 1_subgraph 2_subgraphs 4_subgraphs; do
  export BENCH_BODY
  BENCH_BODY=$(printf '{"query":"%s"}' "${queries[$name]}")
  export BENCH_TOKEN=""
  answer=$(curl -sf "http://127.0.0.1:$ROUTER_PORT/graphql" -H 'content-type: application/json' -d "$BENCH_BODY")
  if grep -q '"errors"' <<<"$answer"; then echo "$name answers with errors: $answer" >&2; exit 1; fi
  wrk -t1 -c"$CONNECTIONS" -d"$WARMUP" -s bench/post.lua "http://127.0.0.1:$ROUTER_PORT/graphql" >/dev/null
  result=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/post.lua "http://127.0.0.1:$ROUTER_PORT/graphql" | grep '^RESULT')
  grep -q ' errors=0$' <<<"$result" || { echo "$name: requests failed: $result" >&2; exit 1; }
  rps=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$result")
  p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$result")
  p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$result")
  echo "| $name | $rps | $p50 | $p99 |"
done
echo
echo "(loopback, $CONNECTIONS connections, $DURATION per run after $WARMUP warm-up, wrk and router and subgraphs share $(nproc) cores)"
