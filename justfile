# Thin wrappers over cargo. `cargo install just` if you want them; every recipe
# is a one-liner you can also type yourself.

# Run the router on the embedded demo (subgraphs in-process, dev keys, sample token).
dev:
    cargo run --release -- dev

# Run every test (the same command CI runs after fmt and clippy).
test:
    cargo test --workspace

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI runs.
ci:
    bash .ci/run

# The Dockerfile's steps without Docker (release build, image layout, probes, query, SIGHUP, SIGTERM); `--debug` reuses the debug build.
docker-smoke *flags:
    bash scripts/docker-smoke.sh {{flags}}

# Check the config and the files it references.
validate config="router.yaml":
    cargo run -- config validate --config {{config}}

# Print the config's JSON Schema.
schema:
    cargo run -- config schema

# Recompose schemas/supergraph.graphql from the subgraph SDLs (needs node + npm).
compose:
    cd schemas && npm ci && node compose.mjs

# Tollgate against Hive Router (and Apollo Router where installed) on the demo and the public
# gateways benchmark, then the paired JWT comparisons; writes docs/benchmarks.md and .svg
# (about 40 min; see docs/benchmarks.md).
bench:
    python3 bench/harness.py

# The same harness with 3 s runs, one round, 16 connections, two short pairs; results in target/bench/.
bench-quick:
    python3 bench/harness.py --quick

# Criterion micro-benchmarks: JWT verification per algorithm, prepare/plan, execute 1,000 entities.
bench-micro:
    cargo bench -p tollgate-bench

# The public federation gateway audit against Tollgate (needs the audit checked out: scripts/audit/README.md).
audit *suites:
    bash scripts/audit/run.sh {{suites}}
