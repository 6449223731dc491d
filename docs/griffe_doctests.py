"""A griffe extension for the API reference: docstrings written for doctest read well as Markdown.

The package's docstrings are written for ``pytest --doctest-modules`` and ``help()``: examples are
bare ``>>>`` lines (Markdown would read them as nested quotes), literal blocks follow ``::`` and
a few tables are reStructuredText simple tables. In the text that mkdocstrings renders (the
source is untouched), this fences each run of example lines up to a blank line as a ``pycon``
block, each ``::`` literal block and each simple table as a text block.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_TABLE_BORDER = re.compile(r"\s*=+( +=+)+\s*")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _table_end(lines: list[str], start: int) -> int | None:
    """The closing border of the simple table opening at ``start`` (a header, if any, sits
    between the first two borders)."""
    borders = [j for j in range(start + 1, len(lines)) if _TABLE_BORDER.fullmatch(lines[j])]
    if not borders:
        return None
    if len(borders) > 1 and all(line.strip() for line in lines[borders[0] : borders[1]]):
        return borders[1]
    return borders[0]


def _markdown_table(table: list[str]) -> list[str]:
    """A reStructuredText simple table (its border lines included) as a Markdown table."""
    starts = [m.start() for m in re.finditer(r"=+", table[0])]

    def cells(line: str) -> str:
        bounds = [*starts[1:], None]
        return (
            "| " + " | ".join(line[a:b].strip() for a, b in zip(starts, bounds, strict=True)) + " |"
        )

    inner = [line for line in table[1:-1] if not _TABLE_BORDER.fullmatch(line)]
    has_header = sum(1 for line in table if _TABLE_BORDER.fullmatch(line)) == 3
    header = cells(inner[0]) if has_header else "|" + " |" * len(starts)
    body = inner[1:] if has_header else inner
    return [header, "|" + "---|" * len(starts), *(cells(line) for line in body)]


def fence_docstring(text: str) -> str:
    """Fence doctest examples, ``::`` literal blocks and simple tables in ``text``
    (``tests/test_docs.py`` shows each case)."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        pad = " " * _indent(line)
        if line.lstrip().startswith("```"):  # already fenced: copy up to the closing fence
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), i)
            out += lines[i : end + 1]
            i = end + 1
        elif line.lstrip().startswith(">>>"):
            end = i
            while end < len(lines) and lines[end].strip():
                end += 1
            out += [f"{pad}```pycon", *lines[i:end], f"{pad}```"]
            i = end
        elif _TABLE_BORDER.fullmatch(line) and (end := _table_end(lines, i)) is not None:
            out += _markdown_table(lines[i : end + 1])
            i = end + 1
        elif line.rstrip().endswith("::") and not line.strip().startswith(".."):
            start = i + 1
            while start < len(lines) and not lines[start].strip():
                start += 1
            end = start
            while end < len(lines) and (
                not lines[end].strip() or _indent(lines[end]) > _indent(line)
            ):
                end += 1
            while end > start and not lines[end - 1].strip():
                end -= 1
            out.append(line.rstrip()[:-1])
            if end > start:
                block = textwrap.dedent("\n".join(lines[start:end])).splitlines()
                out += ["", f"{pad}```text", *(pad + b if b else b for b in block), f"{pad}```"]
            i = end
        else:
            out.append(line)
            i += 1
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Rewrites every docstring with `fence_docstring` once the object tree is loaded."""

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_docstring(obj.docstring.value)

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        self.on_object(obj=pkg, loader=loader)
