"""Reads for many messages of a batch at once: what the single reads of
storage/batch_reads.py give, one statement (or two) for the whole batch instead of one a
message.

On PostgreSQL every statement is a round trip through the driver, and costs the writer
more CPU than most of the work it fetches; the engine looks ahead at what a batch's
messages will ask for (handlers/look_ahead.py) and loads it here. Each function answers
exactly what the single read would for the same key, or leaves a key out when it cannot
tell (it is then read alone, as before).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam, select

from storage.batch_reads import contribution_of, least_voted, voting_pool
from storage.driver_sql import DriverStatement
from storage.records import ContributionRecord
from storage.tables import CONTRIBUTIONS, VOTES
from storage.value_lists import one_of, values_of

# Ideas read for the candidates of everyone in a batch: enough for each person to skip
# the ideas they wrote or voted on among the least-voted and still find their few.
POOL_DEPTH = 64

# (person, questions, exclude, pool): the key of handlers/context.py `candidates_read`.
CandidatesKey = tuple[int, tuple[int, ...], tuple[int, ...], int]

IDEAS_BY_ID = DriverStatement(
    lambda backend: select(CONTRIBUTIONS).where(one_of(CONTRIBUTIONS.c.id, "ids", backend))
)
VOTE_TIMES = DriverStatement(
    lambda backend: select(VOTES.c.participant_id, VOTES.c.updated_at).where(
        one_of(VOTES.c.participant_id, "people", backend),
        VOTES.c.updated_at >= bindparam("since"),
    )
)
VOTED_AMONG = DriverStatement(
    lambda backend: select(VOTES.c.participant_id, VOTES.c.contribution_id).where(
        one_of(VOTES.c.participant_id, "people", backend),
        one_of(VOTES.c.contribution_id, "ideas", backend),
    )
)


LEAST_VOTED = DriverStatement(
    lambda backend: voting_pool(backend).limit(bindparam("depth", type_=Integer))
)


def ideas(connection: Any, ids: Collection[int]) -> dict[int, ContributionRecord | None]:
    """Each id's contribution (None where there is none), as `Reader.contribution`."""
    backend = connection.dialect.name
    rows = IDEAS_BY_ID.rows(connection, {"ids": values_of(sorted(ids), backend)})
    found = {row.id: contribution_of(row) for row in rows}
    return {idea: found.get(idea) for idea in ids}


def votes_since(
    connection: Any, asked: Collection[tuple[int, datetime]]
) -> dict[tuple[int, datetime], int]:
    """Each (person, since): how many votes the person cast or changed since then, as
    `Reader.votes_since` (few rows: a minute's votes of the batch's voters)."""
    if not asked:
        return {}
    backend = connection.dialect.name
    people = sorted({person for person, _since in asked})
    params = {"people": values_of(people, backend), "since": min(s for _p, s in asked)}
    times: dict[int, list[datetime]] = defaultdict(list)
    for row in VOTE_TIMES.rows(connection, params):
        times[row.participant_id].append(row.updated_at)
    return {(p, s): sum(1 for moment in times[p] if moment >= s) for p, s in asked}


def voting_candidates(
    connection: Any, asked: Collection[CandidatesKey]
) -> dict[CandidatesKey, tuple[ContributionRecord, ...]]:
    """Each (person, questions, exclude, pool): the ideas `Reader.voting_candidates`
    would give, worked out from the POOL_DEPTH least-voted ideas of the questions and
    the batch's voters' votes on them; a key is left out when those ideas run out before
    the person's `pool` (read alone then)."""
    backend = connection.dialect.name
    answers: dict[CandidatesKey, tuple[ContributionRecord, ...]] = {}
    by_questions: dict[tuple[int, ...], list[CandidatesKey]] = defaultdict(list)
    for key in asked:
        if key[1]:
            by_questions[key[1]].append(key)
        else:
            answers[key] = ()  # no open question: nothing to vote on
    for questions, keys in by_questions.items():
        params = {"questions": values_of(questions, backend), "depth": POOL_DEPTH}
        pool_rows = LEAST_VOTED.rows(connection, params)
        voted = _voted(connection, {key[0] for key in keys}, [row.id for row in pool_rows])
        for key in keys:
            chosen = _walk(pool_rows, key, voted.get(key[0], set()))
            if chosen is not None:
                answers[key] = chosen
    return answers


def _voted(connection: Any, people: set[int], ideas: Sequence[int]) -> dict[int, set[int]]:
    if not ideas:
        return {}
    backend = connection.dialect.name
    params = {"people": values_of(sorted(people), backend), "ideas": values_of(ideas, backend)}
    voted: dict[int, set[int]] = defaultdict(set)
    for row in VOTED_AMONG.rows(connection, params):
        voted[row.participant_id].add(row.contribution_id)
    return voted


def _walk(
    pool_rows: Sequence[Any], key: CandidatesKey, voted: set[int]
) -> tuple[ContributionRecord, ...] | None:
    person, _questions, exclude, pool = key
    eligible = [
        row
        for row in pool_rows
        if row.participant_id != person and row.id not in voted and row.id not in exclude
    ][:pool]
    if len(eligible) < pool and len(pool_rows) >= POOL_DEPTH:
        return None  # more ideas lie beyond the pool read: cannot tell from it
    return least_voted(eligible)
