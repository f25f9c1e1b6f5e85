"""The Celery app the worker and beat run: `celery --app {{ cookiecutter.project_slug }}.worker worker`."""

from . import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
