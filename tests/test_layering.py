"""Imports flow one way: data -> nets/losses -> models -> training -> evaluation -> report/sweep -> cli.

Every relative import in the package (module level or inside a function) is read with ``ast`` and must
point at the same part or a lower layer. A cycle (api -> training/loop -> evaluate -> api, as once) or a
lower layer reaching up (the Trainer importing evaluation) fails here, naming the file and the import.
"""
from __future__ import annotations

import ast
from pathlib import Path

import ganforge

LAYERS = [
    {"errors", "registry", "fileio", "allocator"},
    {"config", "runs", "logsinks", "metrics", "plots"},
    {"data"},
    {"nets", "losses", "features"},
    {"models"},
    {"training"},
    {"evaluation", "viz", "sampling", "toy"},
    {"experiments", "report", "sweep"},
    {"api"},
    {"cli", "__main__"},
]
RANK = {part: i for i, parts in enumerate(LAYERS) for part in parts}
ROOT = Path(ganforge.__file__).parent


def _imports(path: Path):
    """(line, imported part) for each relative import of ``path``, by the part of ganforge it reaches."""
    package = list(path.relative_to(ROOT).parts[:-1])  # what ``.`` means in this file
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.ImportFrom) and node.level):
            continue
        base = package[: len(package) - node.level + 1]
        target = base + (node.module.split(".") if node.module else [])
        if target:
            yield node.lineno, target[0]
            continue
        for alias in node.names:  # ``from .. import metrics``: the names are the parts (or __version__)
            if (ROOT / alias.name).is_dir() or (ROOT / f"{alias.name}.py").is_file():
                yield node.lineno, alias.name


def test_every_module_is_in_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert parts - set(RANK) == set()


def test_imports_only_reach_down():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("").parts
        if rel == ("__init__",):
            continue  # the package face re-exports the public API
        own = rel[0]
        for line, target in _imports(path):
            if target != own and RANK[target] > RANK[own]:
                upward.append(f"{path.relative_to(ROOT.parent)}:{line} ({own}) imports {target}")
    assert upward == []
