{%- set plan = cookiecutter | plan -%}
"""The app's settings (`app.config`). What differs between deployments comes from
the environment; main.py adds the secret key and the request body limit."""
{%- if plan.sql %}

from __future__ import annotations

import os
from pathlib import Path
{%- elif plan.queue %}

import os
from pathlib import Path
{%- endif %}

PROJECT_NAME = {{ cookiecutter.project_name | tojson }}
DESCRIPTION = {{ cookiecutter.description | tojson }}
{%- if plan.sql %}


def database_url() -> str | None:
    """DATABASE_URL from the environment, or read from the file DATABASE_URL_FILE names
    (a Docker swarm or Kubernetes secret mounted as a file); None: create_app() uses
    an SQLite file in the instance folder."""
    if path := os.environ.get("DATABASE_URL_FILE"):
        url = Path(path).read_text().strip()
    else:
        url = os.environ.get("DATABASE_URL")
    if not url:
        return None
    # postgres:// and postgresql:// (as hosting providers write them) mean psycopg 3 here.
    scheme, _, rest = url.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


SQLALCHEMY_DATABASE_URI = database_url()
# Check a pooled connection before use: the database may have restarted since.
SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
{%- endif %}
{%- if plan.queue %}

# The queue's Redis (compose sets it: the redis service, with its password), or the
# file REDIS_URL_FILE names (a swarm secret).
REDIS_URL = (
    Path(os.environ["REDIS_URL_FILE"]).read_text().strip()
    if os.environ.get("REDIS_URL_FILE")
    else os.environ.get("REDIS_URL", "redis://localhost:{{ plan.redis_port }}/0")
)
# The longest a job may run; a worker asked to stop waits for it.
JOB_TIMEOUT_S = int(os.environ.get("JOB_TIMEOUT_S", "{{ plan.job_timeout_s }}"))
{%- endif %}
