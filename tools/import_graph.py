"""The import graph of the dlcourse package, from its source: cycles, and imports made
inside functions (which is how a cycle is usually hidden).

    python tools/import_graph.py [PACKAGE_DIR]

Prints the number of modules, of import edges between them, of edges that are part of
a cycle (a module importing one that imports it back, directly or through others), and
of imports inside functions. tests/test_layout.py keeps the cycles at zero.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def modules(package: Path) -> dict[str, Path]:
    root = package.parent
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """(imported dlcourse module, whether the import is inside a function) pairs."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.extend((target, inside) for target in _resolve(alias.name, known))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1]
                                    + ([base] if base else []))
                for alias in child.names:
                    targets = _resolve(f"{base}.{alias.name}", known) or _resolve(base, known)
                    found.extend((target, inside) for target in targets)
            elif not isinstance(child, ast.If) or not _is_type_checking(child):
                visit(child, inside)

    visit(tree, False)
    return [(target, inside) for target, inside in found if target != name]


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _resolve(dotted: str, known: set[str]) -> list[str]:
    while dotted:
        if dotted in known:
            return [dotted]
        dotted = dotted.rpartition(".")[0]
    return []


def graph(package: Path) -> tuple[dict[str, set[str]], int]:
    found = modules(package)
    edges: dict[str, set[str]] = {name: set() for name in found}
    in_functions = 0
    for name, path in found.items():
        for target, inside in imports(name, path, set(found)):
            # A package's __init__ re-exports its modules; importing a module of a package
            # runs the __init__ first, which Python resolves, so that is no cycle of ours.
            if target == name.rpartition(".")[0] and not inside:
                continue
            edges[name].add(target)
            in_functions += inside
    return edges, in_functions


def cyclic_edges(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Edges inside a strongly connected component (Tarjan's algorithm)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []
    counter = [0]

    def strongconnect(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                strongconnect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in edges:
        if node not in index:
            strongconnect(node)
    member_of = {node: i for i, component in enumerate(components) for node in component}
    return sorted((a, b) for a, targets in edges.items() for b in targets
                  if member_of[a] == member_of[b])


def main(argv: list[str]) -> int:
    package = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "dlcourse"
    edges, in_functions = graph(package)
    cycles = cyclic_edges(edges)
    print(f"modules: {len(edges)}")
    print(f"import edges between them: {sum(len(t) for t in edges.values())}")
    print(f"edges in a cycle: {len(cycles)}")
    for a, b in cycles:
        print(f"  {a} -> {b}")
    print(f"imports of dlcourse modules inside functions: {in_functions}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
