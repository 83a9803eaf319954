"""Which of the package's modules a workflow script runs, read from the source (no import).

Each workflow script's modules are the inputs of its code record (rules/code.smk: their
``sha256sum``), which is an input of the script's rules (rules/common.smk ``code_of``): an
edit to one module of the package reruns exactly the jobs whose scripts import it, directly or
through other modules. Snakemake's own code trigger sees only the script file, not the package
under it.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

PACKAGE = "emotiontrack"
PACKAGE_DIR = Path(__file__).resolve().parent


def _module_file(name: str) -> Path | None:
    """``emotiontrack.x.y`` -> its source file (module or package __init__), None if not ours."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([PACKAGE, *parts])


@cache
def imported_names(path: Path, module: str | None = None) -> frozenset[str]:
    """Every module name ``path`` imports anywhere (also inside functions: lazy imports count),
    relative imports resolved against ``module`` (the file's own dotted name), ``from a import b``
    counted both as ``a`` and ``a.b`` (b may be a submodule)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (
        module
        if module and path.name == "__init__.py"
        else (module.rpartition(".")[0] if module else "")
    )
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base_name = ".".join(filter(None, [*base, node.module or ""]))
            else:
                base_name = node.module or ""
            names.add(base_name)
            names.update(f"{base_name}.{alias.name}" for alias in node.names)
    return frozenset(names)


@cache
def package_files(script: str | Path) -> tuple[str, ...]:
    """The package's source files that ``script`` runs: its ``emotiontrack`` imports, followed
    through the package (parents' ``__init__`` included), sorted absolute paths."""
    seen: dict[Path, None] = {}
    todo = [(Path(script), None)]
    while todo:
        path, module = todo.pop()
        for name in imported_names(path, module):
            parts = name.split(".")
            # a module's parent packages run too (their __init__)
            for i in range(1, len(parts) + 1):
                f = _module_file(".".join(parts[:i]))
                if f is not None and f not in seen:
                    seen[f] = None
                    todo.append((f, _module_name(f)))
    return tuple(sorted(str(f) for f in seen))


def external_imports(script: str | Path) -> set[str]:
    """Top-level names of the third-party modules that ``script`` and the package modules it runs
    import anywhere (standard library and the package itself left out)."""
    roots = set()
    for f in [Path(script), *map(Path, package_files(script))]:
        module = _module_name(f) if f.is_relative_to(PACKAGE_DIR) else None
        for name in imported_names(f, module):
            root = name.split(".")[0]
            if root and root != PACKAGE and root not in sys.stdlib_module_names:
                roots.add(root)
    return roots
