"""Bake each `worker` answer (with each database) and read what comes out, without
Docker: the files it needs and no others, the pins, .env, the compose file, the
worker's supervisor program."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path
from typing import Any

import pytest

# test_bake.py's checks, collected here again for these answers (they read `answers`).
from test_bake import (  # noqa: F401
    test_base_images_are_literal_and_replaced_through_named_contexts,
    test_compose_file_is_valid_and_publishes_only_the_front_door,
    test_dockerfiles_pass_hadolint,
    test_no_stray_blank_lines,
    test_no_template_syntax_left,
    test_python_is_ruff_clean,
    test_the_projects_own_tests_pass,
)
from test_kubernetes import container, kustomize, pod, validate

from baked import compose_config, stack_config
from helpers import ini_option, run, seconds
from hooks.plan import Plan

WORKER_FILES = [
    "ops/worker.conf",
    "ops/worker.py",
    "ops/worker_healthcheck.py",
    "flask_service/jobs.py",
    "tests/test_jobs.py",
]
PACKAGES = {"rq": {"rq", "redis"}, "celery": {"celery", "kombu", "redis"}}
WORKER_COMBINATIONS = [
    {"worker": "rq", "database": "none", "server": "nginx-uwsgi"},
    {"worker": "rq", "database": "postgres", "server": "nginx-http"},
    {"worker": "celery", "database": "sqlite", "server": "nginx-uwsgi"},
    {"worker": "celery", "database": "none", "server": "standalone"},
]


@pytest.fixture(
    params=WORKER_COMBINATIONS,
    ids=lambda answers: f"{answers['worker']}-{answers['database']}-{answers['server']}",
)
def answers(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.param


def pinned(path: Path) -> set[str]:
    return set(re.findall(r"^([a-z0-9_.-]+)==", path.read_text(), re.MULTILINE))


def test_the_worker_files_are_there_when_used(bake: Any) -> None:
    for worker in ("none", "rq", "celery"):
        project = bake(worker=worker)
        for relative in WORKER_FILES:
            assert (project / relative).is_file() == (worker != "none"), (worker, relative)
        assert (project / "flask_service/worker.py").is_file() == (worker == "celery")
        compose = (project / "compose.yaml").read_text()
        assert ("\n  worker:\n" in compose) == (worker != "none")
        assert ("\n  redis:\n" in compose) == (worker != "none")
        assert ("\n  beat:\n" in compose) == (worker == "celery")


@pytest.mark.parametrize("database", ["none", "sqlite", "postgres"])
def test_only_a_worker_project_pins_its_packages(bake: Any, database: str) -> None:
    plain = bake(database=database)
    for worker, packages in PACKAGES.items():
        project = bake(database=database, worker=worker)
        assert packages <= pinned(project / "requirements.txt")
        assert packages <= pinned(project / "requirements-dev.txt")
        # Everything else keeps the database answer's pins.
        assert pinned(plain / "requirements.txt") <= pinned(project / "requirements.txt")
        assert not packages & pinned(plain / "requirements.txt") - {"redis"}


def test_a_worker_project_gets_a_fresh_redis_password(bake: Any, bake_fresh: Any) -> None:
    passwords = []
    for bake_one in (bake, bake_fresh):
        env = (bake_one(worker="rq") / ".env").read_text()
        [password] = re.findall(r"^REDIS_PASSWORD=(\S+)$", env, re.MULTILINE)
        passwords.append(password)
    assert passwords[0] != passwords[1] and len(passwords[0]) >= 40


def test_the_compose_file_keeps_redis_to_itself(project: Path, plan: Plan) -> None:
    config = run(["docker", "compose", "config", "--format", "json"], cwd=project).stdout
    services = json.loads(config)["services"]
    redis = services["redis"]
    assert "ports" not in redis
    assert redis["read_only"] is True and redis["cap_drop"] == ["ALL"]
    assert redis["user"] == "redis"
    dockerfile = (project / "redis-server/Dockerfile").read_text()
    assert "--appendonly yes --appendfsync always" in dockerfile
    assert "requirepass" in dockerfile and "HEALTHCHECK" in dockerfile
    assert [volume["target"] for volume in redis["volumes"]] == ["/data"]
    worker = services["worker"]
    assert "ports" not in worker
    assert worker["read_only"] is True and worker["cap_drop"] == ["ALL"]
    # The same settings as the app: .env (env_file, merged in here) and the service's own.
    assert worker["environment"] == services["app"]["environment"]
    assert "/app/ops/worker.conf" in worker["command"]
    assert worker["healthcheck"]["test"][-1] == "ops/worker_healthcheck.py"
    # Nothing of the web waits for the worker.
    for name in ("app", "nginx"):
        assert "worker" not in services.get(name, {}).get("depends_on", {})


def test_the_worker_program_is_in_the_seeds_form(project: Path, plan: Plan) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(project / "ops/worker.conf")
    program = parser["program:worker"]
    assert program["autostart"] == "true"
    assert program["autorestart"] == "unexpected"
    assert program["startsecs"] == "3"
    assert program["startretries"] == "3"
    assert program["stopsignal"] == "TERM"
    assert int(program["stopwaitsecs"]) > plan.job_timeout_s
    assert parser["eventlistener:exit-on-fatal"]["events"] == "PROCESS_STATE_FATAL"


@pytest.mark.parametrize("worker", ["rq", "celery"])
def test_a_stopping_worker_has_time_for_its_longest_job(bake: Any, worker: str) -> None:
    """A job runs at most JOB_TIMEOUT_S; supervisord waits longer for it after SIGTERM
    (stopwaitsecs), and Docker, swarm and Kubernetes longer still before they kill the
    worker: the same stop grace period in compose.yaml, the stack and the Deployment."""
    project = bake(worker=worker)
    plan = Plan.defaults(worker=worker)
    settings = (project / "flask_service/settings.py").read_text()
    [timeout] = re.findall(r'^JOB_TIMEOUT_S = .*"JOB_TIMEOUT_S", "(\d+)"', settings, re.MULTILINE)
    stopwaitsecs = int(ini_option(project / "ops/worker.conf", "stopwaitsecs"))
    compose = seconds(compose_config(project)["worker"]["stop_grace_period"])
    swarm = seconds(stack_config(project)["services"]["worker"]["stop_grace_period"])
    objects = {(obj["kind"], obj["metadata"]["name"]): obj for obj in kustomize(project)}
    kubernetes = pod(objects, plan, "worker")["terminationGracePeriodSeconds"]
    assert int(timeout) < stopwaitsecs < compose == swarm == kubernetes


@pytest.mark.parametrize("worker", ["rq", "celery"])
def test_the_swarm_stack_runs_workers_and_redis(bake: Any, worker: str) -> None:
    """Workers with replicas and the app's settings and secrets, Redis with a volume and
    its password as a secret file; Celery beat as one replica."""
    plan = Plan.defaults(worker=worker, database="sqlite")
    config = stack_config(bake(worker=worker, database="sqlite"))
    services = config["services"]
    workers = services["worker"]
    assert workers["deploy"]["replicas"] == plan.worker_replicas >= 2
    assert workers["environment"] == services["app"]["environment"]
    assert workers["environment"]["REDIS_URL_FILE"] == "/run/secrets/redis_url"
    assert {secret["source"] for secret in workers["secrets"]} == {
        "settings",
        "secret_key",
        "redis_url",
    }
    assert "/app/instance" in {volume["target"] for volume in workers["volumes"]}
    redis = services["redis"]
    assert redis["deploy"]["replicas"] == 1
    # Reached without a virtual IP (IPVS), as the app is.
    assert redis["deploy"]["endpoint_mode"] == "dnsrr"
    assert {volume["target"]: volume.get("source") for volume in redis["volumes"]}["/data"] == (
        "redis-data"
    )
    assert redis["environment"]["REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password"
    assert "ports" not in redis and redis["read_only"] is True
    assert ("beat" in services) == (worker == "celery")
    if worker == "celery":
        assert services["beat"]["deploy"]["replicas"] == 1


@pytest.mark.parametrize(("worker", "database"), [("rq", "postgres"), ("celery", "none")])
def test_the_kubernetes_base_runs_workers_and_redis(bake: Any, worker: str, database: str) -> None:
    """The manifests validate; the workers are a Deployment with replicas, the app's
    secrets and REDIS_URL_FILE; Redis a StatefulSet with a volume claim, its password a
    Secret's file, reached through a Service; beat one pod that never overlaps."""
    project = bake(worker=worker, database=database)
    plan = Plan.defaults(worker=worker, database=database)
    objects = {(obj["kind"], obj["metadata"]["name"]): obj for obj in kustomize(project)}
    for obj in objects.values():
        validate(obj)
    workers = objects["Deployment", f"{plan.k8s_name}-worker"]
    assert workers["spec"]["replicas"] == plan.worker_replicas
    # A rollout replaces one worker at a time, the new one started first.
    assert workers["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    [worker_container] = pod(objects, plan, "worker")["containers"]
    env = {var["name"]: var.get("value") for var in worker_container["env"]}
    app_env = {var["name"]: var.get("value") for var in container(objects, plan, "app")["env"]}
    assert env["REDIS_URL_FILE"] == app_env["REDIS_URL_FILE"] == "/run/secrets/redis_url"
    assert ("DATABASE_URL_FILE" in env) == (database == "postgres")
    assert worker_container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "/app/ops/worker.conf" in worker_container["command"]
    redis = objects["StatefulSet", f"{plan.k8s_name}-redis"]
    assert redis["spec"]["replicas"] == 1
    [claim] = redis["spec"]["volumeClaimTemplates"]
    [redis_container] = redis["spec"]["template"]["spec"]["containers"]
    mounts = {mount["name"]: mount["mountPath"] for mount in redis_container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/data"
    assert redis_container["securityContext"]["readOnlyRootFilesystem"] is True
    assert ("Service", f"{plan.k8s_name}-redis") in objects
    if worker == "celery":
        beat = objects["Deployment", f"{plan.k8s_name}-beat"]
        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"]["type"] == "Recreate"
