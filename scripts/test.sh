#!/usr/bin/env bash
# The test command: installs what the tests need (idempotently, fast when already there), then runs
# every check, failing fast. CI runs exactly this through .ci/run. See docs/testing.md.
#
#   ./scripts/test.sh               install + every check (what CI runs)
#   ./scripts/test.sh --no-install  every check, trusting what is installed (.venv must exist)
#   ./scripts/test.sh --quick       --no-install, and skip the docs build and the bench smoke
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# ---------------------------------------------------------------------------------------------
# Pinned versions. Bump them here; the install step notices and reinstalls.
# ---------------------------------------------------------------------------------------------
# rotel: the real OTLP collector the integration tests run (its binary ships inside the package).
ROTEL_VERSION=0.0.1a15
# OpenTelemetry Python: official protobuf decoders, and reference emitters for conformance.
OTEL_PYTHON_VERSION=1.45.2
PYTHON_PACKAGES=(
  "opentelemetry-proto==${OTEL_PYTHON_VERSION}"
  "opentelemetry-sdk==${OTEL_PYTHON_VERSION}"
  "opentelemetry-exporter-otlp-proto-http==${OTEL_PYTHON_VERSION}"
  "opentelemetry-exporter-otlp-proto-grpc==${OTEL_PYTHON_VERSION}"
  "opentelemetry-exporter-prometheus==0.66b2" # the SDK's Prometheus exporter, its 1.45.2 pair
)
# Debian packages the tests need: promtool and amtool check the generated Prometheus rules and
# Alertmanager routes.
APT_PACKAGES=(prometheus prometheus-alertmanager)
RUST_TARGETS=(wasm32-unknown-unknown)
RUST_COMPONENTS=(rustfmt clippy)

VENV="$ROOT/.venv"
TOOLS="$ROOT/.tools"

INSTALL=1
QUICK=0
for arg in "$@"; do
  case "$arg" in
    --no-install) INSTALL=0 ;;
    --quick) INSTALL=0 QUICK=1 ;;
    -h | --help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (try --help)" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------------------------------------
# Step runner with a timing summary, printed at the end whether the run passed or failed.
# ---------------------------------------------------------------------------------------------
TIMINGS=()
CURRENT=""
RUN_START=$SECONDS

# The space left where cargo writes (a full disk shows up as a linker's bus error).
disk_free() { df -h --output=avail "$ROOT" 2>/dev/null | tail -1 | tr -d ' '; }

step() {
  local name="$1"
  shift
  CURRENT="$name"
  local start=$SECONDS
  printf '\n==> %s\n' "$name"
  "$@"
  TIMINGS+=("$(printf '%6ss  %-58s %s free' $((SECONDS - start)) "$name" "$(disk_free)")")
  CURRENT=""
}

# A build started in the background (the fuzz targets, beside the conformance run), in its own
# process group (setsid): the whole group is stopped with the run if the run ends first.
BACKGROUND_PID=""

summary() {
  local status=$?
  if [[ -n "$BACKGROUND_PID" ]] && kill -0 "$BACKGROUND_PID" 2>/dev/null; then
    kill -TERM -- "-$BACKGROUND_PID" 2>/dev/null || true
  fi
  printf '\n==> timing summary\n'
  local line
  for line in "${TIMINGS[@]+"${TIMINGS[@]}"}"; do printf '%s\n' "$line"; done
  if [[ -n "$CURRENT" ]]; then printf '%6s   %s  <- FAILED\n' '-' "$CURRENT"; fi
  printf '%6ss  total (disk: %s free, target/ %s)\n' $((SECONDS - RUN_START)) "$(disk_free)" \
    "$(du -sh "$ROOT/target" 2>/dev/null | cut -f1)"
  if ((status == 0)); then echo "test.sh: all checks passed"; else echo "test.sh: failed (exit $status)"; fi
}
trap summary EXIT

# ---------------------------------------------------------------------------------------------
# Install steps. Each one checks first and does nothing when already satisfied.
# ---------------------------------------------------------------------------------------------
APT_UPDATED=0
# ensure_apt PKG...: installs the Debian packages that are missing (one `apt-get update` per run).
ensure_apt() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    echo "apt: already installed: $*"
    return 0
  fi
  local sudo=()
  if ((EUID != 0)); then sudo=(sudo); fi
  if ((APT_UPDATED == 0)); then
    "${sudo[@]}" apt-get update -qq
    APT_UPDATED=1
  fi
  echo "apt: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

ensure_rust() {
  local installed
  installed="$(rustup target list --installed)"
  local target
  for target in "${RUST_TARGETS[@]}"; do
    if grep -qx "$target" <<<"$installed"; then
      echo "rustup: target $target present"
    else
      rustup target add "$target"
    fi
  done
  installed="$(rustup component list --installed)"
  local component
  for component in "${RUST_COMPONENTS[@]}"; do
    if grep -q "^${component}-" <<<"$installed"; then
      echo "rustup: component $component present"
    else
      rustup component add "$component"
    fi
  done
}

ensure_venv() {
  local want
  want="$(python3 --version 2>&1) ${PYTHON_PACKAGES[*]} rotel==${ROTEL_VERSION}"
  local stamp="$VENV/.heartbeat-installed"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "venv: up to date ($VENV)"
    return 0
  fi
  echo "venv: creating $VENV"
  python3 -m venv --clear "$VENV"
  local pip=("$VENV/bin/python" -m pip install --disable-pip-version-check --quiet)
  "${pip[@]}" "${PYTHON_PACKAGES[@]}"
  # rotel publishes pre-releases only; installed last so --pre cannot pull pre-releases of the
  # packages pinned above.
  "${pip[@]}" --pre "rotel==${ROTEL_VERSION}"
  printf '%s' "$want" >"$stamp"
}

# Later issues: the wasm-bindgen CLI, matching the wasm-bindgen version in Cargo.lock exactly
# (not --locked), into .tools/ (gitignored). Call it from the install block below.
ensure_wasm_bindgen_cli() {
  local version
  version="$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
  if [[ -z "$version" ]]; then
    echo "wasm-bindgen is not in Cargo.lock" >&2
    return 1
  fi
  if [[ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null)" == "wasm-bindgen $version" ]]; then
    echo "wasm-bindgen-cli $version present"
    return 0
  fi
  cargo install wasm-bindgen-cli --version "=$version" --root "$TOOLS"
}

# Finds the rotel-agent binary inside the venv and checks that it runs.
find_rotel() {
  local candidate
  for candidate in "$VENV/bin/rotel-agent" "$VENV"/lib/python3*/site-packages/rotel/rotel-agent; do
    if [[ -x "$candidate" ]]; then
      "$candidate" --version >/dev/null
      printf '%s' "$candidate"
      return 0
    fi
  done
  echo "rotel-agent not found in $VENV; run ./scripts/test.sh without --no-install" >&2
  return 1
}

install() {
  step "install: rust targets and components" ensure_rust
  step "install: python venv (rotel, opentelemetry)" ensure_venv
  if ((${#APT_PACKAGES[@]} > 0)); then
    step "install: apt packages" ensure_apt "${APT_PACKAGES[@]}"
  fi
  # Later issues add here, each idempotent:
  #   step "install: wasm-bindgen-cli" ensure_wasm_bindgen_cli
  #   step "install: npm packages" npm ci --prefix wasm/npm   (or npm install --no-audit --no-fund)
}

if ((INSTALL)); then install; fi

export PATH="$TOOLS/bin:$PATH"
HEARTBEAT_ROTEL="$(find_rotel)"
export HEARTBEAT_ROTEL
export HEARTBEAT_PYTHON="$VENV/bin/python"
echo "HEARTBEAT_ROTEL=$HEARTBEAT_ROTEL ($("$HEARTBEAT_ROTEL" --version))"
echo "HEARTBEAT_PYTHON=$HEARTBEAT_PYTHON ($("$HEARTBEAT_PYTHON" --version))"

# The browser, console and conformance scripts reuse the nextest run's build (the same cargo
# command) rather than build their binaries with other features.
export HEARTBEAT_SHARE_TEST_BUILD=1

# CI builds from scratch once: incremental artifacts only cost time and disk there.
if [[ "${CI:-}" == "true" ]]; then export CARGO_INCREMENTAL=0; fi

# ---------------------------------------------------------------------------------------------
# Checks, in order, failing fast.
# ---------------------------------------------------------------------------------------------
step "fmt" cargo fmt --all --check
step "import loops (each module imports only from below)" python3 scripts/check-imports.py
step "clippy (native, all features)" \
  cargo clippy --workspace --all-targets --all-features -- -D warnings
step "clippy (wasm32, core)" \
  cargo clippy -p heartbeat-core -p heartbeat-sdk --no-default-features --target wasm32-unknown-unknown --lib -- -D warnings
if ((QUICK == 0)); then
  step "doc" env RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --all-features
fi
step "build (wasm32, core)" \
  cargo build -p heartbeat-core -p heartbeat-sdk --no-default-features --target wasm32-unknown-unknown
if command -v cargo-nextest >/dev/null; then
  step "tests (all features, nextest)" cargo nextest run --workspace --all-features
  step "doctests (all features)" cargo test --doc --workspace --all-features
else
  step "tests (all features)" cargo test --workspace --all-features
fi
# The core's own tests run in the workspace run above; the SDK without its export pipeline is
# the core re-exported, and must still build on its own.
step "check (sdk without default features)" \
  cargo check -p heartbeat-sdk --no-default-features --features testing --lib
# Every publishable crate packaged (cargo package --no-verify) and each .crate's contents checked;
# `./scripts/check-package.sh --verify` before a release adds cargo publish --dry-run.
step "packages (cargo package, each .crate checked)" ./scripts/check-package.sh
# The browser build: wasm-bindgen tests under node and headless Chromium, the Playwright
# end-to-end test, the size budget (installs Chromium, wasm-bindgen-cli and npm packages itself).
if ((INSTALL)); then
  step "wasm plugin (build, node + Chromium tests, e2e, size)" ./scripts/test-wasm.sh
else
  step "wasm plugin (build, node + Chromium tests, e2e, size)" ./scripts/test-wasm.sh --no-install
fi
# The watch's web console and status page in Chromium against the demo (Playwright, axe), and the
# 500-rule, 1,000-tenant page measured (installs its npm packages itself).
if ((INSTALL)); then
  step "console and status page (Chromium)" ./scripts/test-console.sh
else
  step "console and status page (Chromium)" ./scripts/test-console.sh --no-install
fi
# The conformance suite (conformance/SPEC.md) against the SDK in process and as a binary and the
# WASM build under node and in Chromium: a MUST failure fails the run. The reference emitters
# (OpenTelemetry Python and JS) run beside them and are reported only.
NO_INSTALL=()
if ((INSTALL == 0)); then NO_INSTALL=(--no-install); fi
# The fuzz smoke's targets build meanwhile, in the background at the lowest CPU and disk
# priority: the conformance cases mostly wait on clocks and peers, and the build takes what they
# leave (a cold CI run saves most of the fuzz build's minutes this way).
FUZZ_BUILD_LOG="$ROOT/target/fuzz-build.log"
mkdir -p "$ROOT/target"
setsid nice -n 19 ionice -c 3 ./scripts/fuzz.sh --smoke --build-only "${NO_INSTALL[@]+"${NO_INSTALL[@]}"}" \
  >"$FUZZ_BUILD_LOG" 2>&1 &
BACKGROUND_PID=$!
step "conformance (native, native-bin, wasm-node, wasm-chromium)" \
  ./scripts/test-conformance.sh "${NO_INSTALL[@]+"${NO_INSTALL[@]}"}"
# A short fuzz smoke of every cargo-fuzz target (SDK parsing and encoders, the watch's OTLP
# decoding and rule-file parser) from the committed seeds, two at a time; long runs:
# ./scripts/fuzz.sh.
fuzz_smoke() {
  local status=0
  wait "$BACKGROUND_PID" || status=$?
  BACKGROUND_PID=""
  if ((status != 0)); then
    echo "the fuzz targets' build failed (exit $status); the end of $FUZZ_BUILD_LOG:" >&2
    tail -n 40 "$FUZZ_BUILD_LOG" >&2
    return 1
  fi
  tail -n 1 "$FUZZ_BUILD_LOG"
  ./scripts/fuzz.sh --smoke --no-install
}
step "fuzz smoke (sdk/fuzz, watch/fuzz; built beside the conformance run)" fuzz_smoke
if ((QUICK == 0)); then
  # Runs every criterion benchmark once in test mode (debug profile, no timing): proves the
  # benches build and run without a release build of every dependency. Figures come from
  # `cargo bench` (docs/benchmarks.md).
  step "bench smoke (each benchmark once)" cargo test --workspace --all-features --benches
fi
