"""The PostgreSQL base image (POSTGRES_IMAGE: the official postgres:17-alpine or its
local stand-in), run for real the way the template's `db` service runs it: as the
postgres user, read-only root filesystem, tmpfs on the socket folder and /tmp, no
capabilities, no new privileges, and a named volume on PGDATA.

Password logins are tried over TCP from inside the container: to 127.0.0.1 (with
the right password) and to the container's own network address, which is what
another container connects from. Loopback connections are trusted by initdb's
pg_hba.conf in the official image too, so a wrong password is tried on the
network address, where `host all all all scram-sha-256` applies."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import requests.exceptions
from docker.models.containers import Container

from stack import docker_client

PGDATA = "/var/lib/postgresql/data"
READY_TIMEOUT_SECONDS = 60
EXIT_TIMEOUT_SECONDS = 30
PASSWORD = "s3cret-Pass word"
LOCKDOWN: dict[str, Any] = {
    "user": "postgres",
    "read_only": True,
    "tmpfs": {"/var/run/postgresql": "", "/tmp": ""},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
}


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return docker_client()


@pytest.fixture
def image(base_images: dict[str, str]) -> str:
    return base_images["POSTGRES_IMAGE"]


@pytest.fixture
def volume(client: docker.DockerClient) -> Iterator[str]:
    """A fresh named volume for PGDATA, removed afterwards."""
    name = f"fu-pg-test-{time.time_ns()}"
    client.volumes.create(name)
    try:
        yield name
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(name).remove(force=True)


@contextlib.contextmanager
def postgres(
    client: docker.DockerClient,
    image: str,
    volume: str,
    environment: dict[str, str],
    lockdown: bool = True,
    **options: Any,
) -> Iterator[Container]:
    """A detached container of the image with PGDATA on the volume; always removed."""
    container = client.containers.run(
        image,
        detach=True,
        name=f"fu-pg-test-{time.time_ns()}",
        environment=environment,
        volumes={volume: {"bind": PGDATA, "mode": "rw"}},
        **(LOCKDOWN if lockdown else {}),
        **options,
    )
    try:
        yield container
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def logs(container: Container) -> str:
    return container.logs().decode(errors="replace")


def wait_ready(container: Container) -> None:
    """Until pg_isready answers over TCP (the server of the first start's set-up
    listens on the unix socket only), for a bounded time."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        container.reload()
        assert container.status in ("created", "running"), (
            f"the container stopped ({container.status}):\n{logs(container)}"
        )
        code, _ = container.exec_run(["pg_isready", "-q", "-h", "127.0.0.1"], user="postgres")
        if code == 0:
            return
        assert time.monotonic() < deadline, (
            f"not ready after {READY_TIMEOUT_SECONDS} s:\n{logs(container)}"
        )
        time.sleep(0.5)


def address(container: Container) -> str:
    """The container's address on its network: how another container reaches it."""
    container.reload()
    networks = container.attrs["NetworkSettings"]["Networks"]
    found = [network["IPAddress"] for network in networks.values() if network["IPAddress"]]
    assert found, networks
    return found[0]


def psql(
    container: Container, sql: str, password: str, host: str = "127.0.0.1", **login: str
) -> tuple[int, str]:
    """Run sql with psql over TCP, logging in with this password; exit code, output."""
    user = login.get("user", "postgres")
    database = login.get("database", user)
    command = ["psql", "-h", host, "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1"]
    code, output = container.exec_run(
        [*command, "-w", "--no-psqlrc", "-tAc", sql],
        user="postgres",
        environment={"PGPASSWORD": password},
    )
    return code, output.decode(errors="replace").strip()


def wait_exit(container: Container) -> int:
    try:
        return int(container.wait(timeout=EXIT_TIMEOUT_SECONDS)["StatusCode"])
    except requests.exceptions.ConnectionError as error:  # the read timed out
        raise AssertionError(
            f"still running after {EXIT_TIMEOUT_SECONDS} s:\n{logs(container)}"
        ) from error


def test_image_is_set_up_like_the_official_one(client: docker.DockerClient, image: str) -> None:
    config = client.images.get(image).attrs["Config"]
    assert config["Entrypoint"] == ["docker-entrypoint.sh"]
    assert config["Cmd"] == ["postgres"]
    assert config["StopSignal"] == "SIGINT"
    assert "5432/tcp" in config["ExposedPorts"]
    assert f"PGDATA={PGDATA}" in config["Env"]
    container = client.containers.run(
        image,
        detach=True,
        entrypoint=["/bin/sh", "-ec"],
        command=[
            "for c in postgres initdb pg_ctl pg_isready psql; do command -v $c >/dev/null; done; "
            f"stat -c '%U %a' {PGDATA}; postgres --version"
        ],
        **LOCKDOWN,
    )
    try:
        assert wait_exit(container) == 0, logs(container)
        output = logs(container)
    finally:
        container.remove(v=True, force=True)  # and the anonymous volume on PGDATA
    assert output.splitlines()[0] == "postgres 700", output
    assert " 17." in output.splitlines()[1], output


def test_first_start_sets_up_the_database_and_password_logins(
    client: docker.DockerClient, image: str, volume: str, tmp_path: Path
) -> None:
    secret = tmp_path / "db_password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o644)
    environment = {
        "POSTGRES_USER": "app",
        "POSTGRES_DB": "appdb",
        "POSTGRES_PASSWORD_FILE": "/run/secrets/db_password",
    }
    mount = docker.types.Mount("/run/secrets/db_password", str(secret), "bind", read_only=True)
    with postgres(client, image, volume, environment, mounts=[mount]) as container:
        wait_ready(container)
        login = {"user": "app", "database": "appdb"}
        who = "SELECT current_user || ' ' || current_database()"
        assert psql(container, who, PASSWORD, **login) == (0, "app appdb")
        assert psql(container, "SHOW listen_addresses", PASSWORD, **login) == (0, "*")
        assert psql(container, "SHOW password_encryption", PASSWORD, **login) == (
            0,
            "scram-sha-256",
        )

        network = address(container)
        assert psql(container, "SELECT 1", PASSWORD, host=network, **login) == (0, "1")
        code, output = psql(container, "SELECT 1", "wrong", host=network, **login)
        assert code != 0, output
        assert 'password authentication failed for user "app"' in output
        code, output = psql(container, "SELECT 1", PASSWORD, host=network, user="postgres")
        assert code != 0, f"only POSTGRES_USER should exist: {output}"


def test_data_survives_a_new_container_on_the_volume(
    client: docker.DockerClient, image: str, volume: str
) -> None:
    with postgres(client, image, volume, {"POSTGRES_PASSWORD": PASSWORD}) as container:
        wait_ready(container)
        sql = "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')"
        assert psql(container, sql, PASSWORD)[0] == 0
        assert "PostgreSQL init process complete" in logs(container)
        container.stop(timeout=EXIT_TIMEOUT_SECONDS)  # SIGINT: a fast shutdown
        assert wait_exit(container) == 0, logs(container)
    # No password now: the database exists, so none is needed to start.
    with postgres(client, image, volume, {}) as container:
        wait_ready(container)
        assert psql(container, "SELECT note FROM kept", PASSWORD) == (0, "still here")
        assert "Skipping initialization" in logs(container)
        assert psql(container, "SELECT 1", "wrong", host=address(container))[0] != 0


def test_refuses_a_first_start_without_a_password(
    client: docker.DockerClient, image: str, volume: str
) -> None:
    with postgres(client, image, volume, {}) as container:
        assert wait_exit(container) != 0
        assert "superuser password is not specified" in logs(container)
        assert "POSTGRES_PASSWORD" in logs(container)


def test_started_as_root_it_runs_as_postgres(
    client: docker.DockerClient, image: str, volume: str
) -> None:
    """Without `user:` (and with the capabilities to hand PGDATA over), as officially."""
    with postgres(
        client, image, volume, {"POSTGRES_PASSWORD": PASSWORD}, lockdown=False
    ) as container:
        wait_ready(container)
        code, output = container.exec_run(["sh", "-c", "grep ^Uid: /proc/1/status"])
        assert code == 0, output
        uid = output.decode().split()[1]
        code, expected = container.exec_run(["id", "-u", "postgres"])
        assert uid == expected.decode().strip(), output
        assert psql(container, "SELECT 1", PASSWORD, host=address(container)) == (0, "1")
