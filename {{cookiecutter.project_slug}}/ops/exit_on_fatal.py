"""supervisor event listener: stop the container when the program it serves (the
names given as arguments: uWSGI, or the worker) cannot be started.

After startretries failed starts supervisor marks such a program FATAL and keeps
running with nothing served; any other program that cannot start fails alone.
This listener then kills supervisord with SIGKILL: it exits 0 on any signal it can
catch, which would tell Docker all is well, while a kill shows as a failure, so the
restart policy and the health status act.
"""

from __future__ import annotations

import os
import signal
import sys

from supervisor import childutils


def report(message: str) -> None:
    """Write to supervisord's own stderr: it is killed before it could relay ours."""
    with open(f"/proc/{os.getppid()}/fd/2", "a") as stderr:
        print(f"exit_on_fatal: {message}", file=stderr)


def main(essential: list[str]) -> None:
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        process = childutils.get_headers(payload.partition("\n")[0]).get("processname")
        if headers["eventname"] == "PROCESS_STATE_FATAL" and process in essential:
            report(f"{payload} could not be started; killing supervisord")
            os.kill(os.getppid(), signal.SIGKILL)
            return
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
