"""The background jobs' figures: bench/job_client.py's output (a JSON line per job)
read back, and summed up per run: how many were posted, finished or lost, and how
long a job took from its 202 answer to being seen finished."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.stats import median, percentile


class JobsOutputError(ValueError):
    """The job client's output is not what it writes."""


@dataclass(frozen=True)
class Job:
    """One job as the client saw it: its POST's answer, and the end of its polling."""

    number: int
    post_status: int
    post_ms: float
    status: str  # the last status read ("finished", "queued", ...; "refused": no 202)
    finished_ms: float | None  # from the 202 answer to the poll that saw it finished
    polls: int

    @property
    def posted(self) -> bool:
        return self.post_status == 202

    @property
    def finished(self) -> bool:
        return self.finished_ms is not None


def parse(output: str) -> list[Job]:
    """The jobs of the client's output; an error when a line is not one of its records."""
    jobs = []
    for line in output.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            jobs.append(
                Job(
                    number=int(record["job"]),
                    post_status=int(record["post_status"]),
                    post_ms=float(record["post_ms"]),
                    status=str(record["status"]),
                    finished_ms=None
                    if record["finished_ms"] is None
                    else float(record["finished_ms"]),
                    polls=int(record["polls"]),
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            raise JobsOutputError(f"not a job record: {line[:200]!r}") from error
    if not jobs:
        raise JobsOutputError("the job client wrote no job")
    return jobs


@dataclass(frozen=True)
class JobFigures:
    """A run's jobs summed up (results.json keeps it in the run's notes, "jobs")."""

    posted: int
    finished: int
    lost: int  # posted (202) and never seen finished with its own result
    refused: int  # no 202 to the POST
    p50_ms: float | None  # from the 202 answer to seen finished
    p95_ms: float | None
    max_ms: float | None
    post_p50_ms: float | None  # the POST's own answer time
    lost_statuses: dict[str, int]  # the last status read of each lost job


def figures(jobs: list[Job]) -> JobFigures:
    latencies = [job.finished_ms for job in jobs if job.finished_ms is not None]
    posted = [job for job in jobs if job.posted]
    lost: dict[str, int] = {}
    for job in posted:
        if not job.finished:
            lost[job.status] = lost.get(job.status, 0) + 1
    return JobFigures(
        posted=len(posted),
        finished=len(latencies),
        lost=sum(lost.values()),
        refused=len(jobs) - len(posted),
        p50_ms=median(latencies),
        p95_ms=percentile(latencies, 0.95),
        max_ms=max(latencies, default=None),
        post_p50_ms=median(job.post_ms for job in posted),
        lost_statuses=lost,
    )
