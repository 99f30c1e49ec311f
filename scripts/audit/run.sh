#!/usr/bin/env bash
# Runs the federation gateway audit (github.com/graphql-hive/federation-gateway-audit)
# against Tollgate. See README.md beside this file.
#
#   scripts/audit/run.sh                 # every suite
#   scripts/audit/run.sh SUITE [SUITE…]  # only these suites
#   scripts/audit/run.sh --list          # list the suite ids
#   scripts/audit/run.sh --setup         # only install the audit's npm dependencies
#
# Environment:
#   AUDIT_DIR            audit checkout (default /tmp/audit); not vendored here
#   TOLLGATE_BIN         Tollgate binary, relative to the repo root or absolute
#                        (default target/debug/tollgate, built with
#                        `cargo build -p tollgate` unless TOLLGATE_BIN is set
#                        or AUDIT_SKIP_BUILD=1)
#   AUDIT_PORT           port of the audit's subgraph/test server (default 4200)
#   GATEWAY_PORT         port Tollgate listens on (default 4000)
#   WORK_DIR             where supergraphs, configs, logs and the summary go
#                        (default: a new /tmp/tollgate-audit.XXXXXX)
#   SUITE_TIMEOUT        seconds one suite may take, gateway included (default 300)
#   GATEWAY_TIMEOUT      ms the audit waits for Tollgate's health check (default 15000)
#   AUDIT_SAVE_RESPONSES 1 (default): for a suite with failures, start Tollgate
#                        again and save every test's query, expected result and
#                        Tollgate's raw response (errors included, which the
#                        audit's report leaves out) to suites/SUITE/responses.json;
#                        0: don't
#
# Everything listens on and talks to 127.0.0.1 only. Exit status: 0 when the
# harness ran every suite (whatever the tests said), 1 when a suite could not
# be run (timeout, runner crash, wrong test count), 2 on a setup error.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
AUDIT_DIR="${AUDIT_DIR:-/tmp/audit}"
AUDIT_PORT="${AUDIT_PORT:-4200}"
GATEWAY_PORT="${GATEWAY_PORT:-4000}"
SUITE_TIMEOUT="${SUITE_TIMEOUT:-300}"
export GATEWAY_TIMEOUT="${GATEWAY_TIMEOUT:-15000}"
TOOLS_DIR="$AUDIT_DIR/.tollgate-tools"
TSX="$TOOLS_DIR/node_modules/.bin/tsx"

die() {
  echo "audit: $*" >&2
  exit 2
}
log() { echo "audit: $*" >&2; }

[[ -f "$AUDIT_DIR/src/cli.ts" && -f "$AUDIT_DIR/src/test.ts" ]] ||
  die "no audit checkout in $AUDIT_DIR (clone github.com/graphql-hive/federation-gateway-audit there, or set AUDIT_DIR)"
command -v node >/dev/null || die "node is required"
command -v npm >/dev/null || die "npm is required"
command -v curl >/dev/null || die "curl is required"
command -v jq >/dev/null || die "jq is required"

# --- npm dependencies of the audit ------------------------------------------
# `npm ci` of the whole lock file fails here: its dev dependency wgc (the Cosmo
# CLI, only needed by the audit's cosmo-router gateway) is not on the registry
# we reach. So: the runtime dependencies with `npm ci --omit=dev`; then tsx and
# graphql (both dev dependencies of the audit; graphql is also the peer of its
# runtime dependencies), at the versions of the audit's lock file, in a side
# prefix, with graphql linked into the audit's node_modules. The audit's
# package.json and lock file stay untouched.
setup() {
  if [[ ! -d "$AUDIT_DIR/node_modules/fets" ]]; then
    log "installing the audit's runtime dependencies (npm ci --omit=dev)"
    (cd "$AUDIT_DIR" && timeout 900 npm ci --omit=dev --no-audit --no-fund) >&2
  fi
  if [[ ! -x "$TSX" || ! -f "$TOOLS_DIR/node_modules/graphql/package.json" ]]; then
    local lock="$AUDIT_DIR/package-lock.json" tsx_version graphql_version
    tsx_version="$(jq -r '.packages["node_modules/tsx"].version // "4"' "$lock")"
    graphql_version="$(jq -r '.packages["node_modules/graphql"].version // "16"' "$lock")"
    log "installing tsx@$tsx_version and graphql@$graphql_version into $TOOLS_DIR"
    timeout 900 npm install --prefix "$TOOLS_DIR" --no-audit --no-fund \
      "tsx@$tsx_version" "graphql@$graphql_version" >&2
  fi
  if [[ ! -e "$AUDIT_DIR/node_modules/graphql" ]]; then
    ln -s "$TOOLS_DIR/node_modules/graphql" "$AUDIT_DIR/node_modules/graphql"
  fi
}

case "${1:-}" in
--setup)
  setup
  exit 0
  ;;
-h | --help)
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 0
  ;;
esac

setup

# --- Tollgate binary ----------------------------------------------------------
if [[ -z "${TOLLGATE_BIN:-}" && "${AUDIT_SKIP_BUILD:-0}" != 1 ]]; then
  log "building Tollgate (cargo build -p tollgate)"
  (cd "$REPO_ROOT" && timeout 1800 cargo build -p tollgate) >&2 ||
    die "cargo build -p tollgate failed"
fi
TOLLGATE_BIN="${TOLLGATE_BIN:-target/debug/tollgate}"
[[ "$TOLLGATE_BIN" = /* ]] || TOLLGATE_BIN="$REPO_ROOT/$TOLLGATE_BIN"
[[ -x "$TOLLGATE_BIN" ]] || die "no Tollgate binary at $TOLLGATE_BIN"

# --- work dir and cleanup -----------------------------------------------------
WORK_DIR="${WORK_DIR:-$(mktemp -d /tmp/tollgate-audit.XXXXXX)}"
mkdir -p "$WORK_DIR/suites" "$WORK_DIR/logs"
WORK_DIR="$(cd "$WORK_DIR" && pwd)"

export NODE_OPTIONS="--require $SCRIPT_DIR/node-polyfill.cjs${NODE_OPTIONS:+ $NODE_OPTIONS}"
export AUDIT_DIR AUDIT_PORT GATEWAY_PORT WORK_DIR
# A copy of the binary: a concurrent `cargo build` must not swap it mid-run.
cp "$TOLLGATE_BIN" "$WORK_DIR/tollgate"
export TOLLGATE_BIN_ABS="$WORK_DIR/tollgate"
export GATEWAY_MAX_LIFETIME="$SUITE_TIMEOUT"

server_pid=""

# Stops a process we started, by its id: SIGTERM, up to 5 s, then SIGKILL.
stop_pid() {
  local pid="$1"
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# Stops what a suite's gateway launcher left running (only if the runner was
# killed before it could stop the gateway itself).
stop_suite_leftovers() {
  local dir="$WORK_DIR/suites/$1" f
  for f in "$dir/tollgate.pid" "$dir/launcher.pid"; do
    [[ -f "$f" ]] && stop_pid "$(cat "$f")"
  done
  return 0
}

cleanup() {
  local d
  for d in "$WORK_DIR"/suites/*/; do
    [[ -d "$d" ]] && stop_suite_leftovers "$(basename "$d")"
  done
  stop_pid "$server_pid"
  # The binary copy is large; logs, configs and responses stay.
  rm -f "$WORK_DIR/tollgate"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# wait_for URL SECONDS [PID]: until URL answers 2xx, at most SECONDS, and
# only while PID (if given) is alive.
wait_for() {
  local deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    [[ -z "${3:-}" ]] || kill -0 "$3" 2>/dev/null || return 1
    curl -fsS --max-time 2 -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.3
  done
  return 1
}

# The audit's runner kills whatever listens on the gateway port before each
# suite (lsof | kill -9): refuse to start if someone else uses it.
port_in_use "$AUDIT_PORT" && die "port $AUDIT_PORT (AUDIT_PORT) is already in use on 127.0.0.1"
port_in_use "$GATEWAY_PORT" && die "port $GATEWAY_PORT (GATEWAY_PORT) is already in use on 127.0.0.1"

# --- the audit's server: subgraphs, supergraphs and tests ----------------------
log "starting the audit server on 127.0.0.1:$AUDIT_PORT (log: $WORK_DIR/server.log)"
(cd "$AUDIT_DIR" && exec "$TSX" "$SCRIPT_DIR/serve-loopback.mts" "$AUDIT_PORT") \
  >"$WORK_DIR/server.log" 2>&1 &
server_pid=$!
wait_for "http://127.0.0.1:$AUDIT_PORT/ids" 120 "$server_pid" || {
  cat "$WORK_DIR/server.log" >&2
  die "the audit server did not come up (in 120 s)"
}

mapfile -t all_suites < <(curl -fsS --max-time 10 "http://127.0.0.1:$AUDIT_PORT/ids" | jq -r '.[]')
((${#all_suites[@]} > 0)) || die "the audit server lists no suite"

if [[ "${1:-}" == --list ]]; then
  printf '%s\n' "${all_suites[@]}"
  exit 0
fi

if (($# > 0)); then
  suites=("$@")
  for s in "${suites[@]}"; do
    printf '%s\n' "${all_suites[@]}" | grep -qxF -- "$s" || die "unknown suite '$s' (see --list)"
  done
else
  suites=("${all_suites[@]}")
fi

# save_responses SUITE: Tollgate's raw answers to the suite's test queries.
save_responses() {
  local suite="$1" dir="$WORK_DIR/suites/$1" launcher_pid rc=0
  bash "$SCRIPT_DIR/tollgate-gateway.sh" "$suite" >"$dir/replay-gateway.log" 2>&1 &
  launcher_pid=$!
  if wait_for "$HEALTH_URL" 30 "$launcher_pid"; then
    curl -fsS --max-time 10 "http://127.0.0.1:$AUDIT_PORT/$suite/tests" | jq -c '.[]' |
      while IFS= read -r t; do
        jq -n --arg q "$(jq -r .query <<<"$t")" '{query: $q}' |
          curl -sS --max-time 10 -H 'content-type: application/json' \
            -H 'accept: application/json' --data-binary @- "$GRAPHQL_URL" |
          jq -c --argjson t "$t" '{query: $t.query, expected: $t.expected, received: .}' ||
          jq -c -n --argjson t "$t" '{query: $t.query, expected: $t.expected, received: "no JSON answer"}'
      done | jq -s 'to_entries | map({index: .key} + .value)' >"$dir/responses.json" || rc=1
  else
    rc=1
  fi
  stop_pid "$launcher_pid"
  wait "$launcher_pid" 2>/dev/null || true
  stop_suite_leftovers "$suite"
  return "$rc"
}

# --- the suites -----------------------------------------------------------------
GRAPHQL_URL="http://127.0.0.1:$GATEWAY_PORT/graphql"
HEALTH_URL="http://127.0.0.1:$GATEWAY_PORT/health"
summary="$WORK_DIR/summary.txt"
: >"$summary"
total_pass=0 total_tests=0 total_fail=0 broken=0 suites_green=0
run_start=$SECONDS

{
  echo "Tollgate: $TOLLGATE_BIN (work tree at $(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo '?'))"
  echo "Audit:    $AUDIT_DIR at $(git -C "$AUDIT_DIR" rev-parse HEAD 2>/dev/null || echo '?')"
  echo "Work dir: $WORK_DIR"
  echo
} | tee -a "$summary"
printf '%-40s %9s %6s  %s\n' SUITE PASSED TIME NOTE | tee -a "$summary"

for suite in "${suites[@]}"; do
  suite_start=$SECONDS
  mkdir -p "$WORK_DIR/suites/$suite"
  expected="$(curl -fsS --max-time 10 "http://127.0.0.1:$AUDIT_PORT/$suite/tests" | jq length)" || expected="?"
  rm -f "$WORK_DIR/logs/$suite-tests.log" "$WORK_DIR/logs/$suite-gateway.log"

  # The audit's own runner: it starts the gateway with `sh gateway.sh SUITE`,
  # waits for the health check and a `{ __typename }` answer, runs src/test.ts
  # (node:test) against --graphql, then stops the gateway with SIGTERM.
  set +e
  (cd "$AUDIT_DIR" && exec timeout -k 10 "$SUITE_TIMEOUT" "$TSX" src/cli.ts test-suite \
    --no-server=true --port "$AUDIT_PORT" --test "$suite" --cwd "$WORK_DIR" \
    --run-script "$SCRIPT_DIR/gateway.sh" --graphql "$GRAPHQL_URL" --healthcheck "$HEALTH_URL" \
    --reporter tap) >"$WORK_DIR/suites/$suite/runner.log" 2>&1
  rc=$?
  set -e
  stop_suite_leftovers "$suite"

  # The runner's stdout (TAP, written synchronously to a file) is complete;
  # its logs/SUITE-tests.log copy can lose its tail when the runner exits.
  tap="$WORK_DIR/suites/$suite/runner.log"
  pass="$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tap" | tail -n1)"
  fail="$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tap" | tail -n1)"
  if [[ -z "$pass" || -z "$fail" ]]; then # no summary (runner killed): count the results
    pass="$(grep -cE '^    ok [0-9]+ - ' "$tap" || true)"
    fail="$(grep -cE '^    not ok [0-9]+ - ' "$tap" || true)"
  fi
  note=""
  grep -q "Health check failed" "$WORK_DIR/logs/$suite-tests.log" 2>/dev/null &&
    note="Tollgate not healthy (see logs/$suite-gateway.log)"
  if ((rc == 124 || rc == 137)); then
    note="TIMEOUT after ${SUITE_TIMEOUT}s"
    broken=$((broken + 1))
  elif [[ "$expected" == "?" || $((pass + fail)) -ne "$expected" ]]; then
    note="${note:+$note; }runner error: $((pass + fail)) results for $expected tests (rc=$rc, see suites/$suite/runner.log)"
    broken=$((broken + 1))
  fi
  [[ "$expected" =~ ^[0-9]+$ ]] || expected=$((pass + fail))
  grep -q "exited on its own" "$WORK_DIR/logs/$suite-gateway.log" 2>/dev/null &&
    note="${note:+$note; }Tollgate exited early"
  if ((pass == expected && expected > 0)); then
    suites_green=$((suites_green + 1))
  elif [[ "${AUDIT_SAVE_RESPONSES:-1}" == 1 ]]; then
    save_responses "$suite" || note="${note:+$note; }could not save responses"
  fi
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + expected - pass))
  total_tests=$((total_tests + expected))
  printf '%-40s %4s/%-4s %5ss  %s\n' "$suite" "$pass" "$expected" $((SECONDS - suite_start)) "$note" |
    tee -a "$summary"
done

{
  echo
  echo "Suites fully passing: $suites_green/${#suites[@]}"
  echo "Time: $((SECONDS - run_start))s"
  echo "Logs: $WORK_DIR/logs, configs and supergraphs: $WORK_DIR/suites"
  echo "Total: $total_pass passed, $total_fail failed"
} | tee -a "$summary"

((broken == 0)) || exit 1
exit 0
