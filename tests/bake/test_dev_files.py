"""Flask's debug mode and the reloader are in the dev compose file only, never in what
production runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import Bake
from helpers import SERVERS


def pins(requirements: Path) -> dict[str, str]:
    """name -> version of a pip-compile output."""
    found = re.findall(r"^([a-z0-9._-]+)==([^\s\\]+)", requirements.read_text(), re.MULTILINE)
    return dict(found)


@pytest.mark.parametrize("server", SERVERS)
def test_debug_mode_and_reloading_are_only_in_the_dev_file(bake: Bake, server: str) -> None:
    project = bake(server=server)
    dev_only = {"FLASK_DEBUG", "UWSGI_PY_AUTORELOAD"}
    for name in ("compose.yaml", "compose.live.yaml", "Dockerfile", "ops/uwsgi.ini"):
        text = (project / name).read_text()
        assert not [word for word in dev_only if word in text], name
    assert "py-autoreload" not in (project / "ops" / "uwsgi.ini").read_text()
    dev = yaml.safe_load((project / "compose.dev.yaml").read_text())
    assert dev_only <= dev["services"]["app"]["environment"].keys()
