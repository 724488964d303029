"""What each CI puts around the lines its jobs print, removed before the rules run.

The scanner cleans only the window around each candidate and maps every clean
offset back to the original (:func:`cievents.scanning.normalize.normalize`), so the
line and columns of a finding always point into the log exactly as the CI serves
it. Per format, on top of terminal escapes (colours, cursor, OSC links):

* **Buildkite** — the agent's ``ESC _bk;t=<ms> BEL`` timestamp on every line;
* **GitHub Actions** — the ISO timestamp every line starts with
  (``2024-05-01T10:00:00.1234567Z``) and the workflow commands the runner renders:
  ``##[group]``, ``##[endgroup]``, ``##[debug]``, ``##[command]`` and the
  annotation levels;
* **GitLab CI** — ``section_start:<epoch>:<name>[<options>]`` and
  ``section_end:<epoch>:<name>`` markers (each closed by ``\\r`` and ``ESC[0K``);
* **Azure Pipelines** — the ISO timestamp on every line and the logging
  commands' renderings (``##[section]``, ``##[command]``, ``##[warning]``…);
* **Bitbucket Pipelines** — plain lines (escapes only).

A timestamp is only removed at the start of a line, so a PEM key printed line by
line through a timestamping CI is one key again.

Masking: every CI replaces the values it knows are secret with a marker
(``***`` on GitHub and Azure, ``[MASKED]`` on GitLab, ``[REDACTED]`` on Buildkite,
the variable's ``$NAME`` on Bitbucket). Markers are left in place: no rule
accepts them as a secret, so a masked value is never a finding, and
:func:`masked_count` counts them for the report.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

from cievents.scanning.normalize import NOISE, Normalized, normalize

__all__ = ["MASKS", "NORMALIZERS", "masked_count", "normalizer_for"]

_ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z ?"
_COMMANDS = r"##\[(?:group|endgroup|debug|command|section|warning|error|notice|info)\]"
_ESCAPES = NOISE.pattern

GITHUB = re.compile(rf"(?m)^{_ISO}(?:{_COMMANDS})?|(?m:^){_COMMANDS}|{_ESCAPES}")
AZURE = GITHUB
GITLAB = re.compile(
    r"section_(?:start|end):\d+:[A-Za-z0-9_.-]+(?:\[[^\]\n]*\])?\r?(?:\x1b\[0K)?|" + _ESCAPES
)

NORMALIZERS: dict[str, Callable[[str], Normalized]] = {
    "buildkite": normalize,
    "github": partial(normalize, noise=GITHUB),
    "gitlab": partial(normalize, noise=GITLAB),
    "azure": partial(normalize, noise=AZURE),
    "bitbucket": normalize,
}

MASKS: dict[str, bytes] = {
    "buildkite": b"[REDACTED]",
    "github": b"***",
    "gitlab": b"[MASKED]",
    "azure": b"***",
}


def normalizer_for(system: str) -> Callable[[str], Normalized]:
    return NORMALIZERS.get(system, normalize)


def masked_count(system: str, data: bytes) -> int:
    """How many values the CI itself masked in this log (0 where it shows no marker)."""
    mask = MASKS.get(system)
    return data.count(mask) if mask else 0
