"""Markdown for the report: numbers as the tables show them, their cells, the tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from bench.stats import Summary


def number(value: float | None, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def rate_cell(summary: Summary | None) -> str:
    if summary is None:
        return "-"
    if summary.runs == 1:
        return number(summary.requests_per_second)
    return (
        f"{number(summary.requests_per_second)} "
        f"({number(summary.rps_min)}-{number(summary.rps_max)})"
    )


def errors_cell(summary: Summary | None, kinds: Mapping[str, int] | None = None) -> str:
    """Total errors over the rounds, bold when not 0, with their kinds when known."""
    if summary is None:
        return "-"
    if summary.errors == 0:
        return "0"
    detail = ", ".join(f"{kind} {count:,}" for kind, count in (kinds or {}).items() if count)
    return f"**{summary.errors:,}**" + (f" ({detail})" if detail else "")


def table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> str:
    """A Markdown table; align: one letter per column, l or r (default: l, then r)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = [":---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
