"""Hooks run when the process is told to stop (SIGTERM), before the signal's own action.

Modules that hold data to write out (the shared metrics segments) register a hook here; the
SIGTERM handler in `rfs_monitoring.result_logging` runs them. The module imports nothing of
the package, so any module can use it without an import cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

_hooks: list[Callable[[], None]] = []
_logger = logging.getLogger("rfs_monitoring")


def register(hook: Callable[[], None]) -> None:
    """Run ``hook`` on SIGTERM (once, however often it is registered)."""
    if hook not in _hooks:
        _hooks.append(hook)


def run() -> None:
    """Run every hook; one that raises is logged and the others still run."""
    for hook in list(_hooks):
        try:
            hook()
        except Exception:
            _logger.exception("rfs-monitoring: a shutdown hook failed")
