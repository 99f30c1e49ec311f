#!/usr/bin/env bash
# The Dockerfile's steps without Docker (which cannot run on the development
# machines), read from the Dockerfile itself so the two cannot drift:
#   1. the build stage's RUN command (a release build) from the repository root;
#   2. the runtime stage's COPY lines into a fresh directory laid out like the
#      image, its ENV with paths moved under that directory;
#   3. the ENTRYPOINT started from there with only the image's environment
#      (plus ports chosen free here), against the demo subgraphs;
#   4. /health, /ready, a federated query, /metrics, a SIGHUP config reload,
#      then SIGTERM and exit status 0.
# Any other instruction in the runtime stage stops the script: teach it first.
#
#   scripts/docker-smoke.sh           # the release build, as the image
#   scripts/docker-smoke.sh --debug   # reuse the debug build `cargo test --workspace`
#                                     # leaves (CI runs this after the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

profile=release
case "${1:-}" in
  "") ;;
  --debug) profile=debug ;;
  *) echo "usage: $0 [--debug]" >&2; exit 2 ;;
esac

say() { printf 'docker-smoke: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

# --- Read the Dockerfile --------------------------------------------------
mapfile -t lines < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' Dockerfile)
stage=0
build_cmds=()
runtime=()
for line in "${lines[@]}"; do
  [[ $line == *'\' ]] && fail "line continuations are not supported: $line"
  case "$line" in
    FROM\ *) stage=$((stage + 1)); froms[$stage]=${line#FROM } ;;
    *) if [[ $stage == 1 ]]; then build_cmds+=("$line"); else runtime+=("$line"); fi ;;
  esac
done
[[ $stage == 2 ]] || fail "expected two stages (build, runtime), found $stage"

image_rust=$(sed -n 's/^rust:\([0-9.]*\).*/\1/p' <<<"${froms[1]}")
local_rust=$(rustc --version | awk '{print $2}')
if [[ $local_rust != "$image_rust"* ]]; then
  say "warning: the image builds with Rust $image_rust, this machine has $local_rust"
fi

# --- Build stage ----------------------------------------------------------
started=$(date +%s)
for line in "${build_cmds[@]}"; do
  case "$line" in
    WORKDIR\ /src|COPY\ .\ .) ;; # the repository root is /src
    RUN\ *)
      cmd=${line#RUN }
      if [[ $profile == release ]]; then
        say "build: $cmd"
        bash -c "$cmd"
      fi
      ;;
    *) fail "unsupported build-stage instruction: $line" ;;
  esac
done
if [[ $profile == release ]]; then
  # The demo subgraphs the smoke test queries (not part of the image). Naming
  # both packages resolves features as for the router (which depends on the
  # demo), so the build above is reused and only the demo binary is linked.
  cargo build --release --locked -p tollgate -p tollgate-demo --bin tollgate-demo
else
  # The same targets and features as `cargo test --workspace`: after the
  # tests this only links the demo binary.
  say "build: the workspace's debug build (router and demo binaries)"
  cargo build --locked --workspace --bins --tests --examples
fi
built=$(date +%s)
say "build took $((built - started))s ($profile)"

# --- Runtime stage: lay the image out in a fresh directory ----------------
root=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-image.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$root"
}
trap cleanup EXIT

image_env=()
entrypoint=
for line in "${runtime[@]}"; do
  read -r instruction rest <<<"$line"
  case "$instruction" in
    COPY)
      read -r a b c <<<"$rest"
      if [[ $a == --from=build ]]; then
        src=$repo/${b#/src/}
        [[ $profile == debug ]] && src=${src/\/target\/release\//\/target\/debug\/}
        dst=$c
      else
        src=$repo/$a
        dst=$b
      fi
      [[ -n $dst && -e $src ]] || fail "cannot copy: $line"
      mkdir -p "$root$(dirname "$dst")"
      cp "$src" "$root$dst"
      ;;
    ENV)
      name=${rest%%=*}
      value=${rest#*=}
      [[ $value == /* ]] && value=$root$value
      image_env+=("$name=$value")
      ;;
    ENTRYPOINT)
      entrypoint=$(sed -n 's/^\["\([^"]*\)"\]$/\1/p' <<<"$rest")
      [[ -n $entrypoint ]] || fail "ENTRYPOINT must be one exec-form path: $line"
      ;;
    USER|EXPOSE) ;; # not reproducible without a container; the image's concern
    *) fail "unsupported runtime-stage instruction: $line" ;;
  esac
done
binary=$root$entrypoint
[[ -x $binary ]] || fail "the entrypoint $entrypoint is not in the image"
say "image layout:"
(cd "$root" && find . -type f | sort | sed 's/^/  /') >&2

# Only what distroless/cc provides: glibc and libgcc.
if libs=$(ldd "$binary" 2>/dev/null); then
  extra=$(grep -v -E 'linux-vdso|ld-linux|lib(c|m|gcc_s|pthread|dl|rt|util)\.so' <<<"$libs" || true)
  [[ -z $extra ]] || fail "the binary needs libraries the runtime image lacks: $extra"
fi

# --- Run it with the image's environment only -----------------------------
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
router_port=$(free_port)
metrics_port=$(free_port)
demo_port=$(free_port)
for port in "$router_port" "$metrics_port" "$demo_port"; do
  case "$port" in 4000|4100|4200) fail "refusing a reserved port: $port" ;; esac
done
run_env=(env -i "PATH=/usr/bin:/bin" "${image_env[@]}"
  "TOLLGATE_LISTEN=127.0.0.1:$router_port"
  "TOLLGATE_METRICS_LISTEN=127.0.0.1:$metrics_port"
  "DEMO_SUBGRAPHS_URL=http://127.0.0.1:$demo_port")

# The default config as shipped (0.0.0.0 listen) validates.
(cd "$root" && env -i "${image_env[@]}" "$binary" config validate) | grep -qx ok ||
  fail "the image's default config does not validate"

"$repo/target/$profile/tollgate-demo" --listen "127.0.0.1:$demo_port" >/dev/null 2>&1 &
pids+=($!)
log=$root/router.log
(cd "$root" && exec "${run_env[@]}" "$binary") 2>"$log" &
router=$!
pids+=("$router")

base=http://127.0.0.1:$router_port
deadline=$((SECONDS + 60))
until curl -fsS "$base/health" >/dev/null 2>&1; do
  kill -0 "$router" 2>/dev/null || { cat "$log" >&2; fail "the router exited"; }
  ((SECONDS < deadline)) || { cat "$log" >&2; fail "no /health within 60s"; }
  sleep 0.2
done
[[ $(curl -fsS "$base/health") == '{"status":"ok"}' ]] || fail "/health"
[[ $(curl -fsS "$base/ready") == '{"status":"ready"}' ]] || fail "/ready"

answer=$(curl -fsS "$base/graphql" -H 'content-type: application/json' \
  -d '{"query":"{ topProducts(first: 2) { name price inStock reviews { author { username } } } }"}')
python3 - "$answer" <<'PY' || fail "unexpected answer: $answer"
import json, sys
body = json.loads(sys.argv[1])
assert "errors" not in body, body
products = body["data"]["topProducts"]
assert len(products) == 2, products
for product in products:
    assert isinstance(product["name"], str) and isinstance(product["inStock"], bool), product
    assert all(isinstance(r["author"]["username"], str) for r in product["reviews"]), product
PY

metrics=http://127.0.0.1:$metrics_port/metrics
scrape() { curl -fsS "$metrics" 2>/dev/null || true; }
grep -q '^tollgate_http_requests_total{status="200"} ' <<<"$(scrape)" || fail "metrics"

# A config reload, as after a ConfigMap update.
kill -HUP "$router"
deadline=$((SECONDS + 30))
until grep -q '^tollgate_reload_total{kind="config",result="success"} 1' <<<"$(scrape)"; do
  ((SECONDS < deadline)) || { cat "$log" >&2; fail "SIGHUP reload not counted"; }
  sleep 0.2
done

kill -TERM "$router"
deadline=$((SECONDS + 30))
while kill -0 "$router" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "the router did not stop within 30s of SIGTERM"
  sleep 0.1
done
status=0
wait "$router" || status=$?
[[ $status == 0 ]] || { cat "$log" >&2; fail "exit status $status after SIGTERM"; }
grep -q '"Tollgate is listening"' "$log" || fail "no JSON startup line"

say "ok: image layout served /health, /ready, a federated query and metrics, reloaded on SIGHUP, exited 0 on SIGTERM ($((SECONDS))s in all, build $((built - started))s)"
