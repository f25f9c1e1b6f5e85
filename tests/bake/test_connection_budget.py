"""The database's connection budget (hooks/sizing.py), for every combination of the
answers it depends on: the pools, what each deployment may open, what the db service
accepts, what the generated files say, and the start's own check adding up the same."""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
import types
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from conftest import Bake
from hooks import sizing
from hooks.answers import choices
from hooks.plan import Plan

# Every answer the budget depends on: workers (and whether they use the database),
# processes (auto, a few, 16), threads (one, fewer than the default's pool; the default).
BUDGET_ANSWERS = [
    {"database": database, "worker": worker, "processes": processes, "threads": threads}
    for database, worker, processes, threads in itertools.product(
        ("sqlite", "postgres"), choices("worker"), ("auto", "3", "16"), ("1", "32")
    )
]
# Baked and read: PostgreSQL with each worker, processes and threads, behind nginx
# (the deploy files) and, once, without.
BAKED_ANSWERS = [
    {**answers, "server": "nginx-uwsgi"}
    for answers in BUDGET_ANSWERS
    if answers["database"] == "postgres"
] + [
    {
        "database": "postgres",
        "worker": "rq",
        "processes": "auto",
        "threads": "16",
        "server": "standalone",
    }
]


def answers_id(answers: dict[str, Any]) -> str:
    return "-".join(str(value) for value in answers.values())


@pytest.mark.parametrize("answers", BUDGET_ANSWERS, ids=answers_id)
def test_each_deployment_opens_at_most_what_its_database_accepts(answers: dict[str, Any]) -> None:
    plan = Plan.defaults(**answers)
    threads, workers = int(answers["threads"]), plan.sql and plan.queue
    # DATABASE_POOL_SIZE's default, or a connection per thread when fewer.
    pool = min(threads, plan.database_pool_size)
    assert plan.pool_size == pool
    budgets = {
        # compose: one replica; auto counts a host of compose_cpus, a worker per CPU.
        "compose": (plan.compose_budget, 1, plan.processes or plan.compose_cpus, 1),
        # swarm: a start-first update adds a replica; workers update stop-first.
        "swarm": (plan.swarm_budget, plan.app_replicas + 1, plan.replica_workers, 2),
        # Kubernetes: the autoscaler's maximum and one; a worker's rolling update adds one.
        "kubernetes": (plan.kubernetes_budget, plan.app_max_replicas + 1, plan.replica_workers, 3),
    }
    for name, (budget, replicas, processes, worker_replicas) in budgets.items():
        assert (budget.app_replicas, budget.processes, budget.pool) == (
            replicas,
            processes,
            pool,
        ), name
        jobs = worker_replicas * plan.worker_concurrency * 2 if workers else 0
        assert budget.app == replicas * processes * pool, name
        assert budget.workers == jobs, name
        # Each replica's metrics exporter reads PostgreSQL's statistics on one of its own.
        assert budget.exporters == replicas, name
        assert budget.needed == budget.app + replicas + 2 + jobs, name
        # What the app's role may use, superusers' connections aside, holds it all.
        assert budget.max_connections - sizing.POSTGRES_SUPERUSER_RESERVED == budget.needed
    assert plan.postgres_max_connections == plan.compose_budget.max_connections


def test_the_bigger_host_of_the_issue_fits() -> None:
    """processes=16 with Flask-SQLAlchemy's default pool (5 + 10 per process) could open
    240 connections against PostgreSQL's 100; with the budget, 16 workers' pools of 2
    against the db service's max_connections (and the metrics exporter's one, the
    migrations' two, the superusers' three). auto counts 8 workers on 8 CPUs."""
    plan = Plan.defaults(database="postgres", processes="16")
    assert plan.compose_budget.app == 16 * 2
    assert plan.postgres_max_connections == 32 + 1 + 2 + 3
    assert Plan.defaults(database="postgres").postgres_max_connections == 8 * 2 + 1 + 2 + 3
    assert Plan.defaults(database="postgres", stats="false").postgres_max_connections == 21


def generated_budget(project: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The project's ops/connection_budget.py, imported as ops/migrate.py imports it."""
    ops = project / "ops"
    monkeypatch.syspath_prepend(str(ops))
    name = f"connection_budget_{abs(hash(project))}"
    spec = importlib.util.spec_from_file_location(name, ops / "connection_budget.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deployment_environ(plan: Plan, budget: sizing.ConnectionBudget) -> dict[str, str]:
    """The environment a deployment gives the app: its replicas, the workers' count
    (where the workers use the database), and uWSGI's processes as `auto` counts them."""
    environ = {"APP_REPLICAS": str(budget.app_replicas), "UWSGI_PROCESSES": str(budget.processes)}
    if plan.sql and plan.queue:
        environ["WORKER_REPLICAS"] = str(budget.worker_replicas)
    return environ


@pytest.mark.parametrize("answers", BAKED_ANSWERS, ids=answers_id)
def test_the_generated_files_carry_the_budget(
    bake: Bake, answers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = bake(**answers)
    plan = Plan.defaults(**answers)
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    assert compose["services"]["db"]["command"] == [
        "postgres",
        "-c",
        f"max_connections={plan.postgres_max_connections}",
    ]
    readme = (project / "README.md").read_text()
    assert f"their sum, {plan.postgres_max_connections} (`max_connections`" in readme
    if plan.nginx:
        stack = yaml.safe_load((project / "deploy/swarm/stack.yaml").read_text())
        environment = stack["services"]["app"]["environment"]
        assert environment["APP_REPLICAS"] == str(plan.swarm_budget.app_replicas)
        assert environment.get("WORKER_REPLICAS") == (
            str(plan.swarm_budget.worker_replicas) if plan.database_workers else None
        )
        [deployment, *_] = yaml.safe_load_all(
            (project / "deploy/kubernetes/app/app.yaml").read_text()
        )
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert env["APP_REPLICAS"] == str(plan.kubernetes_budget.app_replicas)
        for budget in (plan.swarm_budget, plan.kubernetes_budget):
            assert f"{budget.max_connections}" in readme
    # The start's check adds up what the plan does, for each deployment's environment.
    check = generated_budget(project, monkeypatch)
    budgets = [plan.compose_budget]
    if plan.nginx:
        budgets += [plan.swarm_budget, plan.kubernetes_budget]
    for budget in budgets:
        needed, parts = check.connections_needed(deployment_environ(plan, budget))
        assert needed == budget.needed, parts
    # UWSGI_THREADS counts as uWSGI runs it, when fewer than the pool; without either,
    # ops/uwsgi.ini's figures.
    needed, _ = check.connections_needed({"UWSGI_PROCESSES": "3", "UWSGI_THREADS": "1"})
    jobs = 2 * plan.worker_concurrency if plan.database_workers else 0
    assert needed == 3 * 1 + 1 + 2 + jobs
    needed, _ = check.connections_needed({"UWSGI_PROCESSES": "3"})
    assert needed == 3 * plan.pool_size + 1 + 2 + jobs
    # DATABASE_POOL_SIZE counts where it is fewer than the threads, as settings.py pools.
    for pool, per_worker in (("2", 2), ("3", 3), ("8", 3)):
        environ = {"UWSGI_PROCESSES": "2", "UWSGI_THREADS": "3", "DATABASE_POOL_SIZE": pool}
        needed, parts = check.connections_needed(environ)
        assert needed == 2 * per_worker + 1 + 2 + jobs, parts
        assert ("(DATABASE_POOL_SIZE)" in parts) == (per_worker < 3), parts
    if plan.processes is not None:
        assert check.uwsgi_processes({}) == plan.processes
    assert check.uwsgi_threads({}) == plan.threads


@pytest.mark.parametrize("processes", ["auto", "3"])
def test_the_ini_takes_processes_and_threads_from_the_environment(
    bake: Bake, processes: str
) -> None:
    """ops/uwsgi.ini sets processes and threads unless UWSGI_PROCESSES and UWSGI_THREADS
    do (uWSGI reads them as its options): each guarded by its own if-not-env."""
    ini = (bake(database="postgres", processes=processes) / "ops/uwsgi.ini").read_text()
    for option, variable in (("processes", "UWSGI_PROCESSES"), ("threads", "UWSGI_THREADS")):
        block = re.search(rf"^if-not-env = {variable}\n(.*?)^endif =$", ini, re.S | re.M)
        assert block is not None, variable
        assert re.findall(rf"^{option} = ", block[1], re.M) == [f"{option} = "]
        assert len(re.findall(rf"^{option} = ", ini, re.M)) == 1


def pooled_connections(settings: Path, uwsgi_cores: int | None, limit: str | None) -> int:
    """The pool a baked settings.py gives a process: a uWSGI worker of `uwsgi_cores`
    threads (uWSGI's own module, as its workers see it), or any other process (None),
    with DATABASE_POOL_SIZE set to `limit` (None: unset)."""
    spec = importlib.util.spec_from_file_location("baked_settings", settings)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    uwsgi = None if uwsgi_cores is None else types.SimpleNamespace(cores=uwsgi_cores)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "uwsgi", uwsgi)  # None: `import uwsgi` fails
        if limit is None:
            patch.delenv("DATABASE_POOL_SIZE", raising=False)
        else:
            patch.setenv("DATABASE_POOL_SIZE", limit)
        spec.loader.exec_module(module)
    return module.SQLALCHEMY_ENGINE_OPTIONS["pool_size"]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_database_pool_size_caps_a_workers_pool_and_a_wrong_one_stops_the_start(
    bake: Bake, database: str
) -> None:
    """A uWSGI worker pools DATABASE_POOL_SIZE connections (the plan's when unset), or
    one per thread when that is fewer; ops/migrate.py, outside uWSGI, still pools the two
    it needs. A value that is no number of connections fails the import (the start), in
    every process."""
    project = bake(database=database)
    settings = project / project.name / "settings.py"
    plan = Plan.defaults(database=database)
    assert pooled_connections(settings, 32, None) == plan.database_pool_size
    assert pooled_connections(settings, 1, None) == 1
    assert pooled_connections(settings, 32, "32") == 32
    assert pooled_connections(settings, 32, "3") == 3
    assert pooled_connections(settings, 4, "8") == 4
    assert pooled_connections(settings, None, "1") == 2
    for wrong in ("0", "-2", "two"):
        with pytest.raises(ValueError, match=f"DATABASE_POOL_SIZE='{wrong}': a number"):
            pooled_connections(settings, None, wrong)
