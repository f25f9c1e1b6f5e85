"""The background jobs' client, run in the front container's network namespace as wrk
is: the example job posted through the front door one at a time (POST /jobs), each
polled (GET /jobs/<id>) until it is finished with its own result; a JSON line per job
on stdout (parsed by bench/jobs.py). Bounded in count and in time.

    python -m bench.job_client http://127.0.0.1:8080/ --jobs 200 --seconds 60
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
import urllib.parse
from typing import Any

# How often a job is asked for while it is not finished: the latency's resolution.
POLL_S = 0.005
# How long one job is polled before the next is posted; a job still not finished then
# is asked for again once every job is posted, for up to as long.
JOB_WAIT_S = 10.0
REQUEST_TIMEOUT_S = 5.0


class Client:
    """One keep-alive connection to the front door, opened again when it drops."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.connection = self.connect()

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_S)

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """(status, the JSON answer or None); status 0 when no answer came, twice."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for _ in range(2):
            try:
                self.connection.request(method, path, body=data, headers=headers)
                answer = self.connection.getresponse()
                text = answer.read()
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = self.connect()
                continue
            try:
                return answer.status, json.loads(text)
            except ValueError:
                return answer.status, None
        return 0, None


def post(client: Client, number: int) -> dict[str, Any]:
    """Queue job `number`: its record so far (the answer's status and time, its URL)."""
    text = f"bench job {number}"
    started = time.monotonic()
    status, answer = client.request("POST", "/jobs", {"text": text})
    record: dict[str, Any] = {
        "job": number,
        "text": text,
        "post_status": status,
        "post_ms": (time.monotonic() - started) * 1000,
        "status": "refused",
        "finished_ms": None,
        "polls": 0,
    }
    if status == 202 and isinstance(answer, dict):
        record.update(id=answer.get("id"), url=answer.get("url"), status="posted")
        record["enqueued"] = time.monotonic()
    return record


def ask(client: Client, record: dict[str, Any]) -> bool:
    """Ask for a posted job once: whether it is done (finished with its own result, or
    with another). Finished: the milliseconds from the 202 answer to this poll."""
    status, answer = client.request("GET", record["url"])
    record["polls"] += 1
    if status != 200 or not isinstance(answer, dict):
        record["status"] = f"GET {status}"
        return False
    record["status"] = str(answer.get("status"))
    if record["status"] != "finished":
        return False
    if (answer.get("result") or {}).get("text") != record["text"]:
        record["status"] = "finished with another result"
    else:
        record["finished_ms"] = (time.monotonic() - record["enqueued"]) * 1000
    return True


def poll(client: Client, records: list[dict[str, Any]], seconds: float) -> None:
    """Ask for each job, in turn, until every one is done or `seconds` pass."""
    deadline = time.monotonic() + seconds
    waiting = list(records)
    while waiting and time.monotonic() < deadline:
        waiting = [record for record in waiting if not ask(client, record)]
        time.sleep(POLL_S)


def run_jobs(url: str, jobs: int, seconds: float) -> list[dict[str, Any]]:
    """Post up to `jobs` jobs within `seconds`, one at a time, each polled until done;
    then those not done, again."""
    client = Client(url)
    deadline = time.monotonic() + seconds
    records = []
    for number in range(jobs):
        if time.monotonic() > deadline:
            break
        record = post(client, number)
        if record["status"] == "posted":
            poll(client, [record], JOB_WAIT_S)
        records.append(record)
    late = [r for r in records if "url" in r and not r["status"].startswith("finished")]
    poll(client, late, JOB_WAIT_S)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.job_client", description=__doc__)
    parser.add_argument("url", help="the front door, e.g. http://127.0.0.1:8080/")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60, help="posting stops after this")
    args = parser.parse_args(argv)
    for record in run_jobs(args.url, args.jobs, args.seconds):
        record.pop("enqueued", None)
        print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
