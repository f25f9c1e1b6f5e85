"""A project's CI workflow, its steps run for real in order: lint, its tests, the
images built, the stack started and answering, the pinned requirements audited."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import Bake
from helpers import SERVERS, VENV_BIN, free_port, run
from hooks.plan import Plan

PROJECT_WORKFLOW = ".github/workflows/ci.yml"
# What the project's CI step `make audit` prints where PyPI's JSON API does not answer
# (this machine's package index serves only the simple API pip installs from).
AUDIT_NEEDS_JSON_API = "Dependency not found on PyPI and could not be audited"


def workflow_steps(path: Path) -> list[dict[str, Any]]:
    """Every step of every job in a workflow file."""
    workflow = yaml.safe_load(path.read_text())
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def tool_env(**extra: str) -> dict[str, str]:
    """The environment with this virtualenv's tools (pre-commit, ruff, hadolint) first."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def git_repository(project: Path) -> None:
    """The project as its first commit would have it: pre-commit checks git's files."""
    run(["git", "init", "--quiet"], cwd=project)
    run(["git", "add", "--all"], cwd=project)


@pytest.mark.timeout(900)
# Both kinds of workflow: with nginx (and its shell script) and without.
@pytest.mark.parametrize("server", [SERVERS[0], "standalone"])
def test_project_ci_steps_pass_for_real(
    bake_fresh: Bake, base_images: dict[str, str], server: str
) -> None:
    """Each run: step of the project's workflow, in order, in a fresh project as the
    checkout would have it, as GitHub runs them (bash -e, -o pipefail) with the
    failure()/always() steps where GitHub would run them."""
    project = bake_fresh(server=server)
    (project / ".env").unlink()  # a checkout has none: the workflow writes its own
    git_repository(project)
    name = f"ci{time.time_ns()}"
    env = tool_env(
        COMPOSE_PROJECT_NAME=name,
        BIND_ADDRESS="127.0.0.1",
        HTTP_PORT=str(free_port()),
        **base_images,
    )
    env.pop("VIRTUAL_ENV", None)
    outcomes: dict[str, subprocess.CompletedProcess[str]] = {}
    failed = False
    try:
        for step in workflow_steps(project / PROJECT_WORKFLOW):
            if "run" not in step:
                continue
            condition = step.get("if", "success()")
            if (condition == "failure()" and not failed) or (condition == "success()" and failed):
                continue
            outcome = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            outcomes[step["name"]] = outcome
            if outcome.returncode != 0 and not step["run"].startswith("make audit"):
                failed = True
    finally:
        # Every profile's images too: the workflow builds Prometheus' (monitoring).
        down = ["docker", "compose", "--profile", "*", "down", "--volumes", "--rmi", "local"]
        run(down, cwd=project, env=env)

    report = "\n".join(
        f"--- {step}: exit {outcome.returncode}\n{outcome.stdout[-3000:]}{outcome.stderr[-3000:]}"
        for step, outcome in outcomes.items()
    )
    assert not failed, report
    plan = Plan.defaults(server=server)
    assert plan.answers["project_name"] in outcomes["A request through the front door"].stdout
    audit = outcomes["Audit the pinned requirements for known vulnerabilities"]
    # The audit passes, or fails only for want of PyPI's JSON API on this machine.
    assert audit.returncode == 0 or AUDIT_NEEDS_JSON_API in audit.stdout + audit.stderr, report
