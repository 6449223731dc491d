"""The documentation site's sources: every page is in the nav, every README section it includes
exists, the guides' own Python examples run, and the API reference's docstring rewriting works.

`make docs` builds the site itself in strict mode; these checks are cheap enough for every run.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import inspect
import io
import json
import re
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from rfs_monitoring import ResultMetricsCollector, configure_logging, flush_logs
from rfs_monitoring.masking import configure_masking
from rfs_monitoring.result_logging import reset_log_levels
from rfs_monitoring.testing import FakeClock
from rfs_monitoring.tracing import set_tracer_provider

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
GUIDES = sorted((DOCS / "guides").glob("*.md"))
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.MULTILINE)


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)


def nav_pages() -> list[str]:
    """The pages named in mkdocs.yml's nav (``- Title: path.md`` lines)."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return re.findall(r"^\s*- [^:\n]+: (\S+\.md)$", nav, re.MULTILINE)


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    """A page missing from the nav is unreachable; a nav entry without its file breaks the
    build. (Strict mode catches both too; this says which page at once.)"""
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    listed = nav_pages()
    assert len(listed) == len(set(listed)), "a page is listed twice"
    assert set(listed) == pages
    guides = [p for p in listed if p.startswith("guides/")]
    assert {Path(p).stem for p in guides} >= {
        "quickstart", "logging", "metrics", "monitoring", "workers",
        "prometheus-opentelemetry", "result-libraries", "testing", "production",
    }  # fmt: skip


def test_included_readme_sections_exist() -> None:
    """Each ``--8<-- "README.md:name"`` a page includes has its start and end markers, in order,
    with content between them."""
    readme = README.read_text(encoding="utf-8")
    included = [m for p in DOCS.rglob("*.md") for m in SNIPPET.findall(p.read_text("utf-8"))]
    sections = [m.split(":", 1)[1] for m in included if m.startswith("README.md:")]
    assert {"install", "quickstart", "logging", "metrics", "testing"} <= set(sections)
    for name in sections:
        start = readme.index(f"<!-- --8<-- [start:{name}] -->")
        end = readme.index(f"<!-- --8<-- [end:{name}] -->")
        assert readme[start:end].count("\n") > 2, name
    for path in {m.split(":", 1)[0] for m in included}:
        assert (ROOT / path).is_file(), path


@pytest.fixture
def quiet_globals() -> Iterator[None]:
    """Undo what the README and guide examples configure globally."""
    yield
    flush_logs()
    configure_logging()
    reset_log_levels()
    configure_masking()
    set_tracer_provider(None)


def run_blocks(blocks: list[str], namespace: dict[str, Any], origin: str) -> None:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    for block in blocks:
        pending = eval(compile(block, origin, "exec", flags=flags), namespace)
        if pending is not None:
            asyncio.run(pending)


def call_test(fn: Callable[..., Any], fixtures: dict[str, Any]) -> None:
    """Call a test function a guide defines, with the plugin fixtures it names."""
    params = inspect.signature(fn).parameters
    unknown = set(params) - set(fixtures)
    assert not unknown, f"{fn.__name__} needs fixtures the docs test does not give: {unknown}"
    outcome = fn(**{name: fixtures[name] for name in params})
    if inspect.isawaitable(outcome):
        asyncio.run(outcome)  # type: ignore[arg-type]


@pytest.mark.parametrize("page", GUIDES, ids=lambda p: p.stem)
def test_guide_examples_run(
    page: Path, metrics_collector: ResultMetricsCollector, quiet_globals: None
) -> None:
    """A guide's own ```python blocks run in order after the README's (the guides continue the
    quickstart's app), and the test functions they define pass."""
    readme_module = types.ModuleType("readme")
    namespace = readme_module.__dict__
    with redirect_stdout(io.StringIO()):
        run_blocks(python_blocks(README.read_text("utf-8")), namespace, str(README))
        readme_alerts = namespace["alerts"]
        defined = set(namespace)
        try:
            run_blocks(python_blocks(page.read_text("utf-8")), namespace, str(page))
            clock = FakeClock()
            collector = ResultMetricsCollector(clock=clock, sample_resources=False)
            previous = ResultMetricsCollector.set_instance(collector)
            try:
                tests = [
                    v for k, v in namespace.items() if k.startswith("test_") and k not in defined
                ]
                for fn in tests:
                    call_test(fn, {"metrics_collector": collector, "fake_clock": clock})
            finally:
                ResultMetricsCollector.set_instance(previous)
                collector.close()
        finally:
            readme_alerts.stop()


def test_the_logging_guide_shows_real_entry_fields(quiet_globals: None) -> None:
    """Every key of the logging guide's sample entry is a key the logger writes."""
    from rfs_monitoring import Failure, log_result_operation

    text = (DOCS / "guides" / "logging.md").read_text("utf-8")
    sample = json.loads(re.findall(r"^```json\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)[0])
    out = io.StringIO()
    configure_logging(stream=out)

    @log_result_operation("docs_probe")
    def probe() -> Failure[str]:
        return Failure("no")

    probe()
    flush_logs()
    written = json.loads(out.getvalue().splitlines()[0])
    assert set(sample) <= set(written)
    assert (sample["result_type"], sample["level"]) == (written["result_type"], written["level"])


# -- the API reference's griffe extension ---------------------------------------------------


@pytest.fixture
def fences(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """docs/griffe_doctests.py, loaded by path; griffe is stubbed when the docs extra is not
    installed (the rewriting itself does not use it)."""
    if importlib.util.find_spec("griffe") is None:
        monkeypatch.setitem(sys.modules, "griffe", types.SimpleNamespace(Extension=object))
    spec = importlib.util.spec_from_file_location("griffe_doctests", DOCS / "griffe_doctests.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_doctest_examples_become_pycon_blocks(fences: types.ModuleType) -> None:
    """A run of ``>>>`` lines and their output, up to a blank line, is fenced (keeping its
    indentation); an already fenced block is left alone."""
    text = "Intro.\n\n>>> 1 + 1\n2\n\nAfter.\n\n  >>> x = 1\n\n```py\n>>> kept\n```"
    assert fences.fence_docstring(text).splitlines() == [
        "Intro.", "", "```pycon", ">>> 1 + 1", "2", "```", "", "After.", "",
        "  ```pycon", "  >>> x = 1", "  ```", "", "```py", ">>> kept", "```",
    ]  # fmt: skip


def test_literal_blocks_become_text_blocks(fences: types.ModuleType) -> None:
    """A paragraph ending in ``::`` ends in ``:``, and its indented block is fenced, dedented."""
    text = "The states::\n\n    a -> b\n      c\n\nNext."
    assert fences.fence_docstring(text).splitlines() == [
        "The states:", "", "```text", "a -> b", "  c", "```", "", "Next.",
    ]  # fmt: skip


def test_simple_tables_become_markdown_tables(fences: types.ModuleType) -> None:
    """reStructuredText simple tables, with or without a header row, become Markdown tables."""
    plain = "=====  =====\n``a``  one\n``b``  two\n=====  =====\n"
    assert fences.fence_docstring(plain).splitlines() == [
        "| | |", "|---|---|", "| ``a`` | one |", "| ``b`` | two |",
    ]  # fmt: skip
    headed = "====  ====\nname  what\n====  ====\nx     y\n====  ====\n\nend"
    assert fences.fence_docstring(headed).splitlines() == [
        "| name | what |", "|---|---|", "| x | y |", "", "end",
    ]  # fmt: skip
    lonely = "====  ====\nnot a table"
    assert fences.fence_docstring(lonely) == lonely


def test_the_extension_rewrites_loaded_docstrings(fences: types.ModuleType) -> None:
    """The griffe hooks rewrite an object's docstring and the package's own."""
    docstring = types.SimpleNamespace(value=">>> 1\n1")
    extension = fences.DoctestFences()
    extension.on_package(pkg=types.SimpleNamespace(docstring=docstring), loader=None)
    assert docstring.value == "```pycon\n>>> 1\n1\n```"
    extension.on_object(obj=types.SimpleNamespace(docstring=None), loader=None)
