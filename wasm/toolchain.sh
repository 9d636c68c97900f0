#!/usr/bin/env bash
# Prints the name of an installed toolchain that is the nightly pinned in wasm/build-toolchain
# (the package build's: build-std with panic=immediate-abort) and has rust-src, or exits 1.
#
# By name first; else the machine's `nightly` channel when it is the same build (same commit):
# machines whose image carries that nightly need no download, and rustup's servers are not a
# registry every machine reaches.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PIN="$(cat "$ROOT/wasm/build-toolchain")"
# nightly-YYYY-MM-DD is built from the previous day's last commit.
WANT_DATE="$(date -u -d "${PIN#nightly-} -1 day" +%F)"
for candidate in "$PIN" nightly; do
  info="$(rustup run "$candidate" rustc -vV 2>/dev/null)" || continue
  if [[ "$candidate" != "$PIN" ]] && ! grep -qx "commit-date: $WANT_DATE" <<<"$info"; then
    continue
  fi
  if rustup component list --toolchain "$candidate" --installed 2>/dev/null | grep -q '^rust-src'; then
    echo "$candidate"
    exit 0
  fi
done
exit 1
