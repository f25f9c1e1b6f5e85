"""`processes = auto`: the CPU count read from cgroup files laid out in a temporary folder."""

import os
from pathlib import Path

from ops.auto_processes import LEAST_PROCESSES, PER_CPU, auto_processes, available_cpus, cpu_quota


def test_cgroup_v2_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cpu_quota(tmp_path) == 1.5


def test_cgroup_v2_without_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(tmp_path) is None


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_quota(tmp_path) == 0.5


def test_cgroup_v1_without_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_quota(tmp_path) is None


def test_quota_rounds_up_and_never_exceeds_the_cpuset(tmp_path: Path) -> None:
    cpuset = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert available_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").write_text(f"{(cpuset + 4) * 100000} 100000\n")
    assert available_cpus(tmp_path) == cpuset


def test_auto_counts_per_cpu_and_never_fewer_than_the_least(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert auto_processes(tmp_path) == max(PER_CPU, LEAST_PROCESSES)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert auto_processes(tmp_path) >= LEAST_PROCESSES
