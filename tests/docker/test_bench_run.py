"""`make bench` for real, short (--quick): every configuration built, started and
measured, its report and chart written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.configuration import DEFAULT_PROCESSES
from bench.report import (
    render_markdown,
)
from bench.stats import Run
from hooks.answers import TEMPLATE_ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- wrk output ------------------------------------------------------------------


# -- medians, ratios, order --------------------------------------------------------


def run(config: str, rate: float, round_: int = 0, **fields: Any) -> Run:
    values: dict[str, Any] = {"p50_ms": 10.0, "p99_ms": 50.0, "requests": 100, "errors": 0}
    values.update(fields)
    return Run(config=config, round=round_, requests_per_second=rate, **values)


# -- the report ------------------------------------------------------------------


# -- the configurations against the template ---------------------------------------


# -- a short real run ------------------------------------------------------------------


def test_quick_bench_run(tmp_path: Path) -> None:
    """`python -m bench --quick`: the default shape, the nginx ceiling, the native run,
    the template page of the default shape with PostgreSQL (its notes seeded) and its
    database page under overload, 1 s each; its report; and nothing of it left in
    Docker afterwards."""
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--results-dir", str(tmp_path)],
        cwd=TEMPLATE_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [folder] = [path for path in tmp_path.iterdir() if path.is_dir()]
    data = json.loads((folder / "results.json").read_text())
    measured = {run_["config"]: run_ for run_ in data["runs"]}
    assert sorted(measured) == [
        "ceiling-nginx",
        "native",
        "nginx-uwsgi",
        f"overload-notes-{DEFAULT_PROCESSES}",
        "page-nginx-uwsgi",
    ]
    for run_ in measured.values():
        assert run_["requests_per_second"] > 0, run_
        assert 0 < run_["p50_ms"] <= run_["p99_ms"], run_
    overload = measured.pop(f"overload-notes-{DEFAULT_PROCESSES}")
    for run_ in measured.values():
        assert run_["errors"] == 0, run_
    # Under overload a 200 or a 503, nothing else; the 200s' own times from nginx's log.
    statuses = overload["notes"]["statuses"]
    assert set(statuses) <= {"200", "503"} and statuses.get("200", 0) > 0, overload
    assert overload["notes"]["logged_200"] > 0, overload
    # Above wrk's p99 of every answer only as far as the fast 503s pull that one down.
    assert 0 < overload["notes"]["p99_ms_200"] <= overload["p99_ms"] + 1000, overload
    assert measured["nginx-uwsgi"]["cold_start_s"] > 0
    assert data["rebuild_s"]["default"] > 0
    assert data["images"]["default"]["app"] > data["base_images"]["PYTHON_IMAGE"]["size"]
    # Each container's CPU time, PostgreSQL's too.
    page = measured["page-nginx-uwsgi"]["notes"]
    assert min(page[f"cpu_us_service_{name}"] for name in ("nginx", "app", "db")) > 0, page
    table = (folder / "table.md").read_text()
    assert render_markdown(data, "chart.png") == table
    for line in (
        "## Goals",
        "| nginx-uwsgi (default)",
        "| ceiling: nginx",
        "## Docker against",
        "## Template page: GET /",
        "## Overload: the database page",
    ):
        assert line in table
    assert (folder / "chart.png").read_bytes().startswith(PNG_SIGNATURE)
    for path in result.stdout.splitlines()[-3:]:
        assert Path(path).is_file(), result.stdout
    # The run removed its containers, volumes, networks and images.
    run_id = data["run_id"]
    for command in (
        ["docker", "ps", "--all", "--quiet", "--filter", f"label=flask-uwsgi-bench={run_id}"],
        ["docker", "image", "ls", "--quiet", f"flask-uwsgi-bench/{run_id}-*"],
        ["docker", "volume", "ls", "--quiet", "--filter", f"name=flask-uwsgi-bench-{run_id}"],
        ["docker", "network", "ls", "--quiet", "--filter", f"name=flask-uwsgi-bench-{run_id}"],
    ):
        left = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        assert left.strip() == "", command
