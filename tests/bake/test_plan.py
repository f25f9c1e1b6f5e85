"""The plan says what it is: every name a template reads is one the plan declares (an
answer, a fact of cookiecutter.json, a value derived from them), a name it does not
have fails the bake, and answers given as text are read as their declared types."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import TEMPLATE_ROOT, VENV_BIN
from hooks import sizing
from hooks.answers import Answers, choices, template_context
from hooks.facts import Facts
from hooks.plan import Plan
from machine import images

PLAN_NAME = re.compile(r"\bplan\.([A-Za-z_][A-Za-z0-9_]*)")
# cookiecutter's own private variables: how to render, not facts of the product.
COOKIECUTTER_SETTINGS = {"_extensions", "_copy_without_render"}


def template_files() -> list[Path]:
    """The generated project's files as the template holds them, and the hooks."""
    folder = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}"
    files = [path for path in folder.rglob("*") if path.is_file()]
    return [*files, *(TEMPLATE_ROOT / "hooks").glob("*_project.py")]


def test_every_name_a_template_reads_is_declared() -> None:
    names = {
        (path.relative_to(TEMPLATE_ROOT).as_posix(), name)
        for path in template_files()
        for name in PLAN_NAME.findall(path.read_text())
    }
    assert len(names) > 100
    declared = {field.name for field in dataclasses.fields(Plan)}
    missing = [(path, name) for path, name in names if name not in declared | set(dir(Plan))]
    assert sorted(missing) == []


def test_the_facts_are_cookiecutter_jsons_private_variables() -> None:
    """Each private variable of cookiecutter.json is a declared fact, and each fact has
    its value there: no value the product does not read, none the plan lacks."""
    private = {key for key in template_context() if key.startswith("_")}
    private -= {key for key in private if key.startswith("__")} | COOKIECUTTER_SETTINGS
    facts = {f"_{field.name}" for field in dataclasses.fields(Facts)}
    assert sorted(private ^ facts) == []


def test_the_answers_are_the_questions() -> None:
    questions = {key for key in template_context() if not key.startswith("_")}
    assert {field.name for field in dataclasses.fields(Answers)} == questions


def test_answers_given_as_text_are_typed() -> None:
    plan = Plan.defaults(threads="4", http_port="9000", https="yes", stats="no", processes="3")
    assert (plan.threads, plan.http_port, plan.https, plan.stats) == (4, 9000, True, False)
    assert (plan.processes, Plan.defaults().processes) == (3, None)
    assert Plan.defaults(_database_pool_size="3").database_pool_size == 3


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"threads": "many"}, "threads: 'many' is not int"),
        ({"stats": "maybe"}, "stats: 'maybe' is not bool"),
        ({"_harakiri": "30s"}, "_harakiri: '30s' is not int"),
    ],
)
def test_an_answer_of_another_type_fails_by_its_name(answers: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Plan.defaults(**answers)


def test_a_missing_fact_fails_by_its_name() -> None:
    answers = {key: value for key, value in Plan.defaults().answers.items() if key != "_harakiri"}
    with pytest.raises(KeyError, match="_harakiri"):
        Plan.read(answers)


def test_a_name_the_plan_does_not_have_fails_the_bake(tmp_path: Path) -> None:
    """A template that asks the plan for a name it does not have (a typo) stops the
    bake with an error naming it, instead of rendering nothing."""
    template = tmp_path / "template"
    shutil.copytree(
        TEMPLATE_ROOT,
        template,
        ignore=shutil.ignore_patterns(".git", ".venv", "tests", "bench", "docs", "*_cache"),
    )
    typo = template / "{{cookiecutter.project_slug}}" / "typo.txt"
    typo.write_text("{%- set plan = cookiecutter | plan -%}\nharakiri = {{ plan.harakiri_s }}\n")
    output = tmp_path / "out"
    result = subprocess.run(
        [str(VENV_BIN / "cookiecutter"), "--no-input", "--output-dir", str(output), str(template)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "has no attribute 'harakiri_s'" in result.stdout + result.stderr, result


def test_the_images_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`python3 -m machine.images [PYTHON_VERSION]`, as machine/base-images.sh runs it."""
    assert images.main([]) == 0
    assert capsys.readouterr().out == "".join(
        f"{name}={ref}\n" for name, ref in Plan.defaults().base_images.items()
    )
    version = choices("python_version")[-1]
    assert images.main([version]) == 0
    assert f"PYTHON_IMAGE=python:{version}-slim\n" in capsys.readouterr().out
    assert images.main(["2.7"]) == 2
    assert "python_version: '2.7' is not one of" in capsys.readouterr().err
    assert images.main(["3.13", "3.12"]) == 2
    assert capsys.readouterr().err.startswith("usage: python3 -m machine.images")


@pytest.mark.parametrize("processes", ["auto", "1", "16"])
@pytest.mark.parametrize("threads", ["1", "32"])
def test_the_overload_fits_nginx_and_uwsgis_listen_queue(processes: str, threads: str) -> None:
    """At overload_factor x the requests compose's app serves at once, nginx holds every
    connection, and uWSGI's listen queue every one of them twice over: once more for
    those whose clients left, which keep their place until a thread takes them (a full
    queue: nginx's 502; its threads take from it only as they free); never shorter than
    uWSGI's own default."""
    plan = Plan.defaults(processes=processes, threads=threads)
    served = plan.compose_processes * plan.threads
    assert plan.listen >= 2 * plan.overload_factor * served
    assert plan.listen >= sizing.UWSGI_LISTEN
    assert plan.nginx_worker_connections >= 2 * plan.overload_factor * served


def test_auto_counts_a_worker_per_cpu_and_never_fewer_than_two() -> None:
    plan = Plan.defaults()
    assert [plan.auto_processes(cpus) for cpus in (1, 2, 3, 8)] == [2, 2, 3, 8]
    assert (plan.compose_processes, plan.replica_workers) == (plan.compose_cpus, 2)
