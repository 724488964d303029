"""The issue-17 table: each benchmark records its rows here, ``make bench`` prints them last.

One row per measure: the figure now, its floor measured in the same run, the
goal, and whether the goal is met, so one run says where every figure stands.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.table import render

__all__ = ["ROWS", "Row", "print_table", "record"]


@dataclass(frozen=True)
class Row:
    measure: str
    now: str
    floor: str
    goal: str
    met: bool


ROWS: list[Row] = []


def record(measure: str, now: str, floor: str, goal: str, met: bool) -> None:
    ROWS.append(Row(measure, now, floor, goal, met))


def print_table() -> None:
    if not ROWS:
        return
    print("\n## goals (issue 17), this run\n")
    print(
        render(
            ["measure", "now", "floor, same run", "goal", "met"],
            [[r.measure, r.now, r.floor, r.goal, "yes" if r.met else "NO"] for r in ROWS],
        )
    )
