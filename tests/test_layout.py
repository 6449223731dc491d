"""The package's layout (issue #13 §1): no import cycle among its modules, whatever the form of
the import; one fork-hook registry; nothing patched at import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rfs_monitoring
from rfs_monitoring import _fork

PACKAGE = Path(rfs_monitoring.__file__).parent
ROOT = "rfs_monitoring"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _target(name: str) -> str | None:
    """The package module ``name`` means (a name inside a module means that module)."""
    while name.startswith(ROOT):
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(source: str, module: str) -> set[str]:
    """Every package module that ``module``'s source imports: ``import``/``from`` statements at
    any depth (inside functions and ``TYPE_CHECKING`` blocks too), ``importlib.import_module``
    and ``__import__`` calls with a literal name, and ``sys.modules`` lookups by literal name."""
    package = (
        module if MODULES.get(module, Path()).name == "__init__.py" else module.rpartition(".")[0]
    )
    found: set[str] = set()

    def add(name: str) -> None:
        target = _target(name)
        if target is not None and target not in (module, ROOT):
            found.add(target)

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    add(first.value)
            if called == "get" and isinstance(func, ast.Attribute) and node.args:
                first = node.args[0]
                if _is_sys_modules(func.value) and isinstance(first, ast.Constant):
                    add(str(first.value))
        elif isinstance(node, ast.Subscript) and _is_sys_modules(node.value):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                add(key.value)
        elif (
            isinstance(node, ast.Compare)
            and any(_is_sys_modules(side) for side in node.comparators)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
        ):
            add(node.left.value)
    return found


def _is_sys_modules(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "modules"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    )


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules in order, the first repeated), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle is not None:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle is not None:
                return cycle
    return None


def package_graph() -> dict[str, set[str]]:
    return {
        name: imports_of(path.read_text(encoding="utf-8"), name) for name, path in MODULES.items()
    }


def test_no_import_cycle_among_the_package_modules() -> None:
    cycle = find_cycle(package_graph())
    assert cycle is None, " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("a_source", "b_source"),
    [
        ("import rfs_monitoring.b", "from rfs_monitoring import a"),
        ("def f():\n    from rfs_monitoring.b import x", "import rfs_monitoring.a"),
        (
            "import importlib\nimportlib.import_module('rfs_monitoring.b')",
            "import rfs_monitoring.a",
        ),
        ("import sys\nsys.modules.get('rfs_monitoring.b')", "from rfs_monitoring.a import y"),
        ("import sys\nsys.modules['rfs_monitoring.b']", "from . import a"),
        ("import sys\nif 'rfs_monitoring.b' in sys.modules: pass", "from .a import y"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import z",
            "import rfs_monitoring.a",
        ),
    ],
    ids=[
        "import",
        "in a function",
        "importlib",
        "sys.modules.get",
        "sys.modules[]",
        "in sys.modules",
        "TYPE_CHECKING",
    ],
)
def test_the_scan_sees_every_form_of_import(
    monkeypatch: pytest.MonkeyPatch, a_source: str, b_source: str
) -> None:
    fake = {f"{ROOT}.a": PACKAGE / "a.py", f"{ROOT}.b": PACKAGE / "b.py"}
    monkeypatch.setattr(sys.modules[__name__], "MODULES", {**MODULES, **fake})
    graph = {
        f"{ROOT}.a": imports_of(a_source, f"{ROOT}.a"),
        f"{ROOT}.b": imports_of(b_source, f"{ROOT}.b"),
    }
    assert find_cycle(graph) == [f"{ROOT}.a", f"{ROOT}.b", f"{ROOT}.a"]


def test_only_the_fork_registry_registers_fork_hooks() -> None:
    callers = [
        name
        for name, path in MODULES.items()
        if "register_at_fork" in path.read_text(encoding="utf-8") and name != f"{ROOT}._fork"
    ]
    assert callers == []


def test_the_fork_registry_holds_every_modules_hooks() -> None:
    import rfs_monitoring.alerts
    import rfs_monitoring.metrics
    import rfs_monitoring.result_logging  # noqa: F401

    names = _fork.hook_names()
    assert "core" in names["before"]
    assert "core" in names["after_in_parent"]
    assert {"core", "alerts", "correlation ids"} <= set(names["after_in_child"])


def test_a_failing_fork_hook_does_not_stop_the_others(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    _fork._run([("broken", broken), ("next", lambda: calls.append("next"))])
    assert calls == ["next"]
    assert "fork hook 'broken' failed" in capsys.readouterr().err


def test_nothing_is_patched_at_import() -> None:
    """Importing the web integration leaves FastAPI's `APIRoute` alone; the first
    `handle_result` installs the OpenAPI hook (once), before any route takes its endpoint."""
    code = """
from fastapi.routing import APIRoute
original = APIRoute.__init__
import rfs_monitoring.web as web, rfs_monitoring.dashboard_api
assert APIRoute.__init__ is original, "patched at import"
@web.handle_result
def endpoint() -> web.Result[int, web.APIError]:
    return web.Success(1)
hooked = APIRoute.__init__
assert hooked is not original and getattr(hooked, "_rfs_problem_hook", False)
@web.handle_result
def another() -> web.Result[int, web.APIError]:
    return web.Success(2)
assert APIRoute.__init__ is hooked, "installed twice"
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_the_raw_log_entry_is_built_in_one_place() -> None:
    """Only `_logging.entry._raw_entry` writes the 17-position tuple: no other module hands a
    tuple literal to the log sink."""
    builders = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "_emit"
                and node.args
                and isinstance(node.args[0], ast.Tuple)
            ):
                builders.append(name)
            if isinstance(node, ast.Tuple) and len(node.elts) == 17:
                builders.append(name)
    assert set(builders) <= {f"{ROOT}._logging.entry"}, builders
