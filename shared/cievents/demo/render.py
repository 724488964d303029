"""Vendor markups as HTML, for the outbox preview.

=================  ===========================================================================
``markdown``       GitHub, GitLab, Bitbucket, Azure Repos and Buildkite bodies (CommonMark with
                   tables and strikethrough, through ``markdown-it-py``)
``mrkdwn``         Slack's mrkdwn: ``*bold*``, ``_italic_``, ``~strike~``, `` `code` ``,
                   fenced blocks, ``<url|text>`` links, ``>`` quotes
``jira_wiki``      Jira's wiki markup: ``h1.``–``h6.``, ``*bold*``, ``_italic_``, ``-strike-``,
                   ``{{mono}}``, ``[text|url]``, ``{code}``/``{noformat}``/``{quote}``,
                   ``*``/``#`` lists, ``||head||`` tables, ``{color}``, emoticons, ``{anchor}``
``emojify``        ``:shortcodes:`` (Slack's and GitHub's names) as Unicode; a custom emoji
                   (Buildkite's ``:rspec:``) stays its name, marked ``emoji custom``
=================  ===========================================================================

Every renderer escapes first: a recorded body is shown, never executed. Raw HTML inside
Markdown is printed as text and links other than http(s)/mailto are not made links.
"""

from __future__ import annotations

__all__ = ["emoji_char", "emojify", "jira_wiki", "markdown", "mrkdwn"]

import html
import re
from collections.abc import Callable
from functools import cache
from typing import Any

# Slack's names that the emoji package spells differently.
SLACK_ALIASES = {
    "large_green_circle": "green_circle",
    "large_yellow_circle": "yellow_circle",
    "large_orange_circle": "orange_circle",
    "large_purple_circle": "purple_circle",
    "large_brown_circle": "brown_circle",
    "large_red_square": "red_square",
    "simple_smile": "slightly_smiling_face",
    "thumbsup": "+1",
    "thumbsdown": "-1",
}
_SHORTCODE = re.compile(r":([a-z0-9_+\-]*[a-z][a-z0-9_+\-]*):")
_TAG = re.compile(r"(<[^>]*>)")
_LITERAL_TAGS = ("code", "pre")


@cache
def emoji_char(name: str) -> str | None:
    """The Unicode emoji a shortcode name stands for, or None for a custom one."""
    import emoji

    name = SLACK_ALIASES.get(name, name)
    shown = str(emoji.emojize(f":{name}:", language="alias"))
    return None if shown == f":{name}:" else shown


def _emoji_span(match: re.Match[str]) -> str:
    char = emoji_char(match[1])
    if char is None:
        return f'<span class="emoji custom" title="custom emoji">{match[0]}</span>'
    return f'<span class="emoji" title="{match[0]}">{char}</span>'


def _text_parts(rendered: str, change: Callable[[str], str]) -> str:
    """``change`` applied to the text between tags, outside <code> and <pre>."""
    out, literal = [], 0
    for part in _TAG.split(rendered):
        if part.startswith("<"):
            name = part.strip("</>").split()[0].lower() if part.strip("</>") else ""
            if name in _LITERAL_TAGS:
                literal += -1 if part.startswith("</") else 1
            out.append(part)
        else:
            out.append(part if literal > 0 else change(part))
    return "".join(out)


def emojify(rendered: str) -> str:
    """Shortcodes in already-escaped HTML shown as emoji (never inside tags or code)."""
    return _text_parts(rendered, lambda text: _SHORTCODE.sub(_emoji_span, text))


@cache
def _markdown_it() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"]
    )


_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)


def markdown(text: str) -> str:
    """CommonMark (tables, strikethrough) with raw HTML escaped, then emoji. HTML comments
    (our edit markers) are hidden, as GitHub, GitLab and Bitbucket hide them."""
    return emojify(str(_markdown_it().render(_HTML_COMMENT.sub("", text or ""))))


# -- Slack mrkdwn --------------------------------------------------------------------------

_M_FENCE = re.compile(r"```(.*?)```", re.S)
_M_CODE = re.compile(r"`([^`\n]+)`")
_M_LINK = re.compile(r"&lt;((?:https?://|mailto:)[^|&\s]+)(?:\|([^&]+))?&gt;")
_M_MENTION = re.compile(r"&lt;([#@!])([^|&]+)(?:\|([^&]+))?&gt;")
_M_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)\*(?![\w*])")
_M_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)_(?![\w_])")
_M_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)~(?![\w~])")


class _Stash:
    """Finished HTML kept out of the way of later substitutions."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def put(self, rendered: str) -> str:
        self.parts.append(rendered)
        return f"\x00{len(self.parts) - 1}\x00"

    def restore(self, text: str) -> str:
        while "\x00" in text:
            text = re.sub(r"\x00(\d+)\x00", lambda m: self.parts[int(m[1])], text)
        return text


def _link(url: str, label: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{label}</a>'


def mrkdwn(text: str) -> str:
    """Slack mrkdwn as HTML (escaped first)."""
    stash = _Stash()
    escaped = html.escape(text or "", quote=False)
    escaped = _M_FENCE.sub(lambda m: stash.put(f"<pre>{m[1].strip(chr(10))}</pre>"), escaped)
    escaped = _M_CODE.sub(lambda m: stash.put(f"<code>{m[1]}</code>"), escaped)
    escaped = _M_LINK.sub(lambda m: stash.put(_link(html.unescape(m[1]), m[2] or m[1])), escaped)
    escaped = _M_MENTION.sub(
        lambda m: stash.put(f'<span class="mention">{m[1]}{m[3] or m[2]}</span>'), escaped
    )
    escaped = _M_BOLD.sub(r"<b>\1</b>", escaped)
    escaped = _M_ITALIC.sub(r"<i>\1</i>", escaped)
    escaped = _M_STRIKE.sub(r"<s>\1</s>", escaped)
    lines = [
        f"<blockquote>{line[5:]}</blockquote>" if line.startswith("&gt; ") else line
        for line in escaped.split("\n")
    ]
    return emojify(stash.restore("<br>".join(lines)))


# -- Jira wiki markup ----------------------------------------------------------------------

JIRA_EMOTICONS = {
    "(/)": "✅",
    "(x)": "❌",
    "(!)": "⚠️",
    "(i)": "ℹ️",
    "(y)": "👍",
    "(n)": "👎",
    "(?)": "❓",
    "(*)": "⭐",
    "(on)": "💡",
    "(off)": "💡",
    ":)": "🙂",
    ":(": "🙁",
}
_J_EMOTICON = re.compile("|".join(re.escape(k) for k in sorted(JIRA_EMOTICONS, key=len)[::-1]))
_J_MONO = re.compile(r"\{\{(.+?)\}\}")
_J_ANCHOR = re.compile(r"\{anchor:[^}]*\}")
_J_LINK = re.compile(r"\[(?:([^\]|\n]+)\|)?((?:https?://|mailto:)[^\]\s|]+)\]")
_J_URL = re.compile(r"(?<![\w/\"'=])https?://[^\s<>\[\]|{}\"]+")
_J_COLOR = re.compile(r"\{color:(#[0-9a-fA-F]{3,6}|[a-zA-Z]+)\}(.*?)\{color\}", re.S)
_J_INLINE = [
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)\*(?![\w*])"), r"<b>\1</b>"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)_(?![\w_])"), r"<i>\1</i>"),
    (re.compile(r"(?<![\w-])-(?=\S)([^-\n]+?)-(?![\w-])"), r"<s>\1</s>"),
    (re.compile(r"(?<![\w+])\+(?=\S)([^+\n]+?)\+(?![\w+])"), r"<ins>\1</ins>"),
    (re.compile(r"(?<![\w?])\?\?(?=\S)([^?\n]+?)\?\?(?![\w?])"), r"<cite>\1</cite>"),
]
_J_HEADING = re.compile(r"^h([1-6])\.\s+(.*)$")
_J_LIST = re.compile(r"^([*#-]+)\s+(.*)$")
_J_BLOCK = re.compile(r"^\{(code|noformat|quote)(?::[^}]*)?\}(.*)$")


def _jira_inline(text: str) -> str:
    stash = _Stash()
    text = _J_ANCHOR.sub("", text)
    text = _J_MONO.sub(lambda m: stash.put(f"<code>{html.escape(m[1])}</code>"), text)

    def link(m: re.Match[str]) -> str:
        return stash.put(_link(m[2], html.escape(m[1] or m[2])))

    text = _J_LINK.sub(link, text)

    def bare(m: re.Match[str]) -> str:
        url = m[0].rstrip(".,;:)")
        return stash.put(_link(url, html.escape(url))) + m[0][len(url) :]

    text = _J_URL.sub(bare, text)
    text = _J_EMOTICON.sub(
        lambda m: stash.put(f'<span class="emoji">{JIRA_EMOTICONS[m[0]]}</span>'), text
    )
    text = html.escape(text, quote=False)
    text = _J_COLOR.sub(lambda m: f'<span style="color:{m[1]}">{m[2]}</span>', text)
    for pattern, replacement in _J_INLINE:
        text = pattern.sub(replacement, text)
    return stash.restore(text.replace("\\\\", "<br>"))


def _jira_table_row(line: str) -> str:
    head = line.startswith("||")
    sep = "||" if head else "|"
    cells = [c for c in line.strip().strip("|").split(sep)]
    tag = "th" if head else "td"
    return "<tr>" + "".join(f"<{tag}>{_jira_inline(c.strip())}</{tag}>" for c in cells) + "</tr>"


def jira_wiki(text: str) -> str:
    """Jira wiki markup as Jira renders it (the subset our functions and users write)."""
    out: list[str] = []
    para: list[str] = []
    lists: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if para:
            shown = [rendered for rendered in map(_jira_inline, para) if rendered]
            if shown:
                out.append("<p>" + "<br>".join(shown) + "</p>")
            para.clear()
        while lists:
            out.append(f"</li></{lists.pop()}>")
        if table:
            out.append("<table>" + "".join(table) + "</table>")
            table.clear()

    lines = (text or "").replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        block = _J_BLOCK.match(line.strip())
        if block:
            flush()
            kind, rest, body = block[1], block[2], []
            end = "{" + kind + "}"
            while end not in rest and i + 1 < len(lines):
                body.append(rest)
                i += 1
                rest = lines[i]
            body.append(rest.split(end, 1)[0])
            inner = "\n".join(body).strip("\n")
            if kind == "quote":
                out.append(f"<blockquote>{jira_wiki(inner)}</blockquote>")
            else:
                out.append(f'<pre class="{kind}">{html.escape(inner)}</pre>')
            i += 1
            continue
        stripped = line.strip()
        heading = _J_HEADING.match(stripped)
        item = _J_LIST.match(stripped) if not stripped.startswith("----") else None
        if not stripped:
            flush()
        elif stripped == "----":
            flush()
            out.append("<hr>")
        elif heading:
            flush()
            out.append(f"<h{heading[1]}>{_jira_inline(heading[2])}</h{heading[1]}>")
        elif stripped.startswith("bq. "):
            flush()
            out.append(f"<blockquote>{_jira_inline(stripped[4:])}</blockquote>")
        elif stripped.startswith("|"):
            if para or lists:
                flush()
            table.append(_jira_table_row(stripped))
        elif item and (item[1][0] != "-" or len(item[1]) == 1):
            if para or table:
                flush()
            depth, tag = len(item[1]), "ol" if item[1][-1] == "#" else "ul"
            while len(lists) > depth:
                out.append(f"</li></{lists.pop()}>")
            if len(lists) == depth:
                out.append("</li>")
            while len(lists) < depth:
                out.append(f"<{tag}>")
                lists.append(tag)
            out.append(f"<li>{_jira_inline(item[2])}")
        else:
            if lists or table:
                flush()
            para.append(stripped)
        i += 1
    flush()
    return "".join(out)
