"""``<out>/outbox/index.html``: every recorded write, shown as its product shows it.

One self-contained page (no script or style fetched, works from ``file://``):

- **one timeline per build** (a Buildkite build, a CI run, a pull request or a commit),
  across every sink, in the order the writes were made;
- commit statuses and check runs of GitHub, GitLab, Bitbucket and Azure Repos as a pull
  request's **checks box** (the latest state of each check);
- PR/MR comments, Buildkite annotations and check-run summaries rendered from Markdown,
  Jira comments and issues from wiki markup, Slack Block Kit and Teams Adaptive Cards as
  cards, Slack ``:shortcodes:`` as emoji, Bitbucket Code Insights reports and annotations,
  Azure Boards work items, Azure Pipelines log issues and build tags;
- filters by build and by sink;
- reads (GET, a WIQL query, Slack's ``conversations.*``) are not effects: they are listed
  in a collapsed "lookups" section.

Each element carries stable hooks for tests: ``section.build[data-build]``,
``li.entry[data-sink][data-kind][data-build]``, ``.checks-box .check[data-state]``,
``details.lookups``, ``#filter-build`` and ``#filter-sink``. Everything recorded is
escaped (see ``cievents.demo.render``): the preview shows a request, it never executes it.
"""

from __future__ import annotations

__all__ = ["SINK_NAMES", "View", "page", "subject_of", "view", "write"]

import html
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cievents.demo.render import emojify, jira_wiki, markdown, mrkdwn

SINK_NAMES = {
    "github": "GitHub",
    "gitlab": "GitLab",
    "bitbucket": "Bitbucket",
    "azure-devops": "Azure DevOps",
    "azure-repos": "Azure Repos",
    "jira": "Jira",
    "slack": "Slack",
    "teams": "Microsoft Teams",
    "buildkite": "Buildkite",
}
READ_PATHS = re.compile(
    r"/_apis/wit/wiql$|/rest/api/\d/search$|/(conversations\.(history|replies|info)|auth\.test)$"
)


@dataclass
class View:
    """One recorded request, as the page shows it."""

    kind: str  # commit-status, check-run, pr-comment, jira-issue, slack-message, ...
    title: str
    body: str = ""  # rendered HTML, already escaped
    check: dict[str, str] = field(default_factory=dict)  # provider, name, state, text, url


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _a(url: Any, label: str) -> str:
    url = str(url or "")
    if not url.startswith(("http://", "https://")):
        return label
    return f'<a href="{esc(url)}">{label}</a>'


def _json(body: Any) -> str:
    return f"<pre>{esc(json.dumps(body, indent=2, ensure_ascii=False))}</pre>"


# -- checks: one state vocabulary over four products ---------------------------------------

STATES = {
    "success": "success",
    "successful": "success",
    "succeeded": "success",
    "passed": "success",
    "neutral": "neutral",
    "skipped": "neutral",
    "notapplicable": "neutral",
    "failure": "failure",
    "failed": "failure",
    "timed_out": "failure",
    "action_required": "failure",
    "error": "error",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "stopped": "cancelled",
    "pending": "pending",
    "queued": "pending",
    "in_progress": "pending",
    "inprogress": "pending",
    "running": "pending",
    "created": "pending",
}
STATE_ICON = {
    "success": "✓",
    "failure": "✗",
    "error": "!",
    "cancelled": "⊘",
    "neutral": "–",
    "pending": "●",
}


def _check(provider: str, name: Any, state: Any, text: Any, url: Any, extra: str = "") -> View:
    normal = STATES.get(str(state or "").lower(), "pending")
    row = {
        "provider": provider,
        "name": str(name or "?"),
        "state": normal,
        "text": str(text or ""),
        "url": str(url or ""),
    }
    body = _check_row(row) + extra
    return View("commit-status", f"{provider} status {row['name']}: {state}", body, row)


def _check_row(row: dict[str, str]) -> str:
    return (
        f'<div class="check" data-state="{esc(row["state"])}" '
        f'data-provider="{esc(row["provider"])}">'
        f'<span class="state {esc(row["state"])}" title="{esc(row["state"])}">'
        f"{STATE_ICON.get(row['state'], '●')}</span> <b>{esc(row['name'])}</b> "
        f'<span class="muted">{esc(row["text"])}</span> '
        f'<span class="provider">{esc(row["provider"])}</span> '
        + (_a(row["url"], "Details") if row["url"] else "")
        + "</div>"
    )


# -- one function per product ---------------------------------------------------------------


def _github(method: str, path: str, body: Any) -> View | None:
    body = body if isinstance(body, dict) else {}
    if re.search(r"/statuses/[0-9a-f]{7,40}$", path):
        return _check(
            "GitHub",
            body.get("context"),
            body.get("state"),
            body.get("description"),
            body.get("target_url"),
        )
    if re.search(r"/check-runs(/\d+)?$", path):
        output = body.get("output") or {}
        state = body.get("conclusion") or body.get("status")
        notes = output.get("annotations") or []
        extra = f"<div class=summary>{markdown(str(output.get('summary') or ''))}</div>"
        if notes:
            extra += (
                "<ul class=annotations>"
                + "".join(
                    f"<li><code>{esc(n.get('path'))}:{esc(n.get('start_line'))}</code> "
                    f"<b>{esc(n.get('annotation_level'))}</b> {esc(n.get('title'))}: "
                    f"{esc(n.get('message'))}</li>"
                    for n in notes
                )
                + "</ul>"
            )
        v = _check(
            "GitHub", body.get("name"), state, output.get("title"), body.get("details_url"), extra
        )
        v.kind, v.title = "check-run", f"GitHub check run {body.get('name')}: {state}"
        return v
    match = re.search(r"/(?:issues|pulls)/(\d+)/(?:comments|reviews)$", path)
    edit = re.search(r"/(?:issues|pulls)/comments/(\d+)$", path)
    if match or edit:
        what = f"comment on #{match[1]}" if match else f"edit of comment {edit[1] if edit else ''}"
        return View("pr-comment", f"GitHub {what}", markdown(str(body.get("body") or "")))
    return None


def _gitlab(method: str, path: str, body: Any) -> View | None:
    body = body if isinstance(body, dict) else {}
    if re.search(r"/statuses/[0-9a-f]{7,40}$", path):
        return _check(
            "GitLab",
            body.get("name") or body.get("context"),
            body.get("state"),
            body.get("description"),
            body.get("target_url"),
        )
    match = re.search(r"/(merge_requests|commits)/([^/]+)/(notes|discussions)", path)
    if match:
        where = f"!{match[2]}" if match[1] == "merge_requests" else f"commit {match[2][:7]}"
        edit = " (edit)" if method in ("PUT", "PATCH") else ""
        return View(
            "pr-comment", f"GitLab comment on {where}{edit}", markdown(str(body.get("body") or ""))
        )
    return None


def _bitbucket(method: str, path: str, body: Any) -> View | None:
    if re.search(r"/statuses/build$", path) and isinstance(body, dict):
        return _check(
            "Bitbucket",
            body.get("name") or body.get("key"),
            body.get("state"),
            body.get("description"),
            body.get("url"),
        )
    if re.search(r"/reports/[^/]+/annotations$", path) and isinstance(body, list):
        rows = "".join(
            f"<tr><td><span class='sev {esc(str(a.get('severity', '')).lower())}'>"
            f"{esc(a.get('severity'))}</span></td><td>{esc(a.get('annotation_type'))}</td>"
            f"<td><code>{esc(a.get('path'))}:{esc(a.get('line'))}</code></td>"
            f"<td>{esc(a.get('summary'))}</td><td>{esc(a.get('result'))}</td></tr>"
            for a in body
            if isinstance(a, dict)
        )
        return View(
            "insights-annotations",
            f"Code Insights: {len(body)} annotation(s)",
            "<table class=grid><tr><th>Severity</th><th>Type</th><th>Where</th><th>Summary</th>"
            f"<th>Result</th></tr>{rows}</table>",
        )
    if re.search(r"/reports/[^/]+$", path) and isinstance(body, dict):
        data = "".join(
            f"<div class=datum><div class=muted>{esc(d.get('title'))}</div>"
            f"<b>{esc(d.get('value'))}</b></div>"
            for d in body.get("data") or []
            if isinstance(d, dict)
        )
        result = str(body.get("result") or "")
        return View(
            "insights-report",
            f"Code Insights report {body.get('title', '')}",
            f"<div class=report-head><span class='result {esc(result.lower())}'>"
            f"{esc(result)}</span>"
            f" <b>{esc(body.get('title'))}</b> <span class=muted>{esc(body.get('report_type'))}"
            f" · {esc(body.get('reporter'))}</span></div><div class=data>{data}</div>"
            f"<div class=details>{markdown(str(body.get('details') or ''))}</div>",
        )
    match = re.search(r"/pullrequests/(\d+)/comments(/\d+)?$", path)
    if match and isinstance(body, dict):
        raw = (body.get("content") or {}).get("raw", "")
        edit = " (edit)" if match[2] else ""
        return View("pr-comment", f"Bitbucket comment on PR #{match[1]}{edit}", markdown(raw))
    return None


def _workitem_fields(ops: list[Any]) -> dict[str, Any]:
    return {
        str(op.get("path", "")).removeprefix("/fields/"): op.get("value")
        for op in ops
        if isinstance(op, dict) and str(op.get("path", "")).startswith("/fields/")
    }


def _azure(method: str, path: str, body: Any) -> View | None:
    if path.endswith("/statuses") and isinstance(body, dict):
        context = body.get("context") or {}
        name = "/".join(str(p) for p in (context.get("genre"), context.get("name")) if p)
        where = " (PR)" if "/pullRequests/" in path else ""
        v = _check(
            "Azure Repos",
            name + where,
            body.get("state"),
            body.get("description"),
            body.get("targetUrl"),
        )
        return v
    if re.search(r"/pullRequests/(\d+)/threads", path, re.I) and isinstance(body, dict):
        comments = body.get("comments") or ([body] if "content" in body else [])
        text = "\n\n".join(str(c.get("content") or "") for c in comments if isinstance(c, dict))
        number = re.search(r"/pullRequests/(\d+)", path, re.I)
        return View(
            "pr-comment", f"Azure Repos PR #{number[1] if number else '?'} thread", markdown(text)
        )
    match = re.search(r"/_apis/wit/workitems/(\$?[^/]+)$", path, re.I)
    if match and isinstance(body, list):
        fields = _workitem_fields(body)
        created = match[1].startswith("$")
        kind = match[1][1:] if created else f"work item {match[1]}"
        rows = "".join(
            f"<tr><th>{esc(k.rsplit('.', 1)[-1])}</th><td>{esc(v)}</td></tr>"
            for k, v in fields.items()
            if k not in ("System.Title", "System.Description")
        )
        desc = str(fields.get("System.Description") or "")
        return View(
            "workitem",
            f"Azure Boards: {'new ' + kind if created else 'update of ' + kind}",
            f"<div class=wi-title>{esc(fields.get('System.Title', ''))}</div>"
            f"<table class=fields>{rows}</table>"
            # Azure Boards shows the description as HTML; ours is text joined by <br>.
            f"<div class=wi-desc>{esc(desc).replace('&lt;br&gt;', '<br>')}</div>",
        )
    match = re.search(r"/_apis/wit/workItems/(\d+)/comments$", path, re.I)
    if match and isinstance(body, dict):
        return View(
            "workitem",
            f"Azure Boards: comment on work item {match[1]}",
            f"<p>{esc(body.get('text')).replace('&lt;br&gt;', '<br>')}</p>",
        )
    match = re.search(r"/_apis/build/builds/(\d+)/tags/([^/]+)$", path)
    if match:
        return View(
            "build-tag",
            f"Azure Pipelines: tag on build {match[1]}",
            f"<span class=tag>{esc(match[2])}</span>",
        )
    if re.search(r"/timelines/[^/]+/records$", path) and isinstance(body, dict):
        items = [
            issue
            for record in body.get("value") or []
            for issue in (record.get("issues") or [])
            if isinstance(issue, dict)
        ]
        rows = "".join(
            f"<li><span class='sev {esc(i.get('type'))}'>{esc(i.get('type'))}</span> "
            f"{esc(i.get('message'))}</li>"
            for i in items
        )
        return View("log-issues", "Azure Pipelines: issues on the job", f"<ul>{rows}</ul>")
    return None


def _jira(method: str, path: str, body: Any) -> View | None:
    body = body if isinstance(body, dict) else {}
    if re.search(r"/rest/api/\d/issue$", path):
        f = body.get("fields") or {}
        labels = "".join(f"<span class=tag>{esc(label)}</span>" for label in f.get("labels") or [])
        return View(
            "jira-issue",
            f"Jira: new {(f.get('issuetype') or {}).get('name', 'issue')} in "
            f"{(f.get('project') or {}).get('key', '?')}",
            f"<div class=jira-summary>{esc(f.get('summary'))}</div>"
            f"<table class=fields><tr><th>Project</th>"
            f"<td>{esc((f.get('project') or {}).get('key'))}</td></tr>"
            f"<tr><th>Type</th><td>{esc((f.get('issuetype') or {}).get('name'))}</td></tr>"
            f"<tr><th>Priority</th><td>{esc((f.get('priority') or {}).get('name'))}</td></tr>"
            f"<tr><th>Labels</th><td>{labels}</td></tr></table>"
            f"<div class=jira-body>{jira_wiki(str(f.get('description') or ''))}</div>",
        )
    match = re.search(r"/issue/([^/]+)/comment(/\d+)?$", path)
    if match:
        return View(
            "jira-comment",
            f"Jira: comment on {match[1]}",
            f"<div class=jira-body>{jira_wiki(str(body.get('body') or ''))}</div>",
        )
    match = re.search(r"/issue/([^/]+)/transitions$", path)
    if match:
        t = body.get("transition") or {}
        return View(
            "jira-transition",
            f"Jira: transition {match[1]}",
            f"<span class=lozenge>{esc(t.get('name') or t.get('id'))}</span>",
        )
    return None


def _slack(method: str, path: str, body: Any) -> View | None:
    body = body if isinstance(body, dict) else {}
    api = path.rsplit("/", 1)[-1]
    if not api.startswith("chat."):
        return None
    parts = []
    for block in body.get("blocks") or []:
        kind = block.get("type")
        if kind == "header":
            parts.append(f"<div class=sl-header>{emojify(esc(block['text'].get('text')))}</div>")
        elif kind == "divider":
            parts.append("<hr>")
        elif kind == "context":
            parts.append(
                "<div class=sl-context>"
                + " ".join(mrkdwn(str(e.get("text", ""))) for e in block.get("elements") or [])
                + "</div>"
            )
        else:
            if block.get("text"):
                parts.append(f"<div>{mrkdwn(str(block['text'].get('text', '')))}</div>")
            for f in block.get("fields") or []:
                parts.append(f"<div class=field>{mrkdwn(str(f.get('text', '')))}</div>")
            for element in block.get("elements") or []:
                if element.get("type") == "button":
                    label = emojify(esc(element["text"]["text"]))
                    parts.append(_a(element.get("url"), f"<span class=button>{label}</span>"))
    if not parts and body.get("text"):
        parts.append(f"<div>{mrkdwn(str(body['text']))}</div>")
    thread = " · thread reply" if body.get("thread_ts") else ""
    what = {"chat.update": "edit", "chat.postMessage": "message"}.get(api, api)
    return View(
        "slack-message",
        f"Slack {what} in {body.get('channel', '')}{thread}",
        "<div class=sl-msg><div class=sl-avatar>CI</div><div><div class=sl-name>"
        f"cievents <span class=sl-app>APP</span> <span class=muted>{esc(body.get('channel'))}"
        f"{thread}</span></div>{''.join(parts)}</div></div>",
    )


def _adaptive(items: Iterable[Any]) -> str:
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "TextBlock":
            cls = " ".join(
                f"{k}-{str(item[k]).lower()}" for k in ("weight", "size", "color") if item.get(k)
            )
            out.append(f"<div class='tb {esc(cls)}'>{markdown(str(item.get('text', '')))}</div>")
        elif kind == "FactSet":
            rows = "".join(
                f"<tr><th>{esc(f.get('title'))}</th>"
                f"<td>{markdown(str(f.get('value', '')))}</td></tr>"
                for f in item.get("facts") or []
            )
            out.append(f"<table class=facts>{rows}</table>")
        elif kind == "ColumnSet":
            out.append(
                "<div class=cols>"
                + "".join(
                    f"<div>{_adaptive(c.get('items') or [])}</div>"
                    for c in item.get("columns") or []
                )
                + "</div>"
            )
        elif kind == "Container":
            out.append(f"<div>{_adaptive(item.get('items') or [])}</div>")
    return "".join(out)


def _teams(method: str, path: str, body: Any) -> View | None:
    body = body if isinstance(body, dict) else {}
    if body.get("@type") == "MessageCard":
        facts = [f for s in body.get("sections") or [] for f in s.get("facts") or []]
        inner = f"<div class='tb weight-bolder size-medium'>{esc(body.get('title'))}</div>"
        inner += f"<div>{markdown(str(body.get('text') or ''))}</div>" if body.get("text") else ""
        inner += _adaptive([{"type": "FactSet", "facts": facts}])
        actions = [
            (a.get("name"), (a.get("targets") or [{}])[0].get("uri"))
            for a in body.get("potentialAction") or []
        ]
    else:
        card = next(
            (
                a.get("content") or {}
                for a in body.get("attachments") or []
                if isinstance(a, dict)
                and a.get("contentType", "application/vnd.microsoft.card.adaptive")
                == "application/vnd.microsoft.card.adaptive"
            ),
            body if body.get("type") == "AdaptiveCard" else {},
        )
        inner = _adaptive(card.get("body") or [])
        actions = [(a.get("title"), a.get("url")) for a in card.get("actions") or []]
    buttons = "".join(_a(url, f"<span class=button>{esc(title)}</span>") for title, url in actions)
    return View("teams-card", "Teams card", f"<div class=ac>{inner}<div>{buttons}</div></div>")


def _buildkite(method: str, path: str, body: Any) -> View | None:
    body = body if isinstance(body, dict) else {}
    if not path.endswith("/annotations"):
        return None
    style = str(body.get("style") or "default")
    return View(
        "buildkite-annotation",
        f"Buildkite annotation ({style}, context {body.get('context', 'default')})",
        f"<div class='bk-annotation {esc(style)}'>{markdown(str(body.get('body') or ''))}</div>",
    )


RENDERERS: dict[str, Callable[[str, str, Any], View | None]] = {
    "github": _github,
    "gitlab": _gitlab,
    "bitbucket": _bitbucket,
    "azure-devops": _azure,
    "azure-repos": _azure,
    "jira": _jira,
    "slack": _slack,
    "teams": _teams,
    "buildkite": _buildkite,
}


def is_read(entry: dict[str, Any]) -> bool:
    """A lookup (GET, a WIQL query, Slack's conversations.*) rather than an effect."""
    method = str(entry.get("method", "GET")).upper()
    return method in ("GET", "HEAD", "OPTIONS") or bool(
        READ_PATHS.search(urlsplit(str(entry.get("url", ""))).path)
    )


def view(entry: dict[str, Any]) -> View:
    """How the page shows one recorded write (raw JSON when the shape is not known)."""
    sink, method = str(entry.get("sink", "")), str(entry.get("method", "")).upper()
    path = urlsplit(str(entry.get("url", ""))).path
    render = RENDERERS.get(sink)
    shown = render(method, path, entry.get("body")) if render else None
    return shown or View("request", f"{method} {path}", _json(entry.get("body")))


# -- which build a write belongs to --------------------------------------------------------

SUBJECTS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"buildkite\.com/([\w.-]+)/([\w.-]+)/builds/(\d+)"), lambda m: f"{m[2]} #{m[3]}"),
    (
        re.compile(r"/organizations/([\w.-]+)/pipelines/([\w.-]+)/builds/(\d+)"),
        lambda m: f"{m[2]} #{m[3]}",
    ),
    (
        re.compile(r"/repos/([\w.-]+/[\w.-]+)/actions/(?:runs|jobs)/(\d+)"),
        lambda m: f"{m[1]} run {m[2]}",
    ),
    (
        re.compile(r"gitlab\.com/([\w.-]+/[\w./-]+?)/-/pipelines/(\d+)"),
        lambda m: f"{m[1]} pipeline {m[2]}",
    ),
    (
        re.compile(r"bitbucket\.org/([\w.-]+/[\w.-]+)/pipelines/results/(\d+)"),
        lambda m: f"{m[1]} pipeline #{m[2]}",
    ),
    (
        re.compile(r"/_apis/build/builds/(\d+)|buildId=(\d+)"),
        lambda m: f"Azure build {m[1] or m[2]}",
    ),
    (
        re.compile(r"azure job (/[\w./-]+)/[\w-]+"),
        lambda m: "Azure build " + m[1].rsplit("/", 1)[-1],
    ),
    (
        re.compile(r"(?:github\.com|/repos)/([\w.-]+/[\w.-]+)/(?:pull|issues)/(\d+)"),
        lambda m: f"{m[1]} PR #{m[2]}",
    ),
    (
        re.compile(
            r"(?:gitlab\.com/|/projects/)([\w.%-]+(?:/[\w.-]+)?)/(?:-/)?merge_requests/(\d+)"
        ),
        lambda m: f"{m[1].replace('%2F', '/')} MR !{m[2]}",
    ),
    (
        re.compile(r"/(?:repositories|bitbucket\.org)/([\w.-]+/[\w.-]+)/pull-?requests/(\d+)"),
        lambda m: f"{m[1]} PR #{m[2]}",
    ),
    (
        re.compile(r"/repositories/([\w.-]+)/pullRequests/(\d+)", re.I),
        lambda m: f"{m[1]} PR #{m[2]}",
    ),
    (re.compile(r"(?:commits?|statuses)/([0-9a-f]{12,40})\b"), lambda m: f"commit {m[1][:7]}"),
]


def _ranked_subject(entry: dict[str, Any]) -> tuple[int, str] | None:
    text = str(entry.get("url", "")) + " " + json.dumps(entry.get("body"), ensure_ascii=False)
    for rank, (pattern, name) in enumerate(SUBJECTS):
        match = pattern.search(text)
        if match:
            return rank, name(match)
    return None


def subject_of(entry: dict[str, Any]) -> str | None:
    """The build, run, pull request or commit a write is about, read from its URL and body."""
    found = _ranked_subject(entry)
    return found[1] if found else None


def _subjects(entries: list[dict[str, Any]]) -> list[str]:
    """Each entry's build; the writes of one event share the most specific one any of them
    names (a Jira comment about build 102 joins the Slack message that links the build)."""
    found = [_ranked_subject(e) for e in entries]
    best: dict[str, tuple[int, str]] = {}
    for entry, subject in zip(entries, found, strict=True):
        event = str(entry.get("event_id") or "")
        if subject and event and (event not in best or subject[0] < best[event][0]):
            best[event] = subject
    return [
        (best.get(str(e.get("event_id") or "")) or s or (0, "other writes"))[1]
        for e, s in zip(entries, found, strict=True)
    ]


# -- the page -------------------------------------------------------------------------------


def _when(value: Any) -> str:
    try:
        return datetime.fromtimestamp(float(value), UTC).strftime("%H:%M:%S.%f")[:-3]
    except (TypeError, ValueError):
        return ""


def _checks_box(rows: list[dict[str, str]]) -> str:
    if not rows:
        return ""
    failing = sum(r["state"] in ("failure", "error") for r in rows)
    pending = sum(r["state"] == "pending" for r in rows)
    passed = sum(r["state"] == "success" for r in rows)
    if failing:
        head, state = "Some checks were not successful", "failure"
    elif pending:
        head, state = "Some checks haven't completed yet", "pending"
    else:
        head, state = "All checks have passed", "success"
    counts = f"{failing} failing, {pending} pending, {passed} successful"
    return (
        f'<div class="checks-box" data-state="{state}"><div class="checks-head">'
        f'<span class="state {state}">{STATE_ICON[state]}</span> <b>{head}</b>'
        f" <span class=muted>{len(rows)} check{'s' if len(rows) != 1 else ''}: {counts}"
        "</span></div>" + "".join(_check_row(r) for r in rows) + "</div>"
    )


STYLE = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#fff;--card:#f6f8fa;--link:#0969da}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#8d96a0;--line:#30363d;
--bg:#0d1117;--card:#161b22;--link:#4493f8}}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:var(--fg);
background:var(--bg)}
header{position:sticky;top:0;background:var(--bg);border-bottom:1px solid var(--line);
padding:.8em 2em;z-index:1}
h1{font-size:20px;margin:0 0 .4em}main{padding:0 2em 3em;max-width:70em}
a{color:var(--link)}.muted{color:var(--muted);font-size:12px}
.chip{display:inline-block;border:1px solid var(--line);border-radius:1em;padding:0 .6em;
margin:0 .3em .3em 0;font-size:12px}
label{margin-right:1em}select{font:inherit}
section.build{margin-top:1.5em}section.build>h2{font-size:17px;border-bottom:1px solid
var(--line);padding-bottom:.3em}
ol.timeline{list-style:none;padding:0;margin:0;border-left:2px solid var(--line)}
li.entry{margin:0 0 .9em 0;padding-left:1em;position:relative}
li.entry:before{content:"";position:absolute;left:-6px;top:.5em;width:10px;height:10px;
border-radius:50%;background:var(--line)}
.entry-head{font-size:12px;color:var(--muted);margin-bottom:.2em}
.sink{font-weight:600;border-radius:4px;padding:0 .4em;color:#fff;background:#57606a}
.sink.github{background:#24292f}.sink.gitlab{background:#fc6d26}.sink.bitbucket{background:#0052cc}
.sink.azure-devops{background:#0078d4}.sink.jira{background:#0c66e4}.sink.slack{background:#4a154b}
.sink.teams{background:#5b5fc7}.sink.buildkite{background:#14cc80;color:#000}
.card{border:1px solid var(--line);border-radius:6px;padding:.6em 1em;background:var(--bg)}
.checks-box{border:1px solid var(--line);border-radius:6px;margin:.6em 0 1em}
.checks-head{padding:.6em 1em;background:var(--card);border-bottom:1px solid var(--line)}
.check{padding:.35em 1em;border-top:1px solid var(--line)}.checks-box .check:first-of-type{border:0}
.card>.check{padding:0;border:0}
.state{display:inline-block;width:1.2em;text-align:center;font-weight:700}
.state.success{color:#1a7f37}.state.failure,.state.error{color:#d1242f}
.state.pending{color:#9a6700}.state.cancelled,.state.neutral{color:var(--muted)}
.provider{font-size:11px;border:1px solid var(--line);border-radius:3px;padding:0 .3em;
color:var(--muted)}
.summary{margin-top:.4em}
pre,code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--card);
border-radius:4px}code{padding:.1em .3em}pre{padding:.6em;white-space:pre-wrap}
table{border-collapse:collapse;margin:.4em 0}th,td{border:1px solid var(--line);
padding:.2em .6em;text-align:left;vertical-align:top}table.fields th,table.facts th{
border:0;color:var(--muted);font-weight:400}table.fields td,table.facts td{border:0}
.emoji.custom{font-size:11px;border:1px dashed var(--line);border-radius:3px;padding:0 .2em;
color:var(--muted)}
.sl-msg{display:flex;gap:.6em}.sl-avatar{width:36px;height:36px;border-radius:6px;
background:#4a154b;color:#fff;font-weight:700;display:flex;align-items:center;
justify-content:center;flex:none}.sl-name{font-weight:700}
.sl-app{font-size:10px;background:var(--card);color:var(--muted);padding:0 .3em;border-radius:2px}
.field{display:inline-block;width:45%;vertical-align:top;margin:.3em 0}
.button{display:inline-block;border:1px solid var(--line);border-radius:4px;padding:.1em .7em;
margin:.4em .4em 0 0;font-weight:600}blockquote{border-left:4px solid var(--line);margin:.3em 0;
padding-left:.6em;color:var(--muted)}
.ac{border-left:4px solid #5b5fc7;padding-left:.6em}.tb.weight-bolder{font-weight:700}
.tb.size-large,.tb.size-medium{font-size:16px}.tb.color-attention{color:#d1242f}
.tb.color-good{color:#1a7f37}.tb.color-warning{color:#9a6700}.tb p{margin:.2em 0}
.cols{display:flex;gap:1em}.facts p{margin:0}
.bk-annotation{border-left:4px solid #888;padding-left:.8em}
.bk-annotation.error{border-color:#d1242f}
.bk-annotation.warning{border-color:#d4a72c}.bk-annotation.success{border-color:#1a7f37}
.bk-annotation.info{border-color:#0969da}
.jira-summary,.wi-title{font-size:16px;font-weight:600}.jira-body{margin-top:.4em}
.tag,.lozenge{display:inline-block;background:var(--card);border:1px solid var(--line);
border-radius:3px;padding:0 .4em;margin-right:.3em;font-size:12px}
.report-head .result{font-weight:700}.result.failed{color:#d1242f}.result.passed{color:#1a7f37}
.data{display:flex;gap:1.5em;margin:.4em 0}
.sev{font-size:11px;font-weight:700;text-transform:uppercase}.sev.high,.sev.critical,
.sev.error{color:#d1242f}.sev.medium,.sev.warning{color:#9a6700}
details.lookups{margin-top:2em}details.lookups li{font-size:12px}
[hidden]{display:none!important}
@media print{header{position:static}.card{break-inside:avoid}}
"""

SCRIPT = """
(function(){
  var b=document.getElementById('filter-build'), s=document.getElementById('filter-sink');
  function apply(){
    var build=b.value, sink=s.value;
    document.querySelectorAll('li.entry, li.lookup, .checks-box .check').forEach(function(e){
      var ok=(!build||e.dataset.build===build)&&(!sink||e.dataset.sink===sink);
      e.hidden=!ok;
    });
    document.querySelectorAll('section.build').forEach(function(sec){
      sec.hidden=(build&&sec.dataset.build!==build)||!sec.querySelector('li.entry:not([hidden])');
    });
    var shown=document.querySelectorAll('li.entry:not([hidden])').length;
    document.getElementById('shown').textContent=shown;
  }
  // The filters live in the address (#build=...&sink=...), so a filtered view can be shared.
  var hash=new URLSearchParams(location.hash.slice(1));
  if(hash.get('build')!==null) b.value=hash.get('build');
  if(hash.get('sink')!==null) s.value=hash.get('sink');
  function changed(){
    var h=new URLSearchParams();
    if(b.value) h.set('build',b.value);
    if(s.value) h.set('sink',s.value);
    history.replaceState(null,'',h.toString()?'#'+h.toString():location.pathname); apply();
  }
  b.addEventListener('change',changed); s.addEventListener('change',changed); apply();
})();
"""


def page(entries: list[dict[str, Any]]) -> str:
    """The whole page for recorded entries (each with its ``sink``)."""
    builds = _subjects(entries)
    writes: dict[str, list[tuple[int, dict[str, Any], View]]] = defaultdict(list)
    lookups: list[tuple[str, dict[str, Any]]] = []
    for index, (entry, build) in enumerate(zip(entries, builds, strict=True)):
        if is_read(entry):
            lookups.append((build, entry))
        else:
            writes[build].append((index, entry, view(entry)))
    sinks = sorted({str(e.get("sink")) for e in entries})
    order = sorted(writes, key=lambda b: min(float(e.get("time") or 0) for _, e, _ in writes[b]))
    sections = []
    for build in order:
        items = sorted(writes[build], key=lambda t: (float(t[1].get("time") or 0), t[0]))
        latest: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}
        timeline = []
        for index, entry, shown in items:
            sink = str(entry.get("sink"))
            if shown.check:
                latest[(shown.check["provider"], shown.check["name"])] = (sink, shown.check)
            timeline.append(
                f'<li class="entry" id="e{index}" data-sink="{esc(sink)}" '
                f'data-kind="{esc(shown.kind)}" data-build="{esc(build)}" '
                f'data-time="{esc(entry.get("time"))}"><div class="entry-head">'
                f"<time>{_when(entry.get('time'))}</time> "
                f'<span class="sink {esc(sink)}">{esc(SINK_NAMES.get(sink, sink))}</span> '
                f"{esc(shown.title)} <span class=muted>· {esc(entry.get('method'))} "
                f"{esc(urlsplit(str(entry.get('url', ''))).path)}</span></div>"
                f'<div class="card {esc(shown.kind)}">{shown.body}</div></li>'
            )
        box = _checks_box([row for _, row in latest.values()])
        box = box.replace('<div class="check" ', f'<div class="check" data-build="{esc(build)}" ')
        for (provider, _), (sink, _row) in latest.items():
            box = box.replace(
                f'data-provider="{esc(provider)}">',
                f'data-provider="{esc(provider)}" data-sink="{esc(sink)}">',
            )
        sections.append(
            f'<section class="build" data-build="{esc(build)}"><h2>{emojify(esc(build))} '
            f"<span class=muted>{len(items)} write(s)</span></h2>{box}"
            f'<ol class="timeline">{"".join(timeline)}</ol></section>'
        )
    reads = "".join(
        f'<li class="lookup" data-sink="{esc(e.get("sink"))}" data-build="{esc(b)}">'
        f"<code>{esc(e.get('method'))} {esc(e.get('url'))}</code></li>"
        for b, e in lookups
    )
    counts: dict[str, int] = defaultdict(int)
    for entry in entries:
        counts[str(entry.get("sink"))] += 1
    chips = "".join(
        f'<span class="chip" data-sink="{esc(s)}">{esc(SINK_NAMES.get(s, s))} {counts[s]}</span>'
        for s in sinks
    )
    build_opts = "".join(f'<option value="{esc(b)}">{esc(b)}</option>' for b in order)
    sink_opts = "".join(
        f'<option value="{esc(s)}">{esc(SINK_NAMES.get(s, s))}</option>' for s in sinks
    )
    total = sum(len(v) for v in writes.values())
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>ci-event-functions outbox</title>"
        f"<style>{STYLE}</style><header><h1>What the functions would have sent</h1>"
        f"<div>{chips}</div>"
        f'<label>Build <select id="filter-build"><option value="">all builds ({len(order)})'
        f"</option>{build_opts}</select></label>"
        f'<label>Sink <select id="filter-sink"><option value="">all sinks</option>{sink_opts}'
        f'</select></label><span class=muted><span id="shown">{total}</span> of {total} writes'
        f" shown</span></header><main>"
        + ("".join(sections) or "<p>Nothing was sent.</p>")
        + (
            f'<details class="lookups"><summary>Lookups: {len(lookups)} read(s), not effects'
            f"</summary><ul>{reads}</ul></details>"
            if lookups
            else ""
        )
        + f"</main><script>{SCRIPT}</script></html>"
    )


def write(out: Path) -> dict[str, int]:
    """Write index.html for the outbox under ``out``; returns the request count per sink."""
    outbox = out / "outbox"
    entries: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for path in sorted(outbox.glob("*.jsonl")) if outbox.exists() else []:
        lines = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
        counts[path.stem] = len(lines)
        entries.extend({**entry, "sink": entry.get("sink") or path.stem} for entry in lines)
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / "index.html").write_text(page(entries), "utf-8")
    return counts
