"""The bench's own code (bench/, `make bench`): wrk output parsing on captured
output, medians and ratios, goals, the Markdown report and the chart; the
configurations' variants against a fresh bake."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bench import wrk
from bench.chart import write_chart
from bench.configs import configs, select
from bench.configuration import BAKED_ANSWERS, COMPOSE_FILE, DEFAULT_PLAN, MOUNTED_FILES
from bench.goals import goals
from bench.report import (
    README_END,
    README_START,
    render_markdown,
    render_readme_section,
    replace_readme_section,
)
from bench.results import Results
from bench.stats import Run, ratio, rotated, summarize
from bench.variants import Edit
from conftest import Bake
from helpers import template_file

WRK_OUTPUT = template_file("tests/data/wrk")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_THREADS = DEFAULT_PLAN.threads


# -- wrk output ------------------------------------------------------------------


def test_wrk_output_of_a_loaded_stack() -> None:
    result = wrk.parse((WRK_OUTPUT / "nginx-uwsgi.txt").read_text())
    assert result.requests_per_second == 4012.57
    assert result.p50_ms == pytest.approx(11.61)
    assert result.p99_ms == pytest.approx(127.37)
    assert (result.requests, result.seconds) == (20459, pytest.approx(5.10))
    assert result.errors == 0


def test_wrk_output_in_other_units() -> None:
    result = wrk.parse((WRK_OUTPUT / "ceiling-nginx.txt").read_text())
    assert result.requests_per_second == 37606.69
    assert result.p50_ms == pytest.approx(1.18)
    output = (WRK_OUTPUT / "nginx-uwsgi.txt").read_text()
    output = output.replace("50%   11.61ms", "50%  812.00us").replace(
        "99%  127.37ms", "99%    1.02s"
    )
    result = wrk.parse(output)
    assert result.p50_ms == pytest.approx(0.812)
    assert result.p99_ms == pytest.approx(1020)


def test_wrk_non_2xx_answers_are_errors() -> None:
    result = wrk.parse((WRK_OUTPUT / "not-found.txt").read_text())
    assert result.non_2xx == 989
    assert result.socket_errors == 0
    assert result.errors == 989


def test_wrk_socket_errors_are_errors() -> None:
    result = wrk.parse((WRK_OUTPUT / "closed.txt").read_text())
    assert result.read_errors == 12642
    assert result.errors == 12642
    assert result.requests_per_second == 0
    assert result.p99_ms == 0


def test_wrk_output_without_latency_is_refused() -> None:
    output = (WRK_OUTPUT / "nginx-uwsgi.txt").read_text()
    without = "\n".join(line for line in output.splitlines() if "%" not in line or "Stdev" in line)
    with pytest.raises(wrk.WrkOutputError, match="50% latency"):
        wrk.parse(without)
    with pytest.raises(wrk.WrkOutputError, match="Requests/sec"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_wrk_command() -> None:
    assert wrk.command("http://127.0.0.1:8080/", 5, 64, 2, 5) == [
        "wrk",
        "--threads=2",
        "--connections=64",
        "--duration=5s",
        "--timeout=5s",
        "--latency",
        "http://127.0.0.1:8080/",
    ]
    assert "--latency" not in wrk.command("http://x/", 1, 8, 1, 2, latency=False)


# -- medians, ratios, order --------------------------------------------------------


def run(config: str, rate: float, round_: int = 0, **fields: Any) -> Run:
    values: dict[str, Any] = {"p50_ms": 10.0, "p99_ms": 50.0, "requests": 100, "errors": 0}
    values.update(fields)
    return Run(config=config, round=round_, requests_per_second=rate, **values)


def test_summaries_are_medians_over_the_rounds() -> None:
    runs = [
        run("a", 3000, 0, p99_ms=90.0, cold_start_s=6.0),
        run("a", 1000, 1, p99_ms=10.0, cold_start_s=None),
        run("a", 2000, 2, p99_ms=30.0, errors=2, cold_start_s=4.0),
        run("b", 500, 0),
    ]
    summaries = summarize(runs)
    a = summaries["a"]
    assert (a.runs, a.requests_per_second, a.rps_min, a.rps_max) == (3, 2000, 1000, 3000)
    assert a.p99_ms == 30.0
    assert a.errors == 2
    assert a.cold_start_s == 5.0  # the median of the runs that timed it
    assert a.spread == 1.0
    assert summaries["b"].cold_start_s is None


def test_ratios_and_round_order() -> None:
    assert ratio(3000, 1000) == 3
    assert ratio(None, 1000) is None
    assert ratio(3000, None) is None
    assert ratio(3000, 0) is None
    assert rotated(["a", "b", "c"], 0) == ["a", "b", "c"]
    assert rotated(["a", "b", "c"], 1) == ["b", "c", "a"]
    assert rotated(["a", "b", "c"], 4) == ["b", "c", "a"]


# -- the report ------------------------------------------------------------------


def results_document(**rates: float) -> dict[str, Any]:
    """A results document as the bench writes it, with these median rates."""
    chosen = {config.key: config for config in configs()}
    runs = []
    for key, rate in rates.items():
        for round_ in range(3):
            cold = 4.0 + round_ if chosen[key].cold_start else None
            notes = {"cpu_us_stack": 2e6 / rate, "cpu_us_docker": 50.0}
            runs.append(
                run(
                    key, rate * (0.9 + 0.1 * round_), round_, cold_start_s=cold, notes=notes
                ).to_json()
            )
    return {
        "started": "2026-11-26T12:00:00+00:00",
        "elapsed_s": 700.0,
        "settings": {"duration_s": 5, "warmup_s": 1, "connections": 64, "threads": 2,
                     "timeout_s": 5, "rounds": 3, "set": "full"},
        "machine": {"cpu": "Test CPU", "cpus": 2, "kernel": "6.0", "memory_gb": "4"},
        "versions": {"docker": "20.10", "wrk": "4.1.0"},
        "configs": [
            {"key": key, "label": config.label, "section": config.section, "build": config.build,
             "baseline": config.baseline, "cold_start": config.cold_start, "load": config.load,
             "short": config.chart_label}
            for key, config in chosen.items()
            if key in rates
        ],
        "runs": runs,
        "images": {"default": {"app": 140_000_000, "nginx": 99_000_000},
                   "nginx-http": {"app": 139_000_000, "nginx": 99_000_000},
                   "peers": {"app": 130_000_000}},
        "base_images": {"PYTHON_IMAGE": {"name": "python:3.13-slim", "size": 117_000_000},
                        "NGINX_IMAGE": {"name": "nginx:stable-alpine", "size": 98_900_000}},
        "rebuild_s": {"default": 2.5, "nginx-http": 2.4, "peers": 3.0},
        "failures": [],
    }  # fmt: skip


FULL_RATES = {
    "nginx-uwsgi": 6000.0,
    "gunicorn-sync": 1500.0,
    "granian-nginx": 5000.0,
    "granian-alone": 6500.0,
    "ceiling-nginx": 30000.0,
    "ceiling-raw-wsgi": 8000.0,
    "sweep-2x1": 6200.0,
    "sweep-8x8": 5000.0,
    "io-default": 2900.0,
    "io-4x1": 190.0,
    "io-8x8": 3000.0,
    "no-probes": 6100.0,
    "native": 9000.0,
    "tcp": 5000.0,
}


def test_goals_met_and_missed() -> None:
    found = {goal.name: goal for goal in goals(Results(results_document(**FULL_RATES)))}
    vs_gunicorn = found["Default shape against gunicorn sync (4 workers) behind the same nginx"]
    assert (vs_gunicorn.measured, vs_gunicorn.met) == ("4.00x", True)
    sweep = found["Default shape against the best processes x threads, CPU-bound"]
    assert sweep.met is True and sweep.measured.startswith("97% of the best (2 processes")
    io = found["Default shape against the best processes x threads, I/O-bound"]
    assert io.met is True and io.measured.startswith("97% of the best (8 processes x 8 threads")
    behind_nginx = found["Default shape against granian (WSGI, 4 workers) behind the same nginx"]
    assert (behind_nginx.measured, behind_nginx.met) == ("1.20x", True)
    alone = found["Default shape against granian (WSGI, 4 workers) alone"]
    assert (alone.measured, alone.met) == ("0.92x", False)
    assert alone.note.startswith("short by 0.08x; CPU per request: 333 + 50 us against")
    probes = found["Health probes' cost (the default against no probes during the run)"]
    assert (probes.measured, probes.met) == ("2%", True)
    native = found["Default shape in Docker against the same processes natively"]
    assert (native.measured, native.met) == ("67%", True)
    raw = found["Flask under the default shape against the raw-WSGI ceiling"]
    assert (raw.measured, raw.met) == ("75%", True)
    image = found["App image above its base image"]
    assert (image.measured, image.met) == ("23.0 MB", True)
    cold = found["Cold start of the default shape (`up` to healthy)"]
    assert (cold.measured, cold.met) == ("5.0 s", False)
    assert cold.note == "0.0 s over"
    errors = "Errors (socket errors, non-2xx answers) of the shapes, alternatives, sweep, native"
    assert found[errors].met is True

    slower = goals(Results(results_document(**{**FULL_RATES, "nginx-uwsgi": 3000.0})))
    by_name = {goal.name: goal for goal in slower}
    missed = by_name["Default shape against gunicorn sync (4 workers) behind the same nginx"]
    assert (missed.met, missed.note) == (False, "short by 1.00x")
    assert by_name["Default shape against the best processes x threads, CPU-bound"].met is False
    probes = "Health probes' cost (the default against no probes during the run)"
    assert by_name[probes].met is False


def test_errors_goal_counts_the_compared_configurations() -> None:
    data = results_document(**FULL_RATES, standalone=2000.0, **{"burst-256": 9000.0})
    for run_ in data["runs"]:
        if run_["config"] in ("standalone", "burst-256"):
            run_["errors"] = 10
    found = {goal.name: goal for goal in goals(Results(data))}
    errors = found[
        "Errors (socket errors, non-2xx answers) of the shapes, alternatives, sweep, native"
    ]
    # burst-256 is a variant run to show errors; standalone is one of the shapes.
    assert (errors.measured, errors.met, errors.note) == ("30", False, "in standalone")


def test_goals_not_measured_in_a_partial_run() -> None:
    found = goals(Results(results_document(**{"nginx-uwsgi": 5000.0})))
    not_measured = [goal.name for goal in found if goal.met is None]
    assert "Default shape against gunicorn sync (4 workers) behind the same nginx" in not_measured
    assert "Default shape in Docker against the same processes natively" in not_measured


def test_markdown_report() -> None:
    markdown = render_markdown(results_document(**FULL_RATES), "chart.png")
    assert markdown.startswith("# flask-uwsgi benchmark\n")
    assert "![requests per second and p99 latency of each configuration](chart.png)" in markdown
    for heading in ("## Goals", "## Shapes, alternatives and ceilings", "## Machine", "## Method"):
        assert heading in markdown
    default_row = next(
        line for line in markdown.splitlines() if line.startswith("| nginx-uwsgi (default)")
    )
    cells = [cell.strip() for cell in default_row.strip("|").split("|")]
    # rate (min-max), x gunicorn, % of the nginx and raw-WSGI ceilings, p50, p99, errors,
    # CPU per request (stack + Docker), app image (+ above base), nginx image, cold start,
    # rebuild
    assert cells[1:] == [
        "6,000 (5,400-6,600)", "4.00x", "20%", "75%", "10.0", "50.0", "0", "333 + 50",
        "140 (+23)", "99 (+0)", "5.0", "2.5",
    ]  # fmt: skip
    assert f"| 4 processes x {DEFAULT_THREADS} threads: auto (default) |" in markdown
    assert "## Default shape: processes x threads, I/O-bound (GET /io: a 20 ms wait)" in markdown
    assert "Test CPU" in markdown


def test_readme_section_between_markers() -> None:
    data = results_document(**FULL_RATES)
    section = render_readme_section(data, "docs/bench/latest.png", "docs/bench/latest.md")
    assert "| Goal |" in section and "make bench" in section and "docs/bench/latest.md" in section
    readme = f"# Title\n\n{README_START}\nOLD-SECTION\n{README_END}\n\nmore\n"
    updated = replace_readme_section(readme, section)
    assert updated is not None
    assert (
        "OLD-SECTION" not in updated
        and section in updated
        and updated.endswith(f"{README_END}\n\nmore\n")
    )
    assert replace_readme_section("# no markers\n", section) is None


def test_chart_is_a_png(tmp_path: Path) -> None:
    path = write_chart(results_document(**FULL_RATES), tmp_path / "chart.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


# -- the configurations against the template ---------------------------------------


def test_every_variant_bakes_and_changes_what_it_varies(bake: Bake) -> None:
    """Each configuration's answers bake (the hooks take them) and change every file the
    bench takes from that bake, each one it knows where to put; the bench's own files
    it mounts exist. A template change that leaves such a file as it is fails here
    rather than in the middle of `make bench`."""
    for config in configs():
        for mount in config.mounts:
            assert mount.source.is_file() and mount.service in ("app", "nginx"), config.key
        if not config.answers:
            assert not config.varies, config.key
            continue
        assert config.varies, config.key
        base = bake(**BAKED_ANSWERS[config.build])
        variant = bake(**BAKED_ANSWERS[config.build], **config.answers)
        for relative in config.varies:
            assert relative in MOUNTED_FILES or relative == COMPOSE_FILE, (config.key, relative)
            assert (variant / relative).read_text() != (base / relative).read_text(), (
                config.key,
                relative,
            )


def test_every_edit_applies_to_its_builds_bake(bake: Bake) -> None:
    """Each edit (bench/variants.py) finds its text exactly once in the file its build's
    bake writes, a file the bench knows where to mount: a template change that moves
    that text fails here rather than in the middle of `make bench`."""
    edited = [config for config in configs() if config.edits]
    assert len(edited) >= 9
    for config in edited:
        assert not config.answers, config.key
        base = bake(**BAKED_ANSWERS[config.build])
        for edit in config.edits:
            assert edit.file in MOUNTED_FILES, (config.key, edit.file)
            text = (base / edit.file).read_text()
            assert edit.apply(text) != text, config.key


def test_an_edit_whose_text_is_gone_is_refused() -> None:
    with pytest.raises(ValueError, match="occurs 0 times, expected once"):
        Edit("ops/uwsgi.ini", "thunder-lock = true\n", "").apply("master = true\n")


def test_configuration_sets() -> None:
    every = configs()
    keys = [config.key for config in every]
    assert len(keys) == len(set(keys))
    # Each names a compose project: lowercase letters, digits, hyphens and underscores.
    assert [key for key in keys if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", key)] == []
    quick = [config.key for config in select(every, "quick", [], [])]
    assert quick == ["nginx-uwsgi", "ceiling-nginx", "native"]
    full = {config.key for config in select(every, "full", [], [])}
    required = {
        *("nginx-uwsgi", "nginx-http", "standalone", "gunicorn-sync", "gunicorn-gthread"),
        *("allinone", "ceiling-nginx", "ceiling-raw-wsgi", "native", "tcp", "uwsgi-log"),
        *("granian-nginx", "granian-alone", "io-default", "no-probes"),
    }
    assert required <= full
    assert [c.key for c in select(every, "full", ["tcp", "native"], ["native"])] == ["tcp"]
    with pytest.raises(SystemExit, match="unknown configuration"):
        select(every, "full", ["nope"], [])


# -- a short real run ------------------------------------------------------------------
