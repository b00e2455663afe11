"""The layering the README's Layout section states: nothing imports upward, no import cycle."""

import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("ppgan_tf", "trainers", "export", "benchmarks")


def _stated_layers():
    """{unit: level} from the README's numbered 'Layers' list, lowest first."""
    section = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().split("### Layers", 1)[1]
    section = section.split("\n#", 1)[0]
    levels = {}
    for level, line in enumerate(re.findall(r"^\d+\. (.*)$", section, re.M)):
        for unit in re.findall(r"`([\w.]+)`", line):
            levels[unit] = level
    return levels


def _modules(packages=PACKAGES):
    """{module name: path} of every Python module of the given folders."""
    modules = {}
    for package in packages:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                    modules[module.removesuffix(".__init__")] = path
    return modules


def _imports(path, modules):
    """The project modules a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` imports the module; `from module import name`, the module.
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name for name in submodules if name in modules] or [node.module]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def _unit(module, levels):
    """The longest stated unit that contains `module`."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in levels:
            return ".".join(parts[:end])
    raise AssertionError(f"{module} is in no layer of the README's Layers list")


def test_nothing_imports_upward():
    levels = _stated_layers()
    modules = _modules()
    upward = []
    for module, path in modules.items():
        unit = _unit(module, levels)
        for imported in _imports(path, modules):
            target = _unit(imported, levels)
            if levels[target] > levels[unit]:
                upward.append(f"{module} -> {imported}")
    assert not upward, "imports running up the layers: " + ", ".join(sorted(upward))


def _cycles(graph):
    """The nodes of a {node: set of nodes} graph that lie on a cycle."""

    def reaches(start, goal, seen):
        for node in graph.get(start, ()):
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                if reaches(node, goal, seen):
                    return True
        return False

    return sorted(node for node in graph if reaches(node, node, set()))


def test_no_import_cycle_between_modules_or_units():
    levels = _stated_layers()
    modules = _modules()
    module_graph = {module: _imports(path, modules) - {module} for module, path in modules.items()}
    unit_graph = {}
    for module, imported in module_graph.items():
        unit = _unit(module, levels)
        unit_graph.setdefault(unit, set()).update({_unit(m, levels) for m in imported} - {unit})
    assert not _cycles(module_graph), f"module import cycles through: {_cycles(module_graph)}"
    assert not _cycles(unit_graph), f"unit import cycles through: {_cycles(unit_graph)}"


def _defines_flags_on_import(path):
    """Whether a module defines absl flags in its body: an entry point, which no other module may import
    (two entry points in one process define the same flag twice and the second import fails)."""
    for node in ast.parse(open(path, encoding="utf-8").read()).body:
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr.startswith("DEFINE"):
            return True
    return False


def test_no_module_or_test_imports_an_entry_point():
    modules = _modules()
    entry_points = {module for module, path in modules.items() if _defines_flags_on_import(path)}
    assert {"trainers.train_ppgan", "export.package_model", "export.serving_client"} <= entry_points
    importers = _modules((*PACKAGES, "tests"))
    found = [f"{module} -> {imported}" for module, path in importers.items()
             for imported in _imports(path, modules) & entry_points if imported != module]
    assert not found, "entry points imported as libraries: " + ", ".join(sorted(found))


def test_the_layering_check_catches_an_upward_import(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from ppgan_tf.evaluation import evaluate\n")
    modules = {"ppgan_tf.evaluation.evaluate": ""}
    levels = _stated_layers()
    imported = _imports(str(source), modules)
    assert imported == {"ppgan_tf.evaluation.evaluate"}
    assert levels[_unit("ppgan_tf.evaluation.evaluate", levels)] > levels[_unit("ppgan_tf.training.run", levels)]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c"]
