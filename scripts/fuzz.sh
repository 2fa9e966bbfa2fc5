#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for SECONDS each, from
# the committed corpus, writing new inputs to a scratch directory (the
# committed corpus is read only). A crash (or a build failure) fails the
# script; a crashing input is left in fuzz/artifacts/TARGET/.
#
#   bash scripts/fuzz.sh            # the smoke run of the test command: 10 s each, dev build
#   bash scripts/fuzz.sh 1800 -O    # a long run: 30 min each, optimised build
#
# Needs the nightly toolchain (installed on this machine kind); installs
# cargo-fuzz when missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-10}
build=${2:---dev}
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
cargo +nightly fuzz build "$build"
for target in $(cargo +nightly fuzz list); do
  scratch=$(mktemp -d)
  echo "fuzz.sh: $target for ${secs}s"
  if ! cargo +nightly fuzz run "$build" "$target" "$scratch" "corpus/$target" -- \
    -max_total_time="$secs" -max_len=10000 -print_final_stats=1 >"$scratch.log" 2>&1; then
    tail -n 40 "$scratch.log" >&2
    echo "fuzz.sh: $target failed; any crashing input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(Done |stat::number_of_executed_units)' "$scratch.log" || true
  rm -f "$scratch.log"
  rm -rf "$scratch"
done
