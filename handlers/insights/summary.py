"""The summary report: how many took part, through which channels, who (as they said when
they took part), in what mood, how the last 24 hours compare with the 24 before, and
which ideas lead."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from handlers.insights.context import Reporting
from handlers.insights.scope import ReportScope
from handlers.insights.text import clip, counts_line, idea_name, plural
from storage.tally_keys import CONFIDENT_AT, UNSURE

VOTE_NAMES = {"1": "agree", "-1": "disagree", "0": "skip"}
NOT_GIVEN = "not given"


def _named(counts: dict[str, int]) -> dict[str, int]:
    """Counts keyed by value, '' shown as "not given", largest first."""
    merged: dict[str, int] = defaultdict(int)
    for key, count in counts.items():
        merged[key or NOT_GIVEN] += count
    return dict(sorted(merged.items(), key=lambda item: (-item[1], item[0])))


async def build_summary(reporting: Reporting, scope: ReportScope, *, top: int = 3) -> dict:
    """The summary as plain data; `chorus summary --json` prints exactly this."""
    where = reporting.store_scope(scope)
    now = reporting.now
    async with reporting.store.reader() as unit:
        insights = unit.insights
        activity = await insights.activity(where)
        by_question = await insights.activity_by_question(where)
        signed_up = await insights.signed_up(reporting.public_channels)
        took_part = await insights.took_part(where)
        people = {
            dimension: await insights.people_by(dimension, where)
            for dimension in ("role", "region", "age_band", "channel")
        }
        role_groups = await insights.people_by("role", where, grouped=True)
        public = reporting.public_channels
        last = await insights.recent(now - timedelta(hours=24), now, where, public)
        day_before = now - timedelta(hours=48), now - timedelta(hours=24)
        before = await insights.recent(*day_before, where, public)
        top_ideas = await unit.rankings.top(where, top)
        # Public posts' reach (likes, reposts, replies, quotes), by public channel.
        public_reach = {channel: await unit.public_posts.reach(channel) for channel in public}
    counted: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for kind, dimension, value, count in activity:
        group = "vote" if kind == "vote" else "contribution"
        bucket = counted[(group, dimension)]
        bucket[value] = bucket.get(value, 0) + count
    kinds: dict[str, int] = defaultdict(int)
    for kind, dimension, _value, count in activity:
        if dimension == "channel":
            kinds[kind] += count
    questions: dict[str, int] = defaultdict(int)
    for key, kind, count in by_question:
        if kind != "vote":
            questions[key or "none"] += count
    return {
        "scope": scope.as_dict(),
        "participants": took_part if scope.question_key or scope.since else signed_up,
        "signed_up": signed_up,
        "took_part": took_part,
        "contributions": kinds["idea"] + kinds["comment"],
        "ideas": kinds["idea"],
        "comments": kinds["comment"],
        "votes": kinds["vote"],
        "by_channel": _named(counted[("contribution", "channel")]),
        "by_question": dict(sorted(questions.items())),
        "by_role": _named(people["role"]),
        "by_role_group": _named(role_groups),
        "by_region": _named(people["region"]),
        "by_age_band": _named(people["age_band"]),
        "people_by_channel": _named(people["channel"]),
        "sentiment": _named(counted[("contribution", "label")]),
        # The labels the analyser is confident of (storage/tally_keys.py CONFIDENT_AT) and
        # how many it is less sure of; empty where it gives no confidence (vader, textblob).
        "sentiment_confident": _confident(counted[("contribution", "confident_label")]),
        "by_language": _named(counted[("contribution", "language")]),
        "by_status": _named(counted[("contribution", "status")]),
        "votes_by_value": {
            name: counted[("vote", "value")].get(value, 0) for value, name in VOTE_NAMES.items()
        },
        "reach": public_reach,
        "activity": {
            "last_24h": {
                "contributions": last.contributions,
                "votes": last.votes,
                "joined": last.participants,
            },
            "previous_24h": {
                "contributions": before.contributions,
                "votes": before.votes,
                "joined": before.participants,
            },
        },
        "top": [
            {
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
                "question": idea.question_key,
            }
            for idea in top_ideas
        ],
    }


def _confident(counts: dict[str, int]) -> dict[str, int]:
    """Contributions by confident label, "unsure" last; those with no confidence left out."""
    named = _named(counts)
    labels = {key: count for key, count in named.items() if key not in (NOT_GIVEN, UNSURE)}
    unsure = counts.get(UNSURE, 0)
    return {**labels, UNSURE: unsure} if labels or unsure else {}


def _confident_line(confident: dict[str, int]) -> list[str]:
    if not confident:
        return []
    labels = {key: count for key, count in confident.items() if key != UNSURE}
    return [
        f"Sentiment where the model is confident (probability {CONFIDENT_AT:g} or more): "
        f"{counts_line(labels)}; {plural(confident.get(UNSURE, 0), 'contribution')} less sure"
    ]


def _change(now: int, before: int) -> str:
    if before == 0:
        return f"{now} (previous 24 hours: 0)"
    change = (now - before) / before
    return f"{now} ({change:+.0%} on the previous {before})"


def format_summary(summary: dict, reporting: Reporting | None = None) -> str:
    def labelled(question: str, counts: dict[str, int]) -> dict[str, int]:
        if reporting is None:
            return counts
        return {
            (key if key == NOT_GIVEN else reporting.label(question, key)): count
            for key, count in counts.items()
        }

    scope = ReportScope.from_dict(summary["scope"])
    last, before = summary["activity"]["last_24h"], summary["activity"]["previous_24h"]
    lines = [
        f"Summary: {scope.describe()}",
        f"Participants: {summary['signed_up']} signed up, {summary['took_part']} took part"
        + (" in this scope" if scope.question_key or scope.since else "")
        + f". Contributions: {summary['contributions']} ({plural(summary['ideas'], 'idea')}, "
        f"{plural(summary['comments'], 'comment')}). Votes: {summary['votes']}.",
        f"Last 24 hours: contributions {_change(last['contributions'], before['contributions'])}; "
        f"votes {_change(last['votes'], before['votes'])}; "
        f"joined {_change(last['joined'], before['joined'])}.",
        f"Contributions by channel: {counts_line(summary['by_channel'])}",
        f"People by role: {counts_line(labelled('role', summary['by_role_group']))}",
        f"People by region: {counts_line(labelled('region', summary['by_region']))}",
        f"People by age band: {counts_line(labelled('age_band', summary['by_age_band']))}",
        f"Sentiment: {counts_line(summary['sentiment'])}",
        *_confident_line(summary.get("sentiment_confident", {})),
        *(
            f"Reach on {channel.upper()}: {r['posts']} posts, {r['likes']} likes, "
            f"{r['reposts']} reposts, {r['replies']} replies, {r['quotes']} quotes"
            for channel, r in summary.get("reach", {}).items()
            if r["posts"]
        ),
        "Votes: "
        + (
            ", ".join(f"{name} {count}" for name, count in summary["votes_by_value"].items())
            or "none yet"
        ),
        "Top ideas (Wilson lower bound of agree share):",
    ]
    if not summary["top"]:
        lines.append("  none yet")
    for rank, idea in enumerate(summary["top"], 1):
        lines.append(
            f"  {rank}. {idea_name(idea)} [{idea['score']:.2f}] "
            f"+{idea['agree']}/-{idea['disagree']} {idea['label']}, {idea['channel']}: "
            f"{clip(idea['text'])}"
        )
    return "\n".join(lines)
