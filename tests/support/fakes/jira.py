"""A local server speaking the Jira REST endpoints our functions use.

Comments are kept per issue (``GET .../comment`` lists them, as the ``jira``
client's ``comments()`` reads them); each committed comment is in
``server.committed("comment")``. Issues are created (``POST /rest/api/2/issue``, kept
with their labels, each in ``server.committed("issue")``) and found again by label with the
enhanced search (``GET /rest/api/2/search/jql``, ``labels = "…"`` and ``statusCategory !=
Done`` understood); ``GET /rest/api/2/field`` lists the fields.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.support.fakehttp import FakeServer, Reply

EMAIL, API_TOKEN, PAT = "ci@acme.example", "jira-api-token-not-real", "jira-pat-not-real"


def jira_server(issues: dict[str, str] | None = None) -> FakeServer:
    """``issues`` maps key → current status name; transitions depend on the status."""
    fake = FakeServer()
    known = dict(issues or {"SHOP-311": "In Progress", "OPS-7": "To Do"})
    comment_ids = itertools.count(10000)
    comments: dict[str, list[dict[str, Any]]] = {}
    workflow = {
        "To Do": [("11", "Start Progress")],
        "In Progress": [("21", "Needs Review"), ("31", "Done")],
        "Needs Review": [("31", "Done")],
    }

    def authorized(req: Any) -> bool:
        auth = req.headers.get("authorization", "")
        return auth == f"Bearer {PAT}" or auth.startswith("Basic ")

    @fake.route("GET", "/rest/api/2/serverInfo")
    def server_info(req: Any) -> Reply:
        return Reply(
            200,
            {
                "baseUrl": "http://jira",
                "version": "1001.0.0",
                "versionNumbers": [1001, 0, 0],
                "deploymentType": "Cloud",
            },
        )

    def refused(req: Any, key: str) -> Reply | None:
        """401 without credentials, 404 for an issue that does not exist (as Jira answers)."""
        if not authorized(req):
            return Reply(401, {"errorMessages": ["auth"]})
        if key not in known:
            message = "Issue does not exist or you do not have permission to see it."
            return Reply(404, {"errorMessages": [message]})
        return None

    @fake.route("GET", "/rest/api/2/myself")
    def myself(req: Any) -> Reply:
        return Reply(200, {"displayName": "CI"}) if authorized(req) else Reply(401, {})

    @fake.route("GET", "/rest/api/2/issue/(?P<key>[A-Z]+-\\d+)")
    def issue(req: Any) -> Reply:
        key = req.match.group("key")
        if (denied := refused(req, key)) is not None:
            return denied
        return Reply(
            200,
            {
                "id": str(10000 + len(key)),
                "key": key,
                "self": f"http://jira/rest/api/2/issue/{key}",
                "fields": {"summary": f"{key} summary", "status": {"name": known[key]}},
            },
        )

    @fake.route("POST", "/rest/api/2/issue/(?P<key>[A-Z]+-\\d+)/comment")
    def comment(req: Any) -> Reply:
        key = req.match.group("key")
        if (denied := refused(req, key)) is not None:
            return denied
        cid = str(next(comment_ids))
        stored = {
            "id": cid,
            "self": f"http://jira/rest/api/2/issue/{key}/comment/{cid}",
            "body": req.json()["body"],
        }
        comments.setdefault(key, []).append(stored)
        fake.commit("comment", issue=key, id=cid)
        return Reply(201, stored)

    @fake.route("GET", "/rest/api/2/issue/(?P<key>[A-Z]+-\\d+)/comment")
    def list_comments(req: Any) -> Reply:
        key = req.match.group("key")
        if (denied := refused(req, key)) is not None:
            return denied
        found = comments.get(key, [])
        return Reply(
            200, {"startAt": 0, "maxResults": 5000, "total": len(found), "comments": found}
        )

    @fake.route("GET", "/rest/api/2/issue/(?P<key>[A-Z]+-\\d+)/transitions")
    def transitions(req: Any) -> Reply:
        key = req.match.group("key")
        if key not in known:
            return Reply(404, {"errorMessages": ["not found"]})
        return Reply(
            200,
            {
                "transitions": [
                    {"id": tid, "name": name, "to": {"name": name}}
                    for tid, name in workflow.get(known[key], [])
                ]
            },
        )

    @fake.route("POST", "/rest/api/2/issue/(?P<key>[A-Z]+-\\d+)/transitions")
    def transition(req: Any) -> Reply:
        key = req.match.group("key")
        wanted = req.json()["transition"]["id"]
        for tid, name in workflow.get(known[key], []):
            if tid == str(wanted):
                known[key] = name
                return Reply(204, None)
        return Reply(400, {"errorMessages": ["transition not valid"]})

    labels: dict[str, list[str]] = {}
    issue_numbers = itertools.count(1)

    @fake.route("GET", "/rest/api/2/field")
    def fields(req: Any) -> Reply:
        return Reply(
            200, [{"id": "summary", "name": "Summary"}, {"id": "labels", "name": "Labels"}]
        )

    @fake.route("POST", "/rest/api/2/issue")
    def create(req: Any) -> Reply:
        if not authorized(req):
            return Reply(401, {"errorMessages": ["auth"]})
        sent = req.json().get("fields") or {}
        project = str((sent.get("project") or {}).get("key") or "")
        if not project or not sent.get("summary"):
            return Reply(400, {"errors": {"project": "project is required"}})
        key = f"{project}-{next(issue_numbers)}"
        known[key] = "To Do"
        labels[key] = list(sent.get("labels") or [])
        fake.commit("issue", key=key, labels=labels[key])
        issue_id = str(20000 + len(labels))
        return Reply(
            201, {"id": issue_id, "key": key, "self": f"{fake.url}/rest/api/2/issue/{key}"}
        )

    @fake.route("GET", "/rest/api/2/search/jql")
    def search(req: Any) -> Reply:
        if not authorized(req):
            return Reply(401, {"errorMessages": ["auth"]})
        jql = req.query.get("jql", [""])[0]
        wanted = re.findall(r'labels = "([^"]+)"', jql)
        open_only = "statusCategory != Done" in jql
        found = [
            {"id": str(20000 + i), "key": key}
            for i, (key, have) in enumerate(labels.items(), start=1)
            if all(w in have for w in wanted) and not (open_only and known[key] == "Done")
        ]
        return Reply(200, {"issues": found, "isLast": True})

    fake.known = known  # type: ignore[attr-defined]
    fake.comments = comments  # type: ignore[attr-defined]
    return fake
