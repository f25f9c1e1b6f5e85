"""The answers nginx logged during a run (its JSON access log, nginx/nginx.conf's
`log_format json`): under overload wrk's latencies mix the 200s with the fast 503s, and
nginx's log tells them apart. nginx's `$request_time` runs from the request's first
byte read to its answer's last byte sent, the time a client waits once connected."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from bench.stats import percentile

# nginx writes its access log in batches, at least every second (flush=1s): the last
# lines of a run reach its log this long after it.
FLUSH_WAIT_S = 2.0
# The percentile reported of the 200s' times.
P99 = 0.99


def log_entry(line: str) -> dict[str, Any] | None:
    """One line of nginx's JSON access log, or None for a line that is not one whole:
    another program's, or one cut short."""
    try:
        entry = json.loads(line)
        datetime.fromisoformat(entry["time"])
        float(entry["request_time"])
    except (ValueError, KeyError, TypeError):
        return None
    return entry if isinstance(entry, dict) else None


def request_times(log: str, path: str, status: int, start: datetime, end: datetime) -> list[float]:
    """nginx's request_time, in seconds, of each answer with `status` to GET `path`
    that ended between start and end (nginx's time, to the second, so the second each
    starts in counts whole). Lines that are not its JSON log lines are skipped."""
    first = start.replace(microsecond=0)
    last = end.replace(microsecond=0) + timedelta(seconds=1)
    times = []
    for line in log.splitlines():
        entry = log_entry(line)
        if entry is None or entry.get("method") != "GET" or entry.get("uri") != path:
            continue
        if entry.get("status") != status:
            continue
        if not first <= datetime.fromisoformat(entry["time"]) < last:
            continue
        times.append(float(entry["request_time"]))
    return times


def answered_notes(log: str, path: str, start: datetime, end: datetime) -> dict[str, float | int]:
    """A run's notes on its 200s as nginx logged them: how many, and their p99 in ms."""
    times = request_times(log, path, 200, start, end)
    p99 = percentile(times, P99)
    notes: dict[str, float | int] = {"logged_200": len(times)}
    if p99 is not None:
        notes["p99_ms_200"] = p99 * 1000
    return notes
