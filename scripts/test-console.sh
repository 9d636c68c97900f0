#!/usr/bin/env bash
# The watch's web console and public status page in a real browser (issue 13; docs/watch.md):
#
#   ./scripts/test-console.sh               install what is missing, build, test
#   ./scripts/test-console.sh --no-install  the same, trusting what is installed
#   ./scripts/test-console.sh --no-scale    skip the 500-rules, 1,000-tenants measurement
#
# Installs (each skipped when already done): Debian chromium (apt-get update once, only when
# /usr/bin/chromium is missing) and the npm packages of watch/console-tests from its
# package-lock.json (`npm ci`). Builds the watch (under scripts/test.sh with the nextest run's own
# command, so that build is reused). Then runs watch/console-tests/console.test.mjs against the
# demo at test speed; scale.test.mjs (500 outcome rules, 1,000 tenants: first render and one SSE
# update, measured in the browser); and browser-emitter.test.mjs (the browser package's page
# heartbeat judged by the watch; needs wasm/npm/dist built). Screenshots go to
# target/console-screenshots/. Under CI=true a missing tool fails the run. Every process started
# is bounded in time and stopped by its pid.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TESTS_DIR="$ROOT/watch/console-tests"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export CONSOLE_SCREENSHOTS="${CONSOLE_SCREENSHOTS:-$ROOT/target/console-screenshots}"

INSTALL=1
SCALE=1
for arg in "$@"; do
  case "$arg" in
    --no-install) INSTALL=0 ;;
    --no-scale) SCALE=0 ;;
    -h | --help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (try --help)" >&2; exit 2 ;;
  esac
done

step() {
  printf '\n==> console: %s\n' "$1"
  shift
  "$@"
}

missing() {
  echo "test-console.sh: $1" >&2
  if [[ "${CI:-}" == "true" ]]; then
    exit 1
  fi
  echo "test-console.sh: skipped (not under CI=true)" >&2
  exit 0
}

ensure_chromium() {
  if [[ -x "$CHROMIUM" ]]; then
    echo "chromium present: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    return 0
  fi
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
}

ensure_npm() {
  local stamp="$TESTS_DIR/node_modules/.heartbeat-lock" want
  want="$(node --version) $(sha256sum "$TESTS_DIR/package-lock.json" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "npm: watch/console-tests/node_modules up to date"
    return 0
  fi
  (cd "$TESTS_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s' "$want" >"$stamp"
}

command -v node >/dev/null || missing "node is not installed"
command -v npm >/dev/null || missing "npm is not installed"
if ((INSTALL)); then
  step "install: chromium" ensure_chromium
  step "install: npm packages (npm ci)" ensure_npm
fi
[[ -x "$CHROMIUM" ]] || missing "$CHROMIUM is missing: run without --no-install"
[[ -d "$TESTS_DIR/node_modules/playwright-core" && -d "$TESTS_DIR/node_modules/@axe-core/playwright" ]] ||
  missing "watch/console-tests/node_modules is missing: run without --no-install"

if [[ "${HEARTBEAT_SHARE_TEST_BUILD:-}" == 1 ]]; then
  # scripts/test.sh: the binary its nextest run built, with the same command (the workspace's
  # features with its dev-dependencies), so nothing is rebuilt.
  step "build the watch (the nextest run's build)" \
    timeout 1200 cargo test --workspace --all-features --no-run --quiet
else
  step "build the watch" \
    timeout 1200 cargo build -p heartbeat-watch --all-features --bin heartbeat-watch
fi
export HEARTBEAT_WATCH_BIN="$ROOT/target/debug/heartbeat-watch"
mkdir -p "$CONSOLE_SCREENSHOTS"

step "console and status page against the demo (Playwright, headless Chromium, axe)" \
  timeout 240 node --test --test-concurrency=1 --test-timeout=180000 "$TESTS_DIR/console.test.mjs"

# The browser package's page heartbeat (wasm/npm/dist, built by scripts/test-wasm.sh before this
# script in test.sh) judged by the watch: fail(reason) pages as `failing`, stop() is quiet for its
# grace and then pages `stopped_not_restarted`.
if [[ -f "$ROOT/wasm/npm/dist/index.js" ]]; then
  step "the browser package's heartbeat judged by the watch (fail, recover, stop)" \
    timeout 120 node --test --test-concurrency=1 --test-timeout=100000 "$TESTS_DIR/browser-emitter.test.mjs"
else
  echo "test-console.sh: wasm/npm/dist is not built (./wasm/build.sh or ./scripts/test-wasm.sh)" >&2
  [[ "${CI:-}" != "true" ]] || exit 1
  echo "test-console.sh: the browser package's heartbeat skipped (not under CI=true)" >&2
fi

if ((SCALE)); then
  step "500 outcome rules, 1,000 tenants: first render and one SSE update" \
    timeout 240 node --test --test-concurrency=1 --test-timeout=200000 "$TESTS_DIR/scale.test.mjs"
fi
echo "test-console.sh: all console checks passed (screenshots in ${CONSOLE_SCREENSHOTS#"$ROOT"/})"
