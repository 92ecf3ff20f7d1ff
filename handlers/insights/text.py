"""Small helpers that turn report data into short lines a phone screen can hold."""

from __future__ import annotations

from datetime import datetime, timedelta

CLIP = 90


def clip(text: str, limit: int = CLIP) -> str:
    """One line of at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


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
