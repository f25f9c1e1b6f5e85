"""Commands and processes on this machine: running a command, what the bench needs
here, a session's processes, their CPU time and their end."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

Log = Callable[[str], None]


class BenchError(RuntimeError):
    """Something the bench needs failed; the message says what and shows its output."""


def run(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, its output captured; fail with that output."""
    try:
        result = subprocess.run(
            list(command),
            env=env,
            cwd=cwd,
            timeout=timeout,
            capture_output=True,
            text=True,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"{' '.join(command)}: no answer after {timeout:.0f} s") from error
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-40:])
        raise BenchError(f"{' '.join(command)} exited {result.returncode}:\n{tail}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_host() -> None:
    """What the bench needs on this machine, or one line saying what is missing."""
    if os.geteuid() != 0:
        raise BenchError(
            "the bench runs wrk in containers' network namespaces (nsenter): run as root"
        )
    # command -> Debian package
    tools = {
        "wrk": "wrk",
        "nginx": "nginx",
        "envsubst": "gettext-base",
        "curl": "curl",
        "nsenter": "util-linux",
        "unshare": "util-linux",
        "ip": "iproute2",
        "ss": "iproute2",
        "pgrep": "procps",
    }
    missing = sorted({package for tool, package in tools.items() if shutil.which(tool) is None})
    if missing:
        raise BenchError(f"the bench needs these Debian packages: {' '.join(missing)}")
    if run(["docker", "info"], check=False, timeout=60).returncode != 0:
        raise BenchError(
            "no Docker engine answers; `make setup` starts one (machine/docker-engine.sh)"
        )


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu_s(pid: int | str, children: bool = False) -> float:
    """CPU seconds of a process (utime + stime), with its reaped children's."""
    try:
        fields = process_stat(pid)
    except (OSError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def session_cpu_s(session: int) -> float:
    """CPU seconds of every process of a session, with the children they reaped."""
    return sum(process_cpu_s(pid, children=True) for pid in session_processes(session))


def session_processes(session: int) -> list[int]:
    """The processes of a session (supervisord gives each program a process group of
    its own, but they all stay in the session the bench started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(process_stat(entry.name)[3]) == session:
                    found.append(int(entry.name))
    return found


def living(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        return process_stat(pid)[0] != "Z"
    except (OSError, IndexError):
        return False


def stop_session(session: int, grace_s: float = 10) -> None:
    """SIGTERM every process of a session (started with start_new_session, so its
    id is the session's), SIGKILL what is left after grace_s (at once with 0)."""
    deadline = time.monotonic() + grace_s
    signum = signal.SIGTERM if grace_s else signal.SIGKILL
    while True:
        # Reap the leader if it is our child and done, so it does not linger as a zombie.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(session, os.WNOHANG)
        alive = [pid for pid in session_processes(session) if living(pid)]
        if not alive:
            return
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        if time.monotonic() > deadline:
            signum = signal.SIGKILL
        time.sleep(0.1)
