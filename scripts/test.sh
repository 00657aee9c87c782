#!/usr/bin/env bash
# Every test: set-up, then the engine's native tests (unit, scenario, property),
# lints, and a wasm32 build checked by the pinned wasm-bindgen CLI and wasm-opt.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "[test] native tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --lib --tests 2>&1 | tee "$log"

echo "[test] formatting"
cargo fmt --check

echo "[test] clippy (the engine denies unwrap/expect/indexing/panic)"
cargo clippy --all-targets -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings

echo "[test] wasm32 build"
cargo build --lib --release --target wasm32-unknown-unknown
out=target/wasm-check
rm -rf "$out"
wasm-bindgen target/wasm32-unknown-unknown/release/player_resilience.wasm \
  --out-dir "$out" --target web
node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  "$out/player_resilience_bg.wasm" -o "$out/player_resilience_bg.opt.wasm"
echo "[test] wasm build ok: $(wc -c <"$out/player_resilience_bg.opt.wasm") bytes after wasm-opt -Oz"

# One closing line for the whole run, summed from cargo's per-binary results.
awk '/^test result:/ { p += $4; f += $6 } END { printf "native tests: %d passed, %d failed\n", p, f }' "$log"
