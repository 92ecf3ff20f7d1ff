"""One batch's decisions, with a look ahead at what its messages will read (PostgreSQL).

The batch writer decides each message from a snapshot of its person (storage/batch.py);
a flow asks for what it reads (`NeedRead`) and is decided again once that is loaded
(handlers/conversation.py). On PostgreSQL every read is a round trip of its own, which
costs the writer more CPU than what it fetches, and a batch of votes asks for the same
kinds of thing again and again. So before deciding, the store lets `BatchDecisions`
look ahead: each message is decided once with nothing loaded, on a throwaway random
source, and what it asks for is noted; ideas, recent votes and voting candidates are
then loaded for the whole batch in a few statements (storage/grouped_reads.py). The
decisions are taken in order as before, from those reads, and come out the same: the
reads answer as the single ones would, and the real random source is only drawn from
in order. A message that read nothing and drew nothing is not decided twice.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from handlers.context import NeedRead, ReadKey
from handlers.conversation import Conversation, Pending, decide
from storage import grouped_reads
from storage.batch_reads import Reader
from storage.effects import Decision
from storage.grouped_reads import CandidatesKey
from storage.records import ParticipantRecord

# Below this many keys of one kind the single reads cost no more (the candidates of a
# whole batch take two statements).
GROUP_FROM = {"idea": 2, "votes_since": 2, "candidates": 3}


class _Watched(random.Random):
    """A throwaway random source that notes whether anything was drawn from it."""

    drawn = False

    def random(self) -> float:
        self.drawn = True
        return super().random()

    def getrandbits(self, k: int, /) -> int:
        self.drawn = True
        return super().getrandbits(k)


class BatchDecisions:
    """Decides the messages of one batch for the store (`decide`), after an optional
    `look_ahead` over all of them (called by the store on PostgreSQL only, where the
    messages are decided from committed rows before the write transaction)."""

    def __init__(self, conversation: Conversation, pendings: Sequence[Pending]) -> None:
        self.conversation = conversation
        self.pendings = pendings
        self._people: Sequence[ParticipantRecord | None] = ()
        self._reads: dict[int, dict[ReadKey, object]] = {}
        self._decided: dict[int, Decision] = {}

    def look_ahead(self, people: Sequence[ParticipantRecord | None], reader: Reader) -> None:
        deps = self.conversation.deps
        # (Called again when the batch is applied again, a savepoint per message.)
        self._decided = {}
        wanted: dict[int, tuple[ReadKey, ...]] = {}
        source = _Watched()  # one a batch: seeding one costs 11 µs, and its draws are thrown away
        for index, (pending, person) in enumerate(zip(self.pendings, people, strict=True)):
            source.drawn = False
            try:
                decision = decide(deps, pending, person, self.conversation.reads(pending), source)
            except NeedRead as need:
                wanted[index] = need.keys
            except Exception:  # decided again in order, where it fails that message alone
                continue
            else:
                if not source.drawn:
                    self._decided[index] = decision
        loaded = load_grouped(reader, [key for keys in wanted.values() for key in keys])
        self._reads = {
            index: {key: loaded[key] for key in keys if key in loaded}
            for index, keys in wanted.items()
        }
        self._people = people

    def decide(self, index: int, person: ParticipantRecord | None, reader: Reader) -> Decision:
        """Message `index`, from this snapshot of its person. What the look ahead found
        counts only for the snapshot it was taken from: decided again on a newer one (an
        earlier message of theirs in the batch changed them), it reads afresh."""
        ahead = index < len(self._people) and person is self._people[index]
        if ahead and index in self._decided:
            return self._decided[index]
        preloaded = self._reads.get(index, {}) if ahead else {}
        return self.conversation.plan(self.pendings[index], person, reader, preloaded)


def load_grouped(reader: Reader, keys: Sequence[ReadKey]) -> Mapping[ReadKey, object]:
    """Keys of the kinds read for many at once, each with what its single read gives;
    keys of other kinds, of a kind asked too few times, or that a grouped read cannot
    answer are left out (read alone as the decision asks)."""
    by_kind: dict[object, list[ReadKey]] = defaultdict(list)
    for key in dict.fromkeys(keys):
        by_kind[key[0]].append(key)
    wanted = {
        kind: found
        for kind, found in by_kind.items()
        if kind in GROUP_FROM and len(found) >= GROUP_FROM[kind]
    }
    connection = reader.connection
    loaded: dict[ReadKey, object] = {}
    if "idea" in wanted:
        ids = {key: cast(int, key[1]) for key in wanted["idea"]}
        ideas = grouped_reads.ideas(connection, set(ids.values()))
        loaded.update({key: ideas[idea] for key, idea in ids.items()})
    if "votes_since" in wanted:
        asked = {key: cast(tuple[int, datetime], key[1:]) for key in wanted["votes_since"]}
        counts = grouped_reads.votes_since(connection, set(asked.values()))
        loaded.update({key: counts[pair] for key, pair in asked.items()})
    if "candidates" in wanted:
        requests = {key: cast(CandidatesKey, key[1:]) for key in wanted["candidates"]}
        answers = grouped_reads.voting_candidates(connection, set(requests.values()))
        loaded.update({key: answers[ask] for key, ask in requests.items() if ask in answers})
    return loaded
