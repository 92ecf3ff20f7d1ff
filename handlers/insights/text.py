"""Small helpers that turn report data into short lines a phone screen can hold."""

from __future__ import annotations

from datetime import datetime, timedelta

CLIP = 90


def clip(text: str, limit: int = CLIP) -> str:
    """One line of at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


COMMENT_MARK = "c"  # a comment has no idea number: the team names it c + its id


def item_name(kind: str, row_id: int, number: int | None) -> str:
    """How the team's reports name a contribution: "idea 7" (the number participants
    see; the row id only for an idea without one) or "comment c22" (its id)."""
    if kind == "idea":
        return f"idea {number if number is not None else row_id}"
    return f"comment {COMMENT_MARK}{row_id}"


def idea_name(idea: dict) -> str:
    """An idea of report data (its "id" and "number")."""
    return item_name("idea", idea["id"], idea.get("number"))


def pending_line(item: dict) -> str:
    """A held contribution's first line, e.g. "comment c22, held for named person, via
    sms, on idea 7" (report data with "kind", "id", "number", "parent_id",
    "parent_number", "reason" and "channel")."""
    reason = (item["reason"] or "review").replace("_", " ")
    parent = ""
    if item["parent_id"]:
        parent = f", on {item_name('idea', item['parent_id'], item['parent_number'])}"
    name = item_name(item["kind"], item["id"], item["number"])
    return f"{name}, held for {reason}, via {item['channel']}{parent}"


IRREGULAR = {"person": "people"}


def plural(count: int, noun: str) -> str:
    return f"{count} {noun if count == 1 else IRREGULAR.get(noun, noun + 's')}"


def counts_line(counts: dict[str, int], *, limit: int = 8) -> str:
    """ "a 3 (50%), b 2 (33%), c 1 (17%)", the largest first; the rest summed as "other"."""
    total = sum(counts.values())
    if not total:
        return "none yet"
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown, rest = ordered[:limit], ordered[limit:]
    parts = [f"{key} {count} ({count / total:.0%})" for key, count in shown]
    if rest:
        other = sum(count for _key, count in rest)
        parts.append(f"{len(rest)} more {other} ({other / total:.0%})")
    return ", ".join(parts)


def age(then: datetime, now: datetime) -> str:
    """How long ago, in words: "just now", "5 minutes ago", "3 hours ago", "2 days ago"."""
    seconds = max((now - then) / timedelta(seconds=1), 0)
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            return f"{plural(int(seconds // size), unit)} ago"
    return "just now"


def percent(share: float) -> str:
    return f"{share:.0%}"
