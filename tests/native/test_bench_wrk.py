"""The bench's wrk run for real on this machine: its Lua script counting the answers by
status (bench/apps/statuses.lua), against a server on 127.0.0.1 whose answers alternate
between a 200 and a 503."""

from __future__ import annotations

import itertools
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import wrk

# Bounded: one second of load, two connections.
SECONDS = 1
CONNECTIONS = 2


class Alternating(BaseHTTPRequestHandler):
    """A 200, then a 503, then a 200...: each answer kept alive, with its length."""

    protocol_version = "HTTP/1.1"
    statuses = itertools.cycle((200, 503))
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            status = next(self.statuses)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def alternating_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Alternating)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_wrk_counts_the_answers_by_status(alternating_server: str) -> None:
    command = wrk.command(alternating_server, SECONDS, CONNECTIONS, 1, 2, statuses=True)
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=SECONDS + 30
    ).stdout
    result = wrk.parse(output)
    assert set(result.statuses) == {200, 503}, output
    # Every answer counted once: all of wrk's requests, its non-2xx the 503s.
    assert sum(result.statuses.values()) == result.requests, output
    assert result.statuses[503] == result.non_2xx, output
    assert abs(result.statuses[200] - result.statuses[503]) <= CONNECTIONS, output
