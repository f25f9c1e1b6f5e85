"""What uWSGI serves (ops/uwsgi.ini: wsgi-file = main.py, callable = app): the Flask
app FLASK_APP names, found the way `flask --app NAME` finds it ({{ cookiecutter.project_slug }} by
default), with the service's settings over its own (service.py)."""

import os

from service import serve_app

app = serve_app(os.environ.get("FLASK_APP") or "{{ cookiecutter.project_slug }}")
