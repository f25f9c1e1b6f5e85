"""Fixtures: baked projects (pytest-cookies) and the base images they build FROM; the
marker each folder's tests carry (what they need to run)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_cookies.plugin import Cookies

from hooks.plan import Plan

Bake = Callable[..., Path]

# A test's folder says what it needs: bake/ nothing but the template, native/ nginx, uWSGI
# and the package index on this machine, docker/ a Docker engine (pyproject.toml's markers).
NEEDS = {"native": pytest.mark.native, "docker": pytest.mark.docker}
# The slowest folder first: on `make test`'s workers the many short bake modules come last
# and fill in around the long Docker ones, so the workers finish together.
FOLDER_ORDER = ("docker", "native", "bake")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """No test is skipped here: a skip (a missing engine, a missing tool) is a failure."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with what its folder needs, before `-m` selects; order the folders."""
    for item in items:
        need = NEEDS.get(item.path.parent.name)
        if need:
            item.add_marker(need)
    items.sort(key=folder_rank)


def folder_rank(item: pytest.Item) -> int:
    folder = item.path.parent.name
    return FOLDER_ORDER.index(folder) if folder in FOLDER_ORDER else len(FOLDER_ORDER)


@pytest.fixture(scope="session")
def bake(cookies_session: Cookies) -> Bake:
    """Bake the template with these answers (the defaults for the rest), once per
    session for each set of answers; the project folder is read-only by convention:
    a test that changes files bakes its own copy with `bake_fresh`."""
    baked: dict[tuple[tuple[str, Any], ...], Path] = {}

    def bake_project(**answers: Any) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in baked:
            baked[key] = bake_result(cookies_session, answers)
        return baked[key]

    return bake_project


@pytest.fixture(scope="session")
def bake_session_copy(cookies_session: Cookies) -> Bake:
    """Bake a project of its own for a longer-lived fixture (a stack, say)."""

    def bake_project(**answers: Any) -> Path:
        return bake_result(cookies_session, answers)

    return bake_project


@pytest.fixture
def bake_fresh(cookies: Cookies) -> Bake:
    """Bake a project of this test's own, to change at will."""

    def bake_project(**answers: Any) -> Path:
        return bake_result(cookies, answers)

    return bake_project


def bake_result(cookies: Cookies, answers: dict[str, Any]) -> Path:
    result = cookies.bake(extra_context=answers)
    assert result.exception is None, f"bake {answers} failed: {result.exception!r}"
    assert result.exit_code == 0
    return result.project_path


@pytest.fixture
def project(bake: Bake, answers: dict[str, Any]) -> Path:
    """The project baked from the answers of the module's own `answers` fixture."""
    return bake(**answers)


@pytest.fixture
def plan(answers: dict[str, Any]) -> Plan:
    """What the hooks derive from the module's `answers`."""
    return Plan.defaults(**answers)


@pytest.fixture(scope="session")
def base_images() -> dict[str, str]:
    """The images the baked projects build FROM: PYTHON_IMAGE, NGINX_IMAGE and
    POSTGRES_IMAGE from the environment where given (`make test` gives this machine's
    stand-ins, machine/base-images.sh), the official images otherwise."""
    official = Plan.defaults().base_images
    return {name: os.environ.get(name) or ref for name, ref in official.items()}


@pytest.fixture(scope="session")
def sdist_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the real apps' sdists are fetched and unpacked, once per session."""
    return tmp_path_factory.mktemp("sdists")


@pytest.fixture(scope="session")
def lock_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One virtualenv for every baked project's `make lock VENV=...` in the session: its
    dev tools are installed once."""
    return tmp_path_factory.mktemp("lock") / "venv"
