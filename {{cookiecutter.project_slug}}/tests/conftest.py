{%- set plan = cookiecutter | plan -%}
"""The tests' shared fixtures: the app and a client of it. The service refuses to start
without a secret key: the tests have one of their own."""

import os
{%- if plan.sql %}
from pathlib import Path
{%- endif %}

import pytest
from flask import Flask
from flask.testing import FlaskClient
{%- if plan.sql %}
from flask_migrate import upgrade
{%- endif %}

os.environ.setdefault("SECRET_KEY", "only-for-tests")

from {{ cookiecutter.project_slug }} import create_app
{%- if plan.sql %}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    """The app with its test settings, on a new database of its own (an SQLite file of
    the test's) brought to head by the migrations, as on a start."""
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.sqlite3'}"}
    )
    with app.app_context():
        upgrade()
    return app
{%- else %}


@pytest.fixture
def app() -> Flask:
    """The app with its test settings."""
    return create_app({"TESTING": True})
{%- endif %}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
