"""The chart of a bench run: requests per second and p99 latency per configuration."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: write files only

import matplotlib.pyplot as plt

from bench.configuration import SECTIONS
from bench.report import machine_line
from bench.results import GUNICORN, Results

COLORS = {
    "main": "#1f77b4",
    "sweep": "#2ca02c",
    "sweep-io": "#17becf",
    "variant": "#ff7f0e",
    "native": "#9467bd",
}
HIGHLIGHT = "#d62728"  # the default shape


def write_chart(data: Mapping[str, Any], path: Path) -> Path:
    """Horizontal bars of each measured configuration's median req/s (whiskers:
    min and max over the rounds) and its median p99 latency; a PNG at path."""
    results = Results(data)
    keys = [
        key
        for key, config in results.configs.items()
        if key in results.summaries and config["section"] in COLORS
    ]
    if not keys:
        raise ValueError("no measured configuration to chart")
    summaries = [results.summaries[key] for key in keys]
    labels = [str(results.configs[key].get("short") or key) for key in keys]
    colors = [
        HIGHLIGHT if key == "nginx-uwsgi" else COLORS[results.configs[key]["section"]]
        for key in keys
    ]
    rates = [summary.requests_per_second for summary in summaries]
    positions = list(range(len(keys)))[::-1]

    height = 1.6 + 0.34 * len(keys)
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(15, height), sharey=True, gridspec_kw={"width_ratios": [3, 1.3]}
    )
    # nginx answering by itself is many times faster than anything with an app behind
    # it: the axis stops short of it and its bar says how far it goes.
    others = [s.rps_max for key, s in zip(keys, summaries, strict=True) if key != "ceiling-nginx"]
    limit = max(others or rates) * 1.3
    errors = [summary.errors > 0 for summary in summaries]
    clipped = [rate > limit for rate in rates]
    low = [
        0.0 if cut else rate - s.rps_min
        for rate, s, cut in zip(rates, summaries, clipped, strict=True)
    ]
    high = [
        0.0 if cut else min(s.rps_max, limit) - rate
        for rate, s, cut in zip(rates, summaries, clipped, strict=True)
    ]
    bars = left.barh(
        positions,
        [min(rate, limit) for rate in rates],
        xerr=[low, high],
        color=colors,
        capsize=2,
        ecolor="#444444",
    )
    for bar, failed in zip(bars, errors, strict=True):
        if failed:
            bar.set_hatch("///")
            bar.set_edgecolor("#222222")
    for position, rate, summary, failed in zip(positions, rates, summaries, errors, strict=True):
        text = f" {rate:,.0f}" + (" (with errors)" if failed else "")
        if rate > limit:
            left.text(limit, position, f"{text} ->", va="center", ha="right", fontsize=7,
                      color="white", fontweight="bold")  # fmt: skip
        else:
            left.text(min(summary.rps_max, limit), position, text, va="center", ha="left",
                      fontsize=7)  # fmt: skip
    gunicorn = results.rate(GUNICORN)
    if gunicorn:
        left.axvline(gunicorn, color="#555555", linestyle="--", linewidth=1)
        left.text(gunicorn, -0.9, " gunicorn sync", fontsize=7, color="#555555")
    left.set_yticks(positions, labels, fontsize=7.5)
    left.set_xlabel(
        "requests per second (median; whiskers: min-max over the rounds; hatched: with errors)"
    )
    left.grid(axis="x", alpha=0.3)
    left.set_xlim(0, limit)

    right.barh(positions, [summary.p99_ms for summary in summaries], color=colors)
    right.set_xlabel("p99 latency, ms (median)")
    right.grid(axis="x", alpha=0.3)

    handles = [
        plt.Rectangle((0, 0), 1, 1, color=color)
        for section, color in COLORS.items()
        if any(results.configs[key]["section"] == section for key in keys)
    ]
    names = [
        SECTIONS[section]
        for section in COLORS
        if any(results.configs[key]["section"] == section for key in keys)
    ]
    figure.legend(handles, names, fontsize=7, loc="upper right", ncols=len(names), frameon=False)
    settings = data.get("settings", {})
    figure.suptitle(
        f"flask-uwsgi: wrk, {settings.get('connections')} connections, "
        f"{settings.get('duration_s')} s x {settings.get('rounds')} rounds — {machine_line(data)}",
        fontsize=9,
        x=0.01,
        ha="left",
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
