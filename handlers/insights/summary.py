"""The summary report: how many took part, through which channels, who, in what mood,
and which ideas lead."""

from __future__ import annotations

from dataclasses import asdict

from storage.database import Store
from storage.reports import PUBLIC_CHANNELS


async def build_summary(store: Store, *, top: int = 10) -> dict:
    """The summary as plain data; `chorus summary --json` prints exactly this."""
    async with store.reader() as unit:
        reports = unit.reports
        totals = await reports.totals()
        return {
            **totals,
            "by_channel": await reports.contributions_by("channel"),
            "by_question": await reports.contributions_by_question(),
            "by_role": await reports.participants_by_role(),
            "sentiment": await reports.contributions_by("label"),
            # Public posts' reach (likes, reposts, replies, quotes), by public channel.
            "reach": {
                channel: await unit.public_posts.reach(channel) for channel in PUBLIC_CHANNELS
            },
            "top": [
                {
                    key: value
                    for key, value in asdict(idea).items()
                    if key in ("id", "text", "agree", "disagree", "score", "label", "channel")
                }
                for idea in await reports.top_ideas(top)
            ],
        }


def _shares(counts: dict[str, int]) -> str:
    total = sum(counts.values()) or 1
    return ", ".join(f"{key} {count} ({count / total:.0%})" for key, count in counts.items())


def format_summary(summary: dict) -> str:
    lines = [
        f"Participants: {summary['participants']}   Contributions: {summary['contributions']}"
        f"   Votes: {summary['votes']}",
        f"By channel: {_shares(summary['by_channel']) or 'none yet'}",
        f"By question: {_shares(summary['by_question']) or 'none yet'}",
        f"By role: {_shares(summary['by_role']) or 'none yet'}",
        f"Sentiment: {_shares(summary['sentiment']) or 'none yet'}",
        *(
            f"Reach on {channel.upper()}: {r['posts']} posts, {r['likes']} likes, "
            f"{r['reposts']} reposts, {r['replies']} replies, {r['quotes']} quotes"
            for channel, r in summary.get("reach", {}).items()
            if r["posts"]
        ),
        "Top ideas (Wilson lower bound of agree share):",
    ]
    if not summary["top"]:
        lines.append("  none yet")
    for rank, idea in enumerate(summary["top"], 1):
        text = idea["text"] if len(idea["text"]) <= 80 else idea["text"][:79] + "…"
        lines.append(
            f"  {rank}. #{idea['id']} [{idea['score']:.2f}] +{idea['agree']}/-{idea['disagree']} "
            f"{idea['label']}: {text}"
        )
    return "\n".join(lines)
