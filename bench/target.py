"""Where wrk sends its requests, and the log lines that explain a run's errors."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.host import BenchError, run

READY_TIMEOUT_S = 120
# Before the load, a stack settles: its own processes use less than this share of one
# CPU over SETTLED_WINDOW_S. Every worker has then loaded the app (uWSGI's lazy-apps,
# gunicorn's and granian's workers each load it after the fork, after the first answers
# the readiness poll), so the load meets no worker still loading: 16 of them on 2 CPUs
# take seconds.
SETTLED_CPU_SHARE = 0.1
SETTLED_WINDOW_S = 0.5
SETTLED_TIMEOUT_S = 60


# An answer other than 200 (or a client's 499) in nginx's access log, its combined or
# its JSON format.
NOT_OK = re.compile(r'" (?!200 |499 )[1-5][0-9][0-9] |"status":(?!200,|499,)[1-5][0-9][0-9],')
# A request shed on purpose (503, Retry-After): nginx's access log line for it, the app's.
SHED = re.compile(r'" 503 |"status":503,|"message": "503 for ')
EXPLAINING = re.compile(
    r"\[(error|crit|alert|emerg)\]|killed|harakiri|Seeya|Respawned|listen queue|"
    r"Traceback|Error|unavailable|refused|[0-9]{3} for [A-Z]+ /",
)


def explaining_errors(result: subprocess.CompletedProcess[str], most: int = 200) -> str:
    """The log lines that explain a run's errors, in the order logged: the last `most`
    of the shed requests' and the last `most` of all others (the first are often
    nginx's while the app was starting, before the load). An overload sheds thousands,
    which must not hide the few lines of another error among them."""
    lines = (result.stdout + result.stderr).splitlines()
    found = [line for line in lines if NOT_OK.search(line) or EXPLAINING.search(line)]
    shed = [index for index, line in enumerate(found) if SHED.search(line)]
    others = [index for index, line in enumerate(found) if not SHED.search(line)]
    kept = sorted(shed[-most:] + others[-most:])
    left_out = f"... {len(found) - len(kept)} earlier left out\n" if len(kept) < len(found) else ""
    return left_out + "\n".join(found[index] for index in kept)


@dataclass(frozen=True)
class Target:
    """Where wrk sends its requests: a URL, seen from a network namespace (a
    container's, by one of its processes), or from this machine's."""

    url: str
    netns_pid: int | None = None
    container: str = ""
    app_pid: int | None = None
    # The app's container (the front's own when the app faces clients); "" natively.
    app_container: str = ""
    # The stack's log lines that explain errors (non-200 answers, nginx errors,
    # uWSGI's worker messages), for a run that had some.
    error_logs: Callable[[], str] = lambda: ""
    # CPU seconds used so far: by the stack's own processes ("stack") and by Docker's
    # daemons and the stack's shims ("docker": the log path, health checks).
    cpu: Callable[[], dict[str, float]] = lambda: {}
    # The front's log (nginx's access log among it) so far; "" natively.
    front_log: Callable[[], str] = lambda: ""

    def wrap(self, command: Sequence[str]) -> list[str]:
        if self.netns_pid is None:
            return list(command)
        return ["nsenter", f"--net=/proc/{self.netns_pid}/ns/net", *command]

    def status(self) -> int:
        """The HTTP status of GET url, 0 when there is no answer."""
        result = run(
            self.wrap(
                [
                    "curl",
                    "--silent",
                    "--output",
                    "/dev/null",
                    "--max-time",
                    "2",
                    "--write-out",
                    "%{http_code}",
                    self.url,
                ]
            ),
            check=False,
            timeout=10,
        )
        return int(result.stdout or 0) if result.stdout.strip().isdigit() else 0

    def wait_ready(self, seconds: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.status() == 200:
                return
            time.sleep(0.1)
        raise BenchError(f"{self.url} did not answer 200 within {seconds:.0f} s")

    def wait_settled(self, seconds: float = SETTLED_TIMEOUT_S) -> float:
        """Wait until the stack's own processes use less than SETTLED_CPU_SHARE of a CPU
        over SETTLED_WINDOW_S; the seconds it took (0 when their CPU time is unknown)."""
        started = time.monotonic()
        before = self.cpu().get("stack")
        while before is not None:
            time.sleep(SETTLED_WINDOW_S)
            after = self.cpu()["stack"]
            if after - before < SETTLED_CPU_SHARE * SETTLED_WINDOW_S:
                return time.monotonic() - started
            if time.monotonic() - started > seconds:
                share = (after - before) / SETTLED_WINDOW_S
                raise BenchError(
                    f"{self.url}: its processes still used {share:.0%} of a CPU"
                    f" {seconds:.0f} s after it answered"
                )
            before = after
        return 0.0

    def time_wait(self, pid: int | None) -> int:
        """TIME_WAIT sockets in the network namespace of pid."""
        if pid is None:
            command = ["ss", "-Htan", "state", "time-wait"]
        else:
            command = ["nsenter", f"--net=/proc/{pid}/ns/net", "ss", "-Htan", "state", "time-wait"]
        return len(run(command, check=False).stdout.splitlines())
