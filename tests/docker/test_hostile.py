"""Hostile and broken clients against the real containers of every shape: headers of
every size at every buffer size, bodies over the limit, malformed requests, slow
clients. Traffic goes only to the published port on 127.0.0.1, or from inside a
container of the stack. What nginx and uWSGI logged is printed with each result (run
with -rP, or read it in a failure's message)."""

from __future__ import annotations

import collections
import json
import os
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import Bake
from helpers import (
    SERVERS,
    Load,
    LoadResult,
    Reply,
    answer_complete,
    parse_reply,
    send_request,
    wait_until,
)
from hooks.answers import BUFFER_SIZE_MAX, NGINX_BUFFER_SIZE_MIN, NGINX_SERVERS
from hooks.plan import Plan
from stack import Stack, compose_stack

KB = 1024
MB = 1024 * 1024
BUFFER_SIZES = (NGINX_BUFFER_SIZE_MIN, 32768, BUFFER_SIZE_MAX)
# uWSGI's HTTP router reads a request into a buffer of at most 64 KB and builds a uwsgi
# packet of at most 64 KB (a 16-bit size). It wants a 4 KB page free before each read, so
# only requests of up to 60 KB surely get through; between 60 and 64 KB it depends on how
# the bytes arrive.
ROUTER_PACKET_MAX = 65535
ROUTER_READ_SURE = ROUTER_PACKET_MAX - 4096
# Stacks by id: the answers baked and the settings in .env. Every shape at every buffer
# size for the headers; the default size for the rest, and nginx-uwsgi over TCP too.
STACKS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    f"{server}-{size}": ({"server": server, "buffer_size": size}, {})
    for server in SERVERS
    for size in BUFFER_SIZES
}
STACKS[f"nginx-uwsgi-tcp-{BUFFER_SIZE_MAX}"] = (
    {"server": "nginx-uwsgi", "buffer_size": BUFFER_SIZE_MAX},
    {"APP_ADDRESS": ":8000"},
)
HEADER_STACKS = [f"{server}-{size}" for server in SERVERS for size in BUFFER_SIZES]
DEFAULT_STACKS = [f"{server}-{BUFFER_SIZE_MAX}" for server in SERVERS]
BODY_STACKS = [*DEFAULT_STACKS, f"nginx-uwsgi-tcp-{BUFFER_SIZE_MAX}"]
# What uWSGI says when a request does not fit it: none of it may appear behind nginx.
UWSGI_OVERSIZE = re.compile(r"invalid request block size|max vec size|too big|Invalid", re.I)
# What nginx says when uWSGI fails it: never, for any request a client can send.
NGINX_UPSTREAM_FAILURE = re.compile(r"upstream|while (sending|reading)", re.I)
UPLOAD_ROUTE = '''

@app.post("/upload")
def upload() -> dict[str, int]:
    """A route that reads its body, as real apps have (added by the hostile tests)."""
    from flask import request

    return {"bytes": len(request.get_data())}
'''


def add_upload_route(project: Path) -> None:
    """Give the app a route that reads the request body: the stock app reads none, so a
    slow or large body would never reach a worker that waits for it."""
    with (project / "main.py").open("a") as main:
        main.write(UPLOAD_ROUTE)


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, bake_session_copy: Bake, base_images: dict[str, str]
) -> Iterator[Stack]:
    answers, settings = STACKS[request.param]
    project = bake_session_copy(**answers)
    add_upload_route(project)
    with compose_stack(project, Plan.defaults(**answers), base_images, **settings) as running:
        yield running


def raw_request(
    target: str = "/", headers: list[str] | tuple[str, ...] = (), method: str = "GET"
) -> bytes:
    """An HTTP/1.1 request head with these extra header lines, closing after the answer."""
    lines = [f"{method} {target} HTTP/1.1", "Host: localhost", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def header_cases() -> dict[str, bytes]:
    """Requests from a few KB of headers to past every limit: one big header, a big
    cookie, a long URL, hundreds to thousands of headers (past nginx's 1000 lines),
    bare `hN:` lines, and many medium headers."""
    cases = {}
    for kb in (1, 2, 4, 8, 16, 32, 48, 63, 64, 100, 200):
        cases[f"one {kb} KB header"] = raw_request(headers=[f"X-Big: {'a' * (kb * KB - 9)}"])
    for kb in (4, 8, 16, 32, 64, 100):
        cases[f"{kb} KB cookie"] = raw_request(headers=[f"Cookie: a={'b' * (kb * KB - 12)}"])
    for kb in (1, 2, 4, 8, 16, 32, 64):
        cases[f"{kb} KB query string"] = raw_request("/?q=" + "c" * (kb * KB - 4))
    for count in (100, 120, 200, 500, 998, 999, 1500, 3000):
        lines = [f"X-H{i}: {'v' * (13 - len(str(i)))}" for i in range(count)]
        cases[f"{count} headers of 20 B"] = raw_request(headers=lines)
    for count in (500, 998, 999, 1500, 5000, 10000):
        cases[f"{count} bare headers"] = raw_request(headers=[f"h{i}:" for i in range(count)])
    for count, size in ((30, 1000), (60, 1000), (100, 500), (14, 4000)):
        lines = [f"X-H{i}: {'v' * (size - 8 - len(str(i)))}" for i in range(count)]
        cases[f"{count} headers of {size} B"] = raw_request(headers=lines)
    return cases


def requests_filling_nginx_buffers(plan: Plan) -> Iterator[tuple[str, bytes]]:
    """The requests nginx passes that weigh most in uWSGI's buffer: a path as long as a
    header buffer (uwsgi_params passes it again as DOCUMENT_URI and PATH_INFO), many
    bare header lines (each grows most as a uwsgi variable), and half-buffer headers
    to fill every buffer, one more each time, to past what nginx takes."""
    line = plan.nginx_header_buffer_kb * KB
    path = "/" + "p" * (line - 64)
    for bare in (0, 100, 900):
        for fillers in range(2 * plan.nginx_header_buffers + 3):
            lines = [f"h{i}:" for i in range(bare)]
            lines += [f"X-F{i}: " + "f" * (line // 2 - 24) for i in range(fillers)]
            yield (
                f"{line - 63} B path, {bare} bare, {fillers} half-buffer headers",
                raw_request(path, lines),
            )


def uwsgi_packet_size(request: bytes, hostname: str) -> int:
    """The uwsgi packet uWSGI's HTTP router makes of a request (plugins/http/http.c):
    its own variables, the URI three times, each header as HTTP_NAME (same names
    merged). The client's address and port are counted at their longest."""
    head = request.decode("latin-1").split("\r\n\r\n")[0]
    request_line, *lines = head.split("\r\n")
    method, uri, protocol = request_line.split(" ")
    path, _, query = uri.partition("?")
    variables = [
        ("REQUEST_METHOD", method),
        ("REQUEST_URI", uri),
        ("PATH_INFO", path),
        ("QUERY_STRING", query),
        ("SERVER_PROTOCOL", protocol),
        ("SCRIPT_NAME", ""),
        ("SERVER_NAME", hostname),
        ("SERVER_PORT", "8000"),
        ("UWSGI_ROUTER", "http"),
        ("REMOTE_ADDR", "255.255.255.255"),
        ("REMOTE_PORT", "65535"),
    ]
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            key = "HTTP_" + key
        value = value.lstrip(" ")
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    variables += headers.items()
    return sum(4 + len(key) + len(value) for key, value in variables)


def logs_since(stack: Stack, service: str, since: float) -> str:
    """What a service logged since a moment (time.time())."""
    return stack.container(service).logs(since=since).decode(errors="replace")


def nginx_errors_since(stack: Stack, since: float) -> str:
    """nginx's error log (its stderr; the access log is its stdout) since a moment."""
    logs = stack.container("nginx").logs(stdout=False, stderr=True, since=since)
    return logs.decode(errors="replace")


def log_digest(text: str) -> str:
    """Log lines for a report: runs of one character shortened (a 64 KB URL logged),
    timestamps, times and connection numbers dropped, identical lines counted."""
    lines = collections.Counter()
    for line in text.splitlines():
        if line.startswith('{"'):  # JSON: nginx's access log, the app's records
            entry = json.loads(line)
            line = (
                f"{entry['method']} {entry['uri']} {entry['status']} {entry['body_bytes_sent']}"
                if "status" in entry
                else f"{entry['level']} {entry['logger']}: {entry['message']}"
            )
        line = re.sub(r"(.)\1{15,}", lambda run: f"{run[1]}x{len(run[0])}", line)
        line = re.sub(r"\[\d\d/\w+/\d{4}(:\d\d){3} \+0000\]|^\d{4}/\d\d/\d\d [\d:]+ ", "", line)
        line = re.sub(r"\*\d+ |client_port: \d+|\[pid: \d+\|app: -?\d+\|req: -?\d+/\d+\]", "", line)
        line = re.sub(r"\{address space usage.*?\} \{rss usage.*?\} ", "", line)
        line = re.sub(r"\[\w{3} \w{3} +\d+ [\d:]+ \d{4}\] ", "", line)  # uWSGI's date
        lines[line[:220]] += 1
    return "\n".join(f"  {count}x {line}" for line, count in lines.items()) or "  (nothing)"


def table(results: dict[str, Any]) -> str:
    return "\n".join(f"  {name:44} {outcome}" for name, outcome in results.items())


def logged(stack: Stack, since: float) -> str:
    """What nginx (in the nginx shapes) and uWSGI logged since a moment, for a report."""
    report = ""
    if stack.plan.nginx:
        report += f"nginx logged:\n{log_digest(logs_since(stack, 'nginx', since))}\n"
    return report + f"uWSGI logged:\n{log_digest(logs_since(stack, 'app', since))}"


@pytest.mark.parametrize("stack", HEADER_STACKS, indirect=True)
def test_headers_of_every_size_get_200_or_4xx(stack: Stack) -> None:
    """Behind nginx: 200 or nginx's 400/414, never a 5xx, a reset or an empty reply,
    with nginx's limits where the plan puts them, and uWSGI never seeing an oversized
    request. Standalone (no nginx): 200 exactly while the router's uwsgi packet fits
    buffer-size; past it no answer at all (see the test below for why)."""
    plan = stack.plan
    since = time.time()
    cases = header_cases()
    results = {name: send_request(stack.front, data).outcome for name, data in cases.items()}
    if plan.nginx:
        results.update(
            (name, send_request(stack.front, data).outcome)
            for name, data in requests_filling_nginx_buffers(plan)
        )
    time.sleep(1)  # the last lines reach the logs
    report = f"{stack.plan.answers['server']} buffer-size {plan.buffer_size}:\n{table(results)}\n"
    report += logged(stack, since)
    print(report)
    if plan.nginx:
        line = plan.nginx_header_buffer_kb * KB
        bad = {
            name: outcome
            for name, outcome in results.items()
            if outcome not in (200, 404, 400, 414)
        }
        assert not bad, f"not 200 or nginx's 4xx: {bad}\n{report}"
        just_fits = send_request(stack.front, raw_request(headers=[f"X-A: {'a' * (line - 100)}"]))
        too_long = send_request(stack.front, raw_request(headers=[f"X-A: {'a' * (line + 100)}"]))
        assert (just_fits.outcome, too_long.outcome) == (200, 400), report
        long_url = send_request(stack.front, raw_request("/?q=" + "c" * (line + 100)))
        assert long_url.outcome == 414, report
        if plan.nginx_header_buffers * line >= 1000 * 8:  # 998 bare lines fit the buffers
            # nginx's cap: 1000 header lines (Host and Connection are two of them).
            cap = (results["998 bare headers"], results["999 bare headers"])
            assert cap == (200, 400), report
        assert not UWSGI_OVERSIZE.search(logs_since(stack, "app", since)), report
        assert not NGINX_UPSTREAM_FAILURE.search(nginx_errors_since(stack, since)), report
    else:
        hostname = stack.container("app").attrs["Config"]["Hostname"]
        rejected_by_workers = 0
        for name, data in cases.items():
            packet = uwsgi_packet_size(data, hostname)
            if packet > plan.buffer_size or len(data) > ROUTER_PACKET_MAX:
                expected: set[int | str] = {"empty"}
                rejected_by_workers += (
                    packet <= ROUTER_PACKET_MAX - 4 and len(data) <= ROUTER_READ_SURE
                )
            elif len(data) <= ROUTER_READ_SURE:
                expected = {200}
            else:
                expected = {200, "empty"}
            assert results[name] in expected, f"{name}: packet {packet} B\n{report}"
        app_log = logs_since(stack, "app", since)
        assert app_log.count("invalid request block size") >= rejected_by_workers, report


ROUTER_PROBE = r"""
import socket, sys
for kb in map(int, sys.argv[1:]):
    head = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: "
    data = head + b"a" * (kb * 1024) + b"\r\n\r\n"
    sock = socket.create_connection(("127.0.0.1", 8000), timeout=10)
    answer, ending = b"", "empty"
    try:
        sock.sendall(data)
        while chunk := sock.recv(65536):
            answer += chunk
    except ConnectionResetError:
        ending = "reset"
    sock.close()
    print(kb, answer.split(b" ")[1].decode() if answer else ending)
"""


@pytest.mark.parametrize("stack", [f"standalone-{size}" for size in BUFFER_SIZES], indirect=True)
def test_standalone_router_drops_what_does_not_fit(stack: Stack) -> None:
    """What uWSGI's router does with a request too big for it, seen from inside the
    container (no Docker port forwarding in between): past buffer-size the worker
    rejects the packet and the router closes without an answer; past its 64 KB packet
    limit the router resets the connection (a known upstream limitation). Docker's
    port forwarding turns both into an empty reply for clients on the host."""
    sizes = (8, 20, 40, 56, 70, 200)
    code, output = stack.exec("app", ["python3", "-c", ROUTER_PROBE, *map(str, sizes)])
    assert code == 0, output
    seen = dict(line.split() for line in output.splitlines())
    print(f"buffer-size {stack.plan.buffer_size}, one header of N KB from inside: {seen}")
    for kb in sizes:
        raw = kb * KB + 50  # the request: one header of kb KB, and a request line
        if raw > ROUTER_PACKET_MAX:
            expected = "reset"
        else:  # the uwsgi packet is the request and some 300 bytes of variables
            expected = "200" if raw + 300 < stack.plan.buffer_size else "empty"
        assert seen[str(kb)] == expected, f"{kb} KB: {seen}"


def post(path: str, size: int, declared: int | None = None) -> bytes:
    """A POST with a body of `size` bytes, declaring `declared` bytes (default: size)."""
    length = size if declared is None else declared
    return raw_request(path, [f"Content-Length: {length}"], method="POST") + b"a" * size


def chunked_post(path: str, size: int) -> bytes:
    """A POST whose body of `size` bytes comes in 1 MB chunks, with no length declared."""
    chunks = b"".join(
        f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        for piece in (b"a" * min(MB, size - start) for start in range(0, size, MB))
    )
    return raw_request(path, ["Transfer-Encoding: chunked"], method="POST") + chunks + b"0\r\n\r\n"


@pytest.mark.parametrize("stack", BODY_STACKS, indirect=True)
def test_bodies_within_the_limit_pass_and_over_it_get_413(stack: Stack) -> None:
    """Within the limit (the max_upload_mb answer): a body reaches a route that
    reads it whole, and a route that answers without reading it (405) answers, every
    time (uWSGI reads each body first behind nginx, post-buffering; without nginx
    main.py reads on what the app left unread). Over it: 413, from nginx
    (client_max_body_size), or without nginx from main.py before the body is read, a
    body declared but never sent and one of many times the limit included; Flask's
    MAX_CONTENT_LENGTH would only act in a route that reads the body. Without nginx a
    chunked one gets 411 (the router cannot pass it on)."""
    limit = stack.plan.max_body_bytes
    since = time.time()
    upload = send_request(stack.front, post("/upload", MB))
    assert (upload.status, upload.body) == (200, b'{"bytes":%d}\n' % MB), upload
    at_limit = send_request(stack.front, post("/upload", limit), timeout=30)
    assert (at_limit.status, at_limit.body) == (200, b'{"bytes":%d}\n' % limit), at_limit
    unread = collections.Counter(
        send_request(stack.front, post("/", size), timeout=30).outcome
        for size in (128 * KB, MB, 2 * MB, limit)
        for _ in range(5)
    )
    over = {
        "limit + 1 byte": post("/upload", limit + 1),
        "limit + 1 MB": post("/upload", limit + MB),
        "over the limit, declared but not sent": post("/upload", 0, declared=limit + 1),
        "three times the limit": post("/upload", 3 * limit),
        "limit + 1 MB, chunked": chunked_post("/upload", limit + MB),
    }
    outcomes = {
        name: send_request(stack.front, data, timeout=30).outcome for name, data in over.items()
    }
    time.sleep(1)
    report = (
        f"unread bodies (405 route): {dict(unread)}\nover the limit:\n{table(outcomes)}\n"
        f"{logged(stack, since)}"
    )
    print(report)
    assert unread == {405: 20}, report
    if stack.plan.nginx:
        assert set(outcomes.values()) == {413}, report
    else:
        chunked = "limit + 1 MB, chunked"
        assert outcomes.pop(chunked) == 411, report
        assert set(outcomes.values()) == {413}, report


def post_expecting_continue(address: str, size: int, wait: float = 3) -> tuple[str, Reply]:
    """A POST to /upload of `size` bytes with `Expect: 100-continue`, as curl sends one
    over 1 MB: the head first, the body only once the server says 100 Continue, or
    after `wait` seconds of silence (curl waits 1 s), never when it answers at once.
    What came first ("100 Continue", "the answer" or "silence"), and the final answer."""
    head = raw_request("/upload", [f"Content-Length: {size}", "Expect: 100-continue"], "POST")
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(head)
        try:
            first = sock.recv(65536)
        except TimeoutError:
            first = b""
        sock.settimeout(30)
        if first and not first.startswith(b"HTTP/1.1 100"):
            return "the answer", reply_to(sock, first)
        sock.sendall(b"a" * size)
        rest = first.partition(b"\r\n\r\n")[2]
        return ("100 Continue" if first else "silence"), reply_to(sock, rest)


def reply_to(sock: socket.socket, received: bytes) -> Reply:
    """The rest of an answer whose first bytes came already, parsed."""
    while not answer_complete(received) and (chunk := sock.recv(65536)):
        received += chunk
    return parse_reply(received)


@pytest.mark.parametrize("stack", DEFAULT_STACKS, indirect=True)
def test_expect_100_continue_gets_413_over_the_limit(stack: Stack) -> None:
    """`Expect: 100-continue` (curl's way for bodies over 1 MB): within the limit, a 100
    Continue and the body's 200; over it, a 413 with a short body at once, before the
    client sends the body (nginx's client_max_body_size, uWSGI's http-manage-expect)."""
    limit = stack.plan.max_body_bytes
    results = {
        "1 MB": post_expecting_continue(stack.front, MB),
        "limit + 1 MB": post_expecting_continue(stack.front, limit + MB, wait=10),
    }
    report = table({name: (first, reply.outcome) for name, (first, reply) in results.items()})
    print(report)
    first, within = results["1 MB"]
    assert first == "100 Continue", report
    assert (within.status, within.body) == (200, b'{"bytes":%d}\n' % MB), report
    first, over = results["limit + 1 MB"]
    assert first == "the answer", report
    assert over.status == 413 and len(over.body) < 1024, report


# Each request line or header malformed, with what each front answers.
MALFORMED: dict[str, tuple[bytes, int | str, int | str]] = {
    # name: (request, nginx's answer, uWSGI's router's answer)
    "not HTTP at all": (b"GARBAGE\r\n\r\n", 400, "empty"),
    "binary junk": (b"\x00\x01\x02\x03\xff\xfe\r\n\r\n", 400, "empty"),
    "TLS ClientHello": (bytes.fromhex("1603010200010001fc0303") + bytes(100), 400, "timeout"),
    "space inside the target": (
        b"GET /a b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        400,
        "unparsable",
    ),
    "HTTP/1.1 without Host": (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 400, 200),
    "NUL in a header": (
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nConnection: close\r\n\r\n",
        400,
        200,
    ),
    "space in a header name": (
        b"GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\nConnection: close\r\n\r\n",
        400,
        200,
    ),
    "unknown HTTP version": (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505, 200),
    "lines ending in LF only": (b"GET / HTTP/1.1\nHost: x\nConnection: close\n\n", 200, "timeout"),
}


@pytest.mark.parametrize("stack", DEFAULT_STACKS, indirect=True)
def test_malformed_requests_get_400_from_nginx(stack: Stack) -> None:
    """nginx answers a malformed request line or header with 400 (an unknown HTTP
    version with 505, bare LF line ends are accepted), security headers included.
    uWSGI's router is no HTTP parser for hostile input: it drops what it cannot parse,
    answers sloppy requests, echoes a broken protocol into its status line and waits
    for a CRLF that never comes (known limits of the standalone shape)."""
    since = time.time()
    replies = {
        name: send_request(stack.front, data, timeout=3) for name, (data, _, _) in MALFORMED.items()
    }
    time.sleep(1)
    outcomes = {name: reply.outcome for name, reply in replies.items()}
    report = f"{table(outcomes)}\n{logged(stack, since)}"
    print(report)
    column = 1 if stack.plan.nginx else 2
    assert outcomes == {name: case[column] for name, case in MALFORMED.items()}, report
    if stack.plan.nginx:
        for reply in replies.values():
            if reply.status in (400, 505):
                assert reply.headers.get("x-content-type-options") == "nosniff", report
        assert not re.search(r"uwsgi|invalid", logs_since(stack, "app", since), re.I), report


@pytest.mark.parametrize(
    "stack", [f"{server}-{BUFFER_SIZE_MAX}" for server in NGINX_SERVERS], indirect=True
)
def test_each_access_log_line_is_whole_json_a_pipe_takes_in_one_write(stack: Stack) -> None:
    """Requests as long as nginx takes, of quotes and control characters: each is logged
    as one line of JSON no longer than PIPE_BUF (nginx.conf's $log_* maps cut what the
    client sent), so no other worker's write can cut into it."""
    plan = stack.plan
    requests = {
        "a long method": raw_request(method="G" + "E" * 4000 + "T"),
        "a long URI of quotes": raw_request(target="/" + '"' * 6000),
        "a long User-Agent with a control character": raw_request(
            headers=[f"User-Agent: {'a' * 100}\x01{'b' * 3000}"]
        ),
        "a long Referer of backslashes": raw_request(headers=["Referer: " + "\\" * 3000]),
    }
    since = time.time()
    outcomes = {name: send_request(stack.front, data).outcome for name, data in requests.items()}
    time.sleep(2)  # the access log's buffer is flushed every second
    lines = stack.container("nginx").logs(stderr=False, since=since).decode().splitlines()
    report = f"{table(outcomes)}\n" + "\n".join(line[:300] for line in lines)
    assert all(len(line.encode()) + 1 <= select.PIPE_BUF for line in lines), report
    entries = [json.loads(line) for line in lines]
    assert {len(entry["method"]) for entry in entries} >= {plan.log_method_bytes}, report
    assert {entry["uri"] for entry in entries} >= {"/" + '"' * (plan.log_uri_bytes - 1)}, report
    assert {entry["user_agent"] for entry in entries} >= {"a" * 100}, report
    assert {entry["referer"] for entry in entries} >= {"\\" * plan.log_header_bytes}, report


@pytest.mark.parametrize("stack", BODY_STACKS, indirect=True)
def test_nothing_but_the_front_door_reaches_the_host(stack: Stack) -> None:
    """Extends test_docker's published-ports check to the configuration that could
    bypass it: no container on the host's network, none publishing all its ports, and
    port bindings only for the front door, on 127.0.0.1 (the uwsgi socket over TCP too)."""
    for container in stack.containers():
        host_config = container.attrs["HostConfig"]
        service = container.labels["com.docker.compose.service"]
        assert host_config["NetworkMode"] not in ("host", "bridge"), service
        assert host_config["PublishAllPorts"] is False, service
        bindings = host_config["PortBindings"] or {}
        if service == stack.front_service:
            addresses = [host["HostIp"] for hosts in bindings.values() for host in hosts]
            assert addresses == ["127.0.0.1"], f"{service} binds {bindings}"
        else:
            assert bindings == {}, f"{service} binds {bindings}"


@dataclass
class SlowClients:
    """`count` connections to host:port that each send a request a byte at a time (one
    byte per connection every `interval` s) for at most `seconds`, then hang up.
    `body`: the request head goes at once and the body (to /upload) trickles instead."""

    address: str
    count: int = 50
    seconds: float = 10
    interval: float = 0.2
    body: bool = False
    opened: int = 0
    bytes_sent: int = 0
    answered: collections.Counter[str] = field(default_factory=collections.Counter)
    dropped: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowClients:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        host, _, port = self.address.rpartition(":")
        if self.body:  # the head at once, then the body a byte at a time
            head = b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n\r\n"
            trickle = b""
        else:  # the head a byte at a time, never ending
            head = b""
            trickle = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
        trickled: dict[socket.socket, int] = {}
        deadline = time.monotonic() + self.seconds
        try:
            for _ in range(self.count):
                sock = socket.create_connection((host, int(port)), timeout=5)
                sock.sendall(head)
                sock.setblocking(False)
                trickled[sock] = 0
                self.opened += 1
            while trickled and not self._stop.is_set() and time.monotonic() < deadline:
                for sock, sent in list(trickled.items()):
                    if self._answered_or_dropped(sock):
                        del trickled[sock]
                        sock.close()
                        continue
                    try:
                        sock.send(trickle[sent : sent + 1] or b"a")
                    except BlockingIOError:
                        continue
                    except OSError:
                        self.dropped += 1
                        del trickled[sock]
                        sock.close()
                        continue
                    trickled[sock] = sent + 1
                    self.bytes_sent += 1
                time.sleep(self.interval)
        finally:
            for sock in trickled:
                sock.close()

    def _answered_or_dropped(self, sock: socket.socket) -> bool:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return False
        except OSError:
            self.dropped += 1
            return True
        if data:
            self.answered[data.split(b"\r\n")[0].decode(errors="replace")] += 1
        else:
            self.dropped += 1
        return True


def worker_threads(stack: Stack) -> int:
    """The requests the stack's uWSGI serves at once: processes ('auto' of this
    machine's CPUs, which the container has too) x threads."""
    processes = stack.plan.processes or stack.plan.auto_processes(len(os.sched_getaffinity(0)))
    return processes * stack.plan.threads


def load_beside_slow_clients(stack: Stack, body: bool) -> tuple[LoadResult, SlowClients, str]:
    """More slow clients than uWSGI has worker threads, for 10 s; meanwhile a steady
    load of normal GETs from 4 clients (8 s, 3 s timeout each). What each saw, and a
    report of it."""
    count = worker_threads(stack) + 16
    with SlowClients(stack.front, count=count, body=body) as slow:
        time.sleep(1)  # every slow connection is open and trickling
        with Load(stack.front, clients=4, max_seconds=8, max_requests=50000, timeout=3) as load:
            time.sleep(8)
    result = load.result
    kind = "bodies" if body else "headers"
    report = (
        f"{stack.plan.answers['server']}, {count} slow {kind} for 10 s: normal requests "
        f"{result.statuses[200]} answered 200 in 8 s, {len(result.errors)} failed "
        f"({collections.Counter(result.errors).most_common(3)}); slow connections: "
        f"{slow.opened} opened, {slow.bytes_sent} bytes sent, answered {dict(slow.answered)}, "
        f"dropped by the server {slow.dropped}"
    )
    print(report)
    return result, slow, report


@pytest.mark.parametrize("stack", DEFAULT_STACKS, indirect=True)
def test_slow_headers_do_not_starve_the_workers(stack: Stack) -> None:
    """More connections than worker threads sending their headers a byte at a time:
    nginx holds them (and uWSGI's router, being asynchronous, does too): normal
    requests keep succeeding."""
    load, slow, report = load_beside_slow_clients(stack, body=False)
    assert load.errors == [] and load.statuses[200] >= 100, report
    assert slow.opened == slow.count and slow.dropped == 0 and not slow.answered, report


@pytest.mark.parametrize("stack", DEFAULT_STACKS, indirect=True)
def test_slow_bodies_starve_the_workers_only_without_nginx(stack: Stack) -> None:
    """More uploads than worker threads, trickling a byte at a time to a route that
    reads its body: nginx buffers each body before uWSGI sees it, so normal requests
    keep succeeding. uWSGI's router passes the body on as it comes, so every worker
    thread waits on one: normal requests time out until the uploads end (why the nginx
    servers are the ones to face the internet). The workers serve again as soon as the
    slow clients are gone."""
    load, slow, report = load_beside_slow_clients(stack, body=True)
    assert slow.opened == slow.count and slow.dropped == 0 and not slow.answered, report
    if stack.plan.nginx:
        assert load.errors == [] and load.statuses[200] >= 100, report
    else:
        assert load.errors and load.statuses[200] < len(load.errors), report
    wait_until(lambda: stack.get("/", timeout=3)[0] == 200, 30)
