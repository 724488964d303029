"""The outbox preview: every sink shown as its product shows it, escaped, grouped by build."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cievents.demo import preview
from cievents.demo.render import emojify, jira_wiki, markdown, mrkdwn
from cievents.outbox import Outbox
from cievents.tracker.workitems import AzureBoardsTracker

BUILD = "https://buildkite.com/acme-inc/web-app/builds/102"
SHA = "840a80ea048241cc078f017d7be5d7869b7295ee"


def test_markdown_escapes_raw_html_and_drops_script_links() -> None:
    shown = markdown(
        "<img src=x onerror=alert(1)> **bold** [x](javascript:alert(1)) <!-- marker -->"
    )
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt;" in shown
    assert "<strong>bold</strong>" in shown
    assert 'href="javascript' not in shown
    assert "marker" not in shown  # HTML comments are hidden, as GitHub hides them


def test_markdown_tables_and_emoji_but_not_inside_code() -> None:
    shown = markdown("### :rotating_light: Leak\n\n|a|b|\n|-|-|\n|1|:x:|\n\n`:x:`")
    assert "<table>" in shown and "<h3>" in shown
    assert shown.count("🚨") == 1 and shown.count("❌") == 1
    assert "<code>:x:</code>" in shown


def test_slack_shortcodes_become_unicode_and_custom_ones_stay_marked() -> None:
    shown = mrkdwn(":large_yellow_circle: *<https://x.test/b/1|Web App #1>* :rspec: at 10:00:07")
    assert "🟡" in shown  # Slack's name, not the emoji package's (yellow_circle)
    assert '<b><a href="https://x.test/b/1">Web App #1</a></b>' in shown
    assert '<span class="emoji custom" title="custom emoji">:rspec:</span>' in shown
    assert "10:00:07" in shown and "emoji custom" not in shown.split(":rspec:")[1]


def test_mrkdwn_escapes_and_formats() -> None:
    shown = mrkdwn("<script>x</script> _it_ ~gone~ `a*b*` *bold*\n&gt; quoted")
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    assert "<i>it</i>" in shown and "<s>gone</s>" in shown and "<b>bold</b>" in shown
    assert "<code>a*b*</code>" in shown


def test_jira_wiki_markup() -> None:
    text = (
        "h2. Build (/)\n"
        "Build #101 passed: https://buildkite.com/acme-inc/web-app/builds/101.\n"
        "*branch* main, aws-access-key-id {{mono <b>}} [the log|https://x.test/l?a=1&b=2]\n"
        "{anchor:cievents-4763620e7501fdf28c03}\n"
        "* one\n** two\n* three\n"
        "||Check||Result||\n|approvals|(x)|\n"
        '{code:python}\nx = "<b>"\n{code}\n'
        "{color:red}red{color} -struck- <script>"
    )
    shown = jira_wiki(text)
    assert '<h2>Build <span class="emoji">✅</span></h2>' in shown
    assert '<a href="https://buildkite.com/acme-inc/web-app/builds/101">' in shown
    assert "<b>branch</b>" in shown and "aws-access-key-id" in shown  # no strike inside words
    assert "<code>mono &lt;b&gt;</code>" in shown
    assert '<a href="https://x.test/l?a=1&amp;b=2">the log</a>' in shown
    assert "anchor" not in shown  # Jira hides the marker
    assert "<ul><li>one<ul><li>two</li></ul></li><li>three</li></ul>" in shown
    assert "<th>Check</th>" in shown and "❌" in shown
    assert '<pre class="code">x = &quot;&lt;b&gt;&quot;</pre>' in shown
    assert '<span style="color:red">red</span>' in shown and "<s>struck</s>" in shown
    assert "<script>" not in shown


def test_emojify_leaves_tags_alone() -> None:
    assert emojify('<a href="https://x.test/:x:/">:x:</a>') == (
        '<a href="https://x.test/:x:/"><span class="emoji" title=":x:">❌</span></a>'
    )


def entry(sink: str, method: str, url: str, body: Any, event: str, time: float) -> dict[str, Any]:
    return {
        "sink": sink,
        "method": method,
        "url": url,
        "body": body,
        "event_id": event,
        "time": time,
    }


def sample() -> list[dict[str, Any]]:
    """One write of each shape the functions make (shapes as the library's clients send them)."""
    gh = "https://api.github.com/repos/acme-inc/web-app"
    return [
        entry("github", "GET", f"{gh}/issues/87/comments", None, "9", 1.0),
        entry(
            "github",
            "POST",
            f"{gh}/statuses/{SHA}",
            {
                "context": "buildkite/web-app",
                "state": "pending",
                "description": "Build #102 is running",
                "target_url": BUILD,
            },
            "5",
            2.0,
        ),
        entry(
            "github",
            "POST",
            f"{gh}/statuses/{SHA}",
            {
                "context": "buildkite/web-app",
                "state": "failure",
                "description": "Build #102 failed in 6m35s",
                "target_url": BUILD,
            },
            "9",
            3.0,
        ),
        entry(
            "github",
            "PATCH",
            f"{gh}/check-runs/1",
            {
                "name": "buildkite/web-app",
                "conclusion": "failure",
                "details_url": BUILD,
                "output": {
                    "title": "Build #102 failed",
                    "summary": "**Failed jobs:** :rspec: Tests",
                },
            },
            "9",
            3.1,
        ),
        entry(
            "slack",
            "POST",
            "https://slack.com/api/chat.postMessage",
            {
                "channel": "#builds",
                "blocks": [
                    {
                        "type": "section",
                        "text": {
                            "type": "mrkdwn",
                            "text": f":red_circle: *<{BUILD}|Web App #102>* failed",
                        },
                    }
                ],
            },
            "9",
            3.2,
        ),
        entry(
            "slack",
            "POST",
            "https://slack.com/api/conversations.history",
            {"channel": "C1"},
            "9",
            3.3,
        ),
        entry(
            "teams",
            "POST",
            "https://teams.invalid/default",
            {
                "type": "message",
                "attachments": [
                    {
                        "contentType": "application/vnd.microsoft.card.adaptive",
                        "content": {
                            "type": "AdaptiveCard",
                            "body": [
                                {
                                    "type": "TextBlock",
                                    "text": "Web App #102 failed",
                                    "weight": "Bolder",
                                    "color": "Attention",
                                },
                                {
                                    "type": "FactSet",
                                    "facts": [{"title": "Branch", "value": "main"}],
                                },
                            ],
                            "actions": [
                                {"type": "Action.OpenUrl", "title": "View build", "url": BUILD}
                            ],
                        },
                    }
                ],
            },
            "9",
            3.4,
        ),
        entry(
            "jira",
            "POST",
            "https://jira.invalid/rest/api/2/issue/SHOP-412/comment",
            {"body": f"Build #102 failed: {BUILD}\n{{anchor:cievents-1}}"},
            "9",
            3.5,
        ),
        entry(
            "jira",
            "POST",
            "https://jira.invalid/rest/api/2/issue",
            {
                "fields": {
                    "project": {"key": "SEC"},
                    "issuetype": {"name": "Bug"},
                    "priority": {"name": "Medium"},
                    "summary": "Leaked credential: aws-access-key-id in web-app #102",
                    "labels": ["cievents-secret"],
                    "description": f"An AWS credential was found.\nBuild: {BUILD}",
                }
            },
            "14",
            4.0,
        ),
        entry(
            "buildkite",
            "POST",
            "https://api.buildkite.com/v2/organizations/acme-inc/pipelines/web-app/builds/102/annotations",
            {
                "style": "error",
                "context": "cievents-secret-scan",
                "body": "### :rotating_light: Leaked",
            },
            "7",
            4.1,
        ),
        entry(
            "bitbucket",
            "PUT",
            f"https://api.bitbucket.org/2.0/repositories/acme/mobile-app/commit/{SHA}/reports/cievents",
            {
                "title": "Secret scan",
                "report_type": "SECURITY",
                "result": "FAILED",
                "data": [{"title": "Findings", "type": "NUMBER", "value": 1}],
                "details": "1 leaked",
            },
            "21",
            5.0,
        ),
        entry(
            "bitbucket",
            "POST",
            f"https://api.bitbucket.org/2.0/repositories/acme/mobile-app/commit/{SHA}/reports/cievents/annotations",
            [
                {
                    "annotation_type": "VULNERABILITY",
                    "path": "deploy/settings.py",
                    "line": 5,
                    "severity": "HIGH",
                    "summary": "GitHub token",
                    "result": "FAILED",
                }
            ],
            "21",
            5.1,
        ),
        entry(
            "bitbucket",
            "POST",
            "https://api.bitbucket.org/2.0/repositories/acme/mobile-app/pullrequests/7/comments",
            {"content": {"raw": "### cievents/secret-scan: 1 leaked credential"}},
            "21",
            5.2,
        ),
        entry(
            "gitlab",
            "POST",
            f"https://gitlab.com/api/v4/projects/platform%2Finfra-tools/statuses/{SHA}",
            {
                "name": "cievents/secret-scan",
                "state": "success",
                "description": "No leaked credentials",
                "target_url": "https://gitlab.com/platform/infra-tools/-/merge_requests/31",
            },
            "19",
            6.0,
        ),
        entry(
            "azure-devops",
            "POST",
            "https://dev.azure.com/fabrikam/Retail/_apis/git/repositories/storefront/pullRequests/42/statuses",
            {
                "context": {"genre": "cievents", "name": "secret-scan"},
                "state": "succeeded",
                "description": "No leaked credentials",
            },
            "24",
            7.0,
        ),
    ]


def boards_writes(tmp_path: Path) -> list[dict[str, Any]]:
    """Azure Boards writes as the tracker makes them (dry run into an outbox)."""
    tracker = AzureBoardsTracker(
        "https://dev.azure.com/acme-inc", "Platform", None, "Issue", 1, outbox=Outbox(tmp_path)
    )
    tracker.comment("311", "Seen again in build 311")
    tracker.reopen("311")
    return [{**e, "event_id": "40", "time": 8.0} for e in Outbox(tmp_path).read("azure-devops")]


def test_page_shows_every_sink_grouped_by_build(tmp_path: Path) -> None:
    entries = sample() + boards_writes(tmp_path / "boards")
    text = preview.page(entries)
    kinds = dict(re.findall(r'data-sink="([^"]+)" data-kind="([^"]+)"', text))
    assert set(kinds) == {
        "github",
        "slack",
        "teams",
        "jira",
        "buildkite",
        "bitbucket",
        "gitlab",
        "azure-devops",
    }
    assert "request" not in re.findall(r'data-kind="([^"]+)"', text)  # nothing shown as raw JSON
    assert text.count('data-kind="workitem"') == 2 and "Seen again in build 311" in text
    builds = re.findall(r'<section class="build" data-build="([^"]+)"', text)
    # The Jira comment (event 9) and the Slack message join build 102 through the event id.
    assert builds[0] == "web-app #102"
    section = text.split('data-build="web-app #102"><h2>')[1].split("</section>")[0]
    for sink in ("github", "slack", "teams", "jira", "buildkite"):
        assert f'data-sink="{sink}"' in section, sink
    # The checks box holds the latest state of each check: failed, not the earlier pending.
    box = section.split('<div class="checks-box"')[1].split('<ol class="timeline">')[0]
    assert 'data-state="failure"' in box and 'data-state="pending"' not in box
    assert "Some checks were not successful" in box
    assert "🔴" in section and "🚨" in section  # emoji rendered
    assert "anchor:" not in section


def test_reads_are_lookups_not_effects() -> None:
    text = preview.page(sample())
    main, _, lookups = text.partition('<details class="lookups">')
    assert "conversations.history" not in main and "/issues/87/comments</span>" not in main
    assert "Lookups: 2 read(s)" in lookups and "conversations.history" in lookups


def test_every_recorded_value_is_escaped() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    entries = [
        entry(
            "github",
            "POST",
            f"https://api.github.com/repos/a/b/statuses/{SHA}",
            {"context": hostile, "state": hostile},
            "1",
            1.0,
        ),
        entry(
            "jira",
            "POST",
            "https://jira.invalid/rest/api/2/issue/X-1/comment",
            {"body": hostile},
            "1",
            2.0,
        ),
        entry(
            "slack",
            "POST",
            "https://slack.com/api/chat.postMessage",
            {"channel": hostile, "text": hostile},
            "1",
            3.0,
        ),
        entry(
            "teams",
            "POST",
            "https://t.invalid/x",
            {"@type": "MessageCard", "title": hostile},
            "1",
            4.0,
        ),
        entry("nosuch", "POST", "https://x.invalid/y", {"x": hostile}, "1", 5.0),
    ]
    text = preview.page(entries)
    assert "<img" not in text
    assert text.count("&lt;img src=x onerror=alert(1)&gt;") >= 5


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    (tmp_path / "outbox").mkdir()
    for sink in ("github", "slack"):
        lines = [json.dumps(e) for e in sample() if e["sink"] == sink]
        (tmp_path / "outbox" / f"{sink}.jsonl").write_text("\n".join(lines) + "\n")
    counts = preview.write(tmp_path)
    assert counts == {"github": 4, "slack": 2}
    text = (tmp_path / "outbox" / "index.html").read_text()
    assert not re.search(r'(src|href)="(?!https?://(?!.*\.(js|css)"))[^"#]', text)
    assert "<link" not in text and "<script src" not in text and "@import" not in text
    assert 'id="filter-build"' in text and 'id="filter-sink"' in text


def test_an_empty_outbox_says_so(tmp_path: Path) -> None:
    preview.write(tmp_path)
    assert "Nothing was sent." in (tmp_path / "outbox" / "index.html").read_text()
