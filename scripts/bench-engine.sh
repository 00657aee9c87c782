#!/usr/bin/env bash
# The engine's microbenchmarks (examples/engine_bench.rs): ns per decision and the
# heap it holds, then instructions per decision under valgrind's cachegrind when
# valgrind is installed (perf's hardware counters are not available in this VM).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example engine_bench
bin=target/release/examples/engine_bench
"$bin"
if command -v valgrind >/dev/null; then
  refs() {
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$bin" decisions "$1" 2>&1 |
      awk '/I *refs:/ { gsub(",", "", $NF); print $NF }'
  }
  a=$(refs 20000)
  b=$(refs 40000)
  echo
  echo "Instructions per healthy decision (the mix; cachegrind, (I refs of 40 000 decisions - of 20 000) / 20 000): $(((b - a) / 20000))"
else
  echo
  echo "valgrind is not installed: no instruction count."
fi
