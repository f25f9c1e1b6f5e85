"""What the front door does for a real app, in every server: static files answered by
nginx itself (validators, Cache-Control, gzip), streams and server-sent events passed
on as they are produced while ordinary answers stay buffered, large response headers,
and an overload of 4x the requests the stack serves at once: 200s in bounded time or
503s with Retry-After, nothing else. Each server's stack gets a few routes added to
main.py, as an app would have them."""

from __future__ import annotations

import gzip
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import Bake
from helpers import SERVERS, Load, json_lines, send_request
from hooks.plan import Plan
from stack import Stack, compose_stack

CHUNKS = 3
CHUNK_SECONDS = 1.0
# More than the kernel's socket buffers hold (4 MB at most on each side).
BIG_ANSWER_BYTES = 16 * 1024 * 1024
# The overload (plan.overload_factor x the requests the stack serves at once) is on a
# page that waits PAGE_MS: long enough that the last in the queue wait past the
# queue-wait limit (three pages ahead of them), so shedding shows.
PAGE_MS = 500
# Bounded in time and count: each client sends until then, no more in all than that.
OVERLOAD_SECONDS = 5
OVERLOAD_MAX_REQUESTS = 5000
# Each request's own limit: far past any answer the stack gives, so a late answer
# still counts and only a hang is a timeout.
OVERLOAD_TIMEOUT_S = 30
# What a 200's time adds to the stack's bound on this machine: nginx's hop, and the
# test's own client threads sharing its two CPUs with the stack.
CLIENT_MARGIN_S = 0.5
FRONT_ROUTES = f"""

# Routes of a real app, added by the front door's tests.
import sys  # noqa: E402
import time  # noqa: E402

from flask import request, stream_with_context  # noqa: E402


@app.before_request
def note_the_path() -> None:
    print(f"app answers {{request.path}}", file=sys.stderr, flush=True)


@app.get("/stream")
def stream() -> Response:
    def chunks() -> Iterator[str]:
        for number in range({CHUNKS}):
            yield f"chunk {{number}}\\n"
            time.sleep({CHUNK_SECONDS})

    return Response(stream_with_context(chunks()), mimetype="text/plain")


@app.get("/events")
def events() -> Response:
    def messages() -> Iterator[str]:
        for number in range({CHUNKS}):
            yield f"data: {{number}}\\n\\n"
            time.sleep({CHUNK_SECONDS})

    return Response(messages(), mimetype="text/event-stream")


@app.get("/wait/<int:ms>")
def wait(ms: int) -> str:
    time.sleep(ms / 1000)
    return "waited\\n"


@app.get("/big")
def big() -> Response:
    response = Response(b"a" * {BIG_ANSWER_BYTES}, mimetype="application/octet-stream")
    response.call_on_close(lambda: print("app sent /big", file=sys.stderr, flush=True))
    return response


@app.get("/cookies/<int:count>/<int:size>")
def cookies(count: int, size: int) -> Response:
    response = Response("ok")
    for number in range(count):
        response.set_cookie(f"c{{number}}", "a" * size)
    return response
"""


def add_front_routes(project: Path) -> None:
    main = project / "main.py"
    imports = "import os\nfrom collections.abc import Iterator\nfrom pathlib import Path\n\n"
    imports += "from flask import Response\n"
    text = main.read_text().replace("import os\n", imports, 1)
    main.write_text(text + FRONT_ROUTES)


@pytest.fixture(scope="module", params=SERVERS)
def stack(
    request: pytest.FixtureRequest, bake_session_copy: Bake, base_images: dict[str, str]
) -> Iterator[Stack]:
    answers = {"server": request.param}
    project = bake_session_copy(**answers)
    add_front_routes(project)
    with compose_stack(project, Plan.defaults(**answers), base_images) as running:
        yield running


def get(path: str, headers: tuple[str, ...] = ()) -> bytes:
    """A GET request for `path` with these extra header lines, closing after the answer."""
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def dechunked(body: bytes) -> bytes:
    """A body sent with Transfer-Encoding: chunked, put back together."""
    data = b""
    while True:
        size, _, rest = body.partition(b"\r\n")
        length = int(size, 16)
        if length == 0:
            return data
        data += rest[:length]
        body = rest[length + 2 :]


def app_saw(stack: Stack, path: str) -> int:
    """How many requests for `path` reached the app's Python code."""
    return stack.logs("app").count(f"app answers {path}\n")


def static_path(stack: Stack) -> str:
    """The stylesheet's URL as the page links it (url_for('static', ...))."""
    status, page = stack.get("/")
    assert status == 200
    match = re.search(rb'href="([^"]+\.css)"', page)
    assert match, page
    return match[1].decode()


def test_static_files_come_from_nginx_with_validators_and_cache_headers(stack: Stack) -> None:
    """The page's stylesheet (url_for): nginx answers it with ETag, Last-Modified and
    Cache-Control, a revalidation gets 304, and none of it reaches a Python worker (the
    app logs every path it answers; a missing file still goes to the app)."""
    path = static_path(stack)
    assert path == "/static/style.css"
    if not stack.plan.nginx:
        reply = send_request(stack.front, get(path))
        assert reply.status == 200, reply
        return
    before = app_saw(stack, path)
    reply = send_request(stack.front, get(path))
    assert reply.status == 200, reply
    assert reply.body.startswith(b"/*") or b"{" in reply.body, reply.body
    assert reply.headers["content-type"] == "text/css", reply.headers
    assert reply.headers["cache-control"] == f"public, max-age={stack.plan.static_max_age_s}"
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', reply.headers["etag"]), reply.headers
    assert reply.headers["last-modified"].endswith(" GMT"), reply.headers
    assert reply.headers["x-content-type-options"] == "nosniff", reply.headers
    for validator in (
        f"If-None-Match: {reply.headers['etag']}",
        f"If-Modified-Since: {reply.headers['last-modified']}",
    ):
        again = send_request(stack.front, get(path, (validator,)))
        assert (again.status, again.body) == (304, b""), again
    zipped = send_request(stack.front, get(path, ("Accept-Encoding: gzip",)))
    assert zipped.headers.get("content-encoding") == "gzip", zipped.headers
    assert gzip.decompress(dechunked(zipped.body)) == reply.body
    missing = send_request(stack.front, get("/static/missing.css"))
    assert missing.status == 404, missing
    time.sleep(1.5)  # nginx writes its access log at least every second
    assert app_saw(stack, path) == before, "a static file reached the app"
    assert app_saw(stack, "/static/missing.css") == 1
    hits = [entry for entry in json_lines(stack.logs("nginx")) if entry["uri"] == path]
    assert len(hits) == 4 and all(entry["upstream_addr"] == "" for entry in hits), hits


@dataclass
class Timing:
    first: float  # seconds to the first byte of the body
    last: float  # seconds to the end of the answer
    head: bytes


def timed_get(stack: Stack, path: str, timeout: float = 20) -> Timing:
    """GET `path` (accepting gzip) and time the first byte of its body and the end of
    the answer."""
    started = time.monotonic()
    first = None
    received = b""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=timeout) as sock:
        sock.sendall(get(path, ("Accept-Encoding: gzip",)))
        while chunk := sock.recv(65536):
            received += chunk
            if first is None and b"\r\n\r\n" in received and received.partition(b"\r\n\r\n")[2]:
                first = time.monotonic() - started
    assert first is not None, received
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"chunk 2" in body or b"data: 2" in body, received
    return Timing(first, time.monotonic() - started, head)


@pytest.mark.parametrize("path", ["/stream", "/events"])
def test_streams_reach_the_client_as_they_are_produced(stack: Stack, path: str) -> None:
    """A 3-chunk stream, a chunk a second, and server-sent events: the first chunk
    arrives well before the last (behind nginx too: the app marks streamed answers
    X-Accel-Buffering: no), and gzip leaves them alone."""
    timing = timed_get(stack, path)
    print(f"{stack.plan.server} {path}: first chunk {timing.first:.2f} s, all {timing.last:.2f} s")
    assert timing.last >= (CHUNKS - 1) * CHUNK_SECONDS, timing
    assert timing.first < CHUNK_SECONDS, timing
    assert b"content-encoding" not in timing.head.lower(), timing.head


def test_ordinary_answers_are_buffered_so_a_slow_client_frees_the_worker(stack: Stack) -> None:
    """A 16 MB answer to a client that reads nothing: nginx takes it all (memory, then a
    temporary file), and so does uWSGI's router without nginx, so the worker has
    finished sending it within seconds and is free for the next request."""
    since = stack.logs("app").count("app sent /big\n")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", stack.port))
        sock.sendall(get("/big"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if stack.logs("app").count("app sent /big\n") > since:
                break
            time.sleep(0.25)
        finished = stack.logs("app").count("app sent /big\n") > since
    assert finished, "the worker was still sending to a client that reads nothing"


def test_response_headers_up_to_the_stated_limit_pass(stack: Stack) -> None:
    """Four cookies of 4000 bytes (about 16 KB of headers): 200 in every server. Past
    the stated limit (response_headers_kb), nginx answers a clear 502 at once."""
    limit = stack.plan.response_headers_kb * 1024
    reply = send_request(stack.front, get("/cookies/4/4000"))
    assert reply.status == 200 and reply.body == b"ok", reply.status
    print(f"{stack.plan.server}: 4 x 4000-byte cookies: {reply.status}")
    over = send_request(stack.front, get(f"/cookies/2/{limit // 2}"), timeout=10)
    print(f"{stack.plan.server}: {limit + 100} bytes of cookies: {over.outcome}")
    if stack.plan.nginx:
        assert over.status == 502, over
        time.sleep(1.5)
        assert "upstream sent too big header" in stack.logs("nginx")


def shed_lines(stack: Stack) -> list[str]:
    """The app's log lines for requests it shed after too long a wait."""
    messages = [entry["message"] for entry in json_lines(stack.logs("app"))]
    return [message for message in messages if "s for a worker, over" in message]


def test_an_overload_gets_200s_in_bounded_time_or_503s(stack: Stack) -> None:
    """4x the requests the stack serves at once, on a page that waits: every answer a
    200 or a 503 with Retry-After (no 502, no 500, no reset). Behind nginx, a request
    that waited past the queue-wait limit is shed with one log line, so a 200 takes at
    most that limit plus the page; uWSGI's router alone has no time to count from, so
    its 200s wait for those ahead of them: a page for each round ahead."""
    plan = stack.plan
    workers = stack.uwsgi_stats()["workers"]
    clients = plan.overload_factor * len(workers) * len(workers[0]["cores"])
    shed_before = len(shed_lines(stack))
    answers = Load(
        stack.front,
        f"/wait/{PAGE_MS}",
        clients=clients,
        max_requests=OVERLOAD_MAX_REQUESTS,
        max_seconds=OVERLOAD_SECONDS,
        timeout=OVERLOAD_TIMEOUT_S,
    ).run()
    p99 = answers.p99_200()
    print(
        f"\n{plan.server}, {clients} clients on a {PAGE_MS} ms page for {OVERLOAD_SECONDS} s:"
        f" {dict(answers.outcomes)}, 200s p99 {p99:.2f} s"
    )
    assert set(answers.outcomes) <= {200, 503}, answers.outcomes
    assert answers.outcomes[200] >= len(workers), answers.outcomes
    assert set(answers.retry_after) <= {str(plan.retry_after_s)}, answers.retry_after
    page_s = PAGE_MS / 1000
    if plan.nginx:
        assert answers.outcomes[503] > 0, answers.outcomes
        assert p99 <= plan.overload_answer_bound_s(page_s) + CLIENT_MARGIN_S, p99
        assert len(shed_lines(stack)) - shed_before == answers.outcomes[503]
    else:
        # No shedding: a page for each round ahead and its own, and one more for the
        # router, which shares the CPUs with the workers.
        assert p99 <= (plan.overload_factor + 1) * page_s + CLIENT_MARGIN_S, p99
    assert "Traceback" not in stack.logs("app")
