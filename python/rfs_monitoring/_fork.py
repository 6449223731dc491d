"""The package's one fork-hook registry.

Every module that must act around ``os.fork()`` (the Rust core's storage gate, the log writer,
the metrics sampler, the alert managers, the correlation-ID generator) registers here, and only
this module calls `os.register_at_fork`, once. The hooks run as the interpreter's own would:
``before`` hooks in reverse order of registration, the ``after`` hooks in order of registration.
A hook that raises is reported on stderr and does not keep the others from running.

>>> import rfs_monitoring.metrics
>>> "core" in hook_names()["before"]
True
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable

__all__ = ["hook_names", "on_fork"]

Hook = Callable[[], None]

_lock = threading.Lock()
_before: list[tuple[str, Hook]] = []
_after_in_parent: list[tuple[str, Hook]] = []
_after_in_child: list[tuple[str, Hook]] = []
_installed = False


def _run(hooks: list[tuple[str, Hook]]) -> None:
    for name, hook in hooks:
        try:
            hook()
        except Exception as exc:  # one broken hook must not skip the others
            with contextlib.suppress(Exception):  # no stderr to report on
                sys.stderr.write(f"rfs-monitoring: fork hook {name!r} failed: {exc!r}\n")


def _run_before() -> None:
    _run(list(reversed(_before)))


def _run_after_in_parent() -> None:
    _run(list(_after_in_parent))


def _run_after_in_child() -> None:
    _run(list(_after_in_child))


def on_fork(
    *,
    before: Hook | None = None,
    after_in_parent: Hook | None = None,
    after_in_child: Hook | None = None,
    name: str,
) -> None:
    """Run these hooks around every ``os.fork()`` of this process (``name`` identifies them in
    `hook_names` and in a failure report)."""
    global _installed
    with _lock:
        if before is not None:
            _before.append((name, before))
        if after_in_parent is not None:
            _after_in_parent.append((name, after_in_parent))
        if after_in_child is not None:
            _after_in_child.append((name, after_in_child))
        if not _installed and hasattr(os, "register_at_fork"):  # absent on Windows only
            os.register_at_fork(
                before=_run_before,
                after_in_parent=_run_after_in_parent,
                after_in_child=_run_after_in_child,
            )
            _installed = True


def hook_names() -> dict[str, list[str]]:
    """The registered hooks' names by moment, in registration order."""
    with _lock:
        return {
            "before": [name for name, _ in _before],
            "after_in_parent": [name for name, _ in _after_in_parent],
            "after_in_child": [name for name, _ in _after_in_child],
        }
