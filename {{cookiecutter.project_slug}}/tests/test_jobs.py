{%- set plan = cookiecutter | plan -%}
"""The example job: the route refuses bad input before anything is queued, and the job
itself does its work when called (the worker and Redis are the stack's: `make up`)."""

import pytest
from flask.testing import FlaskClient

from {{ cookiecutter.project_slug }} import create_app
{%- if not plan.sql %}
from {{ cookiecutter.project_slug }}.jobs import write_note
{%- endif %}


@pytest.fixture
def client() -> FlaskClient:
    # No Redis here: nothing in these tests reaches the queue.
    return create_app({"TESTING": True, "REDIS_URL": "redis://127.0.0.1:9/0"}).test_client()


@pytest.mark.parametrize(
    "body", [None, {}, {"text": ""}, {"text": "   "}, {"text": 3}, {"text": "x" * 501}]
)
def test_bad_input_is_refused_before_queueing(client: FlaskClient, body: object) -> None:
    answer = client.post("/jobs", json=body)
    assert answer.status_code == 400
{%- if not plan.sql %}


def test_the_job_counts_the_words() -> None:
    result = write_note{{ ".run" if plan.worker == "celery" }}("hello big world")
    assert result == {"text": "hello big world", "words": 3}
{%- endif %}
