"""One message decided, without I/O: (the message, the person as they are, what was
read) -> a `Decision` (replies, effects, how the person's row changes).

`decide` is what the batch writer calls for each message, in the writer's thread, from a
snapshot of the person; it may be called again when the snapshot turns out stale.
`Conversation.plan` wraps it in the loop that loads what a flow asks for (`NeedRead`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from handlers.catalogue import Catalogue
from handlers.commands import parse_command
from handlers.context import Context, NeedRead, ReadKey, Reads
from handlers.deps import Deps
from handlers.enrich import Enrichment
from handlers.enrich.model import Scored
from handlers.flows.call import CALL_MEDIA, stranger_state
from handlers.likeness_cache import LikenessCache
from handlers.router import carrier_keyword, route
from handlers.strangers import answers_consent
from handlers.types import Inbound, Reply
from storage.batch_reads import Reader
from storage.effects import Decision, Erase
from storage.records import ParticipantChanges, ParticipantRecord

MAX_READ_ROUNDS = 32  # a flow asks for a handful of reads; more means a loop


@dataclass(frozen=True)
class Pending:
    """A message waiting for the writer, with what was worked out before it queued."""

    inbound: Inbound
    text: str  # control characters stripped
    pseudonym: str
    now: datetime
    enriched_text: str | None = None  # what was enriched early (the text, or an argument)
    enrichment: Enrichment | None = None  # its enrichment


def check_text(deps: Deps, text: str) -> Reply | None:
    catalogue = Catalogue()
    if not text.strip():
        return Reply(catalogue.text("empty"), key="empty")
    limit = deps.config.consultation.max_text_length
    # The idea's words count, not the command word before them ("IDEA ...").
    command = parse_command(text)
    length = len(command.argument) if command and command.argument else len(text)
    if length > limit:
        return Reply(
            catalogue.text("too_long", length=f"{length:,}", limit=f"{limit:,}"),
            key="too_long",
        )
    return None


def creation_language(deps: Deps, inbound: Inbound) -> str | None:
    hint = (inbound.language_hint or "").split("-")[0].lower()
    return hint if hint in deps.config.consultation.languages else None


def decide(
    deps: Deps,
    pending: Pending,
    person: ParticipantRecord | None,
    reads: Reads,
    rng: random.Random,
) -> Decision:
    """The conversation step for one message. Raises NeedRead for a read not in `reads`."""
    inbound, text = pending.inbound, pending.text
    if person is not None and person.opted_out:
        command = parse_command(text) if inbound.payload is None else None
        if command is not None and command.word == "forget":
            # Erasure needs no conversation, and they asked for no messages.
            return Decision(
                effects=(Erase(inbound.channel, inbound.sender),), claim=False, opted_out=True
            )
        if inbound.payload is not None or carrier_keyword(inbound.medium, text) != "in":
            return Decision(claim=False, opted_out=True)  # no reply, and nothing is stored
    # Checked after the opt-out, which an empty or oversized text must not answer.
    problem = check_text(deps, text) if inbound.payload is None else None
    if problem is not None:
        return Decision((problem,), claim=False)  # nothing is stored, not even the id
    language = None
    changes: ParticipantChanges = {}
    # No participant row before consent (handlers/strangers.py), on every medium: a
    # stranger's message is decided as anyone's, and what it would store is dropped unless
    # they agreed, refused or opted out; its id, which names nobody, is still recorded.
    stranger = person is None
    if person is None:
        language = creation_language(deps, inbound)
        state: dict = {}
        labels = (Catalogue(language).text("yes"), Catalogue(language).text("no"))
        if inbound.medium in CALL_MEDIA:
            state = stranger_state(inbound)  # a caller who has not agreed is at consent
        elif answers_consent(text, inbound.payload, labels):
            state = {"step": "consent"}  # no row means no remembered step
        person = ParticipantRecord(
            id=0, pseudonym=pending.pseudonym, channel=inbound.channel, language=language,
            consent_at=None, refused_at=None, answers={}, state=state, opted_out=False,
            followups=None, unreachable=False, created_at=pending.now,
            last_seen_at=pending.now,
        )  # fmt: skip
        if state:
            changes["state"] = state
    elif person.unreachable:
        # Writing to us again shows a person marked unreachable can be reached.
        changes["unreachable"] = False
        person = replace(person, unreachable=False)
    ctx = Context(
        inbound=inbound,
        text=text,
        participant=person,
        config=deps.config,
        enricher=deps.enricher,
        contacts=deps.contacts,
        question_ids=deps.question_ids,
        now=pending.now,
        rng=rng,
        reads=reads,
        catalogue=Catalogue(person.language),
    )
    replies = route(ctx)
    changes.update(ctx.changes)
    decided = ctx.participant
    if stranger and not (decided.consent_at or decided.refused_at or decided.opted_out):
        erase = tuple(e for e in ctx.effects if isinstance(e, Erase))  # FORGET still erases
        return Decision(tuple(replies), erase, create=False, opted_out=decided.opted_out)
    return Decision(
        tuple(replies),
        tuple(ctx.effects),
        person=changes,
        opted_out=ctx.participant.opted_out,
        create_language=language,
    )


class Conversation:
    """Decides messages for the batch writer: loads what a flow asks for, then decides
    again, until the flow has all it needs."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.likeness = LikenessCache(deps.config.insights.similar_threshold)

    def reads(self, pending: Pending) -> Reads:
        """What a message's decision starts from: its enrichment, when worked out early."""
        reads = Reads()
        if pending.enrichment is not None:
            reads.loaded[("enrich", pending.enriched_text)] = pending.enrichment
        return reads

    def plan(
        self,
        pending: Pending,
        person: ParticipantRecord | None,
        reader: Reader,
        preloaded: Mapping[ReadKey, object] | None = None,
    ) -> Decision:
        """`preloaded`: reads loaded already (handlers/look_ahead.py)."""
        reads = self.reads(pending)
        if preloaded:
            reads.loaded.update(preloaded)
        # Every attempt draws from the same point of the random source, so a decision
        # taken again after a read is the one that would have been taken at once.
        start = self.deps.rng.getstate()
        for attempt in range(MAX_READ_ROUNDS):
            if attempt:  # (the first draws from `start` already; a state copy costs µs)
                self.deps.rng.setstate(start)
            try:
                return decide(self.deps, pending, person, reads, self.deps.rng)
            except NeedRead as need:
                for key in need.keys:
                    reads.loaded[key] = self._load(key, reader, pending)
        raise RuntimeError(f"a flow asked for more than {MAX_READ_ROUNDS} reads")

    def _load(self, key: tuple, reader: Reader, pending: Pending) -> object:
        kind = key[0]
        if kind == "idea":
            return reader.contribution(key[1])
        if kind == "idea_number":
            return reader.idea_by_number(key[1])
        if kind == "candidates":
            _kind, person, questions, exclude, pool = key
            return reader.voting_candidates(person, questions, exclude, pool)
        if kind == "alike":
            return self.likeness.alike(reader, key[1], key[2], scored=_scored(pending, key[2]))
        if kind == "activity":
            return reader.activity(key[1])
        if kind == "contributions_since":  # the limits per person (handlers/limits.py)
            return reader.contributions_since(key[1], key[2], key[3])
        if kind == "votes_since":
            return reader.votes_since(key[1], key[2])
        if kind == "same_idea":
            return reader.same_idea(key[1], key[2])
        if kind == "enrich":
            # Not computed before queueing (e.g. a draft kept in the state): now, here.
            return self.deps.enricher.enrich(key[1])
        raise KeyError(key)


def _scored(pending: Pending, text: str) -> Scored | None:
    """The sentiment model's score of `text` when the message's enrichment of that text
    holds one (the `chorus` analyser's, computed before queueing, on its words): the
    alike look-up's opposite check then does not score it again on the writer's thread."""
    enrichment = pending.enrichment
    if (
        enrichment is None
        or enrichment.text != text
        or enrichment.confidence is None
        or enrichment.polarity is None
        or enrichment.label == "unscored"
    ):
        return None
    return Scored(enrichment.label, enrichment.confidence, enrichment.polarity)
