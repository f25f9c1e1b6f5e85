"""The baked project on Docker swarm, for real: `make swarm-images swarm-deploy`, three
app replicas behind nginx, requests spread over them, a rolling update to a new image
under a steady load with no failed request, a killed replica replaced by the swarm, .env
given to the app's replicas (and nothing of it to nginx) as a secret whose name follows its
content, so that a changed .env rolls the app out. The stack has RQ workers and Redis
(worker=rq): a rollout of the app and the workers to a new image, while jobs are queued
through nginx, loses none of the jobs the app acknowledged. nginx's image holds the static
files, tagged by its ID: a release of new code leaves nginx running, one with a changed
stylesheet rolls it out too, after which nginx answers the new stylesheet.

RQ rather than Celery: its guarantee is the weaker one. A job whose worker is gone
before it ends (killed after the stop grace period, or stopped between taking a job
and starting it) runs again only while the job has retries left, given when it was
queued (the example's Retry(max=2)), and fails otherwise; Celery's task_acks_late keeps
every unacknowledged message in Redis, which hands it out again whatever the task.

Traffic stays inside the stack (tests/swarm.py: a load or a stream of jobs from a
container on the stack's network).

The test makes this engine a one-node swarm (on 127.0.0.1) only when it is in none, and
then leaves it again; it removes the stack, its secrets, its load containers and the
images it built, also when it fails."""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from baked import settings_file
from conftest import Bake
from helpers import json_lines, wait_until
from hooks.plan import Plan
from migrations import (
    SLOW_MIGRATION,
    SLOW_MIGRATION_SECONDS,
    lock_turns,
    seconds_from,
    slow_migration_runs,
)
from stack import docker_client, write_env
from swarm import (
    CLIENTS,
    GREETING,
    JOB_SECONDS,
    NEW_DESCRIPTION,
    NEW_GREETING,
    SUPERVISED,
    SwarmStack,
    env_hash,
    jobs_finished_after_stop,
    program,
    remove_network,
    remove_stack,
    slow_jobs,
    stack_without_published_port,
)

# Swarm mode turned on and off breaks name lookups in other stacks' running containers
# (moby/moby#45144): no other Docker module runs meanwhile (conftest.py's engine_share).
ENGINE_ALONE = True


@pytest.fixture(scope="module")
def swarm() -> Iterator[docker.DockerClient]:
    """This engine as a swarm manager: as it is, or a one-node swarm made for the test
    and left afterwards, with the bridge network swarm made for it."""
    client = docker_client()
    info = client.info()["Swarm"]
    if info["LocalNodeState"] == "active":
        assert info["ControlAvailable"], "this engine is a swarm worker: deploying needs a manager"
        yield client
        return
    assert info["LocalNodeState"] == "inactive", f"swarm state: {info['LocalNodeState']}"
    networks_before = {network.name for network in client.networks.list()}
    client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
    try:
        yield client
    finally:
        client.swarm.leave(force=True)
        if "docker_gwbridge" not in networks_before:
            with contextlib.suppress(docker.errors.NotFound):
                wait_until(lambda: remove_network(client, "docker_gwbridge"), 30, step=1)


@pytest.fixture(scope="module")
def deployed(
    swarm: docker.DockerClient, bake_session_copy: Bake, base_images: dict[str, str]
) -> Iterator[SwarmStack]:
    """The default shape (nginx-uwsgi, on TCP in the stack) with RQ workers, with a
    GREETING in .env and jobs of JOB_SECONDS, built and deployed at version 1 and waited
    for until healthy; everything removed on the way out."""
    project = bake_session_copy(worker="rq")
    stack_without_published_port(project)
    write_env(project, {"GREETING": GREETING})
    slow_jobs(project)
    name = f"fuswarm{time.time_ns() % 10**10}"
    prefix = f"flask-uwsgi-test/{name}/"
    env = {**os.environ, **base_images, "STACK": name, "IMAGE_PREFIX": prefix}
    stack = SwarmStack(swarm, project, Plan.defaults(worker="rq"), name, env, prefix)
    try:
        stack.build(app_version=1)
        started = time.monotonic()
        stack.deploy(app_version=1)
        wait_until(lambda: stack.converged(1), 120)
        stack.measured["healthy"] = time.monotonic() - started
        yield stack
    finally:
        remove_stack(stack)


def test_three_app_replicas_become_healthy_behind_nginx(deployed: SwarmStack) -> None:
    assert deployed.converged(1)
    print(
        f"\nswarm: {deployed.plan.app_replicas} app replicas and nginx healthy"
        f" {deployed.measured['healthy']:.1f} s after `make swarm-deploy` began"
    )


def test_replicas_run_locked_down(deployed: SwarmStack) -> None:
    """What compose sets, on the swarm's containers (no-new-privileges is the engine's)."""
    uid = deployed.plan.app_uid
    for container in deployed.containers("app"):
        host = container.attrs["HostConfig"]
        assert host["Init"] is True
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert container.attrs["Config"]["User"] == f"{uid}:{uid}"
        assert {m["Target"] for m in host["Mounts"] if m["Type"] == "tmpfs"} == {"/tmp"}
        code, output = container.exec_run(["cat", "/proc/1/cmdline"])
        assert code == 0 and output.split(b"\0")[0] == b"/sbin/docker-init", output
        code, output = container.exec_run(["stat", "-c", "%u %g %a", "/run/secrets/secret_key"])
        assert (code, output.decode().split()) == (0, [str(uid), str(uid), "400"])
    [nginx] = deployed.containers("nginx")
    assert nginx.attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert nginx.attrs["HostConfig"]["CapDrop"] == ["ALL"]
    assert nginx.attrs["HostConfig"]["PortBindings"] in (None, {})


def test_the_settings_reach_the_app_replicas_only(deployed: SwarmStack) -> None:
    """.env, as the secret named after its content: a file of the app's user only in each
    replica, its GREETING in the environment of supervisord and every uWSGI process there
    (beside the stack's own APP_ADDRESS); nginx has no such file, secret or setting."""
    uid = deployed.plan.app_uid
    settings = settings_file(deployed.project / "Dockerfile")
    assert deployed.settings_secret() == f"{deployed.name}_settings_{env_hash(deployed.project)}"
    for container in deployed.containers("app"):
        # The file is GREETING's only way in: the container's own environment has none.
        assert not any(var.startswith("GREETING=") for var in container.attrs["Config"]["Env"])
        code, output = container.exec_run(["stat", "-c", "%u %g %a", settings])
        assert (code, output.decode().split()) == (0, [str(uid), str(uid), "400"])
        environs = deployed.environs(container)
        # supervisord and its children: uWSGI's master and workers, the FATAL listener.
        served = [env for env in environs if program(env[0]) in SUPERVISED]
        programs = Counter(program(command) for command, _, _ in served)
        assert programs["supervisord"] == programs["exit_on_fatal.py"] == 1, environs
        assert programs["uwsgi"] > deployed.plan.replica_workers, environs
        assert {(address, greeting) for _, address, greeting in served} == {
            (f":{deployed.plan.app_port}", GREETING)
        }
    [nginx] = deployed.containers("nginx")
    code, output = nginx.exec_run(["ls", "-A", "/run/secrets"])
    assert code != 0 or output.decode().split() == [], output
    # nginx runs with its container's environment (its process titles overwrite what /proc
    # shows of it): no GREETING there, nor in any process whose environment shows.
    assert not any(var.startswith("GREETING=") for var in nginx.attrs["Config"]["Env"])
    environs = deployed.environs(nginx)
    assert any(address for _, address, _ in environs), environs
    assert {greeting for _, _, greeting in environs} == {""}, environs
    nginx_service = deployed.client.services.get(f"{deployed.name}_nginx")
    assert "Secrets" not in nginx_service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    print(
        f"\nswarm: .env as the secret {deployed.settings_secret()}, mode 0400 for uid {uid};"
        f" GREETING in {len(deployed.containers('app'))} replicas' uWSGI, none in nginx"
    )


def test_requests_spread_over_the_replicas(deployed: SwarmStack) -> None:
    since = time.time() - 1
    with deployed.load(requests=600, seconds=60) as load:
        load.container.wait(timeout=90)
    summary = load.finish()
    assert summary.errors == []
    assert summary.requests == 600
    addresses = {deployed.address(container) for container in deployed.containers("app")}

    def served_by_replica() -> Counter[str]:
        return Counter(
            entry["upstream_addr"].rsplit(":", 1)[0]
            for entry in json_lines(deployed.nginx_log(since))
            if (entry["method"], entry["uri"], entry["status"]) == ("GET", "/", 200)
        )

    # nginx writes its access log in batches, at least every second.
    wait_until(lambda: sum(served_by_replica().values()) >= 600, 10)
    served = served_by_replica()
    assert set(served) == addresses, served
    assert sum(served.values()) == 600
    assert min(served.values()) >= 600 // 10, f"uneven spread: {served}"
    print(f"\nswarm: 600 requests through nginx, by replica: {dict(served)}")


def test_rolling_update_under_load_fails_no_request(deployed: SwarmStack) -> None:
    """New code, same static files: the app rolls out, nginx's image is the same, with
    the same tag (its ID), so nginx keeps serving, not replaced."""
    main = deployed.project / "flask_service/settings.py"
    main.write_text(
        main.read_text().replace("DESCRIPTION = ", f'DESCRIPTION = "{NEW_DESCRIPTION}" or ', 1)
    )
    nginx_version = deployed.nginx_version()
    [nginx] = deployed.containers("nginx")
    deployed.build(app_version=2)
    assert deployed.built_nginx_version() == nginx_version
    with deployed.load(requests=200000, seconds=240) as load:
        load.wait_for(300)
        started = time.monotonic()
        deployed.deploy(app_version=2)
        deploy_returned = time.monotonic() - started
        wait_until(lambda: deployed.update_state() == "completed" and deployed.converged(2), 120)
        rollout = time.monotonic() - started
        load.wait_for(300)
    summary = load.finish()
    assert summary.errors == []
    old = summary.answered_with(deployed.plan.answers["description"])
    new = summary.answered_with(NEW_DESCRIPTION)
    assert old > 0 and new > 0 and old + new == summary.requests
    assert deployed.converged(2)
    assert deployed.nginx_version() == nginx_version
    assert [container.id for container in deployed.containers("nginx")] == [nginx.id]
    print(
        f"\nswarm: rolled out version 2 in {rollout:.1f} s (make swarm-deploy returned after"
        f" {deploy_returned:.1f} s) under {CLIENTS} clients: {summary.requests} requests in"
        f" {summary.seconds:.1f} s ({old} old, {new} new), {summary.error_count} failed"
    )


def test_a_killed_replica_is_replaced(deployed: SwarmStack) -> None:
    with deployed.load(requests=30000, seconds=150) as load:
        load.wait_for(200)
        victim = deployed.containers("app")[0]
        victim.kill()
        started = time.monotonic()

        def replaced() -> bool:
            """three healthy app replicas again, none of them the killed one"""
            healthy = deployed.healthy("app")
            return len(healthy) == deployed.plan.app_replicas and victim.id not in {
                container.id for container in healthy
            }

        wait_until(replaced, 90)
        replacement = time.monotonic() - started
        load.wait_for(200)
    summary = load.finish()
    assert deployed.converged(2)
    # At most the requests the killed replica was serving, one per worker thread.
    assert summary.error_count <= deployed.plan.replica_workers * deployed.plan.threads, (
        summary.errors
    )
    print(
        f"\nswarm: a killed replica was replaced, healthy, in {replacement:.1f} s; under"
        f" {CLIENTS} clients {summary.error_count} of {summary.requests} requests failed"
    )


def test_a_changed_env_rolls_the_app_out(deployed: SwarmStack) -> None:
    """A changed .env, with the same images: `make swarm-deploy` makes a new settings
    secret and rolls the app out with it under load, one replica at a time, no request
    failing; the earlier secret stays, for a rollback."""
    version = deployed.app_version()
    old_secret = deployed.settings_secret()
    write_env(deployed.project, {"GREETING": NEW_GREETING})
    new_secret = f"{deployed.name}_settings_{env_hash(deployed.project)}"
    assert new_secret != old_secret
    with deployed.load(requests=200000, seconds=240) as load:
        load.wait_for(300)
        started = time.monotonic()
        deployed.deploy(app_version=version)

        def rolled_out() -> bool:
            """the update completed, and every replica's uWSGI has the new GREETING"""
            if not (deployed.update_state() == "completed" and deployed.converged(version)):
                return False
            try:
                greetings = deployed.greetings()
            except docker.errors.APIError:  # a replica stopped meanwhile
                return False
            return all(found == {NEW_GREETING} for found in greetings.values())

        wait_until(rolled_out, 120, step=1)
        rollout = time.monotonic() - started
        load.wait_for(300)
    summary = load.finish()
    assert summary.errors == []
    assert deployed.settings_secret() == new_secret
    assert deployed.client.secrets.list(filters={"name": old_secret})
    print(
        f"\nswarm: a changed .env rolled the app out in {rollout:.1f} s under {CLIENTS}"
        f" clients: {summary.requests} requests, {summary.error_count} failed"
    )


def test_a_rollout_loses_no_job(deployed: SwarmStack) -> None:
    """Jobs queued through nginx, a little faster than the workers run them, while
    `make swarm-deploy` rolls the app and the workers out to a new image: the workers
    asked to stop finish the job they are in (RQ's warm shutdown, within the stop grace
    period), and every job the app acknowledged (202) finishes. The new version changes
    the stylesheet: nginx's image gets a new tag (its ID) and rolls out too, and then
    nginx answers the new stylesheet from its own copy."""
    new = deployed.app_version() + 1
    stylesheet = deployed.project / "flask_service/static/style.css"
    new_css = stylesheet.read_bytes() + f"/* version {new} */\n".encode()
    stylesheet.write_bytes(new_css)
    old_nginx = deployed.nginx_version()
    deployed.build(app_version=new)
    new_nginx = deployed.built_nginx_version()
    assert new_nginx != old_nginx
    old_workers = deployed.containers("worker")
    read_seconds = 240
    # One job more per JOB_SECONDS than the workers run: the queue grows through the
    # rollout, whatever the rollout's gaps in queuing (nginx and the app roll out too).
    interval = JOB_SECONDS / (deployed.plan.worker_replicas + 1)
    with deployed.job_stream(
        jobs=1000, seconds=300, interval=interval, read_seconds=read_seconds
    ) as stream:
        stream.wait_for(30)
        started = time.monotonic()
        deployed.deploy(app_version=new)

        def rolled_out() -> bool:
            """the app, the workers and nginx completed their update, all healthy on the
            new images"""
            updates = {deployed.update_state(service) for service in ("app", "worker", "nginx")}
            return (
                updates == {"completed"}
                and deployed.converged(new)
                and deployed.nginx_version() == new_nginx
            )

        wait_until(rolled_out, 180, step=1)
        rollout = time.monotonic() - started

        def new_css_served() -> bool:
            """nginx answers the new stylesheet, from its own copy"""
            return deployed.static_file("/static/style.css") == (new_css, new_css)

        css_seconds = wait_until(new_css_served, 30, step=0.5)
        stream.wait_for(10)
    summary = stream.finish()
    assert summary["acknowledged"] >= 20
    assert summary["unfinished"] == {}, summary
    assert summary["finished"] == summary["acknowledged"]
    assert len(old_workers) == deployed.plan.worker_replicas
    for container in old_workers:
        container.reload()
        assert container.status == "exited", container.status
    worker_logs = [container.logs().decode(errors="replace") for container in old_workers]
    finished_on_stop = [jobs_finished_after_stop(log) for log in worker_logs]
    # The queue never ran dry, so a worker was asked to stop in the middle of a job.
    assert sum(finished_on_stop) >= 1, (summary, [log[-2000:] for log in worker_logs])
    print(
        f"\nswarm, worker=rq: rolled the app and {deployed.plan.worker_replicas} workers out in"
        f" {rollout:.1f} s; {summary['acknowledged']} jobs of {JOB_SECONDS} s queued through nginx"
        f" in {summary['queued_seconds']:.1f} s ({summary['refused'] or 'none'} refused),"
        f" {summary['finished']} finished ({summary['read_seconds']:.1f} s after the last),"
        f" {summary['acknowledged'] - summary['finished']} lost; the stopping workers finished"
        f" {finished_on_stop} jobs after SIGTERM; nginx rolled out with the new stylesheet,"
        f" answered {css_seconds:.1f} s after the rollout"
    )


def test_replicas_starting_together_migrate_one_at_a_time(
    swarm: docker.DockerClient, bake_fresh: Bake, base_images: dict[str, str]
) -> None:
    """database=sqlite on a one-node swarm: the three replicas start together on the
    node's instance volume, and a slow migration runs in one of them under the lock
    while the others wait, then find the database at head."""
    project = bake_fresh(database="sqlite")
    (project / "flask_service/migrations/versions/0002_slow.py").write_text(SLOW_MIGRATION)
    stack_without_published_port(project)
    name = f"fumigrate{time.time_ns() % 10**10}"
    prefix = f"flask-uwsgi-test/{name}/"
    env = {**os.environ, **base_images, "STACK": name, "IMAGE_PREFIX": prefix}
    stack = SwarmStack(swarm, project, Plan.defaults(database="sqlite"), name, env, prefix)
    try:
        stack.build(app_version=1)
        stack.deploy(app_version=1)
        wait_until(lambda: stack.converged(1), 180)
        apps = stack.containers("app")
        assert len(apps) == stack.plan.app_replicas
        service = swarm.services.get(f"{name}_app")
        assert len(service.tasks()) == stack.plan.app_replicas, "a replica failed, replaced"
        # The database holds one run of the slow migration, in one replica; every other
        # got the lock once it had ended, and one at least had asked for it while it ran.
        [run] = slow_migration_runs(apps[0])
        assert (run.ended - run.started).total_seconds() >= SLOW_MIGRATION_SECONDS
        turns = lock_turns(apps)
        others = [turn for host, turn in turns.items() if host != run.host]
        assert len(others) == len(apps) - 1, f"{run.host} is not a replica: {turns}"
        assert all(run.ended < turn.got for turn in others), f"not one at a time: {run}, {turns}"
        assert any(turn.waiting < run.ended for turn in others), f"none waited: {run}, {turns}"
        logs = [container.logs().decode(errors="replace") for container in apps]
        assert sum("migrate: upgraded from" in log for log in logs) == 1
        assert all("migrate: at head 0002" in log for log in logs)
        turns_seen = ", ".join(
            f"waited from {seconds_from(run.started, turn.waiting)},"
            f" got it at {seconds_from(run.started, turn.got)}"
            for turn in sorted(others, key=lambda turn: turn.got)
        )
        print(
            "\nswarm, database=sqlite: the migration ran in one replica from 0 to"
            f" {seconds_from(run.started, run.ended)}; the others {turns_seen}"
        )
    finally:
        remove_stack(stack)
