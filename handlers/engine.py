"""The engine: one inbound message in, replies out, in one store transaction.

Every channel calls `Engine.handle`. It checks the text, turns the sender into a
pseudonym, records the message id (a replay is acknowledged and not applied again),
loads the person's conversation state from the store, runs the flow and commits.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from handlers.catalogue import Catalogue
from handlers.commands import parse_command
from handlers.conflicts import retrying_conflicts
from handlers.context import Context
from handlers.dead_letters import forget_kept_messages, sent_by
from handlers.enrich import Enricher, clean_text
from handlers.flows.call import CALL_CHANNELS
from handlers.insights.grouping import role_grouping
from handlers.limits import MessageRate
from handlers.privacy import ContactCipher, Pseudonymizer
from handlers.public import Checkpoint, IngestResult, ingest_posts
from handlers.replay import ReplayKeeper
from handlers.router import carrier_keyword, route
from handlers.settings import ConsultationConfig
from handlers.strangers import answers_consent
from handlers.team.desk import TeamDesk
from handlers.types import Inbound, Outcome, PublicPost, Reply
from storage.database import Store
from storage.provisional import Provisional


def utc_now() -> datetime:
    return datetime.now(UTC)


class Engine:
    def __init__(
        self,
        store: Store,
        config: ConsultationConfig,
        *,
        enricher: Enricher,
        pseudonyms: Pseudonymizer,
        contacts: ContactCipher,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.enricher = enricher
        self.pseudonyms = pseudonyms
        self.contacts = contacts
        self.clock = clock
        self.rng = rng or random.Random()
        self.question_ids: dict[str, int] = {}
        self.team = TeamDesk(self)
        # issue 16: messages per minute per person (this worker's memory), and the replies
        # kept to answer a resent message the same way.
        self.message_rate = MessageRate(config.limits.messages_per_minute)
        self.replay = ReplayKeeper(contacts, config.limits.replay_hours)

    async def prepare(self) -> None:
        """Bring the configured questions and role groups into the store; call once at
        start. Idea consensus is recomputed if the role groups changed."""
        self.store.grouping = role_grouping(self.config)
        async with self.store.transaction() as unit:
            self.question_ids = await unit.questions.sync(
                (q.key, q.text, q.opens_at, q.closes_at) for q in self.config.questions
            )
            await unit.insights.ensure_grouping(self.clock())

    def pseudonym(self, channel: str, platform_id: str) -> str:
        return self.pseudonyms.pseudonym(channel, platform_id)

    def public_post_key(self, channel: str, post_id: str) -> str:
        """What marks a public post as seen (processed_messages): a keyed hash, because a
        public post's id leads anyone to its author, and the mark outlives an erasure (so
        a backfill cannot bring back what was erased)."""
        return "#" + self.pseudonyms.pseudonym(f"{channel}-post", post_id)[:40]

    async def handle(self, inbound: Inbound) -> Outcome:
        """Apply one message. Raises StoreUnavailable when the store cannot commit."""
        if not self.question_ids:
            await self.prepare()
        text = clean_text(inbound.text)
        return await retrying_conflicts(
            lambda: self._apply(inbound, text), what=f"{inbound.channel} message", rng=self.rng
        )

    async def set_reachable(self, channel: str, sender: str, reachable: bool) -> bool:
        """Mark a person unreachable (e.g. they blocked the bot) or reachable again.
        Returns False when there is no such participant or nothing changed."""
        pseudonym = self.pseudonym(channel, sender)
        async with self.store.transaction() as unit:
            participant = await unit.participants.find(pseudonym)
            if participant is None or participant.unreachable is (not reachable):
                return False
            await unit.participants.update(participant.id, unreachable=not reachable)
            return True

    async def claim_once(self, channel: str, message_id: str) -> bool:
        """Record a message the channel answers without the conversation (a sticker, say),
        so a replay is not answered twice. False when it was already recorded."""
        async with self.store.transaction() as unit:
            return await unit.processed.claim(channel, message_id, self.clock())

    async def ingest_public(
        self, posts: Sequence[PublicPost], *, checkpoint: Checkpoint | None = None
    ) -> IngestResult:
        """Store public posts (ideas, comments, endorsements; no replies are sent) and move
        the listener's checkpoint in the same transaction; see handlers/public.py."""
        return await ingest_posts(self, posts, checkpoint=checkpoint)

    def _check_text(self, text: str) -> Reply | None:
        catalogue = Catalogue()
        if not text.strip():
            return Reply(catalogue.text("empty"), key="empty")
        limit = self.config.consultation.max_text_length
        if len(text) > limit:
            return Reply(
                catalogue.text("too_long", length=f"{len(text):,}", limit=f"{limit:,}"),
                key="too_long",
            )
        return None

    async def _apply(self, inbound: Inbound, text: str) -> Outcome:
        now = self.clock()
        team_request = self.team.recognise(inbound, text)
        if team_request is not None:
            # The consultation team's commands: no participant row, same de-duplication.
            return await self.team.handle(team_request, inbound, now)
        pseudonym = self.pseudonym(inbound.channel, inbound.sender)
        async with self.store.transaction() as unit:
            participant = await unit.participants.find(pseudonym)
            if participant is not None and participant.opted_out:
                command = parse_command(text) if inbound.payload is None else None
                if command is not None and command.word == "forget":
                    # Erasure needs no conversation, and they asked for no messages.
                    await unit.participants.erase(participant.id)
                    who = sent_by(inbound.channel, inbound.sender)
                    await forget_kept_messages(unit, self.contacts, who)
                    return Outcome(opted_out=True)
                if inbound.payload is not None or carrier_keyword(inbound.channel, text) != "in":
                    return Outcome(opted_out=True)  # no reply, and nothing is stored
            # Checked after the opt-out, which an empty or oversized text must not answer.
            problem = self._check_text(text) if inbound.payload is None else None
            if problem is not None:
                return Outcome((problem,))  # nothing is stored, not even the message id
            rate = self.message_rate.check(pseudonym)
            if rate != "ok":  # a flood: one polite reply, then none, and nothing stored
                limited = Reply(Catalogue().text("limit_messages"), key="limit_messages")
                return Outcome((limited,) if rate == "tell" else ())
            if not await unit.processed.claim(inbound.channel, inbound.message_id, now):
                kept = await self.replay.find(unit, inbound.channel, inbound.message_id, now)
                return Outcome(kept, duplicate=True)  # the same replies as the first time
            # No participant row before consent: what a stranger's message wrote is taken
            # back at the end unless they agreed, refused or opted out; its id, which names
            # nobody, stays, so a resent copy is not answered twice (handlers/strangers.py).
            stranger = participant is None and inbound.channel not in CALL_CHANNELS
            provisional = await Provisional.begin(unit.session) if stranger else None
            if participant is None:
                participant = await unit.participants.create(
                    pseudonym, inbound.channel, now, language=self._language(inbound)
                )
                labels = (
                    Catalogue(participant.language).text("yes"),
                    Catalogue(participant.language).text("no"),
                )
                if stranger and answers_consent(text, inbound.payload, labels):
                    await unit.participants.update(participant.id, state={"step": "consent"})
                    participant = replace(participant, state={"step": "consent"})
            else:
                # Writing to us again shows a person marked unreachable can be reached.
                back = {"unreachable": False} if participant.unreachable else {}
                await unit.participants.update(participant.id, last_seen_at=now, **back)
            ctx = Context(
                inbound=inbound,
                text=text,
                participant=participant,
                unit=unit,
                config=self.config,
                enricher=self.enricher,
                contacts=self.contacts,
                question_ids=self.question_ids,
                now=now,
                rng=self.rng,
                catalogue=Catalogue(participant.language),
            )
            replies = await route(ctx)
            # Agreed, refused or opted out (STOP): a decision to remember; anything else
            # from a stranger leaves nothing behind.
            person = ctx.participant
            decided = person.consent_at or person.refused_at or person.opted_out
            if provisional is not None and not decided:
                await provisional.discard()  # answered; nothing about them is stored
                command = parse_command(text) if inbound.payload is None else None
                if command is not None and command.word == "forget":  # the erasure stays
                    who = sent_by(inbound.channel, inbound.sender)
                    await forget_kept_messages(unit, self.contacts, who)
            elif provisional is not None:
                await provisional.keep()
            await self.replay.keep(unit, inbound.channel, inbound.message_id, replies, now)
        return Outcome(tuple(replies), opted_out=ctx.participant.opted_out)

    def _language(self, inbound: Inbound) -> str | None:
        hint = (inbound.language_hint or "").split("-")[0].lower()
        return hint if hint in self.config.consultation.languages else None
