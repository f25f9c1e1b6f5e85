"""Print the worker count for `processes = auto`: twice the CPUs this container may use.

ops/uwsgi.ini runs this when uWSGI starts. uWSGI's own %k counts the host's CPUs,
which overcommits a container held to fewer by a CPU quota or a cpuset.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def cpu_quota(cgroup: Path = CGROUP) -> float | None:
    """The CPU time this cgroup may use, in CPUs; None when it has no quota."""
    v2 = cgroup / "cpu.max"
    if v2.is_file():
        quota, period = v2.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    for folder in (cgroup / "cpu", cgroup / "cpu,cpuacct"):
        quota_file = folder / "cpu.cfs_quota_us"
        if quota_file.is_file():
            quota = int(quota_file.read_text())
            period = int((folder / "cpu.cfs_period_us").read_text())
            return None if quota <= 0 else quota / period
    return None


def available_cpus(cgroup: Path = CGROUP) -> int:
    """The CPUs of this process's cpuset, fewer when a CPU quota allows less."""
    cpus = len(os.sched_getaffinity(0))
    quota = cpu_quota(cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return cpus


if __name__ == "__main__":
    print(2 * available_cpus())
