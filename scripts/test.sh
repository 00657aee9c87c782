#!/usr/bin/env bash
# Every test: set-up, the engine's native tests (unit, scenario, property), lints,
# a short fuzzing run,
# the fault server's own tests, the package build, its types and size, the package
# and end-to-end tests (the demo page), then the browser tests in headless Chromium against a fault server started here and
# stopped on exit, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

logs=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$logs"
}
trap cleanup EXIT

echo "[test] native tests"
cargo test --lib --tests 2>&1 | tee "$logs/native"

echo "[test] formatting"
cargo fmt --check
cargo fmt --check --manifest-path fuzz/Cargo.toml

echo "[test] clippy (the engine denies unwrap/expect/indexing/panic)"
cargo clippy --all-targets -- -D warnings
cargo clippy --lib --test browser --target wasm32-unknown-unknown -- -D warnings
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

echo "[test] fuzzing, 10 s per target (npm run fuzz: 120 s)"
bash scripts/fuzz.sh 10 | tee "$logs/fuzz"

echo "[test] fault server"
node --test www/ 2>&1 | tee "$logs/server"

echo "[test] package build, types and size"
bash scripts/build.sh
node_modules/.bin/tsc -p tests/types
bash scripts/size.sh
echo "[test] the built package in headless Chromium and in Node"
node --test tests/package/ 2>&1 | tee "$logs/package"
echo "[test] the fault matrix: each fault against each request class, on the built package (table in test-output/)"
node --test tests/matrix/ 2>&1 | tee "$logs/matrix"
echo "[test] a short soak: 12 000 requests, two outages; memory, listeners, timers and object URLs flat (npm run soak: 100 000)"
node --test tests/soak/ 2>&1 | tee "$logs/soak"
echo "[test] the players: adapters and attachVideo with Shaka Player, dash.js (MediaPlayer, <dash-video>) and hls.js in headless Chromium"
node --test tests/players/ 2>&1 | tee "$logs/players"

echo "[test] the packed package in bundlers: Vite 5 + React 18, Vite 6 and 7 (build and dev), webpack 5, a plain page"
node --test tests/vite-react/ tests/bundlers/ 2>&1 | tee "$logs/bundlers"

echo "[test] end-to-end: the demo page in headless Chromium (screenshots and timings in test-output/)"
node --test --test-concurrency=1 tests/e2e/ 2>&1 | tee "$logs/e2e"

echo "[test] browser tests (headless Chromium)"
node www/fault-server.mjs --port 0 >"$logs/server.out" &
server_pid=$!
for _ in $(seq 50); do
  grep -q listening "$logs/server.out" 2>/dev/null && break
  sleep 0.1
done
url=$(sed -n 's/^fault server listening on //p' "$logs/server.out")
[ -n "$url" ] || { echo "[test] the fault server did not start" >&2; exit 1; }
FAULT_SERVER_URL="$url" CHROMEDRIVER="$(command -v chromedriver)" WASM_BINDGEN_TEST_TIMEOUT=300 \
  cargo test --target wasm32-unknown-unknown --test browser 2>&1 | tee "$logs/browser"

# One closing line for the whole run.
sum() { awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed", p, f }' "$1"; }
node_sum() { awk '/^# pass/ { p = $3 } /^# fail/ { f = $3 } END { printf "%d passed, %d failed", p, f }' "$1"; }
echo "tests: native $(sum "$logs/native"); fuzz $(grep -c 'no crash' "$logs/fuzz") targets clean; browser $(sum "$logs/browser"); package $(node_sum "$logs/package"); fault matrix $(node_sum "$logs/matrix"); soak $(node_sum "$logs/soak"); players $(node_sum "$logs/players"); bundlers $(node_sum "$logs/bundlers"); e2e $(node_sum "$logs/e2e"); fault server $(node_sum "$logs/server")"
