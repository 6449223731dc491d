"""The headline latency numbers, named once, in the Rust core, and read from there.

The core's headline table (``rust/core/src/headline.rs``, exported as
`rfs_monitoring._core.LATENCIES`) names every latency a window's `_core.Headline` carries:
its attribute (``mean_ms``, ``p50_ms``, ...), the statistic and the two spellings of the
contract: the long names of `OperationMetrics` and `OperationStats`
(``p50_response_time_ms``) and the short names of `StepMetrics`, `TimeSeriesPoint`,
`OperationSummary` and the alert rules (``p50_ms``, ``avg_ms``). `LATENCIES` here is that
table; the records are filled from it, the alert rules and the Prometheus source read through
it, and ``tests/test_headline.py`` checks every record, the stub and `Latencies` against it.

Adding a quantile (p75, say) touches:

1. ``rust/core/src/headline.rs``: one row in ``with_latencies!`` (the core's field, the
   quantile every query computes, the bindings' ``Headline`` attribute and this table follow);
2. then, because the type checker needs them spelled, what ``tests/test_headline.py`` asks
   for, naming the file and the place: the property in ``_core.pyi``'s ``Headline``, the field
   in `OperationStats` (at the row's position, it is built positionally) and in
   `OperationMetrics` (with a default, after the design document's fields), and one more
   ``float`` in `Latencies`.

The short records (`StepMetrics`, `TimeSeriesPoint`, `OperationSummary`, the alert metrics)
list the contract's fixed subset and take a new latency only when the contract adds it.

>>> [latency.short for latency in LATENCIES if latency.short in {"avg_ms", "p50_ms", "max_ms"}]
['avg_ms', 'p50_ms', 'max_ms']
>>> LONG_NAME["p99_ms"], RANK["p99_ms"], RANK["avg_ms"]
('p99_response_time_ms', 0.99, None)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from rfs_monitoring import _core

__all__ = [
    "LATENCIES",
    "LONG_NAME",
    "RANK",
    "Latencies",
    "Latency",
    "latencies_of",
    "latency_fields",
    "latency_reader",
]


class Latency(NamedTuple):
    """One headline latency: its three spellings and its rank."""

    core: str
    """The attribute of the core's `Headline` (and `Summary`, `Brief`, `Point`)."""
    long: str
    """The field of `OperationMetrics` and `OperationStats`."""
    short: str
    """The field of `StepMetrics` and `TimeSeriesPoint`, and the alert rules' metric name."""
    rank: float | None
    """The rank it is the nearest-rank quantile of (0 for the minimum, 1 for the maximum),
    ``None`` for the mean."""


LATENCIES: tuple[Latency, ...] = tuple(
    Latency(row.field, row.long, row.short, row.rank) for row in _core.LATENCIES
)
"""Every headline latency, in the core's order (the order `OperationStats` lists them)."""

LONG_NAME: dict[str, str] = {latency.short: latency.long for latency in LATENCIES}
"""Short name (``p50_ms``) to long name (``p50_response_time_ms``)."""

RANK: dict[str, float | None] = {latency.short: latency.rank for latency in LATENCIES}
"""Short name to the rank it is the quantile of (``None`` for ``avg_ms``)."""

Latencies = tuple[float, float, float, float, float, float, float, float]
"""A headline's latencies in `LATENCIES` order (one ``float`` per row; a test checks it)."""

latencies_of: Callable[[Any], Latencies] = operator.attrgetter(
    *(latency.core for latency in LATENCIES)
)
"""A core headline's latencies as a tuple, in `LATENCIES` order (one C call)."""


def latency_fields(headline: Any, *, long: bool) -> dict[str, float]:
    """The latencies of a core headline under the long or short field names."""
    names = [latency.long if long else latency.short for latency in LATENCIES]
    return dict(zip(names, latencies_of(headline), strict=True))


def latency_reader(fields: Iterable[str], *, long: bool) -> Callable[[Any], tuple[float, ...]]:
    """A reader of the core latencies a record carries: ``fields`` are the record's field
    names; the reader returns, in `LATENCIES` order, the core headline's values for those that
    name a latency (long or short names), one C call per headline. A record whose latency
    fields follow `LATENCIES` order after its other fields is then built positionally."""
    wanted = set(fields)
    cores = [
        latency.core for latency in LATENCIES if (latency.long if long else latency.short) in wanted
    ]
    getter: Callable[[Any], Any] = operator.attrgetter(*cores)
    if len(cores) == 1:
        return lambda headline: (getter(headline),)
    reader: Callable[[Any], tuple[float, ...]] = getter
    return reader
