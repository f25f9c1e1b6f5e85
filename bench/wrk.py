"""wrk, the load generator: its command line and the parsing of what it prints.

The bench runs `wrk --latency` and reads from its output: requests per second,
the 50th and 99th latency percentiles, the request count, socket errors and
non-2xx/3xx answers. Anything it cannot find is an error (a changed wrk output
must not turn into zeros in the table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# wrk's own units (format_time_us and format_binary/format_metric in its units.c).
TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
COUNT_UNITS = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}

NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
REQUESTS_PER_SECOND = re.compile(rf"^Requests/sec:\s+{NUMBER}([kMG]?)\s*$", re.MULTILINE)
PERCENTILE = re.compile(rf"^\s+(50|75|90|99)%\s+{NUMBER}(us|ms|s|m|h)\s*$", re.MULTILINE)
TOTAL = re.compile(rf"^\s+([0-9]+) requests in {NUMBER}(us|ms|s|m|h),", re.MULTILINE)
SOCKET_ERRORS = re.compile(
    r"^\s+Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)\s*$",
    re.MULTILINE,
)
NON_2XX = re.compile(r"^\s+Non-2xx or 3xx responses: ([0-9]+)\s*$", re.MULTILINE)
# The answers by status, as bench/apps/statuses.lua prints them when wrk runs it.
STATUS = re.compile(r"^status ([0-9]{3}) ([0-9]+)$", re.MULTILINE)
STATUSES_SCRIPT = Path(__file__).resolve().parent / "apps" / "statuses.lua"


class WrkOutputError(ValueError):
    """wrk's output lacks a figure the bench needs."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run, as wrk reported it."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    seconds: float
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    non_2xx: int = 0
    # The answers by status, when wrk ran bench/apps/statuses.lua; else empty.
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    @property
    def errors(self) -> int:
        """Every request that did not end in a 2xx or 3xx answer."""
        return self.socket_errors + self.non_2xx


def time_ms(value: str, unit: str) -> float:
    return float(value) * TIME_UNITS_MS[unit]


def parse(output: str) -> WrkResult:
    """The figures of one `wrk --latency` run from its standard output."""
    rate = REQUESTS_PER_SECOND.search(output)
    total = TOTAL.search(output)
    percentiles = {match[1]: time_ms(match[2], match[3]) for match in PERCENTILE.finditer(output)}
    missing = [
        name
        for name, found in (
            ("Requests/sec", rate),
            ("requests in", total),
            ("50% latency (run wrk with --latency)", "50" in percentiles),
            ("99% latency (run wrk with --latency)", "99" in percentiles),
        )
        if not found
    ]
    if missing or rate is None or total is None:
        raise WrkOutputError(f"wrk output without {', '.join(missing)}:\n{output}")
    socket = SOCKET_ERRORS.search(output)
    connect, read, write, timeout = (int(n) for n in socket.groups()) if socket else (0, 0, 0, 0)
    non_2xx = NON_2XX.search(output)
    return WrkResult(
        requests_per_second=float(rate[1]) * COUNT_UNITS[rate[2]],
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        requests=int(total[1]),
        seconds=time_ms(total[2], total[3]) / 1000,
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeouts=timeout,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        statuses={int(match[1]): int(match[2]) for match in STATUS.finditer(output)},
    )


def command(
    url: str,
    seconds: float,
    connections: int,
    threads: int,
    timeout_s: float,
    latency: bool = True,
    statuses: bool = False,
) -> list[str]:
    """The wrk command line for one run against url; with `statuses`, counting the
    answers by status (a Lua call per answer: wrk's own rate is lower with it)."""
    return [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        *(["--latency"] if latency else []),
        *([f"--script={STATUSES_SCRIPT}"] if statuses else []),
        url,
    ]
