"""The baked project's processes started for real on this machine, without Docker:
uWSGI (pyuwsgi) from the generated ini, Debian's nginx with the generated config,
supervisord with the generated program. Everything listens on 127.0.0.1 or in a
temporary folder."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.host import stop_session
from bench.native import render_nginx_conf
from conftest import Bake
from helpers import SERVERS, exchange, free_port, http_get, native_env, run, wait_until
from hooks.answers import NGINX_SERVERS
from hooks.plan import Plan


def listen_address(plan: Plan, folder: Path) -> str:
    """Where uWSGI listens here: a socket in `folder`, or a free loopback port."""
    return str(folder / "app.sock") if plan.shape.unix_socket else f"127.0.0.1:{free_port()}"


def healthcheck_passes(project: Path, env: dict[str, str]) -> bool:
    """The project's own health check script, as Docker runs it."""
    return (
        subprocess.run(
            ["python3", "ops/healthcheck.py"],
            cwd=project,
            env=env,
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


@contextlib.contextmanager
def running(
    command: list[str], cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server in a session of its own, logging to `log`; stop it on the way out,
    also when the test fails: SIGTERM to its process group, then SIGKILL to every
    process left in its session. supervisord gives each program a process group of
    its own, and a uWSGI it is still stopping would otherwise outlive the test."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
            stop_session(process.pid, grace_s=0)


@contextlib.contextmanager
def native_nginx(project: Path, plan: Plan, app_address: str, folder: Path) -> Iterator[str]:
    """Debian's nginx with the project's nginx.conf and its site rendered the way the
    image's entrypoint renders it (the project's envsh, then envsubst); it listens on a
    free loopback port instead of the container's port. Yields that host:port."""
    conf = folder / "nginx"
    site = render_nginx_conf(project, conf, app_address)
    port = free_port()
    listen = f"listen {plan.nginx_port} default_server;"
    assert listen in site
    (conf / "conf.d/default.conf").write_text(
        site.replace(listen, f"listen 127.0.0.1:{port} default_server;")
    )
    # As root here, nginx's workers would run as nobody; the container runs them unprivileged.
    command = [
        "nginx",
        "-p",
        str(conf),
        "-c",
        str(conf / "nginx.conf"),
        "-g",
        "daemon off; user root;",
    ]
    run([*command[:-2], "-t"])
    with running(command, folder, dict(os.environ), folder / "nginx.log"):
        wait_until(
            lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None, 10
        )
        yield f"127.0.0.1:{port}"


@pytest.mark.parametrize("server", SERVERS)
def test_uwsgi_serves_the_app_from_the_generated_ini(
    bake: Bake, tmp_path: Path, server: str
) -> None:
    project = bake(server=server, processes="2")
    plan = Plan.defaults(server=server, processes="2")
    address = listen_address(plan, tmp_path)
    env = native_env(APP_ADDRESS=address)
    with running(["uwsgi", "--ini", "ops/uwsgi.ini"], project, env, tmp_path / "uwsgi.log"):
        wait_until(lambda: healthcheck_passes(project, env), 30)
        if plan.shape.protocol == "http":
            status, body = http_get(address, "/")
            assert status == 200 and b"<h1>Flask Service</h1>" in body
        if plan.nginx:
            with native_nginx(project, plan, address, tmp_path) as front:
                status, body = http_get(front, "/")
                assert status == 200 and b"<h1>Flask Service</h1>" in body
                status, _ = http_get(front, "/healthz")
                assert status == 200
    log = (tmp_path / "uwsgi.log").read_text()
    assert "spawned uWSGI worker 2" in log and "spawned uWSGI worker 3" not in log


@pytest.mark.parametrize("buffer_size", [65535, 16384])
def test_plain_http_to_the_uwsgi_socket_gets_no_answer(
    bake: Bake, tmp_path: Path, buffer_size: int
) -> None:
    """The seed's second pitfall: a browser sent to a uwsgi-protocol socket. 'GET '
    reads as a 21,573-byte packet: with a bigger buffer-size uWSGI waits for it and
    drops the connection at its socket timeout, saying nothing; with a smaller one it
    logs the seed's "invalid request block size" at once."""
    project = bake(server="nginx-uwsgi", processes="2", buffer_size=buffer_size)
    address = str(tmp_path / "app.sock")
    env = native_env(APP_ADDRESS=address)
    with running(["uwsgi", "--ini", "ops/uwsgi.ini"], project, env, tmp_path / "uwsgi.log"):
        wait_until(lambda: healthcheck_passes(project, env), 30)
        started = time.monotonic()
        assert exchange(address, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout=15) == b""
        seconds = time.monotonic() - started
    complaint = f"invalid request block size: 21573 (max {buffer_size})...skip"
    assert (complaint in (tmp_path / "uwsgi.log").read_text()) == (buffer_size < 21573)
    print(f"buffer-size {buffer_size}: connection dropped after {seconds:.1f} s")


def test_processes_auto_counts_this_machines_cpus(bake: Bake, tmp_path: Path) -> None:
    project = bake(server="nginx-http", processes="auto")
    address = f"127.0.0.1:{free_port()}"
    env = native_env(APP_ADDRESS=address)
    with running(["uwsgi", "--ini", "ops/uwsgi.ini"], project, env, tmp_path / "uwsgi.log"):
        wait_until(lambda: healthcheck_passes(project, env), 30)
    workers = re.findall(r"spawned uWSGI worker (\d+)", (tmp_path / "uwsgi.log").read_text())
    cpus = len(os.sched_getaffinity(0))
    # A worker per CPU, at least two.
    assert max(map(int, workers)) == max(cpus, 2)


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def program_of(pid: int) -> str:
    """What a process runs: its program's name, a Python script's rather than python's."""
    words = [
        Path(word.decode()).name
        for word in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2]
    ]
    return words[1] if words[0].startswith("python") and len(words) > 1 else words[0]


def uwsgi_masters(supervisord: int) -> list[int]:
    """supervisord's uWSGI children: the masters it runs (one, except mid-restart)."""
    return [pid for pid in children(supervisord) if program_of(pid) == "uwsgi"]


def test_supervisor_restarts_a_killed_uwsgi_master(bake: Bake, tmp_path: Path) -> None:
    project = bake(server="nginx-uwsgi", processes="2")
    env = native_env(APP_ADDRESS=str(tmp_path / "app.sock"))
    command = [
        "supervisord",
        "--nodaemon",
        "--configuration",
        str(project / "ops/supervisord.conf"),
    ]
    with running(command, project, env, tmp_path / "supervisord.log") as supervisord:
        wait_until(lambda: healthcheck_passes(project, env), 30)
        [master] = uwsgi_masters(supervisord.pid)
        workers = children(master)
        os.kill(master, signal.SIGKILL)

        def a_new_master_serves() -> bool:
            # The old workers keep answering on the shared socket for a moment, so the
            # health check alone passes before supervisord has started a new master.
            masters = uwsgi_masters(supervisord.pid)
            return bool(masters) and master not in masters and healthcheck_passes(project, env)

        seconds = wait_until(a_new_master_serves, 30)
        # no-orphans: the old workers died with their master.
        wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 10)
    log = (tmp_path / "supervisord.log").read_text()
    assert "exited: uwsgi (terminated by SIGKILL; not expected)" in log
    print(f"serving again {seconds:.1f} s after kill -9 of the uWSGI master")


def test_supervisord_exits_non_zero_when_the_app_cannot_start(
    bake_fresh: Bake, tmp_path: Path
) -> None:
    project = bake_fresh(server="nginx-uwsgi", processes="2")
    with (project / "main.py").open("a") as main:
        main.write("\nimport module_that_does_not_exist  # noqa\n")
    env = native_env(APP_ADDRESS=str(tmp_path / "app.sock"))
    command = [
        "supervisord",
        "--nodaemon",
        "--configuration",
        str(project / "ops/supervisord.conf"),
    ]
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=90, check=False
    )
    log = result.stdout + result.stderr
    assert result.returncode == -signal.SIGKILL, log
    # uwsgi.ini imports the app first (exec-asap), which exits 1: the start and 3 retries.
    assert log.count("exited: uwsgi (exit status 1; not expected)") == 4
    assert "gave up: uwsgi entered FATAL state" in log
    assert "ModuleNotFoundError: No module named 'module_that_does_not_exist'" in log
    assert "exit_on_fatal: processname:uwsgi" in log
    print(f"supervisord gave up and was killed {time.monotonic() - started:.1f} s after it started")


def test_a_metrics_exporter_that_cannot_start_fails_alone(bake: Bake, tmp_path: Path) -> None:
    """Only uWSGI's FATAL stops the container: an exporter that cannot start (here, an
    address it cannot listen on) is given up on, and uWSGI serves on."""
    project = bake(server="nginx-uwsgi", processes="2")
    env = native_env(APP_ADDRESS=str(tmp_path / "app.sock"), METRICS_ADDRESS="no-such-host.:1")
    command = [
        "supervisord",
        "--nodaemon",
        "--configuration",
        str(project / "ops/supervisord.conf"),
    ]
    log = tmp_path / "supervisord.log"
    with running(command, project, env, log) as supervisord:
        wait_until(lambda: "gave up: metrics entered FATAL state" in log.read_text(), 60)
        assert supervisord.poll() is None, log.read_text()
        wait_until(lambda: healthcheck_passes(project, env), 30)
        assert supervisord.poll() is None, log.read_text()
    assert "exit_on_fatal:" not in log.read_text()


# An app whose /hold keeps the GIL for the seconds asked: one call into C (sum over a
# range) that the interpreter cannot interrupt to let another thread run.
GIL_HOLDER_APP = """\
from flask import Flask

app = Flask(__name__)


@app.get("/hold/<int:count>")
def hold(count: int) -> str:
    return str(sum(range(count)))


@app.get("/")
def index() -> str:
    return "answered"
"""
# How long /hold keeps the GIL, past the queue-wait limit.
HOLD_S = 3.0
# How long after /hold the second request is sent.
SECOND_AFTER_S = 0.3


def count_summed_in(seconds: float) -> int:
    """About how many numbers sum() adds up in `seconds` on this machine."""
    count = 10**7
    started = time.perf_counter()
    sum(range(count))
    return int(count * seconds / (time.perf_counter() - started))


@pytest.mark.parametrize("threads", [2, 1])
@pytest.mark.parametrize("server", NGINX_SERVERS)
def test_the_queue_wait_ends_when_a_thread_takes_the_request(
    bake_fresh: Bake, tmp_path: Path, server: str, threads: int
) -> None:
    """One uWSGI process; a request holds its GIL for 3 s, and a second one comes
    0.3 s later. With a thread free, that thread takes it at once: it waits for the GIL,
    which is the page's own time, not queueing, and gets its 200. With one thread it
    waits in the listen queue past QUEUE_WAIT_LIMIT_S: a 503 with Retry-After."""
    project = bake_fresh(server=server)
    plan = Plan.defaults(server=server)
    (project / "gil_holder.py").write_text(GIL_HOLDER_APP)
    address = listen_address(plan, tmp_path)
    env = native_env(
        APP_ADDRESS=address, FLASK_APP="gil_holder", UWSGI_PROCESSES="1", UWSGI_THREADS=str(threads)
    )
    with (
        running(["uwsgi", "--ini", "ops/uwsgi.ini"], project, env, tmp_path / "uwsgi.log"),
        native_nginx(project, plan, address, tmp_path) as front,
    ):
        wait_until(lambda: http_get(front, "/")[0] == 200, 30)
        with ThreadPoolExecutor(max_workers=1) as pool:
            held = pool.submit(http_get, front, f"/hold/{count_summed_in(HOLD_S)}", 30)
            time.sleep(SECOND_AFTER_S)
            started = time.monotonic()
            status, body = http_get(front, "/", timeout=30)
            seconds = time.monotonic() - started
            assert held.result()[0] == 200
    print(f"\n{server}, 1 process x {threads} threads: {status} after {seconds:.1f} s")
    assert seconds > plan.queue_wait_limit_s, seconds
    if threads > 1:
        assert (status, body) == (200, b"answered"), body
    else:
        assert status == 503 and b"busy" in body, body
