#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine with rustup, cargo and npm:
# the wasm32 target, clippy, wasm-bindgen-cli at the version pinned in Cargo.toml,
# the npm devDependencies, and Chromium with ChromeDriver for the browser tests.
# Each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '[setup] %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

for component in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$component"; then
    step "adding $component"
    rustup component add "$component"
  fi
done

# The CLI must be exactly the wasm-bindgen version pinned in Cargo.toml ("=X.Y.Z").
wb_version=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
if [ -z "$wb_version" ]; then
  echo "[setup] Cargo.toml must pin wasm-bindgen as \"=X.Y.Z\"" >&2
  exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  step "installing wasm-bindgen-cli $wb_version (takes a few minutes)"
  # Not --locked: the CLI's locked dependency set does not resolve on these machines.
  cargo install wasm-bindgen-cli --version "$wb_version"
fi

if [ ! -x node_modules/.bin/wasm-opt ] || [ package.json -nt node_modules/.package-lock.json ]; then
  step "installing npm devDependencies"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi

# Headless browser tests use Debian's Chromium and its matching ChromeDriver
# (not needed to build: `setup.sh --no-browser`).
if [ "${1:-}" != "--no-browser" ] && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
  step "installing chromium and chromium-driver with apt"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

step "ready"
