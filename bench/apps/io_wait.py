"""The baked app with one more route, /io: a request that waits 20 ms (a database
query, a call to another service) and then answers, holding its worker thread but
not the CPU. The bench mounts this file at /app/io_wait.py and sets FLASK_APP=io_wait."""

from __future__ import annotations

import time

from flask import Flask
from flask_service import create_app as create_baked_app

WAIT_S = 0.020


def create_app() -> Flask:
    app = create_baked_app()

    @app.get("/io")
    def io() -> str:
        time.sleep(WAIT_S)
        return "waited 20 ms\n"

    return app
