"""Following one request through the logs, and the client's address as the app sees it,
on each server: the answer's X-Request-ID is in nginx's access line (one JSON object
per line) and in the app's log line (JSON too); the app sees the address the client
connected from, whatever X-Forwarded-For the client sends; a client's own X-Request-ID
is not taken, a trusted front's is (TRUSTED_FRONTS). An unhandled exception reaches Sentry
(a real endpoint taking the SDK's envelopes) with the request's ID when SENTRY_DSN is set;
unset, the SDK is not even imported."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Bake
from helpers import SERVERS, json_lines, send_request, wait_until
from hooks.answers import NGINX_SERVERS
from hooks.plan import Plan
from stack import Stack, compose_stack, envelope_receiver, write_env

# The project's own app, with a route that logs and tells the address it sees.
PROBE_APP = '''"""The project's app with a route that logs (two loggers) and answers the client's
address as the app sees it (and whether Sentry's SDK is loaded), and a route that fails."""

import logging
import os
import sys

from flask import request

from flask_service import create_app

app = create_app()


@app.get("/probe")
def probe() -> dict[str, object]:
    app.logger.info("probe from %s", request.remote_addr)
    logging.getLogger("probe.other").warning("another logger")
    return {
        "remote_addr": request.remote_addr,
        "access_route": request.access_route,
        "sentry_sdk": "sentry_sdk" in sys.modules,
    }


@app.get("/fail")
def fail() -> str:
    raise LookupError(f"failed in process {os.getpid()}")
'''
# Error reports' settings, as .env gives them.
REPORTS = {"SENTRY_ENVIRONMENT": "staging", "SENTRY_RELEASE": "probe@2"}
FORGED = {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "X-Request-ID": "forged-by-me"}
# An ID nginx or the app made: 32 hex digits.
MADE_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, bake_session_copy: Bake, base_images: dict[str, str]
) -> Iterator[Stack]:
    """The server a test is parametrized with (one stack per server for the module),
    serving the project's app with a probe route (FLASK_APP=probe)."""
    project = bake_session_copy(server=request.param)
    (project / "probe.py").write_text(PROBE_APP)
    plan = Plan.defaults(server=request.param)
    with compose_stack(project, plan, base_images, FLASK_APP="probe") as running:
        yield running


def probe(stack: Stack, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """GET /probe with these headers: (the answer's request ID, what the app answered)."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    reply = send_request(
        stack.front, f"GET /probe HTTP/1.0\r\nHost: localhost\r\n{lines}\r\n".encode()
    )
    assert reply.status == 200, reply
    return reply.headers[stack.plan.request_id_header.lower()], json.loads(reply.body)


def access_lines(stack: Stack) -> list[str]:
    """nginx's stdout after its entrypoint's messages: the access log."""
    log = stack.container("nginx").logs(stdout=True, stderr=False).decode()
    _, ready, access = log.partition("Configuration complete; ready for start up\n")
    assert ready, log
    return access.splitlines()


def access_line(stack: Stack, request_id: str) -> dict[str, Any]:
    """nginx's access line for a request, once written (in batches, every second)."""
    found: list[dict[str, Any]] = []

    def written() -> bool:
        found[:] = [
            e for e in map(json.loads, access_lines(stack)) if e["request_id"] == request_id
        ]
        return bool(found)

    wait_until(written, 10)
    [entry] = found
    return entry


def app_lines(stack: Stack, request_id: str, count: int = 1) -> list[dict[str, Any]]:
    """The app's log lines for a request, once `count` of them have reached the log."""
    found: list[dict[str, Any]] = []

    def written() -> bool:
        found[:] = [e for e in json_lines(stack.logs("app")) if e.get("request_id") == request_id]
        return len(found) >= count

    wait_until(written, 10)
    return found


def gateway(stack: Stack) -> str:
    """The stack network's gateway: the address a client on the host connects from."""
    network = stack.client.networks.get(f"{stack.name}_default")
    return network.attrs["IPAM"]["Config"][0]["Gateway"]


@pytest.mark.parametrize("stack", SERVERS, indirect=True)
def test_one_request_id_in_the_answer_and_both_logs(stack: Stack) -> None:
    request_id, answer = probe(stack, FORGED)
    assert MADE_ID.fullmatch(request_id), request_id
    messages = {
        (line["logger"], line["level"], line["message"])
        for line in app_lines(stack, request_id, count=2)
    }
    assert messages == {
        ("flask_service", "INFO", f"probe from {answer['remote_addr']}"),
        ("probe.other", "WARNING", "another logger"),
    }
    # Each record once (not by Flask's own handler as well); uWSGI's and supervisord's
    # own messages stay plain text.
    log = stack.logs("app")
    assert log.count(f"probe from {answer['remote_addr']}") == 1, log[-2000:]
    assert "spawned uWSGI worker" in log and "INFO spawned: 'uwsgi' with pid" in log
    if stack.plan.nginx:
        entry = access_line(stack, request_id)
        assert (entry["method"], entry["uri"], entry["status"]) == ("GET", "/probe", 200)
        assert entry["remote_addr"] == answer["remote_addr"]
        assert isinstance(entry["request_time"], float) and entry["body_bytes_sent"] > 0


@pytest.mark.parametrize("stack", NGINX_SERVERS, indirect=True)
def test_every_access_line_is_json_and_health_checks_are_not_logged(stack: Stack) -> None:
    request_id, _ = probe(stack, {})
    access_line(stack, request_id)
    entries = [json.loads(line) for line in access_lines(stack)]
    assert entries and all(entry["uri"] != stack.plan.healthcheck_path for entry in entries)


@pytest.mark.parametrize("stack", SERVERS, indirect=True)
def test_the_app_sees_the_clients_address_whatever_it_forges(stack: Stack) -> None:
    _, plain = probe(stack, {})
    _, forged = probe(stack, FORGED)
    assert plain["remote_addr"] == forged["remote_addr"] == gateway(stack)
    assert plain["access_route"] == forged["access_route"] == [gateway(stack)]


@pytest.mark.parametrize("stack", NGINX_SERVERS, indirect=True)
def test_a_trusted_fronts_request_id_is_kept(stack: Stack) -> None:
    """TRUSTED_FRONTS lists the client's network: its X-Request-ID is kept when it is
    1-64 safe characters; a client elsewhere (the default, no front) never has it kept."""
    write_env(stack.project, {"TRUSTED_FRONTS": f"{gateway(stack)}/32"})
    try:
        stack.run("up --detach --wait nginx")
        request_id, answer = probe(stack, {"X-Request-ID": "front-1.a_B"})
        assert request_id == "front-1.a_B"
        assert access_line(stack, request_id)["remote_addr"] == answer["remote_addr"]
        assert app_lines(stack, request_id)
        unsafe, _ = probe(stack, {"X-Request-ID": '"}{"level":"x'})
        assert MADE_ID.fullmatch(unsafe), unsafe
    finally:
        write_env(stack.project, {"TRUSTED_FRONTS": ""})
        stack.run("up --detach --wait nginx")


@pytest.mark.parametrize("stack", SERVERS, indirect=True)
def test_no_error_reports_without_a_dsn(stack: Stack) -> None:
    _, answer = probe(stack, {})
    assert answer["sentry_sdk"] is False


@pytest.mark.parametrize("stack", SERVERS, indirect=True)
def test_an_unhandled_exception_is_reported_with_its_request_id(
    stack: Stack, base_images: dict[str, str]
) -> None:
    """SENTRY_DSN in .env: the SDK starts in each uWSGI worker, after the fork, and a
    failing request's report carries its ID, the release and the environment."""
    with envelope_receiver(stack, base_images["PYTHON_IMAGE"]) as receiver:
        write_env(stack.project, {"SENTRY_DSN": receiver.dsn, **REPORTS})
        try:
            stack.run("up --detach --wait --wait-timeout 120")
            _, answer = probe(stack, {})
            assert answer["sentry_sdk"] is True
            reply = send_request(stack.front, b"GET /fail HTTP/1.0\r\nHost: localhost\r\n\r\n")
            assert reply.status == 500, reply
            request_id = reply.headers[stack.plan.request_id_header.lower()]

            def reported() -> bool:
                """the failure's report was received"""
                return any(e.get("tags", {}).get("request_id") for e in receiver.events())

            wait_until(reported, 20)
            [event] = receiver.events()
            [exception] = event["exception"]["values"]
            assert exception["type"] == "LookupError"
            assert event["tags"]["request_id"] == request_id
            assert (event["release"], event["environment"]) == ("probe@2", "staging")
            # Reported from the uWSGI worker that failed, not from its master.
            pid = int(exception["value"].rsplit(" ", 1)[1])
            stats = stack.uwsgi_stats()
            assert pid in [worker["pid"] for worker in stats["workers"]], (pid, stats)
        finally:
            write_env(stack.project, {"SENTRY_DSN": ""})
            stack.run("up --detach --wait --wait-timeout 120")
