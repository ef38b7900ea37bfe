#!/usr/bin/env python3
"""Checks the core's module graph (core/src): no import cycle, no upward import.

Reads every non-test, non-comment `crate::NAME` reference of each top-level module
(a module is `core/src/NAME.rs` plus `core/src/NAME/**`) and checks it against the
declared layers below: a module may use modules of its own layer or lower layers,
never a higher one, and the graph of modules has no cycle. Also checks that the
binding (src/) does not use the core's test-only `testing` module. Prints each offence with
the file and line; exit status 1 when there is one. Usage: layers.py [core/src]
"""
import os
import re
import sys

# Lowest first. A module may use modules of its own layer (see WITHIN) or of lower
# layers, never a higher one.
# - foundation: plain helpers (errors, secrets, card detection, redaction, the order
#   tree, DNS, keyed fingerprints); no configuration, no storage.
# - compilers: the policy and request-shape compilers, pure functions of their TOML
#   tables; their compiled forms are part of the loaded configuration, so they sit
#   under it.
# - config: plain data read from the TOML file (and the compiled forms above).
# - store: SQL only (schema, migrations, rows in domain terms).
# - concerns: one request's parts: transport, outbox keys, auth, signing, audit, and
#   forward (which composes them), inbound webhooks.
# - outbox: the engine (submit, flush, retries, circuit, status, purge).
# - engine: the one Engine value (configuration cache, entry points).
# - facade: lib.rs (the curated re-exports) and the test-only `testing` module.
LAYERS = [
    ("foundation", ["error", "civil", "secret", "luhn", "redact", "node", "dns", "fingerprint"]),
    ("compilers", ["policy", "shape"]),
    ("config", ["config"]),
    ("store", ["store"]),
    ("concerns", ["transport", "keys", "signing", "auth", "audit", "forward", "preview", "webhook"]),
    ("outbox", ["outbox"]),
    ("engine", ["engine"]),
    ("facade", ["lib"]),
]
# Inside a layer, the order in which its modules may use one another (lower first).
WITHIN = {
    "foundation": ["error", "civil", "secret", "luhn", "redact", "node", "dns", "fingerprint"],
    "concerns": ["transport", "keys", "signing", "auth", "audit", "forward", "preview", "webhook"],
}

REF = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
USE_GROUP = re.compile(r"\buse\s+crate::\{([^}]*)\}", re.S)


def module_of(root, path):
    rel = os.path.relpath(path, root)
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def code_lines(text):
    """Lines of code, without comments and without `#[cfg(test)]` items."""
    out = []
    skip_depth = None
    pending_test = False
    depth = 0
    for no, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        code = re.sub(r"//.*", "", line)
        if skip_depth is None and stripped.startswith("#[cfg(test)]"):
            pending_test = True
            continue
        opens, closes = code.count("{"), code.count("}")
        if pending_test and skip_depth is None:
            if stripped.startswith("#["):
                continue
            pending_test = False
            if opens > closes:
                skip_depth = depth
                depth += opens - closes
            continue  # a one-line test item
        if skip_depth is not None:
            depth += opens - closes
            if depth <= skip_depth:
                skip_depth = None
            continue
        depth += opens - closes
        out.append((no, code))
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "core/src"
    layer_of, rank_within = {}, {}
    for i, (name, mods) in enumerate(LAYERS):
        for m in mods:
            layer_of[m] = i
    for mods in WITHIN.values():
        for j, m in enumerate(mods):
            rank_within[m] = j
    edges = {}
    problems = []
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            mod = module_of(root, path)
            if mod not in layer_of:
                problems.append(f"{path}: module `{mod}` is in no layer (add it to LAYERS in {sys.argv[0]})")
                continue
            with open(path, encoding="utf-8") as fh:
                lines = code_lines(fh.read())
            text = "\n".join(c for _, c in lines)
            found = [(no, m) for no, c in lines for m in REF.findall(c)]
            for group in USE_GROUP.finditer(text):
                no = lines[text.count("\n", 0, group.start())][0]
                for item in group.group(1).split(","):
                    name = item.strip().split("::")[0].strip()
                    if name:
                        found.append((no, name))
            for no, target in found:
                if target in ("self", "super", "Error", "ErrorKind", "Result", "VERSION") or target == mod:
                    continue
                if target not in layer_of:
                    continue  # a re-exported item of lib.rs
                edges.setdefault(mod, {}).setdefault(target, f"{path}:{no}")
    for mod, targets in sorted(edges.items()):
        for target, where in sorted(targets.items()):
            lm, lt = layer_of[mod], layer_of[target]
            upward = lt > lm
            if lt == lm and mod in rank_within and target in rank_within:
                upward = rank_within[target] > rank_within[mod]
            if upward:
                problems.append(f"{where}: `{mod}` ({LAYERS[lm][0]}) imports `{target}` ({LAYERS[lt][0]}): upward")
    # Cycles (over every edge, whatever the layers say).
    state = {}
    stack = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, {})):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                problems.append("import cycle: " + " -> ".join(cycle) + f" (at {edges[m][t]})")
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    # The binding (src/, beside core/) uses the facade only, never the tests' `testing`.
    binding = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(root))), "src")
    for dirpath, _, files in os.walk(binding):
        for f in sorted(files):
            if f.endswith(".rs"):
                path = os.path.join(dirpath, f)
                with open(path, encoding="utf-8") as fh:
                    for no, code in code_lines(fh.read()):
                        if "secure_forward_core::testing" in code:
                            problems.append(f"{path}:{no}: the binding uses `secure_forward_core::testing` (tests only; add what it needs to core/src/lib.rs)")
    for p in problems:
        print(p)
    if problems:
        print(f"layers: {len(problems)} problem(s) in {root}")
        return 1
    print(f"layers: {len(edges)} modules, no cycle, no upward import")
    return 0


if __name__ == "__main__":
    sys.exit(main())
