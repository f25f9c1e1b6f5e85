{%- set plan = cookiecutter | plan -%}
"""The pages: a blueprint, registered by create_app()."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
{%- if plan.sql %}

from .models import newest_notes
{%- endif %}

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
def index() -> str:
    return render_template(
        "index.html",
        name=current_app.config["PROJECT_NAME"],
        description=current_app.config["DESCRIPTION"],
{%- if plan.sql %}
        notes=newest_notes(),
{%- endif %}
    )
