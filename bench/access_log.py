"""The answers nginx logged during a run (its JSON access log, nginx/nginx.conf's
`log_format json`): under overload wrk's latencies mix the 200s with the fast 503s, and
nginx's log tells them apart. nginx's `$request_time` runs from the request's first
byte read to its answer's last byte sent, the time a client waits once connected."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench.stats import percentile

# nginx writes its access log in batches, at least every second (flush=1s): the last
# lines of a run reach its log this long after it.
FLUSH_WAIT_S = 2.0
# The percentile reported of the 200s' times.
P99 = 0.99


@dataclass(frozen=True)
class LoggedAnswer:
    """What the bench reads of one line of nginx's JSON access log."""

    time: datetime  # when nginx logged it, to the second
    method: str
    uri: str
    status: int
    request_time: float  # seconds


def logged_answer(line: str) -> LoggedAnswer | None:
    """One line of nginx's JSON access log, or None for a line that is not one whole:
    another program's, or one cut short."""
    try:
        entry = json.loads(line)
        return LoggedAnswer(
            datetime.fromisoformat(entry["time"]),
            entry["method"],
            entry["uri"],
            entry["status"],
            float(entry["request_time"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def request_times(log: str, path: str, status: int, start: datetime, end: datetime) -> list[float]:
    """nginx's request_time, in seconds, of each answer with `status` to GET `path`
    that ended between start and end (nginx's time, to the second, so the second each
    starts in counts whole). Lines that are not its JSON log lines are skipped."""
    first = start.replace(microsecond=0)
    last = end.replace(microsecond=0) + timedelta(seconds=1)
    answers = [logged_answer(line) for line in log.splitlines()]
    return [
        answer.request_time
        for answer in answers
        if answer is not None
        and (answer.method, answer.uri, answer.status) == ("GET", path, status)
        and first <= answer.time < last
    ]


def answered_notes(log: str, path: str, start: datetime, end: datetime) -> dict[str, float | int]:
    """A run's notes on its 200s as nginx logged them: how many, and their p99 in ms."""
    times = request_times(log, path, 200, start, end)
    p99 = percentile(times, P99)
    notes: dict[str, float | int] = {"logged_200": len(times)}
    if p99 is not None:
        notes["p99_ms_200"] = p99 * 1000
    return notes
