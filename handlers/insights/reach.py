"""Who is taking part, against the representation targets in config.yaml.

Each person counts once per group, by the answers they gave when they contributed or
voted (a snapshot kept with each contribution and vote), so changing an answer later
does not rewrite past figures. Shares are of the people who answered that question;
how many did not say is reported beside them. Roles count by group (a physiotherapist
is an AHP), as the targets are set.
"""

from __future__ import annotations

from typing import Any

from handlers.insights.context import Reporting
from handlers.insights.grouping import ROLE_QUESTION
from handlers.insights.scope import ReportScope
from handlers.insights.text import percent, plural

DIMENSIONS = ("role", "region", "age_band", "channel")
TITLES = {"role": "role", "region": "region", "age_band": "age band", "channel": "channel"}


async def build_reach(reporting: Reporting, scope: ReportScope) -> dict:
    where = reporting.store_scope(scope)
    targets = reporting.config.representation_targets
    async with reporting.store.reader() as unit:
        insights = unit.insights
        took_part = await insights.took_part(where)
        counts = {
            dimension: await insights.people_by(
                dimension, where, grouped=dimension == ROLE_QUESTION
            )
            for dimension in DIMENSIONS
        }
        channels = {
            dimension: await insights.people_by_channel_within(
                dimension, where, grouped=dimension == ROLE_QUESTION
            )
            for dimension in targets
            if dimension in DIMENSIONS and dimension != "channel"
        }
    dimensions = {}
    gaps: list[dict[str, Any]] = []
    for dimension in DIMENSIONS:
        found = counts[dimension]
        answered = sum(count for value, count in found.items() if value)
        shares = {
            value: round(count / answered, 4) if answered else 0.0
            for value, count in sorted(found.items(), key=lambda i: (-i[1], i[0]))
            if value
        }
        dimensions[dimension] = {
            "people": {value or "not given": count for value, count in found.items()},
            "answered": answered,
            "not_given": found.get("", 0),
            "shares": shares,
        }
        for group, target in targets.get(dimension, {}).items():
            share = shares.get(group, 0.0)
            by_channel = {
                channel: count
                for (value, channel), count in channels.get(dimension, {}).items()
                if value == group
            }
            gaps.append(
                {
                    "question": dimension,
                    "group": group,
                    "label": reporting.label(dimension, group),
                    "people": found.get(group, 0),
                    "share": share,
                    "target": target,
                    "gap": round(target - share, 4),
                    "channels": dict(sorted(by_channel.items(), key=lambda i: (-i[1], i[0]))),
                }
            )
    gaps.sort(key=lambda gap: (-gap["gap"], gap["question"], gap["group"]))
    return {
        "scope": scope.as_dict(),
        "participants": took_part,
        "dimensions": dimensions,
        "gaps": gaps,
    }


def _channels(gap: dict) -> str:
    total = sum(gap["channels"].values())
    if not total:
        return "no one from this group has taken part yet"
    return "they come through " + ", ".join(
        f"{channel} {count / total:.0%}" for channel, count in gap["channels"].items()
    )


def format_reach(data: dict, reporting: Reporting | None = None) -> str:
    def name(dimension: str, value: str) -> str:
        if reporting is None or dimension == "channel" or value == "not given":
            return value
        return reporting.label(dimension, value)

    scope = ReportScope.from_dict(data["scope"])
    lines = [f"Who is taking part ({scope.describe()}): {plural(data['participants'], 'person')}."]
    short = [gap for gap in data["gaps"] if gap["gap"] > 0]
    over = [gap for gap in data["gaps"] if gap["gap"] <= 0]
    if short:
        lines.append("Biggest gaps against targets:")
        for gap in short:
            lines.append(
                f"- {gap['label']}: {percent(gap['share'])} of participants, target "
                f"{percent(gap['target'])} ({plural(round(gap['gap'] * 100), 'point')} short); "
                f"{_channels(gap)}"
            )
    if over:
        lines.append(
            "At or above target: "
            + ", ".join(
                f"{gap['label']} {percent(gap['share'])} (target {percent(gap['target'])})"
                for gap in over
            )
        )
    for dimension, figures in data["dimensions"].items():
        shares = ", ".join(
            f"{name(dimension, value)} {figures['people'][value]} ({percent(share)})"
            for value, share in figures["shares"].items()
        )
        line = f"By {TITLES[dimension]}: {shares or 'none yet'}"
        if figures["not_given"]:
            line += f"; {figures['not_given']} did not say"
        lines.append(line)
    return "\n".join(lines)
