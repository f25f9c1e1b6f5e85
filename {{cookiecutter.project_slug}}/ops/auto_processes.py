{%- set plan = cookiecutter | plan -%}
{% if plan.database == "postgres" -%}
"""Print the worker count for `processes = auto`: PER_CPU for each CPU this container
may use, at least LEAST_PROCESSES and at most MOST_PROCESSES.

ops/uwsgi.ini runs this when uWSGI starts. uWSGI's own %k counts the host's CPUs,
which overcommits a container held to fewer by a CPU quota or a cpuset.
"""
{%- else -%}
"""Print the worker count for `processes = auto`: PER_CPU for each CPU this container
may use, at least LEAST_PROCESSES.

ops/uwsgi.ini runs this when uWSGI starts. uWSGI's own %k counts the host's CPUs,
which overcommits a container held to fewer by a CPU quota or a cpuset.
"""
{%- endif %}

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
# A worker per CPU, each with ops/uwsgi.ini's threads for the requests that wait (on
# the database, on other services).
PER_CPU = {{ plan.auto_processes_per_cpu }}
# So one worker recycling (a chain reload, reload-on-rss) leaves another serving.
LEAST_PROCESSES = {{ plan.least_auto_processes }}
{%- if plan.database == "postgres" %}
# The database accepts the connections of this many workers (README.md, Database
# connections): a bigger host is served by more replicas, not more workers.
MOST_PROCESSES = {{ plan.compose_processes }}
{%- endif %}


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


def auto_processes(cgroup: Path = CGROUP) -> int:
    """uWSGI's workers for `processes = auto`."""
{%- if plan.database == "postgres" %}
    return min(max(PER_CPU * available_cpus(cgroup), LEAST_PROCESSES), MOST_PROCESSES)
{%- else %}
    return max(PER_CPU * available_cpus(cgroup), LEAST_PROCESSES)
{%- endif %}


if __name__ == "__main__":
    print(auto_processes())
