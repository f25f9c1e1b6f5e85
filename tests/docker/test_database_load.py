"""PostgreSQL's connection budget on a real stack, as on a bigger host: uWSGI forced to
the processes `auto` gives the biggest host compose's database is sized for
(UWSGI_PROCESSES: a worker per CPU of compose_cpus), 256 clients on a database page:
every answer a 200 or a 503, PostgreSQL never refuses a connection, no traceback. More
processes than the database accepts stop the start with one line. At 4x the requests it
serves at once, every answer a 200 or a 503 with Retry-After, none dropped by nginx,
even after as many clients left while their requests waited in uWSGI's queue.
When PostgreSQL refuses the app's connections or is down, each request gets a 503 with
Retry-After and one log line. The metrics exporter reads PostgreSQL's statistics as the
app's role. One stack for all."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from conftest import Bake
from helpers import (
    WORKERS_LOADED_S,
    Load,
    every_worker_loaded,
    exchange,
    json_lines,
    send_request,
    wait_until,
)
from hooks.plan import Plan
from stack import Stack, compose_stack

pytestmark = pytest.mark.docker

ANSWERS = {"database": "postgres"}
BIG_HOST_PROCESSES = Plan.defaults(**ANSWERS).compose_processes
CLIENTS = 256
# Bounded in count and time: about as many as the stack answers in the time.
MAX_REQUESTS = 8000
MAX_SECONDS = 40
NOTES = 20
# The overload (plan.overload_factor x the requests the stack serves at once) on the
# database page, bounded in time and count.
OVERLOAD_SECONDS = 5
OVERLOAD_MAX_REQUESTS = 8000
# Each request's own limit: far past any answer the stack gives, so a late answer
# still counts and only a hang is a timeout.
OVERLOAD_TIMEOUT_S = 30
# Long enough for nginx to pass every request sent on to uWSGI's listen queue.
PASSED_ON_S = 2
# Requests while the database refuses: each one answered on its own.
REFUSED_REQUESTS = 5
GET_NOTES = b"GET /notes HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


@pytest.fixture(scope="module")
def stack(bake_session_copy: Bake, base_images: dict[str, str]) -> Iterator[Stack]:
    project = bake_session_copy(**ANSWERS)
    plan = Plan.defaults(**ANSWERS)
    with compose_stack(
        project, plan, base_images, UWSGI_PROCESSES=str(BIG_HOST_PROCESSES)
    ) as running:
        for number in range(NOTES):
            add_note(running, f"note {number}")
        yield running


def add_note(stack: Stack, text: str) -> None:
    body = json.dumps({"text": text}).encode()
    head = (
        "POST /notes HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    answer = exchange(stack.front, head.encode() + body, timeout=10)
    assert answer.split(b" ", 2)[1] == b"201", answer


def test_uwsgi_runs_the_processes_the_environment_sets(stack: Stack) -> None:
    workers = stack.uwsgi_stats()["workers"]
    assert len(workers) == BIG_HOST_PROCESSES
    assert {len(worker["cores"]) for worker in workers} == {stack.plan.threads}


def app_connections(stack: Stack) -> int:
    """The app's connections to PostgreSQL, the metrics exporter's aside."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE usename = 'app' AND application_name <> 'metrics'"
    )
    return int(psql(stack, sql).split()[2])


def test_each_worker_opens_its_pool_as_it_starts(stack: Stack) -> None:
    """Every worker's pool, open before the load: a burst of requests on a busy host then
    waits for no new connection. The stack is healthy once one worker answers; on a busy
    host the others are still loading the app."""
    wait_until(lambda: every_worker_loaded(stack.uwsgi_stats()), WORKERS_LOADED_S)
    assert app_connections(stack) == BIG_HOST_PROCESSES * stack.plan.pool_size


def test_256_clients_on_a_database_page_get_200s_or_503s(stack: Stack) -> None:
    started = time.monotonic()
    with Load(
        stack.front, "/notes", clients=CLIENTS, max_requests=MAX_REQUESTS, max_seconds=MAX_SECONDS
    ) as load:
        load.wait_for(MAX_REQUESTS)
    result = load.result
    elapsed = time.monotonic() - started
    print(
        f"\n{BIG_HOST_PROCESSES} processes x {stack.plan.threads} threads, {CLIENTS} clients on"
        f" /notes: {result.requests} requests in {elapsed:.1f} s, {dict(result.statuses)},"
        f" {len(result.failures)} failed"
    )
    assert result.failures == []
    assert set(result.statuses) <= {200, 503}, result.statuses
    assert result.statuses[200] >= result.requests // 2, result.statuses
    assert "too many clients" not in stack.logs("db")
    assert "Traceback" not in stack.logs("app")


def test_4x_what_the_stack_serves_at_once_gets_200s_or_503s(stack: Stack) -> None:
    """4x the processes x threads in clients: nginx holds every connection (its
    worker_connections are sized for it), uWSGI's listen queue every one its threads do
    not, and the app sheds what waited too long, so every answer is a 200 or a 503 with
    Retry-After: no 502, no 500, no reset."""
    plan = stack.plan
    clients = plan.overload_factor * BIG_HOST_PROCESSES * plan.threads
    answers = Load(
        stack.front,
        "/notes",
        clients=clients,
        max_requests=OVERLOAD_MAX_REQUESTS,
        max_seconds=OVERLOAD_SECONDS,
        timeout=OVERLOAD_TIMEOUT_S,
    ).run()
    print(
        f"\n{BIG_HOST_PROCESSES} processes x {plan.threads} threads, {clients} clients on /notes:"
        f" {dict(answers.outcomes)}, 200s p99 {answers.p99_200():.2f} s"
    )
    assert set(answers.outcomes) <= {200, 503}, answers.outcomes
    assert answers.outcomes[200] >= BIG_HOST_PROCESSES * plan.threads, answers.outcomes
    assert set(answers.retry_after) <= {str(plan.retry_after_s)}, answers.retry_after
    assert "worker_connections are not enough" not in stack.logs("nginx")
    assert "Traceback" not in stack.logs("app")


def leave_queued(address: str, clients: int) -> None:
    """`clients` connections to host:port that each send GET /notes and hang up before
    any answer, once nginx has passed every one on."""
    host, _, port = address.rpartition(":")
    sockets = [socket.create_connection((host, int(port)), timeout=10) for _ in range(clients)]
    try:
        for sock in sockets:
            sock.sendall(GET_NOTES)
        time.sleep(PASSED_ON_S)
    finally:
        for sock in sockets:
            sock.close()


def test_clients_that_left_while_queued_leave_room_for_the_next(stack: Stack) -> None:
    """With the app paused (no thread takes a connection), 4x the processes x threads
    in clients send a request and hang up: nginx closes its end of each, but each keeps
    its place in uWSGI's listen queue until a thread takes it. 4x as many clients after
    them still fit, and get 200s or 503s once the app goes on: none of nginx's 502s."""
    plan = stack.plan
    clients = plan.overload_factor * plan.served_at_once
    stack.run("pause app")
    try:
        leave_queued(stack.front, clients)
        with Load(
            stack.front,
            "/notes",
            clients=clients,
            max_requests=clients,
            max_seconds=OVERLOAD_TIMEOUT_S,
            timeout=OVERLOAD_TIMEOUT_S,
        ) as load:
            time.sleep(PASSED_ON_S)
            stack.run("unpause app")
        # Leaving the block waited for each client's one answer.
    finally:
        if stack.run("ps --status paused --quiet app").strip():
            stack.run("unpause app")
    outcomes = load.result.outcomes
    print(f"\n{clients} clients after {clients} that left: {dict(outcomes)}")
    assert load.result.requests == clients, outcomes
    assert set(outcomes) <= {200, 503}, outcomes
    assert "Traceback" not in stack.logs("app")


def test_more_processes_than_the_database_accepts_stop_the_start(stack: Stack) -> None:
    """One process more than the db service's max_connections allows: the container
    stops before uWSGI starts, with one line saying what to change."""
    plan = stack.plan
    accepted = plan.postgres_max_connections - 3
    # Beside the processes' pools: the metrics exporter's one, the migrations' two.
    processes = (accepted - 3) // plan.pool_size + 1
    output = stack.compose.execute(
        f"run --rm --no-deps -e UWSGI_PROCESSES={processes} app", success_codes=(1,)
    ).decode(errors="replace")
    lines = [line for line in output.splitlines() if "connections" in line]
    assert lines == [
        f"migrate: the database accepts {accepted} connections, the service may open"
        f" {processes * plan.pool_size + 3} (1 app replica(s) x {processes} processes"
        f" x {plan.pool_size} pooled connections (DATABASE_POOL_SIZE) + 1 for metrics"
        " + 2 for migrations): set UWSGI_PROCESSES,"
        " UWSGI_THREADS or DATABASE_POOL_SIZE lower, or raise the database's max_connections"
        " (README.md, Database connections)"
    ], output
    assert "Traceback" not in output


def psql(stack: Stack, sql: str) -> str:
    """Run SQL as PostgreSQL's superuser, on the db container's own socket."""
    code, output = stack.exec("db", ["psql", "-v", "ON_ERROR_STOP=1", "-c", sql], user="postgres")
    assert code == 0, output
    return output


def unavailable_lines(stack: Stack) -> list[str]:
    """The app's log lines for requests answered 503 because the database was unavailable."""
    messages = [entry["message"] for entry in json_lines(stack.logs("app"))]
    return [message for message in messages if "the database is unavailable" in message]


def refused_replies(stack: Stack) -> list[tuple[int | str, str | None]]:
    """GET /notes a few times: each answer's status (or how it ended) and Retry-After."""
    replies = [send_request(stack.front, GET_NOTES) for _ in range(REFUSED_REQUESTS)]
    return [(reply.outcome, reply.headers.get("retry-after")) for reply in replies]


def assert_one_line_each(stack: Stack, before: int, reason: str) -> None:
    lines = unavailable_lines(stack)[before:]
    assert len(lines) == REFUSED_REQUESTS, lines
    assert all(line.startswith("503 for GET /notes: ") and reason in line for line in lines), lines
    assert "Traceback" not in stack.logs("app")


def test_a_database_refusing_connections_gets_503s(stack: Stack) -> None:
    """PostgreSQL refuses the app's role every new connection (as when it has too many
    clients) and drops those open: each request a 503 with Retry-After, one log line."""
    before = len(unavailable_lines(stack))
    psql(
        stack,
        "ALTER ROLE app CONNECTION LIMIT 0;"
        " SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'app'",
    )
    try:
        replies = refused_replies(stack)
    finally:
        psql(stack, "ALTER ROLE app CONNECTION LIMIT -1")
    retry_after = str(stack.plan.retry_after_s)
    assert replies == [(503, retry_after)] * REFUSED_REQUESTS
    assert_one_line_each(stack, before, "too many connections for role")
    assert stack.get("/notes")[0] == 200


def postgres_metrics(stack: Stack) -> dict[str, float]:
    """The exporter's PostgreSQL series (pg_*), by name and labels: their values."""
    return {
        name: float(value)
        for name, _, value in (line.rpartition(" ") for line in stack.metrics().splitlines())
        if name.startswith("pg_")
    }


def test_the_metrics_read_postgresql_as_the_apps_role(stack: Stack) -> None:
    """The app container's exporter reads PostgreSQL's statistics on a connection of its
    own as the app's role (no superuser, no monitoring role): its limit, the connections
    by state, the transactions; the connection is closed after the scrape."""
    metrics = postgres_metrics(stack)
    assert metrics["pg_up"] == 1, metrics
    assert metrics["pg_settings_max_connections"] == stack.plan.postgres_max_connections
    assert metrics["pg_stat_database_xact_commit_total"] > 0, metrics
    assert metrics["pg_database_size_bytes"] > 0, metrics
    assert metrics['pg_stat_activity_count{state="active"}'] >= 1, metrics
    assert metrics["pg_stat_database_deadlocks_total"] == 0, metrics

    def scrape_connection_closed() -> bool:
        """no backend serves the exporter any more"""
        sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'metrics'"
        return psql(stack, sql).split()[2] == "0"

    wait_until(scrape_connection_closed, 10)


def pool_deferred_lines(stack: Stack) -> list[str]:
    """The app's log lines of workers that started while the database was unavailable."""
    messages = [entry["message"] for entry in json_lines(stack.logs("app"))]
    return [message for message in messages if "the pool opens with the first" in message]


def test_a_database_that_is_down_gets_503s_until_it_is_back(stack: Stack) -> None:
    """The db container stopped: each request a 503 with Retry-After and one log line,
    and the metrics say the database is down; workers reloaded meanwhile start all the
    same, one line each. Started again, the pools serve again without a restart."""
    before = len(unavailable_lines(stack))
    deferred = len(pool_deferred_lines(stack))
    stack.run("stop db")
    try:
        replies = refused_replies(stack)
        down = postgres_metrics(stack)
        # make reload: a chain reload, worker by worker.
        stack.exec("app", ["sh", "-c", f"echo c > {stack.plan.master_fifo}"])

        def workers_reloaded() -> bool:
            """every worker started again, its pool left to the first requests"""
            return len(pool_deferred_lines(stack)) - deferred >= BIG_HOST_PROCESSES

        wait_until(workers_reloaded, 120)
    finally:
        stack.run("start db")
    assert replies == [(503, str(stack.plan.retry_after_s))] * REFUSED_REQUESTS
    assert_one_line_each(stack, before, "")
    assert down["pg_up"] == 0, down
    assert wait_until(lambda: stack.get("/notes")[0] == 200, seconds=60) < 60


# In the app container: a database address that takes the connection and never answers
# (a listening socket nobody accepts on), then GET /notes through the app's factory, with
# the garbage collector off; then, on the database's side, whether the attempt's
# connection is still open once the request has its answer. Its log goes to stdout, so
# that the lines come back in the order they were written (docker's two streams do not).
SILENT_DATABASE = """
import gc, os, socket, time
os.dup2(1, 2)
gc.disable()
listener = socket.create_server(("127.0.0.1", 5499))
from flask_service import create_app
client = create_app().test_client()
started = time.monotonic()
answer = client.get("/notes")
print("answered", answer.status_code, answer.headers.get("Retry-After"), time.monotonic() - started)
attempt, _ = listener.accept()
attempt.settimeout(1)
try:
    while attempt.recv(4096):
        pass
    print("attempt closed")
except TimeoutError:
    print("attempt still open")
"""
SILENT_TIMEOUT_S = 2


def test_a_database_that_never_answers_gets_a_503_after_the_connect_timeout(
    stack: Stack,
) -> None:
    """PostgreSQL's address takes the connection but never answers (a host gone silent):
    the new connection fails after the connect timeout (CONNECT_TIMEOUT_S), and the request
    gets its 503 with Retry-After, instead of waiting psycopg's default of 130 s. The
    attempt's connection is closed by then, not left open until the garbage collector
    runs: a real server would hold one of its max_connections for it."""
    code, output = stack.exec(
        "app",
        [
            "env",
            "--unset=DATABASE_URL_FILE",
            "DATABASE_URL=postgresql://app:secret@127.0.0.1:5499/app",
            f"CONNECT_TIMEOUT_S={SILENT_TIMEOUT_S}",
            # Bounded: without a connect timeout the request would wait 130 s.
            "timeout",
            "30",
            "python3",
            "-c",
            SILENT_DATABASE,
        ],
    )
    assert code == 0, output
    answered = [line for line in output.splitlines() if line.startswith("answered ")]
    assert answered, output
    _, status, retry_after, seconds = answered[-1].split()
    assert (status, retry_after) == ("503", str(stack.plan.retry_after_s)), output
    assert SILENT_TIMEOUT_S <= float(seconds) < SILENT_TIMEOUT_S + 3, output
    assert "the database is unavailable" in output
    assert "attempt closed" in output.splitlines(), output
