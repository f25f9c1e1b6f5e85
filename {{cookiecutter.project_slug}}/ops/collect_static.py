"""Copy the app's static files into one folder laid out by URL path, so the web
server answers them without the app: DEST/static/style.css is /static/style.css.

The Dockerfile runs it (`python3 -m ops.collect_static DEST`, in the project's
folder) at build time for the app FLASK_APP names, loaded as the app runs
(service.load_app): its user, its settings, the code read-only. It finds the folders
as Flask serves them: every `static` route of the app and of its blueprints, with
the folder behind it. An app with none leaves DEST empty: the web server then passes
every path on.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from flask import Flask

from service import load_app

SUFFIX = "/<path:filename>"


def static_folders(app: Flask) -> dict[str, Path]:
    """URL prefix -> folder, for each static route that has a folder."""
    folders = {}
    for rule in app.url_map.iter_rules():
        blueprint, _, name = rule.endpoint.rpartition(".")
        if name != "static" or not rule.rule.endswith(SUFFIX):
            continue
        owner = app.blueprints[blueprint] if blueprint else app
        if owner.static_folder and Path(owner.static_folder).is_dir():
            folders[rule.rule.removesuffix(SUFFIX)] = Path(owner.static_folder)
    return folders


def collect(app: Flask, destination: Path) -> list[str]:
    """Copy each static folder under destination at its URL prefix; the prefixes."""
    destination.mkdir(parents=True, exist_ok=True)
    for prefix, folder in static_folders(app).items():
        target = destination / prefix.lstrip("/")
        shutil.copytree(folder, target, dirs_exist_ok=True)
    return sorted(static_folders(app))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 -m ops.collect_static DESTINATION")
    try:
        app = load_app(os.environ["FLASK_APP"])
    except SystemExit as stop:
        sys.exit(f"collect_static: {stop}")
    prefixes = collect(app, Path(sys.argv[1]))
    print(f"collect_static: {', '.join(prefixes) or 'no static folder'} -> {sys.argv[1]}")
