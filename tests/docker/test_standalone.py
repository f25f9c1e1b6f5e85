"""uWSGI's own HTTP router facing clients (server=standalone), with the seed's values
(processes=4 threads=2 buffer_size=8192): uploads over the limit get a 413 a client
can read, with and without `Expect: 100-continue`; one within it gets `100 Continue`
at once; static files come from uWSGI with cache validators, never from Python."""

from __future__ import annotations

import email.utils
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_hostile import add_upload_route, raw_request

from conftest import Bake
from helpers import send_request
from hooks.plan import Plan
from stack import Stack, compose_stack

MB = 1024 * 1024
ANSWERS = {"server": "standalone", "processes": "4", "threads": "2", "buffer_size": "8192"}
# A line the app prints for every request Python sees (added by these tests).
PYTHON_SAW = '''

@app.before_request
def log_python_requests() -> None:
    """Print each request Python handles (added by the standalone tests)."""
    from flask import request

    print(f"python saw {request.path}", flush=True)
'''


@pytest.fixture(scope="module")
def stack(bake_session_copy: Bake, base_images: dict[str, str]) -> Iterator[Stack]:
    project = bake_session_copy(**ANSWERS)
    add_upload_route(project)
    with (project / "main.py").open("a") as main:
        main.write(PYTHON_SAW)
    with compose_stack(project, Plan.defaults(**ANSWERS), base_images) as running:
        yield running


def upload(front: str, size: int, expect: bool) -> tuple[bytes, float, int]:
    """POST /upload declaring `size` bytes, reading answers while sending, as curl and
    browsers do. With `expect`, the body goes only after a `100 Continue`. What came
    back, the seconds to its first byte and the body bytes sent before it ended."""
    host, _, port = front.rpartition(":")
    headers = [f"Content-Length: {size}"] + (["Expect: 100-continue"] if expect else [])
    sock = socket.create_connection((host, int(port)), timeout=30)
    received = bytearray()
    first = threading.Event()

    def read() -> None:
        try:
            while chunk := sock.recv(65536):
                received.extend(chunk)
                first.set()
        except OSError:
            pass
        first.set()

    started = time.monotonic()
    sock.sendall(raw_request("/upload", headers, method="POST"))
    reader = threading.Thread(target=read)
    reader.start()
    waited = 0.0
    if expect:
        first.wait(10)
        waited = time.monotonic() - started
    sent = 0
    piece = b"a" * 65536
    try:
        while sent < size and not (expect and not received.startswith(b"HTTP/1.1 100 ")):
            sent += sock.send(piece[: min(len(piece), size - sent)])
    except OSError:
        pass
    if not expect:
        first.wait(30)
        waited = time.monotonic() - started
    reader.join(40)
    sock.close()
    return bytes(received), waited, sent


@pytest.mark.parametrize("expect", [False, True], ids=["no-expect", "expect-100-continue"])
def test_a_30_mb_upload_gets_a_413_it_can_read(stack: Stack, expect: bool) -> None:
    """Three times the limit: without Expect, main.py answers 413 before reading the body,
    then reads and discards it, so the whole upload goes through and the answer is read
    (uWSGI would drop it unanswered); with Expect, the router answers 413 at once and no
    body is sent."""
    size = 30 * MB
    assert size > stack.plan.max_body_bytes
    received, waited, sent = upload(stack.front, size, expect)
    print(f"expect={expect}: {received[:40]!r} after {waited:.2f} s, {sent} body bytes sent")
    assert received.startswith(b"HTTP/1.1 413 "), received[:300]
    if expect:
        assert sent == 0
        assert waited < 1
    else:
        assert sent == size
        assert received.endswith(b"Request body over %d MB\n" % stack.plan.max_upload_mb)


@pytest.mark.parametrize("expect", [True, False], ids=["curl", "curl-no-expect"])
def test_curl_uploads_over_the_limit_get_a_413(stack: Stack, tmp_path: Path, expect: bool) -> None:
    """curl as users run it: `-T` sends `Expect: 100-continue` for a large file."""
    body = tmp_path / "big.bin"
    with body.open("wb") as out:
        out.truncate(30 * MB)
    command = ["curl", "--silent", "--show-error", "--max-time", "60", "-X", "POST"]
    command += ["-T", str(body), "-o", "/dev/null", "-w", "%{http_code}"]
    command += [] if expect else ["-H", "Expect:"]
    result = subprocess.run(
        [*command, f"http://{stack.front}/upload"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "413"), result.stderr


def test_a_2_mb_upload_with_expect_gets_100_continue_at_once(stack: Stack) -> None:
    """http-manage-expect: the router answers `100 Continue` itself, so curl does not
    wait its one second for it; the body then reaches a route that reads it."""
    size = 2 * MB
    received, waited, sent = upload(stack.front, size, expect=True)
    print(f"100 Continue after {waited:.3f} s")
    assert received.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"), received
    assert waited < 0.5
    assert sent == size
    assert received.endswith(b'{"bytes":%d}\n' % size)


def test_static_files_come_from_uwsgi_with_cache_validators(stack: Stack) -> None:
    """The page's stylesheet (url_for('static', ...)) is answered by uWSGI (static-check,
    an offload thread) with Cache-Control and Last-Modified, and a revalidation gets a
    304; the app's own log shows Python never saw it, while it saw the page."""
    status, page = stack.get("/")
    assert status == 200
    [href] = re.findall(rb'href="([^"]+\.css)"', page)
    assert href == b"/static/style.css"
    first = send_request(stack.front, raw_request(href.decode()))
    slug = stack.plan.answers["project_slug"]
    assert first.status == 200, first
    assert first.body == (stack.project / slug / "static/style.css").read_bytes()
    assert first.headers["cache-control"] == f"public, max-age={stack.plan.static_max_age_s}"
    assert first.headers["content-type"] == "text/css"
    modified = first.headers["last-modified"]
    assert email.utils.parsedate_to_datetime(modified)
    again = send_request(
        stack.front, raw_request(href.decode(), [f"If-Modified-Since: {modified}"])
    )
    assert again.status == 304, again
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert again.headers["x-content-type-options"] == "nosniff"
    missing = send_request(stack.front, raw_request("/static/missing.css"))
    assert missing.status == 404
    time.sleep(1)
    logs = stack.logs("app")
    assert "python saw /\n" in logs, logs[-2000:]
    assert "python saw /static/missing.css" in logs, logs[-2000:]
    assert "python saw /static/style.css" not in logs, logs[-2000:]


def test_the_seed_values_serve(stack: Stack) -> None:
    """processes=4 threads=2 buffer_size=8192: four workers; about 6 KB of headers pass,
    more than 8 KB get no 200."""
    workers = stack.uwsgi_stats()["workers"]
    assert len(workers) == 4
    assert {len(worker["cores"]) for worker in workers} == {2}
    six_kb = [f"X-H{i}: {'v' * 1000}" for i in range(6)]
    assert send_request(stack.front, raw_request("/", six_kb)).status == 200
    nine_kb = [f"X-H{i}: {'v' * 1000}" for i in range(9)]
    assert send_request(stack.front, raw_request("/", nine_kb)).outcome != 200
