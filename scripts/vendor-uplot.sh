#!/usr/bin/env bash
# Refreshes the watch console's vendored charting library from the npm registry (issue 13):
#
#   ./scripts/vendor-uplot.sh            the pinned version below
#   ./scripts/vendor-uplot.sh 1.6.33     another exact version (then update UPLOT_VERSION here)
#
# Writes watch/assets/vendor/uPlot.iife.min.js, uPlot.min.css and LICENSE-uPlot from the `uplot`
# package's tarball (`npm pack`, integrity checked by npm), with the version in a first comment
# line of the script and the stylesheet. The watch embeds these files in its binary: the console
# works offline and under its Content Security Policy, with no CDN and no build step.
set -euo pipefail

UPLOT_VERSION="${1:-1.6.32}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/watch/assets/vendor"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

[[ "$UPLOT_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "not an exact version: $UPLOT_VERSION" >&2; exit 2; }
(cd "$TMP" && npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null)
tar -xzf "$TMP/uplot-$UPLOT_VERSION.tgz" -C "$TMP"
PKG="$TMP/package"
got="$(node -p "require('$PKG/package.json').version")"
[[ "$got" == "$UPLOT_VERSION" ]] || { echo "npm gave uplot $got, not $UPLOT_VERSION" >&2; exit 1; }

mkdir -p "$OUT"
{
  echo "/*! uPlot $UPLOT_VERSION (npm: uplot), MIT, see LICENSE-uPlot; vendored by scripts/vendor-uplot.sh */"
  cat "$PKG/dist/uPlot.iife.min.js"
} >"$OUT/uPlot.iife.min.js"
{
  echo "/*! uPlot $UPLOT_VERSION (npm: uplot), MIT, see LICENSE-uPlot */"
  cat "$PKG/dist/uPlot.min.css"
} >"$OUT/uPlot.min.css"
cp "$PKG/LICENSE" "$OUT/LICENSE-uPlot"
echo "vendored uPlot $UPLOT_VERSION into ${OUT#"$ROOT"/}:"
ls -l "$OUT"
