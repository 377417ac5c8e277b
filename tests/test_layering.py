"""Package layering of ``ecg_pipeline``: a package imports only from itself or from lower levels, and no
module imports itself through others (no import circle between modules, even inside one package).

Every module under ``src/ecg_pipeline`` is parsed with :mod:`ast` (nothing is imported): absolute and
relative imports, at module level or inside functions and ``if TYPE_CHECKING`` blocks, all count (an
import deferred into a function hides a circle, it does not remove it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "ecg_pipeline"

#: The layers, lowest first, as data: package (dotted name) -> level. A module belongs to the
#: longest entry that is a prefix of its name; ``ecg_pipeline`` is the package ``__init__`` only.
LEVELS: dict[str, int] = {
    "ecg_pipeline": 0,
    "ecg_pipeline.errors": 0,
    "ecg_pipeline.runtime": 0,
    "ecg_pipeline.config": 0,
    "ecg_pipeline.run_context": 0,
    "ecg_pipeline.run_provenance": 0,
    "ecg_pipeline.versioned_store": 0,  # the versioned datasets' folder layout (zoo, reporting, prune read it)
    "ecg_pipeline.data": 1,
    "ecg_pipeline.models": 2,
    "ecg_pipeline.attacks": 3,
    "ecg_pipeline.evaluation": 4,
    "ecg_pipeline.verification": 3,  # certified bounds on models (imports models, errors); evaluation may import it
    "ecg_pipeline.defenses": 5,
    "ecg_pipeline.reporting": 6,
    "ecg_pipeline.prune": 6,  # a plain command (no Kedro): reads model metas and split fingerprints (defenses)
    "ecg_pipeline.datasets": 7,
    "ecg_pipeline.zoo": 7,  # the model zoo (plain command, no Kedro session): loads models through datasets
    "ecg_pipeline.own_model": 7,  # your own model judged (no Kedro): loads through datasets and zoo, judges with reporting
    "ecg_pipeline.pipelines": 8,
    "ecg_pipeline.hooks": 8,
    "ecg_pipeline.tracking": 8,
    "ecg_pipeline.config_loader": 8,
    "ecg_pipeline.settings": 8,
    "ecg_pipeline.pipeline_registry": 8,
    "ecg_pipeline.__main__": 8,
    "ecg_pipeline.cli": 8,
    "ecg_pipeline.runners": 9,  # the Dask runner: submits pipeline nodes, calls the session hooks (hooks, tracking)
}


def package_of(module: str) -> str | None:
    """The entry of :data:`LEVELS` that ``module`` belongs to (None: outside the table).

    ``ecg_pipeline`` itself covers only the package ``__init__`` and its dunder attributes
    (``from ecg_pipeline import __version__``), not every module below it.
    """
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        name = ".".join(parts[:n])
        if name in LEVELS:
            return name
    if module == ROOT or (len(parts) == 2 and parts[0] == ROOT and parts[1].startswith("__")):
        return ROOT
    return None


def imports_of(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str, str]]:
    """``(line, imported module, statement)`` for every import of an ``ecg_pipeline`` module in ``source``.

    ``from a.b import c`` counts as importing ``a.b.c`` (``c`` may be a submodule; the package of
    ``a.b.c`` is that of ``a.b`` when ``c`` is a plain name). Relative imports are resolved against
    ``module`` (``is_package``: ``module`` is a package's ``__init__``).
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = [f"{prefix}.{alias.name}" if alias.name != "*" else prefix for alias in node.names]
        else:
            continue
        text = " ".join(line.strip() for line in lines[node.lineno - 1 : node.end_lineno])
        for target in targets:
            if target == ROOT or target.startswith(ROOT + "."):
                out.append((node.lineno, target, text))
    return out


def violations(modules: dict[str, tuple[str, bool, str]]) -> list[str]:
    """Layering violations of ``modules``: dotted name -> (source, is_package, where).

    1. a module outside :data:`LEVELS`;
    2. an import of a package at a higher level;
    3. two different packages at the same level importing each other (each direction is listed);
    4. any other cycle between packages.
    """
    problems: list[str] = []
    edges: dict[tuple[str, str], list[str]] = {}
    for name, (source, is_package, where) in sorted(modules.items()):
        src_pkg = package_of(name)
        if src_pkg is None:
            problems.append(f"{where}: module {name} is in no package of the layering table LEVELS")
            continue
        for line, target, text in imports_of(source, name, is_package=is_package):
            dst_pkg = package_of(target)
            if dst_pkg is None:
                problems.append(f"{where}:{line}: {name} imports {target}, which is in no package of LEVELS: {text}")
                continue
            if dst_pkg == src_pkg:
                continue
            edge = f"{where}:{line}: {name} imports {target} ({text})"
            edges.setdefault((src_pkg, dst_pkg), []).append(edge)
            if LEVELS[dst_pkg] > LEVELS[src_pkg]:
                problems.append(
                    f"{where}:{line}: {name} (package {src_pkg}, level {LEVELS[src_pkg]}) imports {target} "
                    f"(package {dst_pkg}, level {LEVELS[dst_pkg]}, higher): {text}"
                )
    for (a, b), where in sorted(edges.items()):
        if a < b and (b, a) in edges and LEVELS[a] == LEVELS[b]:
            problems.append(
                f"packages {a} and {b} (both level {LEVELS[a]}) import each other: "
                + "; ".join(where + edges[(b, a)])
            )
    # any remaining cycle between packages (e.g. three packages of one level)
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(pkg: str) -> None:
        state[pkg] = 1
        stack.append(pkg)
        for nxt in sorted(graph.get(pkg, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                if len(cycle) > 3:  # two-package cycles are reported above
                    hops = "; ".join(edges[(cycle[i], cycle[i + 1])][0] for i in range(len(cycle) - 1))
                    problems.append(f"package cycle {' -> '.join(cycle)}: {hops}")
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[pkg] = 2

    for pkg in sorted(graph):
        if pkg not in state:
            visit(pkg)
    return problems


def module_cycles(modules: dict[str, tuple[str, bool, str]]) -> list[str]:
    """Import circles between the modules of ``modules`` (dotted name -> (source, is_package, where)), one
    problem per strongly connected group, naming one circle through it and each import on the way.

    An import resolves to the longest module it names (``from ecg_pipeline.models import logits_of`` is an edge
    to the package ``__init__`` ``ecg_pipeline.models``); importing a submodule is not counted as importing its
    parent package's ``__init__`` (Python runs that first, but it is not an edge of the code).
    """
    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    edges: dict[str, dict[str, str]] = {}  # module -> imported module -> the first import statement
    for name, (source, is_package, where) in sorted(modules.items()):
        for line, target, text in imports_of(source, name, is_package=is_package):
            dst = resolve(target)
            if dst is not None and dst != name:
                edges.setdefault(name, {}).setdefault(dst, f"{where}:{line}: {text}")
    # Tarjan's strongly connected components, iteratively (no recursion limit on deep chains)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, {}))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    problems = []
    for group in sorted(groups):
        members = set(group)
        # one circle through the group's first module: a shortest path back to it inside the group
        start, paths = group[0], {group[0]: [group[0]]}
        frontier, circle = [start], None
        while frontier and circle is None:
            nxt = []
            for node in frontier:
                for dst in sorted(edges.get(node, {})):
                    if dst == start:
                        circle = paths[node] + [start]
                        break
                    if dst in members and dst not in paths:
                        paths[dst] = paths[node] + [dst]
                        nxt.append(dst)
                if circle:
                    break
            frontier = nxt
        hops = "; ".join(edges[circle[i]][circle[i + 1]] for i in range(len(circle) - 1))
        problems.append(f"import circle {' -> '.join(circle)} (modules in it: {', '.join(group)}): {hops}")
    return problems


def source_modules(src: Path = SRC) -> dict[str, tuple[str, bool, str]]:
    out = {}
    for path in sorted((src / ROOT).rglob("*.py")):
        rel = path.relative_to(src).with_suffix("")
        is_package = rel.name == "__init__"
        name = ".".join(rel.parts[:-1] if is_package else rel.parts)
        out[name] = (path.read_text(encoding="utf-8"), is_package, str(path.relative_to(src.parent)))
    return out


def test_source_tree_is_found():
    modules = source_modules()
    assert "ecg_pipeline.errors" in modules and "ecg_pipeline.data.batches" in modules
    assert len(modules) > 50


def test_packages_import_only_downwards():
    problems = violations(source_modules())
    assert not problems, "layering violations:\n" + "\n".join(problems)


def test_no_import_circle_between_modules():
    problems = module_cycles(source_modules())
    assert not problems, "import circles:\n" + "\n".join(problems)


# --- the checker itself -----------------------------------------------------------------------


def _modules(*entries: tuple[str, str]) -> dict[str, tuple[str, bool, str]]:
    """Synthetic modules: ``(dotted name, source)``; a name ending in ``.__init__`` is a package."""
    out = {}
    for name, source in entries:
        is_package = name.endswith(".__init__")
        name = name.removesuffix(".__init__")
        out[name] = (source, is_package, f"src/{name.replace('.', '/')}{'/__init__' if is_package else ''}.py")
    return out


def test_checker_accepts_downward_imports():
    modules = _modules(
        ("ecg_pipeline.attacks.pgd", "from ecg_pipeline.models import logits_of\nfrom .base import margin\n"),
        ("ecg_pipeline.attacks.base", "from ecg_pipeline.errors import EcgDataError\nimport torch\n"),
        ("ecg_pipeline.defenses.trainer", "from ecg_pipeline.evaluation.metrics import classification_metrics\n"),
        ("ecg_pipeline.pipelines.training", "from ..defenses.trainer import train\n"),
        ("ecg_pipeline.models.__init__", "from . import ensemble\nfrom .forward import logits_of\nfrom ..data import batches\n"),
        # the shape models/ uses: the registry imports no module that imports it back, ``__init__`` imports both
        ("ecg_pipeline.models.registry", "from .mlp import MLP\n"),
        ("ecg_pipeline.models.mlp", "from torch import nn\n"),
        ("ecg_pipeline.models.ensemble", "from .registry import build_model, register_model\n"),
    )
    assert violations(modules) == []
    assert module_cycles(modules) == []


def test_checker_catches_an_upward_import_inside_a_function():
    modules = _modules(
        ("ecg_pipeline.data.balance", "import numpy as np\n\n\ndef f():\n    from ecg_pipeline.attacks.pgd import pgd\n    return pgd\n"),
    )
    (problem,) = violations(modules)
    assert "ecg_pipeline.data.balance" in problem and "ecg_pipeline.attacks.pgd" in problem
    assert ":5:" in problem and "from ecg_pipeline.attacks.pgd import pgd" in problem


@pytest.mark.parametrize(
    ("name", "source", "target"),
    [
        ("ecg_pipeline.evaluation.robustness", "from ..defenses.batches import Batches\n", "ecg_pipeline.defenses.batches"),
        ("ecg_pipeline.data.__init__", "from ..models import forward\n", "ecg_pipeline.models.forward"),
        ("ecg_pipeline.models.mlp", "from ecg_pipeline import attacks\n", "ecg_pipeline.attacks"),
        ("ecg_pipeline.errors", "import ecg_pipeline.data.labels as labels\n", "ecg_pipeline.data.labels"),
    ],
)
def test_checker_resolves_relative_and_package_imports(name, source, target):
    (problem,) = violations(_modules((name, source)))
    assert target in problem and source.strip() in problem


def test_checker_catches_same_level_packages_importing_each_other():
    modules = _modules(
        ("ecg_pipeline.hooks", "import ecg_pipeline.pipelines as package\n"),
        ("ecg_pipeline.pipelines.params", "from ecg_pipeline.hooks import MissingInputsHook\n"),
    )
    (problem,) = violations(modules)
    assert "ecg_pipeline.hooks" in problem and "ecg_pipeline.pipelines" in problem
    assert "import ecg_pipeline.pipelines as package" in problem and "from ecg_pipeline.hooks import" in problem


def test_checker_catches_a_module_outside_the_table(tmp_path):
    (tmp_path / ROOT / "extras").mkdir(parents=True)
    (tmp_path / ROOT / "__init__.py").write_text("")
    (tmp_path / ROOT / "extras" / "__init__.py").write_text("from ecg_pipeline.errors import EcgDataError\n")
    problems = violations(source_modules(tmp_path))
    assert len(problems) == 1 and "ecg_pipeline.extras" in problems[0]


def test_cycle_checker_catches_a_circle_hidden_in_a_function():
    modules = _modules(
        ("ecg_pipeline.models.__init__", "from .registry import build_model\n"),
        ("ecg_pipeline.models.registry", "from .ensemble import Ensemble\nfrom ecg_pipeline.errors import EcgDataError\n"),
        ("ecg_pipeline.models.ensemble", "import torch\n\n\ndef build():\n    from .registry import build_model\n"),
        ("ecg_pipeline.errors", "class EcgDataError(ValueError):\n    pass\n"),
    )
    (problem,) = module_cycles(modules)
    assert problem.startswith("import circle ecg_pipeline.models.ensemble -> ecg_pipeline.models.registry -> "
                              "ecg_pipeline.models.ensemble")
    assert "ensemble.py:5: from .registry import build_model" in problem
    assert "registry.py:1: from .ensemble import Ensemble" in problem


def test_cycle_checker_names_one_circle_per_group_of_three():
    modules = _modules(
        ("ecg_pipeline.data.a", "from .b import x\n"),
        ("ecg_pipeline.data.b", "from . import c\n"),
        ("ecg_pipeline.data.c", "import ecg_pipeline.data.a\n"),
    )
    (problem,) = module_cycles(modules)
    assert "ecg_pipeline.data.a -> ecg_pipeline.data.b -> ecg_pipeline.data.c -> ecg_pipeline.data.a" in problem
