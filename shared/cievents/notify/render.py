"""What every notification says about a build: one place for wording, emoji and colours."""

from __future__ import annotations

from dataclasses import dataclass

from cievents.events import BuildEvent, JobEvent

EMOJI = {
    "scheduled": ":large_blue_circle:",
    "running": ":large_yellow_circle:",
    "failing": ":large_orange_circle:",
    "passed": ":large_green_circle:",
    "failed": ":red_circle:",
    "canceled": ":black_circle:",
    "canceling": ":black_circle:",
    "skipped": ":white_circle:",
    "not_run": ":white_circle:",
    "blocked": ":double_vertical_bar:",
    "waiting": ":hourglass_flowing_sand:",
    "waiting_failed": ":red_circle:",
}
COLOR = {
    "passed": "good",
    "failed": "attention",
    "waiting_failed": "attention",
    "failing": "warning",
    "running": "accent",
    "scheduled": "accent",
    "blocked": "warning",
}
HEX = {
    "good": "2EB67D",
    "attention": "E01E5A",
    "warning": "ECB22E",
    "accent": "1D9BD1",
    "default": "808080",
}
# How far along a build is: a notification never moves back to an earlier rank, so a
# late or redelivered ``build.running`` cannot turn a red message yellow again.
# "blocked" sits below the final states: a blocked build that is unblocked later
# finishes as passed or failed, and that result must still replace "blocked".
RANK = {
    "creating": 0,
    "scheduled": 0,
    "waiting": 0,
    "running": 1,
    "failing": 2,
    "canceling": 2,
    "blocked": 2,
}


def rank(state: str) -> int:
    """0 not started, 1 running, 2 heading for a result, 3 final (any state not listed)."""
    return RANK.get(state, 3)


def shown_state(build: BuildEvent) -> str:
    return "blocked" if build.blocked and build.state not in ("failed", "canceled") else build.state


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def first_line(text: str | None, limit: int = 120) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class BuildSummary:
    """The facts every renderer shows, computed once."""

    title: str
    state: str
    emoji: str
    color: str
    url: str
    pipeline: str
    number: int
    branch: str
    commit: str
    message: str
    author: str
    duration: str

    @classmethod
    def of(cls, build: BuildEvent) -> BuildSummary:
        state = shown_state(build)
        name = build.pipeline_name or build.pipeline
        return cls(
            title=f"{name} #{build.number}",
            state=state,
            emoji=EMOJI.get(state, ":grey_question:"),
            color=COLOR.get(state, "default"),
            url=build.url or "",
            pipeline=build.pipeline,
            number=build.number,
            branch=build.branch or "—",
            commit=build.short_commit or "—",
            message=first_line(build.message),
            author=build.author or build.author_email or "—",
            duration=duration_text(build.duration_s),
        )


def summary_of_job(job: JobEvent) -> BuildSummary:
    """The build, as far as a job event tells it (used when a failure arrives first)."""
    state = "failing"
    return BuildSummary(
        title=f"{job.pipeline} #{job.number}",
        state=state,
        emoji=EMOJI[state],
        color=COLOR[state],
        url=job.build_url or "",
        pipeline=job.pipeline,
        number=job.number,
        branch=job.branch or "—",
        commit=(job.commit or "")[:7] or "—",
        message=first_line(job.message),
        author=job.author or job.author_email or "—",
        duration="—",
    )


def job_line(job: JobEvent) -> str:
    exit_text = f"exit status {job.exit_status}" if job.exit_status is not None else job.state
    return f"{job.job_name or job.step_key or 'a job'} failed ({exit_text})"
