#!/usr/bin/env python3
"""Import loops between the files of each crate: each module may import only from modules below it.

For every crate of the workspace (its `src/lib.rs` or `src/main.rs` and the module files under it),
reads the paths that start with `crate::`, `super::` or `self::` (in `use` statements, braces
expanded, and inline in code), resolves each to the module file that defines it, and reports every
strongly connected group of more than one file: a loop. A parent declaring `mod child;` is not an
import; `use self::child::X` is. Test modules (`#[cfg(test)] mod tests { ... }` at the end of a
file) and comments are not read.

    python3 scripts/check-imports.py            # every crate; exit 1 when a loop is found
    python3 scripts/check-imports.py watch      # one crate directory
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(text: str) -> str:
    """The code of a file: no comments, no string contents, nothing from `#[cfg(test)] mod` on."""
    m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text)
    if m:
        text = text[: m.start()]
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


def expand(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = re.sub(r"\s+", "", tree)
    i = tree.find("{")
    if i < 0:
        return [tree]
    prefix = tree[:i]
    depth, parts, start = 0, [], i + 1
    for j in range(i, len(tree)):
        ch = tree[j]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                parts.append(tree[start:j])
                break
        elif ch == "," and depth == 1:
            parts.append(tree[start:j])
            start = j + 1
    out = []
    for part in parts:
        if part:
            out.extend(prefix + p for p in expand(part))
    return out


class Crate:
    def __init__(self, src: Path, root_file: Path):
        self.src = src
        self.files: dict[tuple[str, ...], Path] = {}
        self.walk((), root_file)

    def walk(self, module: tuple[str, ...], file: Path) -> None:
        self.files[module] = file
        text = strip(file.read_text(encoding="utf-8"))
        for m in re.finditer(
            r"(?:#\[path\s*=\s*\"([^\"]+)\"\]\s*)?(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;",
            file.read_text(encoding="utf-8"),
        ):
            name = m.group(2)
            if file.name in ("lib.rs", "main.rs", "mod.rs"):
                base = file.parent
            else:
                base = file.parent / file.stem
            for cand in (base / f"{name}.rs", base / name / "mod.rs"):
                if cand.exists():
                    self.walk(module + (name,), cand)
                    break
        del text

    def resolve(self, here: tuple[str, ...], path: list[str]) -> tuple[str, ...] | None:
        head, rest = path[0], path[1:]
        if head == "crate":
            base: tuple[str, ...] = ()
        elif head == "self":
            base = here
        elif head == "super":
            base = here[:-1]
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
        else:
            return None
        best = base if base in self.files else None
        cur = base
        for seg in rest:
            cur = cur + (seg,)
            if cur in self.files:
                best = cur
            else:
                break
        return best

    def uses(self, module: tuple[str, ...]) -> tuple[list[str], list[str]]:
        """The paths `module` imports for its own code, and the ones it re-exports (`pub use`)."""
        code = strip(self.files[module].read_text(encoding="utf-8"))
        own: list[str] = []
        public: list[str] = []
        for m in re.finditer(r"(\bpub(?:\([^)]*\))?\s+)?\buse\s+([^;]+);", code):
            (public if m.group(1) else own).extend(expand(m.group(2)))
        rest = re.sub(r"\buse\s+[^;]+;", " ", code)
        for m in re.finditer(r"\b(?:crate|super|self)(?:::" + IDENT + r")+", rest):
            own.append(m.group(0))
        return own, public

    def reexports(self) -> dict[tuple[str, ...], dict[str, list[str]]]:
        """For each module, the names it re-exports and the path each stands for."""
        out: dict[tuple[str, ...], dict[str, list[str]]] = {}
        for module in self.files:
            names: dict[str, list[str]] = {}
            for p in self.uses(module)[1]:
                alias = re.search(r"\bas\s*(" + IDENT + ")$", p)
                p = re.sub(r"\bas\s*" + IDENT + "$", "", p)
                segs = [x for x in p.split("::") if x]
                if not segs or segs[-1] == "*":
                    continue
                names[alias.group(1) if alias else segs[-1]] = segs
            out[module] = names
        return out

    def target(self, here, segs, reexports, depth=0):
        """The module file that defines what `segs` (a path written in `here`) names."""
        if not segs or segs[0] not in ("crate", "self", "super"):
            return None
        best = self.resolve(here, segs)
        if best is None or depth > 8:
            return best
        # Follow a re-export: `crate::Clock` where lib.rs says `pub use crate::clock::Clock`.
        head = segs[0]
        base_len = {"crate": 0}.get(head)
        if base_len is None:
            base = here if head == "self" else here[:-1]
            n = 1
            while head == "super" and n < len(segs) and segs[n] == "super":
                base, n = base[:-1], n + 1
            consumed = n + (len(best) - len(base))
        else:
            consumed = 1 + len(best)
        if consumed < len(segs):
            name = segs[consumed]
            alias = reexports.get(best, {}).get(name)
            if alias is not None:
                through = self.target(best, alias, reexports, depth + 1)
                if through is not None:
                    return through
        return best

    def edges(self) -> dict[tuple[str, ...], set[tuple[str, ...]]]:
        reexports = self.reexports()
        out: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in self.files}
        for module in self.files:
            for p in self.uses(module)[0]:
                p = re.sub(r"\bas\s*" + IDENT + "$", "", p)
                segs = [s for s in p.split("::") if s]
                target = self.target(module, segs, reexports)
                if target is not None and target != module:
                    out[module].add(target)
        return out


def loops(graph: dict) -> list[list]:
    """Tarjan's strongly connected components of more than one node."""
    index, low, stack, on, result = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                result.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return result


def crates(only: list[str]) -> list[tuple[str, Crate]]:
    found = []
    for manifest in sorted(ROOT.glob("*/Cargo.toml")):
        d = manifest.parent
        if only and d.name not in only:
            continue
        for root in ("lib.rs", "main.rs"):
            f = d / "src" / root
            if f.exists():
                found.append((f"{d.name}/src/{root}", Crate(d / "src", f)))
    return found


def main() -> int:
    bad = 0
    for name, crate in crates(sys.argv[1:]):
        graph = crate.edges()
        for comp in loops(graph):
            bad += 1
            files = [os.path.relpath(crate.files[m], ROOT) for m in comp]
            print(f"{name}: import loop between {len(files)} files:")
            for m in comp:
                inside = sorted(
                    os.path.relpath(crate.files[t], ROOT) for t in graph[m] if t in comp
                )
                print(f"  {os.path.relpath(crate.files[m], ROOT)} -> {', '.join(inside)}")
    if bad:
        print(f"check-imports: {bad} import loop(s)")
        return 1
    print("check-imports: no import loop between the files of any crate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
