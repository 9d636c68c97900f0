#!/usr/bin/env bash
# Builds the npm package into wasm/npm/dist/: the size-profile WebAssembly module, through
# wasm-bindgen-cli, wasm-metadce and wasm-opt -Oz (the npm `binaryen` package), and one ES module
# (works from a plain <script type="module"> and from bundlers): the JavaScript wrapper with its
# hand-written loader, minified, and its types.
#
# The module is built with the nightly named in wasm/build-toolchain, rebuilding std with
# `-Cpanic=immediate-abort`: a panic traps at once, as with the profile's `panic = "abort"`, but
# std's panic handler, which formats the message, and the core::fmt machinery it pulls in are
# gone (about 2.4 KB of the gzipped package; docs/browser.md, "Size"). The stable route, a
# `#![no_std]` crate with a trapping panic handler, needs a `no_std` heartbeat-core first. The
# rest of the workspace, and every test of this crate, stays on stable.
#
# Needs: that toolchain with rust-src, wasm-bindgen-cli at the Cargo.lock version on PATH
# (scripts/test-wasm.sh installs both, wasm-bindgen-cli into .tools/), and `npm ci` run in
# wasm/npm.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NPM="$ROOT/wasm/npm"
DIST="$NPM/dist"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# The pinned nightly, by name or as the machine's `nightly` of the same build (wasm/toolchain.sh).
TOOLCHAIN="$("$ROOT/wasm/toolchain.sh")" || {
  echo "wasm/build.sh: the toolchain $(cat "$ROOT/wasm/build-toolchain") (wasm/build-toolchain) with rust-src is missing: run" >&2
  echo "  rustup toolchain install $(cat "$ROOT/wasm/build-toolchain") --profile minimal --component rust-src" >&2
  exit 1
}
# Its own target directory: the stable builds of the workspace keep theirs.
STD_TARGET_DIR="$TARGET_DIR/heartbeat-web-std"
WASM="$STD_TARGET_DIR/wasm32-unknown-unknown/wasm-size/heartbeat_wasm.wasm"

cd "$ROOT"
RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none" \
  cargo "+$TOOLCHAIN" build -p heartbeat-wasm --target wasm32-unknown-unknown --profile wasm-size \
  -Zbuild-std=std,panic_abort --target-dir "$STD_TARGET_DIR"
BUILD="$TARGET_DIR/heartbeat-web"
rm -rf "$BUILD" "$DIST"
mkdir -p "$BUILD" "$DIST"
wasm-bindgen --target web --out-dir "$BUILD" --out-name heartbeat_wasm --no-typescript "$WASM"
# wasm-bindgen reads its custom sections and drops the descriptor functions that heartbeat-core's
# clock imports leave in the module; its JavaScript is not used (wasm/npm/src/wasm.js is the
# loader over the module's own exports, wasm/src/abi.rs), so wasm-metadce then removes all but
# those exports: wasm-bindgen's externref table, start function and abort globals.
# The --enable-* flags are the features rustc enables by default for wasm32-unknown-unknown;
# wasm-opt must keep them.
FEATURES=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-reference-types --enable-multivalue)
node -e '
  const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
  const names = WebAssembly.Module.exports(m).map((e) => e.name).filter((n) => n === "memory" || n.startsWith("hb_"));
  const graph = [{ name: "outside", root: true, reaches: names }, ...names.map((n) => ({ name: n, export: n }))];
  require("fs").writeFileSync(process.argv[2], JSON.stringify(graph));
' "$BUILD/heartbeat_wasm_bg.wasm" "$BUILD/roots.json"
"$NPM/node_modules/.bin/wasm-metadce" "${FEATURES[@]}" --graph-file "$BUILD/roots.json" \
  -o "$BUILD/heartbeat_wasm_dce.wasm" "$BUILD/heartbeat_wasm_bg.wasm" >/dev/null
# --inlining-optimizing first (functions called once go into their caller before the rest
# runs) saves about 60 bytes gzipped; -Oz once more after --converge still finds a little; --reorder-functions gives the most called
# functions the shortest indices. --strip-target-features: that section is for tools
# (wasm-bindgen has read it), browsers ignore it. --low-memory-unused: Rust puts the stack first
# (data from 1 MiB up, the stack growing down from 1 MiB), so the lowest 1 KiB is reached only by
# a stack about to overflow; wasm-opt may then fold address arithmetic into load/store offsets.
"$NPM/node_modules/.bin/wasm-opt" --inlining-optimizing -O4 -Oz --converge -Oz --reorder-functions \
  --strip-debug --strip-producers --strip-target-features --low-memory-unused "${FEATURES[@]}" \
  -o "$DIST/heartbeat_wasm_bg.wasm" "$BUILD/heartbeat_wasm_dce.wasm"
# One ES module: the wrapper with the loader, minified; members ending in `_` are internal and
# shortened. The loader finds the .wasm beside it through `new URL(..., import.meta.url)`, which
# bundlers (webpack 5, Vite, esbuild with a loader) understand.
VERSION="$(cargo pkgid -p heartbeat-wasm | sed 's/.*[#@]//')"
cp "$NPM/src/index.js" "$NPM/src/wasm.js" "$BUILD/"
"$NPM/node_modules/.bin/esbuild" "$BUILD/index.js" --bundle --format=esm --minify \
  --mangle-props='_$' --target=es2020 --legal-comments=none --log-level=warning \
  --define:__HEARTBEAT_VERSION__="\"$VERSION\"" --outfile="$DIST/index.js"
cp "$NPM/src/index.d.ts" "$NPM/src/heartbeat_wasm_bg.wasm.d.ts" "$DIST/"
ls -l "$DIST"
