"""An app that logs the way many Flask apps do (the Flask Mega-Tutorial's pattern): to a
rotating file under logs/ beside it, made when it is imported, unless LOG_TO_STDOUT is
set; then to stdout, through a handler of its own with its own format."""

import logging
import os
import sys
from logging.handlers import RotatingFileHandler

from flask import Flask

app = Flask(__name__)

if os.environ.get("LOG_TO_STDOUT"):
    handler: logging.Handler = logging.StreamHandler(sys.stdout)
else:
    os.makedirs("logs", exist_ok=True)
    handler = RotatingFileHandler("logs/logbook.log", maxBytes=10240, backupCount=10)
handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s [in %(pathname)s]"))
handler.setLevel(logging.INFO)
app.logger.addHandler(handler)
app.logger.setLevel(logging.INFO)


@app.get("/")
def index() -> str:
    app.logger.info("the index was served")
    return "logbook\n"
