#!/usr/bin/env bash
# Builds the npm package into pkg/: the wasm optimised by npm binaryen's wasm-opt
# (Debian's wasm-opt 108 produces modules Chromium rejects), wasm-bindgen's ES
# module glue (minified by esbuild), an entry that initialises itself, the .d.ts,
# and package.json.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --no-browser
cargo build --lib --release --target wasm32-unknown-unknown
rm -rf pkg
wasm-bindgen target/wasm32-unknown-unknown/release/player_resilience.wasm --out-dir pkg --target web
node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  pkg/player_resilience_bg.wasm -o pkg/player_resilience_bg.wasm

cat >pkg/index.js <<'JS'
// Loads the wasm next to this file before anything is imported from it, so
// `import { createResilience } from 'player-resilience'` is ready to use.
import init from './player_resilience.js';

await init();

export { createResilience, validateConfig, Resilience, VideoHandle } from './player_resilience.js';
JS
# The entry's types: the API and every named type, but not the manual init.
types=$(sed -n 's/^export \(type\|interface\) \([A-Za-z]*\).*/\2/p' pkg/player_resilience.d.ts | grep -v Init | paste -sd, -)
cat >pkg/index.d.ts <<TS
export { createResilience, validateConfig, Resilience, VideoHandle } from './player_resilience.js';
export type { ${types//,/, } } from './player_resilience.js';
TS

# Minified glue: what bundlers would ship anyway, and what `npm run size` measures.
node_modules/.bin/esbuild pkg/player_resilience.js --minify --format=esm --log-level=warning \
  --outfile=pkg/player_resilience.js --allow-overwrite

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
node -e '
const root = require("./package.json");
const pkg = {
  name: root.name,
  version: process.argv[1],
  description: root.description,
  license: root.license,
  type: "module",
  main: "./index.js",
  types: "./index.d.ts",
  exports: {
    ".": { types: "./index.d.ts", default: "./index.js" },
    "./manual": { types: "./player_resilience.d.ts", default: "./player_resilience.js" },
    "./player_resilience_bg.wasm": "./player_resilience_bg.wasm"
  },
  files: ["index.js", "index.d.ts", "player_resilience.js", "player_resilience.d.ts", "player_resilience_bg.wasm"],
  sideEffects: ["./index.js"]
};
require("fs").writeFileSync("pkg/package.json", JSON.stringify(pkg, null, 2) + "\n");
' "$version"
echo "[build] pkg/ ready: $(cd pkg && ls | tr '\n' ' ')"
