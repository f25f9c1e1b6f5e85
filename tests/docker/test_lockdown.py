"""A locked-down stack, checked on the running containers of every shape: non-root
processes, read-only root filesystems with tmpfs only where needed, no capabilities,
no-new-privileges, the stats server on the app container's loopback only, no server
version and the security headers on every answer, and the secret key only ever from
the environment (never in an image, and a clear refusal to start without one).

The pinned requirements are not audited here: pip-audit's vulnerability services (the
PyPI JSON API per release, OSV) cannot be reached from this machine."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from conftest import Bake
from helpers import SERVERS, send_request
from hooks.plan import Plan
from stack import Stack, compose_stack

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}
# tmpfs mounts, only where a service must write: supervisord's pid file, uWSGI's master
# FIFO and buffered bodies (app); nginx's pid file and buffers, and the site it renders
# at start (nginx).
TMPFS = {"app": {"/tmp"}, "nginx": {"/tmp", "/etc/nginx/conf.d"}}
# Folders that must refuse writes (the tmpfs and volume ones, probed too, must take them).
ROOT_FOLDERS = ["/", "/etc", "/usr", "/usr/local", "/var", "/var/tmp", "/run"]
IMAGE_FOLDERS = {
    "app": ["/app", "/opt/venv", "/opt/venv/bin"],
    "nginx": ["/etc/nginx", "/etc/nginx/templates", "/var/cache/nginx", "/var/log/nginx"],
}
STATS_PORT_HEX = "23E7"  # 9191, as /proc/net/tcp shows it


@pytest.fixture(scope="module", params=SERVERS)
def stack(
    request: pytest.FixtureRequest, bake_session_copy: Bake, base_images: dict[str, str]
) -> Iterator[Stack]:
    project = bake_session_copy(server=request.param)
    with compose_stack(project, Plan.defaults(server=request.param), base_images) as running:
        yield running


def services(stack: Stack) -> list[str]:
    return ["app", "nginx"] if stack.plan.nginx else ["app"]


def service_uid(stack: Stack, service: str) -> int:
    return stack.plan.app_uid if service == "app" else stack.plan.nginx_uid


def init_status(stack: Stack, service: str) -> dict[str, str]:
    """/proc/1/status in a service's container (its first process), field by field."""
    code, output = stack.exec(service, ["cat", "/proc/1/status"])
    assert code == 0, output
    return dict(line.split(":\t", 1) for line in output.splitlines() if ":\t" in line)


def test_containers_run_read_only_without_capabilities_or_new_privileges(stack: Stack) -> None:
    """As configured (HostConfig) and as the kernel applies it to each container's PID 1."""
    for service in services(stack):
        host = stack.container(service).attrs["HostConfig"]
        assert host["ReadonlyRootfs"] is True, service
        assert set(host["Tmpfs"] or {}) == TMPFS[service], service
        assert host["CapDrop"] == ["ALL"] and not host["CapAdd"], service
        assert "no-new-privileges:true" in host["SecurityOpt"], service
        assert host["Privileged"] is False, service
        status = init_status(stack, service)
        assert status["NoNewPrivs"] == "1", service
        for capabilities in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(status[capabilities], 16) == 0, f"{service} {capabilities}"


def test_every_process_runs_as_its_unprivileged_user(stack: Stack) -> None:
    """Not just the image's USER: every process running in each container (the init,
    supervisord, uWSGI's master, workers and router; nginx's master and workers)."""
    for service in services(stack):
        uid = str(service_uid(stack, service))
        code, output = stack.exec(service, ["sh", "-c", "cat /proc/[0-9]*/status"])
        assert code == 0, output
        uids = re.findall(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", output, re.MULTILINE)
        assert len(uids) >= 2, output
        assert {value for row in uids for value in row} == {uid}, f"{service}: {uids}"


WRITE_PROBE = r"""
for folder in "$@"; do
    if [ ! -d "$folder" ]; then echo "$folder|missing"; continue; fi
    if error=$(touch "$folder/.lockdown-probe" 2>&1); then
        rm -f "$folder/.lockdown-probe"; echo "$folder|writable"
    else
        echo "$folder|${error##*: }"
    fi
done
"""


def test_only_tmpfs_and_the_socket_volume_are_writable(stack: Stack) -> None:
    """The root filesystem is mounted read-only; a write anywhere on it fails with
    "Read-only file system"; the tmpfs folders (and the app's own socket volume, in
    the unix socket shape) take writes."""
    for service in services(stack):
        code, mounts = stack.exec(service, ["cat", "/proc/mounts"])
        assert code == 0, mounts
        root = next(line.split() for line in mounts.splitlines() if line.split()[1] == "/")
        assert root[3].split(",")[0] == "ro", root
        volumes = {stack.plan.socket_dir} if stack.plan.shape.unix_socket else set()
        folders = [*ROOT_FOLDERS, *IMAGE_FOLDERS[service], *sorted(TMPFS[service] | volumes)]
        code, output = stack.exec(service, ["sh", "-c", WRITE_PROBE, "probe", *folders])
        assert code == 0, output
        seen = dict(line.split("|", 1) for line in output.splitlines())
        print(f"{service}: {seen}")
        writable = TMPFS[service] | (volumes if service == "app" else set())
        for folder in folders:
            if folder in writable:
                assert seen[folder] == "writable", f"{service} {folder}: {seen[folder]}"
            elif folder in volumes:  # nginx may use the app's socket, not write there
                assert seen[folder] == "Permission denied", f"{service} {folder}"
            else:
                assert seen[folder] == "Read-only file system", f"{service} {folder}"


def test_stats_server_answers_only_on_the_app_containers_loopback(stack: Stack) -> None:
    """uWSGI's stats answer on 127.0.0.1:9191 inside the app container; the port is
    bound to loopback only, so neither the container's own network address nor nginx's
    container reaches it."""
    code, output = stack.exec(
        "app",
        [
            "python3",
            "-c",
            "import json, urllib.request as u;"
            "print(len(json.load(u.urlopen('http://127.0.0.1:9191', timeout=5))['workers']))",
        ],
    )
    assert code == 0 and int(output) >= 1, output
    code, listening = stack.exec("app", ["cat", "/proc/net/tcp", "/proc/net/tcp6"])
    assert code == 0, listening
    stats_sockets = [
        fields[1]
        for fields in (line.split() for line in listening.splitlines()[1:])
        if len(fields) > 3 and fields[3] == "0A" and fields[1].endswith(f":{STATS_PORT_HEX}")
    ]
    assert stats_sockets == [f"0100007F:{STATS_PORT_HEX}"], listening
    code, output = stack.exec(
        "app",
        [
            "python3",
            "-c",
            "import socket; address = socket.gethostbyname(socket.gethostname());"
            "socket.create_connection((address, 9191), timeout=3)",
        ],
    )
    assert code != 0 and "ConnectionRefusedError" in output, output
    if stack.plan.nginx:
        code, output = stack.exec(
            "nginx", ["curl", "--silent", "--show-error", "--max-time", "5", "http://app:9191/"]
        )
        assert code == 7, output  # curl: could not connect


def test_answers_carry_no_version_and_the_security_headers(stack: Stack) -> None:
    """On a page, the app's own errors (404, 405) and the front's (413): the security
    headers (nginx `add_header ... always`, uWSGI `add-header` without nginx), and no
    version anywhere (nginx `server_tokens off`; uWSGI's router sends no Server)."""
    over_limit = stack.plan.max_body_bytes + 1
    requests = {
        200: b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        404: b"GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        405: b"POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        b"Content-Length: 2\r\n\r\nhi",
        413: b"POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % over_limit + b"a" * over_limit,
    }
    for status, data in requests.items():
        reply = send_request(stack.front, data, timeout=30)
        assert reply.status == status, reply
        headers = {name: reply.headers.get(name) for name in SECURITY_HEADERS}
        assert headers == SECURITY_HEADERS, f"{status}: {reply.headers}"
        assert reply.headers.get("server") == ("nginx" if stack.plan.nginx else None), reply
        assert not re.search(rb"nginx/\d|uWSGI/?\d", reply.body), reply.body


def secret_key(project: Path) -> str:
    """The SECRET_KEY the bake wrote into the project's .env."""
    [key] = re.findall(r"^SECRET_KEY=(\S+)$", (project / ".env").read_text(), re.MULTILINE)
    assert len(key) >= 32
    return key


def image_findings(image_tar: Path, secret: bytes) -> tuple[list[str], list[str]]:
    """Every file of every layer of a saved image (docker save), and the image's config
    and history: (paths named .env or .env.something, places holding `secret`)."""
    env_files, holding = [], []
    with tarfile.open(image_tar) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            data = outer.extractfile(member)
            assert data is not None
            with contextlib.suppress(tarfile.ReadError), tarfile.open(fileobj=data) as layer:
                for item in layer:
                    if re.fullmatch(r"\.env(\..+)?", Path(item.name).name):
                        env_files.append(item.name)
                    content = layer.extractfile(item) if item.isfile() else None
                    if content is not None and secret in content.read():
                        holding.append(f"{member.name}:{item.name}")
                continue
            data.seek(0)
            if secret in data.read():
                holding.append(member.name)
    return env_files, holding


def test_the_secret_key_comes_only_from_the_environment(stack: Stack, tmp_path: Path) -> None:
    """.env.example leaves SECRET_KEY empty; the running app gets the bake's key from the
    environment; no image holds it (any layer, config or history) nor any .env file."""
    example = (stack.project / ".env.example").read_text()
    assert re.search(r"^SECRET_KEY=$", example, re.MULTILINE), example
    secret = secret_key(stack.project)
    assert f"SECRET_KEY={secret}" in stack.container("app").attrs["Config"]["Env"]
    for service in services(stack):
        image = stack.container(service).image
        assert not any(item.startswith("SECRET_KEY") for item in image.attrs["Config"]["Env"])
        history = " ".join(layer.get("CreatedBy") or "" for layer in image.history())
        assert "SECRET_KEY" not in history and secret not in history, history
        saved = tmp_path / f"{service}.tar"
        with saved.open("wb") as out:
            for chunk in image.save(named=False):
                out.write(chunk)
        env_files, holding = image_findings(saved, secret.encode())
        saved.unlink()
        print(f"{service} image: .env files {env_files}, holding the key {holding}")
        assert (env_files, holding) == ([], []), service


def test_the_app_refuses_to_start_without_a_secret_key(stack: Stack) -> None:
    """The app image run with SECRET_KEY empty: the app's RuntimeError is in the log,
    supervisor gives up on uWSGI and the container exits non-zero, within a minute."""
    client = stack.client
    container = client.containers.run(
        stack.container("app").image.id,
        detach=True,
        environment={"SECRET_KEY": ""},
        init=True,
        network_disabled=True,
        name=f"{stack.name}-nosecret",
        labels={"flask-uwsgi.test": stack.name},
    )
    started = time.monotonic()
    try:
        exit_code = container.wait(timeout=90)["StatusCode"]
        seconds = time.monotonic() - started
        log = container.logs().decode(errors="replace")
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    print(f"exited {exit_code} after {seconds:.1f} s")
    assert exit_code != 0, log
    assert "RuntimeError: SECRET_KEY is not set" in log, log
    assert "gave up: uwsgi entered FATAL state" in log, log


def test_compose_refuses_to_start_without_a_secret_key(stack: Stack, tmp_path: Path) -> None:
    """`docker compose up` with SECRET_KEY missing from .env, or empty: compose stops
    before creating anything, with the compose file's own `${SECRET_KEY:?...}` message."""
    [message] = re.findall(
        r"\$\{SECRET_KEY:\?([^}]*)\}", (stack.project / "compose.yaml").read_text()
    )
    settings = [
        line
        for line in (stack.project / ".env").read_text().splitlines()
        if not line.startswith("SECRET_KEY=")
    ]
    environment = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    for case, extra in (("missing", []), ("empty", ["SECRET_KEY="])):
        env_file = tmp_path / f"{case}.env"
        env_file.write_text("\n".join([*settings, *extra]) + "\n")
        name = f"{stack.name}{case}"
        command = ["docker", "compose", "--project-directory", str(stack.project)]
        command += ["--env-file", str(env_file), "--project-name", name]
        try:
            result = subprocess.run(
                [*command, "up", "--detach", "--no-build", "--pull", "never"],
                env=environment,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            created = stack.client.containers.list(
                all=True, filters={"label": f"com.docker.compose.project={name}"}
            )
        finally:
            for container in stack.client.containers.list(
                all=True, filters={"label": f"com.docker.compose.project={name}"}
            ):
                container.remove(force=True)
            for network in stack.client.networks.list(
                filters={"label": f"com.docker.compose.project={name}"}
            ):
                network.remove()
        print(f"SECRET_KEY {case}: exit {result.returncode}: {result.stderr.strip()}")
        assert result.returncode != 0, result.stdout
        assert "SECRET_KEY" in result.stderr and message in result.stderr, result.stderr
        assert created == []
