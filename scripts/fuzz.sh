#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer, AddressSanitizer) of the SDK's environment, header and
# endpoint parsing and of the core OTLP encoders' round trip (sdk/fuzz), and of the watch's OTLP
# decoding (protobuf, JSON, gzip) and rule-file parser (watch/fuzz). Figures go in
# docs/reliability.md. Installs cargo-fuzz into .tools/ (idempotent).
#
#   ./scripts/fuzz.sh                 every target for FUZZ_SECONDS (default 600) each
#   ./scripts/fuzz.sh --smoke         every target for 10 s from the committed seeds (test.sh),
#                                     built unoptimised without AddressSanitizer (half the build
#                                     time; debug assertions and overflow checks on) unless
#                                     FUZZ_PROFILE / FUZZ_SANITIZER say otherwise
#   ./scripts/fuzz.sh --seconds N     every target for N seconds
#   ./scripts/fuzz.sh --target NAME   only this target (repeatable)
#   ./scripts/fuzz.sh --crate DIR     fuzz this cargo-fuzz crate instead of sdk/fuzz and watch/fuzz
#                                     (repeatable; e.g. --crate watch/fuzz)
#   ./scripts/fuzz.sh --no-install    trust .tools/bin/cargo-fuzz
#   ./scripts/fuzz.sh --build-only    build every target and stop (test.sh builds the smoke's
#                                     targets early, beside other steps)
#   ./scripts/fuzz.sh --jobs N        run N targets at once (each libFuzzer run uses one core;
#                                     default: every core for the smoke, 1 for long runs, so
#                                     that their figures are comparable)
#
# Toolchain: cargo-fuzz passes nightly flags (-Zsanitizer, sanitizer coverage). The stable
# toolchain of the repository accepts them with RUSTC_BOOTSTRAP=1, so no nightly is downloaded
# (RUSTUP_AUTO_INSTALL=0 on our machines). FUZZ_TOOLCHAIN=nightly uses an installed nightly
# instead. FUZZ_SANITIZER=none turns AddressSanitizer off (faster, finds panics only);
# FUZZ_PROFILE=dev builds unoptimised (builds twice as fast, runs slower). Defaults: address and
# release for long runs, none and dev for the smoke.
#
# Both crates build into one target directory (FUZZ_TARGET_DIR, default target/fuzz), so the
# dependencies they share (tokio, hyper, prost, serde...) are built once per sanitizer.
#
# The committed seeds (DIR/corpus/TARGET) are read only; each run grows a working corpus in
# DIR/target/corpus/TARGET, kept between runs. A crash leaves its input in DIR/artifacts/TARGET
# and fails the script.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CARGO_FUZZ_VERSION=0.13.2
TOOLS="$ROOT/.tools"
SECONDS_EACH="${FUZZ_SECONDS:-600}"
SMOKE=0
TARGET_DIR="${FUZZ_TARGET_DIR:-$ROOT/target/fuzz}"
INSTALL=1
BUILD_ONLY=0
JOBS=""
CRATES=()
TARGETS=()

while (($# > 0)); do
  case "$1" in
    --smoke) SECONDS_EACH=10; SMOKE=1 ;;
    --seconds) SECONDS_EACH="$2"; shift ;;
    --target) TARGETS+=("$2"); shift ;;
    --crate) CRATES+=("$2"); shift ;;
    --no-install) INSTALL=0 ;;
    --build-only) BUILD_ONLY=1 ;;
    --jobs) JOBS="$2"; shift ;;
    -h | --help) sed -n '2,35s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if ((${#CRATES[@]} == 0)); then CRATES=(sdk/fuzz watch/fuzz); fi
if ((SMOKE)); then
  SANITIZER="${FUZZ_SANITIZER:-none}"
  PROFILE="${FUZZ_PROFILE:-dev}"
else
  SANITIZER="${FUZZ_SANITIZER:-address}"
  PROFILE="${FUZZ_PROFILE:-release}"
fi
if [[ -z "$JOBS" ]]; then
  if ((SMOKE)); then JOBS="$(nproc)"; else JOBS=1; fi
fi
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "--jobs $JOBS: expected a positive whole number" >&2; exit 2; }
case "$PROFILE" in
  release) PROFILE_FLAG=(--release) ;;
  dev) PROFILE_FLAG=(--dev) ;;
  *) echo "FUZZ_PROFILE=$PROFILE: allowed are release and dev" >&2; exit 2 ;;
esac

ensure_cargo_fuzz() {
  if [[ "$("$TOOLS/bin/cargo-fuzz" --version 2>/dev/null)" == "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "cargo-fuzz $CARGO_FUZZ_VERSION present"
    return 0
  fi
  cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked --root "$TOOLS"
}

if ((INSTALL)); then ensure_cargo_fuzz; fi
export PATH="$TOOLS/bin:$PATH"

toolchain=()
if [[ "${FUZZ_TOOLCHAIN:-}" == nightly ]]; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

FAILED=0
RUNS=() # "dir target" pairs, in order
LOGS="$ROOT/target/fuzz-runs"
mkdir -p "$LOGS"

build_crate() {
  local dir="$1"
  local targets=("${TARGETS[@]+"${TARGETS[@]}"}")
  local build=("${targets[@]+"${targets[@]}"}")
  if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list --fuzz-dir "$dir")
    build=("") # every target at once
  fi
  echo "==> build $dir (sanitizer: $SANITIZER, profile: $PROFILE)"
  local one
  for one in "${build[@]}"; do
    cargo "${toolchain[@]}" fuzz build --fuzz-dir "$dir" --target-dir "$TARGET_DIR" \
      --sanitizer "$SANITIZER" "${PROFILE_FLAG[@]}" ${one:+"$one"}
  done
  local target
  for target in "${targets[@]}"; do RUNS+=("$dir $target"); done
}

# run_one DIR TARGET: one fuzzing run; writes its report row to $LOGS/<n>.row, exit status to .rc.
run_one() {
  local dir="$1" target="$2" n="$3"
  local work="$dir/target/corpus/$target" seeds="$dir/corpus/$target"
  # Per run, so that two runs at once (a smoke beside a long run) keep their own figures.
  local log="$dir/target/fuzz-logs/$target-$(date +%Y%m%dT%H%M%S)-$$.log"
  local stamp="$dir/target/fuzz-logs/$target-$$.start"
  mkdir -p "$dir/target/fuzz-logs" "$work" "$seeds" "$dir/artifacts/$target"
  touch "$stamp"
  echo "==> $dir $target: ${SECONDS_EACH}s"
  local status=0
  cargo "${toolchain[@]}" fuzz run --fuzz-dir "$dir" --target-dir "$TARGET_DIR" \
    --sanitizer "$SANITIZER" "${PROFILE_FLAG[@]}" "$target" \
    "$work" "$seeds" -- \
    -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 \
    -max_len=4096 -close_fd_mask=1 >"$log" 2>&1 || status=$?
  local execs rss corpus crashes
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)"
  corpus="$(find "$work" -type f | wc -l)"
  crashes="$(find "$dir/artifacts/$target" -type f -newer "$stamp" | wc -l)"
  if ((status != 0)); then
    echo "FAILED: $target (exit $status); the end of its log ($log):" >&2
    tail -40 "$log" >&2
  fi
  printf '| %s | %s | %ss | %s | %s | %s MB | %s |\n' \
    "$dir" "$target" "$SECONDS_EACH" "${execs:-?}" "$corpus" "${rss:-?}" "$crashes" >"$LOGS/$n.row"
  echo "$status" >"$LOGS/$n.rc"
}

for dir in "${CRATES[@]}"; do build_crate "$dir"; done
if ((BUILD_ONLY)); then
  echo "fuzz.sh: built ${#RUNS[@]} targets (--build-only)"
  exit 0
fi

# Each libFuzzer run uses one core: JOBS of them at once (a finished one makes room for the next).
rm -f "$LOGS"/*.row "$LOGS"/*.rc
running=0
for n in "${!RUNS[@]}"; do
  if ((running >= JOBS)); then
    wait -n || true
    running=$((running - 1))
  fi
  # shellcheck disable=SC2086 # "dir target"
  run_one ${RUNS[$n]} "$n" &
  running=$((running + 1))
done
wait || true
REPORT_ROWS=()
for n in "${!RUNS[@]}"; do
  if [[ ! -f "$LOGS/$n.rc" || "$(cat "$LOGS/$n.rc")" != 0 ]]; then FAILED=1; fi
  REPORT_ROWS+=("$(cat "$LOGS/$n.row" 2>/dev/null || echo "| ${RUNS[$n]} | did not report | | | | | |")")
done

report="Sanitizer: $SANITIZER; profile: $PROFILE.

| crate | target | time | executions | corpus | peak RSS | crashes |
|---|---|---|---|---|---|---|"
for row in "${REPORT_ROWS[@]}"; do report+=$'\n'"$row"; done
printf '\n%s\n' "$report"
mkdir -p target
printf '%s\n' "$report" >target/fuzz-report.md
if ((FAILED)); then
  echo "fuzz.sh: a target failed (inputs in */fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: no crash"
