"""The package's modules import only downwards: no module reaches back, not even inside a function."""

import ast
from pathlib import Path

import diffaug_lessons

PACKAGE = Path(diffaug_lessons.__file__).parent


def module_imports() -> dict[str, set[str]]:
    """{module: the package's modules it imports anywhere in its source (top level or inside functions)}."""
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    graph = {}
    for path in PACKAGE.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:  # from . import x, y
                    found.update(alias.name for alias in node.names if alias.name in modules)
        graph[path.stem] = found & modules - {path.stem}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A list of modules that import each other in a circle, or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [nxt])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_no_module_of_the_package_imports_in_a_circle():
    cycle = find_cycle(module_imports())
    assert cycle is None, "modules import each other in a circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_circle_and_accepts_a_ladder():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_graph_sees_the_lessons_layering():
    graph = module_imports()
    assert {"experiments", "lessons", "reference"} <= graph["evidence"]
    assert "evidence" not in graph["experiments"] | graph["lessons"] | graph["recipe"]
