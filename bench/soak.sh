#!/usr/bin/env bash
# Bounded soak (loopback, ephemeral ports, not part of `cargo test`): the
# release router under a mix of valid and invalid tokens and operations from
# concurrent clients while the products subgraph flaps (up, refusing, up,
# resetting). Checks every answer against the answers recorded with products
# up and down, samples the router's memory, and looks for panics; exits 1 on
# any wrong answer. Figures are recorded in docs/reliability.md.
# Usage: bench/soak.sh   (env: SECONDS_TOTAL=300 CONCURRENCY=16 FLAP_MS=1500)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TOTAL=${SECONDS_TOTAL:-300}
CONCURRENCY=${CONCURRENCY:-16}
FLAP_MS=${FLAP_MS:-1500}

cargo build --release -q -p tollgate --bin tollgate
cargo build --release -q -p tollgate-e2e --example soak
nice -n 5 target/release/examples/soak --router target/release/tollgate \
  --seconds "$SECONDS_TOTAL" --concurrency "$CONCURRENCY" --flap-ms "$FLAP_MS"
