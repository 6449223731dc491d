"""The headline latency numbers, named once from the core outward.

The Rust core computes them (`rfs_monitoring._core.Headline`: ``mean_ms``, ``p50_ms``, ...);
the contract spells them two ways: the long names of `OperationMetrics` and `OperationStats`
(``p50_response_time_ms``) and the short names of `StepMetrics`, `TimeSeriesPoint` and the alert
rules (``p50_ms``, ``avg_ms``). `LATENCIES` is the one table of the three spellings: the
records are filled from it, the alert rules read through it, and a test checks every record
against it, so adding a quantile is one row here (and one field in each record the contract
lists it in).

>>> [latency.short for latency in LATENCIES]
['avg_ms', 'min_ms', 'p50_ms', 'p90_ms', 'p95_ms', 'p99_ms', 'p999_ms', 'max_ms']
>>> LONG_NAME["p99_ms"]
'p99_response_time_ms'
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

__all__ = ["LATENCIES", "LONG_NAME", "Latencies", "Latency", "latencies_of", "latency_fields"]


class Latency(NamedTuple):
    """One headline latency in its three spellings."""

    core: str
    """The attribute of the core's `Headline` (and `Summary`, `Brief`)."""
    long: str
    """The field of `OperationMetrics` and `OperationStats`."""
    short: str
    """The field of `StepMetrics` and `TimeSeriesPoint`, and the alert rules' metric name."""


LATENCIES: tuple[Latency, ...] = (
    Latency("mean_ms", "avg_response_time_ms", "avg_ms"),
    Latency("min_ms", "min_response_time_ms", "min_ms"),
    Latency("p50_ms", "p50_response_time_ms", "p50_ms"),
    Latency("p90_ms", "p90_response_time_ms", "p90_ms"),
    Latency("p95_ms", "p95_response_time_ms", "p95_ms"),
    Latency("p99_ms", "p99_response_time_ms", "p99_ms"),
    Latency("p999_ms", "p999_response_time_ms", "p999_ms"),
    Latency("max_ms", "max_response_time_ms", "max_ms"),
)
"""Every headline latency, in the order `OperationStats` lists them."""

LONG_NAME: dict[str, str] = {latency.short: latency.long for latency in LATENCIES}
"""Short name (``p50_ms``) to long name (``p50_response_time_ms``)."""

Latencies = tuple[float, float, float, float, float, float, float, float]
"""A headline's latencies in `LATENCIES` order (one ``float`` per row; a test checks it)."""

latencies_of: Callable[[Any], Latencies] = operator.attrgetter(
    *(latency.core for latency in LATENCIES)
)
"""A core headline's latencies as a tuple, in `LATENCIES` order (one C call)."""


def latency_fields(
    headline: Any, *, long: bool, only: Iterable[str] | None = None
) -> dict[str, float]:
    """The latencies of a core headline under the long or short field names, limited to
    ``only`` (a record's field names) when given."""
    names = [latency.long if long else latency.short for latency in LATENCIES]
    values = latencies_of(headline)
    fields = dict(zip(names, values, strict=True))
    if only is None:
        return fields
    wanted = set(only)
    return {name: value for name, value in fields.items() if name in wanted}
