"""A pool of its own, smaller than the threads, on a real stack (DATABASE_POOL_SIZE in
.env, other than the default's): each uWSGI worker opens that many PostgreSQL
connections, not one per thread, and many more clients than connections on the database
page get their 200s, each request waiting its turn for a connection instead of failing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_database_load import add_note, app_connections

from conftest import Bake
from helpers import WORKERS_LOADED_S, Load, every_worker_loaded, wait_until
from hooks.plan import Plan
from stack import Stack, compose_stack

pytestmark = pytest.mark.docker

ANSWERS = {"database": "postgres"}
PROCESSES = 2
THREADS = 8
POOL = 3
# Four clients per thread, so most requests wait for a connection. Bounded in count and time.
CLIENTS = 4 * PROCESSES * THREADS
MAX_REQUESTS = 2000
MAX_SECONDS = 20


@pytest.fixture(scope="module")
def stack(bake_session_copy: Bake, base_images: dict[str, str]) -> Iterator[Stack]:
    project = bake_session_copy(**ANSWERS)
    with compose_stack(
        project,
        Plan.defaults(**ANSWERS),
        base_images,
        UWSGI_PROCESSES=str(PROCESSES),
        UWSGI_THREADS=str(THREADS),
        DATABASE_POOL_SIZE=str(POOL),
    ) as running:
        add_note(running, "a note")
        yield running


def test_each_worker_opens_the_pool_size_not_a_connection_per_thread(stack: Stack) -> None:
    wait_until(lambda: every_worker_loaded(stack.uwsgi_stats()), WORKERS_LOADED_S)
    assert app_connections(stack) == PROCESSES * POOL


def test_clients_beyond_the_pool_wait_their_turn_and_get_200s(stack: Stack) -> None:
    """Every request waits for a connection, none longer than POOL_TIMEOUT_S: no 503
    for want of one. (A stall of this busy host may still get a request shed for its
    wait for a thread, the 503 any stack gives then.)"""
    result = Load(
        stack.front, "/notes", clients=CLIENTS, max_requests=MAX_REQUESTS, max_seconds=MAX_SECONDS
    ).run()
    print(
        f"\n{CLIENTS} clients, {PROCESSES} processes x {THREADS} threads, a pool of {POOL}:"
        f" {result.requests} requests, {dict(result.statuses)}"
    )
    assert result.failures == []
    assert set(result.statuses) <= {200, 503}, result.statuses
    assert result.statuses[200] >= 0.95 * result.requests, result.statuses
    assert "no database connection free" not in stack.logs("app")
    assert app_connections(stack) == PROCESSES * POOL
