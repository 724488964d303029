"""Writes examples/events/: a realistic day of CI events, of our own writing.

Run it to regenerate the bundled events (``python examples/generate.py``);
the output is committed so ``make demo`` needs nothing but the repository.

The day: web-app builds on main pass; a PR branch (SHOP-412) fails two jobs,
one of whose logs leaks a credential (fake, format-valid, generated here),
then gets fixed; an api build is canceled; the deploy pipeline ships; main
breaks once and recovers; GitHub reports the pushes and the pull request;
Jira reports SHOP-412 done.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "events"
ORG = "acme-inc"
REPOS = {
    "web-app": "git@github.com:acme-inc/web-app.git",
    "api": "git@github.com:acme-inc/api.git",
    "deploy-prod": "git@github.com:acme-inc/infrastructure.git",
}
NAMES = {"web-app": "Web App", "api": "API", "deploy-prod": "Deploy (production)"}
rng = random.Random(20261120)  # noqa: S311 - reproducible fake data, not secrets


def sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()  # noqa: S324 - a fake commit id


def uuid(seed: str) -> str:
    h = hashlib.md5(seed.encode()).hexdigest()  # noqa: S324 - a fake, stable id
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def pipeline(slug: str) -> dict[str, Any]:
    return {
        "id": uuid(slug),
        "url": f"https://api.buildkite.com/v2/organizations/{ORG}/pipelines/{slug}",
        "web_url": f"https://buildkite.com/{ORG}/{slug}",
        "name": NAMES[slug],
        "slug": slug,
        "repository": REPOS[slug],
        "default_branch": "main",
        "provider": {"id": "github", "settings": {"repository": REPOS[slug].split(":")[1][:-4]}},
    }


def build(
    slug: str,
    number: int,
    state: str,
    branch: str,
    message: str,
    *,
    hour: int,
    minutes: int,
    author: tuple[str, str],
    pr: int | None = None,
    blocked: bool = False,
) -> dict[str, Any]:
    day = "2026-11-20"
    created = f"{day}T{hour:02d}:{minutes:02d}:00.000Z"
    started = f"{day}T{hour:02d}:{minutes:02d}:07.000Z" if state != "scheduled" else None
    finished_min = minutes + 4 + number % 5
    finished = (
        f"{day}T{hour:02d}:{finished_min:02d}:{number % 60:02d}.000Z"
        if state not in ("scheduled", "running")
        else None
    )
    return {
        "id": uuid(f"{slug}-{number}"),
        "url": f"https://api.buildkite.com/v2/organizations/{ORG}/pipelines/{slug}/builds/{number}",
        "web_url": f"https://buildkite.com/{ORG}/{slug}/builds/{number}",
        "number": number,
        "state": state,
        "blocked": blocked,
        "blocked_state": "",
        "cancel_reason": None,
        "message": message,
        "commit": sha(f"{slug}-{number}-{branch}"),
        "branch": branch,
        "tag": None,
        "env": {},
        "source": "webhook",
        "author": {"name": author[0], "email": author[1], "username": author[1].split("@")[0]},
        "creator": {"id": uuid(author[1]), "name": author[0], "email": author[1]},
        "created_at": created,
        "scheduled_at": created,
        "started_at": started,
        "finished_at": finished,
        "meta_data": {},
        "pull_request": {"id": str(pr), "base": "main", "repository": REPOS[slug]} if pr else None,
        "rebuilt_from": None,
        "pipeline": pipeline(slug),
    }


def job(b: dict[str, Any], key: str, name: str, exit_status: int) -> dict[str, Any]:
    job_id = uuid(f"{b['id']}-{key}")
    base = b["url"]
    return {
        "id": job_id,
        "type": "script",
        "name": name,
        "step_key": key,
        "state": "failed" if exit_status else "passed",
        "build_url": base,
        "web_url": f"{b['web_url']}#{job_id}",
        "log_url": f"{base}/jobs/{job_id}/log",
        "raw_log_url": f"{base}/jobs/{job_id}/log.txt",
        "command": f"bin/{key}",
        "soft_failed": False,
        "exit_status": exit_status,
        "agent": {"id": uuid("agent-3"), "name": "ci-agent-3"},
        "created_at": b["created_at"],
        "scheduled_at": b["created_at"],
        "runnable_at": b["created_at"].replace(":00.000Z", ":02.000Z"),
        "started_at": b["created_at"].replace(":00.000Z", ":09.000Z"),
        "finished_at": b["created_at"].replace(":00.000Z", ":59.000Z"),
        "retried": False,
        "retries_count": 0,
        "retry_source": None,
    }


JANE = ("Jane Doe", "jane@acme.example")
RAVI = ("Ravi Patel", "ravi@acme.example")
events: list[tuple[str, dict[str, Any], dict[str, str], str | None]] = []
# What a pull request changes, by the name of the webhook that shows it (NAME.pr.json).
PR_STATES: dict[str, dict[str, Any]] = {}
leaked_key_id: list[str] = []


def bk(
    name: str,
    event: str,
    b: dict[str, Any],
    j: dict[str, Any] | None = None,
    log: str | None = None,
) -> None:
    body: dict[str, Any] = {
        "event": event,
        "build": b,
        "pipeline": b["pipeline"],
        "sender": {"id": b["creator"]["id"], "name": b["creator"]["name"]},
    }
    if j is not None:
        body = {
            "event": event,
            "job": j,
            "build": b,
            "pipeline": b["pipeline"],
            "sender": body["sender"],
        }
    events.append((name, body, {"X-Buildkite-Event": event}, log))


def jira_done(
    name: str,
    *,
    timestamp: int,
    user: tuple[str, str],
    issue: tuple[str, str, str],
    labels: list[str],
    project: tuple[str, str],
    issue_type: str,
    changelog_id: str,
    resolution_item: bool,
) -> tuple[str, dict[str, Any], dict[str, str], None]:
    """A Jira ``issue_updated`` webhook: the issue moved from In Progress to Done."""
    issue_id, key, summary = issue
    items: list[dict[str, Any]] = [
        {
            "field": "status",
            "fieldtype": "jira",
            "from": "3",
            "fromString": "In Progress",
            "to": "10001",
            "toString": "Done",
        }
    ]
    if resolution_item:
        items.append(
            {
                "field": "resolution",
                "fieldtype": "jira",
                "from": None,
                "fromString": None,
                "to": "10000",
                "toString": "Done",
            }
        )
    body = {
        "timestamp": timestamp,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"displayName": user[0], "accountId": user[1]},
        "issue": {
            "id": issue_id,
            "key": key,
            "self": f"https://acme.atlassian.net/rest/api/2/issue/{issue_id}",
            "fields": {
                "summary": summary,
                "status": {"name": "Done"},
                "resolution": {"name": "Done"},
                "labels": labels,
                "project": {"key": project[0], "name": project[1]},
                "issuetype": {"name": issue_type},
            },
        },
        "changelog": {"id": changelog_id, "items": items},
    }
    return name, body, {"X-Atlassian-Webhook-Identifier": uuid(f"jira-{name[:4]}")}, None


def day() -> None:
    msg = "SHOP-400 Show delivery estimate on the product page"
    for state, ev in (("scheduled", "build.scheduled"), ("running", "build.running")):
        bk(
            f"0900-web-app-101-{state}",
            ev,
            build("web-app", 101, state, "main", msg, hour=9, minutes=0, author=JANE),
        )
    b = build("web-app", 101, "passed", "main", msg, hour=9, minutes=0, author=JANE)
    bk("0904-web-app-101-job-tests", "job.finished", b, job(b, "tests", ":rspec: Tests", 0))
    bk("0905-web-app-101-passed", "build.finished", b)

    msg = "SHOP-412 Add cart totals with tax"
    branch = "feature/SHOP-412-cart-totals"
    for state, ev in (("scheduled", "build.scheduled"), ("running", "build.running")):
        bk(
            f"1000-web-app-102-{state}",
            ev,
            build("web-app", 102, state, branch, msg, hour=10, minutes=0, author=RAVI, pr=87),
        )
    b = build("web-app", 102, "failed", branch, msg, hour=10, minutes=0, author=RAVI, pr=87)
    key_id = "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    secret = "".join(
        rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        for _ in range(40)
    )
    lines = [
        "~~~ Running commands",
        "$ bin/deploy-preview",
        "Configuring credentials for the preview bucket",
        f"\x1b[33mexport AWS_ACCESS_KEY_ID={key_id}\x1b[0m",
        f"export AWS_SECRET_ACCESS_KEY={secret}",
        "upload failed: AccessDenied",
        "^^^ +++",
        "\x1b[31m🚨 Error: The command exited with status 2\x1b[0m",
    ]
    # The agent's real timestamp marker on every line: ESC _bk;t=<ms> BEL.
    log = "".join(
        f"\x1b_bk;t={1763632802000 + 100 * i}\x07{line}\n" for i, line in enumerate(lines)
    )
    bk(
        "1003-web-app-102-job-preview",
        "job.finished",
        b,
        job(b, "preview", ":s3: Deploy preview", 2),
        log,
    )
    leaked_key_id.append(key_id)
    bk("1004-web-app-102-job-tests", "job.finished", b, job(b, "tests", ":rspec: Tests", 1))
    bk("1005-web-app-102-failed", "build.finished", b)

    fix = "SHOP-412 Read preview credentials from the secret store"
    head = sha("web-app-103-" + branch)
    events.append(
        (
            "1030-github-push",
            {
                "ref": f"refs/heads/{branch}",
                "before": sha(f"web-app-102-{branch}"),
                "after": head,
                "created": False,
                "deleted": False,
                "forced": False,
                "compare": f"https://github.com/acme-inc/web-app/compare/{head[:12]}",
                "commits": [
                    {
                        "id": head,
                        "message": fix,
                        "timestamp": "2026-11-20T10:29:41Z",
                        "url": f"https://github.com/acme-inc/web-app/commit/{head}",
                        "author": {"name": RAVI[0], "email": RAVI[1], "username": "ravi"},
                    }
                ],
                "head_commit": {
                    "id": head,
                    "message": fix,
                    "timestamp": "2026-11-20T10:29:41Z",
                    "author": {"name": RAVI[0], "email": RAVI[1]},
                },
                "repository": {
                    "id": 1296269,
                    "name": "web-app",
                    "full_name": "acme-inc/web-app",
                    "html_url": "https://github.com/acme-inc/web-app",
                    "default_branch": "main",
                    "created_at": 1700000000,
                    "pushed_at": 1763634581,
                },
                "pusher": {"name": "ravi", "email": RAVI[1]},
                "sender": {"login": "ravi", "id": 42},
            },
            {"X-GitHub-Event": "push", "X-GitHub-Delivery": uuid("push-1030")},
            None,
        )
    )
    pull_request = {
        "number": 87,
        "state": "open",
        "title": "SHOP-412 Add cart totals with tax",
        "body": "Adds the cart totals with tax; the preview credentials now come from the "
        "secret store.",
        "html_url": "https://github.com/acme-inc/web-app/pull/87",
        "draft": False,
        "merged": False,
        "user": {"login": "ravi"},
        "head": {"ref": branch, "sha": head},
        "base": {"ref": "main", "sha": sha("main-base")},
    }
    web_app = {
        "id": 1296269,
        "name": "web-app",
        "full_name": "acme-inc/web-app",
        "html_url": "https://github.com/acme-inc/web-app",
    }
    events.append(
        (
            "1031-github-pull-request-opened",
            {
                "action": "opened",
                "number": 87,
                "pull_request": pull_request,
                "repository": web_app,
                "sender": {"login": "ravi", "id": 42},
            },
            {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": uuid("pr-1031")},
            None,
        )
    )
    # What PR 87 changes, as the GitHub stand-in serves it to secret_scan (a clean change:
    # the credential it mentions is read from the environment, not written down).
    PR_STATES["1031-github-pull-request-opened"] = {
        "source": "github",
        "repository": "acme-inc/web-app",
        "number": 87,
        "head": head,
        "files": {
            "src/cart/totals.py": [
                "def total(items):\n    return sum(i.price for i in items)\n",
                "import os\n\nTAX_RATE = 0.2\n"
                'PREVIEW_API_KEY = os.environ["PREVIEW_API_KEY"]  # from the secret store\n\n\n'
                "def total(items):\n    net = sum(i.price for i in items)\n"
                "    return round(net * (1 + TAX_RATE), 2)\n",
            ]
        },
    }
    # Jane approves the PR (until now it lacked an approval, so pr_compliance failed it).
    events.append(
        (
            "1040-github-pull-request-review-approved",
            {
                "action": "submitted",
                "review": {
                    "id": 80001,
                    "user": {"login": "jane", "id": 43, "type": "User"},
                    "body": "Looks good.",
                    "commit_id": head,
                    "submitted_at": "2026-11-20T10:40:12Z",
                    "state": "approved",
                    "html_url": "https://github.com/acme-inc/web-app/pull/87#pullrequestreview-80001",
                },
                "pull_request": pull_request,
                "repository": web_app,
                "sender": {"login": "jane", "id": 43},
            },
            {"X-GitHub-Event": "pull_request_review", "X-GitHub-Delivery": uuid("review-1040")},
            None,
        )
    )
    b = build("web-app", 103, "passed", branch, fix, hour=10, minutes=32, author=RAVI, pr=87)
    bk("1036-web-app-103-passed", "build.finished", b)

    msg = "API-77 Paginate the orders endpoint"
    bk(
        "1100-api-55-scheduled",
        "build.scheduled",
        build("api", 55, "scheduled", "main", msg, hour=11, minutes=0, author=JANE),
    )
    bk(
        "1101-api-55-canceled",
        "build.finished",
        build("api", 55, "canceled", "main", msg, hour=11, minutes=0, author=JANE),
    )

    msg = "Deploy web-app 2026.11.20-1 (SHOP-400)"
    bk(
        "1200-deploy-prod-7-passed",
        "build.finished",
        build("deploy-prod", 7, "passed", "main", msg, hour=12, minutes=0, author=JANE),
    )

    msg = "SHOP-431 Bump payment SDK"
    b = build("web-app", 104, "failed", "main", msg, hour=14, minutes=0, author=JANE)
    bk("1403-web-app-104-job-tests", "job.finished", b, job(b, "tests", ":rspec: Tests", 1))
    bk("1404-web-app-104-failed", "build.finished", b)
    msg = "SHOP-431 Pin the payment SDK's HTTP adapter"
    bk(
        "1430-web-app-105-passed",
        "build.finished",
        build("web-app", 105, "passed", "main", msg, hour=14, minutes=30, author=JANE),
    )

    events.append(
        jira_done(
            "1600-jira-SHOP-412-done",
            timestamp=1763654400000,
            user=("Ravi Patel", "5b10ac8d82e05b22cc7d4ef5"),
            issue=("10412", "SHOP-412", "Add cart totals with tax"),
            labels=["cart"],
            project=("SHOP", "Shop"),
            issue_type="Story",
            changelog_id="99001",
            resolution_item=True,
        )
    )

    # Security rotates the leaked AWS key and closes the work item workitem_sync opened for it
    # (labels carry the finding's fingerprint prefix, under the demo's default fingerprint key).
    from cievents.scanning import Scanner

    fingerprint = Scanner(engine="aho-corasick").fingerprint("aws-access-key-id", leaked_key_id[0])
    events.append(
        jira_done(
            "1700-jira-SEC-1-done",
            timestamp=1763658000000,
            user=("Security Team", "5b10ac8d82e05b22cc7d4ef6"),
            issue=("20001", "SEC-1", "Leaked credential: aws-access-key-id in web-app #102"),
            labels=["cievents-secret", f"cievents-{fingerprint[:16]}"],
            project=("SEC", "Security"),
            issue_type="Bug",
            changelog_id="99002",
            resolution_item=False,
        )
    )


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    day()
    for name, body, headers, log in events:
        (OUT / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
        (OUT / f"{name}.headers.json").write_text(json.dumps(headers, indent=2) + "\n")
        if log is not None:
            (OUT / f"{name}.log").write_text(log)
    for name, state in PR_STATES.items():
        (OUT / f"{name}.pr.json").write_text(json.dumps(state, indent=2) + "\n")
    from ci_logs import write as write_ci_logs  # the other CIs' job logs (examples/ci_logs.py)
    from pr_gate import write as write_pr_gate  # leaking PRs on four SCMs (examples/pr_gate.py)

    count = len(events) + write_ci_logs(OUT) + write_pr_gate(OUT)
    print(f"wrote {count} events to {OUT}")


if __name__ == "__main__":
    main()
