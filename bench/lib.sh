# Shared helpers for the bench scripts (sourced, not run): wrk on demand, the
# release binaries, a temp dir cleaned up with every started process, and a
# bounded wait for /health.
if ! command -v wrk >/dev/null; then
  echo "wrk not found; installing it from Debian's packages" >&2
  apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q -p tollgate -p tollgate-demo
BIN=target/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Refuses to run when a port is taken: a leftover router would be measured
# instead of the fresh one.
require_free_port() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 is already in use (a leftover router or demo?); stop it first" >&2
    exit 1
  fi
}
require_free_port "${ROUTER_PORT:-4000}"
require_free_port "${DEMO_PORT:-4100}"

wait_health() {
  for _ in $(seq 1 100); do
    curl -sf "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not healthy: $1" >&2
  return 1
}
