"""Operations on a running stack under a steady, bounded load (20 clients on
127.0.0.1): a chain reload with new code, workers recycled one by one, a killed worker, a
killed master, a graceful stop with a request in flight; and an app that cannot
start, which must not look alive."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Bake
from helpers import SERVERS, Load, http_get, run, wait_until
from hooks.plan import Plan
from stack import Stack, compose_stack, docker_client, health

LIVE = ("compose.yaml", "compose.live.yaml")
SLOW_ROUTE = '''

@app.get("/slow")
def slow() -> str:
    """A request that takes a while: for the graceful-stop test."""
    import time

    time.sleep(2)
    return "slow done"
'''
# An app that takes this long to import, as one that loads a big library or a model does:
# longer than a request waits for a worker before it is shed (503), so workers recycled
# all at once fail requests.
SLOW_IMPORT = """

import time as _time

_time.sleep(2)  # importing a big library
"""
# Short enough that the workers are recycled during a test's load.
RECYCLE_INTERVAL_S = 15


@pytest.fixture(scope="module", params=SERVERS)
def stack(
    request: pytest.FixtureRequest, bake_session_copy: Bake, base_images: dict[str, str]
) -> Iterator[Stack]:
    """Each shape, serving the code of its folder (compose.live.yaml) so it can be reloaded,
    with a slow route added for the graceful-stop test."""
    project = bake_session_copy(server=request.param)
    with (project / "main.py").open("a") as main:
        main.write(SLOW_ROUTE)
    plan = Plan.defaults(server=request.param)
    with compose_stack(project, plan, base_images, compose_files=LIVE) as running:
        yield running


def compose_command(stack: Stack) -> str:
    """The project's COMPOSE (Makefile variable), for this stack."""
    files = " ".join(f"-f {file}" for file in LIVE)
    return f"docker compose -p {stack.name} {files}"


def kill_a_worker(stack: Stack) -> tuple[dict[str, Any], int]:
    """kill -9 one uWSGI worker; (the stats before, its pid). A worker may be replaced
    (a chain reload) between the stats and the kill: then try another."""
    for _ in range(5):
        stats = stack.uwsgi_stats()
        victim = stats["workers"][0]["pid"]
        code, _ = stack.exec("app", ["sh", "-c", f"kill -KILL {victim}"])
        if code == 0:
            return stats, victim
    raise AssertionError("no uWSGI worker stayed alive long enough to be killed")


def test_a_killed_worker_is_replaced_and_only_its_requests_fail(stack: Stack) -> None:
    threads = stack.plan.threads
    with Load(stack.front, clients=20, max_requests=30000, max_seconds=60) as load:
        assert load.wait_for(200)
        stats, victim = kill_a_worker(stack)
        wait_until(lambda: victim not in [w["pid"] for w in stack.uwsgi_stats()["workers"]], 20)
        assert load.wait_for(300), "the load ran out before the worker was replaced"
    workers = stack.uwsgi_stats()["workers"]
    assert len(workers) == len(stats["workers"])
    assert all(worker["pid"] > 0 for worker in workers)
    assert f"(pid: {victim}) died, killed by signal 9" in stack.logs("app")
    # Only the requests the killed worker was serving (one per thread at most) may fail.
    assert len(load.result.errors) <= threads, load.result.errors
    print(
        f"{stack.plan.answers['server']}: killed worker {victim}: {len(load.result.errors)} of"
        f" {load.result.requests} requests failed"
    )


def test_a_killed_master_is_restarted_by_supervisor(stack: Stack) -> None:
    master = stack.uwsgi_stats()["pid"]
    restarts_before = stack.container("app").attrs["RestartCount"]

    def a_new_master_serves() -> bool:
        try:
            return stack.get("/healthz")[0] == 200 and stack.uwsgi_stats()["pid"] != master
        except (OSError, AssertionError):  # not listening yet
            return False

    stack.kill("app", master)
    seconds = wait_until(a_new_master_serves, 30, step=0.1)
    app = stack.container("app")
    assert app.attrs["RestartCount"] == restarts_before  # supervisor did it, in the same container
    assert "exited: uwsgi (terminated by SIGKILL; not expected)" in stack.logs("app")
    print(
        f"{stack.plan.answers['server']}: serving again {seconds:.1f} s after kill -9 of the master"
    )
    assert seconds < 10


def test_chain_reload_serves_new_code_with_no_failed_request(stack: Stack) -> None:
    main = stack.project / "flask_service/settings.py"
    old = main.read_text()
    with Load(stack.front, clients=20, max_requests=50000, max_seconds=90) as load:
        assert load.wait_for(200)
        main.write_text(old.replace("DESCRIPTION = ", 'DESCRIPTION = "Reloaded code." or ', 1))
        run(["make", "reload", f"COMPOSE={compose_command(stack)}"], cwd=stack.project)
        wait_until(lambda: "chain reloading complete" in stack.logs("app"), 60)
        assert load.wait_for(200), "the load ran out before the reload was over"
    assert load.result.errors == []
    assert all(b"Reloaded code." in http_get(stack.front, "/")[1] for _ in range(20))
    served = {b"Reloaded code." in body for body in load.result.bodies}
    assert served == {False, True}, "the load saw the old code, then the new"


def test_stop_finishes_the_request_in_flight_and_exits_cleanly(stack: Stack) -> None:
    """Last for each stack: `docker compose stop` while a 2 s request is in flight."""
    answers: list[tuple[int, bytes]] = []
    request = threading.Thread(
        target=lambda: answers.append(http_get(stack.front, "/slow", timeout=30))
    )
    request.start()
    time.sleep(0.5)
    stack.run("stop")
    request.join(timeout=60)
    assert answers == [(200, b"slow done")]
    for container in stack.containers():
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0, container.logs().decode()[-3000:]
    logs = stack.logs("app")
    assert "stopped: uwsgi (exit status 0)" in logs, logs[-4000:]


@pytest.mark.parametrize("server", SERVERS)
def test_workers_are_recycled_one_by_one_with_no_failed_request(
    server: str, bake_fresh: Bake, base_images: dict[str, str]
) -> None:
    """[program:recycle]'s chain reload, every RECYCLE_INTERVAL_S here, of an app that
    takes 2 s to import: each worker waits until the one before it serves again."""
    project = bake_fresh(server=server)
    with (project / "main.py").open("a") as main:
        main.write(SLOW_IMPORT)
    conf = project / "ops/supervisord.conf"
    conf.write_text(
        re.sub(r"while sleep \d+;", f"while sleep {RECYCLE_INTERVAL_S};", conf.read_text())
    )
    with compose_stack(project, Plan.defaults(server=server), base_images) as stack:
        with Load(stack.front, clients=20, max_requests=100000, max_seconds=90) as load:
            assert load.wait_for(100)
            started = stack.logs("app").count("chain reload starting")
            # A chain reload that started under the load has ended under it.
            wait_until(lambda: stack.logs("app").count("chain reloading complete") > started, 60)
            assert load.wait_for(100), "the load ran out before the recycle was over"
        assert load.result.errors == []


@pytest.mark.parametrize("server", SERVERS)
def test_an_app_that_cannot_start_does_not_look_alive(
    server: str, bake_fresh: Bake, base_images: dict[str, str]
) -> None:
    project = bake_fresh(server=server)
    with (project / "main.py").open("a") as main:
        main.write("\nimport module_that_does_not_exist  # noqa\n")
    started = int(time.time())
    plan = Plan.defaults(server=server)
    with compose_stack(project, plan, base_images, wait=False, services=("app",)) as stack:
        app = stack.container("app")
        wait_until(lambda: app.reload() or app.attrs["RestartCount"] >= 1, 90, step=1)
        deaths = docker_client().events(
            since=started,
            until=int(time.time()) + 1,
            decode=True,
            filters={"container": app.id, "event": "die"},
        )
        exit_codes = {int(event["Actor"]["Attributes"]["exitCode"]) for event in deaths}
        assert exit_codes == {137}  # supervisord killed by its FATAL listener, not a clean exit
        assert health(app) != "healthy"
        logs = stack.logs("app")
        assert "ModuleNotFoundError: No module named 'module_that_does_not_exist'" in logs
        assert "gave up: uwsgi entered FATAL state" in logs
