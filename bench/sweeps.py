"""The sweeps of processes x threads: the default shape baked with other numbers of
uWSGI processes and threads, on the CPU-bound page and on the I/O-bound route
(GET /io, bench/apps/io_wait.py), each against the default's own."""

from __future__ import annotations

from typing import Any

from bench.configuration import APPS, DEFAULT_PLAN, DEFAULT_PROCESSES, EXTRA, FULL, Config, Mount
from bench.variants import UWSGI_INI


def sweep_key(processes: int, threads: int) -> str:
    return f"sweep-{processes}x{threads}"


def sweep_io_key(processes: int, threads: int) -> str:
    return f"io-{processes}x{threads}"


IO_DEFAULT = "io-default"


# processes x threads around the default, for the CPU-bound page and the I/O-bound
# route: from one slot per CPU to more than wrk's 64 connections.
SWEEP = ((2, 1), (4, 1), (8, 1), (4, 2), (4, 4), (4, 8), (4, 16), (8, 8), (16, 4), (2, 16), (2, 32))
SWEEP_FULL = ((2, 1), (4, 1), (8, 1), (4, 2), (4, 8), (4, 16), (8, 8), (2, 32))
# The I/O-bound route: the app's own package and one more route (FLASK_APP=io_wait).
IO_WAIT = {"FLASK_APP": "io_wait"}


def default_point() -> tuple[int, int]:
    """The default shape's processes x threads: auto, on this machine."""
    return DEFAULT_PROCESSES, DEFAULT_PLAN.threads


def swept_points() -> list[tuple[int, int]]:
    """The sweep's processes x threads, less the default's (measured as the default)."""
    return [point for point in SWEEP if point != default_point()]


def sweep_sets(processes: int, threads: int) -> frozenset[str]:
    return FULL if (processes, threads) in SWEEP_FULL else EXTRA


def threads_label(processes: int, threads: int) -> str:
    return f"{processes} processes x {threads} thread{'s' if threads > 1 else ''}"


def sweep_configs() -> list[Config]:
    """The default shape baked with other processes x threads, on the CPU-bound page."""
    return [
        Config(
            sweep_key(processes, threads),
            threads_label(processes, threads),
            "sweep",
            "default",
            answers={"processes": str(processes), "threads": str(threads)},
            varies=(UWSGI_INI,),
            baseline="nginx-uwsgi",
            short=f"{processes} processes x {threads}",
            sets=sweep_sets(processes, threads),
        )
        for processes, threads in swept_points()
    ]


def io_wait_route() -> dict[str, Any]:
    """Config fields that send wrk to the I/O-bound route (bench/apps/io_wait.py)."""
    return {
        "path": "/io",
        # In the container only: as a compose variable it would also be the image's build
        # argument, and compose would build an image of the app without io_wait.py.
        "override": {"app": {"environment": IO_WAIT}},
        "mounts": (Mount("app", "/app/io_wait.py", APPS / "io_wait.py"),),
    }


def sweep_io_configs() -> list[Config]:
    """The default shape, then the same sweep, on the I/O-bound route."""
    processes, threads = default_point()
    default = Config(
        IO_DEFAULT,
        f"{processes} processes x {threads} threads: auto (default), GET /io",
        "sweep-io",
        "default",
        short="/io: default",
        **io_wait_route(),
    )
    return [
        default,
        *(
            Config(
                sweep_io_key(processes, threads),
                f"{threads_label(processes, threads)}, GET /io",
                "sweep-io",
                "default",
                answers={"processes": str(processes), "threads": str(threads)},
                varies=(UWSGI_INI,),
                baseline=IO_DEFAULT,
                short=f"/io: {processes} processes x {threads}",
                sets=sweep_sets(processes, threads),
                **io_wait_route(),
            )
            for processes, threads in swept_points()
        ),
    ]
