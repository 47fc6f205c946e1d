"""The house: dlcourse's modules import down a declared order of layers, with no circle,
and each file of a run or tuning directory is named by exactly one module."""

import ast
import functools
import importlib.util
from pathlib import Path

import pytest

from helpers import ROOT

spec = importlib.util.spec_from_file_location("import_graph", ROOT / "tools" / "import_graph.py")
import_graph = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_graph)

PACKAGE = ROOT / "dlcourse"
# Lowest first. A module may import from its own layer and the ones before it.
LAYERS = [
    ["dlcourse.errors", "dlcourse.cache", "dlcourse.version", "dlcourse.safe_files", "dlcourse.terminal",
     "dlcourse.interrupts",
     "dlcourse.extras", "dlcourse.layers",
     "dlcourse.tensorflow_setup",
     "dlcourse.reference*"],
    ["dlcourse.config*"],
    ["dlcourse.data*"],
    ["dlcourse.model_file", "dlcourse.model_checks", "dlcourse.reports"],
    ["dlcourse.rundir", "dlcourse.tune_dir"],
    ["dlcourse.execution", "dlcourse.models", "dlcourse.callbacks", "dlcourse.tracking",
     "dlcourse.preflight", "dlcourse.prediction_inputs"],
    ["dlcourse.preparation", "dlcourse.backup", "dlcourse.distribution",
     "dlcourse.keras_multi_worker"],
    ["dlcourse.evaluation"],
    ["dlcourse.training", "dlcourse.prediction", "dlcourse.explanation",
     "dlcourse.comparison", "dlcourse.tuning_report", "dlcourse.lr_finder"],
    ["dlcourse.exporting", "dlcourse.serving*"],
    ["dlcourse.tuning"],
    ["dlcourse.api"],
    ["dlcourse", "dlcourse.cli", "dlcourse.__main__"],
]
RUN_FILE_MODULES = {"dlcourse.rundir", "dlcourse.tune_dir"}


def layer_of(module: str) -> int:
    for position, patterns in enumerate(LAYERS):
        for pattern in patterns:
            if module == pattern or pattern.endswith("*") and (
                module == pattern[:-1] or module.startswith(pattern[:-1] + ".")
            ):
                return position
    raise AssertionError(f"{module} has no layer in tests/test_layout.py; give it one")


def test_no_module_imports_one_that_imports_it_back():
    edges, _ = import_graph.graph(PACKAGE)
    assert import_graph.cyclic_edges(edges) == []


def test_every_import_goes_down_the_layers():
    found = import_graph.modules(PACKAGE)
    climbs = [
        f"{name} (layer {layer_of(name)}) imports {target} (layer {layer_of(target)})"
        for name, path in found.items()
        for target, _ in import_graph.imports(name, path, set(found))
        if layer_of(target) > layer_of(name)
    ]
    assert climbs == []


@functools.cache  # 37 names, each looked for in every module: parse each once
def string_constants(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def run_file_names() -> set[str]:
    """Every file and folder name the run and tuning directory modules define."""
    names = set()
    for module in RUN_FILE_MODULES:
        path = PACKAGE / f"{module.split('.')[-1]}.py"
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and \
                    isinstance(node.value.value, str) and node.targets[0].id.isupper():
                names.add(node.value.value)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                names |= {v.value for v in node.value.values if isinstance(v, ast.Constant)}
    return {name for name in names if "." in name or name in ("backup", "tensorboard")}


@pytest.mark.parametrize("name", sorted(run_file_names()))
def test_each_run_file_is_named_in_one_module(name):
    holders = [path.relative_to(ROOT).as_posix() for path in sorted(PACKAGE.rglob("*.py"))
               if name in string_constants(path)]
    assert len(holders) == 1, f"{name!r} is written out in {holders}"


def test_the_code_has_no_unused_import_or_undefined_name():
    """pyflakes over the package, the tests, the benchmarks and the tools: an import left
    behind by a move, or a name that only fails when its line runs, is caught here rather
    than by a user."""
    from pyflakes.api import checkRecursive
    from pyflakes.reporter import Reporter

    found = []

    class Collect(Reporter):
        def __init__(self):
            pass

        def flake(self, message):
            found.append(str(message))

        def syntaxError(self, filename, msg, lineno, offset, text):
            found.append(f"{filename}:{lineno}: {msg}")

        def unexpectedError(self, filename, msg):
            found.append(f"{filename}: {msg}")

    paths = [str(ROOT / folder) for folder in ("dlcourse", "tests", "benchmarks", "tools")]
    checkRecursive(paths, Collect())
    assert not found, "\n".join(found)
