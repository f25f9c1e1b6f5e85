"""A results document (results.json, as the bench writes it) and the lookups the report
and the chart make in it: rates, labels, image sizes, CPU time, errors."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from bench.configuration import PEER_BESIDE
from bench.markdown import errors_cell
from bench.stats import Run, Summary, rate_of, summarize

MB = 1_000_000  # as `docker image ls` counts

# The configurations the goals and the tables compare with.
DEFAULT = "nginx-uwsgi"
GUNICORN = "gunicorn-sync"
GRANIAN_NGINX = "granian-nginx"
GRANIAN_ALONE = "granian-alone"
NO_PROBES = "no-probes"
NGINX_CEILING = "ceiling-nginx"
RAW_CEILING = "ceiling-raw-wsgi"
NATIVE = "native"


class Results:
    """A results document, with the lookups the report needs."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.runs = [Run.from_json(run) for run in data.get("runs", [])]
        self.summaries: dict[str, Summary] = summarize(self.runs)
        self.configs: dict[str, dict[str, Any]] = {c["key"]: c for c in data.get("configs", [])}

    def rate(self, key: str) -> float | None:
        return rate_of(self.summaries, key)

    def label(self, key: str) -> str:
        return str(self.configs.get(key, {}).get("label", key))

    def in_section(self, section: str) -> list[str]:
        return [key for key, config in self.configs.items() if config["section"] == section]

    def image_size(self, build: str, service: str) -> int | None:
        images = self.data.get("images", {})
        build = PEER_BESIDE.get(build, {}).get(service, build)
        size = images.get(build, {}).get(service)
        return int(size) if size is not None else None

    def base_size(self, service: str) -> int | None:
        name = "NGINX_IMAGE" if service == "nginx" else "PYTHON_IMAGE"
        size = self.data.get("base_images", {}).get(name, {}).get("size")
        return int(size) if size is not None else None

    def above_base(self, build: str, service: str) -> float | None:
        size, base = self.image_size(build, service), self.base_size(service)
        if size is None or base is None:
            return None
        return (size - base) / MB

    def rebuild(self, build: str) -> float | None:
        value = self.data.get("rebuild_s", {}).get(build)
        return float(value) if value is not None else None

    def error_kinds(self, key: str) -> dict[str, int]:
        """Errors by kind (connect, read, write, timeout, non_2xx) over the rounds."""
        kinds: dict[str, int] = {}
        for run in self.runs:
            if run.config == key:
                for kind, count in run.notes.get("error_detail", {}).items():
                    kinds[kind] = kinds.get(kind, 0) + int(count)
        return kinds

    def statuses(self, key: str) -> dict[int, int]:
        """The answers by status over the rounds (configurations that count them)."""
        counted: dict[int, int] = {}
        for run in self.runs:
            if run.config == key:
                for status, count in run.notes.get("statuses", {}).items():
                    counted[int(status)] = counted.get(int(status), 0) + int(count)
        return counted

    def cpu_us(self, key: str) -> float | None:
        """Median CPU microseconds per request: the stack's own and Docker's daemons'."""
        values = [
            float(run.notes["cpu_us_stack"]) + float(run.notes.get("cpu_us_docker", 0.0))
            for run in self.runs
            if run.config == key and "cpu_us_stack" in run.notes
        ]
        return statistics.median(values) if values else None

    def cpu_cell(self, key: str) -> str:
        """'stack + docker' CPU microseconds per request (medians)."""
        parts = []
        for part in ("stack", "docker"):
            values = [
                float(run.notes[f"cpu_us_{part}"])
                for run in self.runs
                if run.config == key and f"cpu_us_{part}" in run.notes
            ]
            if values:
                parts.append(f"{statistics.median(values):,.0f}")
        return " + ".join(parts) if parts else "-"

    def errors(self, key: str) -> str:
        return errors_cell(self.summaries.get(key), self.error_kinds(key))

    def jobs(self, key: str) -> list[dict[str, Any]]:
        """The background jobs' figures of each run of a configuration (bench/jobs.py)."""
        return [run.notes["jobs"] for run in self.runs if run.config == key and "jobs" in run.notes]

    def median_note(self, key: str, name: str) -> float | None:
        values = sorted(
            float(run.notes[name]) for run in self.runs if run.config == key and name in run.notes
        )
        if not values:
            return None
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
