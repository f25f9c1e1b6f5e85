"""The app's settings (`app.config`). What differs between deployments comes from
the environment; main.py adds the secret key and the request body limit."""

PROJECT_NAME = {{ cookiecutter.project_name | tojson }}
DESCRIPTION = {{ cookiecutter.description | tojson }}
