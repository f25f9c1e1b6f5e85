{%- set plan = cookiecutter | plan -%}
"""Background jobs: POST /jobs queues one, GET /jobs/<id> shows how it went.

The shape to copy for a task of your own: a function the worker runs ({{ "an RQ job" if plan.worker == "rq" else "a Celery task" }}),
a route that queues it and answers at once (202), and a route that reads its state
and result back. {{ "The job writes a note to the database, and its result is the note." if plan.sql else "Its result is kept in Redis, beside the queue." }}
"""

from __future__ import annotations

import time
from typing import Any
{% if plan.worker == "rq" %}
from flask import Blueprint, abort, current_app, request, url_for
from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
{%- else %}
from celery import Celery, Task, shared_task
from celery.result import AsyncResult
from flask import Blueprint, Flask, abort, request, url_for
{%- endif %}
{%- if plan.sql %}

from .extensions import db
from .models import NOTE_LENGTH, Note
{%- endif %}

blueprint = Blueprint("jobs", __name__)
{%- if not plan.sql %}

# The longest text a job takes.
NOTE_LENGTH = 500
{%- endif %}
{%- if plan.worker == "rq" %}
# A job the worker was killed in the middle of runs again, at most this many times.
RETRIES = 2
# The queue the example's jobs go to (WORKER_QUEUES names those the worker takes).
QUEUE = "default"


def queue() -> Queue:
    """The queue, on the Redis at REDIS_URL; a job runs for at most JOB_TIMEOUT_S."""
    connection = Redis.from_url(current_app.config["REDIS_URL"])
    return Queue(QUEUE, connection=connection, default_timeout=current_app.config["JOB_TIMEOUT_S"])
{%- else %}


def celery_init_app(app: Flask) -> Celery:
    """The Celery app, configured from the Flask app's settings; each task runs in an app
    context (Flask's pattern). The worker runs it: `celery --app {{ cookiecutter.project_slug }}.worker worker`."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    timeout = app.config["JOB_TIMEOUT_S"]
    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=app.config["REDIS_URL"],
        result_backend=app.config["REDIS_URL"],
        # A task is taken off the queue once it has run, not as it starts: a worker
        # killed in the middle leaves it there, and it runs again (at least once).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One task reserved at a time by each worker process: a worker killed loses no
        # queued task it had not started.
        worker_prefetch_multiplier=1,
        # A task runs for at most JOB_TIMEOUT_S; Redis hands a task nobody acknowledged
        # to another worker after twice that (its default, an hour, would wait too long).
        task_time_limit=timeout,
        broker_transport_options={"visibility_timeout": 2 * timeout},
        # STARTED is a state of its own, not PENDING.
        task_track_started=True,
        broker_connection_retry_on_startup=True,
        # Periodic tasks, run by beat (one instance: the beat service).
        beat_schedule={
            "heartbeat": {"task": f"{__name__}.heartbeat", "schedule": {{ plan.worker_heartbeat_s }}.0},
        },
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
{%- endif %}


@blueprint.post("/jobs")
def start() -> tuple[dict[str, Any], int]:
    """Queue the example job with a JSON {"text": ...}: 202, and where to read it back."""
    body = request.get_json(silent=True)
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip() or len(text) > NOTE_LENGTH:
        abort(400, f'expected a JSON object with a "text" of 1 to {NOTE_LENGTH} characters')
{%- if plan.worker == "rq" %}
    job = queue().enqueue(write_note, text.strip(), retry=Retry(max=RETRIES))
    job_id = job.id
{%- else %}
    job_id = write_note.delay(text.strip()).id
{%- endif %}
    return {"id": job_id, "url": url_for(".show", job_id=job_id)}, 202


@blueprint.get("/jobs/<job_id>")
def show(job_id: str) -> dict[str, Any]:
    """A job's state (queued, started, finished, failed) and, once finished, its result."""
{%- if plan.worker == "rq" %}
    try:
        job = Job.fetch(job_id, connection=queue().connection)
    except NoSuchJobError:
        abort(404)
    status = job.get_status()
    answer: dict[str, Any] = {"id": job.id, "status": status.value}
    if status == JobStatus.FINISHED:
        answer["result"] = job.return_value()
    elif status == JobStatus.FAILED and (result := job.latest_result()) is not None:
        # The last line of the traceback (AbandonedJobError: its worker was killed).
        answer["error"] = (result.exc_string or "").strip().splitlines()[-1:]
    return answer
{%- else %}
    result = AsyncResult(job_id)
    # Celery answers PENDING for an ID it does not know.
    state = {
        "PENDING": "queued",
        "STARTED": "started",
        "RETRY": "queued",
        "SUCCESS": "finished",
        "FAILURE": "failed",
    }
    answer: dict[str, Any] = {"id": job_id, "status": state.get(result.state, result.state.lower())}
    if result.successful():
        answer["result"] = result.result
    elif result.failed():
        answer["error"] = [repr(result.result)]
    return answer
{%- endif %}

{% if plan.worker == "celery" %}
@shared_task(name=f"{__name__}.write_note")
{%- endif %}
def write_note(text: str, seconds: float = 0) -> dict[str, Any]:
    """The job, run by the worker: {{ "the text saved as a note; the note is its result" if plan.sql else "the text and its word count, kept as its result" }}.
    `seconds`: how long it works first (the tests stop workers in the middle)."""
    time.sleep(seconds)
{%- if plan.sql %}
{%- if plan.worker == "rq" %}
    # RQ runs the job outside any request: an app context of its own for the database.
    from . import create_app

    with create_app().app_context():
        note = Note(text=text)
        db.session.add(note)
        db.session.commit()
        return note.as_json()
{%- else %}
    note = Note(text=text)
    db.session.add(note)
    db.session.commit()
    return note.as_json()
{%- endif %}
{%- else %}
    return {"text": text, "words": len(text.split())}
{%- endif %}
{%- if plan.worker == "celery" %}


@shared_task(name=f"{__name__}.heartbeat", ignore_result=True)
def heartbeat() -> float:
    """A periodic task (beat_schedule above): the time it last ran, in Redis."""
    now = time.time()
    write_note.app.backend.client.set("{{ cookiecutter.project_slug }}:heartbeat", now)
    return now
{%- endif %}
