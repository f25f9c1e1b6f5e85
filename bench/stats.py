"""Runs, their medians, and the ratios the report gives.

A configuration is measured once per round; its figure is the median over the
rounds, so one run disturbed by another load on the machine moves it little.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Run:
    """One measured run of one configuration (one round)."""

    config: str
    round: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cold_start_s: float | None = None
    # Diagnostics: TIME_WAIT sockets left in the front's (and the app's) network
    # namespace, uWSGI workers counted after the run (cheaper mode), and so on.
    notes: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Run:
        return cls(**dict(data))


def median(values: Iterable[float]) -> float | None:
    """The median, or None when there is nothing to take it of."""
    found = list(values)
    return statistics.median(found) if found else None


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """The nearest-rank percentile (0.95: the smallest value at least 95% of them are at
    or below), or None when there is nothing to take it of."""
    found = sorted(values)
    if not found:
        return None
    return found[max(math.ceil(fraction * len(found)) - 1, 0)]


def ratio(value: float | None, reference: float | None) -> float | None:
    """value / reference, or None when either is missing (or the reference is 0)."""
    if value is None or not reference:
        return None
    return value / reference


@dataclass(frozen=True)
class Summary:
    """A configuration's figures over its rounds."""

    config: str
    runs: int
    requests_per_second: float
    rps_min: float
    rps_max: float
    p50_ms: float
    p99_ms: float
    errors: int
    cold_start_s: float | None

    @property
    def spread(self) -> float:
        """(max - min) / median of the rounds' rates: how noisy the figure is."""
        return (self.rps_max - self.rps_min) / self.requests_per_second


def summarize(runs: Sequence[Run]) -> dict[str, Summary]:
    """Each configuration's medians (rate, p50, p99, cold start) and total errors."""
    by_config: dict[str, list[Run]] = {}
    for run in runs:
        by_config.setdefault(run.config, []).append(run)
    summaries = {}
    for config, own in by_config.items():
        rates = [run.requests_per_second for run in own]
        summaries[config] = Summary(
            config=config,
            runs=len(own),
            requests_per_second=statistics.median(rates),
            rps_min=min(rates),
            rps_max=max(rates),
            p50_ms=statistics.median(run.p50_ms for run in own),
            p99_ms=statistics.median(run.p99_ms for run in own),
            errors=sum(run.errors for run in own),
            cold_start_s=median(run.cold_start_s for run in own if run.cold_start_s is not None),
        )
    return summaries


def rate_of(summaries: Mapping[str, Summary], config: str) -> float | None:
    summary = summaries.get(config)
    return summary.requests_per_second if summary else None


def rotated(items: Sequence[str], round_index: int) -> list[str]:
    """The order of round `round_index`: every round starts one further along, so no
    configuration always runs first (after a build) or right after the same one."""
    if not items:
        return []
    shift = round_index % len(items)
    return [*items[shift:], *items[:shift]]
