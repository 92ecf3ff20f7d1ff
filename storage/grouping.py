"""Role groups for consensus: which declared roles count together (physiotherapists and
dietitians are both AHPs), and when a group has voted enough on an idea to count.

The mapping comes from the gateway questions in config.yaml; the store only holds it,
so the same rule serves the tallies kept at vote time and the reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case

NOT_GIVEN = ""


@dataclass(frozen=True)
class Grouping:
    """role -> group (a role not listed is its own group); thresholds for consensus."""

    groups: Mapping[str, str] = field(default_factory=dict)
    min_votes: int = 5  # agree + disagree from one group before its share counts
    min_groups: int = 2  # groups with enough votes before an idea has a consensus score

    def group(self, role: str | None) -> str:
        if not role:
            return NOT_GIVEN
        return self.groups.get(role, role)

    def fingerprint(self) -> str:
        data = json.dumps(
            [sorted(self.groups.items()), self.min_votes, self.min_groups], sort_keys=True
        )
        return hashlib.sha256(data.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class GroupVotes:
    group: str
    agree: int
    disagree: int

    @property
    def votes(self) -> int:
        return self.agree + self.disagree

    @property
    def share(self) -> float:
        return self.agree / self.votes if self.votes else 0.0


@dataclass(frozen=True)
class Consensus:
    floor: float | None  # the lowest agree share among groups with enough votes
    groups: int  # how many groups had enough votes
    votes: int  # agree + disagree from those groups


def group_votes(
    role_tallies: Iterable[tuple[str, int, int]], grouping: Grouping
) -> list[GroupVotes]:
    """(role, agree, disagree) rows summed per group; people who gave no role are left
    out, since they are no declared group."""
    sums: dict[str, list[int]] = {}
    for role, agree, disagree in role_tallies:
        group = grouping.group(role)
        if group == NOT_GIVEN:
            continue
        total = sums.setdefault(group, [0, 0])
        total[0] += agree
        total[1] += disagree
    return [GroupVotes(group, a, d) for group, (a, d) in sorted(sums.items())]


def consensus_of(role_tallies: Iterable[tuple[str, int, int]], grouping: Grouping) -> Consensus:
    counted = [g for g in group_votes(role_tallies, grouping) if g.votes >= grouping.min_votes]
    if len(counted) < grouping.min_groups:
        return Consensus(None, len(counted), sum(g.votes for g in counted))
    return Consensus(min(g.share for g in counted), len(counted), sum(g.votes for g in counted))


def group_case(column: Any, grouping: Grouping) -> Any:
    """SQL for the group a role column belongs to (a role not listed is its own)."""
    if not grouping.groups:
        return column
    return case(dict(grouping.groups), value=column, else_=column)
