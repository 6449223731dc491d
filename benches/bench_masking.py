"""Masking free text: the Rust core's linear-time rules against the old pure-Python masker.

Groups (compare the rows of a group):

- ``mask-eyJ``: ``"eyJ-" * n`` (a JWT prefix that never completes), where the old masker's
  backtracking was quadratic (8 KB 18 to 37 ms, 128 KB 2.4 to 7 s, 1 MB about 10 minutes);
  the old masker runs only on 8 KB here.
- ``mask-hostile``: random text built from the prefixes of every rule (quotes, ``password=``,
  ``Bearer``, digit groups, ``://``, ``a:b@``, PEM headers, token prefixes, random tokens).
  Goal: 1 MB in under 50 ms.
- ``mask-clean``: a short message holding no secret (the common case on the request path).

Run for real with::

    .venv/bin/python -m pytest benches/bench_masking.py --benchmark-enable --benchmark-only \
        -p no:cacheprovider
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Any

import pytest
from _python_masker import PythonTextMasker

from rfs_monitoring.masking import mask_text

KB = 1024
_old = PythonTextMasker()


def hostile(size: int, seed: int = 0) -> str:
    """Random text made of every rule's prefixes, ``size`` characters long."""
    rng = random.Random(seed)
    token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(40))
    pieces = [
        *("eyJ-", "eyJa.", "password=", "Bearer ", "4111-", "1 ", "a:b@", "://", "token: "),
        *("-----BEGIN PRIVATE KEY-----", "?key=", "AKIA", "ghp_", "xoxb-", '"', "'", "=", ":"),
        token,
    ]
    out: list[str] = []
    total = 0
    while total < size:
        piece = rng.choice(pieces)
        out.append(piece)
        total += len(piece)
    return "".join(out)[:size]


def _eyj(size: int) -> str:
    return ("eyJ-" * (size // 4 + 1))[:size]


def _run(benchmark: Any, masker: Callable[[str], str], text: str, group: str) -> None:
    benchmark.group = group
    benchmark.extra_info["bytes"] = len(text)
    benchmark.pedantic(masker, args=(text,), rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("size", [8 * KB, 128 * KB, 1024 * KB], ids=["8KB", "128KB", "1MB"])
def test_rust_eyj(benchmark: Any, size: int) -> None:
    _run(benchmark, mask_text, _eyj(size), "mask-eyJ")


def test_python_eyj_8kb(benchmark: Any) -> None:
    _run(benchmark, _old.mask_text, _eyj(8 * KB), "mask-eyJ")


@pytest.mark.parametrize("size", [8 * KB, 128 * KB, 1024 * KB], ids=["8KB", "128KB", "1MB"])
def test_rust_hostile(benchmark: Any, size: int) -> None:
    _run(benchmark, mask_text, hostile(size), "mask-hostile")


@pytest.mark.parametrize("size", [8 * KB, 128 * KB], ids=["8KB", "128KB"])
def test_python_hostile(benchmark: Any, size: int) -> None:
    _run(benchmark, _old.mask_text, hostile(size), "mask-hostile")


@pytest.mark.parametrize("masker", [mask_text, _old.mask_text], ids=["rust", "python"])
def test_clean_message(benchmark: Any, masker: Callable[[str], str]) -> None:
    benchmark.group = "mask-clean"
    text = "user 42 not found in region eu-west-1"
    assert masker(text) == text
    benchmark(masker, text)
