"""The package structure issue 17 asks for stays true: one composition root (psre/), no cycles
between top-level packages, import contracts without exceptions, and a CLI root that loads a
command's module only when that command is used."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import grimp

ROOT = Path(__file__).resolve().parents[1]


def _code_metrics() -> ModuleType:
    spec = importlib.util.spec_from_file_location("code_metrics", ROOT / "tools/code_metrics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_cycles_between_packages() -> None:
    metrics = _code_metrics()
    packages = metrics._present()
    assert "psre" in packages
    graph = grimp.build_graph(*packages, include_external_packages=True)
    assert metrics.package_cycles(graph, packages) == []


def test_the_cycle_finder_sees_a_cycle() -> None:
    # Without this, an empty answer could mean a finder that never finds anything.
    graph = grimp.ImportGraph()
    for m in ("a", "a.x", "b", "b.y", "c"):
        graph.add_module(m)
    graph.add_import(importer="a.x", imported="b.y")
    graph.add_import(importer="b.y", imported="a")
    graph.add_import(importer="c", imported="a")
    assert _code_metrics().package_cycles(graph, ["a", "b", "c"]) == [["a", "b"]]


def test_contracts_make_lint_runs_have_no_exceptions() -> None:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = {c["id"]: c for c in doc["tool"]["importlinter"]["contracts"]}
    for cid in ("leaves", "layers"):
        assert not contracts[cid].get("ignore_imports"), f"{cid} has exceptions"
    assert contracts["layers"]["layers"][0] == "psre"
    boundary = contracts["store-boundary"]
    assert {"sqlalchemy", "alembic"} <= set(boundary["forbidden_modules"])
    assert set(boundary["source_modules"]) == set(_code_metrics()._present())
    lint = (ROOT / "Makefile").read_text()
    assert "--contract leaves --contract layers --contract store-boundary" in lint


def test_cli_root_loads_no_command_module_until_used() -> None:
    # `psre --help` too: it lists the registry's summaries.
    probe = (
        "import sys; from psre.cli import COMMANDS, cli\n"
        "try: cli(['--help'], prog_name='psre')\n"
        "except SystemExit: pass\n"
        "mods = {e.target.split(':')[0] for e in COMMANDS.values()}\n"
        "print(sorted(m for m in sys.modules if m in mods or m.split('.')[0] in "
        "('web', 'signing_api', 'ocsp', 'crl', 'ceremony_scripts', 'pyhanko', 'flask')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_no_function_is_longer_than_80_lines() -> None:
    # Issue 17 brought them from 12 to 0; a long function is where a module hides a second job.
    metrics = _code_metrics()
    assert metrics.long_functions(metrics._present()) == []
