"""A loopback GitHub REST API: Actions runs, jobs and logs, and check runs.

    with FakeGitHub(token="gh-test-token") as gh:
        gh.add_run("acme/web", 7001, jobs=[{"id": 1, "name": "build"}])
        gh.job_logs[1] = b"2024-05-01T10:00:00.0000000Z hello\n"

Shapes follow https://docs.github.com/rest/actions/workflow-jobs and
https://docs.github.com/rest/checks/runs: the jobs list is
``{"total_count", "jobs": [...]}`` paginated by ``per_page``/``page`` with a
``Link: <...>; rel="next"`` header; a job's ``/logs`` answers ``302`` to a
download URL (here ``/_blobs/...`` on the same server) that serves the text; the
run's ``/logs`` answers ``302`` to a zip. Logs that are gone answer ``410``.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.support.fakehttp import FakeServer, Reply, Request

REPO = r"/repos/(?P<repo>[^/]+/[^/]+)"


class FakeGitHub(FakeServer):
    def __init__(self, token: str = "gh-test-token") -> None:
        super().__init__()
        self.token = token
        self.runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.job_logs: dict[int, bytes] = {}
        self.run_archives: dict[int, bytes] = {}
        self.check_runs: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(9000)
        self.route("GET", REPO + r"/actions/runs/(?P<run>\d+)/jobs")(self._jobs)
        self.route("GET", REPO + r"/actions/jobs/(?P<job>\d+)/logs")(self._job_log)
        self.route("GET", REPO + r"/actions/runs/(?P<run>\d+)/logs")(self._run_archive)
        self.route("GET", r"/_blobs/job-logs/(?P<job>\d+)\.txt")(self._blob_log)
        self.route("GET", r"/_blobs/run-logs/(?P<run>\d+)\.zip")(self._blob_zip)
        self.route("POST", REPO + r"/check-runs")(self._create_check)
        self.route("PATCH", REPO + r"/check-runs/(?P<id>\d+)")(self._update_check)
        self.route("GET", REPO + r"/commits/(?P<ref>[^/]+)/check-runs")(self._list_checks)

    def add_run(self, repo: str, run_id: int, jobs: list[dict[str, Any]]) -> None:
        for job in jobs:
            job.setdefault("run_id", run_id)
            job.setdefault("status", "completed")
            job.setdefault("conclusion", "success")
            job.setdefault(
                "html_url", f"https://github.com/{repo}/actions/runs/{run_id}/job/{job['id']}"
            )
        self.runs[(repo, run_id)] = jobs

    def _denied(self, req: Request) -> Reply | None:
        if req.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, {"message": "Bad credentials"})
        return None

    def _jobs(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        jobs = self.runs.get((req.match["repo"], int(req.match["run"])))
        if jobs is None:
            return Reply(404, {"message": "Not Found"})
        per_page = min(int(req.query.get("per_page", ["30"])[0]), 100)
        page = int(req.query.get("page", ["1"])[0])
        chunk = jobs[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(jobs):
            nxt = f"{self.url}{req.path}?per_page={per_page}&page={page + 1}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return Reply(200, {"total_count": len(jobs), "jobs": chunk}, headers)

    def _job_log(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        job = int(req.match["job"])
        if job not in self.job_logs:
            return Reply(410, {"message": "Gone"})
        return Reply(302, headers={"Location": f"{self.url}/_blobs/job-logs/{job}.txt"})

    def _run_archive(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        run = int(req.match["run"])
        if run not in self.run_archives:
            return Reply(410, {"message": "Gone"})
        return Reply(302, headers={"Location": f"{self.url}/_blobs/run-logs/{run}.zip"})

    def _blob_log(self, req: Request) -> Reply:
        assert req.match is not None
        return Reply(200, raw=self.job_logs[int(req.match["job"])])

    def _blob_zip(self, req: Request) -> Reply:
        assert req.match is not None
        data = self.run_archives[int(req.match["run"])]
        return Reply(200, raw=data, headers={"Content-Type": "application/zip"})

    def _create_check(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        body = req.json()
        for field in ("name", "head_sha"):
            if not body.get(field):
                return Reply(422, {"message": f"Invalid request: {field} is missing"})
        check = {"id": next(self._ids), **body}
        self.check_runs.setdefault(req.match["repo"], []).append(check)
        return Reply(201, check)

    def _update_check(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        for check in self.check_runs.get(req.match["repo"], []):
            if check["id"] == int(req.match["id"]):
                check.update(req.json())
                return Reply(200, check)
        return Reply(404, {"message": "Not Found"})

    def _list_checks(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        name = req.query.get("check_name", [None])[0]
        checks = [
            c
            for c in self.check_runs.get(req.match["repo"], [])
            if c["head_sha"] == req.match["ref"] and (name is None or c["name"] == name)
        ]
        return Reply(200, {"total_count": len(checks), "check_runs": checks})
