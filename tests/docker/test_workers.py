"""Each `worker` answer on a real stack (Redis, workers, nginx in front): a job queued
through the front door runs and its result is read back; a worker killed with SIGKILL
in the middle of a job costs the web no request and the job is not lost; jobs queued
while every worker is down run once one is back; a worker asked to stop finishes its
job; Redis killed and started again keeps every job the app was told is queued; one
scheduler (RQ's lock, Celery's beat) however many workers; with SENTRY_DSN set, a job
that fails is reported from the worker (a real endpoint taking the SDK's envelopes), and
unset, RQ's worker has not loaded the SDK.

What each library guarantees for a job whose worker was killed (both are tested):
- RQ: the job stays in the StartedJobRegistry; once its heartbeat has lapsed (the
  worker's --job-monitoring-interval, 10 s, then 60 s more) a worker's maintenance
  (every 20 s) finds it abandoned: a job queued with retries left (the example's
  Retry(max=2)) is queued again and runs, one without fails with AbandonedJobError
  in the FailedJobRegistry. Never lost silently; at least once with retries.
- Celery (acks_late, task_reject_on_worker_lost): the task's message was never
  acknowledged, and Redis hands it out again once its visibility timeout (twice
  JOB_TIMEOUT_S) has passed: it runs again, at least once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Bake
from helpers import Load, exchange, wait_until
from hooks.plan import Plan
from stack import Stack, compose_stack, envelope_receiver, health, write_env

# (worker, database): RQ with its result in Redis, Celery writing to SQLite.
VARIANTS = [("rq", "none"), ("celery", "sqlite")]
WORKERS = 2
# A short job time limit, so Celery's visibility timeout (twice it) is short too.
JOB_TIMEOUT_S = 10
# How long the slow jobs of these tests work.
SLOW_JOB_S = 6
# A killed worker's waits: for supervisord to start it again, for its health check,
# for its job to run again.
RESTART_WAIT_S = 20
HEALTHY_WAIT_S = 60
REQUEUE_WAIT_S = 150
# The web's load meanwhile: one client, pausing between its requests so the stack keeps
# its CPUs, bounded by those waits and a margin.
LOAD_PAUSE_S = 0.05
LOAD_SECONDS = RESTART_WAIT_S + HEALTHY_WAIT_S + REQUEUE_WAIT_S + 30


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda variant: "-".join(variant))
def stack(
    request: pytest.FixtureRequest, bake_session_copy: Bake, base_images: dict[str, str]
) -> Iterator[Stack]:
    worker, database = request.param
    answers = {"worker": worker, "database": database}
    project = bake_session_copy(**answers)
    with compose_stack(
        project,
        Plan.defaults(**answers),
        base_images,
        up_options=("--scale", f"worker={WORKERS}"),
        JOB_TIMEOUT_S=str(JOB_TIMEOUT_S),
    ) as running:
        yield running


def post(stack: Stack, path: str, body: bytes) -> tuple[int, bytes]:
    """POST a JSON body through the front door: (status, body)."""
    head = (
        f"POST {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    answer = exchange(stack.front, head.encode() + body, timeout=10)
    head_part, _, answer_body = answer.partition(b"\r\n\r\n")
    return int(head_part.split()[1]), answer_body


def post_job(stack: Stack, text: str) -> dict[str, Any]:
    """POST /jobs through nginx: 202 and the job's ID."""
    status, answer = post(stack, "/jobs", json.dumps({"text": text}).encode())
    assert status == 202, answer
    return json.loads(answer)


def job(stack: Stack, job_id: str) -> dict[str, Any]:
    status, answer = stack.get(f"/jobs/{job_id}")
    assert status == 200, answer
    return json.loads(answer)


def wait_for_status(stack: Stack, job_id: str, wanted: str, seconds: float) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def reached() -> bool:
        """the job reached the wanted status"""
        seen.update(job(stack, job_id))
        return seen["status"] == wanted

    wait_until(reached, seconds, step=0.5)
    return seen


def enqueue_slow(stack: Stack, text: str, seconds: float = SLOW_JOB_S) -> str:
    """Queue the example job working `seconds` first, from inside the app container, as
    the route does (the route takes no duration): its ID."""
    if stack.plan.worker == "rq":
        return enqueue(
            stack,
            f"jobs.queue().enqueue(jobs.write_note, {text!r}, seconds={seconds!r},"
            " retry=rq.Retry(max=jobs.RETRIES))",
        )
    return enqueue(stack, f"jobs.write_note.delay({text!r}, seconds={seconds!r})")


def enqueue(stack: Stack, call: str) -> str:
    """Run `call`, Python that queues a job (with `jobs` the project's module), inside
    the app container in an app context: the job's ID."""
    code = (
        ("import rq\n" if stack.plan.worker == "rq" else "")
        + "from flask_service import create_app, jobs\n"
        + "with create_app().app_context():\n"
        + f"    print({call}.id)\n"
    )
    status, output = stack.exec("app", ["python3", "-c", code])
    assert status == 0, output
    return output.strip().splitlines()[-1]


def workers(stack: Stack) -> list[Any]:
    return sorted(
        stack.client.containers.list(
            all=True,
            filters={
                "label": [
                    f"com.docker.compose.project={stack.name}",
                    "com.docker.compose.service=worker",
                ]
            },
        ),
        key=lambda container: container.name,
    )


def worker_processes(container: Any) -> list[int]:
    """The worker's own processes in a worker container (not docker-init, supervisord or
    its event listener): RQ's worker, its scheduler and work horse; Celery's and its pool."""
    code, output = container.exec_run(
        [
            "python3",
            "-c",
            "import os\n"
            "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "    args = open(f'/proc/{pid}/cmdline').read().split('\\0')\n"
            "    if any(a.endswith(('/rq', '/celery')) for a in args[:2]): print(pid)\n",
        ]
    )
    assert code == 0, output
    return [int(pid) for pid in output.decode().split()]


def busy_worker(stack: Stack, job_id: str) -> Any:
    """The worker container whose log shows it took the job."""
    for container in workers(stack):
        if job_id in container.logs().decode(errors="replace"):
            return container
    raise AssertionError("no worker took the slow job")


def test_a_job_queued_through_the_front_door_runs(stack: Stack) -> None:
    started = post_job(stack, "hello big world")
    assert started["url"] == f"/jobs/{started['id']}"
    done = wait_for_status(stack, started["id"], "finished", 30)
    if stack.plan.sql:
        assert done["result"]["text"] == "hello big world"
        _, notes = stack.get("/notes")
        assert "hello big world" in [note["text"] for note in json.loads(notes)["notes"]]
    else:
        assert done["result"] == {"text": "hello big world", "words": 3}


def test_bad_input_queues_nothing(stack: Stack) -> None:
    status, _ = post(stack, "/jobs", b'{"text": ""}')
    assert status == 400


def test_one_scheduler_however_many_workers(stack: Stack) -> None:
    assert len(workers(stack)) == WORKERS
    if stack.plan.worker == "rq":
        # Each worker's scheduler tries for the queue's lock in Redis; one holds it.
        holders = [
            container
            for container in workers(stack)
            if "Acquired scheduler lock" in container.logs().decode(errors="replace")
        ]
        assert len(holders) == 1
    else:
        # Beat is a service of one; its periodic task runs on a worker.
        beat = stack.container("beat")
        assert health(beat) == "healthy"

        def ticked() -> bool:
            """beat's heartbeat task ran"""
            code, output = stack.exec(
                "app",
                [
                    "python3",
                    "-c",
                    "import os, redis; r = redis.Redis.from_url(os.environ['REDIS_URL']);"
                    " print(r.get('flask_service:heartbeat') or '')",
                ],
            )
            return code == 0 and output.strip() not in ("", "b''")

        wait_until(ticked, 30, step=1)


def test_a_worker_killed_mid_job_costs_the_web_nothing_and_loses_no_job(stack: Stack) -> None:
    job_id = enqueue_slow(stack, "slow one")
    wait_for_status(stack, job_id, "started", 20)
    victim = busy_worker(stack, job_id)
    with Load(
        stack.front,
        clients=1,
        max_requests=int(LOAD_SECONDS / LOAD_PAUSE_S),
        max_seconds=LOAD_SECONDS,
        timeout=5,
        pause=LOAD_PAUSE_S,
    ) as load:
        pids = worker_processes(victim)
        assert pids
        code, output = victim.exec_run(["sh", "-c", "kill -KILL " + " ".join(map(str, pids))])
        assert code == 0, output
        # supervisord starts the worker again (autorestart = unexpected).
        wait_until(lambda: set(worker_processes(victim)) - set(pids) != set(), RESTART_WAIT_S)
        wait_until(lambda: health(victim) == "healthy", HEALTHY_WAIT_S)
        # RQ: heartbeat lapse (70 s) and the next maintenance (20-40 s); Celery: the
        # visibility timeout (2 x JOB_TIMEOUT_S) and its restore cycle.
        try:
            done = wait_for_status(stack, job_id, "finished", REQUEUE_WAIT_S)
        except TimeoutError as error:
            logs = "\n".join(container.logs().decode()[-3000:] for container in workers(stack))
            raise AssertionError(f"{job(stack, job_id)}\n{logs}") from error
        assert load.wait_for(1), "the load ran out before the job finished"
    assert done["result"]["text"] == "slow one"
    assert set(load.result.outcomes) == {200}, load.result.outcomes


def test_jobs_queued_while_every_worker_is_down_run_when_one_is_back(stack: Stack) -> None:
    stack.run("stop worker")
    ids = [post_job(stack, f"queued {n}")["id"] for n in range(3)]
    time.sleep(2)
    assert {job(stack, job_id)["status"] for job_id in ids} == {"queued"}
    # The app's metrics count them in the queue's depth (with Celery, beat's periodic
    # task may wait there too).
    series = f'{stack.plan.worker}_queue_jobs{{queue="{stack.plan.worker_queues}"}} '
    [depth] = [line for line in stack.metrics().splitlines() if line.startswith(series)]
    assert float(depth.removeprefix(series)) >= len(ids), depth
    stack.run("start worker")
    for job_id in ids:
        wait_for_status(stack, job_id, "finished", 60)


def test_a_stopping_worker_finishes_its_job(stack: Stack) -> None:
    """`docker compose stop` (a deploy) sends SIGTERM: the running job finishes first."""
    job_id = enqueue_slow(stack, "slow one", seconds=4)
    wait_for_status(stack, job_id, "started", 20)
    stack.run(f"stop --timeout {stack.plan.worker_stop_grace_period} worker")
    assert job(stack, job_id)["status"] == "finished"
    stack.run("start worker")


def test_redis_killed_keeps_every_queued_job(stack: Stack) -> None:
    stack.run("stop worker")
    ids = [post_job(stack, f"kept {n}")["id"] for n in range(3)]
    # SIGKILL: no shutdown save; the append-only file, synced on each write, has them.
    stack.run("kill --signal KILL redis")
    stack.run("start redis")
    wait_until(lambda: health(stack.container("redis")) == "healthy", 60)
    stack.run("start worker")
    for job_id in ids:
        wait_for_status(stack, job_id, "finished", 60)


def test_a_failing_job_is_reported_when_sentry_dsn_is_set(
    stack: Stack, base_images: dict[str, str]
) -> None:
    if stack.plan.worker == "rq":
        # A job may be any importable function: this one answers from the worker's process.
        loaded = enqueue(stack, "jobs.queue().enqueue('sys.modules.__contains__', 'sentry_sdk')")
        assert wait_for_status(stack, loaded, "finished", 30)["result"] is False
    settings = {"SENTRY_ENVIRONMENT": "staging", "SENTRY_RELEASE": "jobs@2"}
    with envelope_receiver(stack, base_images["PYTHON_IMAGE"]) as receiver:
        write_env(stack.project, {"SENTRY_DSN": receiver.dsn, **settings})
        try:
            stack.run(f"up --detach --wait --wait-timeout 120 --scale worker={WORKERS}")
            # time.sleep("never") fails in the job (a TypeError), once: no retries.
            if stack.plan.worker == "rq":
                job_id = enqueue(
                    stack, "jobs.queue().enqueue(jobs.write_note, 'fails', seconds='never')"
                )
            else:
                job_id = enqueue(stack, "jobs.write_note.delay('fails', seconds='never')")
            wait_for_status(stack, job_id, "failed", 30)
            wait_until(receiver.events, 20)
            [event] = receiver.events()
            [exception] = event["exception"]["values"]
            assert exception["type"] == "TypeError"
            assert (event["release"], event["environment"]) == ("jobs@2", "staging")
            if stack.plan.worker == "rq":
                assert event["extra"]["rq-job"]["job_id"] == job_id
            else:
                assert event["extra"]["celery-job"]["task_name"].endswith(".write_note")
        finally:
            write_env(stack.project, {"SENTRY_DSN": ""})
            stack.run(f"up --detach --wait --wait-timeout 120 --scale worker={WORKERS}")
