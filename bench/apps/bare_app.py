"""The app without the service's wrapper (service.py), mounted over main.py: the
project's own Flask app as create_app() builds it, with only the health check route
the wrapper would add, for the stack's health checks. Against the default, what the
wrapper costs a request (its middleware and after_request function)."""

from flask_service import create_app

app = create_app()
app.add_url_rule("/healthz", "healthz", lambda: {"status": "ok"})
