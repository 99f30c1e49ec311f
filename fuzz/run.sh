#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a bounded time each, niced,
# with the committed seeds; new inputs go to fuzz/corpus/<target> (ignored by
# git), crashes to fuzz/artifacts/<target>. Needs cargo-fuzz and a nightly
# toolchain (see fuzz/README.md).
# Usage: fuzz/run.sh [target...]   (env: FUZZ_SECONDS=300 FUZZ_TOOLCHAIN=nightly)
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${FUZZ_SECONDS:-300}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(cargo "+$TOOLCHAIN" fuzz list)
fi
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "== $target: ${SECONDS_EACH}s"
  nice -n 10 cargo "+$TOOLCHAIN" fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
done
