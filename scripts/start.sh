#!/usr/bin/env bash
# `npm start`: the demo. Set-up (without the browser packages), the package built
# when pkg/ is missing or older than its sources, then one server for the page,
# the package and the fault server: `demo: http://127.0.0.1:PORT/`.
# Arguments go to the server: `npm start -- --port 0` (default 8080, or env PORT).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --no-browser >&2

if [ ! -f pkg/index.js ] || [ -n "$(find src Cargo.toml Cargo.lock scripts/build.sh -newer pkg/index.js -print -quit)" ]; then
  echo "[start] building pkg/" >&2
  bash scripts/build.sh >&2
fi

exec node www/demo-server.mjs "$@"
