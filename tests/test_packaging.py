"""The extras match what their users need, are pinned for CI, and the README names them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]

NEEDED = {
    "testing": {"pytest", "pytest-asyncio", "pytest-benchmark", "hypothesis"},
    "server": {"uvicorn"},
    "demo": {"uvicorn"},
    "otel": {"opentelemetry-api", "opentelemetry-sdk"},
    "docs": {"mkdocs", "mkdocs-material", "mkdocstrings"},
}


def name_of(requirement: str) -> str:
    """The normalized distribution name of a requirement such as ``mkdocstrings[python]>=0.26``."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def pinned() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pins = (line.split("==") for line in lines if "==" in line and not line.startswith("#"))
    return {name_of(name): version for name, version in pins}


@pytest.mark.parametrize(("extra", "packages"), sorted(NEEDED.items()))
def test_each_extra_brings_what_its_users_need(extra: str, packages: set[str]) -> None:
    """`testing` brings the toolkit's test runners and generators, `server` uvicorn (as the older
    `demo` does), `otel` the OpenTelemetry API and SDK, `docs` the site's tooling."""
    assert packages <= {name_of(r) for r in EXTRAS[extra]}


@pytest.mark.parametrize("extra", sorted(NEEDED))
def test_every_extra_requirement_is_pinned_for_ci(extra: str) -> None:
    """CI installs with constraints.txt: each requirement of these extras has its pin there."""
    missing = {name_of(r) for r in EXTRAS[extra]} - set(pinned())
    assert not missing


@pytest.mark.parametrize("extra", ["testing", "server", "otel"])
def test_the_readme_install_section_names_each_extra(extra: str) -> None:
    """The README's install section shows the pip line for each extra a user picks."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme[readme.index("## Install") :]
    install = install[: install.index("\n## ", 1)]
    assert re.search(r"^pip install rfs-monitoring\s", install, re.MULTILINE)
    assert f'pip install "rfs-monitoring[{extra}]"' in install
    assert readme.index("## Install") < readme.index("## Quickstart")
