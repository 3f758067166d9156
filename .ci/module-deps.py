#!/usr/bin/env python3
"""Check the gateway crate's module dependencies: one way, top to bottom, and no cycles.

Reads every .rs file of gateway/src (the library; the binary's cli/ and main.rs sit on top
and may use anything), finds which other files each one refers to (`crate::a::b`, `super::x`,
`self::x`, a child module by name), and fails when
  - a file refers to a layer above its own (layers below), or to another component of its own
    layer (the bridge and the sinks do not know each other);
  - the files refer to each other in a cycle (strongly connected components of the file graph).
Test modules (`#[cfg(test)] mod ...` at the bottom of a file) are left out: they may build any
fixture they need. Prints the edges with --print.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "gateway" / "src"

# Lowest first. A file may refer to its own component and to components of lower layers.
LAYERS = [
    {"types", "hexdump"},
    {"setting", "decode", "scan"},
    {"config"},
    {"core"},
    {"bridge", "mqtt", "history"},
    {"http"},
    {"app"},
]
BINARY = {"main", "cli"}


def layer_of(component):
    for i, layer in enumerate(LAYERS):
        if component in layer:
            return i
    return None


def module_path(file):
    rel = file.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return parts


def file_of(parts):
    """The file that holds module `parts` (crate-relative), or None."""
    if not parts:
        return ROOT / "lib.rs"
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".rs"), base / "mod.rs"):
        if candidate.exists():
            return candidate
    return None


def resolve(parts):
    """The deepest file among the prefixes of `parts` (items of a module live in its file)."""
    found = None
    for n in range(len(parts) + 1):
        f = file_of(parts[:n])
        if f is None:
            break
        found = f
    return found


def code_of(file):
    text = file.read_text()
    # Leave out test modules: everything from a `#[cfg(test)]` that opens a module.
    m = re.search(r"^#\[cfg\(test\)\]\s*\n(?:#\[[^\n]*\]\s*\n)*\s*(pub(\(crate\))? )?mod \w+", text, re.M)
    if m:
        text = text[: m.start()]
    text = re.sub(r"r(#*)\".*?\"\1", '""', text, flags=re.S)  # raw strings
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text, flags=re.S)  # strings
    text = re.sub(r"//[^\n]*", "", text)  # comments, doc comments
    return text


IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
PATH = rf"(?:crate|super|self|{IDENT})(?:::(?:{IDENT}|\{{[^}}]*\}}))+"


def references(file):
    here = module_path(file)
    code = code_of(file)
    children = set(re.findall(rf"^\s*(?:pub(?:\([^)]*\))? )?mod ({IDENT});", code, re.M))
    targets = set()
    for path in re.findall(PATH, code):
        segments = re.findall(rf"{IDENT}|\{{[^}}]*\}}", path)
        head = segments[0]
        if head == "crate":
            base = []
        elif head == "self":
            base = list(here)
        elif head == "super":
            base = list(here)
            while segments and segments[0] == "super":
                base = base[:-1]
                segments = segments[1:]
            segments = ["super"] + segments  # keep the shape: drop the head below
        elif head in children:
            base = list(here)
            segments = ["self"] + segments
        else:
            continue  # another crate, a type, an enum variant
        names = []
        groups = []
        for s in segments[1:]:
            if s.startswith("{"):
                groups = re.findall(IDENT, s)
                break
            names.append(s)
        parts = base + names
        # `use super::{port, ConfigError}`: a submodule named in a group is its own file; the
        # other names are items of the module the group is in.
        subs = [file_of(parts + [g]) for g in groups]
        if not groups or not all(subs):
            target = resolve(parts)
            if target:
                targets.add(target)
        targets.update(f for f in subs if f)
    targets.discard(file)
    return targets


def strongly_connected(graph):
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    files = [f for f in sorted(ROOT.rglob("*.rs")) if module_path(f)[:1] not in ([b] for b in BINARY)]
    files = [f for f in files if not (f.name == "main.rs" and f.parent == ROOT)]
    graph = {f: references(f) for f in files}
    problems = []
    for f, targets in graph.items():
        comp = module_path(f)[:1]
        comp = comp[0] if comp else "lib"
        for t in sorted(targets):
            tcomp = module_path(t)[:1]
            tcomp = tcomp[0] if tcomp else "lib"
            if "--print" in sys.argv:
                print(f"{f.relative_to(ROOT)} -> {t.relative_to(ROOT)}")
            if comp == "lib" or tcomp == comp:
                continue
            mine, theirs = layer_of(comp), layer_of(tcomp)
            if mine is None or theirs is None:
                problems.append(f"{f.relative_to(ROOT)}: module {comp or tcomp!r} has no layer in .ci/module-deps.py")
            elif theirs >= mine:
                problems.append(
                    f"{f.relative_to(ROOT)} ({comp}, layer {mine}) refers to {t.relative_to(ROOT)} ({tcomp}, layer {theirs})"
                )
    for comp in strongly_connected(graph):
        if len(comp) > 1:
            problems.append("import cycle: " + " <-> ".join(sorted(str(f.relative_to(ROOT)) for f in comp)))
    edges = sum(len(t) for t in graph.values())
    if problems:
        print("module dependencies: " + str(len(problems)) + " problem(s)")
        for p in problems:
            print("  " + p)
        sys.exit(1)
    print(f"module dependencies: {len(files)} files, {edges} references, one way, no cycles")


if __name__ == "__main__":
    main()
