"""Helpers the tests share: the combinations to bake, processes, sockets and waiting."""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hooks.answers import NGINX_SERVERS, TEMPLATE_ROOT, choices

if TYPE_CHECKING:
    pass

VENV_BIN = Path(sys.executable).parent

# Every combination of the options that change what is generated.
COMBINATIONS: list[dict[str, Any]] = [
    {"server": server, "python_version": version, "stats": stats, "processes": processes}
    for server, version, stats, processes in itertools.product(
        choices("server"), choices("python_version"), (True, False), ("auto", "3")
    )
] + [
    # HTTPS at nginx, with each server that has one.
    {"server": server, "python_version": version, "stats": True, "processes": "auto", "https": True}
    for server, version in itertools.product(NGINX_SERVERS, choices("python_version")[:1])
]
SERVERS: list[str] = choices("server")


def combination_id(answers: dict[str, Any]) -> str:
    """A short test id: nginx-uwsgi-3.13-stats-auto."""
    stats = "stats" if answers["stats"] else "nostats"
    https = "-https" if answers.get("https") else ""
    return f"{answers['server']}-{answers['python_version']}-{stats}-{answers['processes']}{https}"


def run(
    command: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; on failure, fail with everything it printed."""
    result = subprocess.run(
        command, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def native_env(**extra: str) -> dict[str, str]:
    """The environment the baked project's processes get outside Docker:
    this virtualenv plays the image's /opt/venv."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    env["SECRET_KEY"] = "only-for-tests"
    env.update(extra)
    return env


def wait_until(check: Callable[[], bool], seconds: float, step: float = 0.2) -> float:
    """Poll `check` until it is true; return the seconds it took, fail after `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        with contextlib.suppress(OSError):
            if check():
                return time.monotonic() - start
        time.sleep(step)
    raise TimeoutError(f"not true after {seconds} s: {check.__doc__ or check}")


# A stack is healthy once one uWSGI worker answers; on a busy host the others are still
# importing the app (9 to 11 s each under load, measured), and a reload waits for them.
WORKERS_LOADED_S = 60


def every_worker_loaded(stats: dict[str, Any]) -> bool:
    """uWSGI's stats server says each worker has loaded the app."""
    return all(worker["apps"] for worker in stats["workers"])


def http_get(
    address: str,
    path: str = "/",
    timeout: float = 5,
    headers: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    """GET over HTTP/1.0 to host:port or a unix socket path (over TLS to localhost's
    certificate with `tls`): (status, body).

    Raises ConnectionError when the server closes without an answer."""
    request = f"GET {path} HTTP/1.0\r\nHost: localhost\r\n"
    request += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    answer = exchange(address, (request + "\r\n").encode(), timeout, tls)
    if not answer:
        raise ConnectionError(f"{address} closed the connection without an answer")
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def exchange(address: str, data: bytes, timeout: float, tls: ssl.SSLContext | None = None) -> bytes:
    """Send `data` to host:port or a unix socket path (over TLS with `tls`, checking
    the certificate is localhost's); everything read until close."""
    if address.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address)
    else:
        host, _, port = address.rpartition(":")
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname="localhost")
    with sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def template_file(relative: str) -> Path:
    """A file of the template repository."""
    return TEMPLATE_ROOT / relative


@dataclass
class LoadResult:
    """What a bounded load saw: each request's outcome (a status, how its connection ended
    without one, or the name of the error that kept it from connecting), each answer's
    body, the seconds each 200 took, each 503's Retry-After."""

    outcomes: collections.Counter[int | str] = field(default_factory=collections.Counter)
    bodies: collections.Counter[bytes] = field(default_factory=collections.Counter)
    seconds_200: list[float] = field(default_factory=list)
    retry_after: collections.Counter[str | None] = field(default_factory=collections.Counter)

    @property
    def requests(self) -> int:
        return sum(self.outcomes.values())

    @property
    def statuses(self) -> collections.Counter[int]:
        """The answers, counted by status."""
        return collections.Counter(
            {outcome: n for outcome, n in self.outcomes.items() if isinstance(outcome, int)}
        )

    @property
    def failures(self) -> list[str]:
        """How each request without an answer ended, one entry per request."""
        return [
            outcome
            for outcome, n in self.outcomes.items()
            if isinstance(outcome, str)
            for _ in range(n)
        ]

    @property
    def errors(self) -> list[str]:
        """Failures and non-200 answers."""
        bad = [
            f"HTTP {status} x{count}" for status, count in self.statuses.items() if status != 200
        ]
        return bad + self.failures

    def add(self, reply: Reply, seconds: float) -> None:
        """Count one request's reply, which took `seconds`."""
        self.outcomes[reply.outcome] += 1
        if reply.status is not None:
            self.bodies[reply.body] += 1
        if reply.status == 200:
            self.seconds_200.append(seconds)
        elif reply.status == 503:
            self.retry_after[reply.headers.get("retry-after")] += 1

    def p99_200(self) -> float:
        ordered = sorted(self.seconds_200)
        return ordered[int(0.99 * (len(ordered) - 1))]


class Load:
    """Load on host:port (over TLS with `tls`) from `clients` threads, each a GET of
    `path` at a time on a fresh connection (`pause` seconds between two of a client's),
    until stopped, `max_requests` in all, or `max_seconds`.

        with Load("127.0.0.1:8000", clients=20, max_requests=3000, max_seconds=60) as load:
            ...                     # operate on the stack meanwhile
        assert load.result.errors == []

        result = Load("127.0.0.1:8000", "/wait/500", clients=64, max_seconds=5).run()
    """

    def __init__(
        self,
        address: str,
        path: str = "/",
        clients: int = 20,
        max_requests: int = 20000,
        max_seconds: float = 120,
        timeout: float = 10,
        tls: ssl.SSLContext | None = None,
        pause: float = 0,
    ) -> None:
        self.address, self.timeout, self.tls, self.pause = address, timeout, tls, pause
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
        )
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sent = 0
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        self._deadline = time.monotonic() + self.max_seconds
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def run(self) -> LoadResult:
        """Start the load and wait until it has used up its requests or seconds."""
        with self:
            for thread in self._threads:
                thread.join()
        return self.result

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return self.result

    def wait_for(self, requests: int) -> bool:
        """Wait until `requests` more requests have been answered (or failed), or the
        load has ended (stopped, or its requests or seconds used up). True when they
        were: a test that needs load after an operation asserts it, so a load that ran
        out early fails loudly instead of proving nothing."""
        target = self._requests() + requests
        while self._requests() < target and any(thread.is_alive() for thread in self._threads):
            time.sleep(0.05)
        return self._requests() >= target

    def _requests(self) -> int:
        with self._lock:
            return self.result.requests

    def _take_one(self) -> bool:
        """Whether this client may send one more request (and count it as sent)."""
        with self._lock:
            if self._stop.is_set() or time.monotonic() >= self._deadline:
                return False
            if self._sent >= self.max_requests:
                return False
            self._sent += 1
            return True

    def _client(self) -> None:
        while self._take_one():
            started = time.monotonic()
            try:
                reply = send_request(self.address, self.request, self.timeout, self.tls)
            except OSError as error:  # refused, or no connection (or TLS handshake) in time
                reply = Reply(None, {}, b"", type(error).__name__)
            with self._lock:
                self.result.add(reply, time.monotonic() - started)
            if self.pause:
                self._stop.wait(self.pause)


@dataclass
class Reply:
    """What came back for one raw request: an HTTP answer, or how the connection ended
    without one ("empty": closed without a byte, "reset", "timeout", or "unparsable":
    bytes that are no HTTP status line)."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    ending: str

    @property
    def outcome(self) -> int | str:
        """The status, or how the connection ended without one."""
        return self.status if self.status is not None else self.ending


def send_request(
    address: str, data: bytes, timeout: float = 10, tls: ssl.SSLContext | None = None
) -> Reply:
    """Send raw bytes to host:port (over TLS with `tls`, checking the certificate is
    localhost's) and read the answer, up to the end of its body (Content-Length) or until
    the server closes. A server may answer and close while the request is still being
    sent (a body over the limit): its answer is read all the same. Header names come
    back in lower case."""
    host, _, port = address.rpartition(":")
    received = b""
    ending = "empty"
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname="localhost")
    with sock:
        try:
            sock.sendall(data)
        except OSError as error:  # stopped reading, or reset: an answer may be waiting
            ending = "timeout" if isinstance(error, TimeoutError) else "reset"
        try:
            while not answer_complete(received):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            ending = "reset"
        except TimeoutError:
            ending = "timeout"
    if not received:
        return Reply(None, {}, b"", ending)
    return parse_reply(received)


def parse_reply(received: bytes) -> Reply:
    """An HTTP answer's status, headers (names in lower case) and body, or "unparsable"
    ("empty" for no bytes) when it has no HTTP status line."""
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return Reply(None, {}, received, "unparsable" if received else "empty")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(parts[1]), headers, body, "answered")


def answer_complete(received: bytes) -> bool:
    """Whether an HTTP answer has all its head and, when it gives one, its Content-Length."""
    head, separator, body = received.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value)
    return False


def json_lines(log: str) -> list[dict[str, Any]]:
    """A log's JSON lines (nginx's access log, the app's records), parsed; its other
    lines are left out: the entrypoint's, uWSGI's own (its request log's start with
    "{address space usage: ...}"), supervisord's."""
    return [json.loads(line) for line in log.splitlines() if line.startswith('{"')]


def ini_option(path: Path, key: str) -> str:
    """The value of an option of uwsgi.ini or supervisord.conf (its only occurrence)."""
    [value] = re.findall(rf"^{re.escape(key)} = (.+)$", path.read_text(), re.MULTILINE)
    return value


def seconds(duration: str) -> int:
    """A duration as compose writes it ("45s", "1m10s") in seconds."""
    match = re.fullmatch(r"(?:(\d+)m)?(\d+)s", duration)
    assert match, duration
    return int(match[1] or 0) * 60 + int(match[2])
