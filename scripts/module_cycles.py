#!/usr/bin/env python3
"""Fails when a crate's modules import each other in a loop (#21).

Reads every `.rs` file of a crate's `src/`, maps it to its module path
(`src/http/login.rs` -> `http::login`, `mod.rs` and `lib.rs`/`main.rs`
name their folder), collects the modules each one names through `use`
and in-code paths (`crate::a::b`, `super::x`, `self::y`), and reports
every strongly connected component of more than one module, with one
cycle through it. A child naming its parent module (`super::Item`)
counts like any other import, and so does a parent naming a child by a
bare path (`login::router()`): a module and its children form no
exemption, as the issue asks for no loop at all. Exit 1 if any.

Usage: python3 scripts/module_cycles.py [CRATE_DIR ...]  (default: . crates/core crates/verify)
"""
import os
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)
COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\])*"')


def module_of(src, path):
    rel = os.path.relpath(path, os.path.normpath(src))[: -len(".rs")].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def resolve(modules, here, base, segs):
    """The longest module named by `base::segs` seen from `here`."""
    if base == "crate":
        start = ()
    elif base == "self":
        start = here
    else:  # super, possibly repeated
        start = here[:-1]
        while segs and segs[0] == "super":
            start, segs = start[:-1], segs[1:]
    best = None
    for n in range(len(segs) + 1):
        cand = start + tuple(segs[:n])
        if cand in modules:
            best = cand
    return best


PATH_MOUNT = re.compile(r'#\[path\s*=\s*"([^"]+)"\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;')


def graph(src):
    files = []
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                files.append(os.path.normpath(os.path.join(root, n)))
    modules = {module_of(src, f): f for f in files}
    # `#[path = "dir/mod.rs"] mod x;` mounts a directory as a child of the
    # declaring module (twice, if two modules mount it): its files are
    # read once per mount, under the module paths they really have.
    for m, f in list(modules.items()):
        for rel, name in PATH_MOUNT.findall(open(f, encoding="utf-8").read()):
            target = os.path.normpath(os.path.join(os.path.dirname(f), rel))
            mount_dir = os.path.dirname(target)
            for k, g in list(modules.items()):
                inside = g.startswith(mount_dir + os.sep)
                if inside and k == module_of(src, g):
                    del modules[k]
            for g in files:
                if g == target:
                    modules[m + (name,)] = g
                elif g.startswith(mount_dir + os.sep):
                    rest = module_of(mount_dir, g)
                    modules[m + (name,) + rest] = g
    edges = {m: set() for m in modules}
    for m, f in modules.items():
        text = STRING.sub('""', COMMENT.sub("", open(f, encoding="utf-8").read()))
        # `pub(in crate::x)` names a module for visibility, not an import.
        text = re.sub(r"pub\(in [^)]*\)", "pub", text)
        # Test modules may name anything; they are not part of the design.
        cut = text.find("#[cfg(test)]")
        if cut >= 0:
            text = text[:cut]
        refs = []
        for base, prefix, body in USE_GROUP.findall(text):
            prefix_segs = [s for s in prefix.split("::") if s]
            for item in re.split(r",", body):
                item = item.strip().split(" as ")[0].strip()
                item = re.sub(r"\{.*", "", item).strip(":")
                segs = prefix_segs + [s for s in item.split("::") if s and s != "self"]
                refs.append((base, segs))
        for base, rest in PATH.findall(text):
            refs.append((base, [s for s in rest.split("::") if s]))
        # A child named by a bare path (`login::router()`, `use sql::x`).
        for child in (k for k in modules if len(k) == len(m) + 1 and k[: len(m)] == m):
            if re.search(r"(?<![:\w])" + re.escape(child[-1]) + r"::", text):
                refs.append(("self", [child[-1]]))
        for base, segs in refs:
            target = resolve(modules, m, base, segs)
            if target is not None and target != m:
                edges[m].add(target)
    return edges


def sccs(edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def cycle_in(edges, comp):
    comp = set(comp)
    start = min(comp)
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges[v]):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w in comp and w not in prev:
                prev[w] = v
                queue.append(w)
    return [start]


def name(m):
    return "::".join(m) or "crate"


def self_test():
    """The check must find a loop where there is one: a parent naming a
    child that imports the parent back, and a #[path] mount."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "src")
        os.makedirs(os.path.join(src, "a", "shared"))
        files = {
            "lib.rs": "pub mod a;\npub mod b;\n",
            "a/mod.rs": '#[path = "shared/mod.rs"]\nmod s;\npub fn f() { s::g(); }\npub struct T;\n',
            "a/shared/mod.rs": "pub fn g() { let _ = super::T; }\n",
            "b.rs": "use crate::a::f;\n// crate::b is only a comment\npub(in crate::b) fn h() {}\n",
        }
        for fname, text in files.items():
            with open(os.path.join(src, fname), "w", encoding="utf-8") as fh:
                fh.write(text)
        found = [sorted(name(m) for m in c) for c in sccs(graph(src))]
        assert found == [["a", "a::s"]], found
    print("module_cycles: self-test passed")


# The HTTP handlers (one file per resource): none may import another; what
# they share lives in the helpers beside them (auth, client_auth, error,
# extract, bodies, json, track) or in domain modules outside `http`.
HANDLERS = {
    "admin", "clients", "feed", "forward_auth", "keys", "login", "logout",
    "oauth", "openapi", "ops", "refresh", "sessions",
}


def handler_imports(edges):
    """Handler modules that import another handler."""
    out = []
    for m, targets in edges.items():
        if len(m) == 2 and m[0] == "http" and m[1] in HANDLERS:
            for t in targets:
                if len(t) >= 2 and t[0] == "http" and t[1] in HANDLERS and t[1] != m[1]:
                    out.append((m, t))
    return sorted(out)


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    crates = sys.argv[1:] or [".", "crates/core", "crates/verify"]
    bad = 0
    for c in crates:
        edges = graph(os.path.join(c, "src"))
        for comp in sccs(edges):
            bad += 1
            loop = " -> ".join(name(m) for m in cycle_in(edges, comp))
            print(f"{c}: {len(comp)} modules import each other: {loop}")
        for m, t in handler_imports(edges) if c == "." else []:
            bad += 1
            print(f"{c}: handler {name(m)} imports handler {name(t)}")
    if bad:
        sys.exit(1)
    print(f"module_cycles: no import loops in {', '.join(crates)}, no handler imports another")


if __name__ == "__main__":
    main()
