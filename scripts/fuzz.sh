#!/usr/bin/env bash
# Coverage-guided fuzzing of the engine with libFuzzer, on the stable toolchain:
# the fuzz crate (fuzz/) is built with LLVM's sanitizer-coverage passes (stable
# `-C` flags; cargo-fuzz would need nightly), then each target runs for the given
# seconds (default 120; `npm test` runs 10). Targets: the config reader, the
# snapshot reader, Retry-After parsing, URL classification and redaction, the
# engine and the playback model driven by arbitrary event sequences.
# A crash stops the run; its input is kept in test-output/fuzz/ with the command
# that replays it. The corpus grows in test-output/fuzz/corpus/ between runs.
#   bash scripts/fuzz.sh [seconds-per-target] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-120}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config snapshot retry_after url engine playback)
host=$(rustc -vV | sed -n 's/^host: //p')

# --target keeps the instrumentation off build scripts (they are not linked with libFuzzer).
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing" \
  cargo build --quiet --release --manifest-path fuzz/Cargo.toml --target "$host"

out=test-output/fuzz
for target in "${targets[@]}"; do
  mkdir -p "$out/corpus/$target"
  bin="fuzz/target/$host/release/$target"
  if ! "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/$target-" \
    "$out/corpus/$target" >"$out/$target.log" 2>&1; then
    tail -n 30 "$out/$target.log" >&2
    echo "[fuzz] $target crashed; replay: $bin $out/$target-crash-*" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$target.log")
  echo "[fuzz] $target: $runs inputs in ${seconds} s, no crash"
done
