"""What the orchestrators (Docker swarm, Kubernetes) get, derived from the answers and
facts: each replica's share of CPU and memory, its probes' thresholds, the names of
its images and objects."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hooks.answers import Answers
from hooks.facts import Facts


@dataclass(frozen=True)
class Resources:
    """What one replica may use (limits) and is set aside for it (requests,
    reservations), in thousandths of a CPU and MiB."""

    cpu_limit_millis: int
    memory_limit_mb: int
    cpu_request_millis: int
    memory_request_mb: int

    @property
    def cpus(self) -> str:
        """The CPU limit as Docker writes it ("1", "0.5")."""
        return f"{self.cpu_limit_millis / 1000:g}"

    @property
    def reserved_cpus(self) -> str:
        return f"{self.cpu_request_millis / 1000:g}"


@dataclass(frozen=True, kw_only=True)
class Replicas(Answers, Facts):
    """The orchestrated replicas of a plan (hooks/plan.py's Plan is one)."""

    @property
    def replica_workers(self) -> int:
        """uWSGI workers in one orchestrated replica: the fixed count, or what `auto`
        makes of the replica's CPU limit."""
        cpus = math.ceil(self.app_cpu_limit_millis / 1000)
        return self.processes or self.auto_processes(cpus)

    @property
    def app_resources(self) -> Resources:
        """An app replica's share. Its memory limit leaves every worker room to grow
        to reload-on-rss, so uWSGI recycles a worker before the kernel kills one."""
        return Resources(
            cpu_limit_millis=self.app_cpu_limit_millis,
            memory_limit_mb=(
                self.replica_workers * self.reload_on_rss_mb + self.app_memory_overhead_mb
            ),
            cpu_request_millis=self.app_cpu_request_millis,
            memory_request_mb=self.app_memory_request_mb,
        )

    @property
    def nginx_resources(self) -> Resources:
        return Resources(
            cpu_limit_millis=self.nginx_cpu_limit_millis,
            memory_limit_mb=self.nginx_memory_limit_mb,
            cpu_request_millis=self.nginx_cpu_request_millis,
            memory_request_mb=self.nginx_memory_request_mb,
        )

    @property
    def swarm_update_monitor(self) -> int:
        """How long swarm watches each updated replica before the next: long enough
        for the health check to fail `retries` times in a row, which rolls back."""
        return self.healthcheck_interval * self.healthcheck_retries + self.healthcheck_timeout

    @property
    def startup_failure_threshold(self) -> int:
        """Kubernetes' startup probe keeps trying as long as Docker's start period."""
        return self.app_start_period // self.healthcheck_start_interval

    @property
    def nginx_startup_failure_threshold(self) -> int:
        return self.nginx_start_period // self.healthcheck_start_interval

    @property
    def liveness_failure_threshold(self) -> int:
        """Failed liveness probes before Kubernetes restarts the app: for longer than
        harakiri, so uWSGI replaces a stuck worker first and busy workers never
        restart a pod."""
        return self.harakiri // self.liveness_period + 1

    @property
    def k8s_name(self) -> str:
        """The project's name in Kubernetes objects: a DNS label (no underscores),
        short enough for a suffix such as -nginx."""
        return self.project_slug.replace("_", "-").strip("-")[:50].strip("-") or "app"

    @property
    def app_repository(self) -> str:
        """The app image's name for an orchestrator (tagged with a version, behind a
        registry's prefix when there is one)."""
        return f"{self.project_slug}-app"

    @property
    def nginx_repository(self) -> str:
        return f"{self.project_slug}-nginx"
