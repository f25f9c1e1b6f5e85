"""Each `database` answer on a real stack: the migrations run before uWSGI serves, the
data outlives `down`/`up`, two replicas starting together migrate one after the other,
and a migration that fails stops the container. Prints the cold start (`up` until
healthy) and the image sizes of each answer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from conftest import Bake
from helpers import exchange, wait_until
from hooks.plan import Plan
from migrations import (
    SLOW_MIGRATION,
    SLOW_MIGRATION_SECONDS,
    lock_turns,
    seconds_from,
    slow_migration_runs,
)
from stack import UP_TIMEOUT_SECONDS, Stack, compose_stack, docker_client

# (database, server): each answer behind the default nginx, and SQLite without nginx.
VARIANTS = [
    ("none", "nginx-uwsgi"),
    ("sqlite", "nginx-uwsgi"),
    ("postgres", "nginx-uwsgi"),
    ("sqlite", "standalone"),
]
FAILING_MIGRATION = '''"""fails

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT * FROM no_such_table")


def downgrade() -> None:
    pass
'''


def variant_id(variant: tuple[str, str]) -> str:
    return "-".join(variant)


@pytest.fixture(scope="module", params=VARIANTS, ids=variant_id)
def stack(
    request: pytest.FixtureRequest, bake_session_copy: Bake, base_images: dict[str, str]
) -> Iterator[Stack]:
    database, server = request.param
    answers = {"database": database, "server": server}
    project = bake_session_copy(**answers)
    with compose_stack(project, Plan.defaults(**answers), base_images) as running:
        yield running


def up_until_healthy(stack: Stack) -> float:
    """`docker compose up --wait` of built images: seconds until every container is healthy."""
    start = time.monotonic()
    stack.run(f"up --detach --wait --wait-timeout {UP_TIMEOUT_SECONDS}")
    return time.monotonic() - start


def notes(stack: Stack) -> list[str]:
    status, body = stack.get("/notes")
    assert status == 200, body
    return [note["text"] for note in json.loads(body)["notes"]]


def add_note(stack: Stack, text: str) -> None:
    body = json.dumps({"text": text}).encode()
    head = (
        "POST /notes HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    answer = exchange(stack.front, head.encode() + body, timeout=10)
    assert answer.split(b" ", 2)[1] == b"201", answer


def test_a_cold_start_migrates_before_uwsgi_serves(stack: Stack) -> None:
    """From nothing (fresh volumes) to healthy; the first request finds the tables."""
    stack.run("down --volumes --timeout 60")
    seconds = up_until_healthy(stack)
    services = ["app"] + ["nginx"] * stack.plan.nginx + ["db"] * (stack.plan.database == "postgres")
    images = docker_client().images
    sizes = {name: images.get(f"{stack.name}-{name}").attrs["Size"] / 1e6 for name in services}
    print(
        f"database={stack.plan.database} server={stack.plan.server}: cold start {seconds:.1f} s;"
        " images " + ", ".join(f"{name} {size:.0f} MB" for name, size in sizes.items())
    )
    log = stack.logs("app")
    if stack.plan.database == "none":
        assert "migrate:" not in log
        assert stack.get("/notes")[0] == 404
        return
    assert notes(stack) == []
    migrated = log.index("migrate: at head 0001")
    assert "migrate: upgraded from an empty database to 0001" in log
    assert migrated < log.index("spawned uWSGI master process")


# Run in the app's container with its own DATABASE_URL: who it is, the tables and their
# owners, then each statement given, with what the server answered.
AS_THE_APP = """
import json, os, sys
import psycopg

with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as connection:
    role = "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles"
    answers = {
        "role": connection.execute(role + " WHERE rolname = current_user").fetchone(),
        "tables": connection.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall(),
    }
    for statement in sys.argv[1:]:
        try:
            connection.execute(statement)
            answers[statement] = "done"
        except psycopg.Error as error:
            answers[statement] = str(error)
print(json.dumps(answers))
"""
# What the app's role is refused, and the server's words for it.
REFUSED = {
    "CREATE ROLE intruder SUPERUSER LOGIN": "permission denied to create role",
    "SELECT * FROM pg_authid": "permission denied for table pg_authid",
    "CREATE DATABASE intruder": "permission denied to create database",
    "ALTER ROLE CURRENT_USER SUPERUSER": "permission denied to alter role",
}


@pytest.mark.parametrize("stack", [("postgres", "nginx-uwsgi")], ids=variant_id, indirect=True)
def test_the_app_connects_as_a_role_that_owns_its_tables_and_nothing_more(stack: Stack) -> None:
    """The app's DATABASE_URL logs in as a role that is no superuser: it cannot make
    roles or databases, read the password hashes or raise itself; its migrations applied."""
    code, output = stack.exec("app", ["python3", "-c", AS_THE_APP, *REFUSED])
    assert code == 0, output
    answers = json.loads(output)
    role = stack.plan.postgres_user
    assert answers["role"] == [role, False, False, False]
    assert sorted(answers["tables"]) == [["alembic_version", role], ["notes", role]]
    for statement, refusal in REFUSED.items():
        assert refusal in answers[statement], (statement, answers[statement])
    print(f"database=postgres: the app is {role}, refused: {', '.join(REFUSED)}")


def test_the_data_outlives_down_and_up(stack: Stack) -> None:
    if stack.plan.database == "none":
        assert stack.get("/notes")[0] == 404
        return
    add_note(stack, "kept")
    assert notes(stack) == ["kept"]
    stack.run("down --timeout 60")
    seconds = up_until_healthy(stack)
    print(f"database={stack.plan.database}: up again with its data in {seconds:.1f} s")
    assert notes(stack) == ["kept"]
    log = stack.logs("app")
    assert "migrate: at head 0001" in log
    assert "migrate: upgraded" not in log


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_two_replicas_starting_together_migrate_one_at_a_time(
    bake_session_copy: Bake, base_images: dict[str, str], database: str
) -> None:
    """Two app containers on one database (a shared instance volume, or the db service)
    start at once: one runs the slow migration under the lock while the other waits,
    then finds the database at head. nginx-http: TCP, so both can listen."""
    answers = {"database": database, "server": "nginx-http"}
    project = bake_session_copy(**answers)
    versions = project / "flask_service/migrations/versions"
    (versions / "0002_slow.py").write_text(SLOW_MIGRATION)
    plan = Plan.defaults(**answers)
    with compose_stack(project, plan, base_images, up_options=("--scale", "app=2")) as stack:
        apps = [
            container
            for container in stack.containers()
            if container.labels["com.docker.compose.service"] == "app"
        ]
        assert len(apps) == 2
        # The database holds one run of the slow migration, in one replica; the other asked
        # for the lock while it ran, and got it once it had ended.
        [run] = slow_migration_runs(apps[0])
        assert (run.ended - run.started).total_seconds() >= SLOW_MIGRATION_SECONDS
        turns = lock_turns(apps)
        [other] = [turn for host, turn in turns.items() if host != run.host]
        assert other.waiting < run.ended < other.got, f"not one at a time: {run}, {turns}"
        logs = [container.logs().decode(errors="replace") for container in apps]
        assert all("migrate: at head 0002" in log for log in logs)
        assert not any("migrate: failed" in log for log in logs)
        assert sum("migrate: upgraded from an empty database to 0002" in log for log in logs) == 1
        print(
            f"database={database}: the migration ran in one replica from 0 to"
            f" {seconds_from(run.started, run.ended)}; the other waited from"
            f" {seconds_from(run.started, other.waiting)} and got the lock at"
            f" {seconds_from(run.started, other.got)}"
        )


def test_a_failed_migration_stops_the_container(
    bake_session_copy: Bake, base_images: dict[str, str]
) -> None:
    """uWSGI never starts on a database the migrations could not bring to head: the
    container exits non-zero (and its restart policy tries again)."""
    answers = {"database": "sqlite", "server": "standalone"}
    project = bake_session_copy(**answers)
    (project / "flask_service/migrations/versions/0002_fails.py").write_text(FAILING_MIGRATION)
    plan = Plan.defaults(**answers)
    with compose_stack(project, plan, base_images, wait=False) as stack:
        app = stack.container("app")

        def restarted() -> bool:
            app.reload()
            return app.attrs["RestartCount"] >= 1

        wait_until(restarted, 90)
        log = stack.logs("app")
        assert "migrate: failed" in log
        assert "spawned uWSGI" not in log
        assert app.attrs["State"]["Health"]["Status"] != "healthy"
