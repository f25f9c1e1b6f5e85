"""The chart of a bench run: requests per second and p99 latency per configuration."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: write files only

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.configuration import SECTIONS
from bench.report import machine_line
from bench.results import GUNICORN, Results
from bench.stats import Summary

COLORS = {
    "main": "#1f77b4",
    "sweep": "#2ca02c",
    "sweep-io": "#17becf",
    "variant": "#ff7f0e",
    "native": "#9467bd",
    "notes": "#8c564b",
    "page": "#e377c2",
    "pages-16": "#7f7f7f",
    "sweep-notes": "#bcbd22",
    "sweep-page": "#aec7e8",
}
HIGHLIGHT = "#d62728"  # the default shape
# The legend's columns at most, and the height of one of its rows, inches.
LEGEND_COLUMNS = 3
LEGEND_ROW_IN = 0.22


def charted_keys(results: Results) -> list[str]:
    """The measured configurations of the charted sections, in report order."""
    return [
        key
        for key, config in results.configs.items()
        if key in results.summaries and config["section"] in COLORS
    ]


def rate_limit(keys: list[str], summaries: list[Summary]) -> float:
    """Where the req/s axis stops. nginx answering by itself is many times faster than
    anything with an app behind it: the axis stops short of it and its bar says how far
    it goes."""
    others = [s.rps_max for key, s in zip(keys, summaries, strict=True) if key != "ceiling-nginx"]
    rates = [summary.requests_per_second for summary in summaries]
    return max(others or rates) * 1.3


def whiskers(summaries: list[Summary], limit: float) -> list[list[float]]:
    """How far each bar's whisker goes below and above it (none on a clipped bar)."""
    rates = [summary.requests_per_second for summary in summaries]
    clipped = [rate > limit for rate in rates]
    low = [
        0.0 if cut else rate - s.rps_min
        for rate, s, cut in zip(rates, summaries, clipped, strict=True)
    ]
    high = [
        0.0 if cut else min(s.rps_max, limit) - rate
        for rate, s, cut in zip(rates, summaries, clipped, strict=True)
    ]
    return [low, high]


def label_rates(axis: Axes, positions: list[int], summaries: list[Summary], limit: float) -> None:
    """Each bar's rate beside it; inside a clipped bar's end, with an arrow."""
    for position, summary in zip(positions, summaries, strict=True):
        rate = summary.requests_per_second
        text = f" {rate:,.0f}" + (" (with errors)" if summary.errors > 0 else "")
        if rate > limit:
            axis.text(limit, position, f"{text} ->", va="center", ha="right", fontsize=7,
                      color="white", fontweight="bold")  # fmt: skip
        else:
            axis.text(min(summary.rps_max, limit), position, text, va="center", ha="left",
                      fontsize=7)  # fmt: skip


def draw_rates(
    axis: Axes,
    results: Results,
    positions: list[int],
    labels: list[str],
    colors: list[str],
    summaries: list[Summary],
    limit: float,
) -> None:
    """The left panel: median req/s, whiskers min-max, hatched when with errors."""
    rates = [summary.requests_per_second for summary in summaries]
    bars = axis.barh(
        positions,
        [min(rate, limit) for rate in rates],
        xerr=whiskers(summaries, limit),
        color=colors,
        capsize=2,
        ecolor="#444444",
    )
    for bar, summary in zip(bars, summaries, strict=True):
        if summary.errors > 0:
            bar.set_hatch("///")
            bar.set_edgecolor("#222222")
    label_rates(axis, positions, summaries, limit)
    gunicorn = results.rate(GUNICORN)
    if gunicorn:
        axis.axvline(gunicorn, color="#555555", linestyle="--", linewidth=1)
        axis.text(gunicorn, -0.9, " gunicorn sync", fontsize=7, color="#555555")
    axis.set_yticks(positions, labels, fontsize=7.5)
    axis.set_xlabel(
        "requests per second (median; whiskers: min-max over the rounds; hatched: with errors)"
    )
    axis.grid(axis="x", alpha=0.3)
    axis.set_xlim(0, limit)


def draw_latency(
    axis: Axes, positions: list[int], colors: list[str], summaries: list[Summary]
) -> None:
    """The right panel: median p99 latency."""
    axis.barh(positions, [summary.p99_ms for summary in summaries], color=colors)
    axis.set_xlabel("p99 latency, ms (median)")
    axis.grid(axis="x", alpha=0.3)


def add_legend(figure: Figure, results: Results, keys: list[str]) -> int:
    """A color per section charted, under the title; the legend's rows."""
    shown = [
        section
        for section in COLORS
        if any(results.configs[key]["section"] == section for key in keys)
    ]
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[section]) for section in shown]
    names = [SECTIONS[section] for section in shown]
    columns = min(len(names), LEGEND_COLUMNS)
    figure.legend(handles, names, fontsize=7, loc="upper right", ncols=columns, frameon=False,
                  bbox_to_anchor=(1, 0.995 - LEGEND_ROW_IN / figure.get_figheight()))  # fmt: skip
    return -(-len(names) // columns)


def add_title(figure: Figure, data: Mapping[str, Any]) -> None:
    settings = data.get("settings", {})
    figure.suptitle(
        f"flask-uwsgi: wrk, {settings.get('connections')} connections, "
        f"{settings.get('duration_s')} s x {settings.get('rounds')} rounds — {machine_line(data)}",
        fontsize=9,
        x=0.01,
        ha="left",
    )


def write_chart(data: Mapping[str, Any], path: Path) -> Path:
    """Horizontal bars of each measured configuration's median req/s (whiskers:
    min and max over the rounds) and its median p99 latency; a PNG at path."""
    results = Results(data)
    keys = charted_keys(results)
    if not keys:
        raise ValueError("no measured configuration to chart")
    summaries = [results.summaries[key] for key in keys]
    labels = [str(results.configs[key].get("short") or key) for key in keys]
    colors = [
        HIGHLIGHT if key == "nginx-uwsgi" else COLORS[results.configs[key]["section"]]
        for key in keys
    ]
    positions = list(range(len(keys)))[::-1]
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(15, 1.6 + 0.34 * len(keys)), sharey=True,
        gridspec_kw={"width_ratios": [3, 1.3]},
    )  # fmt: skip
    limit = rate_limit(keys, summaries)
    draw_rates(left, results, positions, labels, colors, summaries, limit)
    draw_latency(right, positions, colors, summaries)
    legend_rows = add_legend(figure, results, keys)
    add_title(figure, data)
    # Room at the top for the title and the legend under it.
    top = 1 - (legend_rows + 1.2) * LEGEND_ROW_IN / figure.get_figheight()
    figure.tight_layout(rect=(0, 0, 1, top))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
