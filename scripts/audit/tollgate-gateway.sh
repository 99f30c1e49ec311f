#!/usr/bin/env bash
# Runs Tollgate for one audit suite; started (through gateway.sh) by the audit's
# CLI, which sends SIGTERM when the suite's tests are done.
# Environment (set by run.sh): TOLLGATE_BIN_ABS, AUDIT_PORT, GATEWAY_PORT,
# WORK_DIR, GATEWAY_MAX_LIFETIME (seconds).
set -uo pipefail

suite="${1:?usage: tollgate-gateway.sh SUITE_ID}"
: "${TOLLGATE_BIN_ABS:?}" "${AUDIT_PORT:?}" "${GATEWAY_PORT:?}" "${WORK_DIR:?}"
lifetime="${GATEWAY_MAX_LIFETIME:-600}"

dir="$WORK_DIR/suites/$suite"
mkdir -p "$dir"
echo $$ > "$dir/launcher.pid"

# The supergraph's subgraph URLs are built from the request's origin, so
# fetching it from 127.0.0.1 makes Tollgate call the subgraphs on 127.0.0.1.
if ! curl -fsS --max-time 30 "http://127.0.0.1:$AUDIT_PORT/$suite/supergraph" \
  -o "$dir/supergraph.graphql"; then
  echo "tollgate-gateway: cannot fetch the supergraph of $suite" >&2
  exit 1
fi

cat > "$dir/tollgate.yaml" <<YAML
supergraph:
  path: $dir/supergraph.graphql
http:
  listen: 127.0.0.1:$GATEWAY_PORT
  graphql_path: /graphql
# The saved raw responses are easier to read with the subgraphs' own errors
# (the audit compares only data, and the presence of errors).
include_subgraph_errors:
  all: true
YAML

"$TOLLGATE_BIN_ABS" --config "$dir/tollgate.yaml" --log-format text &
pid=$!
echo "$pid" > "$dir/tollgate.pid"

stop() {
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 50); do # up to 5 s for a graceful shutdown
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  exit 0
}
trap stop TERM INT HUP

deadline=$((SECONDS + lifetime))
while kill -0 "$pid" 2>/dev/null; do
  if ((SECONDS >= deadline)); then
    echo "tollgate-gateway: $suite ran past ${lifetime}s, stopping Tollgate" >&2
    stop
  fi
  sleep 0.2 &
  wait $! # a trapped signal interrupts this wait at once
done
wait "$pid"
rc=$?
echo "tollgate-gateway: Tollgate exited on its own with status $rc" >&2
exit "$rc"
