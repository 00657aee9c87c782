#!/usr/bin/env bash
# Reports what a browser downloads, gzipped (-9): the wasm plus its JS glue and
# entry, against the 40 KB (40,960 B) budget, and apart the React hooks' and the
# players' adapters' files (each imported only by a page that uses it).
# Builds pkg/ if missing. With --check it fails when over budget.
set -euo pipefail
cd "$(dirname "$0")/.."

budget=40960
[ -f pkg/player_resilience_bg.wasm ] || bash scripts/build.sh >/dev/null
total=0
printf '%-28s %9s %9s\n' file raw gzip
for f in player_resilience_bg.wasm player_resilience.js index.js; do
  raw=$(wc -c <"pkg/$f")
  gz=$(gzip -9 -c "pkg/$f" | wc -c)
  total=$((total + gz))
  printf '%-28s %9d %9d\n' "$f" "$raw" "$gz"
done
printf 'size: %d B gzipped (wasm + glue), budget %d B\n' "$total" "$budget"
for entry in react shaka dashjs hlsjs; do
  printf 'also, only for player-resilience/%s: %s.js %d B raw, %d B gzipped\n' "$entry" "$entry" \
    "$(wc -c <"pkg/$entry.js")" "$(gzip -9 -c "pkg/$entry.js" | wc -c)"
done
if [ "$total" -gt "$budget" ]; then
  echo "size: OVER BUDGET by $((total - budget)) B"
  [ "${1:-}" != "--check" ] || exit 1
fi
