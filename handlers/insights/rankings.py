"""Rankings of ideas: the top (Wilson lower bound of the agree share), the controversial
(many votes, split close to evenly) and the consensus (ideas every role group agrees
with, ranked by the lowest agree share across groups with enough votes)."""

from __future__ import annotations

from typing import Any

from handlers.insights.context import Reporting
from handlers.insights.grouping import ROLE_QUESTION
from handlers.insights.scope import ReportScope
from handlers.insights.text import clip, idea_name, percent
from storage.grouping import group_votes
from storage.rankings import IdeaRow

DEFAULT_COUNT = 10


def _idea(idea: IdeaRow) -> dict:
    return {
        "id": idea.id,
        "number": idea.number,
        "text": idea.text,
        "agree": idea.agree,
        "disagree": idea.disagree,
        "skip": idea.skip,
        "score": idea.score,
        "label": idea.label,
        "sentiment_confidence": idea.sentiment_confidence,
        "channel": idea.channel,
        "language": idea.language,
        "question": idea.question_key,
    }


async def build_top(reporting: Reporting, scope: ReportScope, count: int | None = None) -> dict:
    async with reporting.store.reader() as unit:
        ideas = await unit.rankings.top(reporting.store_scope(scope), count or DEFAULT_COUNT)
    return {"scope": scope.as_dict(), "ideas": [_idea(idea) for idea in ideas]}


async def build_controversial(
    reporting: Reporting, scope: ReportScope, count: int | None = None
) -> dict:
    min_votes = reporting.config.insights.controversial_min_votes
    async with reporting.store.reader() as unit:
        ideas = await unit.rankings.controversial(
            reporting.store_scope(scope), count or DEFAULT_COUNT, min_votes
        )
    return {
        "scope": scope.as_dict(),
        "min_votes": min_votes,
        "ideas": [
            {**_idea(idea), "controversy": idea.controversy, "agree_share": _share(idea)}
            for idea in ideas
        ],
    }


def _share(idea: IdeaRow) -> float:
    votes = idea.agree + idea.disagree
    return round(idea.agree / votes, 4) if votes else 0.0


def declared_groups(reporting: Reporting) -> list[str]:
    question = reporting.config.gateway_question(ROLE_QUESTION)
    return [option.key for option in question.options] if question else []


async def build_consensus(
    reporting: Reporting, scope: ReportScope, count: int | None = None
) -> dict:
    grouping = reporting.grouping
    where = reporting.store_scope(scope)
    async with reporting.store.reader() as unit:
        ideas = await unit.rankings.consensus(where, count or DEFAULT_COUNT)
        tallies = await unit.rankings.role_tallies([idea.id for idea in ideas])
        votes_by_group = await unit.insights.voting_groups(where, grouping)
    groups = declared_groups(reporting)
    listed = []
    for idea in ideas:
        by_group = {g.group: g for g in group_votes(tallies[idea.id], grouping)}
        counted: list[dict[str, Any]] = [
            {"group": g.group, "agree": g.agree, "disagree": g.disagree, "share": round(g.share, 4)}
            for g in by_group.values()
            if g.votes >= grouping.min_votes
        ]
        too_few = [
            {"group": group, "votes": by_group[group].votes if group in by_group else 0}
            for group in groups + sorted(set(by_group) - set(groups))
            if group not in by_group or by_group[group].votes < grouping.min_votes
        ]
        listed.append(
            {
                **_idea(idea),
                "consensus": idea.consensus,
                "counted": sorted(counted, key=lambda g: g["share"]),
                "too_few": too_few,
            }
        )
    everywhere = [
        group
        for group in groups
        if all(group in {g["group"] for g in idea["too_few"]} for idea in listed)
    ]
    return {
        "scope": scope.as_dict(),
        "min_votes": grouping.min_votes,
        "min_groups": grouping.min_groups,
        "groups": groups,
        "ideas": listed,
        "too_few_everywhere": everywhere if listed else groups,
        "votes_by_group": {
            (group or "not given"): votes
            for group, votes in sorted(votes_by_group.items(), key=lambda i: -i[1])
        },
    }


def _idea_lines(rank: int, idea: dict, headline: str) -> list[str]:
    return [
        f"{rank}. {idea_name(idea)} {headline} +{idea['agree']}/-{idea['disagree']}"
        f" (skip {idea['skip']}), {idea['label']}, {idea['channel']}",
        f"   {clip(idea['text'])}",
    ]


def format_top(data: dict) -> str:
    scope = ReportScope.from_dict(data["scope"])
    lines = [f"Top ideas by Wilson lower bound of agree share ({scope.describe()}):"]
    if not data["ideas"]:
        lines.append("No ideas yet.")
    for rank, idea in enumerate(data["ideas"], 1):
        lines += _idea_lines(rank, idea, f"[{idea['score']:.2f}]")
    return "\n".join(lines)


def format_controversial(data: dict) -> str:
    scope = ReportScope.from_dict(data["scope"])
    lines = [
        f"Controversial ideas: many votes, split close to evenly ({scope.describe()}; "
        f"at least {data['min_votes']} agree or disagree votes, 25% to 75% agree):"
    ]
    if not data["ideas"]:
        lines.append("No idea is split yet.")
    for rank, idea in enumerate(data["ideas"], 1):
        lines += _idea_lines(rank, idea, f"{percent(idea['agree_share'])} agree")
    return "\n".join(lines)


def format_consensus(data: dict, reporting: Reporting | None = None) -> str:
    def name(group: str) -> str:
        return reporting.label(ROLE_QUESTION, group) if reporting else group

    scope = ReportScope.from_dict(data["scope"])
    lines = [
        f"Consensus: ideas every group agrees with ({scope.describe()}). Ranked by the "
        f"lowest agree share among groups with {data['min_votes']} or more votes; "
        f"an idea needs {data['min_groups']} such groups."
    ]
    if not data["ideas"]:
        lines.append("No idea has enough votes from enough groups yet.")
    for rank, idea in enumerate(data["ideas"], 1):
        counted = ", ".join(
            f"{name(g['group'])} {percent(g['share'])} of {g['agree'] + g['disagree']}"
            for g in idea["counted"]
        )
        lines.append(f"{rank}. {idea_name(idea)} lowest {percent(idea['consensus'])}: {counted}")
        lines.append(f"   {clip(idea['text'])}")
        few = [g for g in idea["too_few"] if g["group"] not in data["too_few_everywhere"]]
        if few:
            lines.append(
                "   too few votes: " + ", ".join(f"{name(g['group'])} ({g['votes']})" for g in few)
            )
    if data["too_few_everywhere"]:
        lines.append(
            "Too few votes to count on any idea listed: "
            + ", ".join(name(group) for group in data["too_few_everywhere"])
            + "."
        )
    return "\n".join(lines)
