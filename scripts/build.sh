#!/usr/bin/env bash
# Builds the npm package into pkg/: the wasm optimised by npm binaryen's wasm-opt
# (Debian's wasm-opt 108 produces modules Chromium rejects), wasm-bindgen's ES
# module glue (minified by esbuild), the entries from js/ (the API, which loads the
# wasm on first use, the React hooks and the streaming players' adapters), the .d.ts,
# README, LICENSE and package.json.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --no-browser
cargo build --lib --release --target wasm32-unknown-unknown
rm -rf pkg
wasm-bindgen target/wasm32-unknown-unknown/release/player_resilience.wasm --out-dir pkg --target web
node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  pkg/player_resilience_bg.wasm -o pkg/player_resilience_bg.wasm

# The glue's own default wasm URL is never used (the entry passes its own): drop
# it, so bundlers see one reference to the wasm, the entry's.
default_url="new URL('player_resilience_bg.wasm', import.meta.url)"
grep -qF "$default_url" pkg/player_resilience.js || { echo "[build] the glue's default wasm URL moved" >&2; exit 1; }
sed -i "s|$default_url|undefined|" pkg/player_resilience.js

# The entries (js/): no top-level await, so default bundler targets accept them.
# Minified to ES2020 like the glue, which also checks them against that target.
# The players' adapters (js/players/) sit beside them: player-resilience/shaka…
for entry in index react players/shaka players/dashjs players/hlsjs; do
  node_modules/.bin/esbuild "js/$entry.js" --minify --format=esm --target=es2020 --log-level=warning \
    --outfile="pkg/${entry#players/}.js"
done
node_modules/.bin/esbuild pkg/player_resilience.js --minify --format=esm --target=es2020 --log-level=warning \
  --outfile=pkg/player_resilience.js --allow-overwrite
cp js/react.d.ts js/players/shaka.d.ts js/players/dashjs.d.ts js/players/hlsjs.d.ts pkg/
# The entry's types: every named type of the module, then the entry's own API.
types=$(sed -n 's/^export \(type\|interface\) \([A-Za-z]*\).*/\2/p' pkg/player_resilience.d.ts | grep -v Init | paste -sd, -)
{
  echo "export type { ${types//,/, } } from './player_resilience.js';"
  cat js/index.d.ts
} >pkg/index.d.ts
cp README.md LICENSE pkg/

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
node -e '
const root = require("./package.json");
const entry = (name) => ({ types: `./${name}.d.ts`, default: `./${name}.js` });
const pkg = {
  name: root.name,
  version: process.argv[1],
  description: root.description,
  keywords: root.keywords,
  license: root.license,
  // Set in the root package.json once the project has a public home.
  ...(root.repository && { repository: root.repository, homepage: root.homepage, bugs: root.bugs }),
  type: "module",
  main: "./index.js",
  module: "./index.js",
  types: "./index.d.ts",
  exports: {
    ".": entry("index"),
    "./react": entry("react"),
    "./shaka": entry("shaka"),
    "./dashjs": entry("dashjs"),
    "./hlsjs": entry("hlsjs"),
    "./manual": entry("player_resilience"),
    "./player_resilience_bg.wasm": "./player_resilience_bg.wasm",
    "./package.json": "./package.json"
  },
  files: ["index.js", "index.d.ts", "react.js", "react.d.ts", "shaka.js", "shaka.d.ts", "dashjs.js", "dashjs.d.ts",
    "hlsjs.js", "hlsjs.d.ts", "player_resilience.js", "player_resilience.d.ts", "player_resilience_bg.wasm"],
  // Importing it does nothing: the wasm loads on the first createResilience.
  sideEffects: false,
  peerDependencies: { react: ">=18" },
  peerDependenciesMeta: { react: { optional: true } },
  // Importable on a server (SSR, test runners), where it is a pass-through.
  engines: { node: ">=18" },
  // Where the wasm runs (it uses reference types); older browsers get a pass-through.
  browserslist: ["chrome >= 96", "edge >= 96", "firefox >= 79", "safari >= 15"]
};
require("fs").writeFileSync("pkg/package.json", JSON.stringify(pkg, null, 2) + "\n");
' "$version"
echo "[build] pkg/ ready: $(cd pkg && ls | tr '\n' ' ')"
