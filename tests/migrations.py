"""The migration lock's proof: a slow second migration that records its run in the
database, and each replica's turn at the lock, read from docker's timestamps of its
log lines (tests/docker/test_database.py, tests/docker/test_swarm.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docker.models.containers import Container


# A second migration that takes a while, so replicas starting together would overlap. It
# records its run in the database: the host name of the container that ran it, and when
# the run started and ended by that container's clock (the host's, as docker's is).
SLOW_MIGRATION_SECONDS = 5
SLOW_MIGRATION = f'''"""slow

Revision ID: 0002
Revises: 0001
"""

import socket
import time

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    runs = op.create_table(
        "slow_migration_run",
        sa.Column("host", sa.String(64)),
        sa.Column("started", sa.Float),
        sa.Column("ended", sa.Float),
    )
    started = time.time()
    time.sleep({SLOW_MIGRATION_SECONDS})
    row = {{"host": socket.gethostname(), "started": started, "ended": time.time()}}
    op.bulk_insert(runs, [row])


def downgrade() -> None:
    op.drop_table("slow_migration_run")
'''
# Prints each row of SLOW_MIGRATION's table, read with the app's own settings and engine.
RUNS_SCRIPT = """
from sqlalchemy import text
from main import app
with app.app_context(), app.extensions["sqlalchemy"].engine.connect() as connection:
    for row in connection.execute(text("SELECT host, started, ended FROM slow_migration_run")):
        print("run", *row)
"""


@dataclass(frozen=True)
class MigrationRun:
    """One run of SLOW_MIGRATION, as the database recorded it."""

    host: str
    started: datetime
    ended: datetime


@dataclass(frozen=True)
class LockTurn:
    """When docker read a replica's `migrate: waiting for the lock` and `got the lock`
    lines: by the host's clock, and never before the line was written."""

    waiting: datetime
    got: datetime


def slow_migration_runs(app: Container) -> list[MigrationRun]:
    """The runs of SLOW_MIGRATION the database holds, read in an app container the way
    ops/migrate.py reads it (the settings file in the environment, the app's engine)."""
    command = ["python3", "ops/with_settings.py", "/run/secrets/settings", "python3", "-c"]
    # The app's log records go to stderr, apart.
    code, (output, errors) = app.exec_run([*command, RUNS_SCRIPT], demux=True)
    assert code == 0, (errors or b"").decode(errors="replace")
    rows = re.findall(r"^run (\S+) (\S+) (\S+)$", (output or b"").decode(), re.MULTILINE)
    return [MigrationRun(host, at_epoch(started), at_epoch(ended)) for host, started, ended in rows]


def at_epoch(seconds: str) -> datetime:
    return datetime.fromtimestamp(float(seconds), tz=UTC)


def logged_at(log: str, text: str) -> datetime:
    """docker's timestamp of the first line of a log (read with timestamps=True) holding text."""
    for line in log.splitlines():
        stamp, _, message = line.partition(" ")
        if text in message:
            return datetime.fromisoformat(stamp)
    raise AssertionError(f"no {text!r} in the log:\n{log}")


def seconds_from(start: datetime, moment: datetime) -> str:
    """moment as seconds from start: "+5.02 s"."""
    return f"{(moment - start).total_seconds():+.2f} s"


def lock_turn(app: Container) -> LockTurn:
    log = app.logs(timestamps=True).decode(errors="replace")
    return LockTurn(
        waiting=logged_at(log, "migrate: waiting for the lock"),
        got=logged_at(log, "migrate: got the lock"),
    )


def lock_turns(apps: list[Container]) -> dict[str, LockTurn]:
    """Each app replica's turn at the migration lock, by its host name."""
    return {app.attrs["Config"]["Hostname"]: lock_turn(app) for app in apps}
