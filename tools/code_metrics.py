"""Numbers the architecture issue (17) is judged by: package cycles, modules importing
SQLAlchemy outside the store, functions over 80 lines. Prints one JSON object.

    .venv/bin/python tools/code_metrics.py
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "psre",
    "hsm",
    "ca_core",
    "policies",
    "crl",
    "ocsp",
    "signing_api",
    "ceremony_scripts",
    "web",
)
STORE = "ca_core.store"


def _present() -> list[str]:
    return [p for p in PACKAGES if (ROOT / p / "__init__.py").exists()]


def package_cycles(graph: grimp.ImportGraph, packages: list[str]) -> list[list[str]]:
    """Strongly connected groups of top-level packages (each group of 2+ is a cycle)."""
    edges: dict[str, set[str]] = {p: set() for p in packages}
    for a in packages:
        for b in packages:
            if a != b and graph.direct_import_exists(importer=a, imported=b, as_packages=True):
                edges[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for p in packages:
        if p not in index:
            visit(p)
    return out


def long_functions(packages: list[str], limit: int = 80) -> list[str]:
    found = []
    for pkg in packages:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    n = (node.end_lineno or node.lineno) - node.lineno + 1
                    if n > limit:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n})")
    return found


def main() -> int:
    sys.path.insert(0, str(ROOT))
    packages = _present()
    graph = grimp.build_graph(*packages, include_external_packages=True)
    sqla = sorted(
        m
        for m in graph.find_modules_that_directly_import("sqlalchemy")
        if not (m == STORE or m.startswith(STORE + "."))
    )
    longs = long_functions(packages)
    print(
        json.dumps(
            {
                "package_cycles": package_cycles(graph, packages),
                "modules_importing_sqlalchemy_outside_store": len(sqla),
                "functions_over_80_lines": len(longs),
                "long_functions": longs,
                "sqlalchemy_importers": sqla,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
