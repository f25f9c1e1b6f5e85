"""What a run writes: results.json, table.md and chart.png in its folder; after a full
run, the tracked copies (docs/bench/latest.md and latest.png, README.md's bench section)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.chart import charted_keys, write_chart
from bench.host import Log
from bench.projects import REPO_ROOT
from bench.report import render_markdown, render_readme_section, replace_readme_section
from bench.results import Results

DOCS = REPO_ROOT / "docs" / "bench"
README = REPO_ROOT / "README.md"


def write_outputs(data: dict[str, Any], folder: Path, docs: bool, log: Log) -> list[Path]:
    """results.json, table.md and chart.png in folder; with docs, the tracked copies."""
    written = []
    results_json = folder / "results.json"
    results_json.write_text(json.dumps(data, indent=2) + "\n")
    written.append(results_json)
    # A run of configurations none of the chart's sections has (--only overload-notes-2)
    # has its table alone.
    results = Results(data)
    has_load = any(run_.notes.get("load", True) for run_ in results.runs)
    charted = has_load and bool(charted_keys(results))
    if charted:
        written.append(write_chart(data, folder / "chart.png"))
    table = folder / "table.md"
    table.write_text(render_markdown(data, "chart.png"))
    written.append(table)
    if docs and charted:
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / "chart.png", DOCS / "latest.png")
        (DOCS / "latest.md").write_text(render_markdown(data, "latest.png"))
        written += [DOCS / "latest.md", DOCS / "latest.png"]
        section = render_readme_section(data, "docs/bench/latest.png", "docs/bench/latest.md")
        updated = replace_readme_section(README.read_text(), section)
        if updated is not None:
            README.write_text(updated)
            written.append(README)
        else:
            log("README.md has no <!-- bench:start --> / <!-- bench:end --> markers: left as is")
    return written


def rerender(path: Path) -> int:
    data = json.loads(path.read_text())
    folder = path.parent
    for written in write_outputs(data, folder, docs=False, log=print):
        print(written)
    return 0


def report_run(data: dict[str, Any], folder: Path, docs: bool, progress: Log) -> int:
    """Write the report of a finished run; the exit code: 1 when a configuration could
    not be measured (requests that failed are a finding, not a failure)."""
    written = write_outputs(data, folder, docs, progress) if data["runs"] else []
    progress(f"done in {data['elapsed_s'] / 60:.1f} minutes")
    for path in written:
        print(path)
    errors = {run_["config"] for run_ in data["runs"] if run_["errors"]}
    if errors:
        print(f"bench: requests failed in {', '.join(sorted(errors))}", file=sys.stderr)
    if data["failures"] or not data["runs"]:
        print(
            f"bench: {len(data['failures'])} configuration(s) could not be measured: "
            f"see {folder / 'bench.log'}",
            file=sys.stderr,
        )
        return 1
    return 0
