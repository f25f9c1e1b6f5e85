"""Copy the app's static files into one folder laid out by URL path, so the web
server answers them without the app: DEST/static/style.css is /static/style.css.

The Dockerfile runs it at build time for the app FLASK_APP names. It finds the
folders as Flask serves them: every `static` route of the app and of its
blueprints, with the folder behind it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from flask import Flask
from flask.cli import ScriptInfo

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
    for prefix, folder in static_folders(app).items():
        target = destination / prefix.lstrip("/")
        shutil.copytree(folder, target, dirs_exist_ok=True)
    return sorted(static_folders(app))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 ops/collect_static.py DESTINATION")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    flask_app = ScriptInfo(app_import_path=os.environ["FLASK_APP"]).load_app()
    prefixes = collect(flask_app, Path(sys.argv[1]))
    print(f"collect_static: {', '.join(prefixes) or 'no static folder'} -> {sys.argv[1]}")
