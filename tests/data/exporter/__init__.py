"""An app with RQ jobs of its own, the way RQ apps are written (any importable function
is a job): POST /posts keeps a post in Redis, POST /exports queues export_posts on the
app's own "exports" queue and answers 202 with the job's ID, GET /exports/<id> reads
the job back. It reads REDIS_URL, as RQ apps commonly do, when it first needs Redis."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, abort, request
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

POSTS = "exporter:posts"

app = Flask(__name__)


def connection() -> Redis:
    return Redis.from_url(os.environ["REDIS_URL"])


def exports() -> Queue:
    return Queue("exports", connection=connection())


def export_posts(title: str) -> dict[str, Any]:
    """The job, run by a worker: every post so far, as CSV."""
    posts = [post.decode() for post in connection().lrange(POSTS, 0, -1)]
    return {"title": title, "count": len(posts), "csv": "".join(f"{p}\n" for p in posts)}


@app.post("/posts")
def add_post() -> tuple[dict[str, int], int]:
    text = request.form.get("text", "")
    if not text:
        abort(400)
    return {"posts": connection().rpush(POSTS, text)}, 201


@app.post("/exports")
def start_export() -> tuple[dict[str, str], int]:
    job = exports().enqueue(export_posts, request.form.get("title", "posts"))
    return {"id": job.id}, 202


@app.get("/exports/<job_id>")
def show_export(job_id: str) -> dict[str, Any]:
    try:
        job = Job.fetch(job_id, connection=connection())
    except NoSuchJobError:
        abort(404)
    return {"status": job.get_status().value, "result": job.return_value()}
