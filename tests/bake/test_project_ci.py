"""The checks a project runs on itself, and the template's own: the GitHub Actions
workflows (actionlint, actions pinned by commit), Dependabot's file (its schema), and
pre-commit's hooks on a fresh project."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import Bake
from helpers import SERVERS, TEMPLATE_ROOT, VENV_BIN, run
from hooks.answers import NGINX_SERVERS

PROJECT_WORKFLOW = ".github/workflows/ci.yml"
TEMPLATE_WORKFLOW = TEMPLATE_ROOT / ".github" / "workflows" / "test.yml"
# An action pinned by its full commit, the release it is in a comment.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def workflow_steps(path: Path) -> list[dict[str, Any]]:
    """Every step of every job in a workflow file."""
    workflow = yaml.safe_load(path.read_text())
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def tool_env(**extra: str) -> dict[str, str]:
    """The environment with this virtualenv's tools (pre-commit, ruff, hadolint) first."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def dependabot_folder(project: Path, folder: Path) -> str:
    """A folder as Dependabot names it: from the repository's root, "/" for the root."""
    relative = folder.relative_to(project).as_posix()
    return "/" if relative == "." else f"/{relative}"


def git_repository(project: Path) -> None:
    """The project as its first commit would have it: pre-commit checks git's files."""
    run(["git", "init", "--quiet"], cwd=project)
    run(["git", "add", "--all"], cwd=project)


@pytest.mark.parametrize(
    "answers",
    [{"server": server} for server in SERVERS]
    + [{"server": server, "https": True} for server in NGINX_SERVERS],
    ids=lambda answers: "-".join(["https"] * ("https" in answers) + [answers["server"]]),
)
def test_project_workflow_passes_actionlint(bake: Bake, answers: dict[str, object]) -> None:
    project = bake(**answers)
    # actionlint checks each run: script with shellcheck too, when it is on PATH.
    run([str(VENV_BIN / "actionlint"), PROJECT_WORKFLOW], cwd=project, env=tool_env())


def test_template_workflow_passes_actionlint_and_runs_ci_run() -> None:
    run([str(VENV_BIN / "actionlint"), str(TEMPLATE_WORKFLOW)], env=tool_env())
    scripts = [step["run"] for step in workflow_steps(TEMPLATE_WORKFLOW) if "run" in step]
    assert scripts[-1] == "bash .ci/run"


def test_actions_are_pinned_by_commit_the_same_everywhere(bake: Bake) -> None:
    workflows = [TEMPLATE_WORKFLOW, bake() / PROJECT_WORKFLOW]
    pins: dict[str, set[str]] = {}
    for workflow in workflows:
        for line in workflow.read_text().splitlines():
            if line.strip().startswith(("uses:", "- uses:")):
                uses = line.split("uses:", 1)[1].strip()
                assert PINNED.match(uses), f"{workflow.name}: {uses} is not pinned by commit"
                pins.setdefault(uses.split("@")[0], set()).add(uses)
    assert {"actions/checkout", "actions/setup-python"} <= pins.keys()
    assert all(len(versions) == 1 for versions in pins.values()), pins


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("database", ["none", "postgres"])
def test_dependabot_file_matches_its_schema_and_watches_every_pin(
    bake: Bake, server: str, database: str
) -> None:
    project = bake(server=server, database=database)
    config = project / ".github" / "dependabot.yml"
    check = [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.dependabot"]
    run([*check, str(config)])
    updates = yaml.safe_load(config.read_text())["updates"]
    assert {update["package-ecosystem"] for update in updates} == {
        "pip",
        "docker",
        "github-actions",
    }
    docker = next(update for update in updates if update["package-ecosystem"] == "docker")
    watched = set(docker.get("directories", [docker.get("directory")]))
    assert watched == {
        dependabot_folder(project, path.parent) for path in project.rglob("Dockerfile")
    }


@pytest.mark.parametrize("server", SERVERS)
def test_pre_commit_passes_on_a_fresh_project_and_catches_a_lint(
    bake_fresh: Bake, server: str
) -> None:
    project = bake_fresh(server=server)
    git_repository(project)
    pre_commit = str(VENV_BIN / "pre-commit")
    run([pre_commit, "validate-config"], cwd=project, env=tool_env())
    hooks = run([pre_commit, "run", "--all-files"], cwd=project, env=tool_env()).stdout
    expected = [
        "ruff check",
        "ruff format",
        "hadolint",
        *(["shellcheck"] if server != "standalone" else []),
    ]
    for hook in expected:
        assert re.search(rf"^{hook}\.+Passed$", hooks, re.MULTILINE), hooks

    with (project / "main.py").open("a") as main:
        main.write("import os\n")
    run(["git", "add", "main.py"], cwd=project)
    failed = subprocess.run(
        [pre_commit, "run", "--all-files"],
        cwd=project,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failed.returncode != 0
    assert re.search(r"^ruff check\.+Failed$", failed.stdout, re.MULTILINE), failed.stdout
    assert "main.py:" in failed.stdout
