#!/usr/bin/env bash
# Checks what `cargo publish` would upload, in seconds (no build): packages every publishable
# crate of the workspace (`publish` not false) with `cargo package --no-verify`, then opens each
# .crate and checks that it holds what a user needs and nothing big it does not:
#
#   - Cargo.toml with description, license, repository, documentation, readme, keywords,
#     categories, and docs.rs metadata (all features, `--cfg docsrs`); no path-only dependency;
#   - the licence text (LICENSE, the repository's own) and a README.md;
#   - src/lib.rs; for heartbeat-watch, every file of watch/assets/ (build.rs embeds them);
#   - no build output (target/), fuzz corpora or targets, node_modules, browser test folders,
#     profiling files; no file over 256 KiB and no crate over 1 MiB compressed.
#
#   ./scripts/check-package.sh           all publishable crates
#   ./scripts/check-package.sh --verify  also `cargo publish --dry-run --workspace` (builds each
#                                        crate from its .crate against the others; minutes)
#
# The full build of each package (what crates.io users compile) is the --verify run; the test
# command runs the quick form.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VERIFY=0
for arg in "$@"; do
  case "$arg" in
    --verify) VERIFY=1 ;;
    -h | --help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (try --help)" >&2; exit 2 ;;
  esac
done

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# The publishable members: `publish` unset (cargo metadata shows `publish = false` as []).
mapfile -t CRATES < <(cargo metadata --no-deps --format-version 1 --offline |
  python3 -c '
import json, sys
meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
for p in meta["packages"]:
    if p["id"] in members and p.get("publish") is None:
        print(p["name"])
')
if ((${#CRATES[@]} == 0)); then
  echo "check-package: no publishable crate found in the workspace" >&2
  exit 1
fi
echo "check-package: ${CRATES[*]}"

ARGS=()
for c in "${CRATES[@]}"; do ARGS+=(-p "$c"); done
# --allow-dirty: the test command runs on work in progress. Its own target dir: nothing is
# built, and the workspace's target/package is left alone. Offline first (under a second, from
# the registry cache the build filled); online if the cache lacks something.
package() { cargo package "${ARGS[@]}" --no-verify --allow-dirty --target-dir "$TMP/target" "$@"; }
if ! package --offline >"$TMP/package.log" 2>&1 && ! package >"$TMP/package.log" 2>&1; then
  cat "$TMP/package.log" >&2
  echo "check-package: cargo package failed (above)" >&2
  exit 1
fi

# The files of watch/assets/ the repository holds (untracked ones are packaged too, if present).
git ls-files -- watch/assets >"$TMP/assets.txt"

python3 - "$TMP/target/package" "$ROOT/LICENSE" "$TMP/assets.txt" "${CRATES[@]}" <<'EOF'
import os
import re
import sys
import tarfile
import tomllib

pkg_dir, license_path, assets_list, *crates = sys.argv[1:]
with open(license_path, "rb") as f:
    license_text = f.read()
with open(assets_list) as f:
    watch_assets = [line.strip()[len("watch/"):] for line in f if line.strip()]

MAX_FILE = 256 * 1024
MAX_CRATE = 1024 * 1024
FORBIDDEN = [
    (re.compile(r"(^|/)target/"), "build output (target/)"),
    (re.compile(r"(^|/)fuzz/"), "a cargo-fuzz crate"),
    (re.compile(r"(^|/)corpus/"), "a fuzz corpus"),
    (re.compile(r"(^|/)node_modules/"), "node_modules"),
    (re.compile(r"(^|/)console-tests/"), "the console's browser tests"),
    (re.compile(r"(^|/)test-results/"), "browser test results"),
    (re.compile(r"\.(profraw|profdata|wasm|crate|tgz|sqlite|db)$"), "a binary or build artefact"),
]
INCLUDE = re.compile(r'include_(str|bytes)!\(\s*"([^"]+)"\s*\)')
REQUIRED_FIELDS = ["description", "license", "repository", "documentation", "readme",
                   "keywords", "categories"]

problems = []
sizes = []
for crate in crates:
    version = None
    names = [n for n in os.listdir(pkg_dir) if n.startswith(crate + "-") and n.endswith(".crate")
             and re.fullmatch(re.escape(crate) + r"-\d+\.\d+\.\d+.*\.crate", n)]
    if len(names) != 1:
        problems.append(f"{crate}: expected one .crate in {pkg_dir}, found {names}")
        continue
    path = os.path.join(pkg_dir, names[0])
    sizes.append((crate, os.path.getsize(path)))
    if os.path.getsize(path) > MAX_CRATE:
        problems.append(f"{crate}: {names[0]} is {os.path.getsize(path)} B compressed "
                        f"(limit {MAX_CRATE} B)")
    prefix = names[0][: -len(".crate")] + "/"
    files = {}
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            if not m.isfile():
                continue
            rel = m.name[len(prefix):] if m.name.startswith(prefix) else m.name
            files[rel] = m
        def read(rel):
            return tar.extractfile(files[rel]).read()
        for rel, m in sorted(files.items()):
            for pattern, what in FORBIDDEN:
                if pattern.search(rel):
                    problems.append(f"{crate}: {rel} is {what}; exclude it in {crate}'s Cargo.toml")
            if m.size > MAX_FILE and rel != "Cargo.lock":
                problems.append(f"{crate}: {rel} is {m.size} B (limit {MAX_FILE} B per file)")
        for rel in ["Cargo.toml", "LICENSE", "README.md", "src/lib.rs"]:
            if rel not in files:
                problems.append(f"{crate}: the package has no {rel}")
        if "LICENSE" in files and read("LICENSE") != license_text:
            problems.append(f"{crate}: its LICENSE differs from the repository's LICENSE")
        if "Cargo.toml" in files:
            manifest = tomllib.loads(read("Cargo.toml").decode())
            package = manifest.get("package", {})
            for field in REQUIRED_FIELDS:
                if not package.get(field):
                    problems.append(f"{crate}: Cargo.toml has no `{field}`")
            if package.get("readme") and package["readme"] not in files:
                problems.append(f"{crate}: readme = {package['readme']!r} is not in the package")
            docsrs = manifest.get("package", {}).get("metadata", {}).get("docs", {}).get("rs", {})
            if docsrs.get("all-features") is not True:
                problems.append(f"{crate}: no [package.metadata.docs.rs] all-features = true")
            args = docsrs.get("rustdoc-args", [])
            if "docsrs" not in args:
                problems.append(f"{crate}: [package.metadata.docs.rs] has no "
                                f"rustdoc-args = [\"--cfg\", \"docsrs\"]")
            for table in ("dependencies", "build-dependencies"):
                for name, dep in manifest.get(table, {}).items():
                    if isinstance(dep, dict) and "version" not in dep:
                        problems.append(f"{crate}: {table}.{name} has no version "
                                        f"(a path-only dependency cannot be published)")
        # A file that src/ includes at compile time (include_str!, include_bytes!, in tests
        # too) must be in the package, or `cargo test` in the unpacked crate fails to build.
        for rel in sorted(files):
            if not rel.startswith("src/") or not rel.endswith(".rs"):
                continue
            text = read(rel).decode("utf-8", "replace")
            for m in INCLUDE.finditer(text):
                # Only built inside the repository (the sdk's build.rs sets the cfg there).
                if "in_workspace" in text[max(0, m.start() - 300):m.start()]:
                    continue
                target = os.path.normpath(os.path.join(os.path.dirname(rel), m.group(2)))
                if target not in files:
                    problems.append(f"{crate}: {rel} includes {m.group(2)!r} ({target}), "
                                    f"which is not in the package")
        if crate == "heartbeat-watch":
            if "build.rs" not in files:
                problems.append(f"{crate}: build.rs (it embeds assets/) is not in the package")
            for asset in watch_assets:
                if asset not in files:
                    problems.append(f"{crate}: {asset} (embedded by build.rs) is not in the package")
            if not watch_assets:
                problems.append(f"{crate}: git lists no file under watch/assets")

for crate, size in sizes:
    print(f"check-package: {crate}: {size} B compressed")
sys.stdout.flush()
if problems:
    print("check-package: FAILED", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    sys.exit(1)
print(f"check-package: {len(crates)} crates hold what they need and nothing big they do not")
EOF

if ((VERIFY)); then
  start=$SECONDS
  cargo publish --dry-run --workspace --allow-dirty
  echo "check-package: cargo publish --dry-run --workspace passed in $((SECONDS - start)) s"
fi
