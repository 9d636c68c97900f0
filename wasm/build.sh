#!/usr/bin/env bash
# Builds the npm package into wasm/npm/dist/: the size-profile WebAssembly module, wasm-bindgen's
# ES-module glue (--target web: works from a plain <script type="module"> and from bundlers),
# wasm-opt -Oz (the npm `binaryen` package), and the JavaScript wrapper with its types.
#
# Needs: the wasm32-unknown-unknown target, wasm-bindgen-cli at the Cargo.lock version on PATH
# (scripts/test-wasm.sh installs both into .tools/), and `npm ci` run in wasm/npm.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NPM="$ROOT/wasm/npm"
DIST="$NPM/dist"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WASM="$TARGET_DIR/wasm32-unknown-unknown/wasm-size/heartbeat_wasm.wasm"

cd "$ROOT"
cargo build -p heartbeat-wasm --target wasm32-unknown-unknown --profile wasm-size
rm -rf "$DIST"
mkdir -p "$DIST"
wasm-bindgen --target web --out-dir "$DIST" --out-name heartbeat_wasm --no-typescript "$WASM"
# The features rustc enables by default for wasm32-unknown-unknown; wasm-opt must keep them.
"$NPM/node_modules/.bin/wasm-opt" -Oz --strip-debug --strip-producers \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  -o "$DIST/heartbeat_wasm_bg.wasm" "$DIST/heartbeat_wasm_bg.wasm"
cp "$NPM/src/index.js" "$NPM/src/index.d.ts" "$DIST/"
ls -l "$DIST"
